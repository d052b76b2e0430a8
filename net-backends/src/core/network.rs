//! The network: every client, their peers and queues, the hubs, and the
//! send / deliver / flush / purge paths of QEMU's `net/net.c` and
//! `net/queue.c`.
//!
//! Sending (`qemu_send_packet_async`): a frame from a client whose link is
//! down, or without a peer, is dropped. Otherwise it goes to the peer's
//! queue: queued when the peer's queue is delivering, the VM is stopped or
//! the peer cannot receive; else delivered at once, and kept queued when
//! the peer answers [`Delivery::Busy`] (the peer becomes receive-disabled).
//! A peer whose link is down swallows the frame. After a delivery the
//! peer's queue is flushed. Flushing delivers in order and stops at the
//! first busy answer. One deliberate difference: a frame sent while older
//! frames wait in the peer's queue goes after them (QEMU delivers it
//! directly, ahead of them, when the peer can receive), so a queue never
//! reorders. Frames are delivered from the caller's buffer, so
//! the direct path copies and allocates nothing.

use super::client::{ClientId, ClientKind, Counters, Delivery, DropReason, Receiver, SendOutcome};
use super::error::NetError;
use super::frame::{check_len, MacAddr};
use super::hub::Hub;
use super::nic::{NicConfig, NicHandle, NicState, RxFilter};
use super::queue::{NetQueue, NET_QUEUE_DEFAULT_MAXLEN};
use crate::qapi::events::{Event, NicRxFilterChanged};
use crate::qapi::RxFilterInfo;

/// How deep `can_receive` follows hubs joined port to port.
const MAX_HUB_DEPTH: u32 = 8;

enum Endpoint {
    Receiver(Box<dyn Receiver>),
    HubPort(usize),
    Nic(Box<NicState>),
}

struct Client {
    name: String,
    kind: ClientKind,
    peer: Option<ClientId>,
    link_down: bool,
    receive_disabled: bool,
    queue: NetQueue,
    endpoint: Endpoint,
    counters: Counters,
}

struct Slot {
    generation: u32,
    client: Option<Client>,
}

/// Where a delivery attempt ended.
#[derive(Clone, Copy)]
enum Delivered {
    Yes,
    Busy,
    Dropped(DropReason),
}

/// Every net client of one VMM and the hubs between them.
pub struct Network {
    slots: Vec<Slot>,
    free: Vec<u32>,
    hubs: Vec<Hub>,
    running: bool,
    queue_maxlen: usize,
    events: Vec<Event>,
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("clients", &self.clients().count())
            .field("hubs", &self.hubs.len())
            .field("running", &self.running)
            .finish()
    }
}

impl Network {
    /// An empty, running network with QEMU's queue bound (10,000 frames).
    pub fn new() -> Self {
        Network::with_queue_maxlen(NET_QUEUE_DEFAULT_MAXLEN)
    }

    /// An empty, running network whose queues hold `maxlen` frames.
    pub fn with_queue_maxlen(maxlen: usize) -> Self {
        Network {
            slots: Vec::new(),
            free: Vec::new(),
            hubs: Vec::new(),
            running: true,
            queue_maxlen: maxlen,
            events: Vec::new(),
        }
    }

    // ---- clients -------------------------------------------------------

