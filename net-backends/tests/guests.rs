//! Real Linux guests under QEMU 7.2 on `netdevd`: what users will do with
//! it. The guests come from `qapi_tests::guest` (a kernel and busybox from
//! Debian packages, booted with TCG); `netdevd` is driven through its
//! command line and QMP only.
//!
//! The tests run one at a time (at most two guests at once: CI has two
//! cores), and each pair of guests serves several checks in a row.
//! Without the Debian packages they print SKIPPED, and fail when `CI` is
//! set.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use qapi_runtime::qmp::{BlockingClient, ClientOptions};
use qapi_tests::guest::{self, Guest, GuestConfig, GuestError, Image};
use qapi_tests::ports::free_port;
use serde_json::{json, Value};
use tokio::net::UnixStream;

const NETDEVD: &str = env!("CARGO_BIN_EXE_netdevd");

/// Limit for a command that only talks to the guest's own kernel.
const QUICK: Duration = Duration::from_secs(60);
/// Limit for pings and transfers (a busy machine slows TCG many times).
const NETWORK: Duration = Duration::from_secs(240);

/// One guest test at a time in this binary.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Panics with the step, the failure and the guest's last serial lines.
fn check<T>(result: Result<T, Box<GuestError>>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

/// A running `netdevd`, its stderr in a file (shown when a test fails);
/// killed when dropped.
struct Netdevd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Netdevd {
    /// Starts `netdevd` with these `-netdev`s and QMP on a unix socket,
    /// and waits until the socket exists (every netdev is up by then).
    fn start(netdevs: &[String]) -> Netdevd {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let stderr = fs::File::create(dir.path().join("stderr")).expect("a stderr file");
        let mut command = Command::new(NETDEVD);
        for netdev in netdevs {
            command.arg("-netdev").arg(netdev);
        }
        let child = command
            .arg("--qmp")
            .arg(format!("unix:{}", dir.path().join("qmp.sock").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting netdevd: {e}"));
        let mut daemon = Netdevd { child, dir };
        let end = Instant::now() + Duration::from_secs(30);
        while !daemon.qmp_socket().exists() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("netdevd exited ({status}):\n{}", daemon.stderr());
            }
            assert!(Instant::now() < end, "netdevd: no QMP socket after 30 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        daemon
    }

    fn qmp_socket(&self) -> PathBuf {
        self.dir.path().join("qmp.sock")
    }

    /// A path for a unix socket, in the daemon's temporary directory.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn qmp(&self) -> Qmp {
        let options = ClientOptions {
            timeout: Some(Duration::from_secs(30)),
            ..ClientOptions::default()
        };
        // The socket file appears when it is bound, a moment before it
        // listens.
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            match BlockingClient::connect_unix(self.qmp_socket(), options.clone()) {
                Ok(client) => return Qmp(client),
                Err(e) if Instant::now() > end => panic!("netdevd: no QMP connection: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
}

impl Drop for Netdevd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("netdevd's stderr:\n{}", self.stderr());
        }
    }
}

/// A QMP connection to `netdevd`.
struct Qmp(BlockingClient<UnixStream>);

impl Qmp {
    fn ok(&self, command: &str, arguments: Value) -> Value {
        self.0
            .execute_raw(command, Some(arguments.clone()))
            .unwrap_or_else(|e| panic!("netdevd: {command} {arguments}: {e}"))
    }
}

/// `-netdev` text of a stream server on 127.0.0.1:`port`.
fn stream_inet_server(id: &str, port: u16) -> String {
    format!("stream,id={id},server=on,addr.type=inet,addr.host=127.0.0.1,addr.port={port}")
}

/// `-netdev` text (without id) of a stream client to 127.0.0.1:`port`.
fn stream_inet_client(port: u16) -> String {
    format!("stream,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port={port}")
}

fn stream_unix_server(id: &str, path: &Path) -> String {
    format!(
        "stream,id={id},server=on,addr.type=unix,addr.path={}",
        path.display()
    )
}

fn stream_unix_client(path: &Path) -> String {
    format!(
        "stream,server=off,addr.type=unix,addr.path={}",
        path.display()
    )
}

/// `-netdev` text (id first only if given) of a UDP dgram netdev.
fn dgram(local: u16, remote: u16) -> String {
    format!(
        "dgram,local.type=inet,local.host=127.0.0.1,local.port={local},\
         remote.type=inet,remote.host=127.0.0.1,remote.port={remote}"
    )
}

fn hubport(id: &str, hub: u32, netdev: &str) -> String {
    format!("hubport,id={id},hubid={hub},netdev={netdev}")
}

/// Boots two guests at once (their boots overlap) with these NICs.
fn boot_pair(image: &Image, g1: Vec<String>, g2: Vec<String>) -> (Guest, Guest) {
    std::thread::scope(|scope| {
        let first = scope.spawn(|| Guest::boot(image, &GuestConfig::new("g1", g1, "true")));
        let second = check(Guest::boot(image, &GuestConfig::new("g2", g2, "true")));
        let first = check(first.join().expect("boot thread"));
        (first, second)
    })
}

/// Gives NIC `nic` of `guest` the address `10.0.SUBNET.HOST/24`.
fn address(guest: &mut Guest, nic: usize, subnet: u8, host: u8) {
    let interface = guest.interface(nic).to_owned();
    check(guest.run(
        "address",
        &format!(
            "ip addr add 10.0.{subnet}.{host}/24 dev {interface} && ip link set {interface} up"
        ),
        QUICK,
    ));
}

/// `from` pings 10.0.SUBNET.HOST until three answers came (the first
/// frames also resolve the address).
fn ping(from: &mut Guest, subnet: u8, host: u8, what: &str) {
    check(from.run(
        format!("ping {what}").as_str(),
        &format!("ping -c 3 -W 10 10.0.{subnet}.{host}"),
        NETWORK,
    ));
}

/// The md5sum of a guest file, as `md5sum` prints it (hash only).
fn md5(guest: &mut Guest, path: &str, step: &str) -> String {
    let out = check(guest.run(step, &format!("md5sum {path}"), QUICK));
    out.split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("{step}: no md5sum output"))
        .to_owned()
}

/// `sender` sends its `/tmp/payload` to `receiver` (10.0.SUBNET.2) over
/// TCP with busybox `nc`; the receiver's copy has the same md5sum.
fn transfer(sender: &mut Guest, receiver: &mut Guest, subnet: u8, what: &str) {
    let port = 5000 + u16::from(subnet);
    let file = format!("/tmp/received-{subnet}");
    // The listener runs in the background, the received bytes go to
    // `cat` (nc -e), which stops at the end of the stream and marks the
    // file done; the command returns once nc listens.
    check(receiver.run(
        format!("transfer {what}: listen").as_str(),
        &format!(
            "printf '#!/bin/sh\\ncat >{file}; touch {file}.done\\n' >/tmp/receive-{subnet}.sh\n\
             chmod +x /tmp/receive-{subnet}.sh\n\
             nc -l -p {port} -e /tmp/receive-{subnet}.sh >/dev/null 2>&1 </dev/null &\n\
             while ! netstat -ltn | grep -q ':{port} '; do sleep 0.1; done"
        ),
        QUICK,
    ));
    check(sender.run(
        format!("transfer {what}: send").as_str(),
        &format!("nc 10.0.{subnet}.2 {port} </tmp/payload >/dev/null"),
        NETWORK,
    ));
    check(receiver.run(
        format!("transfer {what}: receive").as_str(),
        &format!("while [ ! -e {file}.done ]; do sleep 0.1; done"),
        NETWORK,
    ));
    let sent = md5(sender, "/tmp/payload", "md5 of the payload");
    let received = md5(receiver, &file, "md5 of the received copy");
    let size = check(receiver.run("size", &format!("wc -c <{file}"), QUICK));
    assert_eq!(
        (received, size.trim()),
        (sent, PAYLOAD_BYTES.to_string().as_str()),
        "transfer {what}: the received file differs"
    );
}

/// Size of the payload sent over TCP (3 MiB).
const PAYLOAD_BYTES: usize = 3 << 20;

#[test]
fn two_guests_over_stream_inet_stream_unix_and_dgram() {
    let _one_at_a_time = serial();
    let Some(image) = guest::image() else { return };
    let started = Instant::now();
    let [pi1, pi2] = [free_port(), free_port()];
    let [d1_local, d1_remote, d2_local, d2_remote] =
        [free_port(), free_port(), free_port(), free_port()];
    let socket_dir = tempfile::tempdir().expect("a temporary directory");
    let (unix1, unix2) = (
        socket_dir.path().join("u1.sock"),
        socket_dir.path().join("u2.sock"),
    );
    let _netdevd = Netdevd::start(&[
        stream_inet_server("si1", pi1),
        stream_inet_server("si2", pi2),
        hubport("hi1", 0, "si1"),
        hubport("hi2", 0, "si2"),
        stream_unix_server("su1", &unix1),
        stream_unix_server("su2", &unix2),
        hubport("hu1", 1, "su1"),
        hubport("hu2", 1, "su2"),
        format!("{},id=dg1", dgram(d1_local, d1_remote)),
        format!("{},id=dg2", dgram(d2_local, d2_remote)),
        hubport("hd1", 2, "dg1"),
        hubport("hd2", 2, "dg2"),
    ]);
    // NIC 0: stream over TCP (hub 0, 10.0.1.0/24); NIC 1: stream over a
    // unix socket (hub 1, 10.0.2.0/24); NIC 2: UDP dgram (hub 2,
    // 10.0.3.0/24).
    let (mut g1, mut g2) = boot_pair(
        image,
        vec![
            stream_inet_client(pi1),
            stream_unix_client(&unix1),
            dgram(d1_remote, d1_local),
        ],
        vec![
            stream_inet_client(pi2),
            stream_unix_client(&unix2),
            dgram(d2_remote, d2_local),
        ],
    );
    eprintln!("guests: booted after {:?}", started.elapsed());
    for (nic, subnet) in [(0, 1), (1, 2), (2, 3)] {
        address(&mut g1, nic, subnet, 1);
        address(&mut g2, nic, subnet, 2);
    }
    check(g1.run(
        "payload",
        &format!(
            "dd if=/dev/urandom of=/tmp/payload bs=1024 count={}",
            PAYLOAD_BYTES / 1024
        ),
        QUICK,
    ));
    for (subnet, what) in [(1, "stream inet"), (2, "stream unix"), (3, "dgram")] {
        ping(&mut g1, subnet, 2, &format!("g1 -> g2 over {what}"));
        ping(&mut g2, subnet, 1, &format!("g2 -> g1 over {what}"));
        transfer(&mut g1, &mut g2, subnet, what);
        eprintln!("guests: {what} checked after {:?}", started.elapsed());
    }
    check(g1.finish(QUICK));
    check(g2.finish(QUICK));
}

/// What `guest`'s NIC `nic` shows: `carrier operstate` from sysfs.
fn carrier(guest: &mut Guest, nic: usize) -> String {
    let interface = guest.interface(nic).to_owned();
    let out = check(guest.run(
        "carrier",
        &format!("echo $(cat /sys/class/net/{interface}/carrier) $(cat /sys/class/net/{interface}/operstate)"),
        QUICK,
    ));
    out.trim().to_owned()
}

/// The number of answers in a `ping` log in the guest.
fn answers(guest: &mut Guest, log: &str) -> usize {
    let out = check(guest.run(
        "count answers",
        &format!("grep -c 'bytes from' {log} || true"),
        QUICK,
    ));
    out.trim().parse().unwrap_or(0)
}

/// Waits until the `ping` log has `more` answers beyond `seen`.
fn wait_answers(guest: &mut Guest, log: &str, seen: usize, more: usize, step: &str) {
    check(guest.run(
        step,
        &format!(
            "while [ $(grep -c 'bytes from' {log}) -lt {} ]; do sleep 0.2; done",
            seen + more
        ),
        NETWORK,
    ));
}

#[test]
fn netdevs_added_and_deleted_and_set_link_under_running_guests() {
    let _one_at_a_time = serial();
    let Some(image) = guest::image() else { return };
    let [p1, p2] = [free_port(), free_port()];
    let netdevd = Netdevd::start(&[
        stream_inet_server("s1", p1),
        stream_inet_server("s2", p2),
        hubport("h1", 0, "s1"),
        hubport("h2", 0, "s2"),
    ]);
    let qmp = netdevd.qmp();
    let (mut g1, mut g2) = boot_pair(
        image,
        vec![stream_inet_client(p1)],
        vec![stream_inet_client(p2)],
    );
    address(&mut g1, 0, 1, 1);
    address(&mut g2, 0, 1, 2);
    ping(&mut g1, 1, 2, "g1 -> g2 before the changes");

    // g1 pings g2 five times a second while other netdevs come and go on
    // netdevd, on g1's hub and elsewhere.
    let log = "/tmp/ping.log";
    check(g1.run(
        "start pinging",
        &format!("ping -i 0.2 10.0.1.2 >{log} 2>&1 &"),
        QUICK,
    ));
    wait_answers(&mut g1, log, 0, 3, "first answers");
    for round in 0..3 {
        let port = free_port();
        let [d_local, d_remote] = [free_port(), free_port()];
        qmp.ok(
            "netdev_add",
            json!({"type": "hubport", "id": format!("x{round}"), "hubid": 0}),
        );
        qmp.ok(
            "netdev_add",
            json!({"type": "stream", "id": format!("t{round}"), "server": true,
                   "addr": {"type": "unix", "path": netdevd.path(&format!("t{round}.sock"))}}),
        );
        qmp.ok(
            "netdev_add",
            json!({"type": "hubport", "id": format!("tp{round}"), "hubid": 0,
                   "netdev": format!("t{round}")}),
        );
        qmp.ok(
            "netdev_add",
            json!({"type": "stream", "id": format!("i{round}"), "server": true,
                   "addr": {"type": "inet", "host": "127.0.0.1", "port": port.to_string()}}),
        );
        qmp.ok(
            "netdev_add",
            json!({"type": "dgram", "id": format!("d{round}"),
                   "local": {"type": "inet", "host": "127.0.0.1", "port": d_local.to_string()},
                   "remote": {"type": "inet", "host": "127.0.0.1", "port": d_remote.to_string()}}),
        );
        qmp.ok(
            "netdev_add",
            json!({"type": "hubport", "id": format!("dp{round}"), "hubid": 7,
                   "netdev": format!("d{round}")}),
        );
        let seen = answers(&mut g1, log);
        wait_answers(&mut g1, log, seen, 2, "answers with the extra netdevs");
        for id in ["x", "tp", "t", "i", "dp", "d"] {
            qmp.ok("netdev_del", json!({"id": format!("{id}{round}")}));
        }
        let seen = answers(&mut g1, log);
        wait_answers(&mut g1, log, seen, 2, "answers after netdev_del");
    }
    let summary = check(g1.run(
        "stop pinging",
        &format!(
            "kill -INT $(pidof ping); while pidof ping >/dev/null; do sleep 0.1; done; tail -3 {log}"
        ),
        QUICK,
    ));
    let (sent, received) = ping_counts(&summary);
    assert!(
        sent >= 10 && received + 1 >= sent,
        "ping lost answers while netdevs came and went:\n{summary}"
    );

    // set_link off on netdevd's side of g1's cable: nothing passes, and
    // everything passes again after set_link on. QEMU 7.2's stream netdev
    // has no way to learn of it (the stream carries frames only), so the
    // guest's carrier stays up: netdevd's link state is not the NIC's.
    assert_eq!(carrier(&mut g1, 0), "1 up", "g1's carrier before set_link");
    qmp.ok("set_link", json!({"name": "s1", "up": false}));
    let (rc, out) = check(g1.run_status(
        "ping while the link is off",
        "ping -c 3 -W 2 10.0.1.2",
        NETWORK,
    ));
    assert!(
        rc != 0 && ping_counts(&out).1 == 0,
        "answers while s1's link was off (status {rc}):\n{out}"
    );
    assert_eq!(
        carrier(&mut g1, 0),
        "1 up",
        "QEMU 7.2's stream client cannot see netdevd's set_link: if the guest's \
         carrier follows now, the QEMU in use signals it and this test should say so"
    );
    qmp.ok("set_link", json!({"name": "s1", "up": true}));
    ping(&mut g1, 1, 2, "g1 -> g2 after set_link on");

    // The carrier does follow set_link on the guest's own QEMU (QEMU calls
    // the NIC's link_status_changed only for its own set_link): this shows
    // the guest reports carrier changes that reach its NIC.
    let guest_qemu = guest_qmp(&g1);
    guest_qemu.ok("set_link", json!({"name": "n0", "up": false}));
    wait_carrier(&mut g1, 0, "0 down");
    guest_qemu.ok("set_link", json!({"name": "n0", "up": true}));
    wait_carrier(&mut g1, 0, "1 up");
    ping(&mut g1, 1, 2, "g1 -> g2 after the guest's own set_link on");

    // netdev_del of the netdev facing g2: g2's QEMU sees its stream
    // connection end (its `info network` loses the peer address) and
    // nothing passes; the carrier stays up, as for set_link.
    qmp.ok("netdev_del", json!({"id": "h2"}));
    qmp.ok("netdev_del", json!({"id": "s2"}));
    let guest_qemu = guest_qmp(&g2);
    let end = Instant::now() + NETWORK;
    let info = loop {
        let info = guest_qemu.ok(
            "human-monitor-command",
            json!({"command-line": "info network"}),
        );
        let info = info.as_str().unwrap_or_default().replace('\r', "");
        if !info.contains(&format!("127.0.0.1:{p2}")) || Instant::now() > end {
            break info;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        !info.contains(&format!("127.0.0.1:{p2}")),
        "g2's QEMU still shows its connection after netdev_del:\n{info}"
    );
    let (rc, out) =
        check(g2.run_status("ping after netdev_del", "ping -c 3 -W 2 10.0.1.1", NETWORK));
    assert!(
        rc != 0 && ping_counts(&out).1 == 0,
        "answers after netdev_del (status {rc}):\n{out}"
    );
    assert_eq!(carrier(&mut g2, 0), "1 up", "g2's carrier after netdev_del");
    check(g1.finish(QUICK));
    check(g2.finish(QUICK));
}

/// Packets sent and received, from busybox ping's summary line.
fn ping_counts(output: &str) -> (usize, usize) {
    output
        .lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            let sent = words.next()?.parse().ok()?;
            let rest: Vec<&str> = words.collect();
            let at = rest.iter().position(|w| w.starts_with("received"))?;
            let received = rest.get(at.checked_sub(2)?)?.parse().ok()?;
            Some((sent, received))
        })
        .unwrap_or_else(|| panic!("no ping summary in:\n{output}"))
}

