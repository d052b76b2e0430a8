#!/bin/busybox sh
# /init of the test guest (see tests/src/guest.rs). It talks to the host
# over the serial console only, in lines that start with "@@":
#   @@GUEST-MODULES-FAILED      no NIC appeared after the module passes
#   @@NIC IFNAME MAC            one line per network interface
#   @@BOOT-SCRIPT-END RC        the boot script (testscript=) ran
#   @@GUEST-READY               commands are read from now on
#   @@BEGIN ID / @@END ID RC    the output of one command, between markers
#   @@GUEST-DONE                about to power off
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp /etc
exec </dev/ttyS0 >/dev/ttyS0 2>&1
# The host writes commands to this port: no echo of them on the output.
stty -echo

arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p"; }

# Two passes: virtio.ko refuses to load while virtio_ring is absent, and
# the order of the others depends on the kernel build.
for pass in 1 2; do
    for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev \
             virtio_pci failover net_failover virtio_net; do
        insmod /lib/modules/$m.ko 2>/dev/null
    done
done
want=$(arg testnics)
tries=0
while [ "$(ls /sys/class/net | grep -c '^eth')" -lt "${want:-1}" ]; do
    tries=$((tries + 1))
    if [ $tries -gt 100 ]; then
        echo "@@GUEST-MODULES-FAILED"
        lsmod
        ls /sys/class/net
        poweroff -f
    fi
    sleep 0.1
done
ip link set lo up
for dev in /sys/class/net/eth*; do
    echo "@@NIC ${dev##*/} $(cat $dev/address)"
done

arg testscript | base64 -d >/tmp/boot.sh
sh /tmp/boot.sh </dev/null
echo "@@BOOT-SCRIPT-END $?"
echo "@@GUEST-READY"

# One command per line: "ID BASE64". Its output is collected in a file
# and printed between markers once it ends, so the output of commands the
# test left running in the background cannot split it.
while read -r id command; do
    [ "$id" = exit ] && break
    echo "$command" | base64 -d >/tmp/command.sh
    sh /tmp/command.sh </dev/null >/tmp/command.out 2>&1
    rc=$?
    # Output without a final newline gets one, so the marker starts a line.
    [ -n "$(tail -c 1 /tmp/command.out)" ] && echo >>/tmp/command.out
    echo "@@BEGIN $id"
    cat /tmp/command.out
    echo "@@END $id $rc"
done
echo "@@GUEST-DONE"
poweroff -f
