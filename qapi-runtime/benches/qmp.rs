//! QMP throughput and latency: this crate's server against QEMU 7.2, in
//! the same run, with the same client (this crate's `Client`).
//!
//! ```text
//! cargo bench -p qapi-runtime --bench qmp [-- --seconds 2 --window 16]
//! ```
//!
//! Each server runs in a process of its own (ours: this binary started
//! again with `--serve`; QEMU: `qemu-system-x86_64 -M none` with one
//! `-qmp` monitor per client, since a QEMU monitor serves one client at
//! a time). For 1 and 8 clients, each client keeps `window` commands in
//! flight over its unix socket for `seconds`, and the bench reports
//! commands per second and the p50 / p99 time from sending a command to
//! reading its answer. Workloads: `query-version`, and `netdev_add` +
//! `netdev_del` of a hubport (two commands each round). Without QEMU,
//! only ours is measured.

#[path = "../examples/support/net_memory.rs"]
mod net_memory;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use net_backends::qapi::commands::{NetdevAdd, NetdevDel};
use net_backends::qapi::{Netdev, NetdevBranch, NetdevHubPortOptions};
use qapi_runtime::qmp::{Address, Client, ClientOptions, Config, Listener, Server};

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    QueryVersion,
    AddDel,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::QueryVersion => "query-version",
            Workload::AddDel => "netdev_add+netdev_del",
        }
    }
}

struct Figures {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        serve(&args[i + 1]);
        return;
    }
    let opt = |name: &str, default: f64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seconds = opt("--seconds", 2.0);
    let window = opt("--window", 16.0) as usize;
    let dir = tempfile::tempdir().expect("temporary directory");

    let ours = OurServer::start(dir.path());
    let qemu = Qemu::start(dir.path(), 8);
    if qemu.is_none() {
        eprintln!("qemu-system-x86_64 not found: measuring ours only");
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    println!("QMP over unix sockets, {window} commands in flight per client, {seconds} s per run");
    println!(
        "{:<22} {:>7} {:>8} | {:>12} {:>9} {:>9}",
        "workload", "clients", "server", "commands/s", "p50", "p99"
    );
    for workload in [Workload::QueryVersion, Workload::AddDel] {
        for clients in [1usize, 8] {
            let mut row: Vec<(&str, Figures)> = Vec::new();
            let our_paths = vec![ours.socket.clone(); clients];
            row.push((
                "ours",
                rt.block_on(measure(&our_paths, workload, window, seconds)),
            ));
            if let Some(q) = &qemu {
                let paths = q.sockets[..clients].to_vec();
                row.push((
                    "QEMU 7.2",
                    rt.block_on(measure(&paths, workload, window, seconds)),
                ));
            }
            for (name, f) in &row {
                println!(
                    "{:<22} {:>7} {:>8} | {:>12.0} {:>9} {:>9}",
                    workload.name(),
                    clients,
                    name,
                    f.per_second,
                    format!("{:.1?}", f.p50),
                    format!("{:.1?}", f.p99)
                );
            }
            if let [(_, o), (_, q)] = &row[..] {
                println!(
                    "{:<22} {:>7} {:>8} | {:>11.1}x {:>8.2}x {:>8.2}x   (ours / QEMU; latency: QEMU / ours)",
                    "",
                    "",
                    "ratio",
                    o.per_second / q.per_second,
                    q.p50.as_secs_f64() / o.p50.as_secs_f64(),
                    q.p99.as_secs_f64() / o.p99.as_secs_f64()
                );
            }
        }
    }
}

/// Runs `window` workers per client, each sending its next command when
/// the last one is answered.
async fn measure(paths: &[PathBuf], workload: Workload, window: usize, seconds: f64) -> Figures {
    let mut clients = Vec::new();
    for p in paths {
        clients.push(
            Client::connect_unix(p, ClientOptions::default())
                .await
                .expect("connect"),
        );
    }
    // Warm up, and start from a clean table.
    for c in &clients {
        for _ in 0..100 {
            c.execute_raw("query-version", None)
                .await
                .expect("query-version");
        }
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for (ci, c) in clients.iter().enumerate() {
        for w in 0..window {
            let c = c.clone();
            tasks.spawn(async move {
                let mut lat = Vec::with_capacity(4096);
                let mut round = 0u64;
                while Instant::now() < deadline {
                    match workload {
                        Workload::QueryVersion => {
                            let t = Instant::now();
                            c.execute_raw("query-version", None)
                                .await
                                .expect("query-version");
                            lat.push(t.elapsed());
                        }
                        Workload::AddDel => {
                            let id = format!("b{ci}-{w}-{round}");
                            let add = NetdevAdd(Netdev {
                                id: id.clone(),
                                r#type: NetdevBranch::Hubport(NetdevHubPortOptions {
                                    hubid: (ci * 100 + w) as i32,
                                    netdev: None,
                                }),
                            });
                            let t = Instant::now();
                            c.execute(&add).await.expect("netdev_add");
                            lat.push(t.elapsed());
                            let t = Instant::now();
                            c.execute(&NetdevDel { id }).await.expect("netdev_del");
                            lat.push(t.elapsed());
                        }
                    }
                    round += 1;
                }
                lat
            });
        }
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.expect("worker"));
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or_default()
    };
    Figures {
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

/// Our server (net.json in memory), in a child process.
struct OurServer {
    child: Child,
    socket: PathBuf,
}

impl OurServer {
    fn start(dir: &Path) -> OurServer {
        let socket = dir.join("ours.sock");
        let child = Command::new(std::env::current_exe().expect("this binary"))
            .arg("--serve")
            .arg(&socket)
            .stdin(Stdio::null())
            .spawn()
            .expect("start our server");
        wait_for(&socket);
        OurServer { child, socket }
    }
}

impl Drop for OurServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(path: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let server = Server::with_config(net_memory::NetService::default(), Config::default());
        let listener = Listener::bind(&Address::Unix(path.into()))
            .await
            .expect("bind");
        server.serve(listener).await.expect("serve");
    });
}

/// QEMU 7.2 with `n` QMP monitors.
struct Qemu {
    child: Child,
    sockets: Vec<PathBuf>,
}

impl Qemu {
    fn start(dir: &Path, n: usize) -> Option<Qemu> {
        let sockets: Vec<PathBuf> = (0..n).map(|i| dir.join(format!("qemu{i}.sock"))).collect();
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-M", "none", "-nodefaults", "-display", "none"]);
        for s in &sockets {
            cmd.arg("-qmp")
                .arg(format!("unix:{},server=on,wait=off", s.display()));
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        for s in &sockets {
            wait_for(s);
        }
        Some(Qemu { child, sockets })
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(socket: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "{} did not appear",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
