//! Bad input and faults on the socket drivers: peers that reset in the
//! middle of a frame or send a truncated one, `netdev_del` under
//! traffic, 10,000 add/del cycles. Nothing panics, no descriptor leaks
//! (counted in `/proc/self/fd`), and every frame is accounted for
//! (sent = delivered + counted drops + queued).

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use net_backends::core::DropReason;
use serde_json::json;
use support::*;

/// The tests here count this process's descriptors: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn hubport(r: &Running, id: &str, netdev: &str) {
    r.ok(
        "netdev_add",
        json!({"type": "hubport", "id": id, "hubid": 0, "netdev": netdev}),
    );
}

/// Closes with a reset (SO_LINGER 0) instead of a FIN.
fn reset(s: TcpStream) {
    let sock = socket2::Socket::from(s);
    sock.set_linger(Some(std::time::Duration::ZERO)).unwrap();
    drop(sock);
}

/// A peer that sends half a frame, or half a length, then resets, or
/// closes: the connection goes, the partial frame with it, and the next
/// client is served from a clean start.
#[test]
fn peers_resetting_mid_frame_leave_nothing_behind() {
    let _serial = serial();
    let r = Running::new();
    let (p1, p2) = stream_pair_on_hub(&r);
    let mut out = connect(p2);
    r.wait_events("NETDEV_STREAM_CONNECTED", 1);
    let fds = open_fds();
    let cases: [&dyn Fn(&mut TcpStream); 4] = [
        &|c| c.write_all(&[0, 0]).unwrap(),
        &|c| c.write_all(&[0, 0, 5, 0xdc, 1, 2, 3]).unwrap(),
        &|c| {
            let mut f = (1514u32).to_be_bytes().to_vec();
            f.extend_from_slice(&frame(1000, 0));
            c.write_all(&f).unwrap()
        },
        &|c| {
            write_frame(c, &frame(60, 1));
            c.write_all(&(60u32).to_be_bytes()).unwrap()
        },
    ];
    let mut connected = 1;
    for (i, case) in cases.iter().enumerate() {
        for hard in [true, false] {
            let mut c = connect(p1);
            connected += 1;
            r.wait_events("NETDEV_STREAM_CONNECTED", connected);
            case(&mut c);
            if i == 3 {
                // The whole frame before the cut still arrives.
                assert_eq!(read_frame(&mut out), frame(60, 1));
            }
            if hard {
                reset(c);
            } else {
                drop(c);
            }
            r.wait_events("NETDEV_STREAM_DISCONNECTED", connected - 1);
        }
    }
    // A clean client after all that: its frames arrive whole.
    let mut c = connect(p1);
    r.wait_events("NETDEV_STREAM_CONNECTED", connected + 1);
    write_frame(&mut c, &frame(1514, 7));
    assert_eq!(read_frame(&mut out), frame(1514, 7));
    drop(c);
    r.wait_events("NETDEV_STREAM_DISCONNECTED", connected);
    assert_eq!(open_fds(), fds, "descriptors leaked");
}

/// Frames towards a stream with no client are dropped and counted; the
/// hub's accounting balances on every port.
#[test]
fn every_frame_is_accounted_for() {
    let _serial = serial();
    let r = Running::new();
    let (p1, _) = stream_pair_on_hub(&r);
    let mut c = connect(p1);
    r.wait_events("NETDEV_STREAM_CONNECTED", 1);
    const N: u64 = 5000;
    let mut wire = Vec::new();
    for i in 0..N {
        let f = frame(60 + (i % 1400) as usize, i as u32);
        wire.extend_from_slice(&(f.len() as u32).to_be_bytes());
        wire.extend_from_slice(&f);
    }
    c.write_all(&wire).unwrap();
    wait_until("all frames read", || {
        r.with(|s| {
            let id = s.network().lookup("s1").unwrap();
            s.network().counters(id).unwrap().sent == N
        })
    });
    r.with(|s| {
        let net = s.network();
        for name in ["s1", "s2", "h1", "h2"] {
            let c = net.counters(net.lookup(name).unwrap()).unwrap();
            assert!(c.balanced(), "{name}: {c:?}");
        }
        let s1 = net.counters(net.lookup("s1").unwrap()).unwrap();
        assert_eq!(s1.delivered, N, "s1 -> h1");
        let h2 = net.counters(net.lookup("h2").unwrap()).unwrap();
        assert_eq!(h2.sent, N);
        assert_eq!(
            h2.dropped_for(DropReason::ReceiverLinkDown),
            N,
            "s2 has no client"
        );
    });
}

