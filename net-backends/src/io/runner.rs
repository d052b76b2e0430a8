//! The loop thread.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::{Events, Poller};
use crate::control::NetStack;

/// Runs a shared [`NetStack`]'s I/O on a thread of its own.
#[derive(Debug)]
pub struct IoLoop;

/// The running loop: stops (and joins) when dropped.
#[derive(Debug)]
pub struct LoopHandle {
    poller: Arc<Poller>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl IoLoop {
    /// Starts the loop thread for `stack`.
    pub fn spawn(stack: Arc<Mutex<NetStack>>) -> io::Result<LoopHandle> {
        let poller = stack
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .poller()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (poller, stop) = (poller.clone(), stop.clone());
            std::thread::Builder::new()
                .name("net-io".into())
                .spawn(move || run(&stack, &poller, &stop))?
        };
        Ok(LoopHandle {
            poller,
            stop,
            thread: Some(thread),
        })
    }
}

fn run(stack: &Mutex<NetStack>, poller: &Poller, stop: &AtomicBool) {
    let mut events = Events::with_capacity(256);
    while !stop.load(Ordering::Acquire) {
        let timeout = stack
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next_timeout();
        if let Err(e) = poller.wait(&mut events, timeout) {
            eprintln!("net-io: epoll_wait failed: {e}");
            return;
        }
        stack
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .turn(&events);
    }
}

impl LoopHandle {
    /// Stops the loop and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.poller.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LoopHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
