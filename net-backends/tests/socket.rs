//! `-netdev socket` (QEMU's legacy driver) on real sockets: `listen=` and
//! `connect=`, `udp=` with `localaddr=`, `mcast=`, `fd=` (stream and
//! datagram), and QEMU's texts for the options it refuses.

mod support;

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

fn add(r: &Running, id: &str, opts: Value, hub: i32) {
    r.add_on_hub("socket", id, opts, hub);
}

fn link_up(r: &Running, id: &str) -> bool {
    r.with(|s| {
        let c = s.network().lookup(id).unwrap();
        s.network().link_up(c).unwrap()
    })
}

/// A `listen=` netdev and a `connect=` netdev on one hub: the test
/// connects to the first and listens for the second; length-prefixed
/// frames of every size cross both ways. The links are down until the
/// connections are up.
#[test]
fn listen_and_connect_carry_frames() {
    let r = Running::new();
    let lport = free_port();
    add(&r, "l", json!({"listen": format!("127.0.0.1:{lport}")}), 0);
    assert!(!link_up(&r, "l"), "down until a client connects");
    let test_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let cport = test_listener.local_addr().unwrap().port();
    add(&r, "c", json!({"connect": format!("127.0.0.1:{cport}")}), 0);
    let (mut b, _) = test_listener.accept().unwrap();
    b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut a = connect(lport);
    wait_until("both links up", || link_up(&r, "l") && link_up(&r, "c"));
    for (seq, len) in SIZES.into_iter().enumerate() {
        let f = frame(len, seq as u32);
        write_frame(&mut a, &f);
        assert_eq!(read_frame(&mut b), f, "listen -> connect, {len} bytes");
        let f = frame(len, 100 + seq as u32);
        write_frame(&mut b, &f);
        assert_eq!(read_frame(&mut a), f, "connect -> listen, {len} bytes");
    }
    // No QMP events from the legacy driver.
    assert!(r.event_names().is_empty(), "{:?}", r.event_names());
    // The client leaves: the server's link goes down, and it takes the
    // next one.
    drop(a);
    wait_until("l down", || !link_up(&r, "l"));
    let mut a2 = connect(lport);
    wait_until("l up again", || link_up(&r, "l"));
    write_frame(&mut a2, &frame(80, 9));
    assert_eq!(read_frame(&mut b), frame(80, 9));
}

/// `udp=` with `localaddr=`: two such netdevs on one hub, frames of every
/// size both ways, from the bound port.
#[test]
fn udp_with_localaddr_carries_frames() {
    let r = Running::new();
    let (ta, pta) = udp_peer("127.0.0.1");
    let (tb, ptb) = udp_peer("127.0.0.1");
    let (pa, pb) = (free_port(), free_port());
    add(
        &r,
        "a",
        json!({"udp": format!("127.0.0.1:{pta}"), "localaddr": format!("127.0.0.1:{pa}")}),
        0,
    );
    add(
        &r,
        "b",
        json!({"udp": format!("127.0.0.1:{ptb}"), "localaddr": format!("127.0.0.1:{pb}")}),
        0,
    );
    assert_eq!(
        r.with(|s| s.driver_info("a")).unwrap(),
        format!("socket: udp=127.0.0.1:{pta}")
    );
    udp_sizes_cross(&ta, pa, &tb, pb);
}

/// `mcast=` with `localaddr=`: a plain member of the group hears what the
/// netdev sends, and the netdev hears the member (and itself, as QEMU).
#[test]
fn mcast_joins_the_group() {
    let r = Running::new();
    let group = Ipv4Addr::new(239, 255, 42, 99);
    let port = free_port();
    let (acc, pacc) = udp_peer("127.0.0.1");
    let pu = free_port();
    add(
        &r,
        "m",
        json!({"mcast": format!("{group}:{port}"), "localaddr": "127.0.0.1"}),
        0,
    );
    add(
        &r,
        "u",
        json!({"udp": format!("127.0.0.1:{pacc}"), "localaddr": format!("127.0.0.1:{pu}")}),
        0,
    );
    assert_eq!(
        r.with(|s| s.driver_info("m")).unwrap(),
        format!("socket: mcast={group}:{port}")
    );
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    s.bind(&std::net::SocketAddr::from((group, port)).into())
        .unwrap();
    s.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST).unwrap();
    s.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    let plain: UdpSocket = s.into();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    for (seq, len) in [60usize, 1514, 9000].into_iter().enumerate() {
        let f = frame(len, seq as u32);
        acc.send_to(&f, ("127.0.0.1", pu)).unwrap();
        assert_eq!(recv_datagram(&plain), f, "netdev -> group, {len} bytes");
        assert_eq!(
            recv_datagram(&acc),
            f,
            "the netdev hears itself, {len} bytes"
        );
        let f = frame(len, 50 + seq as u32);
        plain.send_to(&f, (group, port)).unwrap();
        assert_eq!(recv_datagram(&acc), f, "group -> netdev, {len} bytes");
        assert_eq!(
            recv_datagram(&plain),
            f,
            "the member hears itself, {len} bytes"
        );
    }
}

