//! `-netdev l2tpv3` against a peer that builds and parses the L2TPv3
//! header by hand: UDP and raw IP (protocol 115), IPv4 and IPv6, 32- and
//! 64-bit cookies, the counter (incrementing, or pinned to zero), the
//! offset, and the datagrams that must be dropped.
//!
//! Each netdev sits on hub 0 with a UDP `dgram` access point towards a
//! socket of the test, so a frame goes test -> access -> hub -> l2tpv3 ->
//! peer, and back.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use serde_json::{json, Value};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use support::*;

const SIZES: [usize; 4] = [60, 1514, 9000, 60_000];

/// Nothing arrives within 300 ms.
fn silent(s: &UdpSocket) {
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = vec![0u8; 70_000];
    let got = s.recv(&mut buf);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(got.is_err(), "unexpected datagram of {:?} bytes", got.ok());
}

/// The test's access point: a dgram netdev on hub 0 towards a UDP
/// socket of the test; returns the socket and the netdev's port.
fn access(r: &Running) -> (UdpSocket, u16) {
    let (s, ps) = udp_peer("127.0.0.1");
    let p = free_port();
    r.ok(
        "netdev_add",
        json!({"type": "dgram", "id": "acc",
               "local": {"type": "inet", "host": "127.0.0.1", "port": p.to_string()},
               "remote": {"type": "inet", "host": "127.0.0.1", "port": ps.to_string()}}),
    );
    r.hubport("acc", 0);
    (s, p)
}

fn add_l2tp(r: &Running, opts: Value) {
    r.add_on_hub("l2tpv3", "l", opts, 0);
}

/// The header layout the peer expects and builds.
#[derive(Clone, Copy)]
struct Layout {
    udp: bool,
    /// Cookie width: 0, 4 or 8.
    cookie: usize,
    counter: bool,
    offset: usize,
}

impl Layout {
    fn len(&self) -> usize {
        (if self.udp { 4 } else { 0 })
            + 4
            + self.cookie
            + (if self.counter { 4 } else { 0 })
            + self.offset
    }

    /// A datagram the peer sends: header, then the frame.
    fn build(&self, session: u32, cookie: u64, frame: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        if self.udp {
            d.extend_from_slice(&0x0003_0000u32.to_be_bytes());
        }
        d.extend_from_slice(&session.to_be_bytes());
        match self.cookie {
            4 => d.extend_from_slice(&(cookie as u32).to_be_bytes()),
            8 => d.extend_from_slice(&cookie.to_be_bytes()),
            _ => {}
        }
        if self.counter {
            d.extend_from_slice(&0xfeed_beefu32.to_be_bytes());
        }
        d.resize(d.len() + self.offset, 0xa5);
        d.extend_from_slice(frame);
        d
    }

    /// Parses what the netdev sent: (session, cookie, counter, frame);
    /// checks the version word and that the offset bytes are zeros.
    fn parse(&self, d: &[u8]) -> (u32, u64, Option<u32>, Vec<u8>) {
        assert!(d.len() >= self.len(), "datagram shorter than the header");
        let mut at = 0;
        let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if self.udp {
            assert_eq!(be32(&d[0..4]), 0x0003_0000, "version 3 data message");
            at = 4;
        }
        let session = be32(&d[at..]);
        at += 4;
        let cookie = match self.cookie {
            4 => u64::from(be32(&d[at..])),
            8 => u64::from_be_bytes(d[at..at + 8].try_into().unwrap()),
            _ => 0,
        };
        at += self.cookie;
        let counter = self.counter.then(|| be32(&d[at..]));
        if self.counter {
            at += 4;
        }
        assert!(
            d[at..at + self.offset].iter().all(|&b| b == 0),
            "offset bytes"
        );
        at += self.offset;
        (session, cookie, counter, d[at..].to_vec())
    }
}

fn info(r: &Running) -> String {
    r.with(|s| s.driver_info("l")).unwrap()
}

/// Frames the l2tpv3 netdev read and sent on (into the hub).
fn sent_by_l(r: &Running) -> u64 {
    r.with(|s| {
        let id = s.network().lookup("l").unwrap();
        s.network().counters(id).unwrap().sent
    })
}

