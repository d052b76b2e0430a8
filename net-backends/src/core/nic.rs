//! NICs: the guest-facing clients a VMM's device models own.
//!
//! A NIC keeps a bounded receive ring (the guest's posted buffers); when
//! it is full the NIC cannot receive and frames wait in its queue, as
//! with a QEMU NIC whose `can_receive` says no. Popping a frame flushes
//! the queue, as a device model calls `qemu_flush_queued_packets` when
//! the guest posts buffers. Ring buffers are reused.

use std::collections::VecDeque;

use super::client::{ClientId, Delivery};
use super::frame::{copy_padded, MacAddr};
use crate::qapi::{RxFilterInfo, RxState};

/// A NIC in a [`Network`](super::Network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NicHandle(pub(crate) ClientId);

impl NicHandle {
    /// The NIC's client.
    pub fn client(self) -> ClientId {
        self.0
    }
}

/// How a NIC is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicConfig {
    /// The MAC address.
    pub mac: MacAddr,
    /// The device's QOM path, reported in `NIC_RX_FILTER_CHANGED`.
    pub path: String,
    /// Whether frames shorter than [`ETH_ZLEN`](super::ETH_ZLEN) reach the
    /// device padded with zeros (QEMU pads unless the NIC sets
    /// `do_not_pad`, as virtio-net does).
    pub pad_short_frames: bool,
    /// How many received frames the device can hold before it stops
    /// receiving (the guest's posted receive buffers).
    pub rx_ring: usize,
}

impl NicConfig {
    /// A NIC with this MAC, no path, padding on and a 256-frame ring.
    pub fn new(mac: MacAddr) -> Self {
        NicConfig {
            mac,
            path: String::new(),
            pad_short_frames: true,
            rx_ring: 256,
        }
    }
}

/// A NIC's receive filter, as its device model programs it (the core
/// stores and reports it; filtering is the device model's business, as in
/// QEMU).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RxFilter {
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// Multicast receive state.
    pub multicast: RxState,
    /// Unicast receive state.
    pub unicast: RxState,
    /// VLAN receive state.
    pub vlan: RxState,
    /// Whether broadcast is received.
    pub broadcast_allowed: bool,
    /// Whether the multicast table overflowed.
    pub multicast_overflow: bool,
    /// Whether the unicast table overflowed.
    pub unicast_overflow: bool,
    /// Active VLAN ids.
    pub vlan_table: Vec<u16>,
    /// Unicast addresses.
    pub unicast_table: Vec<MacAddr>,
    /// Multicast addresses.
    pub multicast_table: Vec<MacAddr>,
}

impl Default for RxFilter {
    /// A freshly reset NIC: promiscuous, normal tables, all VLANs,
    /// broadcast allowed.
    fn default() -> Self {
        RxFilter {
            promiscuous: true,
            multicast: RxState::Normal,
            unicast: RxState::Normal,
            vlan: RxState::All,
            broadcast_allowed: true,
            multicast_overflow: false,
            unicast_overflow: false,
            vlan_table: Vec::new(),
            unicast_table: Vec::new(),
            multicast_table: Vec::new(),
        }
    }
}

impl RxFilter {
    /// The `query-rx-filter` answer for a NIC named `name` with `mac`.
    pub fn info(&self, name: &str, mac: MacAddr) -> RxFilterInfo {
        RxFilterInfo {
            name: name.to_owned(),
            promiscuous: self.promiscuous,
            multicast: self.multicast,
            unicast: self.unicast,
            vlan: self.vlan,
            broadcast_allowed: self.broadcast_allowed,
            multicast_overflow: self.multicast_overflow,
            unicast_overflow: self.unicast_overflow,
            main_mac: mac.to_string(),
            vlan_table: self.vlan_table.iter().map(|&v| i64::from(v)).collect(),
            unicast_table: self.unicast_table.iter().map(|m| m.to_string()).collect(),
            multicast_table: self.multicast_table.iter().map(|m| m.to_string()).collect(),
        }
    }
}

/// A NIC's state inside the network.
#[derive(Debug)]
pub(crate) struct NicState {
    pub(crate) mac: MacAddr,
    pub(crate) path: String,
    pad: bool,
    ring: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
    ring_cap: usize,
    pub(crate) rx_filter: RxFilter,
    /// QEMU's `rxfilter_notify_enabled`: set at creation and by each
    /// query, cleared when the event is sent.
    pub(crate) notify_armed: bool,
    /// Frames sent with a completion that still wait in a queue.
    pub(crate) tx_pending: u64,
}

impl NicState {
    pub(crate) fn new(config: NicConfig) -> Self {
        NicState {
            mac: config.mac,
            path: config.path,
            pad: config.pad_short_frames,
            ring: VecDeque::with_capacity(config.rx_ring),
            spare: Vec::new(),
            ring_cap: config.rx_ring,
            rx_filter: RxFilter::default(),
            notify_armed: true,
            tx_pending: 0,
        }
    }

    pub(crate) fn can_receive(&self) -> bool {
        self.ring.len() < self.ring_cap
    }

    pub(crate) fn receive(&mut self, frame: &[u8]) -> Delivery {
        if !self.can_receive() {
            return Delivery::Busy;
        }
        let mut buf = self.spare.pop().unwrap_or_default();
        copy_padded(&mut buf, frame, self.pad);
        self.ring.push_back(buf);
        Delivery::Accepted
    }

    pub(crate) fn pop_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let buf = self.ring.pop_front()?;
        let r = f(&buf);
        if self.spare.len() < self.ring_cap {
            self.spare.push(buf);
        }
        Some(r)
    }

    pub(crate) fn pending(&self) -> usize {
        self.ring.len()
    }
}
