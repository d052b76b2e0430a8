//! The guest-agent client (`qmp::GuestAgent`) with the request types
//! generated from QEMU 7.2's `qga/qapi-schema.json`.
//!
//! Against Debian's real `qemu-ga` (package `qemu-guest-agent`), run on
//! the host by the test over a unix socket (`-m unix-listen`), with its
//! state and pid files in a temporary directory and every command that
//! could change the host blocked (`-b`): it runs as root here. Without
//! `qemu-ga` those tests print `SKIPPED`, and fail when `CI` is set.
//!
//! The commands that never answer on success (`guest-shutdown`,
//! `guest-suspend-*`) are only ever sent to a scripted peer.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use qapi_generated_tests::qga::commands as cmd;
use qapi_runtime::qmp::guest_agent::DELIMITER;
use qapi_runtime::qmp::{GuestAgent, GuestAgentError, GuestAgentOptions};
use qapi_runtime::ErrorClass;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

const QEMU_GA: &str = "qemu-ga";

/// Every command that could change the host, blocked: the agent runs as
/// the test's user, root in CI.
const BLOCKED: &str = "guest-shutdown,guest-suspend-disk,guest-suspend-ram,\
guest-suspend-hybrid,guest-set-time,guest-exec,guest-exec-status,guest-set-user-password,\
guest-set-vcpus,guest-set-memory-blocks,guest-fsfreeze-freeze,guest-fsfreeze-freeze-list,\
guest-fsfreeze-thaw,guest-fstrim,guest-ssh-add-authorized-keys,guest-ssh-remove-authorized-keys";

