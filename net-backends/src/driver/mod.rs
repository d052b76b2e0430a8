//! Drivers: the netdev backends that move frames between the packet core
//! and the outside world (sockets today, host devices next).
//!
//! A driver is a [`Receiver`] (frames from its peer go out through it)
//! that is also a [`Driver`] (it owns descriptors, and frames that come
//! in through them go to its peer). The I/O loop ([`crate::io`]) waits for
//! readiness and calls the driver; the driver puts the frames it read into
//! the turn's [`FrameBatch`], and the loop sends them through the core
//! once the driver has returned, so a driver never needs the network
//! while the network holds it.
//!
//! Flow control follows QEMU: frames are sent with a completion; when one
//! has to wait in the peer's queue the driver stops reading
//! ([`Driver::input_blocked`]) until [`Receiver::send_completed`] fires.
//! A driver whose own output backs up answers [`Delivery::Busy`] or
//! reports [`Receiver::can_receive`] false, and asks for its queue to be
//! flushed ([`Cx::flush_queue`]) once it drained.
//!
//! * [`addr`]: QEMU's `SocketAddress` (inet, unix, fd) to sockets.
//! * [`framing`]: the 4-byte length prefix of `stream` and `socket`.
//! * [`stream`]: `-netdev stream` (and `socket` `listen=`/`connect=`/`fd=`).
//! * [`dgram`]: `-netdev dgram` (and `socket` `udp=`/`mcast=`).
//! * [`l2tpv3`]: `-netdev l2tpv3`.
//! * [`socket`]: `-netdev socket`, QEMU's legacy spelling of the above.

pub mod addr;
pub mod dgram;
pub mod framing;
pub mod l2tpv3;
pub mod socket;
pub mod stream;

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Instant;

use crate::core::{ClientId, Receiver};
use crate::io::{Interest, Poller, Ready};
use crate::qapi::events::Event;

#[cfg(doc)]
use crate::core::Delivery;

/// A driver's descriptor in the poller: its client and which of its
/// descriptors (`sub`, up to 254 per driver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// The client owning the descriptor.
    pub client: ClientId,
    /// Which of its descriptors.
    pub sub: u8,
}

impl Token {
    /// Packs into an epoll token: index, 24 bits of generation, sub.
    pub(crate) fn encode(self) -> u64 {
        u64::from(self.client.index)
            | (u64::from(self.client.generation & 0xff_ffff) << 32)
            | (u64::from(self.sub) << 56)
    }

    /// The client part of a token; the loop checks the generation against
    /// the live client before calling anything.
    pub(crate) fn decode(token: u64) -> (u32, u32, u8) {
        (
            token as u32,
            ((token >> 32) & 0xff_ffff) as u32,
            (token >> 56) as u8,
        )
    }
}

/// A driver's handle on the poller: registers its descriptors under its
/// client's token.
#[derive(Debug, Clone)]
pub struct Registration {
    poller: Arc<Poller>,
    client: ClientId,
}

impl Registration {
    pub(crate) fn new(poller: Arc<Poller>, client: ClientId) -> Self {
        Registration { poller, client }
    }

    fn token(&self, sub: u8) -> u64 {
        Token {
            client: self.client,
            sub,
        }
        .encode()
    }

    /// Watches `fd` as descriptor `sub`.
    pub fn add(&self, fd: RawFd, sub: u8, interest: Interest) -> io::Result<()> {
        self.poller.add(fd, self.token(sub), interest)
    }

    /// Changes what descriptor `sub` is watched for.
    pub fn modify(&self, fd: RawFd, sub: u8, interest: Interest) -> io::Result<()> {
        self.poller.modify(fd, self.token(sub), interest)
    }

    /// Stops watching `fd`.
    pub fn remove(&self, fd: RawFd) {
        // Closing removes it too; an error here means it was gone already.
        let _ = self.poller.remove(fd);
    }

    /// The client the driver serves.
    pub fn client(&self) -> ClientId {
        self.client
    }

    /// Tells the loop output is waiting (wakes it when called outside a
    /// turn, from a device model's thread say).
    pub fn output_pending(&self) {
        self.poller.output_pending();
    }
}

