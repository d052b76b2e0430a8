//! The `netdevd` binary as a user runs it: real processes, real sockets,
//! QMP over a unix socket, signals.
//!
//! The error texts are compared with QEMU 7.2's for the same options
//! when `qemu-system-x86_64` is installed (without it that part prints
//! `SKIPPED`, and fails when `CI` is set).

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use net_backends::core::NetError;
use net_backends::qapi::commands::{NetdevAdd, NetdevDel};
use net_backends::qapi::events::Event;
use net_backends::qapi::{Netdev, NetdevBranch, NetdevHubPortOptions};
use qapi_runtime::qmp::{BlockingClient, ClientOptions, Decoded};
use serde_json::json;
use support::{connect, frame, free_port, read_frame, wait_until, write_frame};
use tokio::net::UnixStream;

const NETDEVD: &str = env!("CARGO_BIN_EXE_netdevd");
const QEMU: &str = "qemu-system-x86_64";

/// A running `netdevd`, its stderr collected in the background (and
/// printed if the test fails); killed if still running when dropped.
struct Daemon {
    child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    fn start(args: &[&str]) -> Daemon {
        Daemon::start_program(NETDEVD, args)
    }

    fn start_program(program: &str, args: &[&str]) -> Daemon {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Daemon {
            child,
            stderr,
            reader: Some(reader),
        }
    }

    fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill {pid}");
    }

    /// Waits (at most 10 s) for the process to end; its status and all
    /// it wrote to stderr.
    fn wait_exit(&mut self) -> (ExitStatus, String) {
        let end = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                Instant::now() < end,
                "netdevd did not exit; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status, self.stderr())
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for `path` to appear (the daemon is ready once its QMP
    /// socket exists), failing early if the daemon exits.
    fn wait_for_path(&mut self, path: &Path) {
        let end = Instant::now() + Duration::from_secs(10);
        while !path.exists() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("netdevd exited ({status}):\n{}", self.stderr());
            }
            assert!(Instant::now() < end, "no {}", path.display());
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("netdevd's stderr:\n{}", self.stderr());
        }
    }
}

/// `-netdev` text of a TCP stream server on 127.0.0.1:`port`.
fn stream_server(id: &str, port: u16) -> String {
    format!("stream,id={id},server=on,addr.type=inet,addr.host=127.0.0.1,addr.port={port}")
}

fn unix_address(path: &Path) -> String {
    format!("unix:{}", path.display())
}

fn qmp_client(socket: &Path) -> BlockingClient<UnixStream> {
    let options = ClientOptions {
        timeout: Some(Duration::from_secs(10)),
        ..ClientOptions::default()
    };
    BlockingClient::connect_unix(socket, options).expect("QMP connection")
}

/// Waits (at most 10 s) for an event `matches` accepts; returns it.
fn wait_event(
    qmp: &mut BlockingClient<UnixStream>,
    what: &str,
    matches: impl Fn(&Event) -> bool,
) -> Event {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match qmp.next_event(Some(left)) {
            Some(Ok(raw)) => {
                if let Decoded::Known(event) = raw.decode::<Event>() {
                    if matches(&event) {
                        return event;
                    }
                }
            }
            Some(Err(lost)) => panic!("waiting for {what}: {lost}"),
            None => panic!("no {what} in time"),
        }
    }
}

fn wait_connected(qmp: &mut BlockingClient<UnixStream>, id: &str) {
    wait_event(
        qmp,
        &format!("NETDEV_STREAM_CONNECTED of {id}"),
        |e| matches!(e, Event::NetdevStreamConnected(c) if c.netdev_id == id),
    );
}

fn hubport(id: &str, hubid: i32, netdev: Option<&str>) -> NetdevAdd {
    NetdevAdd(Netdev {
        id: id.into(),
        r#type: NetdevBranch::Hubport(NetdevHubPortOptions {
            hubid,
            netdev: netdev.map(str::to_owned),
        }),
    })
}

