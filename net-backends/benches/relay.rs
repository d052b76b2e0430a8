//! The socket fast path: frames per second through a relay, over
//! loopback, with the sender and the receiver in processes of their own.
//!
//! ```text
//! sender ──▶ netdev a ──▶ hub 0 ──▶ netdev b ──▶ receiver
//!            └──────────── relay ───────────┘
//! ```
//!
//! Paths: `dgram -> hub -> dgram` (one frame per UDP datagram) and
//! `stream -> hub -> stream` (TCP, each frame behind a 4-byte big-endian
//! length), 64 and 1500-byte frames, through two relays in the same run:
//!
//! * **ours**: a [`NetStack`] run by [`IoLoop`], configured with QMP-style
//!   `netdev_add` commands through `commands::dispatch`, in a process of
//!   its own (this binary, re-executed with `--role relay-ours`);
//! * **QEMU**: `qemu-system-x86_64 -M none -nodefaults -display none` with
//!   the same netdevs on the command line.
//!
//! The sender blasts frames as fast as it can (dgram: `sendmmsg`, one
//! frame per datagram; stream: many length-prefixed frames per `write`).
//! The receiver checks every frame (its length, a marker, a sequence
//! number at the head and again at the tail), counts what *arrives* (UDP
//! on loopback drops when a reader is slow), and reports frames/s over a
//! window that starts a warm-up after its first frame. Each cell runs
//! several times (ours and QEMU alternating); the table gives the median
//! and the ratio ours/QEMU against the goals (dgram >= 1.5x, stream >= 3x).
//! A dgram relay that lost under 1% of the frames kept up with the sender:
//! its figure is shown as `>=` (the sender's pace, a lower bound). A run
//! in which frames stopped coming for 250 ms or more is reported as a
//! stall.
//!
//! The machine may be shared: before each run the bench waits for other
//! work to calm down, measures how much CPU other work used during the run
//! (`/proc/stat` minus its own processes), repeats a run that was noisy,
//! and says so in the table's footer.
//!
//! It also gives the in-process figure: NIC -> hub -> NIC through
//! [`Network`] on one thread (goal: >= 10M frames/s per core).
//!
//! Run: `cargo bench -p net-backends --bench relay` (about 3 minutes), or
//! `RELAY_BENCH_QUICK=1 cargo bench -p net-backends --bench relay` for a
//! smoke run. `-- --help` prints the knobs:
//!
//! | variable                | default            | meaning                                             |
//! |-------------------------|--------------------|-----------------------------------------------------|
//! | `RELAY_BENCH_QUICK=1`   | off                | 1 run per cell, 0.2 s warm-up, 0.5 s window         |
//! | `RELAY_BENCH_RUNS`      | 3 (quick: 1)       | runs per cell (the median is reported)              |
//! | `RELAY_BENCH_WARMUP_MS` | 500 (quick: 200)   | warm-up after the receiver's first frame            |
//! | `RELAY_BENCH_WINDOW_MS` | 2000 (quick: 500)  | measuring window                                    |
//! | `RELAY_BENCH_SIZES`     | `64,1500`          | frame sizes, bytes (32..=2048)                      |
//! | `RELAY_BENCH_PATHS`     | `dgram,stream,inproc` | which rows                                       |
//! | `RELAY_BENCH_RELAYS`    | `ours,qemu`        | which relays                                        |
//! | `RELAY_BENCH_QEMU`      | `qemu-system-x86_64` | the QEMU binary (`off`: ours only)                |
//! | `RELAY_BENCH_PIN=1`     | off                | pin the relay to CPU 1, sender and receiver to CPU 0 |
//! | `RELAY_BENCH_VERBOSE=1` | off                | the relays' events, counters and pids on stderr     |
//! | `RELAY_BENCH_SENDER_GSO=1` | off             | dgram sender with UDP GSO (one frame per datagram still) |
//! | `RELAY_BENCH_NOISE_PCT` | 15                 | other work over this % of the CPUs makes a run noisy |
//! | `RELAY_BENCH_RETRIES`   | 4 (quick: 0)       | times a noisy run is repeated                       |
//! | `RELAY_BENCH_QUIET_WAIT_S` | 60 (quick: 3)   | wait before each run for other work to calm down    |
//!
//! Without `--bench` on its command line (`cargo test --benches`) the
//! binary does nothing, so test runs do not start QEMU.
//!
//! Every child (relays, senders, receivers) dies with this process: they
//! are killed when their guard drops (also on panic), and they carry
//! `PR_SET_PDEATHSIG` for when this process is killed outright.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use net_backends::control::NetStack;
use net_backends::core::{MacAddr, Network, NicConfig};
use net_backends::io::IoLoop;
use net_backends::qapi::commands;
use net_backends::qapi::events::Event;
use qapi_runtime::event::Emitter;
use qapi_runtime::{Input, Output};
use serde_json::{json, Value};

const HELP: &str = "\
relay: frames/s through a relay (ours: net_backends, and QEMU 7.2), sender and
receiver in separate processes, over loopback; plus NIC -> hub -> NIC in process.

usage: cargo bench -p net-backends --bench relay [-- --help]

environment:
  RELAY_BENCH_QUICK=1       smoke run: 1 run per cell, 0.2 s warm-up, 0.5 s window
  RELAY_BENCH_RUNS=N        runs per cell, median reported (default 3; quick 1)
  RELAY_BENCH_WARMUP_MS=N   warm-up after the receiver's first frame (default 500)
  RELAY_BENCH_WINDOW_MS=N   measuring window (default 2000)
  RELAY_BENCH_SIZES=a,b     frame sizes in bytes, 32..=2048 (default 64,1500)
  RELAY_BENCH_PATHS=...     rows among dgram,stream,inproc (default all)
  RELAY_BENCH_RELAYS=...    relays among ours,qemu (default both)
  RELAY_BENCH_QEMU=PATH     QEMU binary (default qemu-system-x86_64; 'off' = ours only)
  RELAY_BENCH_PIN=1         pin the relay to CPU 1, sender and receiver to CPU 0
  RELAY_BENCH_VERBOSE=1     relay events, counters and pids on stderr
  RELAY_BENCH_SENDER_GSO=1  the dgram sender uses UDP GSO (still one frame per datagram,
                            cheaper per datagram): for when a relay outruns sendmmsg
  RELAY_BENCH_NOISE_PCT=N   a run during which other work used more than N% of the
                            CPUs is noisy: repeated (default 15)
  RELAY_BENCH_RETRIES=N     times a noisy run is repeated (default 4; quick 0)
  RELAY_BENCH_QUIET_WAIT_S=N  before each run, wait up to N s for other work to
                            fall under the noise level (default 60; quick 3)
";

