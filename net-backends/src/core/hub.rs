//! Hubs: QEMU's `net/hub.c`.
//!
//! A hub is a set of hub ports. A frame a port receives (from its peer) is
//! sent out of every other port to that port's peer, without a completion,
//! so a blocked destination queues the frame up to its bound and then drops.
//! A port can receive when any other port could send. A port's link state
//! is its own: `set_link` on a port does not touch the peer (unless the
//! peer is a NIC) nor the other ports, so the rest of the hub keeps
//! talking. The forwarding itself lives in [`Network`](super::Network).

use super::client::ClientId;

/// One hub: its QEMU `hubid` and its ports in creation order.
#[derive(Debug, Clone)]
pub(crate) struct Hub {
    pub(crate) id: i32,
    pub(crate) ports: Vec<ClientId>,
}
