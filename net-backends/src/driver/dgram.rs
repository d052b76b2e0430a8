//! `-netdev dgram`: one frame per datagram, over UDP, a unix datagram
//! socket, or an inherited descriptor; UDP multicast when the remote
//! address is a multicast group.
//!
//! QEMU 9.0's semantics (`net/dgram.c`), which this driver keeps:
//!
//! * the combinations of `local` and `remote` are QEMU's table, with its
//!   texts: no `local` is "dgram requires local= parameter" (unless the
//!   remote is a multicast group); `remote` with a `local.type=fd` is
//!   "don't set remote with local.fd"; different types are "remote and
//!   local types must be the same"; inet or unix without `remote` is
//!   "type=inet or type=unix requires remote parameter"; anything else
//!   (vsock) is "only support inet or fd type for local";
//! * inet addresses are IPv4, parsed as QEMU's `convert_host_port` does:
//!   a host starting with a digit is an `inet_aton` address (`127.1`,
//!   `0x7f.0.0.1`), any other host a name looked up for IPv4, an empty
//!   host `0.0.0.0`; a port is a C number (decimal, `0x` hex, `0` octal);
//! * a unicast inet netdev binds `local` (with `SO_REUSEADDR`) and sends
//!   every frame to `remote`; it takes datagrams from anyone;
//! * a multicast netdev binds the group's address and port (with
//!   `SO_REUSEADDR`, so several netdevs and programs share it), joins the
//!   group, loops its own datagrams back (`IP_MULTICAST_LOOP`, as QEMU, so
//!   it also reads what it sent) and sends to the group; an inet `local`
//!   gives the interface (its host only) to join on and send from;
//! * a unix netdev binds `local.path` and sends to `remote.path`;
//! * `local.type=fd` uses the inherited socket as it is, sending with
//!   `send()` (so it must be connected, or a socketpair);
//! * `info` reads as QEMU's: `udp=L:P/R:P`, `udp=LPATH:RPATH`,
//!   `fd=N unix`, `mcast=G:P`.
//!
//! Deliberate differences, all refusals or robustness:
//!
//! * a port that is not a whole number from 0 to 65535 is refused ("port
//!   number 'x' is invalid"; QEMU ignores trailing junk and wraps);
//! * `ipv6=on` or `ipv4=off` on an inet address is refused (QEMU's dgram
//!   is IPv4 only and would ignore them); `numeric`, `to` and
//!   `keep-alive` are ignored, as in QEMU;
//! * unix addresses with `abstract=on` are refused (QEMU ignores the flag
//!   and binds a path); a stale *socket* at `local.path` is removed before
//!   binding, but never another kind of file (QEMU unlinks whatever is
//!   there);
//! * a multicast remote with `local.type=fd` is refused (QEMU reads the
//!   descriptor's union as an inet address there and fails);
//! * an inherited descriptor must be a datagram socket;
//! * an empty datagram is dropped (QEMU stops reading the socket for good,
//!   taking it for the end of a connection); a datagram longer than the
//!   largest frame (69,632 bytes) is dropped, never cut; a socket that
//!   hangs up for good (an inherited one shut down) is no longer watched,
//!   and `info` says "hung up";
//! * frames to send are queued and written in batches at the end of the
//!   loop's turn, so a send error (no one at a unix path, say) is
//!   counted by the driver instead of being the frame's delivery result.
//!
//! How it goes fast (QEMU reads and sends one datagram per main-loop
//! iteration): datagrams are read 64 at a time (`recvmmsg`) into fixed
//! buffers and copied into the turn's batch (a [`FrameBatch`] slot would
//! be zeroed to the largest frame, 69,632 bytes, for every datagram,
//! which costs more than copying a 64-byte one); frames to send are packed
//! into a fixed queue and written 64 messages at a time (`sendmmsg`),
//! where a run of UDP datagrams of one length goes as one UDP GSO message
//! that the kernel cuts back into the same datagrams (falling back to one
//! by one for lengths a route cannot segment, such as past its MTU);
//! sockets ask for a 4 MiB receive buffer (`SO_RCVBUF`, capped by the
//! kernel) so a busy moment queues instead of dropping. Nothing is
//! allocated per frame. What goes on the wire is the same as QEMU's.
//!
//! `info` adds what the driver dropped, when it dropped anything:
//! `udp=...  (dropped: 2 oversized)`.
//!
//! The engine (`Datagram`) is shared with `socket`'s `udp=`/`mcast=`/
//! datagram `fd=` modes and with `l2tpv3`, which puts its header in front
//! of each frame (`Encap`).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use qapi_runtime::qmp::NamedFds;
use qapi_runtime::Error;
use socket2::{Domain, SockAddr, Socket, Type};