/// Frames the dgram sender hands `sendmmsg` at once, and the receiver
/// asks `recvmmsg` for.
const MMSG: usize = 64;
/// Bytes the stream sender writes per call.
const STREAM_CHUNK: usize = 128 * 1024;
/// Largest frame the bench makes (a datagram buffer's size).
const MAX_FRAME: usize = 2048;
/// How long to wait for a relay or a receiver to come up.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// A silence this long (ms) after the first frame is reported as a stall.
const STALL_MS: u64 = 250;
/// How long the receiver waits for its first frame.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(15);

const ETHERTYPE: [u8; 2] = [0x88, 0xb5];
const MAGIC: [u8; 4] = *b"RLYB";
const TAIL_KEY: u64 = 0x5a5a_c3c3_0f0f_9696;

// ---------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------

/// A frame of `size` bytes: Ethernet header (ethertype 0x88b5), "RLYB",
/// its sequence number (LE u64 at 18), its length (LE u32 at 26), and the
/// sequence again, keyed, in its last 8 bytes.
fn make_frame(size: usize) -> Vec<u8> {
    let mut f = vec![0u8; size];
    f[..6].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    f[6..12].copy_from_slice(&[0x52, 0x54, 0, 0xab, 0xcd, 0xef]);
    f[12..14].copy_from_slice(&ETHERTYPE);
    f[14..18].copy_from_slice(&MAGIC);
    f[26..30].copy_from_slice(&(size as u32).to_le_bytes());
    for (i, b) in f[30..size - 8].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31);
    }
    f
}

fn stamp(f: &mut [u8], seq: u64) {
    let n = f.len();
    f[18..26].copy_from_slice(&seq.to_le_bytes());
    f[n - 8..].copy_from_slice(&(seq ^ TAIL_KEY).to_le_bytes());
}

/// The sequence number of a well-formed frame of `size` bytes.
fn check(f: &[u8], size: usize) -> Option<u64> {
    if f.len() != size
        || f[12..14] != ETHERTYPE
        || f[14..18] != MAGIC
        || f[26..30] != (size as u32).to_le_bytes()
    {
        return None;
    }
    let seq = u64::from_le_bytes(f[18..26].try_into().ok()?);
    let tail = u64::from_le_bytes(f[size - 8..].try_into().ok()?);
    (tail == seq ^ TAIL_KEY).then_some(seq)
}

// ---------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Dgram,
    Stream,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Dgram => "dgram",
            Kind::Stream => "stream",
        }
    }

    fn parse(s: &str) -> Kind {
        match s {
            "dgram" => Kind::Dgram,
            "stream" => Kind::Stream,
            _ => panic!("unknown kind {s}"),
        }
    }

    fn path(self) -> &'static str {
        match self {
            Kind::Dgram => "dgram-hub-dgram",
            Kind::Stream => "stream-hub-stream",
        }
    }

    /// ours/QEMU wanted.
    fn goal(self) -> f64 {
        match self {
            Kind::Dgram => 1.5,
            Kind::Stream => 3.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Relay {
    Ours,
    Qemu,
}

impl Relay {
    fn name(self) -> &'static str {
        match self {
            Relay::Ours => "ours",
            Relay::Qemu => "qemu",
        }
    }
}

struct Config {
    quick: bool,
    runs: usize,
    warmup: Duration,
    window: Duration,
    inproc_time: Duration,
    sizes: Vec<usize>,
    kinds: Vec<Kind>,
    inproc: bool,
    relays: Vec<Relay>,
    qemu: Option<String>,
    pin: bool,
    verbose: bool,
    /// Other work over this share of the CPUs makes a run noisy.
    noise: f64,
    /// How often a noisy run is repeated.
    retries: usize,
    /// How long to wait for a quiet machine before each run.
    quiet_wait: Duration,
    /// The dgram sender sends with UDP GSO (still one frame per datagram).
    sender_gso: bool,
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        Err(_) => default,
    }
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

impl Config {
    fn from_env() -> Config {
        let quick = env_flag("RELAY_BENCH_QUICK");
        let runs = env_num("RELAY_BENCH_RUNS", if quick { 1 } else { 3 }).max(1) as usize;
        let warmup = Duration::from_millis(env_num(
            "RELAY_BENCH_WARMUP_MS",
            if quick { 200 } else { 500 },
        ));
        let window = Duration::from_millis(
            env_num("RELAY_BENCH_WINDOW_MS", if quick { 500 } else { 2000 }).max(10),
        );
        let sizes: Vec<usize> = env_list("RELAY_BENCH_SIZES", "64,1500")
            .iter()
            .map(|s| {
                let n: usize = s.parse().unwrap_or_else(|_| panic!("bad size {s}"));
                assert!(
                    (32..=MAX_FRAME).contains(&n),
                    "size {n} not in 32..={MAX_FRAME}"
                );
                n
            })
            .collect();
        let paths = env_list("RELAY_BENCH_PATHS", "dgram,stream,inproc");
        let kinds = [Kind::Dgram, Kind::Stream]
            .into_iter()
            .filter(|k| paths.iter().any(|p| p == k.name()))
            .collect();
        let relays_s = env_list("RELAY_BENCH_RELAYS", "ours,qemu");
        let mut relays: Vec<Relay> = [Relay::Ours, Relay::Qemu]
            .into_iter()
            .filter(|r| relays_s.iter().any(|s| s == r.name()))
            .collect();
        let qemu = match std::env::var("RELAY_BENCH_QEMU") {
            Ok(v) if ["off", "0", "none", ""].contains(&v.as_str()) => None,
            Ok(v) => Some(v),
            Err(_) => Some("qemu-system-x86_64".to_owned()),
        };
        if qemu.is_none() {
            relays.retain(|&r| r != Relay::Qemu);
        }
        Config {
            quick,
            runs,
            warmup,
            window,
            inproc_time: Duration::from_millis(if quick { 200 } else { 1000 }),
            sizes,
            kinds,
            inproc: paths.iter().any(|p| p == "inproc"),
            relays,
            qemu,
            pin: env_flag("RELAY_BENCH_PIN"),
            verbose: env_flag("RELAY_BENCH_VERBOSE"),
            noise: env_num("RELAY_BENCH_NOISE_PCT", 15) as f64 / 100.0,
            sender_gso: env_flag("RELAY_BENCH_SENDER_GSO"),
            retries: env_num("RELAY_BENCH_RETRIES", if quick { 0 } else { 4 }) as usize,
            quiet_wait: Duration::from_secs(env_num(
                "RELAY_BENCH_QUIET_WAIT_S",
                if quick { 3 } else { 60 },
            )),
        }
    }
}

// ---------------------------------------------------------------------
// Children
// ---------------------------------------------------------------------

/// A child process, killed (and reaped) when dropped.
struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Option<mpsc::Receiver<String>>,
    stderr: Option<Arc<Mutex<String>>>,
}