/// A `qemu-ga` listening on a unix socket in a temporary directory;
/// killed when dropped.
struct QemuGa {
    child: Child,
    socket: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for QemuGa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl QemuGa {
    /// Starts the agent; `None` (after a loud `SKIPPED`) when it is not
    /// installed outside CI.
    fn start() -> Option<QemuGa> {
        match Command::new(QEMU_GA).arg("--version").output() {
            Ok(out) => assert!(out.status.success(), "{QEMU_GA} --version failed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let why = format!("{QEMU_GA} not found (Debian package qemu-guest-agent)");
                assert!(
                    !qapi_tests::in_ci(),
                    "{why}; CI is set, so this is an error"
                );
                qapi_tests::skipped(qapi_tests::SkipReason::NotInstalled(QEMU_GA), &why);
                return None;
            }
            Err(e) => panic!("cannot run {QEMU_GA}: {e}"),
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let socket = dir.path().join("qga.sock");
        let log = std::fs::File::create(dir.path().join("log")).expect("a log file");
        let child = Command::new(QEMU_GA)
            .args(["-m", "unix-listen", "-p"])
            .arg(&socket)
            .arg("-t")
            .arg(dir.path())
            .arg("-f")
            .arg(dir.path().join("qemu-ga.pid"))
            .args(["-b", BLOCKED])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("qemu-ga starts");
        let mut agent = QemuGa { child, socket, dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !agent.socket.exists() {
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!("{QEMU_GA} exited ({status}): {}", agent.log());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{QEMU_GA} did not create {} within 30 s: {}",
                agent.socket.display(),
                agent.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(agent)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    async fn client(&self) -> GuestAgent<UnixStream> {
        GuestAgent::connect_unix(&self.socket, GuestAgentOptions::default())
            .await
            .unwrap_or_else(|e| panic!("connecting to {QEMU_GA}: {e}; its log: {}", self.log()))
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let digits: Vec<u32> = text
        .bytes()
        .filter(|b| *b != b'=')
        .map(|b| BASE64.iter().position(|c| *c == b).expect("a base64 digit") as u32)
        .collect();
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | d << (18 - 6 * i));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

#[test]
fn base64_helpers_round_trip() {
    assert_eq!(base64_encode(b"hello!?"), "aGVsbG8hPw==");
    for len in 0..8 {
        let bytes: Vec<u8> = (0..len).map(|i| 250 - i as u8).collect();
        assert_eq!(base64_decode(&base64_encode(&bytes)), bytes);
    }
}

#[tokio::test]
async fn guest_info_and_os_info_from_the_real_agent() {
    let Some(agent) = QemuGa::start() else { return };
    let client = agent.client().await;
    let info = client.execute(&cmd::GuestInfo).await.expect("guest-info");
    assert!(info.version.starts_with("7.2."), "{}", info.version);
    let enabled = |name: &str| {
        info.supported_commands
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.enabled)
    };
    assert_eq!(enabled("guest-sync-delimited"), Some(true));
    assert_eq!(enabled("guest-shutdown"), Some(false), "blocked with -b");
    let shutdown = info
        .supported_commands
        .iter()
        .find(|c| c.name == "guest-shutdown")
        .expect("listed");
    assert!(!shutdown.success_response);

    let os = client
        .execute(&cmd::GuestGetOsinfo)
        .await
        .expect("guest-get-osinfo");
    let uname = Command::new("uname").arg("-r").output().expect("uname");
    assert_eq!(
        os.kernel_release.as_deref(),
        Some(String::from_utf8_lossy(&uname.stdout).trim())
    );
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let id = os_release
        .lines()
        .find_map(|l| l.strip_prefix("ID="))
        .map(|v| v.trim_matches('"').to_owned());
    assert_eq!(os.id, id);
}

#[tokio::test]
async fn file_round_trip_with_the_real_agent() {
    let Some(agent) = QemuGa::start() else { return };
    let client = agent.client().await;
    let path = agent.dir.path().join("data.bin");
    let path_text = path.to_string_lossy().into_owned();
    let data: Vec<u8> = (0..=255u8)
        .chain(b"qapi-rs guest agent".iter().copied())
        .collect();

    let handle = client
        .execute(&cmd::GuestFileOpen {
            path: path_text.clone(),
            mode: Some("w".into()),
        })
        .await
        .expect("guest-file-open w");
    let written = client
        .execute(&cmd::GuestFileWrite {
            handle,
            buf_b64: base64_encode(&data),
            count: None,
        })
        .await
        .expect("guest-file-write");
    assert_eq!(written.count, data.len() as i64);
    client
        .execute(&cmd::GuestFileClose { handle })
        .await
        .expect("guest-file-close");
    assert_eq!(std::fs::read(&path).expect("the file exists"), data);

    let handle = client
        .execute(&cmd::GuestFileOpen {
            path: path_text,
            mode: Some("r".into()),
        })
        .await
        .expect("guest-file-open r");
    let read = client
        .execute(&cmd::GuestFileRead {
            handle,
            count: Some(4096),
        })
        .await
        .expect("guest-file-read");
    assert_eq!(read.count, data.len() as i64);
    assert_eq!(base64_decode(&read.buf_b64), data);
    assert!(read.eof);
    client
        .execute(&cmd::GuestFileClose { handle })
        .await
        .expect("guest-file-close");
    // The handle is gone: an error, with the agent's text.
    let e = client
        .execute(&cmd::GuestFileClose { handle })
        .await
        .expect_err("a closed handle");
    assert_eq!(
        e.qmp().map(|e| e.desc.as_str()),
        Some(format!("handle '{handle}' has not been found").as_str())
    );
}

#[tokio::test]
async fn error_replies_from_the_real_agent() {
    let Some(agent) = QemuGa::start() else { return };
    let client = agent.client().await;
    let missing = agent.dir.path().join("missing");
    let e = client
        .execute(&cmd::GuestFileOpen {
            path: missing.to_string_lossy().into_owned(),
            mode: None,
        })
        .await
        .expect_err("no such file");
    let e = e.qmp().expect("an error reply");
    assert_eq!(e.class, ErrorClass::GenericError);
    assert_eq!(
        e.desc,
        format!(
            "failed to open file '{}' (mode: 'r'): No such file or directory",
            missing.display()
        )
    );
    let e = client
        .execute_raw("no-such-command", None)
        .await
        .expect_err("unknown");
    assert_eq!(e.qmp().map(|e| e.class), Some(ErrorClass::CommandNotFound));
    // Blocked with -b: refused by the agent, never run.
    let e = client
        .execute(&cmd::GuestSetTime { time: None })
        .await
        .expect_err("blocked");
    assert_eq!(
        e.qmp().map(|e| e.desc.as_str()),
        Some("Command guest-set-time has been disabled")
    );
    // Still in step.
    client.execute(&cmd::GuestPing).await.expect("guest-ping");
}

#[tokio::test]
async fn resync_after_a_half_written_request_with_the_real_agent() {
    let Some(agent) = QemuGa::start() else { return };
    let mut stream = UnixStream::connect(&agent.socket).await.expect("connect");
    // Half a request: without the 0xFF flush, the agent would read the
    // next request as the rest of this string.
    stream
        .write_all(br#"{"execute": "guest-file-open", "arguments": {"path": "/nonexist"#)
        .await
        .expect("write");
    let client = GuestAgent::new(stream, GuestAgentOptions::default());
    client.execute(&cmd::GuestPing).await.expect("guest-ping");
    let info = client.execute(&cmd::GuestInfo).await.expect("guest-info");
    assert!(info.version.starts_with("7.2."));
    // A second client session on the same agent after this one.
    drop(client);
    let again = agent.client().await;
    again.execute(&cmd::GuestPing).await.expect("guest-ping");
}

/// A scripted agent: reads request lines and answers each as `answer`
/// says (bytes to write, or `None` to close the connection).
async fn scripted_peer(
    stream: UnixStream,
    mut answer: impl FnMut(&Value) -> Option<Vec<u8>> + Send + 'static,
) -> Vec<Value> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).split(b'\n');
    let mut seen = Vec::new();
    while let Ok(Some(line)) = lines.next_segment().await {
        let text: Vec<u8> = line.into_iter().filter(|b| *b != DELIMITER).collect();
        let Ok(request) = serde_json::from_slice::<Value>(&text) else {
            continue;
        };
        seen.push(request.clone());
        match answer(&request) {
            Some(bytes) => {
                if write.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            None => break,
        }
    }
    seen
}

/// The reply a real agent gives to a sync request.
fn sync_reply(request: &Value) -> Option<Vec<u8>> {
    let id = &request["arguments"]["id"];
    match request["execute"].as_str() {
        Some("guest-sync-delimited") => {
            let mut out = vec![DELIMITER];
            out.extend(format!("{{\"return\": {id}}}\n").bytes());
            Some(out)
        }
        Some("guest-sync") => Some(format!("{{\"return\": {id}}}\n").into_bytes()),
        _ => None,
    }
}

fn options(timeout: Duration) -> GuestAgentOptions {
    GuestAgentOptions {
        timeout,
        sync_timeout: timeout,
        ..GuestAgentOptions::default()
    }
}

#[tokio::test]
async fn a_silent_command_succeeds_when_the_following_sync_is_answered() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let peer = tokio::spawn(scripted_peer(theirs, |request| {
        // guest-shutdown: no reply on success.
        sync_reply(request).or(Some(Vec::new()))
    }));
    let client = GuestAgent::new(ours, options(Duration::from_secs(30)));
    client
        .execute(&cmd::GuestShutdown { mode: None })
        .await
        .expect("no reply is success");
    drop(client);
    let seen = peer.await.unwrap();
    let names: Vec<&str> = seen.iter().filter_map(|r| r["execute"].as_str()).collect();
    assert_eq!(
        names,
        [
            "guest-sync-delimited",
            "guest-shutdown",
            "guest-sync-delimited"
        ]
    );
}

#[tokio::test]
async fn a_silent_commands_error_is_reported() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    tokio::spawn(scripted_peer(theirs, |request| {
        if request["execute"] == "guest-suspend-ram" {
            let reply = json!({"error": {"class": "GenericError",
                "desc": "guest-suspend-ram not supported"}, "id": request["id"]});
            return Some(format!("{reply}\n").into_bytes());
        }
        sync_reply(request)
    }));
    let client = GuestAgent::new(ours, options(Duration::from_secs(30)));
    let e = client
        .execute(&cmd::GuestSuspendRam)
        .await
        .expect_err("the agent's error");
    assert_eq!(
        e.qmp().map(|e| e.desc.as_str()),
        Some("guest-suspend-ram not supported")
    );
    // The stream is resynchronized for the next command.
    let pong = tokio::time::timeout(Duration::from_secs(30), client.sync()).await;
    assert!(matches!(pong, Ok(Ok(()))), "{pong:?}");
}

#[tokio::test]
async fn a_silent_command_succeeds_when_the_guest_goes_away() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    tokio::spawn(scripted_peer(theirs, |request| {
        if request["execute"] == "guest-suspend-disk" {
            return None; // the guest powers off
        }
        sync_reply(request)
    }));
    let client = GuestAgent::new(ours, options(Duration::from_secs(30)));
    client
        .execute(&cmd::GuestSuspendDisk)
        .await
        .expect("the connection closing is success");
}

#[tokio::test]
async fn an_agent_without_sync_delimited_is_synced_with_guest_sync() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let peer = tokio::spawn(scripted_peer(theirs, |request| {
        match request["execute"].as_str() {
            Some("guest-sync-delimited") => Some(
                b"{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command guest-sync-delimited has not been found\"}}\n".to_vec(),
            ),
            Some("guest-ping") => Some(format!("{{\"return\": {{}}, \"id\": {}}}\n", request["id"]).into_bytes()),
            _ => sync_reply(request),
        }
    }));
    let client = GuestAgent::new(ours, options(Duration::from_secs(30)));
    client.execute(&cmd::GuestPing).await.expect("guest-ping");
    drop(client);
    let seen = peer.await.unwrap();
    let names: Vec<&str> = seen.iter().filter_map(|r| r["execute"].as_str()).collect();
    assert_eq!(names, ["guest-sync-delimited", "guest-sync", "guest-ping"]);
}

#[tokio::test]
async fn stale_replies_and_garbage_before_the_sync_reply_are_skipped() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    tokio::spawn(scripted_peer(theirs, |request| {
        let id = &request["arguments"]["id"];
        match request["execute"].as_str() {
            Some("guest-sync-delimited") => {
                // An old answer, half a message, then the delimiter, an
                // old session's sync reply and the real one.
                let mut out = b"{\"return\": {\"old\": 1}, \"id\": 99}\n{\"return\": [1, 2".to_vec();
                out.push(DELIMITER);
                out.extend(format!("{{\"return\": 12345}}\n{{\"return\": {id}}}\n").bytes());
                Some(out)
            }
            Some("guest-info") => Some(
                format!(
                    "{{\"return\": {{\"version\": \"7.2.99\", \"supported_commands\": []}}, \"id\": {}}}\n",
                    request["id"]
                )
                .into_bytes(),
            ),
            _ => None,
        }
    }));
    let client = GuestAgent::new(ours, options(Duration::from_secs(30)));
    let info = client.execute(&cmd::GuestInfo).await.expect("guest-info");
    assert_eq!(info.version, "7.2.99");
}

