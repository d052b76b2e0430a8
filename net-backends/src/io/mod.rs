//! The I/O loop: readiness from epoll, the drivers' turns, timers, and
//! the thread that runs it beside a QMP server.
//!
//! Threading model: a [`NetStack`](crate::control::NetStack) is owned by a
//! `Mutex`. The loop thread waits on the [`Poller`] without the lock, then
//! takes it for one turn (every ready descriptor, due timers, and every
//! driver's buffered output), then lets go. QMP commands and device models
//! take the same lock between turns. Frames never cross threads: the
//! fast path is one thread, one lock per turn, not per frame.

mod poller;
mod runner;

pub(crate) use poller::WAKE_TOKEN;
pub use poller::{Events, Interest, Poller, Ready};
pub use runner::{IoLoop, LoopHandle};