use super::addr::{self, errno_text};
#[cfg(doc)]
use super::FrameBatch;
use super::{Cx, Driver, Registration};
use crate::core::{ClientId, Delivery, Receiver, SendOutcome, NET_BUFSIZE};
use crate::io::{Interest, Ready};
use crate::qapi::{InetSocketAddress, NetdevDgramOptions, SocketAddressBranch, UnixSocketAddress};

/// Datagrams per `recvmmsg` / `sendmmsg` call.
const BATCH: usize = 64;
/// `recvmmsg` calls per readiness: bounds a turn so other descriptors get
/// their share.
const RX_CALLS_PER_TURN: usize = 4;
/// Bytes read per readiness, at most (roughly: checked between calls).
const RX_TURN_BYTES: usize = 1 << 20;
/// Room for frames waiting to be sent; always holds the largest datagram.
const TX_BYTES: usize = 256 * 1024;
/// Receive buffer asked for each socket (`SO_RCVBUF`).
const RCVBUF: usize = 4 << 20;
/// Largest header an encapsulation may put before a frame.
pub(crate) const MAX_HEADER: usize = 512;
/// Datagrams one UDP GSO message may carry (the kernel's
/// `UDP_MAX_SEGMENTS` is 64 on older kernels).
const GSO_SEGMENTS: usize = 64;
/// Bytes one UDP GSO message may carry (an IPv4 datagram's payload).
const GSO_BYTES: usize = 65_507;
/// `UDP_SEGMENT`: the segment length of a GSO send (Linux 4.18).
const UDP_SEGMENT: libc::c_int = 103;
/// Retry delay when a socket says "try again" but also says it is
/// writable (a unix peer whose queue is full does that).
const TX_RETRY: Duration = Duration::from_millis(1);
/// Pause after a batch of nothing but empty datagrams (a socket shut down
/// for reading returns them forever).
const RX_BACKOFF: Duration = Duration::from_millis(10);
/// Readiness with nothing to read, in a row, before pausing reads.
const IDLE_WAKEUPS: u32 = 8;
/// `sun_path`'s size: a path must leave room for its NUL.
const SUN_PATH_LEN: usize = 108;

/// What a datagram carries besides the frame: `dgram` and `socket` send
/// bare frames, `l2tpv3` a header.
pub(crate) trait Encap: Send + 'static {
    /// Bytes put before each frame sent.
    fn header_len(&self) -> usize {
        0
    }

    /// Writes the header of the next frame sent (`header_len` bytes).
    fn write_header(&mut self, _out: &mut [u8]) {}

    /// Bytes a received datagram may hold besides the largest frame
    /// (headers), so the receive buffers fit it.
    fn rx_overhead(&self) -> usize {
        0
    }

    /// Where the frame is in a received datagram (start, length), or
    /// `None` when the datagram is dropped (the encapsulation counts why).
    fn unwrap(&mut self, datagram: &[u8]) -> Option<(usize, usize)> {
        Some((0, datagram.len()))
    }

    /// What the encapsulation dropped, for `info` ("3 bad session").
    fn drops(&self, _out: &mut Vec<String>) {}
}

/// Bare frames: one frame per datagram.
#[derive(Debug, Default)]
pub(crate) struct Plain;

impl Encap for Plain {}

/// Counters of what the datagram engine dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Stats {
    /// Datagrams longer than the receive buffer (never cut).
    oversized: u64,
    /// Empty datagrams.
    empty: u64,
    /// Frames the kernel refused to send.
    send_errors: u64,
}

/// Why output waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxWait {
    /// It does not.
    No,
    /// Until the socket is writable.
    Writable,
    /// Until this time (the socket claimed to be writable but was not).
    Until(Instant),
}

/// Frames waiting to be sent, packed in one buffer that never grows past
/// [`TX_BYTES`]: no allocation per frame.
#[derive(Debug)]
struct TxQueue {
    buf: Vec<u8>,
    /// (start, length) of each datagram in `buf`.
    spans: Vec<(usize, usize)>,
    /// The first datagram not sent yet.
    head: usize,
}