    fn client(&self, id: ClientId) -> Result<&Client, NetError> {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.client.as_ref())
            .ok_or(NetError::StaleClient)
    }

    fn client_mut(&mut self, id: ClientId) -> Result<&mut Client, NetError> {
        self.slots
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.client.as_mut())
            .ok_or(NetError::StaleClient)
    }

    /// Every live client, in slot order.
    pub fn clients(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.client.as_ref().map(|_| ClientId {
                index: i as u32,
                generation: s.generation,
            })
        })
    }

    /// The client called `name`.
    pub fn lookup(&self, name: &str) -> Option<ClientId> {
        self.clients()
            .find(|&id| self.client(id).is_ok_and(|c| c.name == name))
    }

    /// A client's name.
    pub fn name(&self, id: ClientId) -> Result<&str, NetError> {
        Ok(&self.client(id)?.name)
    }

    /// A client's kind.
    pub fn kind(&self, id: ClientId) -> Result<ClientKind, NetError> {
        Ok(self.client(id)?.kind)
    }

    /// A client's peer.
    pub fn peer(&self, id: ClientId) -> Result<Option<ClientId>, NetError> {
        Ok(self.client(id)?.peer)
    }

    /// A client's frame accounting (as a sender, plus frames received).
    pub fn counters(&self, id: ClientId) -> Result<&Counters, NetError> {
        Ok(&self.client(id)?.counters)
    }

    /// Frames waiting in a client's receive queue.
    pub fn queue_len(&self, id: ClientId) -> Result<usize, NetError> {
        Ok(self.client(id)?.queue.len())
    }

    /// Whether a client answered busy and awaits a flush.
    pub fn receive_disabled(&self, id: ClientId) -> Result<bool, NetError> {
        Ok(self.client(id)?.receive_disabled)
    }

    /// Whether a client's link is up.
    pub fn link_up(&self, id: ClientId) -> Result<bool, NetError> {
        Ok(!self.client(id)?.link_down)
    }

    fn insert(
        &mut self,
        name: &str,
        kind: ClientKind,
        endpoint: Endpoint,
    ) -> Result<ClientId, NetError> {
        if self.lookup(name).is_some() {
            return Err(NetError::DuplicateId(name.to_owned()));
        }
        let client = Client {
            name: name.to_owned(),
            kind,
            peer: None,
            link_down: false,
            receive_disabled: false,
            queue: NetQueue::new(self.queue_maxlen),
            endpoint,
            counters: Counters::default(),
        };
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    client: None,
                });
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.client = Some(client);
        Ok(ClientId {
            index,
            generation: slot.generation,
        })
    }

    /// Adds a backend client whose frames go to `receiver`.
    pub fn add_backend(
        &mut self,
        name: &str,
        receiver: Box<dyn Receiver>,
    ) -> Result<ClientId, NetError> {
        self.insert(name, ClientKind::Backend, Endpoint::Receiver(receiver))
    }

    /// The receiver of a backend client, for the I/O loop.
    pub(crate) fn receiver_mut(&mut self, id: ClientId) -> Option<&mut (dyn Receiver + 'static)> {
        match &mut self.client_mut(id).ok()?.endpoint {
            Endpoint::Receiver(r) => Some(r.as_mut()),
            _ => None,
        }
    }

    /// The live client in slot `index` whose generation ends in `gen24`
    /// (the 24 bits an epoll token keeps).
    pub(crate) fn client_by_token(&self, index: u32, gen24: u32) -> Option<ClientId> {
        let slot = self.slots.get(index as usize)?;
        (slot.client.is_some() && slot.generation & 0xff_ffff == gen24).then_some(ClientId {
            index,
            generation: slot.generation,
        })
    }

    /// Sets one client's own link state, as a driver does (a stream is
    /// down while it has no connection); unlike [`Network::set_link`] the
    /// peer is left alone.
    pub fn set_own_link(&mut self, id: ClientId, up: bool) -> Result<(), NetError> {
        self.client_mut(id)?.link_down = !up;
        Ok(())
    }

    /// Adds a port to hub `hubid` (created on first use), optionally
    /// peered with `peer` (QEMU's `-netdev hubport,hubid=N,netdev=P`).
    pub fn add_hubport(
        &mut self,
        name: &str,
        hubid: i32,
        peer: Option<ClientId>,
    ) -> Result<ClientId, NetError> {
        if let Some(p) = peer {
            self.check_free_peer(p)?;
        }
        let hub = match self.hubs.iter().position(|h| h.id == hubid) {
            Some(h) => h,
            None => {
                self.hubs.push(Hub {
                    id: hubid,
                    ports: Vec::new(),
                });
                self.hubs.len() - 1
            }
        };
        let id = self.insert(name, ClientKind::HubPort, Endpoint::HubPort(hub))?;
        self.hubs[hub].ports.push(id);
        if let Some(p) = peer {
            self.connect(id, p)?;
        }
        Ok(id)
    }

    /// The ports of hub `hubid`, in creation order.
    pub fn hub_ports(&self, hubid: i32) -> &[ClientId] {
        self.hubs
            .iter()
            .find(|h| h.id == hubid)
            .map_or(&[], |h| h.ports.as_slice())
    }

    /// Adds a NIC, optionally peered with `peer` (its netdev).
    pub fn add_nic(
        &mut self,
        name: &str,
        config: NicConfig,
        peer: Option<ClientId>,
    ) -> Result<NicHandle, NetError> {
        if let Some(p) = peer {
            self.check_free_peer(p)?;
        }
        let id = self.insert(
            name,
            ClientKind::Nic,
            Endpoint::Nic(Box::new(NicState::new(config))),
        )?;
        if let Some(p) = peer {
            self.connect(id, p)?;
        }
        Ok(NicHandle(id))
    }

    fn check_free_peer(&self, id: ClientId) -> Result<(), NetError> {
        let c = self.client(id)?;
        if c.peer.is_some() {
            return Err(NetError::PeerInUse(c.name.clone()));
        }
        Ok(())
    }

    /// Makes `a` and `b` each other's peer.
    pub fn connect(&mut self, a: ClientId, b: ClientId) -> Result<(), NetError> {
        if a == b {
            return Err(NetError::SelfPeer(self.client(a)?.name.clone()));
        }
        self.check_free_peer(a)?;
        self.check_free_peer(b)?;
        self.client_mut(a)?.peer = Some(b);
        self.client_mut(b)?.peer = Some(a);
        Ok(())
    }

    /// Deletes a client (QEMU's `qemu_del_net_client`): the frames it sent
    /// that wait in its peer's queue are purged, the frames waiting in its
    /// own queue are dropped (their senders' completions fire), and the
    /// peer is left without a peer.
    pub fn remove(&mut self, id: ClientId) -> Result<(), NetError> {
        let peer = self.client(id)?.peer;
        if let Some(p) = peer {
            self.purge_queue(p, id);
            if let Ok(pc) = self.client_mut(p) {
                pc.peer = None;
            }
        }
        let mut removed: Vec<(ClientId, bool)> = Vec::new();
        let client = self.client_mut(id)?;
        client.queue.clear(|s, c| removed.push((s, c)));
        for (sender, completion) in removed {
            self.finish_queued(sender, completion, Delivered::Dropped(DropReason::Purged));
        }
        let slot = &mut self.slots[id.index as usize];
        if let Some(Client {
            endpoint: Endpoint::HubPort(hub),
            ..
        }) = slot.client.take()
        {
            self.hubs[hub].ports.retain(|&p| p != id);
        }
        let slot = &mut self.slots[id.index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        Ok(())
    }

    // ---- link state ----------------------------------------------------

    /// QMP `set_link`: sets the link of the client called `name`, and of its
    /// peer only when the peer is a NIC (a hub port or backend peer keeps
    /// its own state, so a hub still carries frames between its other
    /// ports).
    pub fn set_link(&mut self, name: &str, up: bool) -> Result<(), NetError> {
        let id = self
            .lookup(name)
            .ok_or_else(|| NetError::DeviceNotFound(name.to_owned()))?;
        let client = self.client_mut(id)?;
        client.link_down = !up;
        let peer = client.peer;
        if let Some(p) = peer {
            let pc = self.client_mut(p)?;
            if pc.kind == ClientKind::Nic {
                pc.link_down = !up;
            }
        }
        Ok(())
    }

    /// Stops or resumes the VM: while stopped every frame is queued; on
    /// resume every queue is flushed (QEMU's `net_vm_change_state_handler`).
    pub fn set_running(&mut self, running: bool) {
        self.running = running;
        if running {
            let ids: Vec<ClientId> = self.clients().collect();
            for id in ids {
                let _ = self.flush(id);
            }
        }
    }

    /// Whether the VM runs.
    pub fn running(&self) -> bool {
        self.running
    }

    // ---- sending -------------------------------------------------------

    /// Sends a frame from `sender` to its peer, without a completion: when
    /// the peer's queue is full the frame is dropped (QEMU's
    /// `qemu_send_packet`).
    pub fn send(&mut self, sender: ClientId, frame: &[u8]) -> Result<SendOutcome, NetError> {
        self.send_inner(sender, frame, false)
    }

    /// Sends a frame with a completion (QEMU's `qemu_send_packet_async`):
    /// it is never dropped for a full queue; on [`SendOutcome::Queued`] the
    /// sender must pause until its completion fires.
    pub fn send_async(&mut self, sender: ClientId, frame: &[u8]) -> Result<SendOutcome, NetError> {
        self.send_inner(sender, frame, true)
    }

    fn send_inner(
        &mut self,
        sender: ClientId,
        frame: &[u8],
        completion: bool,
    ) -> Result<SendOutcome, NetError> {
        let running = self.running;
        let s = self.client_mut(sender)?;
        s.counters.sent += 1;
        if let Err(e) = check_len(frame.len()) {
            s.counters.drop_for(DropReason::Oversized);
            return Err(e.into());
        }
        if s.link_down {
            s.counters.drop_for(DropReason::SenderLinkDown);
            return Ok(SendOutcome::Dropped(DropReason::SenderLinkDown));
        }
        let Some(peer) = s.peer else {
            s.counters.drop_for(DropReason::NoPeer);
            return Ok(SendOutcome::Dropped(DropReason::NoPeer));
        };
        let delivering = self.client(peer)?.queue.delivering;
        if delivering || !running || !self.can_receive(peer, 0) {
            return Ok(self.enqueue(peer, sender, frame, completion));
        }
        // Older frames go first (QEMU would deliver this one ahead of them).
        if !self.client(peer)?.queue.is_empty() && !self.flush_queue(peer) {
            return Ok(self.enqueue(peer, sender, frame, completion));
        }
        let outcome = match self.deliver(peer, sender, frame) {
            Delivered::Busy => return Ok(self.enqueue(peer, sender, frame, completion)),
            Delivered::Yes => SendOutcome::Delivered,
            Delivered::Dropped(r) => SendOutcome::Dropped(r),
        };
        self.account(sender, outcome);
        self.flush_queue(peer);
        Ok(outcome)
    }

    fn account(&mut self, sender: ClientId, outcome: SendOutcome) {
        if let Ok(s) = self.client_mut(sender) {
            match outcome {
                SendOutcome::Delivered => s.counters.delivered += 1,
                SendOutcome::Queued => s.counters.queued += 1,
                SendOutcome::Dropped(r) => s.counters.drop_for(r),
            }
        }
    }

    fn enqueue(
        &mut self,
        receiver: ClientId,
        sender: ClientId,
        frame: &[u8],
        completion: bool,
    ) -> SendOutcome {
        let queued = self
            .client_mut(receiver)
            .is_ok_and(|r| r.queue.append(sender, frame, completion));
        let outcome = if queued {
            if completion {
                self.completion_pending(sender, 1);
            }
            SendOutcome::Queued
        } else {
            SendOutcome::Dropped(DropReason::QueueFull)
        };
        self.account(sender, outcome);
        outcome
    }

    fn completion_pending(&mut self, sender: ClientId, delta: i64) {
        if let Ok(Client {
            endpoint: Endpoint::Nic(nic),
            ..
        }) = self.client_mut(sender)
        {
            nic.tx_pending = nic.tx_pending.saturating_add_signed(delta);
        }
    }

    /// Settles a frame that had been queued: accounting, then the
    /// sender's completion.
    fn finish_queued(&mut self, sender: ClientId, completion: bool, how: Delivered) {
        let outcome = match how {
            Delivered::Yes => SendOutcome::Delivered,
            Delivered::Dropped(r) => SendOutcome::Dropped(r),
            Delivered::Busy => return,
        };
        if let Ok(s) = self.client_mut(sender) {
            s.counters.queued = s.counters.queued.saturating_sub(1);
        }
        self.account(sender, outcome);
        if completion {
            self.completion_pending(sender, -1);
            if let Ok(Client {
                endpoint: Endpoint::Receiver(r),
                ..
            }) = self.client_mut(sender)
            {
                r.send_completed(outcome);
            }
        }
    }

    /// QEMU's `qemu_can_receive_packet`.
    fn can_receive(&self, id: ClientId, depth: u32) -> bool {
        let Ok(c) = self.client(id) else {
            return false;
        };
        if c.receive_disabled {
            return false;
        }
        match &c.endpoint {
            Endpoint::Receiver(r) => r.can_receive(),
            Endpoint::Nic(n) => n.can_receive(),
            Endpoint::HubPort(hub) => self.hub_can_receive(*hub, id, depth),
        }
    }

    /// QEMU's `qemu_can_send_packet`.
    fn can_send(&self, id: ClientId, depth: u32) -> bool {
        if !self.running {
            return false;
        }
        match self.client(id).map(|c| c.peer) {
            Ok(Some(peer)) => self.can_receive(peer, depth),
            Ok(None) => true,
            Err(_) => false,
        }
    }

    fn hub_can_receive(&self, hub: usize, src: ClientId, depth: u32) -> bool {
        if depth >= MAX_HUB_DEPTH {
            return false;
        }
        self.hubs[hub]
            .ports
            .iter()
            .any(|&p| p != src && self.can_send(p, depth + 1))
    }

    /// QEMU's `qemu_deliver_packet_iov` into `receiver`.
    fn deliver(&mut self, receiver: ClientId, sender: ClientId, frame: &[u8]) -> Delivered {
        let Ok(r) = self.client_mut(receiver) else {
            return Delivered::Dropped(DropReason::Purged);
        };
        if r.link_down {
            return Delivered::Dropped(DropReason::ReceiverLinkDown);
        }
        if r.receive_disabled {
            return Delivered::Busy;
        }
        r.queue.delivering = true;
        let result = match &mut r.endpoint {
            Endpoint::Receiver(rx) => rx.receive(sender, frame),
            Endpoint::Nic(nic) => nic.receive(frame),
            Endpoint::HubPort(hub) => {
                let hub = *hub;
                self.hub_forward(hub, receiver, frame);
                Delivery::Accepted
            }
        };
        let Ok(r) = self.client_mut(receiver) else {
            return Delivered::Dropped(DropReason::Purged);
        };
        r.queue.delivering = false;
        match result {
            Delivery::Accepted => {
                r.counters.received += 1;
                Delivered::Yes
            }
            Delivery::Busy => {
                r.receive_disabled = true;
                Delivered::Busy
            }
            Delivery::Failed => Delivered::Dropped(DropReason::ReceiverFailed),
        }
    }

    /// QEMU's `net_hub_receive`: out of every other port, no completion.
    fn hub_forward(&mut self, hub: usize, src: ClientId, frame: &[u8]) {
        let mut i = 0;
        while let Some(&port) = self.hubs[hub].ports.get(i) {
            if port != src {
                let _ = self.send_inner(port, frame, false);
            }
            i += 1;
        }
    }

    // ---- flush and purge -----------------------------------------------

    /// QEMU's `qemu_net_queue_flush`: delivers queued frames in order,
    /// stopping at the first busy answer; `true` when the queue emptied.
    fn flush_queue(&mut self, id: ClientId) -> bool {
        loop {
            let Ok(c) = self.client_mut(id) else {
                return true;
            };
            if c.queue.delivering {
                return false;
            }
            let Some(packet) = c.queue.pop_front() else {
                return true;
            };
            let how = self.deliver(id, packet.sender, &packet.data);
            let Ok(c) = self.client_mut(id) else {
                return true;
            };
            if let Delivered::Busy = how {
                c.queue.push_front(packet);
                return false;
            }
            let (sender, completion) = (packet.sender, packet.completion);
            c.queue.recycle(packet.data);
            self.finish_queued(sender, completion, how);
        }
    }

    /// QEMU's `qemu_flush_queued_packets`: the client can receive again;
    /// re-enables it, flushes the queues of the other ports when its peer
    /// is a hub port, then delivers its own queue. `true` when its queue
    /// emptied.
    pub fn flush(&mut self, id: ClientId) -> Result<bool, NetError> {
        self.flush_or_purge(id, false)
    }

    /// QEMU's `qemu_flush_or_purge_queued_packets(nc, true)`: as
    /// [`flush`](Self::flush), but frames from the peer that still cannot
    /// be delivered are purged (their completions fire).
    pub fn flush_or_purge(&mut self, id: ClientId, purge: bool) -> Result<bool, NetError> {
        let c = self.client_mut(id)?;
        c.receive_disabled = false;
        let peer = c.peer;
        if let Some(p) = peer {
            if let Ok(Client {
                endpoint: Endpoint::HubPort(hub),
                ..
            }) = self.client(p)
            {
                let hub = *hub;
                let mut i = 0;
                while let Some(&port) = self.hubs[hub].ports.get(i) {
                    if port != p {
                        self.flush_queue(port);
                    }
                    i += 1;
                }
            }
        }
        if self.flush_queue(id) {
            return Ok(true);
        }
        if purge {
            if let Some(p) = peer {
                self.purge_queue(id, p);
            }
        }
        Ok(false)
    }

    /// Removes from `receiver`'s queue every frame `from` sent (QEMU's
    /// `qemu_net_queue_purge`); returns how many.
    pub fn purge(&mut self, receiver: ClientId, from: ClientId) -> Result<usize, NetError> {
        self.client(receiver)?;
        Ok(self.purge_queue(receiver, from))
    }

    fn purge_queue(&mut self, receiver: ClientId, from: ClientId) -> usize {
        let mut removed: Vec<(ClientId, bool)> = Vec::new();
        let Ok(c) = self.client_mut(receiver) else {
            return 0;
        };
        let n = c.queue.purge(from, |s, comp| removed.push((s, comp)));
        for (sender, completion) in removed {
            self.finish_queued(sender, completion, Delivered::Dropped(DropReason::Purged));
        }
        n
    }

    // ---- NICs ----------------------------------------------------------

    fn nic(&self, h: NicHandle) -> Result<&NicState, NetError> {
        let c = self.client(h.0)?;
        match &c.endpoint {
            Endpoint::Nic(n) => Ok(n),
            _ => Err(NetError::NotANicHandle(c.name.clone())),
        }
    }

    fn nic_mut(&mut self, h: NicHandle) -> Result<&mut NicState, NetError> {
        let c = self.client_mut(h.0)?;
        match &mut c.endpoint {
            Endpoint::Nic(n) => Ok(n),
            _ => Err(NetError::NotANicHandle(c.name.clone())),
        }
    }

    /// The NIC handle of a client, if it is a NIC.
    pub fn nic_handle(&self, id: ClientId) -> Option<NicHandle> {
        self.nic(NicHandle(id)).ok().map(|_| NicHandle(id))
    }

    /// The guest sends a frame: as [`send_async`](Self::send_async) from
    /// the NIC; on [`SendOutcome::Queued`] the device should stop
    /// transmitting until [`nic_tx_blocked`](Self::nic_tx_blocked) clears.
    pub fn nic_send(&mut self, h: NicHandle, frame: &[u8]) -> Result<SendOutcome, NetError> {
        self.nic(h)?;
        self.send_inner(h.0, frame, true)
    }

    /// Whether frames the NIC sent still wait for their completion.
    pub fn nic_tx_blocked(&self, h: NicHandle) -> Result<bool, NetError> {
        Ok(self.nic(h)?.tx_pending > 0)
    }

    /// Takes the oldest received frame, handing it to `f` (padded when the
    /// NIC asked for it); then, since a slot came free, flushes the frames
    /// waiting for the NIC.
    pub fn nic_recv_with<R>(
        &mut self,
        h: NicHandle,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, NetError> {
        let nic = self.nic_mut(h)?;
        let was_full = !nic.can_receive();
        let r = nic.pop_with(f);
        let c = self.client(h.0)?;
        // Frames may wait in our queue, or (hub peer) in the hub's.
        if r.is_some() && (was_full || c.receive_disabled || !c.queue.is_empty()) {
            self.flush(h.0)?;
        }
        Ok(r)
    }

    /// Copies the oldest received frame into `buf` and returns its length
    /// (truncated to `buf`'s length).
    pub fn nic_recv(&mut self, h: NicHandle, buf: &mut [u8]) -> Result<Option<usize>, NetError> {
        self.nic_recv_with(h, |frame| {
            let n = frame.len().min(buf.len());
            buf[..n].copy_from_slice(&frame[..n]);
            n
        })
    }

    /// Frames received and not yet taken by the device.
    pub fn nic_pending(&self, h: NicHandle) -> Result<usize, NetError> {
        Ok(self.nic(h)?.pending())
    }

    /// The NIC's MAC address.
    pub fn nic_mac(&self, h: NicHandle) -> Result<MacAddr, NetError> {
        Ok(self.nic(h)?.mac)
    }

    /// The guest changed the MAC: a filter change as far as
    /// `NIC_RX_FILTER_CHANGED` goes.
    pub fn nic_set_mac(&mut self, h: NicHandle, mac: MacAddr) -> Result<(), NetError> {
        self.nic_mut(h)?.mac = mac;
        self.rx_filter_notify(h)
    }

    /// The NIC's receive filter.
    pub fn nic_rx_filter(&self, h: NicHandle) -> Result<&RxFilter, NetError> {
        Ok(&self.nic(h)?.rx_filter)
    }

    /// The guest programmed the receive filter: stores it and emits
    /// `NIC_RX_FILTER_CHANGED` if no event went out since the last
    /// `query-rx-filter` of this NIC.
    pub fn nic_set_rx_filter(&mut self, h: NicHandle, filter: RxFilter) -> Result<(), NetError> {
        self.nic_mut(h)?.rx_filter = filter;
        self.rx_filter_notify(h)
    }

    fn rx_filter_notify(&mut self, h: NicHandle) -> Result<(), NetError> {
        let name = self.client(h.0)?.name.clone();
        let nic = self.nic_mut(h)?;
        if nic.notify_armed {
            nic.notify_armed = false;
            let path = nic.path.clone();
            self.events.push(Event::from(NicRxFilterChanged {
                name: Some(name),
                path,
            }));
        }
        Ok(())
    }

    /// QMP `query-rx-filter`: every NIC, or the one called `name`; each
    /// NIC queried may emit `NIC_RX_FILTER_CHANGED` again.
    pub fn query_rx_filter(&mut self, name: Option<&str>) -> Result<Vec<RxFilterInfo>, NetError> {
        let ids: Vec<ClientId> = match name {
            Some(n) => {
                let id = self
                    .lookup(n)
                    .ok_or_else(|| NetError::InvalidClientName(n.to_owned()))?;
                if self.client(id)?.kind != ClientKind::Nic {
                    return Err(NetError::NotNic(n.to_owned()));
                }
                vec![id]
            }
            None => self
                .clients()
                .filter(|&id| self.nic_handle(id).is_some())
                .collect(),
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let name = self.client(id)?.name.clone();
            let nic = self.nic_mut(NicHandle(id))?;
            nic.notify_armed = true;
            out.push(nic.rx_filter.info(&name, nic.mac));
        }
        Ok(out)
    }

    /// Sends one announce round: a RARP frame from every NIC, or from the
    /// NICs called in `interfaces`. Returns how many were sent.
    pub fn announce_round(&mut self, interfaces: Option<&[String]>) -> usize {
        let nics: Vec<(NicHandle, MacAddr)> = self
            .clients()
            .filter_map(|id| {
                let c = self.client(id).ok()?;
                let Endpoint::Nic(n) = &c.endpoint else {
                    return None;
                };
                let wanted = interfaces.map_or(true, |names| names.contains(&c.name));
                wanted.then_some((NicHandle(id), n.mac))
            })
            .collect();
        for &(h, mac) in &nics {
            let frame = super::announce::rarp_frame(mac);
            let _ = self.send_inner(h.0, &frame, false);
        }
        nics.len()
    }

    // ---- events --------------------------------------------------------

    /// Queues an event raised outside the core (a driver's), to go out
    /// with the core's own.
    pub fn push_event(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Takes the events emitted since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}