#[tokio::test]
async fn timeouts_say_what_was_waited_for() {
    // An agent that never answers the sync.
    let (ours, theirs) = UnixStream::pair().unwrap();
    tokio::spawn(scripted_peer(theirs, |_| Some(Vec::new())));
    let client = GuestAgent::new(ours, options(Duration::from_millis(200)));
    let e = client.execute(&cmd::GuestPing).await.expect_err("silence");
    let text = e.to_string();
    assert!(
        text.starts_with("no reply to guest-sync-delimited (id ")
            && text.ends_with(") within 200ms"),
        "{text}"
    );

    // An agent that syncs but does not answer guest-info; the next call
    // resynchronizes (with the 0xFF flush) and goes through.
    let (ours, theirs) = UnixStream::pair().unwrap();
    let peer = tokio::spawn(scripted_peer(theirs, |request| {
        match request["execute"].as_str() {
            Some("guest-info") => Some(Vec::new()),
            Some("guest-ping") => {
                Some(format!("{{\"return\": {{}}, \"id\": {}}}\n", request["id"]).into_bytes())
            }
            _ => sync_reply(request),
        }
    }));
    let client = GuestAgent::new(ours, options(Duration::from_millis(200)));
    let e = client.execute(&cmd::GuestInfo).await.expect_err("silence");
    assert!(matches!(e, GuestAgentError::Timeout { .. }));
    assert_eq!(e.to_string(), "no answer to guest-info within 200ms");
    client
        .execute(&cmd::GuestPing)
        .await
        .expect("guest-ping after a resync");
    drop(client);
    let names: Vec<String> = peer
        .await
        .unwrap()
        .iter()
        .filter_map(|r| r["execute"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        [
            "guest-sync-delimited",
            "guest-info",
            "guest-sync-delimited",
            "guest-ping"
        ]
    );
}

/// The QMP client pointed at a guest agent by mistake says what it waited
/// for, and what to use instead.
#[tokio::test]
async fn the_qmp_client_on_a_guest_agent_says_no_greeting_came() {
    let Some(agent) = QemuGa::start() else { return };
    let options = qapi_runtime::qmp::ClientOptions {
        handshake_timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    let e = qapi_runtime::qmp::Client::connect_unix(&agent.socket, options)
        .await
        .expect_err("qemu-ga sends no greeting");
    assert_eq!(
        e.to_string(),
        "no QMP greeting (QEMU's guest agent sends none: use qmp::GuestAgent) within 300ms"
    );
}