impl TxQueue {
    fn new() -> TxQueue {
        TxQueue {
            buf: Vec::with_capacity(TX_BYTES),
            spans: Vec::with_capacity(BATCH),
            head: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.head == self.spans.len()
    }

    fn has_room(&self, len: usize) -> bool {
        self.spans.len() < BATCH && self.buf.len() + len <= TX_BYTES
    }

    fn push(&mut self, header: &[u8], frame: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(header);
        self.buf.extend_from_slice(frame);
        self.spans.push((start, header.len() + frame.len()));
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.spans.clear();
        self.head = 0;
    }
}

/// What a flush achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flushed {
    /// Everything queued went out (or was refused and counted).
    All,
    /// The socket would block.
    Blocked,
}

/// A datagram socket netdev: `dgram`, `socket`'s datagram modes, and
/// `l2tpv3` (with its [`Encap`]).
pub(crate) struct Datagram<E: Encap> {
    sock: Socket,
    /// Where frames go; `None` sends on a connected socket.
    dest: Option<SockAddr>,
    encap: E,
    info: String,
    reg: Option<Registration>,
    /// Receive buffers: [`BATCH`] slots of `slot` bytes. Allocated zeroed
    /// once, so the pages only become real as datagrams fill them.
    rx: Vec<u8>,
    slot: usize,
    tx: TxQueue,
    /// Longest datagram sent by UDP GSO (0: this socket does not do GSO).
    gso_max: usize,
    /// The peer's queue holds one of our frames: not reading.
    input_paused: bool,
    /// Not reading until then (only empty datagrams came, or readiness
    /// with nothing to read, again and again).
    rx_backoff: Option<Instant>,
    /// Readiness reports in a row that found nothing to read.
    idle_wakeups: u32,
    /// The socket hung up for good: no longer watched.
    dead: bool,
    tx_wait: TxWait,
    /// We answered [`Delivery::Busy`]: ask for our queue to be flushed
    /// once there is room.
    refused: bool,
    /// The interest last given to the poller.
    interest: Interest,
    stats: Stats,
}

