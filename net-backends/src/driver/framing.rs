//! The framing of `-netdev stream` and of `socket`'s TCP modes: every
//! frame is a 4-byte big-endian length, then the frame (QEMU's
//! `net_fill_rstate`). No vnet header.
//!
//! Both halves work in fixed buffers: the reader never allocates from a
//! length it read (a length over [`NET_BUFSIZE`] is refused before
//! anything is kept of it), and the writer batches every frame of a turn
//! into one `send`.

use std::io;

use socket2::Socket;

use super::FrameBatch;
use crate::core::NET_BUFSIZE;

/// Bytes the reader asks the kernel for at once; holds several largest
/// frames, so a partial one left at the end always fits.
pub const RX_BUFFER: usize = 256 * 1024;

/// Output kept before the driver answers busy and waits for the socket.
pub const TX_HIGH_WATER: usize = 1024 * 1024;

/// What a read produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Bytes arrived (frames may have been completed).
    Data,
    /// Nothing to read now.
    WouldBlock,
    /// The peer closed the connection.
    Closed,
}

/// Why a connection is dropped on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// The length prefix is larger than any frame can be.
    #[error("frame length {0} is larger than {max}", max = NET_BUFSIZE)]
    Oversized(u32),
}

/// The reading half: bytes in, whole frames out. The bytes are read
/// straight into the turn's [`FrameBatch`] and the frames marked where
/// they lie, so a frame is copied once on its way in (by the kernel);
/// only a partial frame left at the end of a turn waits here, in a
/// buffer sized once for the largest frame.
pub struct Deframer {
    tail: Vec<u8>,
}

/// Where parsing stands in the batch during one turn.
#[derive(Debug, Clone, Copy)]
pub struct Cursor {
    at: usize,
}

impl std::fmt::Debug for Deframer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deframer")
            .field("pending", &self.tail.len())
            .finish()
    }
}

impl Default for Deframer {
    fn default() -> Self {
        Deframer::new()
    }
}

impl Deframer {
    /// An empty reader.
    pub fn new() -> Self {
        Deframer {
            tail: Vec::with_capacity(NET_BUFSIZE + 4),
        }
    }

    /// Forgets a partial frame (a new connection starts clean).
    pub fn reset(&mut self) {
        self.tail.clear();
    }

    /// Bytes of an incomplete frame held between turns.
    pub fn pending(&self) -> usize {
        self.tail.len()
    }

    /// Starts a turn: the partial frame kept from the last one goes in
    /// front of what will be read.
    pub fn begin(&mut self, out: &mut FrameBatch) -> Cursor {
        let at = out.raw().len();
        out.extend_raw(&self.tail);
        self.tail.clear();
        Cursor { at }
    }

    /// Reads what the socket has (one `recv` of up to [`RX_BUFFER`]).
    pub fn read_from(&mut self, sock: &Socket, out: &mut FrameBatch) -> io::Result<ReadOutcome> {
        match out.recv_raw(sock, RX_BUFFER) {
            Ok(0) => Ok(ReadOutcome::Closed),
            Ok(_) => Ok(ReadOutcome::Data),
            Err(e) if super::would_block(&e) => Ok(ReadOutcome::WouldBlock),
            Err(e) => Err(e),
        }
    }

