//! `-netdev dgram` on real sockets: UDP unicast, unix datagrams, an
//! inherited descriptor, multicast, and QEMU's texts for every refused
//! combination of `local` and `remote`.

mod support;

use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

fn inet(host: &str, port: u16) -> Value {
    json!({"type": "inet", "host": host, "port": port.to_string()})
}

/// A dgram netdev `id` between 127.0.0.1:`local` and 127.0.0.1:`remote`,
/// on hub `hub`.
fn add_udp(r: &Running, id: &str, local: u16, remote: u16, hub: i32) {
    r.ok(
        "netdev_add",
        json!({"type": "dgram", "id": id,
               "local": inet("127.0.0.1", local), "remote": inet("127.0.0.1", remote)}),
    );
    r.hubport(id, hub);
}

/// `got` is `want`; says where they differ, without printing them.
fn same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
}

/// Nothing arrives within 300 ms.
fn silent(s: &UdpSocket) {
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = vec![0u8; 70_000];
    let got = s.recv(&mut buf);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(got.is_err(), "unexpected datagram of {:?} bytes", got.ok());
}

/// Two UDP dgram netdevs joined by hub 0: every size crosses both ways,
/// byte for byte, from the right source port.
#[test]
fn udp_frames_cross_a_hub_both_ways() {
    let r = Running::new();
    let (ta, pta) = udp_peer("127.0.0.1");
    let (tb, ptb) = udp_peer("127.0.0.1");
    let (pa, pb) = (free_port(), free_port());
    add_udp(&r, "a", pa, pta, 0);
    add_udp(&r, "b", pb, ptb, 0);
    assert_eq!(
        r.with(|s| s.driver_info("a")).unwrap(),
        format!("udp=127.0.0.1:{pa}/127.0.0.1:{pta}")
    );
    udp_sizes_cross(&ta, pa, &tb, pb);
    // Bursts: runs of equal lengths (sent as one GSO message each) and
    // mixed lengths keep their order and their boundaries, none is lost.
    let burst: Vec<usize> = (0..600)
        .map(|i| match i {
            0..=199 => 100,
            200..=299 => 1514,
            300..=349 => 9000,
            _ => [60, 60, 60, 61, 1514, 1514, 2000, 60][i % 8],
        })
        .collect();
    let mut buf = vec![0u8; 70_000];
    for (seq, &len) in burst.iter().enumerate() {
        ta.send_to(&frame(len, seq as u32), ("127.0.0.1", pa))
            .unwrap();
        if seq % 20 == 19 {
            // Stay within the test socket's receive buffer.
            for (s, &slen) in burst.iter().enumerate().skip(seq - 19).take(20) {
                let got = tb
                    .recv_from(&mut buf)
                    .map(|(n, _)| buf[..n].to_vec())
                    .unwrap_or_else(|e| panic!("burst frame {s} ({slen} bytes): {e}"));
                same(&got, &frame(slen, s as u32), &format!("burst frame {s}"));
            }
        }
    }
    let c = r.with(|s| {
        let id = s.network().lookup("a").unwrap();
        s.network().counters(id).unwrap().clone()
    });
    assert_eq!(c.sent, SIZES.len() as u64 + 600, "frames a read");
    assert!(c.balanced());
    // netdev_del closes the socket: the port is free again.
    r.ok("netdev_del", json!({"id": "a"}));
    UdpSocket::bind(("127.0.0.1", pa)).expect("a's port free after netdev_del");
}

/// Unix datagram sockets, both ways, up to the largest frame; a datagram
/// longer than that is dropped, not cut, and counted.
#[test]
fn unix_frames_cross_both_ways() {
    let r = Running::new();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    let ta = UnixDatagram::bind(p("ta")).unwrap();
    let tb = UnixDatagram::bind(p("tb")).unwrap();
    for s in [&ta, &tb] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    for (id, local, remote) in [("a", "a", "ta"), ("b", "b", "tb")] {
        r.ok(
            "netdev_add",
            json!({"type": "dgram", "id": id,
                   "local": {"type": "unix", "path": p(local)},
                   "remote": {"type": "unix", "path": p(remote)}}),
        );
        r.hubport(id, 0);
    }
    assert_eq!(
        r.with(|s| s.driver_info("b")).unwrap(),
        format!("udp={}:{}", p("b"), p("tb"))
    );
    let mut buf = vec![0u8; 80_000];
    for (seq, len) in [60usize, 1514, 9000, 65_000, 69_632]
        .into_iter()
        .enumerate()
    {
        let f = frame(len, seq as u32);
        ta.send_to(&f, p("a")).unwrap();
        let n = tb.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], f.as_slice(), "a -> b, {len} bytes");
        let f = frame(len, 50 + seq as u32);
        tb.send_to(&f, p("b")).unwrap();
        let n = ta.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], f.as_slice(), "b -> a, {len} bytes");
    }
    ta.send_to(&frame(69_633, 7), p("a")).unwrap();
    ta.send_to(&frame(64, 8), p("a")).unwrap();
    let n = tb.recv(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        frame(64, 8).as_slice(),
        "the oversized one is dropped"
    );
    assert_eq!(
        r.with(|s| s.driver_info("a")).unwrap(),
        format!("udp={}:{} (dropped: 1 oversized)", p("a"), p("ta"))
    );
}

