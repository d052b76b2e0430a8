//! Passing descriptors over a unix socket (SCM_RIGHTS), as a QMP client
//! does for `getfd`; the standard library's way is not stable yet.

use std::io;
use std::os::fd::RawFd;

/// Sends `bytes` on the unix socket `socket` with `fds` as ancillary data,
/// in one `sendmsg`; the number of bytes sent.
pub fn send_with_fds(socket: RawFd, bytes: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    const MAX_FDS: usize = 16;
    if fds.len() > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "at most 16 descriptors",
        ));
    }
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // u64 elements keep the control buffer aligned for `cmsghdr`.
    let mut control = [0u64; (64 + MAX_FDS * 4) / 8];
    // SAFETY: a zeroed msghdr is valid; the pointers set below outlive
    // the call, and `sendmsg` only reads through `iov_base`.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let len = std::mem::size_of_val(fds) as u32;
        msg.msg_control = control.as_mut_ptr().cast();
        // SAFETY: the control buffer has room for one header and
        // MAX_FDS descriptors; CMSG_FIRSTHDR of it is not null.
        unsafe {
            msg.msg_controllen = libc::CMSG_SPACE(len) as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(len) as _;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                len as usize,
            );
        }
    }
    // SAFETY: `msg` describes live buffers.
    let n = unsafe { libc::sendmsg(socket, &msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}
