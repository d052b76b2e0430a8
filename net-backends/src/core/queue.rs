//! A client's receive queue: QEMU's `net/queue.c`.
//!
//! A frame is queued when its receiver is already delivering, cannot
//! receive, or returned "busy" (0 in QEMU). The queue holds at most
//! `maxlen` frames that were sent without a completion; frames sent with a
//! completion are always kept (their sender pauses until the completion
//! fires), exactly as QEMU's `qemu_net_queue_append` does. Buffers of
//! delivered frames go back to a small pool, so a queue in steady state
//! does not allocate.

use std::collections::VecDeque;

use super::client::ClientId;

/// QEMU's default receive queue bound (`nq_maxlen`): 10,000 frames.
pub const NET_QUEUE_DEFAULT_MAXLEN: usize = 10_000;

/// How many spare frame buffers a queue keeps for reuse.
const POOL_MAX: usize = 256;

/// A queued frame.
#[derive(Debug)]
pub(crate) struct Packet {
    /// The client that sent it.
    pub(crate) sender: ClientId,
    /// Whether the sender waits for a completion.
    pub(crate) completion: bool,
    /// The bytes.
    pub(crate) data: Vec<u8>,
}

/// A bounded FIFO of frames waiting for their receiver.
#[derive(Debug)]
pub struct NetQueue {
    packets: VecDeque<Packet>,
    pool: Vec<Vec<u8>>,
    maxlen: usize,
    pub(crate) delivering: bool,
}

impl Default for NetQueue {
    fn default() -> Self {
        NetQueue::new(NET_QUEUE_DEFAULT_MAXLEN)
    }
}

impl NetQueue {
    /// An empty queue bounded at `maxlen` frames without a completion.
    pub fn new(maxlen: usize) -> Self {
        NetQueue {
            packets: VecDeque::new(),
            pool: Vec::new(),
            maxlen,
            delivering: false,
        }
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether no frame waits.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// The bound.
    pub fn maxlen(&self) -> usize {
        self.maxlen
    }

    /// Frames waiting that `sender` sent.
    pub fn count_from(&self, sender: ClientId) -> usize {
        self.packets.iter().filter(|p| p.sender == sender).count()
    }

    /// Appends a copy of `frame`; `false` when it is dropped because the
    /// queue is full and the sender wants no completion.
    pub(crate) fn append(&mut self, sender: ClientId, frame: &[u8], completion: bool) -> bool {
        if self.packets.len() >= self.maxlen && !completion {
            return false;
        }
        let mut data = self.pool.pop().unwrap_or_default();
        data.clear();
        data.extend_from_slice(frame);
        self.packets.push_back(Packet {
            sender,
            completion,
            data,
        });
        true
    }

    pub(crate) fn pop_front(&mut self) -> Option<Packet> {
        self.packets.pop_front()
    }

    pub(crate) fn push_front(&mut self, packet: Packet) {
        self.packets.push_front(packet);
    }

    /// Gives a frame buffer back for reuse.
    pub(crate) fn recycle(&mut self, data: Vec<u8>) {
        if self.pool.len() < POOL_MAX {
            self.pool.push(data);
        }
    }

    /// Removes every frame `from` sent (QEMU's `qemu_net_queue_purge`),
    /// keeping the others in order; `removed` sees each removed frame's
    /// sender and whether it wanted a completion.
    pub(crate) fn purge(
        &mut self,
        from: ClientId,
        mut removed: impl FnMut(ClientId, bool),
    ) -> usize {
        self.remove_where(|p| p.sender == from, &mut removed)
    }

    /// Removes every frame (the queue's owner is going away).
    pub(crate) fn clear(&mut self, mut removed: impl FnMut(ClientId, bool)) -> usize {
        self.remove_where(|_| true, &mut removed)
    }

    fn remove_where(
        &mut self,
        pred: impl Fn(&Packet) -> bool,
        removed: &mut impl FnMut(ClientId, bool),
    ) -> usize {
        let mut count = 0;
        for _ in 0..self.packets.len() {
            let Some(p) = self.packets.pop_front() else {
                break;
            };
            if pred(&p) {
                removed(p.sender, p.completion);
                count += 1;
                self.recycle(p.data);
            } else {
                self.packets.push_back(p);
            }
        }
        count
    }
}
