//! `-netdev stream`: frames over a TCP or unix stream (or an inherited
//! one), each behind a 4-byte length ([`framing`](super::framing)).
//!
//! As in QEMU (`net/stream.c`):
//! * a server listens and serves one client at a time; others wait in the
//!   listen backlog until the current one leaves;
//! * the link is down while there is no connection, so frames to it are
//!   dropped (and counted) by the core;
//! * `NETDEV_STREAM_CONNECTED` carries the peer's address (a unix server
//!   gives its own path), `NETDEV_STREAM_DISCONNECTED` follows a hang-up;
//! * a length prefix over 69,632 drops the connection;
//! * a client with `reconnect=N` tries again N seconds after a failure
//!   or a hang-up.
//!
//! A client connects in the background, as QEMU's does: `netdev_add`
//! succeeds even when nobody listens, and the failure shows in
//! [`Driver::info`] ("error: Failed to connect to '127.0.0.1:5000':
//! Connection refused"). Vsock addresses are refused.
//!
//! The legacy `socket` driver's `listen=`, `connect=` and `fd=` modes are
//! this driver without events ([`Stream::quiet`]).

use std::time::{Duration, Instant};

use qapi_runtime::qmp::NamedFds;
use qapi_runtime::Error;
use socket2::{SockAddr, Socket, Type};

use super::addr::{self, errno_text, Target};
use super::framing::{Deframer, Framer, ReadOutcome};
use super::{Cx, Driver, Registration};
use crate::core::{ClientId, Delivery, Receiver, SendOutcome};
use crate::io::{Interest, Ready};
use crate::qapi::events::{Event, NetdevStreamConnected, NetdevStreamDisconnected};
use crate::qapi::SocketAddress;

const LISTEN: u8 = 0;
const CONN: u8 = 1;

/// Reads per readiness call: bounds a turn (4 x 256 KiB) so other
/// descriptors get their share.
const READS_PER_TURN: usize = 4;

enum Role {
    Server {
        listener: Socket,
        unix: bool,
    },
    Client {
        target: Target,
        describe: String,
        reconnect: Option<Duration>,
    },
}

/// A stream netdev: server or client.
pub struct Stream {
    id: String,
    events: bool,
    role: Role,
    conn: Option<Socket>,
    connecting: bool,
    deframer: Deframer,
    framer: Framer,
    reg: Option<Registration>,
    input_paused: bool,
    write_wait: bool,
    retry_at: Option<Instant>,
    info: String,
    /// Connections dropped for a length over the largest frame.
    oversized: u64,
    /// A client's inherited socket (`addr.type=fd`), until it connects.
    inherited: Option<Socket>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("id", &self.id)
            .field("info", &self.info)
            .field("connected", &(self.conn.is_some() && !self.connecting))
            .finish_non_exhaustive()
    }
}

impl Stream {
    fn new(id: &str, role: Role) -> Stream {
        Stream {
            id: id.to_owned(),
            events: true,
            role,
            conn: None,
            connecting: false,
            deframer: Deframer::new(),
            framer: Framer::new(),
            reg: None,
            input_paused: false,
            write_wait: false,
            retry_at: None,
            info: "initializing".into(),
            oversized: 0,
            inherited: None,
        }
    }

