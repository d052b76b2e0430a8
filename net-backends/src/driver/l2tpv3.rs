//! `-netdev l2tpv3`: Ethernet over L2TPv3 (RFC 3931), over UDP or
//! straight over IP (protocol 115), IPv4 or IPv6. A static tunnel: no
//! control connection, both ends configured alike.
//!
//! QEMU 9.0's semantics (`net/l2tpv3.c`), which this driver keeps:
//!
//! * every frame goes out behind a header: with `udp=on` first 4 bytes
//!   `00 03 00 00` (version 3, a data message); then the session id
//!   (`txsession`, 4 bytes, big-endian); then the cookie (`txcookie`, 4
//!   bytes, or 8 with `cookie64=on`) when cookies are on; then a 4-byte
//!   counter with `counter=on` (1, 2, 3... and always 0 with
//!   `pincounter=on`); then `offset` bytes (zeros here);
//! * a datagram comes in only with our `rxsession` (default: `txsession`)
//!   and, when cookies are on, our `rxcookie`; others are dropped (and
//!   counted: `info` says how many, and why). The version word, the
//!   counter and the offset bytes are not checked, as in QEMU;
//! * `udp=on` needs `srcport` and `dstport` ("need both src and dst port
//!   for udp"); the socket is bound to `src`:`srcport` and sends to
//!   `dst`:`dstport`. Without `udp`, a raw IP socket of protocol 115
//!   bound to `src` sends to `dst` (root, or `CAP_NET_RAW`), and the
//!   ports are ignored; `ipv6=on` resolves both addresses as IPv6;
//! * cookies need both `rxcookie` and `txcookie` ("require both 'rxcookie'
//!   and 'txcookie' or neither"); `offset` is at most 256 ("offset must
//!   be less than 256 bytes");
//! * name resolution and socket errors are QEMU's texts: "could not
//!   resolve src, errno = Name or service not known", "socket creation
//!   failed, errno = 1", "could not bind socket err=98", "could not
//!   resolve dst, error = ...".
//!
//! Deliberate differences:
//!
//! * a raw IPv4 datagram's IP header is skipped by its length (IHL); QEMU
//!   assumes 20 bytes, so IP options there shift everything;
//! * frames up to the core's largest (69,632 bytes) are carried; QEMU's
//!   receive buffers hold 2,048 bytes and cut longer frames; a datagram
//!   too long for ours is dropped, never cut;
//! * `cookie64=off` is refused: QEMU takes *any* `cookie64` setting,
//!   `off` included, for 64-bit cookies, so its meaning would depend on
//!   whom one asks; leave it out for 32-bit cookies;
//! * `pincounter=on` without `counter=on` is refused: QEMU then writes
//!   its zero counter past its header and sends no counter field at all;
//! * a cookie over 32 bits without `cookie64=on` is refused (QEMU cuts
//!   the one it sends and can never match the one it expects);
//! * send errors are counted by the driver (frames are sent in batches
//!   at the end of the loop's turn) rather than answered per frame.

use std::ffi::{CStr, CString};

use qapi_runtime::Error;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::dgram::{Datagram, Encap, MAX_HEADER};
use crate::core::Receiver;
use crate::qapi::NetdevL2tPv3Options;

/// L2TPv3's IP protocol number (IANA).
pub const IPPROTO_L2TP: i32 = 115;

/// The first word of a data message over UDP: version 3, no flags.
const DATA_MESSAGE: u32 = 0x0003_0000;

/// The most IPv4 header a raw socket may hand us (IHL 15).
const MAX_IPV4_HEADER: usize = 60;

/// Where the fields of our header are and what they hold.
#[derive(Debug)]
struct L2tp {
    udp: bool,
    /// A raw IPv4 socket: received datagrams start with the IP header.
    raw_v4: bool,
    tx_session: u32,
    rx_session: u32,
    /// `(tx, rx, 64-bit)` when cookies are on.
    cookie: Option<(u64, u64, bool)>,
    counter: bool,
    pin_counter: bool,
    last_counter: u32,
    session_at: usize,
    cookie_at: usize,
    counter_at: usize,
    header_len: usize,
    drops: Drops,
}

/// What the receive side dropped, by reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Drops {
    session: u64,
    cookie: u64,
    short: u64,
    bad_ip: u64,
}

impl Encap for L2tp {
    fn header_len(&self) -> usize {
        self.header_len
    }

