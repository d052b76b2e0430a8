//! What the driver tests share: a stack on its own I/O thread with its
//! events recorded, QMP-style commands on it, free ports, framed I/O.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use net_backends::control::NetStack;
use net_backends::io::{IoLoop, LoopHandle};
use net_backends::qapi::commands;
use net_backends::qapi::events::Event;
use qapi_runtime::event::Emitter;
use qapi_runtime::{Error, Input, Output, Value};

/// A stack running on an I/O thread, its events in a vector.
pub struct Running {
    pub stack: Arc<Mutex<NetStack>>,
    pub events: Arc<Mutex<Vec<Event>>>,
    pub handle: Option<LoopHandle>,
}

impl Running {
    pub fn new() -> Running {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let mut s = NetStack::new();
        s.set_emitter(Emitter::new(move |e: &Event, _| {
            sink.lock().unwrap().push(e.clone())
        }));
        let stack = Arc::new(Mutex::new(s));
        let handle = IoLoop::spawn(stack.clone()).expect("I/O loop");
        Running {
            stack,
            events,
            handle: Some(handle),
        }
    }

    /// Runs a QMP command with JSON arguments.
    pub fn run(&self, name: &str, args: Value) -> Result<Value, Error> {
        let mut s = self.stack.lock().unwrap();
        commands::dispatch(&mut *s, name, Some(args), &mut Input::new(), &Output::new())
            .expect("a known command")
    }

    pub fn ok(&self, name: &str, args: Value) -> Value {
        match self.run(name, args.clone()) {
            Ok(v) => v,
            Err(e) => panic!("{name} {args}: {} ({:?})", e.desc, e.class),
        }
    }

    pub fn err(&self, name: &str, args: Value) -> String {
        match self.run(name, args.clone()) {
            Ok(v) => panic!("{name} {args} succeeded: {v}"),
            Err(e) => e.desc,
        }
    }

    /// `netdev_add` of a `ty` netdev `id` with `options`, and of a
    /// hubport `{id}-p` joining it to hub `hub`.
    pub fn add_on_hub(&self, ty: &str, id: &str, mut options: Value, hub: i32) {
        options["type"] = ty.into();
        options["id"] = id.into();
        self.ok("netdev_add", options);
        self.hubport(id, hub);
    }

    /// `netdev_add` of a hubport `{id}-p` on hub `hub`, peer of `id`.
    pub fn hubport(&self, id: &str, hub: i32) {
        self.ok(
            "netdev_add",
            serde_json::json!({"type": "hubport", "id": format!("{id}-p"), "hubid": hub, "netdev": id}),
        );
    }

    /// Each `options` for a `ty` netdev `id` is refused with its text, and
    /// nothing is left behind: the id is still free.
    pub fn refusals(&self, ty: &str, id: &str, cases: Vec<(Value, impl AsRef<str>)>) {
        for (mut args, want) in cases {
            args["type"] = ty.into();
            args["id"] = id.into();
            assert_eq!(
                self.err("netdev_add", args.clone()),
                want.as_ref(),
                "{args}"
            );
        }
        assert!(self.with(|s| s.network().lookup(id)).is_none());
    }

    /// Event names seen so far.
    pub fn event_names(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| qapi_runtime::Event::name(e).to_owned())
            .collect()
    }

    /// Waits until `n` events named `name` have been seen.
    pub fn wait_events(&self, name: &str, n: usize) {
        wait_until(&format!("{n} x {name}"), || {
            self.event_names().iter().filter(|e| *e == name).count() >= n
        });
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut NetStack) -> R) -> R {
        f(&mut self.stack.lock().unwrap())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.stop();
        }
    }
}

/// Polls `cond` for up to 10 s.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub use qapi_tests::ports::free_port;

/// Connects to 127.0.0.1:port, retrying while the listener comes up.
pub fn connect(port: u16) -> TcpStream {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                return s;
            }
            Err(e) if Instant::now() < end => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("connect to {port}: {e}"),
        }
    }
}