/// A QMP error's text.
fn qmp_error<T: std::fmt::Debug>(result: Result<T, qapi_runtime::qmp::ClientError>) -> String {
    match result {
        Ok(v) => panic!("succeeded: {v:?}"),
        Err(e) => match e.qmp() {
            Some(error) => error.desc.clone(),
            None => panic!("not a QMP error: {e}"),
        },
    }
}

#[test]
fn stream_servers_joined_by_a_hub_served_over_qmp() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qmp.sock");
    let [p0, p1, p2] = [free_port(), free_port(), free_port()];
    let (s0, s1) = (stream_server("s0", p0), stream_server("s1", p1));
    // QEMU's order, not the command line's: the JSON and stream netdevs
    // first, so h0 finds s0.
    let mut daemon = Daemon::start(&[
        "-netdev",
        "hubport,id=h0,hubid=0,netdev=s0",
        "-netdev",
        &s0,
        "--netdev",
        &s1,
        "-netdev",
        r#"{"type": "hubport", "id": "h1", "hubid": 0, "netdev": "s1"}"#,
        "--qmp",
        &unix_address(&socket),
    ]);
    daemon.wait_for_path(&socket);
    let mut qmp = qmp_client(&socket);
    let version = qmp.greeting().version.as_ref().expect("a version");
    assert!(version.package.starts_with("netdevd "), "{version:?}");
    // The QEMU release whose net.json netdevd implements.
    assert_eq!((version.major, version.minor, version.micro), (9, 0, 4));

    // Each connection raises NETDEV_STREAM_CONNECTED; after it the link is
    // up, so frames get through.
    let mut a = connect(p0);
    wait_connected(&mut qmp, "s0");
    let mut b = connect(p1);
    wait_connected(&mut qmp, "s1");
    for (seq, len) in [(1, 60), (2, 1514), (3, 9000)] {
        write_frame(&mut a, &frame(len, seq));
        assert_eq!(read_frame(&mut b), frame(len, seq));
    }
    write_frame(&mut b, &frame(64, 4));
    assert_eq!(read_frame(&mut a), frame(64, 4));

    // netdev_add and netdev_del on the running stack, QEMU's texts.
    qmp.execute(&hubport("h2", 0, None)).unwrap();
    assert_eq!(
        qmp_error(qmp.execute(&hubport("h2", 1, None))),
        "Duplicate ID 'h2'"
    );
    assert_eq!(
        qmp_error(qmp.execute(&hubport("s0", 1, None))),
        "Duplicate ID 's0'"
    );
    // A netdev already peered (s0 with h0) cannot take a second peer.
    assert_eq!(
        qmp_error(qmp.execute(&hubport("h3", 1, Some("s0")))),
        NetError::PeerInUse("s0".into()).to_string()
    );
    qmp.execute(&NetdevDel { id: "h2".into() }).unwrap();
    assert_eq!(
        qmp_error(qmp.execute(&NetdevDel { id: "h2".into() })),
        "Device 'h2' not found"
    );

    // A stream server added over QMP is driven by the I/O thread too.
    qmp.execute_raw(
        "netdev_add",
        Some(json!({
            "type": "stream", "id": "s2", "server": true,
            "addr": {"type": "inet", "host": "127.0.0.1", "port": p2.to_string()}
        })),
    )
    .unwrap();
    qmp.execute(&hubport("h3", 0, Some("s2"))).unwrap();
    let mut c = connect(p2);
    wait_connected(&mut qmp, "s2");
    write_frame(&mut c, &frame(100, 5));
    assert_eq!(read_frame(&mut a), frame(100, 5));
    assert_eq!(read_frame(&mut b), frame(100, 5));

    // A client going away raises NETDEV_STREAM_DISCONNECTED.
    drop(a);
    wait_event(
        &mut qmp,
        "NETDEV_STREAM_DISCONNECTED of s0",
        |e| matches!(e, Event::NetdevStreamDisconnected(d) if d.netdev_id == "s0"),
    );

    daemon.signal(libc::SIGTERM);
    let (status, _) = daemon.wait_exit();
    assert_eq!(status.code(), Some(0));
}

