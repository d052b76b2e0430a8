//! Net clients: identities, the receiving side a backend plugs in, and the
//! per-client frame accounting.

/// A net client in a [`Network`](super::Network): an index plus a
/// generation, so a handle to a deleted client never reaches its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// What a client is, as QEMU's `NetClientDriver` sorts them for the rules
/// that depend on it (`set_link` and `query-rx-filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    /// A guest-facing NIC owned by a device model.
    Nic,
    /// A port of a hub.
    HubPort,
    /// Any other backend (socket, stream, dgram, tap, ...).
    Backend,
}

/// What a receiver did with a frame (QEMU's `receive` return value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Taken (QEMU: a positive length).
    Accepted,
    /// Cannot take it now (QEMU: 0): the client becomes receive-disabled,
    /// the frame stays queued, and nothing more is delivered until the
    /// client is flushed.
    Busy,
    /// Refused for good (QEMU: a negative value); counted as a drop.
    Failed,
}

/// The receiving side of a backend client. `Send`, so a network (and the
/// control plane owning it) can be served from any thread.
pub trait Receiver: Send {
    /// Delivers one frame sent by `sender`.
    fn receive(&mut self, sender: super::ClientId, frame: &[u8]) -> Delivery;

    /// Whether a frame could be taken now (QEMU's `can_receive`); when not,
    /// frames wait in the client's queue without being offered.
    fn can_receive(&self) -> bool {
        true
    }

    /// A frame this client sent with a completion, and which had been
    /// queued, was delivered or dropped: the client may send again.
    fn send_completed(&mut self, _outcome: SendOutcome) {}

    /// The I/O side, for receivers that own descriptors (every socket
    /// driver); the I/O loop reaches the driver through this.
    fn driver(&mut self) -> Option<&mut dyn crate::driver::Driver> {
        None
    }
}

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The sender's link is down.
    SenderLinkDown,
    /// The sender has no peer.
    NoPeer,
    /// The receiver's link is down.
    ReceiverLinkDown,
    /// The receiver's queue was full and the sender wanted no completion.
    QueueFull,
    /// Removed from a queue by a purge, or with its receiver.
    Purged,
    /// The receiver refused it ([`Delivery::Failed`]).
    ReceiverFailed,
    /// Longer than [`NET_BUFSIZE`](super::NET_BUFSIZE).
    Oversized,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 7] = [
        DropReason::SenderLinkDown,
        DropReason::NoPeer,
        DropReason::ReceiverLinkDown,
        DropReason::QueueFull,
        DropReason::Purged,
        DropReason::ReceiverFailed,
        DropReason::Oversized,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// What became of a frame at the moment it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// The peer took it.
    Delivered,
    /// It waits in the peer's queue. A sender that asked for a completion
    /// must pause until [`Receiver::send_completed`] (or, for a NIC,
    /// [`Network::nic_tx_blocked`](super::Network::nic_tx_blocked)) says so.
    Queued,
    /// It was dropped, and counted.
    Dropped(DropReason),
}

/// Frame accounting of one sender: every frame it sent is, at any moment,
/// delivered, dropped (by reason) or still queued, so
/// `sent == delivered + dropped() + queued`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames this client sent.
    pub sent: u64,
    /// Of those, taken by the peer.
    pub delivered: u64,
    /// Of those, waiting in the peer's queue now.
    pub queued: u64,
    drops: [u64; DropReason::ALL.len()],
    /// Frames this client took as a receiver.
    pub received: u64,
}

impl Counters {
    /// Frames this client sent that were dropped for `reason`.
    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }

    /// Frames this client sent that were dropped, for any reason.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Whether `sent == delivered + dropped + queued` holds.
    pub fn balanced(&self) -> bool {
        self.sent == self.delivered + self.dropped() + self.queued
    }

    pub(crate) fn drop_for(&mut self, reason: DropReason) {
        self.drops[reason.index()] += 1;
    }
}