/// A unix peer that stops reading: its queue fills, the netdev's sends
/// would block, frames wait (in the netdev, then in the core's queue for
/// it) and all come out, in order, once the peer reads again. An empty
/// datagram is dropped and counted.
#[test]
fn a_slow_unix_peer_holds_frames_back_without_losing_them() {
    let r = Running::new();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    let peer = UnixDatagram::bind(p("peer")).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    r.ok(
        "netdev_add",
        json!({"type": "dgram", "id": "u",
               "local": {"type": "unix", "path": p("u")},
               "remote": {"type": "unix", "path": p("peer")}}),
    );
    r.hubport("u", 0);
    let (acc, pacc) = udp_peer("127.0.0.1");
    let pa = free_port();
    add_udp(&r, "a", pa, pacc, 0);
    const N: u32 = 3000;
    for seq in 0..N {
        acc.send_to(&frame(200, seq), ("127.0.0.1", pa)).unwrap();
    }
    // The peer's queue is full: the netdev holds frames back, and the
    // access point stops reading (QEMU's flow control), so nothing is
    // dropped.
    std::thread::sleep(Duration::from_millis(300));
    let sent = r.with(|s| {
        let id = s.network().lookup("a").unwrap();
        s.network().counters(id).unwrap().sent
    });
    assert!(sent < u64::from(N), "the access point paused ({sent} read)");
    let mut buf = vec![0u8; 1000];
    for seq in 0..N {
        let n = peer.recv(&mut buf).unwrap();
        same(&buf[..n], &frame(200, seq), &format!("frame {seq}"));
    }
    let c = r.with(|s| {
        let id = s.network().lookup("u").unwrap();
        s.network().counters(id).unwrap().clone()
    });
    assert_eq!(c.received, u64::from(N), "u took every frame");
    // An empty datagram is dropped; the next frame still comes.
    acc.send_to(&[], ("127.0.0.1", pa)).unwrap();
    acc.send_to(&frame(64, 1), ("127.0.0.1", pa)).unwrap();
    let n = peer.recv(&mut buf).unwrap();
    same(&buf[..n], &frame(64, 1), "after the empty one");
    assert_eq!(
        r.with(|s| s.driver_info("a")).unwrap(),
        format!("udp=127.0.0.1:{pa}/127.0.0.1:{pacc} (dropped: 1 empty)")
    );
}

