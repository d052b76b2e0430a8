//! Descriptor passing (`getfd`, `closefd`, SCM_RIGHTS) on a server with
//! `Config::fd_passing`, answered as QEMU 7.2 answers the same requests
//! with the same descriptors; the descriptor a name keeps is the one the
//! client sent.
//!
//! Without `qemu-system-x86_64` the comparison prints `SKIPPED` and the
//! rest still runs, except in CI (`CI` set), where it fails.

mod support;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use qapi_runtime::qmp::Config;
use qapi_tests::qemu::Qemu;
use serde_json::{json, Value};
use support::{start_demo, Raw};

/// Sends one request with `fds` as SCM_RIGHTS ancillary data.
fn send_with_fds(raw: &Raw, request: &Value, fds: &[RawFd]) {
    let mut line = serde_json::to_vec(request).unwrap();
    line.push(b'\n');
    // A short request on a fresh socket is sent whole.
    let n = qapi_tests::fds::send_with_fds(raw.stream.as_raw_fd(), &line, fds).unwrap();
    assert_eq!(n, line.len());
}

/// The requests and the descriptors sent with each (indices into the
/// pipe ends the run opens), as QEMU 7.2 was probed with them.
fn script() -> Vec<(Value, Vec<usize>)> {
    let getfd = |args: Value| json!({"execute": "getfd", "arguments": args});
    let closefd = |name: &str| json!({"execute": "closefd", "arguments": {"fdname": name}});
    vec![
        (getfd(json!({"fdname": "a"})), vec![]),
        (getfd(json!({"fdname": "1a"})), vec![0]),
        (getfd(json!({"fdname": "a"})), vec![0]),
        (getfd(json!({"fdname": "a"})), vec![1]),
        (getfd(json!({})), vec![1]),
        (getfd(json!({"fdname": "a", "x": 1})), vec![1]),
        (getfd(json!({"fdname": 1})), vec![1]),
        (closefd("a"), vec![]),
        (closefd("a"), vec![]),
        (closefd("1"), vec![]),
        (json!({"execute": "closefd"}), vec![]),
        (getfd(json!({"fdname": "p"})), vec![1, 0]),
    ]
}

/// Runs the script on a negotiated connection; the answers.
async fn run_script(raw: &mut Raw) -> Vec<Value> {
    let (r, w) = std::os::unix::net::UnixStream::pair().unwrap();
    let ends = [OwnedFd::from(r), OwnedFd::from(w)];
    let mut answers = Vec::new();
    for (request, fds) in script() {
        let fds: Vec<RawFd> = fds.iter().map(|&i| ends[i].as_raw_fd()).collect();
        send_with_fds(raw, &request, &fds);
        answers.push(raw.recv().await.expect("an answer"));
    }
    answers
}

fn with_fd_passing() -> Config {
    Config {
        fd_passing: true,
        ..Config::default()
    }
}

fn listed(answer: &Value, name: &str) -> bool {
    answer["return"]
        .as_array()
        .is_some_and(|a| a.iter().any(|c| c["name"] == name))
}

#[tokio::test]
async fn getfd_and_closefd_answer_as_qemu_does() {
    let s = start_demo(with_fd_passing()).await;
    let mut ours = Raw::negotiated(&s.path, false).await;
    let commands = ours.call(json!({"execute": "query-commands"})).await;
    assert!(listed(&commands, "getfd") && listed(&commands, "closefd"));
    let our_answers = run_script(&mut ours).await;
    for ((request, _), answer) in script().iter().zip(&our_answers) {
        println!("{request} -> {answer}");
    }
    assert_eq!(
        our_answers[0]["error"]["desc"],
        "No file descriptor supplied via SCM_RIGHTS"
    );
    assert_eq!(our_answers[2], json!({"return": {}}));

    // Of two descriptors sent with one request, "p" keeps one.
    assert_eq!(s.server.named_fds().names(), ["p"]);

    // Without QEMU, `Qemu::start` reports the skip.
    if let Some(qemu) = Qemu::start() {
        let mut theirs = Raw::negotiated(qemu.socket(), false).await;
        let commands = theirs.call(json!({"execute": "query-commands"})).await;
        assert!(listed(&commands, "getfd") && listed(&commands, "closefd"));
        let their_answers = run_script(&mut theirs).await;
        assert_eq!(our_answers, their_answers);
    }
}

#[tokio::test]
async fn the_named_descriptor_is_the_one_sent() {
    let s = start_demo(with_fd_passing()).await;
    let mut raw = Raw::negotiated(&s.path, false).await;
    let (mut r, w) = std::os::unix::net::UnixStream::pair().unwrap();
    let request = json!({"execute": "getfd", "arguments": {"fdname": "pipe"}});
    send_with_fds(&raw, &request, &[w.as_raw_fd()]);
    assert_eq!(raw.recv().await, Some(json!({"return": {}})));
    drop(w);
    let kept = s.server.named_fds().take("pipe").expect("kept");
    let mut writer = std::fs::File::from(kept);
    writer.write_all(b"hello").unwrap();
    drop(writer);
    let mut got = String::new();
    r.read_to_string(&mut got).unwrap();
    assert_eq!(
        got, "hello",
        "the server's descriptor is the pipe's write end"
    );
}

#[tokio::test]
async fn without_fd_passing_there_is_no_getfd() {
    let s = start_demo(Config::default()).await;
    let mut raw = Raw::negotiated(&s.path, false).await;
    let commands = raw.call(json!({"execute": "query-commands"})).await;
    assert!(!listed(&commands, "getfd"));
    let (_r, w) = std::os::unix::net::UnixStream::pair().unwrap();
    let request = json!({"execute": "getfd", "arguments": {"fdname": "a"}});
    send_with_fds(&raw, &request, &[w.as_raw_fd()]);
    let answer = raw.recv().await.unwrap();
    assert_eq!(answer["error"]["class"], "CommandNotFound");
    assert!(s.server.named_fds().names().is_empty());
}