    /// A server on `addr` (`server=on`): binds and listens now, so a busy
    /// port is `netdev_add`'s error.
    pub fn server(
        id: &str,
        addr: &SocketAddress,
        named: Option<&NamedFds>,
    ) -> Result<Stream, Error> {
        let target = addr::resolve(addr, true, "stream")?;
        let (listener, unix) = match target {
            Target::Fd(param) => {
                let s = addr::inherited_socket(addr::inherited_fd(&param, named)?, Type::STREAM)?;
                let unix = s.local_addr().is_ok_and(|a| a.is_unix());
                (s, unix)
            }
            Target::Addrs(addrs) => {
                let port_to = match &addr.r#type {
                    crate::qapi::SocketAddressBranch::Inet(i) => i.to,
                    _ => None,
                };
                listen(&addrs, port_to, addr)?
            }
        };
        Ok(Stream::new(id, Role::Server { listener, unix }))
    }

    /// A server on a socket already listening (the legacy `socket`
    /// driver's `listen=`).
    pub(crate) fn listening(id: &str, listener: Socket) -> Stream {
        let unix = listener.local_addr().is_ok_and(|a| a.is_unix());
        Stream::new(id, Role::Server { listener, unix })
    }

    /// A client of `addr` (`server=off`), retrying every `reconnect`
    /// seconds when not 0. An inherited descriptor (`addr.type=fd`) is
    /// taken and checked now, so a wrong one is `netdev_add`'s error and a
    /// name `getfd` kept is never left behind.
    pub fn client(
        id: &str,
        addr: &SocketAddress,
        reconnect: u32,
        named: Option<&NamedFds>,
    ) -> Result<Stream, Error> {
        let target = addr::resolve(addr, false, "stream")?;
        let inherited = match &target {
            Target::Fd(param) => Some(addr::inherited_socket(
                addr::inherited_fd(param, named)?,
                Type::STREAM,
            )?),
            Target::Addrs(_) => None,
        };
        let reconnect = (reconnect > 0).then(|| Duration::from_secs(u64::from(reconnect)));
        let mut stream = Stream::new(
            id,
            Role::Client {
                target,
                describe: connect_target(addr),
                reconnect,
            },
        );
        stream.inherited = inherited;
        Ok(stream)
    }

    /// A client on a connected socket already checked (the legacy
    /// `socket` driver's `fd=` of a stream socket).
    pub(crate) fn connected(id: &str, sock: Socket) -> Stream {
        let fd = addr::raw(&sock).to_string();
        let mut stream = Stream::new(
            id,
            Role::Client {
                describe: fd.clone(),
                target: Target::Fd(fd),
                reconnect: None,
            },
        );
        stream.inherited = Some(sock);
        stream
    }

    /// Without QMP events: QEMU's legacy `socket` driver sends none.
    pub fn quiet(mut self) -> Stream {
        self.events = false;
        self
    }

    fn interest(&self) -> Interest {
        Interest {
            read: !self.input_paused && !self.connecting,
            write: self.write_wait || self.connecting,
        }
    }

    fn update_interest(&self) {
        if let (Some(reg), Some(c)) = (&self.reg, &self.conn) {
            let _ = reg.modify(addr::raw(c), CONN, self.interest());
        }
    }

    fn listener_interest(&self, on: bool) {
        if let (Some(reg), Role::Server { listener, .. }) = (&self.reg, &self.role) {
            let i = if on { Interest::READ } else { Interest::NONE };
            let _ = reg.modify(addr::raw(listener), LISTEN, i);
        }
    }

    /// Starts a client connection; `Err` when every address failed at
    /// once.
    fn connect(&mut self, cx: &mut Cx<'_>) -> Result<(), Error> {
        let Role::Client {
            target, describe, ..
        } = &self.role
        else {
            return Ok(());
        };
        self.info = "connecting".into();
        let (sock, in_progress) = match target {
            Target::Fd(param) => match self.inherited.take() {
                Some(sock) => (sock, false),
                // The connection on it ended: there is nothing to
                // connect again.
                None => {
                    return Err(Error::generic(format!(
                        "fd={param}: the descriptor was closed with its connection"
                    )))
                }
            },
            Target::Addrs(addrs) => {
                let mut last = None;
                let mut found = None;
                for a in addrs {
                    let s = match addr::socket_for(a, Type::STREAM) {
                        Ok(s) => s,
                        Err(e) => {
                            last = Some(e);
                            continue;
                        }
                    };
                    match s.connect(a) {
                        Ok(()) => {
                            found = Some((s, false));
                            break;
                        }
                        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                            found = Some((s, true));
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                match found {
                    Some(f) => f,
                    None => {
                        let e = last.unwrap_or_else(|| std::io::ErrorKind::NotFound.into());
                        return Err(errno_text(
                            &format!("Failed to connect to '{describe}'"),
                            &e,
                        ));
                    }
                }
            }
        };
        self.connecting = in_progress;
        if let Some(reg) = &self.reg {
            let interest = if in_progress {
                Interest::WRITE
            } else {
                Interest::READ
            };
            if let Err(e) = reg.add(addr::raw(&sock), CONN, interest) {
                return Err(errno_text("cannot watch the connection", &e));
            }
        }
        self.conn = Some(sock);
        if !in_progress {
            self.established(cx);
        }
        Ok(())
    }

    fn established(&mut self, cx: &mut Cx<'_>) {
        self.connecting = false;
        self.input_paused = false;
        self.write_wait = false;
        self.deframer.reset();
        self.framer.clear();
        self.update_interest();
        let Some(conn) = &self.conn else { return };
        let addr = match &self.role {
            Role::Server { unix: true, .. } => conn.local_addr(),
            _ => conn.peer_addr(),
        };
        let qaddr = addr.map(|a| addr::to_qapi(&a)).ok();
        if let Some(a) = &qaddr {
            self.info = addr::uri(a);
        }
        cx.set_link(true);
        cx.flush_queue();
        if self.events {
            if let Some(addr) = qaddr {
                cx.emit(Event::from(NetdevStreamConnected {
                    netdev_id: self.id.clone(),
                    addr,
                }));
            }
        }
    }

    /// The connection is gone (hang-up, error, bad length): back to
    /// listening, or to waiting for the next attempt.
    fn disconnect(&mut self, cx: &mut Cx<'_>, was_connected: bool) {
        if let (Some(reg), Some(c)) = (&self.reg, &self.conn) {
            reg.remove(addr::raw(c));
        }
        self.conn = None;
        self.connecting = false;
        self.input_paused = false;
        self.write_wait = false;
        self.deframer.reset();
        self.framer.clear();
        cx.set_link(false);
        // Frames already waiting for us now meet a link that is down.
        cx.flush_queue();
        if was_connected && self.events {
            cx.emit(Event::from(NetdevStreamDisconnected {
                netdev_id: self.id.clone(),
            }));
        }
        match &self.role {
            Role::Server { .. } => {
                self.info = "listening".into();
                self.listener_interest(true);
            }
            Role::Client { reconnect, .. } => {
                self.info = "connecting".into();
                self.retry_at = reconnect.map(|d| cx.now() + d);
            }
        }
    }

    /// A connection attempt failed: say so in `info`, and retry when
    /// `reconnect` asks to.
    fn connect_failed(&mut self, text: &str, cx: &mut Cx<'_>) {
        if let Role::Client { reconnect, .. } = &self.role {
            self.info = match reconnect {
                Some(_) => "connecting".to_owned(),
                None => format!("error: {text}"),
            };
            self.retry_at = reconnect.map(|d| cx.now() + d);
        }
    }

    fn accept(&mut self, cx: &mut Cx<'_>) {
        if self.conn.is_some() {
            self.listener_interest(false);
            return;
        }
        let Role::Server { listener, .. } = &self.role else {
            return;
        };
        let sock = match listener.accept() {
            Ok((s, _)) => s,
            Err(_) => return,
        };
        if sock.set_nonblocking(true).is_err() {
            return;
        }
        let _ = sock.set_cloexec(true);
        if let Some(reg) = &self.reg {
            if reg.add(addr::raw(&sock), CONN, Interest::READ).is_err() {
                return;
            }
        }
        self.conn = Some(sock);
        self.listener_interest(false);
        self.established(cx);
    }

    fn read(&mut self, cx: &mut Cx<'_>) {
        let mut cur = self.deframer.begin(cx.frames());
        for _ in 0..READS_PER_TURN {
            let Some(conn) = &self.conn else { break };
            let outcome = self.deframer.read_from(conn, cx.frames());
            // Frames completed before a hang-up still go out.
            if self.deframer.frames(cx.frames(), &mut cur).is_err() {
                // The bytes after the last whole frame are not frames;
                // the loop clears the batch's raw bytes after sending.
                self.oversized += 1;
                self.disconnect(cx, true);
                return;
            }
            match outcome {
                Ok(ReadOutcome::Data) => {}
                Ok(ReadOutcome::WouldBlock) => break,
                Ok(ReadOutcome::Closed) | Err(_) => {
                    self.deframer.end(cx.frames(), cur);
                    self.disconnect(cx, true);
                    return;
                }
            }
        }
        self.deframer.end(cx.frames(), cur);
    }

    fn write(&mut self, cx: &mut Cx<'_>) {
        if self.connecting || self.framer.pending() == 0 {
            return;
        }
        let Some(conn) = &self.conn else { return };
        // A full framer refuses frames two ways: `receive` answers busy,
        // or `can_receive` says no and the frames wait in the hub's queue
        // without ever reaching `receive`. Either way, once there is room
        // the waiting frames must be flushed, or the sender they hold
        // back never resumes.
        let was_full = self.framer.full();
        match self.framer.write_to(conn) {
            Ok(done) => {
                if done == self.write_wait {
                    self.write_wait = !done;
                    self.update_interest();
                }
                if was_full && !self.framer.full() {
                    cx.flush_queue();
                }
            }
            Err(_) => self.disconnect(cx, true),
        }
    }
}

/// Binds and listens on the first address that works; with `to`, tries
/// every port up to it (QEMU's `inet_listen_saddr`).
fn listen(
    addrs: &[SockAddr],
    port_to: Option<u16>,
    qaddr: &SocketAddress,
) -> Result<(Socket, bool), Error> {
    let mut last: Option<std::io::Error> = None;
    for a in addrs {
        let mut candidates = vec![a.clone()];
        if let (Some(to), Some(sa)) = (port_to, a.as_socket()) {
            candidates = (sa.port()..=to.max(sa.port()))
                .map(|p| SockAddr::from(std::net::SocketAddr::new(sa.ip(), p)))
                .collect();
        }
        for c in candidates {
            let s = match addr::socket_for(&c, Type::STREAM) {
                Ok(s) => s,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            if c.is_unix() {
                remove_stale_socket(&c);
            } else {
                let _ = s.set_reuse_address(true);
            }
            if let Err(e) = s.bind(&c).and_then(|()| s.listen(16)) {
                last = Some(e);
                continue;
            }
            return Ok((s, c.is_unix()));
        }
    }
    let e = last.unwrap_or_else(|| std::io::ErrorKind::AddrNotAvailable.into());
    let what = match &qaddr.r#type {
        crate::qapi::SocketAddressBranch::Unix(u) => format!("Failed to bind socket to {}", u.path),
        _ => "Failed to bind socket".to_owned(),
    };
    Err(errno_text(&what, &e))
}

/// QEMU unlinks a unix path before binding; we do only when it is a
/// socket, so a typo cannot delete a file.
fn remove_stale_socket(a: &SockAddr) {
    use std::os::unix::fs::FileTypeExt;
    if let Some(p) = a.as_pathname() {
        if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn connect_target(addr: &SocketAddress) -> String {
    match &addr.r#type {
        crate::qapi::SocketAddressBranch::Inet(i) => format!("{}:{}", i.host, i.port),
        crate::qapi::SocketAddressBranch::Unix(u) => u.path.clone(),
        crate::qapi::SocketAddressBranch::Fd(f) => f.str.clone(),
        crate::qapi::SocketAddressBranch::Vsock(v) => format!("{}:{}", v.cid, v.port),
    }
}

impl Receiver for Stream {
    fn receive(&mut self, _sender: ClientId, frame: &[u8]) -> Delivery {
        if self.conn.is_none() || self.connecting {
            // The core drops frames to a link that is down; this is the
            // moment between a hang-up and the link going down.
            return Delivery::Accepted;
        }
        if self.framer.full() {
            if !self.write_wait {
                self.write_wait = true;
                self.update_interest();
            }
            return Delivery::Busy;
        }
        if self.framer.pending() == 0 {
            if let Some(reg) = &self.reg {
                reg.output_pending();
            }
        }
        self.framer.push(frame);
        Delivery::Accepted
    }

    fn can_receive(&self) -> bool {
        !self.framer.full()
    }

    fn send_completed(&mut self, _outcome: SendOutcome) {
        if self.input_paused {
            self.input_paused = false;
            self.update_interest();
        }
    }

    fn driver(&mut self) -> Option<&mut dyn Driver> {
        Some(self)
    }
}

impl Driver for Stream {
    fn attach(&mut self, reg: Registration, cx: &mut Cx<'_>) -> Result<(), Error> {
        cx.set_link(false);
        if let Role::Server { listener, .. } = &self.role {
            reg.add(addr::raw(listener), LISTEN, Interest::READ)
                .map_err(|e| errno_text("cannot watch the listening socket", &e))?;
            self.info = "listening".into();
            self.reg = Some(reg);
            return Ok(());
        }
        self.reg = Some(reg);
        if let Err(e) = self.connect(cx) {
            self.connect_failed(&e.desc, cx);
        }
        Ok(())
    }

    fn ready(&mut self, sub: u8, ready: Ready, cx: &mut Cx<'_>) {
        match sub {
            LISTEN => self.accept(cx),
            CONN if self.connecting => {
                let error = match &self.conn {
                    Some(c) => match c.take_error() {
                        Ok(None) if ready.error => {
                            Some(std::io::Error::from_raw_os_error(libc::ECONNREFUSED))
                        }
                        Ok(e) => e,
                        Err(e) => Some(e),
                    },
                    None => Some(std::io::Error::from_raw_os_error(libc::ENOTCONN)),
                };
                if let Some(e) = error {
                    self.disconnect(cx, false);
                    if let Role::Client { describe, .. } = &self.role {
                        let text = errno_text(&format!("Failed to connect to '{describe}'"), &e);
                        self.connect_failed(&text.desc, cx);
                    }
                } else {
                    self.established(cx);
                }
            }
            CONN => {
                if ready.write {
                    self.write(cx);
                }
                if ready.read && !self.input_paused {
                    self.read(cx);
                } else if ready.error {
                    self.disconnect(cx, true);
                }
            }
            _ => {}
        }
    }

    fn flush_output(&mut self, cx: &mut Cx<'_>) {
        if !self.write_wait {
            self.write(cx);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.retry_at
    }

    fn timer(&mut self, cx: &mut Cx<'_>) {
        self.retry_at = None;
        if self.conn.is_some() {
            return;
        }
        if let Err(e) = self.connect(cx) {
            self.connect_failed(&e.desc, cx);
        }
    }

    fn input_blocked(&mut self) {
        if !self.input_paused {
            self.input_paused = true;
            self.update_interest();
        }
    }

    fn info(&self) -> String {
        match self.oversized {
            0 => self.info.clone(),
            n => format!("{} (dropped for oversized frames: {n})", self.info),
        }
    }
}
