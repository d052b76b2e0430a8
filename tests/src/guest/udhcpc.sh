#!/bin/sh
# udhcpc's script in the test guest: applies the lease (busybox has none
# built in) and prints it for the test.
case "$1" in
    bound|renew)
        ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
        if [ -n "$router" ]; then
            route del default 2>/dev/null
            route add default gw "${router%% *}" dev "$interface"
        fi
        echo "@@LEASE $interface $ip ${router%% *}"
        ;;
    deconfig)
        ifconfig "$interface" 0.0.0.0 up
        ;;
esac
exit 0