/// `fd=`: a stream socket carries length-prefixed frames, a datagram one
/// bare frames; each reaches the other through the hub.
#[test]
fn inherited_stream_and_datagram_sockets() {
    let r = Running::new();
    let (mut st_mine, st_theirs) = UnixStream::pair().unwrap();
    st_mine
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (dg_mine, dg_theirs) = UnixDatagram::pair().unwrap();
    dg_mine
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let sfd = st_theirs.into_raw_fd();
    let dfd = dg_theirs.into_raw_fd();
    add(&r, "s", json!({"fd": sfd.to_string()}), 0);
    add(&r, "d", json!({"fd": dfd.to_string()}), 0);
    assert_eq!(
        r.with(|s| s.driver_info("d")).unwrap(),
        format!("socket: fd={dfd} unix")
    );
    wait_until("stream fd up", || link_up(&r, "s"));
    let mut buf = vec![0u8; 70_000];
    for (seq, len) in SIZES.into_iter().enumerate() {
        let f = frame(len, seq as u32);
        write_frame(&mut st_mine, &f);
        let n = dg_mine.recv(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            f.as_slice(),
            "stream fd -> datagram fd, {len} bytes"
        );
        let f = frame(len, 10 + seq as u32);
        dg_mine.send(&f).unwrap();
        assert_eq!(
            read_frame(&mut st_mine),
            f,
            "datagram fd -> stream fd, {len} bytes"
        );
    }
}

/// QEMU's texts for the options it refuses, and for bad addresses and
/// descriptors.
#[test]
fn refusals_answer_qemus_texts() {
    let r = Running::new();
    let exactly_one = "exactly one of listen=, connect=, mcast= or udp= is required";
    let pipe = {
        let mut fds = [0; 2];
        // SAFETY: fills two ints with new descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        fds
    };
    let (sp_a, sp_b) =
        socket2::Socket::pair(socket2::Domain::UNIX, socket2::Type::SEQPACKET, None).unwrap();
    let seq = sp_a.as_raw_fd();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let cases: Vec<(Value, String)> = vec![
        (json!({}), exactly_one.into()),
        (
            json!({"listen": "127.0.0.1:1", "connect": "127.0.0.1:1"}),
            exactly_one.into(),
        ),
        (
            json!({"fd": "3", "mcast": "239.1.1.1:1"}),
            exactly_one.into(),
        ),
        (
            json!({"udp": "127.0.0.1:1", "mcast": "239.1.1.1:1", "localaddr": "127.0.0.1:2"}),
            exactly_one.into(),
        ),
        (
            json!({"listen": "127.0.0.1:1", "localaddr": "127.0.0.1:2"}),
            "localaddr= is only valid with mcast= or udp=".into(),
        ),
        (
            json!({"udp": "127.0.0.1:1"}),
            "localaddr= is mandatory with udp=".into(),
        ),
        (
            json!({"listen": "127.0.0.1"}),
            "host address '127.0.0.1' doesn't contain ':' separating host from port".into(),
        ),
        (
            json!({"connect": "300.1.1.1:5"}),
            "host address '300.1.1.1' is not a valid IPv4 address".into(),
        ),
        (
            json!({"udp": "127.0.0.1:1", "localaddr": "127.0.0.1:port"}),
            "port number 'port' is invalid".into(),
        ),
        (
            json!({"mcast": "127.0.0.1:5000"}),
            "specified mcastaddr 127.0.0.1 (0x7f000001) does not contain a multicast address"
                .into(),
        ),
        (
            json!({"mcast": "239.1.2.3:5000", "localaddr": "127.0.0.1:5"}),
            "localaddr '127.0.0.1:5' is not a valid IPv4 address".into(),
        ),
        (
            json!({"listen": format!("127.0.0.1:{busy_port}")}),
            "can't bind ip=127.0.0.1 to socket: Address already in use".into(),
        ),
        (
            json!({"fd": "nosuch"}),
            "File descriptor named 'nosuch' has not been found".into(),
        ),
        (
            json!({"fd": "3x"}),
            "Invalid file descriptor number '3x'".into(),
        ),
        (
            json!({"fd": "999999"}),
            "x: Can't use file descriptor 999999: Bad file descriptor".into(),
        ),
        (
            json!({"fd": pipe[0].to_string()}),
            "can't get socket option SO_TYPE".into(),
        ),
        (
            json!({"fd": seq.to_string()}),
            format!("socket type=5 for fd={seq} must be either SOCK_DGRAM or SOCK_STREAM"),
        ),
    ];
    r.refusals("socket", "x", cases);
    // Refused descriptors stay the caller's.
    assert!(sp_a.local_addr().is_ok());
    drop((sp_a, sp_b));
    // SAFETY: closes the pipe made above, still ours.
    unsafe {
        libc::close(pipe[0]);
        libc::close(pipe[1]);
    }
    // `connect=` to nobody is added, and says why in its info line.
    let p = free_port();
    r.ok(
        "netdev_add",
        json!({"type": "socket", "id": "c", "connect": format!("127.0.0.1:{p}")}),
    );
    let want = format!("error: Failed to connect to '127.0.0.1:{p}': Connection refused");
    wait_until(&want, || {
        r.with(|s| s.driver_info("c")).as_deref() == Some(want.as_str())
    });
}