impl<E: Encap> std::fmt::Debug for Datagram<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datagram")
            .field("info", &self.info)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<E: Encap> Datagram<E> {
    /// A netdev on `sock` (non-blocking already) sending to `dest` (or on
    /// the connected socket), framing with `encap`; `info` is its
    /// `info network` text.
    pub(crate) fn new(sock: Socket, dest: Option<SockAddr>, encap: E, info: String) -> Self {
        let slot = NET_BUFSIZE + encap.rx_overhead();
        // A deeper receive queue rides out the moments the loop is busy
        // elsewhere, instead of dropping (the kernel caps it at
        // rmem_max; failing is harmless).
        let _ = sock.set_recv_buffer_size(RCVBUF);
        let gso_max = if is_udp(&sock) { usize::MAX } else { 0 };
        Datagram {
            sock,
            dest,
            encap,
            info,
            reg: None,
            rx: vec![0u8; slot * BATCH],
            slot,
            tx: TxQueue::new(),
            gso_max,
            input_paused: false,
            rx_backoff: None,
            idle_wakeups: 0,
            dead: false,
            tx_wait: TxWait::No,
            refused: false,
            interest: Interest::READ,
            stats: Stats::default(),
        }
    }

    fn wanted_interest(&self) -> Interest {
        Interest {
            read: !self.input_paused && self.rx_backoff.is_none(),
            write: self.tx_wait == TxWait::Writable,
        }
    }

    fn update_interest(&mut self) {
        let want = self.wanted_interest();
        if want == self.interest || self.dead {
            return;
        }
        if let Some(reg) = &self.reg {
            if reg.modify(self.sock.as_raw_fd(), 0, want).is_ok() {
                self.interest = want;
            }
        }
    }

    /// Reads what is waiting, in batches, into the turn's frames.
    fn read(&mut self, cx: &mut Cx<'_>) {
        let fd = self.sock.as_raw_fd();
        let slot = self.slot;
        for call in 0..RX_CALLS_PER_TURN {
            // SAFETY: both are plain C structs for which all-zero is a
            // valid value (null pointers, zero lengths).
            let mut iovs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
            let base = self.rx.as_mut_ptr();
            for (i, (iov, msg)) in iovs.iter_mut().zip(msgs.iter_mut()).enumerate() {
                // SAFETY: slot i lies within `rx` (BATCH slots of `slot`).
                iov.iov_base = unsafe { base.add(i * slot) }.cast();
                iov.iov_len = slot;
                msg.msg_hdr.msg_iov = iov;
                msg.msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: every message points at its own iovec, each iovec at
            // its own slot of `rx`, all alive across the call.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // EAGAIN, or an error the call consumed (ICMP refusal on
                // a connected socket, say): done for now.
                if call == 0 && e.kind() == io::ErrorKind::WouldBlock {
                    self.idle_wakeups += 1;
                    if self.idle_wakeups >= IDLE_WAKEUPS {
                        // "Readable" with nothing to read, again and
                        // again: a unix socket shut down for reading says
                        // that forever. Pause instead of spinning.
                        self.idle_wakeups = 0;
                        self.rx_backoff = Some(cx.now() + RX_BACKOFF);
                        self.update_interest();
                    }
                }
                return;
            }
            self.idle_wakeups = 0;
            let n = n as usize;
            let mut empty = 0;
            for (i, msg) in msgs.iter().enumerate().take(n) {
                let len = msg.msg_len as usize;
                if msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 || len > slot {
                    self.stats.oversized += 1;
                    continue;
                }
                if len == 0 {
                    self.stats.empty += 1;
                    empty += 1;
                    continue;
                }
                let datagram = &self.rx[i * slot..i * slot + len];
                if let Some((start, flen)) = self.encap.unwrap(datagram) {
                    if let Some(frame) = datagram.get(start..start + flen) {
                        cx.frames().push(frame);
                    }
                }
            }
            if n == BATCH && empty == BATCH {
                // Nothing but empty datagrams: a socket shut down for
                // reading answers that forever. Pause instead of spinning.
                self.rx_backoff = Some(cx.now() + RX_BACKOFF);
                self.update_interest();
                return;
            }
            if n < BATCH || cx.frames().bytes() >= RX_TURN_BYTES {
                return;
            }
        }
    }

    /// Sends what is queued, in batches: one `sendmmsg` for up to
    /// [`BATCH`] messages, where a run of datagrams of one length is one
    /// UDP GSO message (the kernel cuts it back into those datagrams, at a
    /// fraction of the cost of sending each).
    fn flush_tx(&mut self) -> Flushed {
        let fd = self.sock.as_raw_fd();
        let (name, namelen) = match &self.dest {
            Some(a) => (a.as_ptr() as *mut libc::c_void, a.len()),
            None => (std::ptr::null_mut(), 0),
        };
        while !self.tx.is_empty() {
            // SAFETY: plain C structs (and bytes), all-zero valid.
            let mut iovs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
            let mut cmsgs = [[0u64; 3]; BATCH];
            // Datagrams each message carries, and its segment length when
            // it is a GSO one.
            let mut carried = [(0usize, 0usize); BATCH];
            let base = self.tx.buf.as_ptr();
            let spans = &self.tx.spans;
            let mut next = self.tx.head;
            let mut count = 0;
            while count < BATCH && next < spans.len() {
                let (start, len) = spans[next];
                let mut run = 1;
                if len <= self.gso_max && len > 0 {
                    while next + run < spans.len()
                        && run < GSO_SEGMENTS
                        && spans[next + run].1 == len
                        && (run + 1) * len <= GSO_BYTES
                    {
                        run += 1;
                    }
                }
                // SAFETY: spans are packed back to back within `buf`, so
                // a run is one stretch of it.
                iovs[count].iov_base = unsafe { base.add(start) } as *mut libc::c_void;
                iovs[count].iov_len = len * run;
                let m = &mut msgs[count].msg_hdr;
                m.msg_iov = &mut iovs[count];
                m.msg_iovlen = 1;
                m.msg_name = name;
                m.msg_namelen = namelen;
                if run > 1 {
                    let c = cmsgs[count].as_mut_ptr().cast::<libc::cmsghdr>();
                    // SAFETY: the buffer is 24 bytes, 8-aligned: room for
                    // a cmsghdr and its two data bytes (CMSG_SPACE(2)).
                    unsafe {
                        (*c).cmsg_len = libc::CMSG_LEN(2) as _;
                        (*c).cmsg_level = libc::SOL_UDP;
                        (*c).cmsg_type = UDP_SEGMENT;
                        libc::CMSG_DATA(c).cast::<u16>().write_unaligned(len as u16);
                        m.msg_controllen = libc::CMSG_SPACE(2) as _;
                    }
                    m.msg_control = cmsgs[count].as_mut_ptr().cast();
                }
                carried[count] = (run, if run > 1 { len } else { 0 });
                next += run;
                count += 1;
            }
            // SAFETY: the messages point at live iovecs over `buf`, at
            // live control buffers and at the destination address, which
            // the kernel only reads.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    count as libc::c_uint,
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if n > 0 {
                let sent: usize = carried[..(n as usize).min(count)]
                    .iter()
                    .map(|&(run, _)| run)
                    .sum();
                self.tx.head += sent;
                continue;
            }
            let e = io::Error::last_os_error();
            let (run, gso_len) = carried[0];
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Flushed::Blocked,
                Some(
                    libc::EINVAL
                    | libc::EIO
                    | libc::EMSGSIZE
                    | libc::ENOPROTOOPT
                    | libc::EOPNOTSUPP,
                ) if gso_len > 0 => {
                    // This socket (its route, its device, its kernel)
                    // cannot segment datagrams this long: send them one by
                    // one from now on, starting with these.
                    self.gso_max = gso_len - 1;
                }
                _ => {
                    // This datagram cannot go (no one at the unix path,
                    // too long, unreachable...): drop it, count it, and
                    // go on with the next.
                    self.stats.send_errors += run as u64;
                    self.tx.head += run;
                }
            }
        }
        self.tx.clear();
        Flushed::All
    }

    /// Flushes, then sets what output waits for; asks for our queue to
    /// be flushed when we refused frames and now have room (`true` then).
    fn flush(&mut self, woke_writable: bool, cx: &mut Cx<'_>) -> bool {
        match self.flush_tx() {
            Flushed::All => self.tx_wait = TxWait::No,
            Flushed::Blocked => {
                self.tx_wait = if woke_writable {
                    TxWait::Until(cx.now() + TX_RETRY)
                } else {
                    TxWait::Writable
                };
            }
        }
        self.update_interest();
        if self.refused && self.tx_wait == TxWait::No {
            self.refused = false;
            cx.flush_queue();
            return true;
        }
        false
    }

    fn hung_up(&mut self) {
        if let Some(reg) = &self.reg {
            reg.remove(self.sock.as_raw_fd());
        }
        self.dead = true;
    }

    /// The counters as `info` shows them ("" when nothing was dropped).
    fn drops_text(&self) -> String {
        let mut parts = Vec::new();
        if self.stats.oversized > 0 {
            parts.push(format!("{} oversized", self.stats.oversized));
        }
        if self.stats.empty > 0 {
            parts.push(format!("{} empty", self.stats.empty));
        }
        self.encap.drops(&mut parts);
        let mut out = String::new();
        if !parts.is_empty() {
            out = format!(" (dropped: {})", parts.join(", "));
        }
        if self.stats.send_errors > 0 {
            out.push_str(&format!(" (send errors: {})", self.stats.send_errors));
        }
        if self.dead {
            out.push_str(" (hung up)");
        }
        out
    }
}

