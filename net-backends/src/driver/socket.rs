//! `-netdev socket`: QEMU's legacy spelling of stream and datagram
//! sockets, IPv4 only.
//!
//! QEMU 9.0's semantics (`net/socket.c`), which this driver keeps:
//!
//! * exactly one of `fd=`, `listen=`, `connect=`, `mcast=`, `udp=` ("exactly
//!   one of listen=, connect=, mcast= or udp= is required", QEMU's text,
//!   which forgets `fd=`); `localaddr=` only with `mcast=` or `udp=`
//!   ("localaddr= is only valid with mcast= or udp="), and required with
//!   `udp=` ("localaddr= is mandatory with udp=");
//! * addresses are `host:port`, IPv4, parsed as QEMU's `parse_host_port`
//!   (see [`dgram`] for the host and port rules and texts);
//! * `listen=` serves one TCP client at a time and `connect=` connects
//!   once, both with QEMU's 4-byte length before each frame: they are the
//!   [`Stream`] driver without QMP events (the legacy driver sends none);
//!   the link is down while there is no connection;
//! * `udp=R` with `localaddr=L` binds `L` (`SO_REUSEADDR`) and sends to
//!   `R`; `mcast=G:P` joins the group (interface `localaddr=A`, an
//!   address alone, when given), loops its datagrams back and sends to the
//!   group: both are the [`dgram`] engine;
//! * `fd=N` uses an inherited socket: a stream one carries length-prefixed
//!   frames, a datagram one bare frames; any other type is QEMU's "socket
//!   type=T for fd=N must be either SOCK_DGRAM or SOCK_STREAM", a
//!   descriptor that is not open "ID: Can't use file descriptor N: Bad
//!   file descriptor", one that is no socket "can't get socket option
//!   SO_TYPE".
//!
//! Deliberate differences:
//!
//! * `info` for the stream modes is the stream driver's ("listening",
//!   "tcp:127.0.0.1:40000", "error: Failed to connect to ...") rather
//!   than QEMU's "socket: connection from ..."; a `connect=` that fails
//!   shows there instead of failing `netdev_add` (on loopback QEMU's
//!   non-blocking connect does not fail at once either);
//! * a datagram `fd=` sends with `send()` on the (connected) socket: QEMU
//!   sends to an all-zero IPv4 address there, which the kernel refuses
//!   for UDP;
//! * a descriptor number refused is left open (QEMU closes it for some
//!   refusals); a descriptor named by `getfd` is the netdev's, and
//!   closed when refused;
//! * ports must be whole numbers from 0 to 65535.

use qapi_runtime::qmp::NamedFds;
use qapi_runtime::Error;
use socket2::{Domain, SockAddr, Socket, Type};

use super::addr::{self, errno_text};
use super::dgram::{self, Datagram, Plain};
use super::stream::Stream;
use crate::core::Receiver;
use crate::qapi::{InetSocketAddress, NetdevSocketOptions, SocketAddress, SocketAddressBranch};