/// Writes one length-prefixed frame.
pub fn write_frame(w: &mut impl Write, frame: &[u8]) {
    let mut buf = (frame.len() as u32).to_be_bytes().to_vec();
    buf.extend_from_slice(frame);
    w.write_all(&buf).unwrap();
}

/// Reads one length-prefixed frame.
pub fn read_frame(r: &mut impl Read) -> Vec<u8> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).unwrap();
    let mut f = vec![0u8; u32::from_be_bytes(len) as usize];
    r.read_exact(&mut f).unwrap();
    f
}

/// A frame of `len` bytes whose content says `seq` and `len` (so a
/// mixed-up or cut frame cannot pass for another).
pub fn frame(len: usize, seq: u32) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i as u32 * 31 + seq * 7) as u8).collect();
    if len >= 14 {
        f[..6].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        f[6..12].copy_from_slice(&[0x52, 0x54, 0, 0xab, 0xcd, (seq & 0xff) as u8]);
        f[12..14].copy_from_slice(&[0x88, 0xb5]);
    }
    if len >= 18 {
        f[14..18].copy_from_slice(&seq.to_be_bytes());
    }
    f
}

/// The number of open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A UDP socket of the test on `host`, port chosen by the kernel, with a
/// 10 s read timeout; and its port.
pub fn udp_peer(host: &str) -> (UdpSocket, u16) {
    let s = UdpSocket::bind((host, 0)).unwrap();
    grow_rcvbuf(&s);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let port = s.local_addr().unwrap().port();
    (s, port)
}

/// The frame sizes every driver test sends: the smallest, a full
/// Ethernet frame, a jumbo frame, and nearly the largest QEMU carries.
pub const SIZES: [usize; 4] = [60, 1514, 9000, 65_000];

/// Two UDP netdevs on one hub, seen from their remote ends: every size
/// crosses both ways byte for byte, and what `tb` gets comes from the
/// netdev's own port `pb`.
pub fn udp_sizes_cross(ta: &UdpSocket, pa: u16, tb: &UdpSocket, pb: u16) {
    for (seq, len) in SIZES.into_iter().enumerate() {
        let f = frame(len, seq as u32);
        ta.send_to(&f, ("127.0.0.1", pa)).unwrap();
        let mut buf = vec![0u8; 70_000];
        let (n, from) = tb.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], f.as_slice(), "a -> b, {len} bytes");
        assert_eq!(from.port(), pb, "sent from b's local port");

        let f = frame(len, 100 + seq as u32);
        tb.send_to(&f, ("127.0.0.1", pb)).unwrap();
        assert_eq!(recv_datagram(ta), f, "b -> a, {len} bytes");
    }
}

/// The next datagram on `s`, whole.
pub fn recv_datagram(s: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 70_000];
    let n = s.recv(&mut buf).expect("a datagram");
    buf.truncate(n);
    buf
}

/// Gives a test socket an 8 MiB receive buffer (`SO_RCVBUFFORCE` as
/// root, else as much as `SO_RCVBUF` allows), so a test that reads a
/// burst after sending it does not lose datagrams to its own buffer when
/// the machine is busy.
pub fn grow_rcvbuf(s: &impl std::os::fd::AsRawFd) {
    let size: libc::c_int = 8 << 20;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: sets an int option from a live int.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return;
        }
    }
}

/// Two stream servers `s1` and `s2` on free ports, joined by hub 0
/// through hubports `h1` and `h2`; returns their ports.
pub fn stream_pair_on_hub(r: &Running) -> (u16, u16) {
    let (p1, p2) = (free_port(), free_port());
    for (n, port) in [(1, p1), (2, p2)] {
        r.ok(
            "netdev_add",
            serde_json::json!({"type": "stream", "id": format!("s{n}"), "server": true,
                   "addr": {"type": "inet", "host": "127.0.0.1", "port": port.to_string()}}),
        );
        r.ok(
            "netdev_add",
            serde_json::json!({"type": "hubport", "id": format!("h{n}"), "hubid": 0,
                               "netdev": format!("s{n}")}),
        );
    }
    (p1, p2)
}
