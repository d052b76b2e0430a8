//! Ports for tests that hand an address to a server before it binds.

/// A port free for both TCP and UDP on 127.0.0.1.
///
/// Asking the kernel for port 0 and closing the socket is racy here: the
/// port comes from the ephemeral range, so any outgoing connection (ours
/// or QEMU's, from a test running in parallel) may take it before the test
/// binds it again. Ports below that range are never handed out by the
/// kernel, and a process-wide counter keeps the tests of one binary apart.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 10_000;
    let high = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .filter(|&h| h > LOW + 1_000)
        .unwrap_or(32_768);
    let span = high - LOW;
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (start + n) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port between {LOW} and {high}");
}