/// UDP, 32-bit cookies, a counter, an offset of 3: the header is
/// exactly as the RFC lays it out, the counter counts from 1, frames
/// come in only with our session and cookie.
#[test]
fn udp_cookie32_counter_offset() {
    let r = Running::new();
    let (acc, pacc) = access(&r);
    let (peer, ppeer) = udp_peer("127.0.0.1");
    let pl = free_port();
    add_l2tp(
        &r,
        json!({"src": "127.0.0.1", "dst": "127.0.0.1", "udp": true,
               "srcport": pl.to_string(), "dstport": ppeer.to_string(),
               "txsession": 0x1122_3344u32, "rxsession": 0x5566_7788u32,
               "txcookie": 0xdead_beefu32, "rxcookie": 0xcafe_f00du32,
               "counter": true, "offset": 3}),
    );
    assert_eq!(info(&r), "l2tpv3: connected");
    let lay = Layout {
        udp: true,
        cookie: 4,
        counter: true,
        offset: 3,
    };
    for (seq, len) in SIZES.into_iter().enumerate() {
        let f = frame(len, seq as u32);
        acc.send_to(&f, ("127.0.0.1", pacc)).unwrap();
        let d = recv_datagram(&peer);
        assert_eq!(d.len(), lay.len() + len, "header of 4+4+4+4+3 bytes");
        let (session, cookie, counter, got) = lay.parse(&d);
        assert_eq!(session, 0x1122_3344, "txsession");
        assert_eq!(cookie, 0xdead_beef, "txcookie");
        assert_eq!(counter, Some(seq as u32 + 1), "counter counts from 1");
        assert_eq!(got, f, "{len} bytes out");

        let f = frame(len, 100 + seq as u32);
        peer.send_to(&lay.build(0x5566_7788, 0xcafe_f00d, &f), ("127.0.0.1", pl))
            .unwrap();
        assert_eq!(recv_datagram(&acc), f, "{len} bytes in");
    }
    // Wrong session, wrong cookie, our tx values (a reflection), a header
    // with nothing behind it: all dropped, and counted.
    let f = frame(100, 7);
    for d in [
        lay.build(0x5566_7789, 0xcafe_f00d, &f),
        lay.build(0x5566_7788, 0xcafe_f00e, &f),
        lay.build(0x1122_3344, 0xdead_beef, &f),
        lay.build(0x5566_7788, 0xcafe_f00d, &[]),
    ] {
        peer.send_to(&d, ("127.0.0.1", pl)).unwrap();
    }
    let good = frame(100, 8);
    peer.send_to(
        &lay.build(0x5566_7788, 0xcafe_f00d, &good),
        ("127.0.0.1", pl),
    )
    .unwrap();
    assert_eq!(recv_datagram(&acc), good, "only the good one comes through");
    silent(&acc);
    assert_eq!(
        info(&r),
        "l2tpv3: connected (dropped: 2 bad session, 1 bad cookie, 1 short)"
    );
    assert_eq!(sent_by_l(&r), SIZES.len() as u64 + 1);
}

/// 64-bit cookies and a pinned counter: the cookie takes 8 bytes, the
/// counter stays 0; a cookie matching only in its low 32 bits is dropped.
#[test]
fn udp_cookie64_pincounter() {
    let r = Running::new();
    let (acc, pacc) = access(&r);
    let (peer, ppeer) = udp_peer("127.0.0.1");
    let pl = free_port();
    let (tx, rx) = (0x0102_0304_0506_0708u64, 0x1112_1314_1516_1718u64);
    add_l2tp(
        &r,
        json!({"src": "127.0.0.1", "dst": "127.0.0.1", "udp": true,
               "srcport": pl.to_string(), "dstport": ppeer.to_string(),
               "txsession": 5, "rxsession": 6, "cookie64": true,
               "txcookie": tx, "rxcookie": rx,
               "counter": true, "pincounter": true}),
    );
    let lay = Layout {
        udp: true,
        cookie: 8,
        counter: true,
        offset: 0,
    };
    for seq in 0..5u32 {
        let f = frame(200, seq);
        acc.send_to(&f, ("127.0.0.1", pacc)).unwrap();
        let d = recv_datagram(&peer);
        assert_eq!(d.len(), 20 + 200);
        let (session, cookie, counter, got) = lay.parse(&d);
        assert_eq!((session, cookie, counter), (5, tx, Some(0)), "frame {seq}");
        assert_eq!(got, f);
    }
    let f = frame(300, 1);
    peer.send_to(&lay.build(6, rx ^ (1 << 40), &f), ("127.0.0.1", pl))
        .unwrap();
    peer.send_to(&lay.build(6, rx, &f), ("127.0.0.1", pl))
        .unwrap();
    assert_eq!(recv_datagram(&acc), f);
    silent(&acc);
    assert_eq!(info(&r), "l2tpv3: connected (dropped: 1 bad cookie)");
}

