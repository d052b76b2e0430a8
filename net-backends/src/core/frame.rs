//! Frames: QEMU's size limits, MAC addresses and the short-frame padding
//! rule.

use std::fmt;
use std::str::FromStr;

/// The largest frame the core carries: QEMU's `NET_BUFSIZE`, 4096 + 65536
/// bytes. Larger frames are refused (QEMU drops them early in
/// `qemu_sendv_packet_async`).
pub const NET_BUFSIZE: usize = 4096 + 65536;

/// Ethernet's minimum frame length without the FCS (`ETH_ZLEN`): frames
/// shorter than this are padded with zeros for NICs that ask for it.
pub const ETH_ZLEN: usize = 60;

/// Length of a MAC address (`ETH_ALEN`).
pub const ETH_ALEN: usize = 6;

/// A frame the core refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Longer than [`NET_BUFSIZE`].
    #[error("frame of {len} bytes exceeds the largest frame size ({max} bytes)")]
    Oversized {
        /// The frame's length.
        len: usize,
        /// The limit, [`NET_BUFSIZE`].
        max: usize,
    },
}

/// Checks a frame's length against [`NET_BUFSIZE`].
pub fn check_len(len: usize) -> Result<(), FrameError> {
    if len > NET_BUFSIZE {
        Err(FrameError::Oversized {
            len,
            max: NET_BUFSIZE,
        })
    } else {
        Ok(())
    }
}

/// The length a frame has once padded: QEMU's `eth_pad_short_frame` raises
/// frames shorter than [`ETH_ZLEN`] to [`ETH_ZLEN`] when the receiver does
/// not opt out of padding.
pub fn padded_len(len: usize, pad: bool) -> usize {
    if pad && len < ETH_ZLEN {
        ETH_ZLEN
    } else {
        len
    }
}

/// Replaces `dst`'s contents with `frame`, zero-padded to [`ETH_ZLEN`] when
/// `pad` is set and the frame is short. Reuses `dst`'s allocation.
pub fn copy_padded(dst: &mut Vec<u8>, frame: &[u8], pad: bool) {
    dst.clear();
    dst.extend_from_slice(frame);
    let len = padded_len(frame.len(), pad);
    dst.resize(len, 0);
}

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; ETH_ALEN]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; ETH_ALEN]);

    /// The six octets.
    pub fn octets(&self) -> [u8; ETH_ALEN] {
        self.0
    }

    /// Whether the group bit is set (multicast or broadcast).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    /// QEMU's form: six lower-case two-digit hex octets joined by `:`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// A string that is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address '{0}'")]
pub struct MacParseError(pub String);

impl FromStr for MacAddr {
    type Err = MacParseError;

    /// Six hex octets separated by `:` or `-`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError(s.to_owned());
        let mut out = [0u8; ETH_ALEN];
        let mut parts = s.split([':', '-']);
        for octet in out.iter_mut() {
            let part = parts.next().ok_or_else(err)?;
            if part.is_empty() || part.len() > 2 {
                return Err(err());
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}