/// What QEMU prints first on stderr for `args`, or `None` when QEMU is
/// not installed.
fn qemu_message(args: &[&str]) -> Option<String> {
    if Command::new(QEMU).arg("--version").output().is_err() {
        return None;
    }
    let mut all = vec!["-M", "none", "-nodefaults", "-display", "none", "-S"];
    all.extend_from_slice(args);
    let mut qemu = Daemon::start_program(QEMU, &all);
    let (_, stderr) = qemu.wait_exit();
    Some(stderr.lines().next().unwrap_or_default().to_owned())
}

#[test]
fn bad_options_exit_1_with_qemus_messages() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qmp.sock");
    let qmp = unix_address(&socket);
    let [p0, p1] = [free_port(), free_port()];
    let (first, second) = (stream_server("a", p0), stream_server("a", p1));
    let first_s0 = stream_server("s0", p0);
    let dgram_s1 = format!(
        "dgram,id=s1,local.type=inet,local.host=127.0.0.1,local.port={p1},\
         remote.type=inet,remote.host=127.0.0.1,remote.port={p0}"
    );
    // The arguments, the option and text the message names, the message,
    // and whether QEMU 7.2 says the same (it reads keyval hubport with
    // QemuOpts, whose duplicate is "Duplicate ID 'a' for netdev").
    let cases: &[(&[&str], &str, &str, bool)] = &[
        (
            &["-netdev", "stream,id=x"],
            "-netdev stream,id=x",
            "Parameter 'addr' is missing",
            true,
        ),
        (
            &["-netdev", "hubport,id=h0"],
            "-netdev hubport,id=h0",
            "Parameter 'hubid' is missing",
            true,
        ),
        (
            &["-netdev", "bogus,id=x"],
            "-netdev bogus,id=x",
            "Parameter 'type' does not accept value 'bogus'",
            true,
        ),
        (
            &["-netdev", "stream,id=x,addr"],
            "-netdev stream,id=x,addr",
            "Expected '=' after parameter 'addr'",
            true,
        ),
        (
            &[
                "-netdev",
                r#"{"type": "hubport", "id": "h0", "hubid": "1"}"#,
            ],
            r#"-netdev {"type": "hubport", "id": "h0", "hubid": "1"}"#,
            "Invalid parameter type for 'hubid', expected: integer",
            true,
        ),
        (
            &["-netdev", &first, "-netdev", &second],
            &format!("-netdev {second}"),
            "Duplicate ID 'a'",
            true,
        ),
        (
            &[
                "-netdev",
                r#"{"type": "hubport", "id": "a", "hubid": 0}"#,
                "-netdev",
                r#"{"type": "hubport", "id": "a", "hubid": 1}"#,
            ],
            r#"-netdev {"type": "hubport", "id": "a", "hubid": 1}"#,
            "Duplicate ID 'a'",
            true,
        ),
        (
            &[
                "-netdev",
                "hubport,id=a,hubid=0",
                "--netdev",
                "hubport,id=a,hubid=1",
            ],
            "-netdev hubport,id=a,hubid=1",
            "Duplicate ID 'a'",
            false,
        ),
        (
            // QEMU's order: s0, then h1 (which fails), before h0 and s1.
            &[
                "-netdev",
                "hubport,id=h0,hubid=0,netdev=s0",
                "-netdev",
                &first_s0,
                "-netdev",
                r#"{"type": "hubport", "id": "h1", "hubid": 0, "netdev": "s1"}"#,
                "-netdev",
                &dgram_s1,
            ],
            r#"-netdev {"type": "hubport", "id": "h1", "hubid": 0, "netdev": "s1"}"#,
            "netdev 's1' not found",
            true,
        ),
        (
            &["-netdev", "hubport,id=h,hubid=0,netdev=zz"],
            "-netdev hubport,id=h,hubid=0,netdev=zz",
            "netdev 'zz' not found",
            true,
        ),
        (
            &["-compat", "bogus=1"],
            "-compat bogus=1",
            "Parameter 'bogus' is unexpected",
            true,
        ),
        (
            &["-compat", "deprecated-input=maybe"],
            "-compat deprecated-input=maybe",
            "Parameter 'deprecated-input' does not accept value 'maybe'",
            true,
        ),
    ];
    let mut differences = Vec::new();
    let mut qemu_missing = false;
    for (args, option, message, same_in_qemu) in cases {
        let mut all = args.to_vec();
        all.extend(["--qmp", &qmp]);
        let (status, stderr) = Daemon::start(&all).wait_exit();
        let expected = format!("netdevd: {option}: {message}\n");
        assert_eq!((status.code(), stderr.as_str()), (Some(1), &*expected));
        assert!(!socket.exists(), "{args:?} left {}", socket.display());
        if *same_in_qemu {
            match qemu_message(args) {
                None => qemu_missing = true,
                Some(theirs) => {
                    let ours = format!("{QEMU}: {option}: {message}");
                    if theirs != ours {
                        differences.push(format!("{args:?}\n  QEMU: {theirs}\n  ours: {ours}"));
                    }
                }
            }
        }
    }
    assert!(
        differences.is_empty(),
        "differences from QEMU:\n{}",
        differences.join("\n")
    );
    if qemu_missing {
        assert!(std::env::var_os("CI").is_none(), "{QEMU} is needed in CI");
        qapi_tests::skipped(
            qapi_tests::SkipReason::NotInstalled(QEMU),
            "the texts were not compared with QEMU's",
        );
    }

    // Not QEMU's: our own options.
    let (status, stderr) = Daemon::start(&["--qmp", "udp:1"]).wait_exit();
    assert_eq!(status.code(), Some(1));
    assert_eq!(
        stderr,
        "netdevd: --qmp udp:1: invalid address 'udp:1': \
         expected unix:PATH, tcp:HOST:PORT or tcp::PORT\n"
    );
    let (status, stderr) = Daemon::start(&["-bogus"]).wait_exit();
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("'--bogus'"), "{stderr}");
    let (status, stderr) = Daemon::start(&["-netdev"]).wait_exit();
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("--netdev <NETDEV>"), "{stderr}");
}