/// No cookie, no counter, `rxsession` defaulting to `txsession`: an
/// 8-byte header; over IPv6.
#[test]
fn udp_ipv6_plain_header() {
    let r = Running::new();
    let (acc, pacc) = access(&r);
    let peer = match UdpSocket::bind("[::1]:0") {
        Ok(s) => s,
        Err(e) => panic!("no IPv6 loopback here ({e})"),
    };
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let ppeer = peer.local_addr().unwrap().port();
    let pl = free_port();
    add_l2tp(
        &r,
        json!({"src": "::1", "dst": "::1", "udp": true, "ipv6": true,
               "srcport": pl.to_string(), "dstport": ppeer.to_string(),
               "txsession": 0xabcdu32}),
    );
    let lay = Layout {
        udp: true,
        cookie: 0,
        counter: false,
        offset: 0,
    };
    for (seq, len) in SIZES.into_iter().enumerate() {
        let f = frame(len, seq as u32);
        acc.send_to(&f, ("127.0.0.1", pacc)).unwrap();
        let d = recv_datagram(&peer);
        assert_eq!(d.len(), 8 + len);
        let (session, _, _, got) = lay.parse(&d);
        assert_eq!(session, 0xabcd);
        assert_eq!(got, f);
        let f = frame(len, 40 + seq as u32);
        peer.send_to(&lay.build(0xabcd, 0, &f), ("::1", pl))
            .unwrap();
        assert_eq!(recv_datagram(&acc), f, "{len} bytes in");
    }
}

/// A raw socket of protocol 115, or why there is none. Without raw
/// sockets the test fails under CI and says so loudly elsewhere.
fn raw_socket(domain: Domain) -> Option<Socket> {
    match Socket::new(domain, Type::RAW, Some(Protocol::from(115))) {
        Ok(s) => Some(s),
        Err(e) => {
            let msg = format!("raw IP sockets (protocol 115) are not available here: {e}");
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg}");
            }
            qapi_tests::skipped(qapi_tests::SkipReason::Unavailable("raw IP sockets"), &msg);
            None
        }
    }
}

/// Reads raw datagrams until one with `session` comes (the raw socket
/// also sees the test's own datagrams, and the netdev's echoes).
fn recv_raw(s: &Socket, v4: bool, lay: &Layout, session: u32) -> (u64, Option<u32>, Vec<u8>) {
    let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 70_000];
    loop {
        let n = s.recv(&mut buf).expect("a raw datagram");
        // SAFETY: recv initialised the first n bytes.
        let d: Vec<u8> = buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        let d = if v4 {
            let ihl = usize::from(d[0] & 0x0f) * 4;
            assert_eq!(d[9], 115, "protocol 115");
            d[ihl..].to_vec()
        } else {
            d
        };
        if d.len() < 4 {
            continue;
        }
        let (got_session, cookie, counter, frame) = lay.parse(&d);
        if got_session == session {
            return (cookie, counter, frame);
        }
    }
}