/// A QMP connection to the guest's own QEMU.
fn guest_qmp(guest: &Guest) -> Qmp {
    let options = ClientOptions {
        timeout: Some(Duration::from_secs(30)),
        ..ClientOptions::default()
    };
    Qmp(BlockingClient::connect_unix(guest.qmp_socket(), options).expect("the guest's QMP"))
}

/// Waits until the guest's NIC shows `want` (`carrier operstate`).
fn wait_carrier(guest: &mut Guest, nic: usize, want: &str) {
    let interface = guest.interface(nic).to_owned();
    check(guest.run(
        format!("carrier {want}").as_str(),
        &format!(
            "while [ \"$(cat /sys/class/net/{interface}/carrier) \
             $(cat /sys/class/net/{interface}/operstate)\" != '{want}' ]; do sleep 0.1; done"
        ),
        NETWORK,
    ));
}

/// A network namespace the test made, with a veth pair inside it (`v0`
/// at 10.20.0.2/24, default route via 10.20.0.1): passt copies that
/// address and route for its guest, and nothing of the host's network is
/// touched. Removed when dropped.
struct Netns {
    name: String,
}

impl Netns {
    fn create(tag: &str) -> Netns {
        let netns = Netns {
            name: format!("nb-guests-{}-{tag}", std::process::id()),
        };
        let ip = |args: &[&str]| {
            let out = Command::new("ip")
                .args(args)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ip(&["netns", "add", &netns.name]);
        let n = netns.name.as_str();
        ip(&["-n", n, "link", "set", "lo", "up"]);
        ip(&[
            "-n", n, "link", "add", "v0", "type", "veth", "peer", "name", "v1",
        ]);
        ip(&["-n", n, "addr", "add", "10.20.0.2/24", "dev", "v0"]);
        ip(&["-n", n, "link", "set", "v0", "up"]);
        ip(&["-n", n, "link", "set", "v1", "up"]);
        ip(&[
            "-n",
            n,
            "route",
            "add",
            "default",
            "via",
            "10.20.0.1",
            "dev",
            "v0",
        ]);
        netns
    }

    /// `program args...` inside the namespace, its output in `log`.
    fn spawn(&self, program: &str, args: &[&str], log: &Path) -> Running {
        let output = fs::File::create(log).expect("a log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("a log descriptor"))
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program} in {}: {e}", self.name));
        Running {
            child,
            log: log.to_owned(),
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdin(Stdio::null())
            .status();
    }
}

/// A helper process (passt, httpd), killed when dropped.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    /// Waits for `path` to appear, failing if the process ends first.
    fn wait_for_path(&mut self, path: &Path, what: &str) {
        let end = Instant::now() + Duration::from_secs(60);
        while !path.exists() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{what} exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < end,
                "{what}: no {}:\n{}",
                path.display(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}:\n{}", self.log.display(), self.log());
        }
    }
}

