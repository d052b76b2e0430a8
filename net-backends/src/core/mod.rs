//! The packet core: QEMU's net clients, peers, receive queues, hubs, link
//! state, frame limits and NICs, in process.
//!
//! ```text
//! NIC / backend ──send──▶ peer's NetQueue ──deliver──▶ peer
//!                                                     ├─ backend Receiver
//!                                                     ├─ NIC rx ring ──nic_recv──▶ device model
//!                                                     └─ hub port ──forward──▶ every other port ──send──▶ …
//! ```
//!
//! * [`frame`]: limits ([`NET_BUFSIZE`], [`ETH_ZLEN`]), padding, [`MacAddr`].
//! * [`queue`]: the bounded receive queue ([`NET_QUEUE_DEFAULT_MAXLEN`]).
//! * [`client`]: [`ClientId`], [`Receiver`], accounting ([`Counters`]).
//! * [`network`]: [`Network`], sending, delivery, flush, purge, link state.
//! * [`hub`]: hub semantics (forwarding lives in [`Network`]).
//! * [`nic`]: [`NicHandle`], [`NicConfig`], [`RxFilter`].
//! * [`announce`]: RARP frames and the announce schedule.

pub mod announce;
pub mod client;
pub mod error;
pub mod frame;
pub mod hub;
pub mod network;
pub mod nic;
pub mod queue;

pub use announce::{rarp_frame, AnnounceError, AnnounceSchedule, Announcer};
pub use client::{ClientId, ClientKind, Counters, Delivery, DropReason, Receiver, SendOutcome};
pub use error::NetError;
pub use frame::{FrameError, MacAddr, ETH_ZLEN, NET_BUFSIZE};
pub use network::Network;
pub use nic::{NicConfig, NicHandle, RxFilter};
pub use queue::{NetQueue, NET_QUEUE_DEFAULT_MAXLEN};
