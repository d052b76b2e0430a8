//! `netdevd`: QEMU's netdev backends as a daemon of their own, so they can
//! be tried without writing code.
//!
//! # Usage
//!
//! ```text
//! netdevd -netdev stream,id=s0,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=5000 \
//!         -netdev stream,id=s1,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=5001 \
//!         -netdev hubport,id=h0,hubid=0,netdev=s0 -netdev hubport,id=h1,hubid=0,netdev=s1 \
//!         --qmp unix:/tmp/netdevd.sock
//! ```
//!
//! * `-netdev TEXT` (or `--netdev`), repeatable: a netdev in QEMU's
//!   syntax. Text starting with `{` is JSON (`{"type": "hubport", "id":
//!   "h0", "hubid": 0}`); any other is keyval with the implied key `type`
//!   (`hubport,id=h0,hubid=0`), read by the runtime's port of QEMU's
//!   `util/keyval.c`, as QEMU 7.2+ reads `-netdev stream` and `dgram`.
//!   Every option is read before any netdev is made, then they are made
//!   through the same code as QMP's `netdev_add`, in QEMU's order: first
//!   the JSON ones and the `stream` and `dgram` ones (QEMU's "modern"
//!   netdevs), then the others, each group in command-line order; so a
//!   `hubport,netdev=s0` may come before the `stream` netdev `s0`, as in
//!   QEMU. A bad one stops the daemon with QEMU's message, exit status 1:
//!   `netdevd: -netdev stream,id=x: Parameter 'addr' is missing`.
//! * `--qmp ADDRESS` (or `-qmp`), repeatable: serve QMP on `unix:PATH`,
//!   `tcp:HOST:PORT` or `tcp:PORT` (loopback). The commands are
//!   net.json's (`netdev_add`, `netdev_del`, `set_link`,
//!   `query-rx-filter`, `announce-self`) plus the server's own
//!   (`qmp_capabilities`, `query-commands`, `query-version`,
//!   `query-qmp-schema`, and QEMU's `getfd` and `closefd`: on a unix
//!   socket a client may pass a descriptor with `getfd`, then name it in
//!   `netdev_add`, as in `"addr": {"type": "fd", "str": "NAME"}` or
//!   `socket`'s `"fd": "NAME"`); the events the netdevs raise
//!   (`NETDEV_STREAM_CONNECTED`, ...) go to every client.
//! * `-compat POLICY` (or `--compat`): QEMU's `-compat` text
//!   (`deprecated-input=reject,unstable-input=reject,...`), for QMP only,
//!   as in QEMU (the command line is not subject to it). Each one
//!   replaces the previous one.
//! * `--help`, `--version`.
//!
//! It runs until SIGINT, SIGTERM or SIGHUP (QEMU's termination signals),
//! then stops serving, stops the I/O thread, removes the unix sockets it
//! made for QMP, and exits 0 (QEMU prints "terminating on signal N" and
//! does the same). Without `--qmp` it still runs: the netdevs move frames
//! until a signal.
//!
//! # Design
//!
//! One [`NetStack`] behind an `Arc<Mutex<_>>` is shared by two threads:
//!
//! * the I/O thread ([`IoLoop`]) waits on epoll without the lock and
//!   takes it for one turn at a time (every ready socket, due timers,
//!   buffered output);
//! * the main thread runs a single-threaded tokio runtime: the QMP
//!   server ([`Server`] over [`NetService`]), whose commands take the
//!   same lock between turns, and the signal handlers.
//!
//! Events the stack raises are given to the QMP server's emitter (or
//! dropped when there is no QMP, so they do not pile up).
//!
//! Startup order makes readiness observable: signal handlers, then the
//! netdevs, then the I/O thread, then the QMP listeners. Once a QMP
//! socket exists, every `-netdev` is up and a signal stops the daemon
//! cleanly. Nothing is bound for QMP when a `-netdev` fails.
//!
//! # Differences from QEMU
//!
//! * Messages always spell the option `-netdev` (QEMU echoes `--netdev`
//!   when given so).
//! * QEMU reads the types other than `stream` and `dgram` with QemuOpts
//!   (so a duplicate `hubport` id is "Duplicate ID 'a' for netdev"); here
//!   every text is keyval or JSON.
//! * The id is checked as QMP's `netdev_add` checks it ("Parameter 'id'
//!   expects an identifier"), for every type.
//! * Of QEMU's startup checks only "warning: netdev X has no peer" is
//!   printed (the hub checks would always complain: there are no NICs).

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use clap::Parser;
use net_backends::control::{NetService, NetStack};
use net_backends::core::ClientKind;
use net_backends::io::IoLoop;
use net_backends::qapi::commands::Commands;
use net_backends::qapi::events::Event;
use net_backends::qapi::{Netdev, NetdevBranch};
use qapi_runtime::event::Emitter;
use qapi_runtime::keyval;
use qapi_runtime::qmp::{Address, Config, Listener, Server, VersionInfo};
use qapi_runtime::CompatPolicy;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::task::JoinSet;