    fn write_header(&mut self, out: &mut [u8]) {
        out.fill(0);
        if self.udp {
            out[0..4].copy_from_slice(&DATA_MESSAGE.to_be_bytes());
        }
        let s = self.session_at;
        out[s..s + 4].copy_from_slice(&self.tx_session.to_be_bytes());
        if let Some((tx, _, is64)) = self.cookie {
            let c = self.cookie_at;
            if is64 {
                out[c..c + 8].copy_from_slice(&tx.to_be_bytes());
            } else {
                out[c..c + 4].copy_from_slice(&(tx as u32).to_be_bytes());
            }
        }
        if self.counter {
            let value = if self.pin_counter {
                0
            } else {
                self.last_counter = self.last_counter.wrapping_add(1);
                self.last_counter
            };
            let k = self.counter_at;
            out[k..k + 4].copy_from_slice(&value.to_be_bytes());
        }
    }

    fn rx_overhead(&self) -> usize {
        MAX_IPV4_HEADER + self.header_len
    }

    fn unwrap(&mut self, datagram: &[u8]) -> Option<(usize, usize)> {
        let skip = if self.raw_v4 {
            let Some(&first) = datagram.first() else {
                self.drops.bad_ip += 1;
                return None;
            };
            let ihl = usize::from(first & 0x0f) * 4;
            if first >> 4 != 4 || ihl < 20 || ihl > datagram.len() {
                self.drops.bad_ip += 1;
                return None;
            }
            ihl
        } else {
            0
        };
        let msg = &datagram[skip..];
        if msg.len() <= self.header_len {
            self.drops.short += 1;
            return None;
        }
        let s = self.session_at;
        let session = u32::from_be_bytes([msg[s], msg[s + 1], msg[s + 2], msg[s + 3]]);
        if session != self.rx_session {
            self.drops.session += 1;
            return None;
        }
        if let Some((_, rx, is64)) = self.cookie {
            let c = self.cookie_at;
            let got = if is64 {
                let mut b = [0u8; 8];
                b.copy_from_slice(&msg[c..c + 8]);
                u64::from_be_bytes(b)
            } else {
                u64::from(u32::from_be_bytes([
                    msg[c],
                    msg[c + 1],
                    msg[c + 2],
                    msg[c + 3],
                ]))
            };
            if got != rx {
                self.drops.cookie += 1;
                return None;
            }
        }
        Some((skip + self.header_len, msg.len() - self.header_len))
    }

    fn drops(&self, out: &mut Vec<String>) {
        let d = &self.drops;
        for (n, what) in [
            (d.session, "bad session"),
            (d.cookie, "bad cookie"),
            (d.short, "short"),
            (d.bad_ip, "bad IP header"),
        ] {
            if n > 0 {
                out.push(format!("{n} {what}"));
            }
        }
    }
}

