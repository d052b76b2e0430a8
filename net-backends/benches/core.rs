//! In-process NIC -> hub -> NIC frames per second (issue 5's goal: at least
//! 10 million per core, no allocation per frame).
//!
//! Each iteration sends a batch of frames from NIC `a` through a two-port
//! hub into NIC `b`, whose device model takes them out of its receive ring.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use net_backends::core::{MacAddr, Network, NicConfig, NicHandle};

const BATCH: u64 = 128;

fn setup() -> (Network, NicHandle, NicHandle) {
    let mut net = Network::new();
    let p0 = net.add_hubport("p0", 0, None).unwrap();
    let p1 = net.add_hubport("p1", 0, None).unwrap();
    let mut cfg = NicConfig::new(MacAddr([2, 0, 0, 0, 0, 1]));
    cfg.rx_ring = 256;
    let a = net.add_nic("a", cfg.clone(), Some(p0)).unwrap();
    cfg.mac = MacAddr([2, 0, 0, 0, 0, 2]);
    let b = net.add_nic("b", cfg, Some(p1)).unwrap();
    (net, a, b)
}

fn nic_hub_nic(c: &mut Criterion) {
    let mut group = c.benchmark_group("nic_hub_nic");
    group.throughput(Throughput::Elements(BATCH));
    for len in [64usize, 1500] {
        let (mut net, a, b) = setup();
        let frame = vec![0x5au8; len];
        let mut sink = 0usize;
        group.bench_function(format!("{len}B"), |bench| {
            bench.iter_batched_ref(
                || (),
                |_| {
                    for _ in 0..BATCH {
                        let _ = net.nic_send(a, std::hint::black_box(&frame));
                    }
                    while let Ok(Some(n)) = net.nic_recv_with(b, |f| f.len()) {
                        sink = sink.wrapping_add(n);
                    }
                },
                BatchSize::SmallInput,
            );
        });
        std::hint::black_box(sink);
    }
    group.finish();
}

criterion_group!(benches, nic_hub_nic);
criterion_main!(benches);