impl<E: Encap> Receiver for Datagram<E> {
    fn receive(&mut self, _sender: ClientId, frame: &[u8]) -> Delivery {
        let hlen = self.encap.header_len();
        let need = hlen + frame.len();
        if need > TX_BYTES || hlen > MAX_HEADER {
            return Delivery::Failed;
        }
        if !self.tx.has_room(need) {
            if self.tx_wait == TxWait::No && self.flush_tx() == Flushed::Blocked {
                self.tx_wait = TxWait::Writable;
                self.update_interest();
            }
            if !self.tx.has_room(need) {
                self.refused = true;
                return Delivery::Busy;
            }
        }
        if self.tx.is_empty() {
            if let Some(reg) = &self.reg {
                reg.output_pending();
            }
        }
        let mut header = [0u8; MAX_HEADER];
        self.encap.write_header(&mut header[..hlen]);
        self.tx.push(&header[..hlen], frame);
        Delivery::Accepted
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

impl<E: Encap> Driver for Datagram<E> {
    fn attach(&mut self, reg: Registration, _cx: &mut Cx<'_>) -> Result<(), Error> {
        let interest = self.wanted_interest();
        reg.add(self.sock.as_raw_fd(), 0, interest)
            .map_err(|e| errno_text("cannot watch the socket", &e))?;
        self.interest = interest;
        self.reg = Some(reg);
        Ok(())
    }

    fn ready(&mut self, _sub: u8, ready: Ready, cx: &mut Cx<'_>) {
        if self.dead {
            return;
        }
        if ready.error && !matches!(self.sock.take_error(), Ok(Some(_))) {
            // An error (an ICMP refusal on a connected socket) was
            // consumed just now; without one the socket hung up for good
            // and would wake the loop forever, once what it holds is read.
            let mut probe = [0u8; 1];
            // SAFETY: peeks at most one byte into a live buffer.
            let r = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    probe.as_mut_ptr().cast(),
                    1,
                    libc::MSG_PEEK | libc::MSG_DONTWAIT,
                )
            };
            if r <= 0 {
                self.hung_up();
                return;
            }
        }
        if ready.write && self.tx_wait == TxWait::Writable {
            self.flush(true, cx);
        }
        if ready.read && !self.input_paused && self.rx_backoff.is_none() {
            self.read(cx);
        }
    }

