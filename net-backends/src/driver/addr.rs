//! QEMU's `SocketAddress` (inet, unix, fd) to sockets, with QEMU's
//! texts where users know them (`util/qemu-sockets.c`).

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use qapi_runtime::qmp::NamedFds;
use qapi_runtime::Error;
use socket2::{Domain, SockAddr, Socket, Type};

use crate::qapi::{InetSocketAddress, SocketAddress, SocketAddressBranch, UnixSocketAddress};

/// `"{what}: {strerror}"`, QEMU's `error_setg_errno`.
pub(crate) fn errno_text(what: &str, e: &io::Error) -> Error {
    let os = e
        .raw_os_error()
        .map(|n| io::Error::from_raw_os_error(n).to_string())
        .unwrap_or_else(|| e.to_string());
    // std appends " (os error N)"; QEMU prints strerror alone.
    let os = match os.rfind(" (os error") {
        Some(i) => os[..i].to_owned(),
        None => os,
    };
    Error::generic(format!("{what}: {os}"))
}

/// An address as QEMU prints it in `info network` (`socket_uri`).
pub fn uri(addr: &SocketAddress) -> String {
    match &addr.r#type {
        SocketAddressBranch::Inet(i) => format!("tcp:{}:{}", i.host, i.port),
        SocketAddressBranch::Unix(u) => format!("unix:{}", u.path),
        SocketAddressBranch::Vsock(v) => format!("vsock:{}:{}", v.cid, v.port),
        SocketAddressBranch::Fd(f) => format!("fd:{}", f.str),
    }
}

/// A descriptor `fd=` / `addr.type=fd` names, as QEMU's
/// `monitor_fd_param` reads the parameter: a number, the caller's to hand
/// over, or a name QMP's `getfd` kept, taken out of the table (so it is
/// ours, and closed if the netdev fails).
#[derive(Debug)]
pub enum Inherited {
    /// A descriptor number, not owned until it is checked.
    Number(RawFd),
    /// A descriptor `getfd` passed.
    Named(OwnedFd),
}

impl Inherited {
    /// Its number.
    pub fn raw(&self) -> RawFd {
        match self {
            Inherited::Number(n) => *n,
            Inherited::Named(fd) => fd.as_raw_fd(),
        }
    }
}

/// Reads `param` as QEMU's `monitor_fd_param` does: a number; a text
/// starting with a digit that is no number ("Invalid file descriptor
/// number '3x'"); or a name, taken from `named`.
pub fn inherited_fd(param: &str, named: Option<&NamedFds>) -> Result<Inherited, Error> {
    match param.trim().parse::<RawFd>() {
        Ok(n) if n >= 0 => return Ok(Inherited::Number(n)),
        _ if param.starts_with(|c: char| c.is_ascii_digit()) => {
            return Err(Error::generic(format!(
                "Invalid file descriptor number '{param}'"
            )))
        }
        _ => {}
    }
    match named.and_then(|n| n.take(param)) {
        Some(fd) => Ok(Inherited::Named(fd)),
        None => Err(Error::generic(format!(
            "File descriptor named '{param}' has not been found"
        ))),
    }
}

/// An inherited descriptor, checked to be an open socket of type `ty`.
/// The netdev owns it from now on, as in QEMU.
pub fn inherited_socket(inherited: Inherited, ty: Type) -> Result<Socket, Error> {
    let fd = inherited.raw();
    let so_type = match socket_type(fd) {
        Ok(t) => t,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSOCK) => {
            return Err(Error::generic(format!("fd={fd} is not a socket")));
        }
        Err(e) => return Err(errno_text(&format!("fd={fd}"), &e)),
    };
    let want = libc::c_int::from(ty);
    if so_type != want {
        let (got, wanted) = (type_name(so_type), type_name(want));
        return Err(Error::generic(format!(
            "fd={fd} is a {got} socket, not a {wanted} one"
        )));
    }
    let owned = match inherited {
        // SAFETY: the descriptor is open (getsockopt succeeded) and, as in
        // QEMU, handed over to this netdev.
        Inherited::Number(n) => unsafe { OwnedFd::from_raw_fd(n) },
        Inherited::Named(fd) => fd,
    };
    let s = Socket::from(owned);
    s.set_cloexec(true).ok();
    s.set_nonblocking(true)
        .map_err(|e| errno_text(&format!("fd={fd}"), &e))?;
    Ok(s)
}

/// A descriptor's socket type (`SO_TYPE`): `SOCK_STREAM`, `SOCK_DGRAM`...
pub(crate) fn socket_type(fd: RawFd) -> io::Result<libc::c_int> {
    let mut so_type: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: reads an int option into a live int; a bad descriptor is
    // an error return.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut so_type as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(so_type)
}

fn type_name(t: libc::c_int) -> &'static str {
    match t {
        libc::SOCK_STREAM => "stream",
        libc::SOCK_DGRAM => "datagram",
        libc::SOCK_RAW => "raw",
        libc::SOCK_SEQPACKET => "seqpacket",
        _ => "other",
    }
}