#[test]
fn sigterm_exits_0_and_removes_the_qmp_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qmp.sock");
    let mut daemon = Daemon::start(&[
        "-netdev",
        "hubport,id=h0,hubid=0",
        "-qmp",
        &unix_address(&socket),
        "-qmp",
        "tcp:127.0.0.1:0",
    ]);
    daemon.wait_for_path(&socket);
    // A connected client does not hold the daemon up.
    let qmp = qmp_client(&socket);
    qmp.execute(&hubport("h1", 0, None)).unwrap();

    daemon.signal(libc::SIGTERM);
    let (status, stderr) = daemon.wait_exit();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!socket.exists(), "the QMP socket is still there");
    assert!(
        stderr.contains("netdevd: terminating on signal 15\n"),
        "{stderr}"
    );
    // QEMU's startup check, for the netdev made on the command line.
    assert!(
        stderr.starts_with("netdevd: warning: netdev h0 has no peer\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("netdevd: serving QMP on tcp:127.0.0.1:"),
        "{stderr}"
    );
    assert!(qmp.execute(&hubport("h2", 0, None)).is_err());
}

#[test]
fn sigint_stops_a_daemon_without_qmp() {
    let port = free_port();
    let server = stream_server("s0", port);
    let mut daemon = Daemon::start(&["-netdev", &server]);
    // Ready once the stream server accepts.
    let conn = connect(port);
    wait_until("the startup line", || {
        daemon.stderr().contains("without QMP")
    });
    daemon.signal(libc::SIGINT);
    let (status, stderr) = daemon.wait_exit();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("terminating on signal 2"), "{stderr}");
    drop(conn);
}