    fn flush_output(&mut self, cx: &mut Cx<'_>) {
        if self.tx_wait != TxWait::No {
            return;
        }
        // Frames a queue flush brings are written in the loop's next
        // output pass (`NetStack::flush_output`).
        if !self.tx.is_empty() || self.refused {
            self.flush(false, cx);
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let tx = match self.tx_wait {
            TxWait::Until(t) => Some(t),
            _ => None,
        };
        [tx, self.rx_backoff].into_iter().flatten().min()
    }

    fn timer(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        if self.rx_backoff.is_some_and(|t| t <= now) {
            self.rx_backoff = None;
            self.update_interest();
        }
        if let TxWait::Until(t) = self.tx_wait {
            if t <= now {
                self.tx_wait = TxWait::No;
                self.flush(false, cx);
            }
        }
    }

    fn input_blocked(&mut self) {
        if !self.input_paused {
            self.input_paused = true;
            self.update_interest();
        }
    }

    fn info(&self) -> String {
        format!("{}{}", self.info, self.drops_text())
    }
}

/// Whether `sock` is a UDP socket (GSO is UDP's).
fn is_udp(sock: &Socket) -> bool {
    let inet = sock.local_addr().is_ok_and(|a| a.is_ipv4() || a.is_ipv6());
    inet && sock.r#type().is_ok_and(|t| t == Type::DGRAM)
}

// ---- QEMU's IPv4 address parsing (net/net.c) ---------------------------

/// C's `strtoul` with base 0 over a whole string: decimal, `0x` hex, or
/// `0` octal.
fn c_number(s: &str) -> Option<u64> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `inet_aton`: one to four dot-separated C numbers, the last filling
/// the bytes left (`127.1` is 127.0.0.1).
pub(crate) fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let nums: Vec<u64> = parts.iter().map(|p| c_number(p)).collect::<Option<_>>()?;
    let (last, lead) = nums.split_last()?;
    if lead.iter().any(|&n| n > 0xff) {
        return None;
    }
    let room = 8 * (4 - lead.len()) as u32;
    if *last >= 1u64 << room {
        return None;
    }
    let mut v: u32 = 0;
    for (i, &n) in lead.iter().enumerate() {
        v |= (n as u32) << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(v | *last as u32))
}

/// QEMU's `convert_host_port`: an IPv4 address and port, with its texts.
pub(crate) fn convert_host_port(host: &str, port: &str) -> Result<SocketAddrV4, Error> {
    let ip = if host.is_empty() {
        Ipv4Addr::UNSPECIFIED
    } else if host.starts_with(|c: char| c.is_ascii_digit()) {
        inet_aton(host).ok_or_else(|| {
            Error::generic(format!("host address '{host}' is not a valid IPv4 address"))
        })?
    } else {
        let found = (host, 0u16).to_socket_addrs().ok().and_then(|mut it| {
            it.find_map(|a| match a {
                SocketAddr::V4(v4) => Some(*v4.ip()),
                SocketAddr::V6(_) => None,
            })
        });
        found.ok_or_else(|| Error::generic(format!("can't resolve host address '{host}'")))?
    };
    let port_n = c_number(port.trim_start_matches('+'))
        .filter(|&p| p <= u64::from(u16::MAX))
        .ok_or_else(|| Error::generic(format!("port number '{port}' is invalid")))?;
    Ok(SocketAddrV4::new(ip, port_n as u16))
}