impl Proc {
    /// Spawns `cmd` with stdin and stdout piped (stdout read line by line
    /// on a thread), dying with us, pinned to `cpu` if given; stderr is
    /// captured when `capture_stderr`, else inherited.
    fn spawn(
        name: &str,
        mut cmd: Command,
        cpu: Option<usize>,
        capture_stderr: bool,
    ) -> Result<Proc, String> {
        let parent = std::process::id() as libc::pid_t;
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        cmd.stderr(if capture_stderr {
            Stdio::piped()
        } else {
            Stdio::inherit()
        });
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                if let Some(cpu) = cpu {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(cpu, &mut set);
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdin = child.stdin.take();
        let lines = child.stdout.take().map(|out| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        let stderr = child.stderr.take().map(|mut err| {
            let buf = Arc::new(Mutex::new(String::new()));
            let sink = buf.clone();
            std::thread::spawn(move || {
                let mut s = String::new();
                let _ = err.read_to_string(&mut s);
                sink.lock().unwrap().push_str(&s);
            });
            buf
        });
        Ok(Proc {
            name: name.to_owned(),
            child,
            stdin,
            lines,
            stderr,
        })
    }

    /// Waits for a stdout line starting with one of `want`.
    fn expect(&mut self, want: &[&str], timeout: Duration) -> Result<String, String> {
        let end = Instant::now() + timeout;
        let rx = self.lines.as_ref().expect("stdout piped");
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) if want.iter().any(|w| line.starts_with(w)) => return Ok(line),
                Ok(line) => {
                    if line.starts_with("ERROR") {
                        return Err(format!("{}: {}", self.name, line));
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if Instant::now() >= end {
                        return Err(format!("{}: no {:?} within {:?}", self.name, want, timeout));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    return Err(format!(
                        "{} exited ({}) before {:?}{}",
                        self.name,
                        status.map_or("?".into(), |s| s.to_string()),
                        want,
                        self.stderr_text()
                    ));
                }
            }
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn stderr_text(&self) -> String {
        let Some(s) = &self.stderr else {
            return String::new();
        };
        // Give the reader thread a moment to collect what a dead child wrote.
        std::thread::sleep(Duration::from_millis(50));
        let s = s.lock().unwrap();
        if s.trim().is_empty() {
            String::new()
        } else {
            format!(": {}", s.trim())
        }
    }

    /// Closes stdin (ours stops on EOF) and gives it `grace` to exit.
    fn finish(mut self, grace: Duration) {
        drop(self.stdin.take());
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if self.exited().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn self_cmd(role: &str, kv: &[(&str, String)]) -> Command {
    // This very binary even when cargo replaced the file meanwhile (another
    // build of the tree): /proc/self/exe of the forked child is our image.
    let exe = if std::path::Path::new("/proc/self/exe").exists() {
        std::path::PathBuf::from("/proc/self/exe")
    } else {
        std::env::current_exe().expect("current_exe")
    };
    let mut cmd = Command::new(exe);
    cmd.arg("--role").arg(role);
    for (k, v) in kv {
        cmd.arg(format!("{k}={v}"));
    }
    cmd
}

// ---------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------

/// `n` distinct ports free on 127.0.0.1 right now.
fn free_ports(kind: Kind, n: usize) -> Vec<u16> {
    let mut udp = Vec::new();
    let mut tcp = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..n {
        let p = match kind {
            Kind::Dgram => {
                let s = UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
                let p = s.local_addr().unwrap().port();
                udp.push(s);
                p
            }
            Kind::Stream => {
                let s = TcpListener::bind("127.0.0.1:0").expect("a free TCP port");
                let p = s.local_addr().unwrap().port();
                tcp.push(s);
                p
            }
        };
        ports.push(p);
    }
    ports
}

/// Whether something is bound to 127.0.0.1:`port` (UDP) or listens on it
/// (TCP), read from /proc/net so the probe cannot take the port itself.
fn port_bound(kind: Kind, port: u16) -> bool {
    let (file, listen_only) = match kind {
        Kind::Dgram => ("/proc/net/udp", false),
        Kind::Stream => ("/proc/net/tcp", true),
    };
    let Ok(text) = std::fs::read_to_string(file) else {
        return false;
    };
    let want = format!(":{port:04X}");
    text.lines().skip(1).any(|l| {
        let mut f = l.split_whitespace();
        let local = f.nth(1).unwrap_or("");
        let state = f.nth(1).unwrap_or("");
        local.ends_with(&want) && (!listen_only || state == "0A")
    })
}

// ---------------------------------------------------------------------
// Relays
// ---------------------------------------------------------------------

/// The `netdev_add` arguments of a relay: `a` and `b` joined by hub 0.
fn netdev_commands(kind: Kind, ports: &[u16]) -> Vec<Value> {
    let inet = |p: u16| json!({"type": "inet", "host": "127.0.0.1", "port": p.to_string()});
    let mut cmds = match kind {
        Kind::Dgram => vec![
            json!({"type": "dgram", "id": "a", "local": inet(ports[0]), "remote": inet(ports[1])}),
            json!({"type": "dgram", "id": "b", "local": inet(ports[2]), "remote": inet(ports[3])}),
        ],
        Kind::Stream => vec![
            json!({"type": "stream", "id": "a", "server": true, "addr": inet(ports[0])}),
            json!({"type": "stream", "id": "b", "server": true, "addr": inet(ports[1])}),
        ],
    };
    cmds.push(json!({"type": "hubport", "id": "h1", "hubid": 0, "netdev": "a"}));
    cmds.push(json!({"type": "hubport", "id": "h2", "hubid": 0, "netdev": "b"}));
    cmds
}

fn qemu_args(kind: Kind, ports: &[u16]) -> Vec<String> {
    let mut args: Vec<String> = ["-M", "none", "-nodefaults", "-display", "none"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let inet = |prefix: &str, p: u16| {
        format!("{prefix}.type=inet,{prefix}.host=127.0.0.1,{prefix}.port={p}")
    };
    match kind {
        Kind::Dgram => {
            for (id, l, r) in [("a", ports[0], ports[1]), ("b", ports[2], ports[3])] {
                args.push("-netdev".into());
                args.push(format!(
                    "dgram,id={id},{},{}",
                    inet("local", l),
                    inet("remote", r)
                ));
            }
        }
        Kind::Stream => {
            for (id, p) in [("a", ports[0]), ("b", ports[1])] {
                args.push("-netdev".into());
                args.push(format!("stream,id={id},server=on,{}", inet("addr", p)));
            }
        }
    }
    for (id, nd) in [("h1", "a"), ("h2", "b")] {
        args.push("-netdev".into());
        args.push(format!("hubport,id={id},hubid=0,netdev={nd}"));
    }
    args
}

/// Starts a relay on `ports` and waits until it listens.
fn start_relay(cfg: &Config, relay: Relay, kind: Kind, ports: &[u16]) -> Result<Proc, String> {
    let cpu = cfg.pin.then_some(1);
    match relay {
        Relay::Ours => {
            let ports_s = ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let cmd = self_cmd(
                "relay-ours",
                &[
                    ("kind", kind.name().to_owned()),
                    ("ports", ports_s),
                    ("verbose", u8::from(cfg.verbose).to_string()),
                ],
            );
            let mut p = Proc::spawn("relay-ours", cmd, cpu, false)?;
            p.expect(&["READY"], START_TIMEOUT)?;
            Ok(p)
        }
        Relay::Qemu => {
            let bin = cfg.qemu.as_deref().unwrap_or("qemu-system-x86_64");
            let mut cmd = Command::new(bin);
            cmd.args(qemu_args(kind, ports));
            let mut p = Proc::spawn("qemu", cmd, cpu, true)?;
            let listening: Vec<u16> = match kind {
                Kind::Dgram => vec![ports[0], ports[2]],
                Kind::Stream => ports.to_vec(),
            };
            let end = Instant::now() + START_TIMEOUT;
            while !listening.iter().all(|&q| port_bound(kind, q)) {
                if let Some(st) = p.exited() {
                    return Err(format!("qemu exited ({st}){}", p.stderr_text()));
                }
                if Instant::now() > end {
                    return Err(format!(
                        "qemu: ports {listening:?} not bound within {START_TIMEOUT:?}"
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(p)
        }
    }
}

/// What a receiver measured.
#[derive(Debug, Clone, Default)]
struct Sample {
    fps: f64,
    frames: u64,
    total: u64,
    bad: u64,
    gaps: u64,
    reordered: u64,
    silence_ms: u64,
    /// Share of the CPUs other work used during the run.
    noise: f64,
}

fn parse_result(line: &str) -> Result<Sample, String> {
    let kv: HashMap<&str, &str> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.split_once('='))
        .collect();
    if let Some(e) = kv.get("error") {
        return Err(format!("receiver: {}", e.replace('_', " ")));
    }
    let num = |k: &str| -> Result<f64, String> {
        kv.get(k)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("receiver: no {k} in {line:?}"))
    };
    Ok(Sample {
        fps: num("fps")?,
        frames: num("frames")? as u64,
        total: num("total")? as u64,
        bad: num("bad")? as u64,
        gaps: num("gaps")? as u64,
        reordered: num("reordered")? as u64,
        silence_ms: num("silence_ms")? as u64,
        noise: 0.0,
    })
}

/// One measurement: relay, receiver, sender; the receiver's figure.
fn run_cell(cfg: &Config, relay: Relay, kind: Kind, size: usize) -> Result<Sample, String> {
    let nports = match kind {
        Kind::Dgram => 4,
        Kind::Stream => 2,
    };
    // A port taken between our probe and the relay's bind: try again.
    let mut attempt = 0;
    let (relay_proc, ports) = loop {
        let ports = free_ports(kind, nports);
        match start_relay(cfg, relay, kind, &ports) {
            Ok(p) => break (p, ports),
            Err(e) if attempt < 2 && e.contains("in use") => {
                eprintln!("  ({e}; retrying with other ports)");
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    let cpu = cfg.pin.then_some(0);
    let (rx_port, tx_port, tx_src) = match kind {
        Kind::Dgram => (ports[3], ports[0], ports[1]),
        Kind::Stream => (ports[1], ports[0], 0),
    };
    let common = |port: u16| {
        vec![
            ("kind", kind.name().to_owned()),
            ("size", size.to_string()),
            ("port", port.to_string()),
        ]
    };
    let mut rkv = common(rx_port);
    rkv.push(("warmup_ms", cfg.warmup.as_millis().to_string()));
    rkv.push(("window_ms", cfg.window.as_millis().to_string()));
    let mut receiver = Proc::spawn("receiver", self_cmd("receiver", &rkv), cpu, false)?;
    receiver.expect(&["READY"], START_TIMEOUT)?;
    if kind == Kind::Stream {
        // Let the relay accept the receiver before frames flow (frames to
        // an unconnected stream are dropped; the receiver would only
        // start later).
        std::thread::sleep(Duration::from_millis(50));
    }
    let limit = cfg.warmup + cfg.window + FIRST_FRAME_TIMEOUT + Duration::from_secs(10);
    let mut skv = common(tx_port);
    skv.push(("src", tx_src.to_string()));
    skv.push(("secs", limit.as_secs().to_string()));
    skv.push(("gso", u8::from(cfg.sender_gso).to_string()));
    let sender = Proc::spawn("sender", self_cmd("sender", &skv), cpu, false)?;
    if cfg.verbose {
        eprintln!(
            "  pids: relay {} receiver {} sender {}",
            relay_proc.child.id(),
            receiver.child.id(),
            sender.child.id()
        );
    }
    let line = receiver.expect(&["RESULT"], limit);
    drop(sender);
    relay_proc.finish(Duration::from_millis(if cfg.verbose { 500 } else { 0 }));
    drop(receiver);
    parse_result(&line?)
}

// ---------------------------------------------------------------------
// Roles (child processes)
// ---------------------------------------------------------------------

fn role_args(args: &[String]) -> HashMap<String, String> {
    args.iter()
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn arg<T: std::str::FromStr>(kv: &HashMap<String, String>, k: &str) -> T {
    kv.get(k)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("role argument {k} missing or bad"))
}

fn role(args: &[String]) -> i32 {
    let name = args.first().map(String::as_str).unwrap_or("");
    let kv = role_args(&args[1..]);
    match name {
        "relay-ours" => relay_ours(&kv),
        "receiver" => receiver(&kv),
        "sender" => sender(&kv),
        _ => {
            eprintln!("relay bench: unknown role {name:?}");
            2
        }
    }
}

/// Our relay: the stack on its I/O thread, netdevs added by QMP-style
/// commands, until stdin closes.
fn relay_ours(kv: &HashMap<String, String>) -> i32 {
    let kind = Kind::parse(&arg::<String>(kv, "kind"));
    let ports: Vec<u16> = arg::<String>(kv, "ports")
        .split(',')
        .map(|p| p.parse().expect("port"))
        .collect();
    let verbose = arg::<u8>(kv, "verbose") != 0;
    let mut s = NetStack::new();
    s.set_emitter(Emitter::new(move |e: &Event, _| {
        if verbose {
            eprintln!("relay-ours: {}", qapi_runtime::Event::name(e));
        }
    }));
    let stack = Arc::new(Mutex::new(s));
    let handle = match IoLoop::spawn(stack.clone()) {
        Ok(h) => h,
        Err(e) => {
            println!("ERROR I/O loop: {e}");
            return 2;
        }
    };
    for args in netdev_commands(kind, &ports) {
        let r = {
            let mut s = stack.lock().unwrap();
            commands::dispatch(
                &mut *s,
                "netdev_add",
                Some(args.clone()),
                &mut Input::new(),
                &Output::new(),
            )
            .expect("netdev_add is a command")
        };
        if let Err(e) = r {
            println!("ERROR netdev_add {args}: {}", e.desc);
            return 2;
        }
    }
    println!("READY");
    let _ = std::io::stdout().flush();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    handle.stop();
    if verbose {
        let s = stack.lock().unwrap();
        let net = s.network();
        for name in ["a", "h1", "h2", "b"] {
            if let Some(id) = net.lookup(name) {
                if let Ok(c) = net.counters(id) {
                    eprintln!(
                        "relay-ours: {name}: sent {} delivered {} queued {} dropped {} received {}",
                        c.sent,
                        c.delivered,
                        c.queued,
                        c.dropped(),
                        c.received
                    );
                }
            }
        }
    }
    0
}

/// Counts and checks what arrives; knows the measuring window.
struct Tally {
    size: usize,
    warmup: Duration,
    window: Duration,
    start: Option<Instant>,
    in_window: u64,
    total: u64,
    bad: u64,
    gaps: u64,
    reordered: u64,
    last: Option<u64>,
    batch: u64,
    last_arrival: Option<Instant>,
    longest_silence: Duration,
}

impl Tally {
    fn new(size: usize, warmup: Duration, window: Duration) -> Tally {
        Tally {
            size,
            warmup,
            window,
            start: None,
            in_window: 0,
            total: 0,
            bad: 0,
            gaps: 0,
            reordered: 0,
            last: None,
            batch: 0,
            last_arrival: None,
            longest_silence: Duration::ZERO,
        }
    }

    fn frame(&mut self, f: &[u8]) {
        let Some(seq) = check(f, self.size) else {
            self.bad += 1;
            return;
        };
        self.total += 1;
        self.batch += 1;
        match self.last {
            Some(last) if seq <= last => self.reordered += 1,
            Some(last) => {
                self.gaps += seq - last - 1;
                self.last = Some(seq);
            }
            None => self.last = Some(seq),
        }
    }

    /// Ends a batch read at `now`: its frames count if `now` is in the
    /// window. True once the window is over.
    fn batch_done(&mut self, now: Instant) -> bool {
        let n = std::mem::take(&mut self.batch);
        let start = match self.start {
            Some(s) => s,
            None if n > 0 => *self.start.insert(now),
            None => return false,
        };
        let ws = start + self.warmup;
        let we = ws + self.window;
        if now >= ws && now < we {
            self.in_window += n;
        }
        // The longest time without a frame, from the first on.
        let until = now.min(we);
        if let Some(last) = self.last_arrival {
            self.longest_silence = self
                .longest_silence
                .max(until.saturating_duration_since(last));
        }
        if n > 0 {
            self.last_arrival = Some(now);
        }
        now >= we
    }

    fn report(&self) {
        println!(
            "RESULT fps={:.1} frames={} total={} bad={} gaps={} reordered={} silence_ms={}",
            self.in_window as f64 / self.window.as_secs_f64(),
            self.in_window,
            self.total,
            self.bad,
            self.gaps,
            self.reordered,
            self.longest_silence.as_millis()
        );
    }
}

fn receiver(kv: &HashMap<String, String>) -> i32 {
    let kind = Kind::parse(&arg::<String>(kv, "kind"));
    let size: usize = arg(kv, "size");
    let port: u16 = arg(kv, "port");
    let warmup = Duration::from_millis(arg(kv, "warmup_ms"));
    let window = Duration::from_millis(arg(kv, "window_ms"));
    let mut tally = Tally::new(size, warmup, window);
    let began = Instant::now();
    let outcome = match kind {
        Kind::Dgram => receive_dgram(port, &mut tally, began),
        Kind::Stream => receive_stream(port, &mut tally, began),
    };
    match outcome {
        Ok(()) => tally.report(),
        Err(e) => println!("RESULT error={}", e.replace(' ', "_")),
    }
    let _ = std::io::stdout().flush();
    0
}

fn ready() {
    println!("READY");
    let _ = std::io::stdout().flush();
}

fn waited_too_long(tally: &Tally, began: Instant) -> bool {
    tally.start.is_none() && began.elapsed() > FIRST_FRAME_TIMEOUT
}

fn set_rcvbuf(fd: i32, bytes: i32) {
    // SAFETY: setsockopt on our own descriptor with an int option.
    unsafe {
        let v = bytes;
        let p = (&v as *const i32).cast();
        let len = std::mem::size_of::<i32>() as libc::socklen_t;
        if libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, p, len) != 0 {
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, p, len);
        }
    }
}

fn receive_dgram(port: u16, tally: &mut Tally, began: Instant) -> Result<(), String> {
    let sock = UdpSocket::bind(("127.0.0.1", port)).map_err(|e| format!("bind {port}: {e}"))?;
    set_rcvbuf(sock.as_raw_fd(), 8 << 20);
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    let mut bufs = vec![0u8; MMSG * MAX_FRAME];
    let base = bufs.as_mut_ptr();
    let mut iovs: Vec<libc::iovec> = (0..MMSG)
        .map(|i| libc::iovec {
            // SAFETY: inside `bufs`.
            iov_base: unsafe { base.add(i * MAX_FRAME) }.cast(),
            iov_len: MAX_FRAME,
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: a zeroed mmsghdr is valid (null pointers, no name).
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();
    ready();
    loop {
        // SAFETY: `msgs` points into `iovs` and `bufs`, alive and unaliased
        // during the call.
        let n = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                msgs.as_mut_ptr(),
                MMSG as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        let now = Instant::now();
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::ConnectionRefused
            ) {
                return Err(format!("recvmmsg: {e}"));
            }
        }
        for (i, m) in msgs.iter_mut().take(n.max(0) as usize).enumerate() {
            let len = m.msg_len as usize;
            if m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                tally.bad += 1;
            } else {
                // SAFETY: the kernel wrote `len` bytes into slot `i`.
                let f = unsafe { std::slice::from_raw_parts(base.add(i * MAX_FRAME), len) };
                tally.frame(f);
            }
            m.msg_hdr.msg_flags = 0;
        }
        if tally.batch_done(now) {
            return Ok(());
        }
        if waited_too_long(tally, began) {
            return Err("no frame arrived".into());
        }
    }
}

fn connect_retry(port: u16) -> Result<TcpStream, String> {
    let end = Instant::now() + START_TIMEOUT;
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() < end => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("connect {port}: {e}")),
        }
    }
}

fn receive_stream(port: u16, tally: &mut Tally, began: Instant) -> Result<(), String> {
    let mut sock = connect_retry(port)?;
    set_rcvbuf(sock.as_raw_fd(), 8 << 20);
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    ready();
    let mut buf = vec![0u8; 1 << 20];
    let (mut start, mut end) = (0usize, 0usize);
    loop {
        if buf.len() - end < MAX_FRAME + 4 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        let r = sock.read(&mut buf[end..]);
        let now = Instant::now();
        match r {
            Ok(0) => return Err("the relay closed the connection".into()),
            Ok(n) => end += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
        while end - start >= 4 {
            let len = u32::from_be_bytes(buf[start..start + 4].try_into().unwrap()) as usize;
            if len != tally.size {
                return Err(format!("length prefix {len}, want {}", tally.size));
            }
            if end - start < 4 + len {
                break;
            }
            tally.frame(&buf[start + 4..start + 4 + len]);
            start += 4 + len;
        }
        if start == end {
            start = 0;
            end = 0;
        }
        if tally.batch_done(now) {
            return Ok(());
        }
        if waited_too_long(tally, began) {
            return Err("no frame arrived".into());
        }
    }
}

fn sender(kv: &HashMap<String, String>) -> i32 {
    let kind = Kind::parse(&arg::<String>(kv, "kind"));
    let size: usize = arg(kv, "size");
    let port: u16 = arg(kv, "port");
    let src: u16 = arg(kv, "src");
    let deadline = Instant::now() + Duration::from_secs(arg(kv, "secs"));
    let r = match kind {
        Kind::Dgram => send_dgram(port, src, size, arg::<u8>(kv, "gso") != 0, deadline),
        Kind::Stream => send_stream(port, size, deadline),
    };
    if let Err(e) = r {
        eprintln!("sender: {e}");
        return 1;
    }
    0
}

/// `UDP_SEGMENT` (Linux 4.18): the segment length of a UDP GSO send.
const UDP_SEGMENT: libc::c_int = 103;

fn send_dgram(
    port: u16,
    src: u16,
    size: usize,
    gso: bool,
    deadline: Instant,
) -> Result<(), String> {
    let sock = UdpSocket::bind(("127.0.0.1", src)).map_err(|e| format!("bind {src}: {e}"))?;
    sock.connect(("127.0.0.1", port))
        .map_err(|e| format!("connect {port}: {e}"))?;
    // Frames per message: 1, or as many as one UDP GSO message carries
    // (the kernel cuts it into one datagram per frame).
    let per = if gso { (65_507 / size).clamp(1, 64) } else { 1 };
    let nmsg = if gso { 8 } else { MMSG };
    let frame = make_frame(size);
    let mut buf: Vec<u8> = (0..nmsg * per)
        .flat_map(|_| frame.iter().copied())
        .collect();
    let base = buf.as_mut_ptr();
    let mut iovs: Vec<libc::iovec> = (0..nmsg)
        .map(|i| libc::iovec {
            // SAFETY: inside `buf`.
            iov_base: unsafe { base.add(i * per * size) }.cast(),
            iov_len: per * size,
        })
        .collect();
    let mut cmsgs = vec![[0u64; 4]; nmsg];
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .zip(cmsgs.iter_mut())
        .map(|(iov, cm)| {
            // SAFETY: a zeroed mmsghdr is valid (null pointers, no name).
            let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            if per > 1 {
                let c = cm.as_mut_ptr().cast::<libc::cmsghdr>();
                // SAFETY: 32 aligned bytes hold a cmsghdr and its u16.
                unsafe {
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(2) as _;
                    libc::CMSG_DATA(c)
                        .cast::<u16>()
                        .write_unaligned(size as u16);
                    m.msg_hdr.msg_controllen = libc::CMSG_SPACE(2) as _;
                }
                m.msg_hdr.msg_control = c.cast();
            }
            m
        })
        .collect();
    let mut seq = 0u64;
    let mut loops = 0u32;
    loop {
        // SAFETY: `buf` is not otherwise borrowed while we stamp it.
        let all = unsafe { std::slice::from_raw_parts_mut(base, nmsg * per * size) };
        for (i, f) in all.chunks_exact_mut(size).enumerate() {
            stamp(f, seq + i as u64);
        }
        let mut off = 0;
        while off < nmsg {
            // SAFETY: `msgs[off..]` point at live iovecs, frames and
            // control messages.
            let n = unsafe {
                libc::sendmmsg(
                    sock.as_raw_fd(),
                    msgs.as_mut_ptr().add(off),
                    (nmsg - off) as libc::c_uint,
                    0,
                )
            };
            if n > 0 {
                off += n as usize;
                continue;
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                // An ICMP error from before the relay bound, or a full
                // queue: not ours to count.
                Some(libc::ECONNREFUSED | libc::ENOBUFS | libc::EAGAIN | libc::EINTR) => {
                    off += 1;
                }
                _ => return Err(format!("sendmmsg: {e}")),
            }
        }
        seq += (nmsg * per) as u64;
        loops += 1;
        if loops % 256 == 0 && Instant::now() > deadline {
            return Ok(());
        }
    }
}

fn send_stream(port: u16, size: usize, deadline: Instant) -> Result<(), String> {
    let mut sock = connect_retry(port)?;
    let per = (STREAM_CHUNK / (size + 4)).max(1);
    let mut chunk = Vec::with_capacity(per * (size + 4));
    let frame = make_frame(size);
    for _ in 0..per {
        chunk.extend_from_slice(&(size as u32).to_be_bytes());
        chunk.extend_from_slice(&frame);
    }
    let mut seq = 0u64;
    let mut loops = 0u32;
    loop {
        for f in chunk.chunks_exact_mut(size + 4) {
            stamp(&mut f[4..], seq);
            seq += 1;
        }
        if let Err(e) = sock.write_all(&chunk) {
            // The bench over: the relay went away.
            return if e.kind() == std::io::ErrorKind::BrokenPipe
                || e.kind() == std::io::ErrorKind::ConnectionReset
            {
                Ok(())
            } else {
                Err(format!("write: {e}"))
            };
        }
        loops += 1;
        if loops % 16 == 0 && Instant::now() > deadline {
            return Ok(());
        }
    }
}

// ---------------------------------------------------------------------
// In process
// ---------------------------------------------------------------------

/// NIC -> hub -> NIC on one thread for `time`: frames/s.
fn inproc(size: usize, time: Duration) -> f64 {
    const BATCH: usize = 128;
    let mut net = Network::new();
    let p0 = net.add_hubport("p0", 0, None).unwrap();
    let p1 = net.add_hubport("p1", 0, None).unwrap();
    let mut cfg = NicConfig::new(MacAddr([2, 0, 0, 0, 0, 1]));
    cfg.rx_ring = 256;
    let a = net.add_nic("a", cfg.clone(), Some(p0)).unwrap();
    cfg.mac = MacAddr([2, 0, 0, 0, 0, 2]);
    let b = net.add_nic("b", cfg, Some(p1)).unwrap();
    let frame = make_frame(size);
    let mut sink = 0usize;
    let mut frames = 0u64;
    let start = Instant::now();
    let mut rounds = 0u32;
    loop {
        for _ in 0..BATCH {
            let _ = net.nic_send(a, std::hint::black_box(&frame));
        }
        while let Ok(Some(n)) = net.nic_recv_with(b, |f| f.len()) {
            sink = sink.wrapping_add(n);
            frames += 1;
        }
        rounds += 1;
        if rounds % 64 == 0 && start.elapsed() >= time {
            break;
        }
    }
    std::hint::black_box(sink);
    assert_eq!(
        frames,
        u64::from(rounds) * BATCH as u64,
        "in-process frames lost"
    );
    frames as f64 / start.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}

fn fmt_fps(v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(f) if f >= 1e6 => format!("{:.2}M", f / 1e6),
        Some(f) => format!("{:.1}k", f / 1e3),
    }
}

/// Busy CPU time of the machine and of this process with its reaped
/// children (seconds), at a moment.
struct CpuUse {
    wall: Instant,
    busy: f64,
    ours: f64,
}

impl CpuUse {
    /// The share (0 to 1) of the machine's CPUs that work other than this
    /// bench used from `self` to `later`.
    fn others_until(&self, later: &CpuUse) -> f64 {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let wall = (later.wall - self.wall).as_secs_f64().max(1e-3);
        ((later.busy - self.busy) - (later.ours - self.ours)).max(0.0) / (wall * cpus)
    }

    fn now() -> CpuUse {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let busy = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                let l = s.lines().next()?.to_owned();
                // user nice system idle iowait irq softirq steal
                let v: Vec<f64> = l
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                Some(v.iter().take(8).sum::<f64>() - v.get(3)? - v.get(4)?)
            })
            .unwrap_or(0.0)
            / hz;
        let rusage = |who| {
            // SAFETY: getrusage fills the struct we pass.
            let mut r: libc::rusage = unsafe { std::mem::zeroed() };
            unsafe { libc::getrusage(who, &mut r) };
            let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
            t(r.ru_utime) + t(r.ru_stime)
        };
        CpuUse {
            wall: Instant::now(),
            busy,
            ours: rusage(libc::RUSAGE_SELF) + rusage(libc::RUSAGE_CHILDREN),
        }
    }
}

/// Waits (up to `cfg.quiet_wait`) until other work uses at most
/// `cfg.noise` of the CPUs; returns the share it last used.
fn wait_quiet(cfg: &Config) -> f64 {
    let end = Instant::now() + cfg.quiet_wait;
    loop {
        let a = CpuUse::now();
        std::thread::sleep(Duration::from_millis(if cfg.quick { 300 } else { 1000 }));
        let others = a.others_until(&CpuUse::now());
        if others <= cfg.noise || Instant::now() >= end {
            return others;
        }
    }
}

/// The 1-minute load average.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Whether QEMU can be run; why not otherwise.
fn qemu_available(bin: &str) -> Result<String, String> {
    match Command::new(bin).arg("--version").output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()),
        Ok(o) => Err(format!("{bin} --version failed: {}", o.status)),
        Err(e) => Err(format!("{bin}: {e}")),
    }
}

/// One line of the table.
fn row(path: &str, size: &str, ours: &str, qemu: &str, ratio: &str, goal: &str) {
    println!("{path:<17} {size:>5}  {ours:>23}  {qemu:>23}  {ratio:>6}  {goal}");
}

#[derive(Default)]
struct Cell {
    samples: Vec<Sample>,
    errors: Vec<String>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--role") {
        std::process::exit(role(&args[1..]));
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "relay bench: not run (no --bench); use `cargo bench -p net-backends --bench relay`"
        );
        return;
    }
    let mut cfg = Config::from_env();

    let mut qemu_note = None;
    if let Some(bin) = cfg.qemu.clone() {
        if cfg.relays.contains(&Relay::Qemu) {
            match qemu_available(&bin) {
                Ok(v) => eprintln!("relay bench: QEMU is {v}"),
                Err(e) => {
                    let msg =
                        format!("!!! QEMU NOT AVAILABLE ({e}): ONLY OUR ROWS BELOW, NO RATIOS !!!");
                    eprintln!("{msg}");
                    qemu_note = Some(msg);
                    cfg.relays.retain(|&r| r != Relay::Qemu);
                }
            }
        }
    } else if cfg.relays.contains(&Relay::Ours) {
        qemu_note =
            Some("!!! QEMU DISABLED (RELAY_BENCH_QEMU=off): ONLY OUR ROWS, NO RATIOS !!!".into());
    }
    eprintln!(
        "relay bench: {} run(s) per cell, warm-up {:?}, window {:?}{}{}",
        cfg.runs,
        cfg.warmup,
        cfg.window,
        if cfg.quick { " (QUICK)" } else { "" },
        if cfg.pin { ", pinned" } else { "" }
    );

    let load_start = loadavg();
    let cpu_start = CpuUse::now();
    // In process first, while nothing else runs.
    let (mut repeated, mut noisy_kept) = (0, 0);
    let mut inproc_rows = Vec::new();
    if cfg.inproc {
        for &size in &cfg.sizes {
            let runs: Vec<f64> = (0..cfg.runs)
                .map(|_| {
                    let mut attempt = 0;
                    loop {
                        wait_quiet(&cfg);
                        let before = CpuUse::now();
                        let f = inproc(size, cfg.inproc_time);
                        let noise = before.others_until(&CpuUse::now());
                        if noise > cfg.noise && attempt < cfg.retries {
                            eprintln!(
                                "  nic-hub-nic {size:>4} B: {}, but other work used {:.0}% of the CPUs: again",
                                fmt_fps(Some(f)),
                                noise * 100.0
                            );
                            attempt += 1;
                            repeated += 1;
                            continue;
                        }
                        if noise > cfg.noise {
                            noisy_kept += 1;
                        }
                        break f;
                    }
                })
                .collect();
            eprintln!(
                "  nic-hub-nic {size:>4} B: {}",
                runs.iter()
                    .map(|&f| fmt_fps(Some(f)))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            inproc_rows.push((size, median(&runs)));
        }
    }

    let mut cells: HashMap<(Kind, usize, Relay), Cell> = HashMap::new();
    for &kind in &cfg.kinds {
        for &size in &cfg.sizes {
            for run in 0..cfg.runs {
                for &relay in &cfg.relays {
                    let cell = cells.entry((kind, size, relay)).or_default();
                    // A relay that cannot do this path at all: do not
                    // ask again.
                    if cell.errors.iter().any(|e| e.contains("not supported")) {
                        continue;
                    }
                    let mut attempt = 0;
                    let result = loop {
                        let idle_before = wait_quiet(&cfg);
                        if idle_before > cfg.noise {
                            eprintln!(
                                "  (other work uses {:.0}% of the CPUs; going on anyway)",
                                idle_before * 100.0
                            );
                        }
                        let before = CpuUse::now();
                        let r = run_cell(&cfg, relay, kind, size);
                        let noise = before.others_until(&CpuUse::now());
                        match r {
                            Ok(mut s) => {
                                s.noise = noise;
                                if noise > cfg.noise && attempt < cfg.retries {
                                    eprintln!(
                                        "  {} {size:>4} B {} run {}: {} fps, but other work used {:.0}% of the CPUs: again",
                                        kind.path(),
                                        relay.name(),
                                        run + 1,
                                        fmt_fps(Some(s.fps)),
                                        noise * 100.0
                                    );
                                    attempt += 1;
                                    repeated += 1;
                                    continue;
                                }
                                break Ok(s);
                            }
                            Err(e) => break Err(e),
                        }
                    };
                    match result {
                        Ok(s) => {
                            eprintln!(
                                "  {} {size:>4} B {} run {}: {} fps ({} frames in window, {} in all, {} bad, {} lost, {} reordered, longest silence {} ms, other work {:.0}% of the CPUs)",
                                kind.path(),
                                relay.name(),
                                run + 1,
                                fmt_fps(Some(s.fps)),
                                s.frames,
                                s.total,
                                s.bad,
                                s.gaps,
                                s.reordered,
                                s.silence_ms,
                                s.noise * 100.0
                            );
                            if s.noise > cfg.noise {
                                noisy_kept += 1;
                            }
                            cell.samples.push(s);
                        }
                        Err(e) => {
                            eprintln!(
                                "  {} {size:>4} B {} run {}: FAILED: {e}",
                                kind.path(),
                                relay.name(),
                                run + 1
                            );
                            cell.errors.push(e);
                        }
                    }
                }
            }
        }
    }

    // The table.
    let runs = cfg.runs;
    println!();
    if let Some(n) = &qemu_note {
        println!("{n}");
    }
    if cfg.quick {
        println!(
            "(QUICK run: {runs} run per cell, {:?} window; not a measurement)",
            cfg.window
        );
    }
    let h_ours = format!("ours fps (median of {runs})");
    let h_qemu = format!("qemu fps (median of {runs})");
    row("path", "size", &h_ours, &h_qemu, "ratio", "goal");
    let mut notes = Vec::new();
    let mut bad_frames = 0;
    for &kind in &cfg.kinds {
        for &size in &cfg.sizes {
            let get = |relay| {
                cells.get(&(kind, size, relay)).map(|c| {
                    let fps: Vec<f64> = c.samples.iter().map(|s| s.fps).collect();
                    (median(&fps), c)
                })
            };
            let ours = get(Relay::Ours);
            let qemu = get(Relay::Qemu);
            for (relay, c) in [(Relay::Ours, &ours), (Relay::Qemu, &qemu)] {
                if let Some((_, c)) = c {
                    for e in c.errors.iter().take(1) {
                        notes.push(format!("{} {size} B {}: {e}", kind.path(), relay.name()));
                    }
                    for s in &c.samples {
                        bad_frames += s.bad + s.reordered;
                    }
                    let stalls = c
                        .samples
                        .iter()
                        .filter(|s| s.silence_ms >= STALL_MS)
                        .count();
                    if stalls > 0 {
                        let worst = c.samples.iter().map(|s| s.silence_ms).max().unwrap_or(0);
                        notes.push(format!(
                            "{} {size} B {}: traffic STALLED in {stalls} of {} runs \
                             (no frame for up to {worst} ms after the first)",
                            kind.path(),
                            relay.name(),
                            c.samples.len()
                        ));
                    }
                }
            }
            let o = ours.as_ref().and_then(|x| x.0);
            let q = qemu.as_ref().and_then(|x| x.0);
            // A dgram relay that lost (almost) nothing kept up with the
            // sender: its figure is the sender's pace, a lower bound.
            let sender_bound = |c: &Option<(Option<f64>, &Cell)>| {
                kind == Kind::Dgram
                    && c.as_ref().is_some_and(|(_, c)| {
                        !c.samples.is_empty()
                            && c.samples.iter().all(|s| s.gaps * 100 < s.total.max(1))
                    })
            };
            let shown = |v: Option<f64>, bound: bool| {
                let f = fmt_fps(v);
                if bound && v.is_some() {
                    format!(">={f}")
                } else {
                    f
                }
            };
            for (relay, c) in [(Relay::Ours, &ours), (Relay::Qemu, &qemu)] {
                if sender_bound(c) {
                    notes.push(format!(
                        "{} {size} B {}: lost under 1% of the frames: it kept up with the sender, \
                         so the figure is the sender's pace, a lower bound (RELAY_BENCH_SENDER_GSO=1 \
                         sends faster)",
                        kind.path(),
                        relay.name()
                    ));
                }
            }
            let ratio = match (o, q) {
                (Some(o), Some(q)) if q > 0.0 => Some(o / q),
                _ => None,
            };
            let ours_stalled = ours
                .as_ref()
                .is_some_and(|(_, c)| c.samples.iter().any(|s| s.silence_ms >= STALL_MS));
            let goal = match ratio {
                _ if ours_stalled => format!(">= {}x: MISSED (ours STALLED)", kind.goal()),
                Some(r) if r >= kind.goal() => format!(">= {}x: met", kind.goal()),
                Some(_) => format!(">= {}x: MISSED", kind.goal()),
                None => format!(">= {}x: ?", kind.goal()),
            };
            row(
                kind.path(),
                &size.to_string(),
                &shown(o, sender_bound(&ours)),
                &shown(q, sender_bound(&qemu)),
                &ratio.map_or("n/a".into(), |r| format!("{r:.2}x")),
                &goal,
            );
        }
    }
    for (size, fps) in &inproc_rows {
        let goal = match fps {
            Some(f) if *f >= 10e6 => ">= 10M/core: met",
            Some(_) => ">= 10M/core: MISSED",
            None => "?",
        };
        row(
            "nic-hub-nic",
            &size.to_string(),
            &fmt_fps(*fps),
            "-",
            "-",
            &format!("{goal} (in process, 1 thread)"),
        );
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "other work (processes, interrupts) used {:.0}% of the {cpus} CPUs over the whole bench \
         (load average {load_start} at start, {} at end); runs repeated for other work over {:.0}%: \
         {repeated}, kept although over: {noisy_kept}",
        100.0 * cpu_start.others_until(&CpuUse::now()),
        loadavg(),
        cfg.noise * 100.0
    );
    if bad_frames > 0 {
        println!("!!! {bad_frames} malformed or reordered frames arrived (see stderr) !!!");
    }
    for n in notes {
        println!("note: {n}");
    }
}