/// Frames read in one driver call, in one reused buffer: no allocation
/// per frame once warm.
#[derive(Debug, Default)]
pub struct FrameBatch {
    buf: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl FrameBatch {
    /// Appends a copy of `frame`.
    pub fn push(&mut self, frame: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(frame);
        self.spans.push((start, frame.len()));
    }

    /// Reads up to `max` bytes from `sock` onto the end of the batch's
    /// bytes, without making them a frame yet: a stream driver then
    /// marks the frames inside them ([`FrameBatch::mark`]), so what it
    /// read is never copied again. Nothing is zeroed first.
    pub fn recv_raw(&mut self, sock: &socket2::Socket, max: usize) -> io::Result<usize> {
        self.buf.reserve(max);
        let len = self.buf.len();
        let spare = &mut self.buf.spare_capacity_mut()[..max];
        let n = sock.recv(spare)?;
        // SAFETY: `recv` initialised the first `n` bytes of the spare
        // capacity (it never reports more than it was given).
        unsafe { self.buf.set_len(len + n.min(max)) };
        Ok(n)
    }

    /// Appends raw bytes that are not a frame (yet).
    pub fn extend_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The batch's bytes, frames and raw bytes alike.
    pub fn raw(&self) -> &[u8] {
        &self.buf
    }

    /// Makes `len` bytes at `start` of the raw bytes a frame.
    pub fn mark(&mut self, start: usize, len: usize) {
        self.spans.push((start, len));
    }

    /// Drops raw bytes from `len` on (a partial frame moved elsewhere).
    pub fn truncate_raw(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// Frames in the batch.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// The frames, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.spans.iter().map(|&(s, n)| &self.buf[s..s + n])
    }

    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.spans.clear();
    }
}

/// What a driver call may ask of the loop: frames to send, a link state,
/// events, a flush of its receive queue.
#[derive(Debug)]
pub struct Cx<'a> {
    pub(crate) batch: &'a mut FrameBatch,
    pub(crate) events: &'a mut Vec<Event>,
    pub(crate) link: Option<bool>,
    pub(crate) flush_queue: bool,
    pub(crate) now: Instant,
}

impl<'a> Cx<'a> {
    /// A context over the loop's batch and event list.
    pub(crate) fn new(batch: &'a mut FrameBatch, events: &'a mut Vec<Event>, now: Instant) -> Self {
        Cx {
            batch,
            events,
            link: None,
            flush_queue: false,
            now,
        }
    }

    /// Frames read: the loop sends them, in order, as this client.
    pub fn frames(&mut self) -> &mut FrameBatch {
        self.batch
    }

    /// Sets this client's own link state (QEMU's drivers write
    /// `nc->link_down`: a stream is down while unconnected).
    pub fn set_link(&mut self, up: bool) {
        self.link = Some(up);
    }

    /// Sends a QMP event.
    pub fn emit(&mut self, event: Event) {
        self.events.push(event);
    }

    /// The driver can take frames again: deliver what waits in its queue
    /// (QEMU's `qemu_flush_queued_packets`).
    pub fn flush_queue(&mut self) {
        self.flush_queue = true;
    }

    /// The time of this turn.
    pub fn now(&self) -> Instant {
        self.now
    }
}

/// The I/O side of a backend: what the loop calls.
pub trait Driver: Receiver {
    /// Registers the driver's descriptors; called once, right after the
    /// client joined the network. A client (stream) may connect here.
    fn attach(&mut self, reg: Registration, cx: &mut Cx<'_>) -> Result<(), qapi_runtime::Error>;

    /// Descriptor `sub` is ready.
    fn ready(&mut self, sub: u8, ready: Ready, cx: &mut Cx<'_>);

    /// Writes buffered output; called at the end of every turn.
    fn flush_output(&mut self, _cx: &mut Cx<'_>) {}

    /// When [`Driver::timer`] wants calling next.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// The deadline passed (a reconnect, say).
    fn timer(&mut self, _cx: &mut Cx<'_>) {}

    /// A frame of the last batch waits in the peer's queue: stop reading
    /// until [`Receiver::send_completed`].
    fn input_blocked(&mut self) {}

    /// What the driver is doing, as QEMU's `info network` line says it
    /// ("listening", "connecting", the peer's address...).
    fn info(&self) -> String {
        String::new()
    }
}

/// Whether an I/O error only means "not now".
pub(crate) fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}