/// QEMU's `parse_host_port`: `host:port`.
pub(crate) fn parse_host_port(s: &str) -> Result<SocketAddrV4, Error> {
    let Some((host, port)) = s.split_once(':') else {
        return Err(Error::generic(format!(
            "host address '{s}' doesn't contain ':' separating host from port"
        )));
    };
    convert_host_port(host, port)
}

/// An inet `SocketAddress` as QEMU's dgram takes it: IPv4 only.
fn ipv4_of(a: &InetSocketAddress) -> Result<SocketAddrV4, Error> {
    let sa = convert_host_port(&a.host, &a.port)?;
    if a.ipv6 == Some(true) || a.ipv4 == Some(false) {
        return Err(Error::generic(format!(
            "netdev 'dgram' is IPv4 only: '{}' cannot be used with ipv6=on or ipv4=off",
            a.host
        )));
    }
    Ok(sa)
}

// ---- sockets ------------------------------------------------------------

fn dgram_socket(domain: Domain) -> Result<Socket, Error> {
    let s = Socket::new(domain, Type::DGRAM.cloexec(), None)
        .map_err(|e| errno_text("can't create datagram socket", &e))?;
    s.set_nonblocking(true)
        .map_err(|e| errno_text("can't create datagram socket", &e))?;
    Ok(s)
}

/// A UDP socket bound to `local` with `SO_REUSEADDR` (QEMU's unicast
/// `dgram` and `socket udp=`).
pub(crate) fn udp_socket(local: SocketAddrV4) -> Result<Socket, Error> {
    let s = dgram_socket(Domain::IPV4)?;
    s.set_reuse_address(true)
        .map_err(|e| errno_text("can't set socket option SO_REUSEADDR", &e))?;
    s.bind(&SockAddr::from(local))
        .map_err(|e| errno_text(&format!("can't bind ip={} to socket", local.ip()), &e))?;
    Ok(s)
}

/// A socket in multicast group `group` (QEMU's `net_dgram_mcast_create`):
/// bound to the group's address and port, joined on `local` (any
/// interface without), its own datagrams looped back.
pub(crate) fn mcast_socket(group: SocketAddrV4, local: Option<Ipv4Addr>) -> Result<Socket, Error> {
    let ip = *group.ip();
    if !ip.is_multicast() {
        return Err(Error::generic(format!(
            "specified mcastaddr {ip} (0x{:08x}) does not contain a multicast address",
            u32::from(ip)
        )));
    }
    let s = dgram_socket(Domain::IPV4)?;
    s.set_reuse_address(true)
        .map_err(|e| errno_text("can't set socket option SO_REUSEADDR", &e))?;
    s.bind(&SockAddr::from(group))
        .map_err(|e| errno_text(&format!("can't bind ip={ip} to socket"), &e))?;
    s.join_multicast_v4(&ip, &local.unwrap_or(Ipv4Addr::UNSPECIFIED))
        .map_err(|e| errno_text(&format!("can't add socket to multicast group {ip}"), &e))?;
    s.set_multicast_loop_v4(true)
        .map_err(|e| errno_text("can't force multicast message to loopback", &e))?;
    if let Some(l) = local {
        s.set_multicast_if_v4(&l)
            .map_err(|e| errno_text("can't set the default network send interface", &e))?;
    }
    Ok(s)
}

/// `fd=N inet` / `fd=N unix`, as QEMU's info names an inherited socket.
pub(crate) fn fd_info(sock: &Socket) -> String {
    let fd = sock.as_raw_fd();
    match sock.local_addr() {
        Ok(a) if a.is_unix() => format!("fd={fd} unix"),
        Ok(a) if a.as_socket().is_some() => format!("fd={fd} inet"),
        _ => format!("fd={fd}"),
    }
}