#[test]
fn compat_policy_applies_to_qmp() {
    let dir = tempfile::tempdir().unwrap();
    let vdpa = json!({"type": "vhost-vdpa", "id": "v0", "x-svq": true});
    let answer = |compat: Option<&str>| {
        let socket: PathBuf = dir.path().join("qmp.sock");
        let address = unix_address(&socket);
        let mut args = vec!["--qmp", &address];
        if let Some(policy) = compat {
            args.extend(["-compat", policy]);
        }
        let mut daemon = Daemon::start(&args);
        daemon.wait_for_path(&socket);
        let qmp = qmp_client(&socket);
        let text = qmp_error(qmp.execute_raw("netdev_add", Some(vdpa.clone())));
        daemon.signal(libc::SIGTERM);
        assert_eq!(daemon.wait_exit().0.code(), Some(0));
        text
    };
    let refused = "Unstable parameter x-svq disabled by policy";
    assert_eq!(answer(Some("unstable-input=reject")), refused);
    // Accepted by the default policy (whatever the driver then says).
    assert_ne!(answer(None), refused);
}

#[test]
fn help_and_version() {
    for flag in ["--help", "-help"] {
        let out = Command::new(NETDEVD).arg(flag).output().unwrap();
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        for needle in [
            "--netdev",
            "-netdev",
            "--qmp",
            "unix:PATH",
            "--compat",
            "Examples:",
        ] {
            assert!(help.contains(needle), "{flag} lacks {needle}:\n{help}");
        }
    }
    let out = Command::new(NETDEVD).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("netdevd "));
}

/// A QMP connection spoken line by line over a std unix socket, so that
/// descriptors can go with a request (`getfd`).
struct LineQmp {
    stream: std::os::unix::net::UnixStream,
    lines: std::io::BufReader<std::os::unix::net::UnixStream>,
}

impl LineQmp {
    fn connect(path: &Path) -> LineQmp {
        let stream = std::os::unix::net::UnixStream::connect(path).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let lines = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut qmp = LineQmp { stream, lines };
        assert!(qmp.next().get("QMP").is_some(), "a greeting");
        assert_eq!(
            qmp.call(json!({"execute": "qmp_capabilities"}), &[]),
            json!({"return": {}})
        );
        qmp
    }