/// The addresses an inet address resolves to, filtered by `ipv4` /
/// `ipv6`. An empty host means every local address when `passive`.
pub fn inet_resolve(a: &InetSocketAddress, passive: bool) -> Result<Vec<SocketAddr>, Error> {
    let port: u16 = a.port.parse().map_err(|_| {
        Error::generic(format!(
            "address resolution failed for {}:{}: Servname not supported for ai_socktype",
            a.host, a.port
        ))
    })?;
    let host = a.host.trim_start_matches('[').trim_end_matches(']');
    let found: Vec<SocketAddr> = if host.is_empty() && passive {
        vec![SocketAddr::from(([0, 0, 0, 0], port))]
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, port)]
    } else if a.numeric == Some(true) {
        return Err(Error::generic(format!(
            "address resolution failed for {}:{}: Name or service not known",
            a.host, a.port
        )));
    } else {
        (host, port)
            .to_socket_addrs()
            .map_err(|_| {
                Error::generic(format!(
                    "address resolution failed for {}:{}: Name or service not known",
                    a.host, a.port
                ))
            })?
            .collect()
    };
    let v4_only = a.ipv4 == Some(true) && a.ipv6 != Some(true) || a.ipv6 == Some(false);
    let v6_only = a.ipv6 == Some(true) && a.ipv4 != Some(true) || a.ipv4 == Some(false);
    let kept: Vec<SocketAddr> = found
        .into_iter()
        .filter(|s| !(v4_only && s.is_ipv6() || v6_only && s.is_ipv4()))
        .collect();
    if kept.is_empty() {
        return Err(Error::generic(format!(
            "address resolution failed for {}:{}: Address family for hostname not supported",
            a.host, a.port
        )));
    }
    Ok(kept)
}

/// A unix address: a path, or with `abstract` a name in Linux's abstract
/// namespace, padded to the whole `sun_path` unless `tight` (default on).
pub fn unix_sockaddr(u: &UnixSocketAddress) -> Result<SockAddr, Error> {
    if u.r#abstract != Some(true) {
        return SockAddr::unix(&u.path).map_err(|_| {
            Error::generic(format!(
                "UNIX socket path '{}' is too long (max {} bytes)",
                u.path,
                SUN_PATH_LEN - 1
            ))
        });
    }
    let name = u.path.as_bytes();
    if name.len() + 1 > SUN_PATH_LEN {
        return Err(Error::generic(format!(
            "UNIX socket path '{}' is too long (max {} bytes)",
            u.path,
            SUN_PATH_LEN - 1
        )));
    }
    let tight = u.tight != Some(false);
    let base = std::mem::size_of::<libc::sa_family_t>();
    let len = if tight {
        base + 1 + name.len()
    } else {
        base + SUN_PATH_LEN
    };
    // SAFETY: fills a zeroed sockaddr_un within its bounds and reports a
    // length no longer than it.
    let ((), addr) = unsafe {
        SockAddr::try_init(|storage, slen| {
            let sun = storage.cast::<libc::sockaddr_un>();
            (*sun).sun_family = libc::AF_UNIX as libc::sa_family_t;
            for (i, b) in name.iter().enumerate() {
                (*sun).sun_path[i + 1] = *b as libc::c_char;
            }
            *slen = len as libc::socklen_t;
            Ok(())
        })
    }
    .map_err(|e| errno_text("UNIX socket address", &e))?;
    Ok(addr)
}

const SUN_PATH_LEN: usize = 108;

/// A socket address as QAPI's `SocketAddress`, for events, as QEMU 7.2
/// sends them: inet host and port as numbers with `ipv4` or `ipv6` set,
/// unix paths (abstract names flagged).
pub fn to_qapi(sa: &SockAddr) -> SocketAddress {
    use crate::qapi::SocketAddressBranch as B;
    if let Some(s) = sa.as_socket() {
        return SocketAddress {
            r#type: B::Inet(InetSocketAddress {
                host: s.ip().to_string(),
                port: s.port().to_string(),
                numeric: None,
                to: None,
                // QEMU flags the family (`socket_sockaddr_to_address_inet`).
                ipv4: s.is_ipv4().then_some(true),
                ipv6: s.is_ipv6().then_some(true),
                keep_alive: None,
            }),
        };
    }
    let (path, abstract_) = if let Some(p) = sa.as_pathname() {
        (p.to_string_lossy().into_owned(), None)
    } else if let Some(n) = sa.as_abstract_namespace() {
        let n = n.split(|&b| b == 0).next().unwrap_or(&[]);
        (String::from_utf8_lossy(n).into_owned(), Some(true))
    } else {
        (String::new(), None)
    };
    SocketAddress {
        r#type: B::Unix(UnixSocketAddress {
            path,
            r#abstract: abstract_,
            tight: None,
        }),
    }
}

/// A fresh non-blocking, close-on-exec socket for `addr`'s family.
pub fn socket_for(addr: &SockAddr, ty: Type) -> io::Result<Socket> {
    let s = Socket::new(Domain::from(i32::from(addr.family())), ty.cloexec(), None)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Where a stream or datagram socket goes: resolved addresses, or an
/// inherited descriptor.
pub enum Target {
    /// Addresses to try in order (inet may resolve to several).
    Addrs(Vec<SockAddr>),
    /// `addr.type=fd`.
    Fd(String),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Addrs(a) => write!(f, "Addrs({} addresses)", a.len()),
            Target::Fd(s) => write!(f, "Fd({s})"),
        }
    }
}

/// Resolves a `SocketAddress` the stream and dgram drivers accept
/// (`driver` names them in the refusal of vsock).
pub fn resolve(addr: &SocketAddress, passive: bool, driver: &str) -> Result<Target, Error> {
    match &addr.r#type {
        SocketAddressBranch::Inet(i) => {
            let list = inet_resolve(i, passive)?;
            Ok(Target::Addrs(
                list.into_iter().map(SockAddr::from).collect(),
            ))
        }
        SocketAddressBranch::Unix(u) => Ok(Target::Addrs(vec![unix_sockaddr(u)?])),
        SocketAddressBranch::Fd(f) => Ok(Target::Fd(f.str.clone())),
        SocketAddressBranch::Vsock(_) => Err(Error::generic(format!(
            "netdev '{driver}': vsock addresses are not supported (only inet, unix and fd)"
        ))),
    }
}

/// The raw descriptor of a socket.
pub fn raw(s: &Socket) -> RawFd {
    s.as_raw_fd()
}