/// `local.type=fd`: a unix socketpair, and a UDP socket bound and
/// connected by the test, each carries frames both ways.
#[test]
fn an_inherited_socket_carries_frames() {
    let r = Running::new();
    let (acc, pacc) = udp_peer("127.0.0.1");
    let pa = free_port();
    add_udp(&r, "acc", pa, pacc, 0);

    // A socketpair: the netdev gets one end.
    let (mine, theirs) = UnixDatagram::pair().unwrap();
    mine.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let fd = theirs.into_raw_fd();
    r.ok(
        "netdev_add",
        json!({"type": "dgram", "id": "pair", "local": {"type": "fd", "str": fd.to_string()}}),
    );
    r.hubport("pair", 0);
    assert_eq!(
        r.with(|s| s.driver_info("pair")).unwrap(),
        format!("fd={fd} unix")
    );
    let mut buf = vec![0u8; 70_000];
    for (seq, len) in SIZES.into_iter().enumerate() {
        let f = frame(len, seq as u32);
        acc.send_to(&f, ("127.0.0.1", pa)).unwrap();
        let n = mine.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], f.as_slice(), "to the socketpair, {len} bytes");
        let f = frame(len, 10 + seq as u32);
        mine.send(&f).unwrap();
        assert_eq!(recv_datagram(&acc), f, "from the socketpair, {len} bytes");
    }
    r.ok("netdev_del", json!({"id": "pair"}));
    // The netdev owned its end: closing it hangs up ours.
    assert!(mine.send(b"x").is_err(), "the netdev closed its end");

    // A UDP socket bound and connected to the test's.
    let (peer, ppeer) = udp_peer("127.0.0.1");
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sport = s.local_addr().unwrap().port();
    s.connect(("127.0.0.1", ppeer)).unwrap();
    let fd = s.into_raw_fd();
    r.ok(
        "netdev_add",
        json!({"type": "dgram", "id": "udpfd", "local": {"type": "fd", "str": fd.to_string()}}),
    );
    r.hubport("udpfd", 0);
    assert_eq!(
        r.with(|s| s.driver_info("udpfd")).unwrap(),
        format!("fd={fd} inet")
    );
    for (seq, len) in SIZES.into_iter().enumerate() {
        let f = frame(len, 20 + seq as u32);
        acc.send_to(&f, ("127.0.0.1", pa)).unwrap();
        assert_eq!(recv_datagram(&peer), f, "to the UDP fd, {len} bytes");
        let f = frame(len, 30 + seq as u32);
        peer.send_to(&f, ("127.0.0.1", sport)).unwrap();
        assert_eq!(recv_datagram(&acc), f, "from the UDP fd, {len} bytes");
    }

    // A stream socket is refused, and stays the caller's.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let lfd = l.as_raw_fd();
    assert_eq!(
        r.err(
            "netdev_add",
            json!({"type": "dgram", "id": "bad", "local": {"type": "fd", "str": lfd.to_string()}}),
        ),
        format!("fd={lfd} is a stream socket, not a datagram one")
    );
    assert!(l.local_addr().is_ok(), "still open");
    assert_eq!(
        r.err(
            "netdev_add",
            json!({"type": "dgram", "id": "bad", "local": {"type": "fd", "str": "nosuch"}}),
        ),
        "File descriptor named 'nosuch' has not been found"
    );
    assert_eq!(
        r.err(
            "netdev_add",
            json!({"type": "dgram", "id": "bad", "local": {"type": "fd", "str": "12x"}}),
        ),
        "Invalid file descriptor number '12x'"
    );
}

/// A plain socket joined to `group`:`port` on 127.0.0.1, looping back.
fn member(group: Ipv4Addr, port: u16) -> UdpSocket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    s.bind(&std::net::SocketAddr::from((group, port)).into())
        .unwrap();
    s.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST).unwrap();
    s.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    s.set_multicast_loop_v4(true).unwrap();
    grow_rcvbuf(&s);
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Two dgram netdevs in one multicast group (each on a hub of its own
/// with a unicast access point), and a plain member of the group: a frame
/// one netdev sends reaches the other and the plain member, and, as in
/// QEMU, comes back to its sender (the group loops back).
#[test]
fn multicast_group_members_hear_each_other() {
    let r = Running::new();
    let group = Ipv4Addr::new(239, 255, 42, 17);
    let port = free_port();
    let (s1, ps1) = udp_peer("127.0.0.1");
    let (s2, ps2) = udp_peer("127.0.0.1");
    let (u1, u2) = (free_port(), free_port());
    for (id, hub, acc, local, remote) in [("m1", 1, "u1", u1, ps1), ("m2", 2, "u2", u2, ps2)] {
        r.ok(
            "netdev_add",
            json!({"type": "dgram", "id": id,
                   "remote": inet(&group.to_string(), port),
                   "local": inet("127.0.0.1", 0)}),
        );
        r.hubport(id, hub);
        add_udp(&r, acc, local, remote, hub);
    }
    assert_eq!(
        r.with(|s| s.driver_info("m1")).unwrap(),
        format!("mcast={group}:{port}")
    );
    let plain = member(group, port);
    for (seq, len) in [60usize, 1514, 9000].into_iter().enumerate() {
        let f = frame(len, seq as u32);
        s1.send_to(&f, ("127.0.0.1", u1)).unwrap();
        assert_eq!(recv_datagram(&s2), f, "m1 -> group -> m2, {len} bytes");
        assert_eq!(
            recv_datagram(&plain),
            f,
            "m1 -> group -> plain member, {len} bytes"
        );
        assert_eq!(recv_datagram(&s1), f, "m1 hears itself, {len} bytes");
    }
    // A burst of 1514-byte frames, sent as GSO runs on loopback.
    for seq in 0..100u32 {
        s1.send_to(&frame(1514, seq), ("127.0.0.1", u1)).unwrap();
    }
    for seq in 0..100u32 {
        assert_eq!(recv_datagram(&s2), frame(1514, seq), "burst frame {seq}");
    }
    for seq in 0..100u32 {
        assert_eq!(recv_datagram(&plain), frame(1514, seq), "burst frame {seq}");
        assert_eq!(
            recv_datagram(&s1),
            frame(1514, seq),
            "burst frame {seq} echo"
        );
    }
    // A plain member's datagram reaches both netdevs.
    let f = frame(300, 77);
    plain.send_to(&f, (group, port)).unwrap();
    assert_eq!(recv_datagram(&s1), f, "plain -> m1");
    assert_eq!(recv_datagram(&s2), f, "plain -> m2");
    silent(&s2);
}

/// A multicast netdev without `local` sends through the default route
/// (here an interface with a 1400-byte MTU, where UDP GSO cannot carry
/// 1514-byte datagrams): a burst of those still arrives whole, in order.
#[test]
fn multicast_on_the_default_interface() {
    let r = Running::new();
    let group = Ipv4Addr::new(239, 255, 42, 18);
    let port = free_port();
    let (s1, ps1) = udp_peer("127.0.0.1");
    let u1 = free_port();
    r.ok(
        "netdev_add",
        json!({"type": "dgram", "id": "m", "remote": inet(&group.to_string(), port)}),
    );
    r.hubport("m", 0);
    add_udp(&r, "u", u1, ps1, 0);
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    s.bind(&std::net::SocketAddr::from((group, port)).into())
        .unwrap();
    s.join_multicast_v4(&group, &Ipv4Addr::UNSPECIFIED).unwrap();
    s.set_recv_buffer_size(4 << 20).unwrap();
    let plain: UdpSocket = s.into();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for seq in 0..100u32 {
        s1.send_to(&frame(1514, seq), ("127.0.0.1", u1)).unwrap();
    }
    for seq in 0..100u32 {
        assert_eq!(recv_datagram(&plain), frame(1514, seq), "burst frame {seq}");
    }
}

/// CPU time (ms) each I/O loop thread of this process has used, by
/// thread id.
fn loop_cpu_ms() -> std::collections::HashMap<String, u64> {
    let mut out = std::collections::HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let p = t.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        if comm.trim() != "net-io" {
            continue;
        }
        let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis: utime is the
        // 12th, stime the 13th (clock ticks, 100 per second).
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if f.len() > 12 {
            out.insert(
                t.file_name().to_string_lossy().into_owned(),
                (f[11] + f[12]) * 10,
            );
        }
    }
    out
}

