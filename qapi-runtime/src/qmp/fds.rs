//! File descriptors passed over a QMP unix socket (SCM_RIGHTS), and the
//! named table QEMU's `getfd` and `closefd` keep them in.
//!
//! A client sends a descriptor as ancillary data with the bytes of a
//! `getfd` command; the server keeps it under the name the command gives,
//! and a later command takes it by that name (QEMU's `monitor_fd_param`:
//! `-netdev socket,fd=NAME`, `addr.type=fd` with `str: NAME`). Taking a
//! descriptor removes it from the table, as in QEMU: the taker owns it.
//!
//! Servers do this only when [`Config::fd_passing`](super::Config) is set;
//! otherwise the kernel closes descriptors sent to them, unread.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, Interest, ReadBuf};
use tokio::net::unix::OwnedReadHalf;

use crate::Error;

/// The descriptors `getfd` named, shared by a server's connections and by
/// whatever takes them (a service's commands).
#[derive(Debug, Clone, Default)]
pub struct NamedFds(Arc<Mutex<HashMap<String, OwnedFd>>>);

impl NamedFds {
    /// An empty table.
    pub fn new() -> NamedFds {
        NamedFds::default()
    }

    fn table(&self) -> MutexGuard<'_, HashMap<String, OwnedFd>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// QEMU's `monitor_add_fd`: keeps `fd` as `name`, closing a descriptor
    /// kept under that name before. Names starting with a digit would read
    /// as descriptor numbers, so they are refused (and `fd` is closed).
    pub fn add(&self, name: &str, fd: OwnedFd) -> Result<(), Error> {
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(Error::generic(
                "Parameter 'fdname' expects a name not starting with a digit",
            ));
        }
        self.table().insert(name.to_owned(), fd);
        Ok(())
    }

    /// Takes the descriptor kept as `name` (QEMU's `monitor_get_fd`): the
    /// caller owns it from now on.
    pub fn take(&self, name: &str) -> Option<OwnedFd> {
        self.table().remove(name)
    }

    /// QEMU's `closefd`.
    pub fn close(&self, name: &str) -> Result<(), Error> {
        match self.take(name) {
            Some(_closed) => Ok(()),
            None => Err(Error::generic(format!(
                "File descriptor named '{name}' not found"
            ))),
        }
    }

    /// The names kept, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.table().keys().cloned().collect();
        names.sort();
        names
    }
}

/// The descriptors that came with a connection's latest message that had
/// any: `getfd` takes the first, as QEMU's `qemu_chr_fe_get_msgfd` does.
/// A newer message with descriptors replaces (closes) those not taken.
#[derive(Debug, Default)]
pub(crate) struct Received(Mutex<Vec<OwnedFd>>);

impl Received {
    fn replace(&self, fds: Vec<OwnedFd>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = fds;
    }

    /// The first descriptor received, if any; the others are closed.
    pub(crate) fn take_first(&self) -> Option<OwnedFd> {
        let mut fds = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        if fds.is_empty() {
            None
        } else {
            Some(fds.swap_remove(0))
        }
    }
}

/// Descriptors accepted in one message; more are closed by the kernel
/// (`MSG_CTRUNC`). QEMU's socket chardev takes 16 (`TCP_MAX_FDS`).
const MAX_FDS: usize = 16;

/// The read half of a unix connection, read with `recvmsg` so that the
/// descriptors sent with the bytes land in `received`.
pub(crate) struct FdReader {
    half: OwnedReadHalf,
    received: Arc<Received>,
}

impl FdReader {
    pub(crate) fn new(half: OwnedReadHalf, received: Arc<Received>) -> FdReader {
        FdReader { half, received }
    }
}

impl AsyncRead for FdReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            ready!(this.half.as_ref().poll_read_ready(cx))?;
            let stream = this.half.as_ref();
            let fd = stream.as_raw_fd();
            let unfilled = buf.initialize_unfilled();
            match stream.try_io(Interest::READABLE, || recv_with_fds(fd, unfilled)) {
                Ok((n, fds)) => {
                    if !fds.is_empty() {
                        this.received.replace(fds);
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// One `recvmsg`: the bytes read and the descriptors that came with them,
/// owned (close-on-exec) from the moment they arrive.
fn recv_with_fds(fd: i32, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    // u64 elements keep the control buffer aligned for `cmsghdr`.
    const SPACE: usize = 64 + MAX_FDS * 4;
    let mut control = [0u64; SPACE / 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: zeroed msghdr is valid; the pointers set below outlive the
    // call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` describes writable buffers of the given sizes.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fds = Vec::new();
    // SAFETY: the CMSG_* walk stays within `msg_controllen` bytes the
    // kernel filled; every SCM_RIGHTS entry holds whole `c_int`s, each a
    // descriptor now open in this process and owned by nobody else.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let header = &*cmsg;
            if header.cmsg_level == libc::SOL_SOCKET && header.cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                let bytes = header.cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for i in 0..bytes / std::mem::size_of::<libc::c_int>() {
                    let raw = std::ptr::read_unaligned(data.add(i));
                    fds.push(OwnedFd::from_raw_fd(raw));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n as usize, fds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn pipe_end() -> OwnedFd {
        let (r, _w) = std::os::unix::net::UnixStream::pair().unwrap();
        OwnedFd::from(r)
    }

    #[test]
    fn names_follow_qemus_rules() {
        let fds = NamedFds::new();
        let err = fds.add("1a", pipe_end()).unwrap_err();
        assert_eq!(
            err.desc,
            "Parameter 'fdname' expects a name not starting with a digit"
        );
        fds.add("a", pipe_end()).unwrap();
        let second = pipe_end();
        let raw = second.as_raw_fd();
        fds.add("a", second).unwrap();
        assert_eq!(fds.names(), ["a"]);
        let taken = fds.take("a").unwrap();
        assert_eq!(
            taken.as_fd().as_raw_fd(),
            raw,
            "the newer one replaced the older"
        );
        assert!(fds.take("a").is_none());
        assert_eq!(
            fds.close("a").unwrap_err().desc,
            "File descriptor named 'a' not found"
        );
    }

    #[test]
    fn the_first_received_is_taken_and_the_rest_closed() {
        let received = Received::default();
        assert!(received.take_first().is_none());
        let (a, b) = (pipe_end(), pipe_end());
        let raw = a.as_raw_fd();
        received.replace(vec![a, b]);
        assert_eq!(received.take_first().unwrap().as_raw_fd(), raw);
        assert!(received.take_first().is_none());
    }
}
