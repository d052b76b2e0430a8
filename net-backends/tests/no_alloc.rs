//! The fast path allocates nothing per frame in steady state: a counting
//! global allocator watches NIC -> hub -> NIC traffic after a warm-up.
//! (`harness = false`: this binary's `main` is the only thread.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use net_backends::core::{MacAddr, Network, NicConfig, SendOutcome};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

fn count() {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
}

// SAFETY: forwards every call to the system allocator unchanged; it only
// counts allocations, which is what this test measures.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs without libtest (`harness = false`), so no other thread allocates
/// while counting.
fn main() {
    let mut net = Network::new();
    let p0 = net.add_hubport("p0", 0, None).unwrap();
    let p1 = net.add_hubport("p1", 0, None).unwrap();
    let a = net
        .add_nic("a", NicConfig::new(MacAddr([2, 0, 0, 0, 0, 1])), Some(p0))
        .unwrap();
    let b = net
        .add_nic("b", NicConfig::new(MacAddr([2, 0, 0, 0, 0, 2])), Some(p1))
        .unwrap();
    let mut buf = vec![0u8; 2048];
    for len in [64usize, 1500, 20] {
        let frame = vec![0x5a; len];
        // Warm-up: fill and drain the ring so every buffer exists.
        for _ in 0..1024 {
            net.nic_send(a, &frame).unwrap();
            net.nic_recv(b, &mut buf).unwrap();
        }
        for _ in 0..300 {
            net.nic_send(a, &frame).unwrap();
        }
        while net.nic_recv(b, &mut buf).unwrap().is_some() {}
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..10_000 {
            assert_eq!(net.nic_send(a, &frame).unwrap(), SendOutcome::Delivered);
            assert!(net.nic_recv(b, &mut buf).unwrap().is_some());
            let now = ALLOCS.load(Ordering::Relaxed);
            if now != before {
                eprintln!("DBG iter alloc {}", now - before);
            }
        }
        assert_eq!(
            ALLOCS.load(Ordering::Relaxed) - before,
            0,
            "{len}-byte frames"
        );
    }
    println!("no_alloc: 30,000 frames NIC -> hub -> NIC, 0 allocations");
}