/// An inherited socket shut down under the netdev does not make the loop
/// spin: shut for reading (readable forever, with nothing to read) it is
/// polled in short pauses; shut both ways (a hang-up) it is no longer
/// watched. Frames keep flowing between other netdevs meanwhile.
#[test]
fn a_socket_shut_down_under_the_netdev() {
    let r = Running::new();
    let (ta, pta) = udp_peer("127.0.0.1");
    let (tb, ptb) = udp_peer("127.0.0.1");
    let (pa, pb) = (free_port(), free_port());
    add_udp(&r, "a", pa, pta, 0);
    add_udp(&r, "b", pb, ptb, 0);
    let mut ours = Vec::new();
    for id in ["rd", "rdwr"] {
        let (mine, theirs) = UnixDatagram::pair().unwrap();
        // A second descriptor of the netdev's socket, to shut it down.
        let dup = theirs.try_clone().unwrap();
        let fd = theirs.into_raw_fd();
        r.ok(
            "netdev_add",
            json!({"type": "dgram", "id": id, "local": {"type": "fd", "str": fd.to_string()}}),
        );
        r.hubport(id, 0);
        ours.push((mine, dup));
    }
    ours[0].1.shutdown(std::net::Shutdown::Read).unwrap();
    ours[1].1.shutdown(std::net::Shutdown::Both).unwrap();
    wait_until("hung up", || {
        r.with(|s| s.driver_info("rdwr"))
            .unwrap()
            .ends_with("(hung up)")
    });
    for seq in 0..50u32 {
        let f = frame(500, seq);
        ta.send_to(&f, ("127.0.0.1", pa)).unwrap();
        assert_eq!(
            recv_datagram(&tb),
            f,
            "frame {seq} while the others are shut"
        );
    }
    // No loop thread spins: over one second none uses a third of it.
    let before = loop_cpu_ms();
    std::thread::sleep(Duration::from_secs(1));
    let after = loop_cpu_ms();
    for (tid, ms) in &after {
        let used = ms - before.get(tid).copied().unwrap_or(0);
        assert!(used < 330, "loop thread {tid} used {used} ms of CPU in 1 s");
    }
    // The half-shut socket still sends: it had every frame of the hub.
    let mut buf = [0u8; 1000];
    ours[0]
        .0
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for seq in 0..50u32 {
        let n = ours[0].0.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], frame(500, seq).as_slice(), "rd still sends");
    }
}