/// A unix path as QEMU's dgram takes it.
fn unix_path(u: &UnixSocketAddress) -> Result<SockAddr, Error> {
    if u.r#abstract == Some(true) {
        return Err(Error::generic(format!(
            "netdev 'dgram': abstract unix address '{}' is not supported",
            u.path
        )));
    }
    if u.path.len() >= SUN_PATH_LEN {
        return Err(Error::generic(format!(
            "UNIX socket path '{}' is too long",
            u.path
        )));
    }
    SockAddr::unix(&u.path).map_err(|e| errno_text(&format!("UNIX socket path '{}'", u.path), &e))
}

/// Removes a socket left at `path` by an earlier run; never another kind
/// of file.
fn remove_stale_socket(path: &str) {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

fn boxed(d: Datagram<Plain>) -> Box<dyn Receiver> {
    Box::new(d)
}

/// Opens a dgram netdev: checks `local` and `remote` as QEMU does, binds
/// now (so a busy port is `netdev_add`'s error).
pub fn open(
    _id: &str,
    options: &NetdevDgramOptions,
    named: Option<&NamedFds>,
) -> Result<Box<dyn Receiver>, Error> {
    use SocketAddressBranch as B;
    let local = options.local.as_ref().map(|a| &a.r#type);
    let remote = options.remote.as_ref().map(|a| &a.r#type);

    if let Some(B::Inet(r)) = remote {
        let group = ipv4_of(r)?;
        if group.ip().is_multicast() {
            return open_mcast(group, local);
        }
    }
    let Some(local) = local else {
        return Err(Error::generic("dgram requires local= parameter"));
    };
    match remote {
        Some(r) => {
            if matches!(local, B::Fd(_)) {
                return Err(Error::generic("don't set remote with local.fd"));
            }
            if std::mem::discriminant(r) != std::mem::discriminant(local) {
                return Err(Error::generic("remote and local types must be the same"));
            }
        }
        None => {
            if !matches!(local, B::Fd(_)) {
                return Err(Error::generic(
                    "type=inet or type=unix requires remote parameter",
                ));
            }
        }
    }
    match (local, remote) {
        (B::Inet(l), Some(B::Inet(r))) => {
            let laddr = ipv4_of(l)?;
            let raddr = ipv4_of(r)?;
            let sock = udp_socket(laddr)?;
            let info = format!(
                "udp={}:{}/{}:{}",
                laddr.ip(),
                laddr.port(),
                raddr.ip(),
                raddr.port()
            );
            Ok(boxed(Datagram::new(sock, Some(raddr.into()), Plain, info)))
        }
        (B::Unix(l), Some(B::Unix(r))) => {
            let laddr = unix_path(l)?;
            let raddr = unix_path(r)?;
            let sock = dgram_socket(Domain::UNIX)?;
            remove_stale_socket(&l.path);
            sock.bind(&laddr)
                .map_err(|e| errno_text(&format!("can't bind unix={} to socket", l.path), &e))?;
            let info = format!("udp={}:{}", l.path, r.path);
            Ok(boxed(Datagram::new(sock, Some(raddr), Plain, info)))
        }
        (B::Fd(f), None) => {
            let sock = addr::inherited_socket(addr::inherited_fd(&f.str, named)?, Type::DGRAM)?;
            let info = fd_info(&sock);
            Ok(boxed(Datagram::new(sock, None, Plain, info)))
        }
        _ => Err(Error::generic("only support inet or fd type for local")),
    }
}

/// The multicast branch of [`open`]: `remote` is the group.
fn open_mcast(
    group: SocketAddrV4,
    local: Option<&SocketAddressBranch>,
) -> Result<Box<dyn Receiver>, Error> {
    use SocketAddressBranch as B;
    let iface = match local {
        None => None,
        Some(B::Inet(l)) => Some(inet_aton(&l.host).ok_or_else(|| {
            Error::generic(format!(
                "localaddr '{}' is not a valid IPv4 address",
                l.host
            ))
        })?),
        Some(B::Fd(_)) => {
            return Err(Error::generic(
                "netdev 'dgram': a multicast remote with local.type=fd is not supported",
            ))
        }
        Some(_) => return Err(Error::generic("only support inet or fd type for local")),
    };
    let sock = mcast_socket(group, iface)?;
    let info = format!("mcast={}:{}", group.ip(), group.port());
    Ok(boxed(Datagram::new(sock, Some(group.into()), Plain, info)))
}