/// `busybox md5sum` of a host file: the same tool the guest uses.
fn host_md5(path: &Path) -> String {
    let out = Command::new("busybox")
        .arg("md5sum")
        .arg(path)
        .output()
        .expect("busybox md5sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("an md5sum")
        .to_owned()
}

/// `len` bytes that do not repeat (xorshift), so a misplaced block
/// cannot pass the check.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn guest_leases_from_passt_through_netdevd_and_downloads_a_file() {
    let _one_at_a_time = serial();
    let Some(image) = guest::image() else { return };
    if !qapi_tests::packages_installed("the passt guest test", &["passt", "iproute2"]) {
        return;
    }
    let netns = Netns::create("passt");
    // passt drops to nobody before it binds: its directory must let
    // nobody in.
    let dir = tempfile::tempdir().expect("a temporary directory");
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    let passt_socket = dir.path().join("passt.sock");
    let mut passt = netns.spawn(
        "passt",
        &["-f", "-e", "-s", &passt_socket.display().to_string()],
        &dir.path().join("passt.log"),
    );
    passt.wait_for_path(&passt_socket, "passt");

    // An HTTP server on the namespace's loopback: passt maps the guest's
    // connections to its gateway (10.20.0.1) there.
    let www = dir.path().join("www");
    fs::create_dir(&www).expect("the web root");
    let payload = www.join("payload");
    fs::write(&payload, pseudo_random(2 << 20)).expect("the payload");
    let http_port = free_port();
    let _httpd = netns.spawn(
        "busybox",
        &[
            "httpd",
            "-f",
            "-p",
            &format!("127.0.0.1:{http_port}"),
            "-h",
            &www.display().to_string(),
        ],
        &dir.path().join("httpd.log"),
    );

    let guest_socket = dir.path().join("guest.sock");
    let _netdevd = Netdevd::start(&[
        format!(
            "stream,id=passt,server=off,addr.type=unix,addr.path={}",
            passt_socket.display()
        ),
        stream_unix_server("guest", &guest_socket),
        hubport("hp", 0, "passt"),
        hubport("hg", 0, "guest"),
    ]);
    let mut guest = check(Guest::boot(
        image,
        &GuestConfig::new(
            "passt-guest",
            vec![stream_unix_client(&guest_socket)],
            "true",
        ),
    ));
    let interface = guest.interface(0).to_owned();
    let lease = check(guest.run(
        "lease",
        &format!("udhcpc -i {interface} -s /etc/udhcpc.sh -n -q -t 10 -T 3"),
        NETWORK,
    ));
    assert!(
        lease.contains(&format!("@@LEASE {interface} 10.20.0.2 10.20.0.1")),
        "passt's lease should copy the namespace's address and gateway:\n{lease}"
    );
    let url = format!("http://10.20.0.1:{http_port}/payload");
    check(guest.run(
        "transfer",
        &format!("wget -q -O /tmp/payload {url}"),
        NETWORK,
    ));
    let size = check(guest.run("size", "wc -c </tmp/payload", QUICK));
    assert_eq!(size.trim(), (2 << 20).to_string(), "downloaded size");
    assert_eq!(
        md5(&mut guest, "/tmp/payload", "md5 of the download"),
        host_md5(&payload),
        "the downloaded file differs from the served one"
    );
    check(guest.finish(QUICK));
}