    fn next(&mut self) -> serde_json::Value {
        use std::io::BufRead;
        let mut line = String::new();
        self.lines.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    /// Sends `request` with `fds`; the answer (events are skipped).
    fn call(
        &mut self,
        request: serde_json::Value,
        fds: &[std::os::fd::RawFd],
    ) -> serde_json::Value {
        use std::os::fd::AsRawFd;
        let mut line = serde_json::to_vec(&request).unwrap();
        line.push(b'\n');
        let n = qapi_tests::fds::send_with_fds(self.stream.as_raw_fd(), &line, fds).unwrap();
        assert_eq!(n, line.len());
        loop {
            let v = self.next();
            if v.get("event").is_none() {
                return v;
            }
        }
    }
}

#[test]
fn descriptors_passed_with_getfd_serve_as_netdevs() {
    use std::os::fd::AsRawFd;
    use std::os::unix::net::{UnixDatagram, UnixStream as StdUnixStream};

    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("qmp.sock");
    let mut daemon = Daemon::start(&["--qmp", &unix_address(&socket)]);
    daemon.wait_for_path(&socket);
    let mut qmp = LineQmp::connect(&socket);
    let ok = json!({"return": {}});
    let getfd = |name: &str| json!({"execute": "getfd", "arguments": {"fdname": name}});
    let add = |args: serde_json::Value| json!({"execute": "netdev_add", "arguments": args});

    // stream (client), socket (stream fd) and dgram, each on a descriptor
    // the daemon got with getfd; the test keeps the other ends.
    let (stream_ours, mut stream_end) = StdUnixStream::pair().unwrap();
    let (socket_ours, mut socket_end) = StdUnixStream::pair().unwrap();
    let (dgram_ours, dgram_end) = UnixDatagram::pair().unwrap();
    for (name, fd) in [
        ("st", stream_ours.as_raw_fd()),
        ("sk", socket_ours.as_raw_fd()),
        ("dg", dgram_ours.as_raw_fd()),
    ] {
        assert_eq!(qmp.call(getfd(name), &[fd]), ok, "getfd {name}");
    }
    // The daemon has its own copies now.
    drop((stream_ours, socket_ours, dgram_ours));
    let netdevs = [
        json!({"type": "stream", "id": "n0", "addr": {"type": "fd", "str": "st"}}),
        json!({"type": "socket", "id": "n1", "fd": "sk"}),
        json!({"type": "dgram", "id": "n2", "local": {"type": "fd", "str": "dg"}}),
    ];
    for (i, netdev) in netdevs.into_iter().enumerate() {
        assert_eq!(qmp.call(add(netdev.clone()), &[]), ok, "{netdev}");
        let port = json!({"type": "hubport", "id": format!("h{i}"), "hubid": 0,
                          "netdev": format!("n{i}")});
        assert_eq!(qmp.call(add(port), &[]), ok);
    }

    // A frame from the stream end reaches the other two, and back.
    stream_end
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket_end
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    dgram_end
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let f = frame(1514, 1);
    write_frame(&mut stream_end, &f);
    assert_eq!(read_frame(&mut socket_end), f);
    let mut buf = vec![0u8; 70_000];
    let n = dgram_end.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], &f[..]);
    let g = frame(60, 2);
    dgram_end.send(&g).unwrap();
    assert_eq!(read_frame(&mut stream_end), g);
    assert_eq!(read_frame(&mut socket_end), g);

    // A name is taken by the netdev that uses it; unknown names, names
    // starting with a digit, and getfd without a descriptor get QEMU's
    // texts.
    let desc = |v: serde_json::Value| v["error"]["desc"].as_str().unwrap_or_default().to_owned();
    let again = json!({"type": "dgram", "id": "n3", "local": {"type": "fd", "str": "dg"}});
    assert_eq!(
        desc(qmp.call(add(again), &[])),
        "File descriptor named 'dg' has not been found"
    );
    let (spare, _spare_end) = UnixDatagram::pair().unwrap();
    assert_eq!(
        desc(qmp.call(getfd("1x"), &[spare.as_raw_fd()])),
        "Parameter 'fdname' expects a name not starting with a digit"
    );
    assert_eq!(
        desc(qmp.call(getfd("x"), &[])),
        "No file descriptor supplied via SCM_RIGHTS"
    );
    assert_eq!(qmp.call(getfd("x"), &[spare.as_raw_fd()]), ok);
    let closefd = |name: &str| json!({"execute": "closefd", "arguments": {"fdname": name}});
    assert_eq!(qmp.call(closefd("x"), &[]), ok);
    assert_eq!(
        desc(qmp.call(closefd("x"), &[])),
        "File descriptor named 'x' not found"
    );
    // A named descriptor a netdev refuses is closed, not leaked: the
    // other end reads end-of-file once the daemon's copy is gone.
    let (pipe_r, pipe_w) = StdUnixStream::pair().unwrap();
    assert_eq!(qmp.call(getfd("wrong"), &[pipe_w.as_raw_fd()]), ok);
    drop(pipe_w);
    let refused = json!({"type": "dgram", "id": "n5", "local": {"type": "fd", "str": "wrong"}});
    assert!(
        desc(qmp.call(add(refused), &[])).ends_with("is a stream socket, not a datagram one"),
        "dgram refuses a stream socket"
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut pipe_r = pipe_r;
        let mut rest = Vec::new();
        let _ = tx.send(pipe_r.read_to_end(&mut rest).map(|_| rest));
    });
    let rest = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the daemon closed the refused descriptor")
        .unwrap();
    assert!(rest.is_empty());
    let bad = json!({"type": "stream", "id": "n4", "addr": {"type": "fd", "str": "3x"}});
    assert_eq!(
        desc(qmp.call(add(bad), &[])),
        "Invalid file descriptor number '3x'"
    );
}