/// `getaddrinfo` as QEMU calls it, the first answer; `Err` is
/// `gai_strerror`'s text.
fn lookup(host: &str, service: Option<&str>, ipv6: bool, udp: bool) -> Result<SockAddr, String> {
    let gai_text = |rc: libc::c_int| {
        // SAFETY: gai_strerror returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(libc::gai_strerror(rc)) }
            .to_string_lossy()
            .into_owned()
    };
    let chost = CString::new(host).map_err(|_| gai_text(libc::EAI_NONAME))?;
    let cservice = match service {
        Some(s) => Some(CString::new(s).map_err(|_| gai_text(libc::EAI_SERVICE))?),
        None => None,
    };
    // SAFETY: all-zero is a valid (empty) addrinfo hint.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = if ipv6 { libc::AF_INET6 } else { libc::AF_INET };
    if udp {
        hints.ai_socktype = libc::SOCK_DGRAM;
    } else {
        hints.ai_socktype = libc::SOCK_RAW;
        hints.ai_protocol = IPPROTO_L2TP;
    }
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: NUL-terminated strings and a hint that live across the
    // call; the result is freed below.
    let rc = unsafe {
        libc::getaddrinfo(
            chost.as_ptr(),
            cservice.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            &hints,
            &mut res,
        )
    };
    if rc != 0 || res.is_null() {
        return Err(gai_text(rc));
    }
    // SAFETY: getaddrinfo succeeded: `res` is a valid list whose first
    // entry's address is `ai_addrlen` bytes; it is copied into storage
    // at least that big, then the list is freed once.
    let copied = unsafe {
        let ai = &*res;
        let len = (ai.ai_addrlen as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
        let r = SockAddr::try_init(|storage, slen| {
            std::ptr::copy_nonoverlapping(ai.ai_addr.cast::<u8>(), storage.cast::<u8>(), len);
            *slen = len as libc::socklen_t;
            Ok(())
        });
        libc::freeaddrinfo(res);
        r
    };
    copied.map(|((), a)| a).map_err(|e| e.to_string())
}

/// Opens an l2tpv3 netdev: checks the options as QEMU does (same order,
/// same texts), binds `src` now.
pub fn open(_id: &str, options: &NetdevL2tPv3Options) -> Result<Box<dyn Receiver>, Error> {
    let o = options;
    let ipv6 = o.ipv6 == Some(true);
    let offset = o.offset.unwrap_or(0) as usize;
    if offset > 256 {
        return Err(Error::generic("offset must be less than 256 bytes"));
    }
    let cookies = match (o.txcookie, o.rxcookie) {
        (Some(tx), Some(rx)) => Some((tx, rx)),
        (None, None) => None,
        _ => {
            return Err(Error::generic(
                "require both 'rxcookie' and 'txcookie' or neither",
            ))
        }
    };
    if o.cookie64 == Some(false) {
        return Err(Error::generic(
            "cookie64=off is ambiguous (QEMU takes it for 64-bit cookies): \
             leave cookie64 out for 32-bit cookies, or set cookie64=on",
        ));
    }
    let cookie64 = o.cookie64 == Some(true);
    if let (Some((tx, rx)), false) = (cookies, cookie64) {
        for (name, v) in [("txcookie", tx), ("rxcookie", rx)] {
            if v > u64::from(u32::MAX) {
                return Err(Error::generic(format!(
                    "'{name}' {v} does not fit in 32 bits: set cookie64=on for 64-bit cookies"
                )));
            }
        }
    }
    let udp = o.udp == Some(true);
    let (srcport, dstport) = if udp {
        match (&o.srcport, &o.dstport) {
            (Some(s), Some(d)) => (Some(s.as_str()), Some(d.as_str())),
            _ => return Err(Error::generic("need both src and dst port for udp")),
        }
    } else {
        (None, None)
    };
    let counter = o.counter == Some(true);
    let pin_counter = o.pincounter == Some(true);
    if pin_counter && !counter {
        return Err(Error::generic(
            "pincounter=on needs counter=on (QEMU would send no counter field)",
        ));
    }

    let mut at = if udp { 4 } else { 0 };
    let session_at = at;
    at += 4;
    let cookie_at = at;
    if cookies.is_some() {
        at += if cookie64 { 8 } else { 4 };
    }
    let counter_at = at;
    if counter {
        at += 4;
    }
    let header_len = at + offset;
    if header_len > MAX_HEADER {
        return Err(Error::generic("offset must be less than 256 bytes"));
    }

    let src = lookup(&o.src, srcport, ipv6, udp)
        .map_err(|t| Error::generic(format!("could not resolve src, errno = {t}")))?;
    let domain = if ipv6 { Domain::IPV6 } else { Domain::IPV4 };
    let (ty, proto) = if udp {
        (Type::DGRAM, None)
    } else {
        (Type::RAW, Some(Protocol::from(IPPROTO_L2TP)))
    };
    let sock = Socket::new(domain, ty.cloexec(), proto).map_err(|e| {
        Error::generic(format!(
            "socket creation failed, errno = {}",
            e.raw_os_error().unwrap_or(0)
        ))
    })?;
    sock.bind(&src).map_err(|e| {
        Error::generic(format!(
            "could not bind socket err={}",
            e.raw_os_error().unwrap_or(0)
        ))
    })?;
    let dst = lookup(&o.dst, dstport, ipv6, udp)
        .map_err(|t| Error::generic(format!("could not resolve dst, error = {t}")))?;
    sock.set_nonblocking(true).map_err(|e| {
        Error::generic(format!(
            "socket creation failed, errno = {}",
            e.raw_os_error().unwrap_or(0)
        ))
    })?;
    let encap = L2tp {
        udp,
        raw_v4: !udp && !ipv6,
        tx_session: o.txsession,
        rx_session: o.rxsession.unwrap_or(o.txsession),
        cookie: cookies.map(|(tx, rx)| (tx, rx, cookie64)),
        counter,
        pin_counter,
        last_counter: 0,
        session_at,
        cookie_at,
        counter_at,
        header_len,
        drops: Drops::default(),
    };
    Ok(Box::new(Datagram::new(
        sock,
        Some(dst),
        encap,
        "l2tpv3: connected".to_owned(),
    )))
}
