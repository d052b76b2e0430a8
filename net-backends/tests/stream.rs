//! `-netdev stream` on real sockets: servers and clients, one client at
//! a time, events, reconnect, framing faults.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::json;
use support::*;

/// Two stream servers joined by hub 0: a frame written to one comes out
/// of the other, unchanged, at every size up to the largest.
#[test]
fn frames_cross_a_hub_between_two_stream_servers() {
    let r = Running::new();
    let (p1, p2) = stream_pair_on_hub(&r);
    let mut a = connect(p1);
    r.wait_events("NETDEV_STREAM_CONNECTED", 1);
    let mut b = connect(p2);
    r.wait_events("NETDEV_STREAM_CONNECTED", 2);
    // The event's data as QEMU 7.2 sends it (checked against its output):
    // {"netdev-id": "s1", "addr": {"port": "58790", "ipv4": true,
    //  "host": "127.0.0.1", "type": "inet"}}
    let first = r.events.lock().unwrap()[0].clone();
    let data = qapi_runtime::Event::data(&first, &qapi_runtime::Output::new());
    let port = a.local_addr().unwrap().port().to_string();
    assert_eq!(
        data,
        Some(json!({"netdev-id": "s1",
                    "addr": {"type": "inet", "host": "127.0.0.1", "port": port, "ipv4": true}}))
    );
    for (seq, len) in [60usize, 1514, 9000, 65_000, 69_632]
        .into_iter()
        .enumerate()
    {
        let f = frame(len, seq as u32);
        write_frame(&mut a, &f);
        assert_eq!(read_frame(&mut b), f, "a -> b, {len} bytes");
        write_frame(&mut b, &f);
        assert_eq!(read_frame(&mut a), f, "b -> a, {len} bytes");
    }
    drop(a);
    r.wait_events("NETDEV_STREAM_DISCONNECTED", 1);
}

/// A second client waits in the backlog until the first leaves.
#[test]
fn a_server_serves_one_client_at_a_time() {
    let r = Running::new();
    let (p1, p2) = stream_pair_on_hub(&r);
    let mut out = connect(p2);
    let mut first = connect(p1);
    r.wait_events("NETDEV_STREAM_CONNECTED", 2);
    let mut second = connect(p1);
    write_frame(&mut second, &frame(100, 2));
    write_frame(&mut first, &frame(100, 1));
    assert_eq!(read_frame(&mut out), frame(100, 1));
    // The second client's frame is only read once the first is gone.
    out.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut probe = [0u8; 1];
    assert!(
        std::io::Read::read(&mut out, &mut probe).is_err(),
        "second client served too early"
    );
    out.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    drop(first);
    assert_eq!(read_frame(&mut out), frame(100, 2));
    r.wait_events("NETDEV_STREAM_CONNECTED", 3);
}

/// A length prefix over 69,632 drops the connection (without allocating
/// it), and the server takes the next client.
#[test]
fn an_oversized_length_drops_the_connection() {
    let r = Running::new();
    let p = free_port();
    r.ok(
        "netdev_add",
        json!({"type": "stream", "id": "s", "server": true,
               "addr": {"type": "inet", "host": "127.0.0.1", "port": p.to_string()}}),
    );
    let mut c = connect(p);
    r.wait_events("NETDEV_STREAM_CONNECTED", 1);
    c.write_all(&(69_633u32).to_be_bytes()).unwrap();
    r.wait_events("NETDEV_STREAM_DISCONNECTED", 1);
    let mut buf = [0u8; 1];
    assert_eq!(
        std::io::Read::read(&mut c, &mut buf).unwrap_or(0),
        0,
        "connection closed"
    );
    let _c2 = connect(p);
    r.wait_events("NETDEV_STREAM_CONNECTED", 2);
    let info = r.with(|s| s.driver_info("s")).unwrap();
    assert!(
        info.ends_with("(dropped for oversized frames: 1)"),
        "{info}"
    );
}

/// A client with `reconnect` comes back after the server restarts.
#[test]
fn a_client_reconnects() {
    let r = Running::new();
    let p = free_port();
    let server = std::net::TcpListener::bind(("127.0.0.1", p)).unwrap();
    r.ok(
        "netdev_add",
        json!({"type": "stream", "id": "c", "reconnect": 1,
               "addr": {"type": "inet", "host": "127.0.0.1", "port": p.to_string()}}),
    );
    let (conn, _) = server.accept().unwrap();
    r.wait_events("NETDEV_STREAM_CONNECTED", 1);
    drop(conn);
    r.wait_events("NETDEV_STREAM_DISCONNECTED", 1);
    let (_conn, _) = server.accept().unwrap();
    r.wait_events("NETDEV_STREAM_CONNECTED", 2);
}

/// A client that cannot connect is added anyway, as in QEMU, and says
/// why in its info line; servers refuse `reconnect`; a busy port is
/// `netdev_add`'s error.
#[test]
fn errors_are_clear() {
    let r = Running::new();
    let p = free_port();
    r.ok(
        "netdev_add",
        json!({"type": "stream", "id": "c",
               "addr": {"type": "inet", "host": "127.0.0.1", "port": p.to_string()}}),
    );
    let want = format!("error: Failed to connect to '127.0.0.1:{p}': Connection refused");
    wait_until(&want, || {
        r.with(|s| s.driver_info("c")).as_deref() == Some(want.as_str())
    });
    assert_eq!(
        r.err(
            "netdev_add",
            json!({"type": "stream", "id": "s", "server": true, "reconnect": 1,
                   "addr": {"type": "inet", "host": "127.0.0.1", "port": "1"}}),
        ),
        "'reconnect' option is incompatible with socket in server mode"
    );
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    assert_eq!(
        r.err(
            "netdev_add",
            json!({"type": "stream", "id": "s", "server": true,
                   "addr": {"type": "inet", "host": "127.0.0.1", "port": port.to_string()}}),
        ),
        "Failed to bind socket: Address already in use"
    );
}

/// A burst larger than the relay's output buffer, read late: the
/// output fills, the hub holds the sender back, and once the reader
/// drains the output every frame still arrives, in order (a lost flush
/// here once stalled the relay for good).
#[test]
fn a_full_output_holds_the_sender_back_without_stalling() {
    let r = Running::new();
    let (p1, p2) = stream_pair_on_hub(&r);
    let mut a = connect(p1);
    let mut b = connect(p2);
    r.wait_events("NETDEV_STREAM_CONNECTED", 2);
    const N: u32 = 200_000;
    let writer = std::thread::spawn(move || {
        let mut buf = Vec::new();
        for seq in 0..N {
            let f = frame(64, seq);
            buf.extend_from_slice(&(f.len() as u32).to_be_bytes());
            buf.extend_from_slice(&f);
        }
        a.write_all(&buf).unwrap();
        a
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut got = vec![0u8; N as usize * 68];
    b.read_exact(&mut got)
        .expect("every frame arrives (no stall)");
    for (seq, chunk) in got.chunks(68).enumerate() {
        assert_eq!(&chunk[..4], &64u32.to_be_bytes());
        assert_eq!(&chunk[4..], frame(64, seq as u32).as_slice(), "frame {seq}");
    }
    let _a = writer.join().unwrap();
    r.with(|s| {
        let net = s.network();
        for name in ["s1", "s2", "h1", "h2"] {
            let c = net.counters(net.lookup(name).unwrap()).unwrap();
            assert!(c.balanced(), "{name}: {c:?}");
            assert_eq!(c.dropped(), 0, "{name} dropped frames: {c:?}");
        }
    });
}