/// Every combination QEMU's table refuses, with its text; the address
/// checks that come first; a busy port.
#[test]
fn refused_combinations_answer_qemus_texts() {
    let r = Running::new();
    let ip = inet("127.0.0.1", 40_000);
    let unix = json!({"type": "unix", "path": "/tmp/x.sock"});
    let fd = json!({"type": "fd", "str": "3"});
    let vsock = json!({"type": "vsock", "cid": "2", "port": "1"});
    let mcast = inet("239.1.2.3", 40_000);
    let long = "x".repeat(108);
    let too_long = format!("UNIX socket path '{long}' is too long");
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "dgram requires local= parameter"),
        (json!({"remote": ip}), "dgram requires local= parameter"),
        (json!({"remote": unix}), "dgram requires local= parameter"),
        (json!({"remote": fd}), "dgram requires local= parameter"),
        (
            json!({"local": fd, "remote": ip}),
            "don't set remote with local.fd",
        ),
        (
            json!({"local": fd, "remote": unix}),
            "don't set remote with local.fd",
        ),
        (
            json!({"local": fd, "remote": fd}),
            "don't set remote with local.fd",
        ),
        (
            json!({"local": ip, "remote": unix}),
            "remote and local types must be the same",
        ),
        (
            json!({"local": unix, "remote": ip}),
            "remote and local types must be the same",
        ),
        (
            json!({"local": ip, "remote": fd}),
            "remote and local types must be the same",
        ),
        (
            json!({"local": vsock, "remote": ip}),
            "remote and local types must be the same",
        ),
        (
            json!({"local": ip}),
            "type=inet or type=unix requires remote parameter",
        ),
        (
            json!({"local": unix}),
            "type=inet or type=unix requires remote parameter",
        ),
        (
            json!({"local": vsock}),
            "type=inet or type=unix requires remote parameter",
        ),
        (
            json!({"local": vsock, "remote": vsock}),
            "only support inet or fd type for local",
        ),
        (
            json!({"local": unix, "remote": mcast}),
            "only support inet or fd type for local",
        ),
        (
            json!({"local": vsock, "remote": mcast}),
            "only support inet or fd type for local",
        ),
        (
            json!({"local": inet("nohost", 1), "remote": mcast}),
            "localaddr 'nohost' is not a valid IPv4 address",
        ),
        (
            json!({"local": ip, "remote": inet("1.2.3.4.5", 1)}),
            "host address '1.2.3.4.5' is not a valid IPv4 address",
        ),
        (
            json!({"remote": {"type": "inet", "host": "127.0.0.1", "port": "x"}}),
            "port number 'x' is invalid",
        ),
        (
            json!({"local": {"type": "inet", "host": "127.0.0.1", "port": "70000"}, "remote": ip}),
            "port number '70000' is invalid",
        ),
        (
            json!({"local": ip, "remote": inet("no-such-host.invalid", 1)}),
            "can't resolve host address 'no-such-host.invalid'",
        ),
        (
            json!({"local": ip, "remote": {"type": "inet", "host": "127.0.0.1", "port": "1", "ipv6": true}}),
            "netdev 'dgram' is IPv4 only: '127.0.0.1' cannot be used with ipv6=on or ipv4=off",
        ),
        (
            json!({"local": {"type": "unix", "path": long}, "remote": unix}),
            &too_long,
        ),
        (
            json!({"local": {"type": "unix", "path": "a", "abstract": true}, "remote": unix}),
            "netdev 'dgram': abstract unix address 'a' is not supported",
        ),
        (
            json!({"local": fd, "remote": mcast}),
            "netdev 'dgram': a multicast remote with local.type=fd is not supported",
        ),
    ];
    r.refusals("dgram", "d", cases);

    let busy = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    assert_eq!(
        r.err(
            "netdev_add",
            json!({"type": "dgram", "id": "d", "local": inet("127.0.0.1", port), "remote": ip}),
        ),
        "can't bind ip=127.0.0.1 to socket: Address already in use"
    );
    // QEMU's inet_aton and C numbers: 127.1 and a hex port work.
    let (t, pt) = udp_peer("127.0.0.1");
    let p = free_port();
    r.ok(
        "netdev_add",
        json!({"type": "dgram", "id": "d",
               "local": {"type": "inet", "host": "127.1", "port": format!("{:#x}", p)},
               "remote": inet("127.0.0.1", pt)}),
    );
    assert_eq!(
        r.with(|s| s.driver_info("d")).unwrap(),
        format!("udp=127.0.0.1:{p}/127.0.0.1:{pt}")
    );
    drop(t);
}