/// The name messages start with, as QEMU's start with its program name.
const PROGRAM: &str = "netdevd";

/// Prints a line on stderr, like `eprintln!` but without panicking when
/// stderr is gone (a closed pipe): the daemon's work does not depend on
/// being heard.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// How long QMP connections get to finish their commands at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

const ABOUT: &str = "Runs QEMU's netdev backends (net-backends) standalone, controlled over QMP.";

const LONG_ABOUT: &str = "\
Runs QEMU's netdev backends (net-backends) standalone, controlled over QMP.

Each -netdev is created as QMP's netdev_add would create it, in QEMU's order
(JSON, stream and dgram netdevs first, then the others); then
netdevd serves QMP (if asked) and moves frames until SIGINT, SIGTERM or SIGHUP,
when it exits 0 after removing its QMP unix sockets. Any error in the options
is printed as QEMU prints it (netdevd: -netdev TEXT: MESSAGE) and exits 1.

QEMU's one-dash spellings work too: -netdev, -qmp, -compat, -help, -version.
A type this build has no driver for yet is refused with
\"netdev 'TYPE' is not supported by this build yet\".";

const EXAMPLES: &str = "\
Examples:
  # A virtual switch: two TCP stream servers joined by hub 0, QMP on a socket.
  netdevd -netdev stream,id=s0,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=5000 \\
          -netdev stream,id=s1,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=5001 \\
          -netdev hubport,id=h0,hubid=0,netdev=s0 \\
          -netdev hubport,id=h1,hubid=0,netdev=s1 \\
          --qmp unix:/tmp/netdevd.sock

  # Two QEMU guests plugged into it (one per port):
  qemu-system-x86_64 ... -device virtio-net-pci,netdev=n0 \\
      -netdev stream,id=n0,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port=5000

  # The same netdev in JSON:
  netdevd -netdev '{\"type\": \"stream\", \"id\": \"s0\", \"server\": true,
                    \"addr\": {\"type\": \"inet\", \"host\": \"127.0.0.1\", \"port\": \"5000\"}}'

  # Talking QMP (one JSON object per line):
  socat - UNIX-CONNECT:/tmp/netdevd.sock
  {\"execute\": \"qmp_capabilities\"}
  {\"execute\": \"netdev_add\", \"arguments\": {\"type\": \"hubport\", \"id\": \"h2\", \"hubid\": 0}}
  {\"execute\": \"netdev_del\", \"arguments\": {\"id\": \"h2\"}}";

/// The command line (after [`with_clap_spellings`]).
#[derive(Debug, Parser)]
#[command(
    name = PROGRAM,
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES
)]
struct Options {
    /// A netdev, as QEMU's -netdev: keyval (TYPE,id=ID,KEY=VALUE,...; nested
    /// members dotted, addr.type=inet) or JSON ({"type": ..., "id": ...}).
    /// Repeatable.
    #[arg(long = "netdev", value_name = "NETDEV", allow_hyphen_values = true)]
    netdevs: Vec<String>,

    /// Serve QMP on unix:PATH, tcp:HOST:PORT or tcp:PORT (loopback).
    /// Repeatable.
    #[arg(long = "qmp", value_name = "ADDRESS", allow_hyphen_values = true)]
    qmp: Vec<String>,

    /// QEMU's -compat policy for QMP, e.g. deprecated-input=reject,
    /// deprecated-output=hide, unstable-input=reject, unstable-output=hide.
    /// The last one counts.
    #[arg(long = "compat", value_name = "POLICY", allow_hyphen_values = true)]
    compat: Vec<String>,
}

/// QEMU spells its long options with one dash (`-netdev`), clap with two:
/// rewrites every one-dash word (`-netdev`, `-help`, `-bogus`) where an
/// option may stand, never the value of the option before it (QEMU takes
/// that whatever it is). `-h` and `-V` stay short options.
fn with_clap_spellings(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    const TAKE_A_VALUE: [&str; 3] = ["--netdev", "--qmp", "--compat"];
    let mut rewritten = Vec::new();
    let mut is_value = false;
    for (position, arg) in args.into_iter().enumerate() {
        let is_option = position > 0 && !is_value;
        let arg = match arg.to_str() {
            Some(s) if is_option && is_one_dash_word(s) => OsString::from(format!("-{s}")),
            _ => arg,
        };
        is_value = is_option && arg.to_str().is_some_and(|s| TAKE_A_VALUE.contains(&s));
        rewritten.push(arg);
    }
    rewritten
}

/// `-word`: one dash, then at least two characters, the first not a dash.
fn is_one_dash_word(arg: &str) -> bool {
    arg.strip_prefix('-')
        .is_some_and(|rest| rest.len() >= 2 && !rest.starts_with('-'))
}

fn main() -> ExitCode {
    let options = match Options::try_parse_from(with_clap_spellings(std::env::args_os())) {
        Ok(options) => options,
        Err(e) => {
            let _ = e.print();
            // --help and --version are "errors" printed to stdout.
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            say!("{PROGRAM}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Reads every option, then runs the daemon until a signal. `Err` is the
/// message to print (without the program name).
fn run(options: Options) -> Result<(), String> {
    let netdevs = options
        .netdevs
        .iter()
        .map(|text| NetdevOption::parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    let netdevs = in_creation_order(netdevs);
    let policy = compat_policy(&options.compat)?;
    let qmp_addresses = options
        .qmp
        .iter()
        .map(|text| {
            text.parse::<Address>()
                .map_err(|e| format!("--qmp {text}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(run_daemon(netdevs, qmp_addresses, policy))
}

/// The policy of the last `-compat` (each is read, so each may fail).
fn compat_policy(texts: &[String]) -> Result<CompatPolicy, String> {
    let mut policy = CompatPolicy::default();
    for text in texts {
        policy = CompatPolicy::from_option(text).map_err(|e| format!("-compat {text}: {e}"))?;
    }
    Ok(policy)
}

/// The order QEMU makes its `-netdev`s in: those it reads with keyval
/// (JSON, `stream`, `dgram`) are queued and made first, the QemuOpts ones
/// after them (`net_init_clients`); the sort is stable.
fn in_creation_order(mut netdevs: Vec<NetdevOption>) -> Vec<NetdevOption> {
    netdevs.sort_by_key(|n| !n.is_modern());
    netdevs
}

/// One `-netdev`: its text, for messages, and the netdev it denotes.
struct NetdevOption {
    text: String,
    netdev: Netdev,
}

impl NetdevOption {
    /// Reads `text` as QEMU reads `-netdev`: JSON or keyval with the
    /// implied key `type`.
    fn parse(text: &str) -> Result<NetdevOption, String> {
        let netdev = keyval::read_str::<Netdev>(text, Some("type"))
            .map_err(|e| format!("-netdev {text}: {e}"))?;
        Ok(NetdevOption {
            text: text.to_owned(),
            netdev,
        })
    }

    /// Whether QEMU 7.2+ reads this one with keyval and makes it early
    /// (`netdev_is_modern`).
    fn is_modern(&self) -> bool {
        self.text.starts_with('{')
            || matches!(
                self.netdev.r#type,
                NetdevBranch::Stream(_) | NetdevBranch::Dgram(_)
            )
    }

    /// Makes the netdev through QMP's `netdev_add`.
    fn create(self, stack: &Mutex<NetStack>) -> Result<(), String> {
        lock(stack)
            .netdev_add(self.netdev)
            .map_err(|e| format!("-netdev {}: {}", self.text, e.desc))
    }
}

/// The stack, whoever held it last (a panic elsewhere does not make the
/// network unusable).
fn lock(stack: &Mutex<NetStack>) -> MutexGuard<'_, NetStack> {
    stack.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What `query-version` and the greeting say: QEMU 9.0.4, the release
/// whose `net.json` this daemon implements (`schemas/9.0.4`, what
/// build.rs generates from), since clients read the `qemu` member to
/// know which netdev options and commands exist; and `package`, which
/// QEMU leaves to downstreams, names the daemon (`netdevd 0.1.0`).
fn qmp_config(policy: CompatPolicy) -> Config {
    Config {
        version: VersionInfo {
            major: 9,
            minor: 0,
            micro: 4,
            package: concat!("netdevd ", env!("CARGO_PKG_VERSION")).to_owned(),
        },
        policy,
        fd_passing: true,
        ..Config::default()
    }
}

async fn run_daemon(
    netdevs: Vec<NetdevOption>,
    qmp_addresses: Vec<Address>,
    policy: CompatPolicy,
) -> Result<(), String> {
    let mut stop_signals = StopSignals::install()?;

    let stack = Arc::new(Mutex::new(NetStack::new()));
    let server = (!qmp_addresses.is_empty())
        .then(|| Server::with_config(NetService::shared(stack.clone()), qmp_config(policy)));
    let emitter = match &server {
        Some(server) => server.handle().emitter(),
        None => Emitter::new(|_: &Event, _| {}),
    };
    lock(&stack).set_emitter(emitter);
    if let Some(server) = &server {
        lock(&stack).set_named_fds(server.named_fds());
    }

    for netdev in netdevs {
        netdev.create(&stack)?;
    }
    warn_about_netdevs_without_peer(&lock(&stack));
    let io_loop =
        IoLoop::spawn(stack.clone()).map_err(|e| format!("cannot start the I/O thread: {e}"))?;

    // Dropped on every way out of this function: the sockets go away.
    let mut socket_files = Vec::new();
    let mut serving = JoinSet::new();
    if let Some(server) = &server {
        for address in &qmp_addresses {
            let listener = Listener::bind(address)
                .await
                .map_err(|e| format!("--qmp {address}: cannot listen: {e}"))?;
            let bound = listener.local_address().unwrap_or_else(|_| address.clone());
            if let Address::Unix(path) = address {
                socket_files.push(OwnSocketFile::made_at(path));
            }
            say!("{PROGRAM}: serving QMP on {bound}");
            let server = server.clone();
            serving.spawn(async move { (bound, server.serve(listener).await) });
        }
    } else {
        say!("{PROGRAM}: running without QMP; stop with Ctrl-C or SIGTERM");
    }

    let outcome = tokio::select! {
        number = stop_signals.next() => {
            say!("{PROGRAM}: terminating on signal {number}");
            Ok(())
        }
        Some(ended) = serving.join_next() => Err(match ended {
            Ok((address, Ok(()))) => format!("QMP server on {address} stopped"),
            Ok((address, Err(e))) => format!("QMP server on {address}: {e}"),
            Err(e) => format!("QMP server failed: {e}"),
        }),
    };

    if let Some(server) = &server {
        server.handle().shutdown();
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while serving.join_next().await.is_some() {}
    })
    .await;
    io_loop.stop();
    drop(socket_files);
    outcome
}

/// QEMU's `net_check_clients` warning, for what is made at startup.
fn warn_about_netdevs_without_peer(stack: &NetStack) {
    let net = stack.network();
    for client in net.clients() {
        if matches!(net.peer(client), Ok(Some(_))) {
            continue;
        }
        let Ok(name) = net.name(client) else {
            continue;
        };
        let kind = match net.kind(client) {
            Ok(ClientKind::Nic) => "nic",
            _ => "netdev",
        };
        say!("{PROGRAM}: warning: {kind} {name} has no peer");
    }
}

/// The signals that stop the daemon, QEMU's termination signals.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
    hang_up: Signal,
}

impl StopSignals {
    fn install() -> Result<StopSignals, String> {
        let handler = |kind: SignalKind| {
            signal(kind).map_err(|e| format!("cannot handle signal {}: {e}", kind.as_raw_value()))
        };
        Ok(StopSignals {
            interrupt: handler(SignalKind::interrupt())?,
            terminate: handler(SignalKind::terminate())?,
            hang_up: handler(SignalKind::hangup())?,
        })
    }

    /// Waits for one; returns its number.
    async fn next(&mut self) -> i32 {
        tokio::select! {
            _ = self.interrupt.recv() => libc::SIGINT,
            _ = self.terminate.recv() => libc::SIGTERM,
            _ = self.hang_up.recv() => libc::SIGHUP,
        }
    }
}

/// A unix socket this process bound: removed when dropped, unless
/// something else has replaced it since (another server took the path).
struct OwnSocketFile {
    path: PathBuf,
    identity: Option<(u64, u64)>,
}

impl OwnSocketFile {
    fn made_at(path: &Path) -> OwnSocketFile {
        OwnSocketFile {
            path: path.to_owned(),
            identity: file_identity(path),
        }
    }
}

/// A file's device and inode numbers.
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

impl Drop for OwnSocketFile {
    fn drop(&mut self) {
        if self.identity.is_some() && file_identity(&self.path) == self.identity {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spelled(args: &[&str]) -> Vec<String> {
        with_clap_spellings(args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn one_dash_options_become_two() {
        assert_eq!(
            spelled(&[
                "netdevd",
                "-netdev",
                "hubport,id=h,hubid=0",
                "-qmp",
                "tcp:0"
            ]),
            [
                "netdevd",
                "--netdev",
                "hubport,id=h,hubid=0",
                "--qmp",
                "tcp:0"
            ]
        );
        // A value is left alone, whatever it looks like.
        assert_eq!(
            spelled(&["netdevd", "-netdev", "-compat", "-compat", "-netdev"]),
            ["netdevd", "--netdev", "-compat", "--compat", "-netdev"]
        );
        assert_eq!(
            spelled(&["-netdev", "--netdev", "x", "-help", "-h", "-bogus", "--", "-"]),
            ["-netdev", "--netdev", "x", "--help", "-h", "--bogus", "--", "-"]
        );
    }

    #[test]
    fn options_parse() {
        let options = Options::try_parse_from(with_clap_spellings(
            [
                "netdevd", "-netdev", "a", "--netdev", "b", "-compat", "c", "-qmp", "d",
            ]
            .map(OsString::from),
        ))
        .map_err(|e| e.to_string());
        let options = match options {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(options.netdevs, ["a", "b"]);
        assert_eq!(options.compat, ["c"]);
        assert_eq!(options.qmp, ["d"]);
    }
}