/// Opens a socket netdev: checks the options as QEMU does, then binds,
/// listens or joins now (so a busy port is `netdev_add`'s error); a
/// `connect=` connects in the background.
pub fn open(
    id: &str,
    options: &NetdevSocketOptions,
    named: Option<&NamedFds>,
) -> Result<Box<dyn Receiver>, Error> {
    let o = options;
    let given = [&o.fd, &o.listen, &o.connect, &o.mcast, &o.udp]
        .iter()
        .filter(|x| x.is_some())
        .count();
    if given != 1 {
        return Err(Error::generic(
            "exactly one of listen=, connect=, mcast= or udp= is required",
        ));
    }
    if o.localaddr.is_some() && o.mcast.is_none() && o.udp.is_none() {
        return Err(Error::generic(
            "localaddr= is only valid with mcast= or udp=",
        ));
    }
    if let Some(fd) = &o.fd {
        return open_fd(id, fd, named);
    }
    if let Some(listen) = &o.listen {
        let addr = dgram::parse_host_port(listen)?;
        let listener = tcp_listener(addr)?;
        return Ok(Box::new(Stream::listening(id, listener).quiet()));
    }
    if let Some(connect) = &o.connect {
        let addr = dgram::parse_host_port(connect)?;
        let s = Stream::client(id, &inet_address(addr), 0, None)?;
        return Ok(Box::new(s.quiet()));
    }
    if let Some(mcast) = &o.mcast {
        let group = dgram::parse_host_port(mcast)?;
        let local = match &o.localaddr {
            None => None,
            Some(l) => Some(dgram::inet_aton(l).ok_or_else(|| {
                Error::generic(format!("localaddr '{l}' is not a valid IPv4 address"))
            })?),
        };
        let sock = dgram::mcast_socket(group, local)?;
        let info = format!("socket: mcast={}:{}", group.ip(), group.port());
        return Ok(Box::new(Datagram::new(
            sock,
            Some(group.into()),
            Plain,
            info,
        )));
    }
    let udp = o.udp.as_deref().unwrap_or_default();
    let Some(localaddr) = &o.localaddr else {
        return Err(Error::generic("localaddr= is mandatory with udp="));
    };
    let laddr = dgram::parse_host_port(localaddr)?;
    let raddr = dgram::parse_host_port(udp)?;
    let sock = dgram::udp_socket(laddr)?;
    let info = format!("socket: udp={}:{}", raddr.ip(), raddr.port());
    Ok(Box::new(Datagram::new(
        sock,
        Some(raddr.into()),
        Plain,
        info,
    )))
}

/// `fd=N` (or a name `getfd` kept): a stream or a datagram socket, by its
/// `SO_TYPE`.
fn open_fd(id: &str, param: &str, named: Option<&NamedFds>) -> Result<Box<dyn Receiver>, Error> {
    let inherited = addr::inherited_fd(param, named)?;
    let fd = inherited.raw();
    // SAFETY: F_GETFL on any number only reads the descriptor's flags.
    if unsafe { libc::fcntl(fd, libc::F_GETFL) } < 0 {
        let e = std::io::Error::last_os_error();
        return Err(errno_text(
            &format!("{id}: Can't use file descriptor {fd}"),
            &e,
        ));
    }
    let Ok(so_type) = addr::socket_type(fd) else {
        return Err(Error::generic("can't get socket option SO_TYPE"));
    };
    match so_type {
        libc::SOCK_STREAM => {
            let sock = addr::inherited_socket(inherited, Type::STREAM)?;
            Ok(Box::new(Stream::connected(id, sock).quiet()))
        }
        libc::SOCK_DGRAM => {
            let sock = addr::inherited_socket(inherited, Type::DGRAM)?;
            let info = format!("socket: {}", dgram::fd_info(&sock));
            Ok(Box::new(Datagram::new(sock, None, Plain, info)))
        }
        t => Err(Error::generic(format!(
            "socket type={t} for fd={fd} must be either SOCK_DGRAM or SOCK_STREAM"
        ))),
    }
}

/// A listening TCP socket on `addr`, with QEMU's texts.
fn tcp_listener(addr: std::net::SocketAddrV4) -> Result<Socket, Error> {
    let s = Socket::new(Domain::IPV4, Type::STREAM.cloexec(), None)
        .map_err(|e| errno_text("can't create stream socket", &e))?;
    s.set_nonblocking(true)
        .map_err(|e| errno_text("can't create stream socket", &e))?;
    // QEMU's socket_set_fast_reuse; a failure only matters to bind.
    let _ = s.set_reuse_address(true);
    s.bind(&SockAddr::from(addr))
        .map_err(|e| errno_text(&format!("can't bind ip={} to socket", addr.ip()), &e))?;
    s.listen(0)
        .map_err(|e| errno_text("can't listen on socket", &e))?;
    Ok(s)
}

/// An inherited-descriptor address: how a socket made here is handed to
/// the stream driver, which owns it from then on.
fn inet_address(a: std::net::SocketAddrV4) -> SocketAddress {
    SocketAddress {
        r#type: SocketAddressBranch::Inet(InetSocketAddress {
            host: a.ip().to_string(),
            port: a.port().to_string(),
            numeric: Some(true),
            to: None,
            ipv4: Some(true),
            ipv6: None,
            keep_alive: None,
        }),
    }
}