    /// Marks every complete frame read so far. An oversized length is an
    /// error: the connection must go (QEMU drops it too), and nothing was
    /// allocated for it.
    pub fn frames(
        &mut self,
        out: &mut FrameBatch,
        cur: &mut Cursor,
    ) -> Result<usize, FramingError> {
        let mut n = 0;
        loop {
            let avail = &out.raw()[cur.at..];
            if avail.len() < 4 {
                break;
            }
            let len = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]);
            if len as usize > NET_BUFSIZE {
                return Err(FramingError::Oversized(len));
            }
            let total = 4 + len as usize;
            if avail.len() < total {
                break;
            }
            out.mark(cur.at + 4, len as usize);
            cur.at += total;
            n += 1;
        }
        Ok(n)
    }

    /// Ends a turn: a partial frame at the end moves out of the batch,
    /// to go in front of the next turn's bytes.
    pub fn end(&mut self, out: &mut FrameBatch, cur: Cursor) {
        self.tail.extend_from_slice(&out.raw()[cur.at..]);
        out.truncate_raw(cur.at);
    }

    /// Feeds bytes from elsewhere (tests, a peer in memory): marks the
    /// complete frames in `out` and keeps a partial one.
    pub fn feed(&mut self, bytes: &[u8], out: &mut FrameBatch) -> Result<usize, FramingError> {
        let mut cur = self.begin(out);
        out.extend_raw(bytes);
        let r = self.frames(out, &mut cur);
        if r.is_ok() {
            self.end(out, cur);
        } else {
            out.truncate_raw(cur.at);
        }
        r
    }
}

/// The writing half: frames in, length-prefixed, out in as few sends as
/// the socket allows.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    head: usize,
}

impl Framer {
    /// An empty writer.
    pub fn new() -> Self {
        Framer::default()
    }

    /// Bytes waiting to be written.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.head
    }

    /// Whether more frames should wait (past [`TX_HIGH_WATER`]).
    pub fn full(&self) -> bool {
        self.pending() >= TX_HIGH_WATER
    }

    /// Appends one frame with its length.
    pub fn push(&mut self, frame: &[u8]) {
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(frame);
    }

    /// Drops what waits (the connection is gone).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
    }

    /// Writes as much as the socket takes; `Ok(true)` when all is out.
    pub fn write_to(&mut self, sock: &Socket) -> io::Result<bool> {
        while self.head < self.buf.len() {
            match sock.send(&self.buf[self.head..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.head += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if super::would_block(&e) => break,
                Err(e) => return Err(e),
            }
        }
        if self.head == self.buf.len() {
            self.buf.clear();
            self.head = 0;
            return Ok(true);
        }
        if self.head > self.buf.len() / 2 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_anywhere_come_out_whole() {
        let mut wire = Vec::new();
        let frames: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 60 + i as usize * 7]).collect();
        for f in &frames {
            wire.extend_from_slice(&(f.len() as u32).to_be_bytes());
            wire.extend_from_slice(f);
        }
        for chunk in [1, 3, 4, 5, 61, 1000] {
            let mut d = Deframer::new();
            let mut out = FrameBatch::default();
            for piece in wire.chunks(chunk) {
                d.feed(piece, &mut out).unwrap();
            }
            let got: Vec<&[u8]> = out.iter().collect();
            assert_eq!(got.len(), frames.len(), "chunk {chunk}");
            for (g, f) in got.iter().zip(&frames) {
                assert_eq!(*g, f.as_slice());
            }
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn an_oversized_length_is_refused_before_its_bytes_arrive() {
        let mut d = Deframer::new();
        let mut out = FrameBatch::default();
        assert_eq!(
            d.feed(&((NET_BUFSIZE as u32) + 1).to_be_bytes(), &mut out),
            Err(FramingError::Oversized(NET_BUFSIZE as u32 + 1))
        );
        let mut d = Deframer::new();
        assert_eq!(
            d.feed(&(NET_BUFSIZE as u32).to_be_bytes(), &mut out),
            Ok(0),
            "the largest frame is fine"
        );
        assert_eq!(d.pending(), 4);
    }

    #[test]
    fn the_largest_frames_pass_in_any_pieces() {
        let mut d = Deframer::new();
        let mut out = FrameBatch::default();
        let big = vec![7u8; NET_BUFSIZE];
        let mut wire = Vec::new();
        for _ in 0..5 {
            wire.extend_from_slice(&(big.len() as u32).to_be_bytes());
            wire.extend_from_slice(&big);
        }
        for piece in wire.chunks(10_001) {
            d.feed(piece, &mut out).unwrap();
        }
        assert_eq!(out.len(), 5);
        assert!(out.iter().all(|f| f == big.as_slice()));
    }
}