/// `netdev_del` of the netdevs frames are crossing, while a sender keeps
/// sending and a reader keeps reading: no panic, connections close, no
/// descriptor is left, and the stack still works afterwards.
#[test]
fn netdev_del_under_traffic() {
    let _serial = serial();
    let r = Running::new();
    let baseline = open_fds();
    for round in 0..20 {
        let (p1, p2) = stream_pair_on_hub(&r);
        let stop = Arc::new(AtomicBool::new(false));
        let mut reader = connect(p2);
        let mut writer = connect(p1);
        r.wait_events("NETDEV_STREAM_CONNECTED", 2 * round + 2);
        let sender = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut batch = Vec::new();
                for i in 0..64u32 {
                    let f = frame(1514, i);
                    batch.extend_from_slice(&(f.len() as u32).to_be_bytes());
                    batch.extend_from_slice(&f);
                }
                while !stop.load(Ordering::Relaxed) {
                    if writer.write_all(&batch).is_err() {
                        break;
                    }
                }
            })
        };
        let drain = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            let mut total = 0usize;
            while let Ok(n) = std::io::Read::read(&mut reader, &mut buf) {
                if n == 0 {
                    break;
                }
                total += n;
            }
            total
        });
        std::thread::sleep(std::time::Duration::from_millis(30));
        let order: [&str; 4] = if round % 2 == 0 {
            ["s1", "h1", "h2", "s2"]
        } else {
            ["h2", "s2", "s1", "h1"]
        };
        for id in order {
            r.ok("netdev_del", json!({"id": id}));
        }
        let moved = drain.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        sender.join().unwrap();
        assert!(
            moved > 0,
            "round {round}: no traffic flowed before the delete"
        );
    }
    // Everything closed; a fresh pair still carries frames.
    assert_eq!(open_fds(), baseline, "descriptors leaked");
    let (p1, p2) = stream_pair_on_hub(&r);
    let mut a = connect(p1);
    let mut b = connect(p2);
    r.wait_events("NETDEV_STREAM_CONNECTED", 42);
    write_frame(&mut a, &frame(9000, 1));
    assert_eq!(read_frame(&mut b), frame(9000, 1));
}

/// 10,000 `netdev_add` / `netdev_del` cycles of socket netdevs (a unix
/// stream server every time (a path, so no TCP port lingers between
/// cycles); every tenth cycle also a stream client of it, a
/// hubport, a dgram, an l2tpv3 and a legacy socket netdev): the
/// descriptor count is where it started.
#[test]
fn ten_thousand_add_del_cycles() {
    let _serial = serial();
    let r = Running::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let unix = json!({"type": "unix", "path": path.to_str().unwrap()});
    let (u1, u2) = (free_port(), free_port());
    let others = [
        json!({"type": "dgram", "id": "d",
               "local": {"type": "inet", "host": "127.0.0.1", "port": u1.to_string()},
               "remote": {"type": "inet", "host": "127.0.0.1", "port": u2.to_string()}}),
        json!({"type": "l2tpv3", "id": "l", "src": "127.0.0.1", "dst": "127.0.0.1",
               "udp": true, "srcport": u1.to_string(), "dstport": u2.to_string(),
               "txsession": 1}),
        json!({"type": "socket", "id": "u", "udp": format!("127.0.0.1:{u2}"),
               "localaddr": format!("127.0.0.1:{u1}")}),
    ];
    let baseline = open_fds();
    for i in 0..10_000u32 {
        r.ok(
            "netdev_add",
            json!({"type": "stream", "id": "s", "server": true, "addr": unix}),
        );
        if i % 10 == 0 {
            for args in &others {
                r.ok("netdev_add", args.clone());
                r.ok("netdev_del", json!({"id": args["id"]}));
            }
            r.ok(
                "netdev_add",
                json!({"type": "stream", "id": "c", "addr": unix}),
            );
            hubport(&r, "h", "c");
            r.ok("netdev_del", json!({"id": "c"}));
            r.ok("netdev_del", json!({"id": "h"}));
        }
        r.ok("netdev_del", json!({"id": "s"}));
    }
    assert_eq!(
        open_fds(),
        baseline,
        "descriptors leaked over 10,000 cycles"
    );
    assert_eq!(r.with(|s| s.network().clients().count()), 0);
}