fn raw_mode(domain: Domain, host: &str) {
    let Some(raw) = raw_socket(domain) else {
        return;
    };
    let v4 = domain == Domain::IPV4;
    let ip: std::net::IpAddr = host.parse().unwrap();
    let addr = SockAddr::from(std::net::SocketAddr::new(ip, 0));
    raw.bind(&addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = Running::new();
    let (acc, pacc) = access(&r);
    let mut opts = json!({"src": host, "dst": host,
                          "txsession": 0x0a0b_0c0du32, "rxsession": 0x0102_0304u32,
                          "txcookie": 0x7777_8888u32, "rxcookie": 0x9999_aaaau32,
                          "counter": true});
    if !v4 {
        opts["ipv6"] = json!(true);
    }
    add_l2tp(&r, opts);
    let lay = Layout {
        udp: false,
        cookie: 4,
        counter: true,
        offset: 0,
    };
    for (seq, len) in SIZES.into_iter().enumerate() {
        let f = frame(len, seq as u32);
        acc.send_to(&f, ("127.0.0.1", pacc)).unwrap();
        let (cookie, counter, got) = recv_raw(&raw, v4, &lay, 0x0a0b_0c0d);
        assert_eq!(cookie, 0x7777_8888);
        assert_eq!(counter, Some(seq as u32 + 1));
        assert_eq!(got, f, "{len} bytes out");

        let f = frame(len, 60 + seq as u32);
        raw.send_to(&lay.build(0x0102_0304, 0x9999_aaaa, &f), &addr)
            .unwrap();
        assert_eq!(recv_datagram(&acc), f, "{len} bytes in");
    }
    // The netdev sees its own datagrams too (same address): they carry
    // its tx session and are dropped.
    wait_until("own datagrams dropped", || {
        info(&r).contains(&format!("{} bad session", SIZES.len()))
    });
    silent(&acc);
}

/// Raw IPv4 (protocol 115) on 127.0.0.1: the kernel's IP header is
/// skipped on receive.
#[test]
fn raw_ip_v4() {
    raw_mode(Domain::IPV4, "127.0.0.1");
}

/// Raw IPv6 (protocol 115) on ::1: no IP header on receive.
#[test]
fn raw_ip_v6() {
    raw_mode(Domain::IPV6, "::1");
}

/// QEMU's texts, in QEMU's order, and our refusals of what QEMU gets
/// wrong.
#[test]
fn refusals() {
    let r = Running::new();
    let base = || json!({"src": "127.0.0.1", "dst": "127.0.0.1", "txsession": 1});
    let with = |extra: Value| {
        let mut v = base();
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let cases = vec![
        (
            with(json!({"offset": 257})),
            "offset must be less than 256 bytes".to_owned(),
        ),
        (
            with(json!({"txcookie": 1})),
            "require both 'rxcookie' and 'txcookie' or neither".to_owned(),
        ),
        (
            with(json!({"rxcookie": 1, "offset": 300})),
            "offset must be less than 256 bytes".to_owned(),
        ),
        (
            with(json!({"udp": true, "srcport": "1"})),
            "need both src and dst port for udp".to_owned(),
        ),
        (
            with(json!({"cookie64": false, "txcookie": 1, "rxcookie": 2})),
            "cookie64=off is ambiguous (QEMU takes it for 64-bit cookies): \
             leave cookie64 out for 32-bit cookies, or set cookie64=on"
                .to_owned(),
        ),
        (
            with(json!({"txcookie": 4_294_967_296u64, "rxcookie": 2})),
            "'txcookie' 4294967296 does not fit in 32 bits: set cookie64=on for 64-bit cookies"
                .to_owned(),
        ),
        (
            with(json!({"pincounter": true})),
            "pincounter=on needs counter=on (QEMU would send no counter field)".to_owned(),
        ),
        (
            with(json!({"src": "::1"})),
            "could not resolve src, errno = Address family for hostname not supported".to_owned(),
        ),
        (
            with(json!({"udp": true, "srcport": "notaport", "dstport": "1"})),
            "could not resolve src, errno = Servname not supported for ai_socktype".to_owned(),
        ),
        (
            with(json!({"udp": true, "src": "192.0.2.77", "srcport": "0", "dstport": "1"})),
            "could not bind socket err=99".to_owned(),
        ),
        (
            with(json!({"udp": true, "srcport": "0", "dstport": "1", "dst": "1.2.3.4.5"})),
            "could not resolve dst, error = Name or service not known".to_owned(),
        ),
    ];
    r.refusals("l2tpv3", "l", cases);
    let busy = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    assert_eq!(
        r.err(
            "netdev_add",
            with(json!({"type": "l2tpv3", "id": "l", "udp": true,
                        "srcport": port.to_string(), "dstport": "1"})),
        ),
        "could not bind socket err=98"
    );
}
