//! epoll and an eventfd waker: the readiness source of the I/O loop.
//!
//! Level-triggered on purpose: a driver that stops reading (its peer is
//! busy) drops its read interest, and picks up exactly where it left off
//! when it asks again, with no edge to lose.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The token of the waker's eventfd (no driver can have it: see
/// [`Token`](crate::driver::Token)).
pub(crate) const WAKE_TOKEN: u64 = u64::MAX;

/// Which readiness a descriptor is watched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interest {
    /// Wake when it can be read (or accepted from).
    pub read: bool,
    /// Wake when it can be written (or a connect finished).
    pub write: bool,
}

impl Interest {
    /// Read only.
    pub const READ: Interest = Interest {
        read: true,
        write: false,
    };
    /// Write only.
    pub const WRITE: Interest = Interest {
        read: false,
        write: true,
    };
    /// Neither: registered, but silent (errors and hang-ups still wake).
    pub const NONE: Interest = Interest {
        read: false,
        write: false,
    };

    fn bits(self) -> u32 {
        let mut b = 0;
        if self.read {
            b |= libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32;
        }
        if self.write {
            b |= libc::EPOLLOUT as u32;
        }
        b
    }
}

/// What a descriptor is ready for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// Readable, or the peer hung up (a read will tell).
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// An error or hang-up is pending on the descriptor.
    pub error: bool,
}

impl Ready {
    fn from_bits(b: u32) -> Ready {
        let err = b & (libc::EPOLLERR as u32 | libc::EPOLLHUP as u32) != 0;
        Ready {
            read: b & (libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32) != 0 || err,
            write: b & libc::EPOLLOUT as u32 != 0,
            error: err,
        }
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// An epoll instance plus an eventfd that wakes it. Shared (`Arc`) by the
/// loop thread, which waits on it, and the drivers, which change their
/// interests from whatever thread holds the stack.
#[derive(Debug)]
pub struct Poller {
    epoll: OwnedFd,
    wake: OwnedFd,
    in_turn: AtomicBool,
}

/// Readiness events, reused from one wait to the next.
pub struct Events {
    buf: Vec<libc::epoll_event>,
    len: usize,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("len", &self.len).finish()
    }
}

impl Events {
    /// Room for `capacity` events per wait.
    pub fn with_capacity(capacity: usize) -> Events {
        Events {
            buf: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)],
            len: 0,
        }
    }

    /// The events of the last wait: token and readiness.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Ready)> + '_ {
        self.buf[..self.len].iter().map(|e| {
            let (bits, token) = (e.events, e.u64);
            (token, Ready::from_bits(bits))
        })
    }
}

impl Poller {
    /// A new epoll instance and waker.
    pub fn new() -> io::Result<Poller> {
        // SAFETY: plain syscalls; the descriptors are owned right away.
        let epoll = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        // SAFETY: as above.
        let wake = unsafe {
            OwnedFd::from_raw_fd(cvt(libc::eventfd(
                0,
                libc::EFD_CLOEXEC | libc::EFD_NONBLOCK,
            ))?)
        };
        let p = Poller {
            epoll,
            wake,
            in_turn: AtomicBool::new(false),
        };
        p.ctl(
            libc::EPOLL_CTL_ADD,
            p.wake.as_raw_fd(),
            WAKE_TOKEN,
            Interest::READ,
        )?;
        Ok(p)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: interest.bits(),
            u64: token,
        };
        // SAFETY: `ev` lives across the call; a bad fd is an error return.
        cvt(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    /// Watches `fd` under `token`.
    pub fn add(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    /// Changes what `fd` is watched for.
    pub fn modify(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    /// Stops watching `fd` (closing it does too).
    pub fn remove(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, Interest::NONE)
    }

    /// Waits for readiness, at most `timeout` (forever with `None`).
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let ms = match timeout {
            None => -1,
            Some(d) => {
                // Round up, so a deadline 0.3 ms away is not a busy loop.
                let ms = d.as_micros().div_ceil(1000);
                libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
            }
        };
        let cap = libc::c_int::try_from(events.buf.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: the buffer holds `cap` events.
        let n =
            unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), events.buf.as_mut_ptr(), cap, ms) };
        if n < 0 {
            events.len = 0;
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(e);
        }
        events.len = n as usize;
        Ok(())
    }

    /// Wakes a thread blocked in [`Poller::wait`].
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64; EAGAIN (counter full)
        // means a wake is pending anyway.
        unsafe {
            libc::write(
                self.wake.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            );
        }
    }

    /// Consumes pending wakes (the loop calls this on [`WAKE_TOKEN`]).
    pub(crate) fn drain_wake(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64.
        unsafe {
            libc::read(
                self.wake.as_raw_fd(),
                (&mut v as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            );
        }
    }

    /// Marks whether the loop thread is inside a turn (it flushes every
    /// driver's output at the end of one, so no wake is needed then).
    pub(crate) fn set_in_turn(&self, v: bool) {
        self.in_turn.store(v, Ordering::Release);
    }

    /// Asks the loop to flush output soon: a no-op inside a turn, a wake
    /// outside one (a device model sending from its own thread).
    pub fn output_pending(&self) {
        if !self.in_turn.load(Ordering::Acquire) {
            self.wake();
        }
    }
}
