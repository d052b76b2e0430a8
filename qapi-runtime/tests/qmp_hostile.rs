//! Hostile and broken clients: QEMU's limits, invalid bytes, messages cut
//! short, clients that vanish mid-command or never read, random bytes.
//! The server must not panic, must give back what each connection took,
//! and must keep serving everyone else.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use qapi_runtime::qmp::json::{Limits, MAX_NESTING};
use qapi_runtime::qmp::Config;
use serde_json::json;
use support::{desc, net_memory::NetService, start, start_demo, wait_clients, Raw};
use tokio::io::AsyncWriteExt;

fn small_limits() -> Config {
    Config {
        limits: Limits {
            max_message_size: 64 * 1024,
            max_tokens: 1000,
            max_nesting: MAX_NESTING,
        },
        ..Config::default()
    }
}

/// Reads until the answer with `id`, skipping error answers without one.
async fn answer_with_id(c: &mut Raw, id: &str) -> serde_json::Value {
    loop {
        let r = c.recv().await.expect("the server stopped answering");
        if r.get("id").and_then(|v| v.as_str()) == Some(id) {
            return r;
        }
        assert!(
            r.get("error").is_some() && r.get("id").is_none(),
            "unexpected {r}"
        );
    }
}

#[tokio::test]
async fn nesting_limit_is_qemus() {
    let s = start(NetService::default(), Config::default()).await;
    let mut c = Raw::negotiated(&s.path, false).await;
    // 1024 levels are fine...
    let ok = format!("{}{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
    c.send(ok.as_bytes()).await;
    assert_eq!(
        desc(&c.recv().await.unwrap()),
        "QMP input must be a JSON object"
    );
    // ... 1025 are not, and nothing after the error is held.
    c.send("[".repeat(MAX_NESTING + 1).as_bytes()).await;
    assert_eq!(
        desc(&c.recv().await.unwrap()),
        "JSON nesting depth limit exceeded"
    );
    c.send(b"\xff\n{\"execute\": \"query-rx-filter\", \"id\": \"after\"}")
        .await;
    assert_eq!(
        answer_with_id(&mut c, "after").await,
        json!({"return": [], "id": "after"})
    );
}

#[tokio::test]
async fn size_and_token_limits() {
    let s = start(NetService::default(), small_limits()).await;
    let mut c = Raw::negotiated(&s.path, false).await;
    let tokens = format!("[{}1]", "1,".repeat(600));
    c.send(tokens.as_bytes()).await;
    assert_eq!(
        desc(&c.recv().await.unwrap()),
        "JSON token count limit exceeded"
    );
    // What follows the refused part is read as new messages (errors
    // here); 0xFF and a newline bring the lexer back to a clean start.
    c.send(b"\xff\n{\"execute\": \"query-rx-filter\", \"id\": \"sync1\"}")
        .await;
    answer_with_id(&mut c, "sync1").await;
    // One string over the size limit: refused as soon as it is too big,
    // long before it ends.
    c.send(b"{\"execute\": \"").await;
    c.send(&vec![b'a'; 70 * 1024]).await;
    assert_eq!(
        desc(&c.recv().await.unwrap()),
        "JSON token size limit exceeded"
    );
    c.send(b"\xff\n{\"execute\": \"query-rx-filter\", \"id\": \"sync2\"}")
        .await;
    answer_with_id(&mut c, "sync2").await;
    // A message over the limit in total.
    let big = format!(
        "{{\"execute\": \"query-rx-filter\", \"arguments\": {{\"name\": \"{}\", \"x\": \"{}\"}}}}",
        "b".repeat(40 * 1024),
        "c".repeat(40 * 1024)
    );
    c.send(big.as_bytes()).await;
    assert_eq!(
        desc(&c.recv().await.unwrap()),
        "JSON token size limit exceeded"
    );
    c.send(b"\xff\n{\"execute\": \"query-rx-filter\", \"id\": \"after\"}")
        .await;
    let r = answer_with_id(&mut c, "after").await;
    assert_eq!(r, json!({"return": [], "id": "after"}));
}

#[tokio::test]
async fn invalid_utf8_and_control_bytes() {
    let s = start(NetService::default(), Config::default()).await;
    let mut c = Raw::negotiated(&s.path, false).await;
    c.send(b"\xfe").await;
    assert_eq!(
        desc(&c.recv().await.unwrap()),
        "JSON parse error, stray '\u{fffd}'"
    );
    c.send(b"{\"execute\": \"a\xc3\"}").await;
    assert_eq!(
        desc(&c.recv().await.unwrap()),
        "JSON parse error, invalid UTF-8 sequence in string"
    );
    c.send(b"{\"execute\": \"\xef\xbf\xbe\"}").await;
    assert_eq!(
        desc(&c.recv().await.unwrap()),
        "JSON parse error, invalid UTF-8 sequence in string"
    );
    c.send(b"{\"execute\": \"nul\x00\"}").await;
    assert_eq!(
        desc(&c.recv().await.unwrap()),
        "JSON parse error, stray '\"nul'"
    );
    c.send(b"\n{\"execute\": \"query-rx-filter\", \"id\": \"ok\"}")
        .await;
    answer_with_id(&mut c, "ok").await;
}

#[tokio::test]
async fn half_sent_messages() {
    let s = start(NetService::default(), Config::default()).await;
    // Byte by byte is the same as all at once.
    let mut c = Raw::negotiated(&s.path, false).await;
    for b in br#"{"execute": "netdev_add", "arguments": {"type": "hubport", "id": "x", "hubid": 0}, "id": 1}"# {
        c.send(&[*b]).await;
    }
    assert_eq!(c.recv().await, Some(json!({"return": {}, "id": 1})));
    // Half a message, then gone: nothing runs, nothing stays.
    let mut d = Raw::negotiated(&s.path, false).await;
    d.send(br#"{"execute": "netdev_del", "arguments": {"id": "x""#)
        .await;
    drop(d);
    wait_clients(&s.handle, 1).await;
    assert!(s
        .server
        .service()
        .0
        .lock()
        .unwrap()
        .netdevs
        .contains_key("x"));
}

#[tokio::test]
async fn a_client_vanishing_mid_command() {
    let s = start_demo(Config::default()).await;
    let mut other = Raw::negotiated(&s.path, false).await;
    let mut c = Raw::negotiated(&s.path, true).await;
    c.send_json(&json!({"execute": "draw", "arguments": {"shape": {"name": "s", "points": []}, "scale": 0.3}}))
        .await;
    c.send_json(&json!({"execute": "draw", "arguments": {"shape": {"name": "t", "points": []}}}))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(c);
    // The others are served meanwhile.
    let r = other.call(json!({"execute": "query-figures"})).await;
    assert_eq!(r, json!({"return": []}));
    // The command running finishes; the queued one is dropped (oob on).
    wait_clients(&s.handle, 1).await;
    assert_eq!(s.server.service().0.drawn.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_client_that_never_reads() {
    let config = Config {
        event_backlog: 64,
        ..Config::default()
    };
    let s = start_demo(config).await;
    let mut reader = Raw::negotiated(&s.path, false).await;
    // Floods requests and reads nothing: only its own connection stalls.
    let flooder = Raw::negotiated(&s.path, false).await;
    let mut stream = flooder.stream;
    let flood = tokio::spawn(async move {
        let line = b"{\"execute\": \"query-figures\", \"id\": \"flood\"}\n".repeat(1000);
        for _ in 0..1000 {
            if tokio::time::timeout(Duration::from_millis(500), stream.write_all(&line))
                .await
                .is_err()
            {
                break; // the server stopped reading it: good
            }
        }
        stream
    });
    let r = reader
        .call(json!({"execute": "query-figures", "id": "r"}))
        .await;
    assert_eq!(r, json!({"return": [], "id": "r"}));
    let stream = flood.await.unwrap();
    // Events pile up for it: past the backlog it is disconnected, while a
    // client that reads gets every one.
    let sleeper = Raw::negotiated(&s.path, false).await;
    for i in 0..20_000 {
        s.handle
            .emit(&qapi_generated_tests::server::events::Event::FigureAdded(
                qapi_generated_tests::server::events::FigureAdded {
                    id: format!("e{i}"),
                    kind: qapi_generated_tests::server::Kind::Circle,
                },
            ));
        if i % 32 == 31 {
            // Let the reading client keep up.
            for j in i - 31..=i {
                let e = reader.recv().await.unwrap();
                assert_eq!(e["data"]["id"], format!("e{j}"));
            }
        }
    }
    drop(stream);
    wait_clients(&s.handle, 1).await;
    drop(sleeper);
    let r = reader
        .call(json!({"execute": "query-figures", "id": "still"}))
        .await;
    assert_eq!(r["id"], "still");
}

/// A small deterministic generator (xorshift), so failures repeat.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::test]
async fn random_bytes_never_break_the_server() {
    let s = start(NetService::default(), small_limits()).await;
    let pieces: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b":",
        b",",
        b"\"",
        b"'",
        b"\\",
        b"\\u",
        b"d800",
        b"execute",
        b"\"execute\"",
        b"\"arguments\"",
        b"\"id\"",
        b"exec-oob",
        b"netdev_add",
        b"1",
        b"-",
        b"0",
        b"e",
        b"1.5e3",
        b"true",
        b"nul",
        b"\xff",
        b"\xc3",
        b"\x00",
        b"\n",
        b" ",
        b"%d",
        b"\xed\xa0\x80",
        b"\"netdev_del\"",
        b"{\"type\":\"hubport\"",
    ];
    let mut rng = Rng(0x9E3779B97F4A7C15);
    for round in 0..40 {
        let mut c = Raw::negotiated(&s.path, round % 2 == 0).await;
        let mut garbage = Vec::new();
        for _ in 0..(rng.next() % 400) {
            if rng.next() % 4 == 0 {
                garbage.push(rng.next() as u8);
            } else {
                garbage.extend_from_slice(pieces[(rng.next() % pieces.len() as u64) as usize]);
            }
        }
        c.send(&garbage).await;
        let id = format!("after-{round}");
        c.send(format!("\u{0}\n{{\"execute\": \"query-rx-filter\", \"id\": \"{id}\"}}").as_bytes())
            .await;
        // Whatever the garbage did, the server still answers.
        loop {
            let r = c.recv().await.unwrap_or_else(|| {
                panic!("no answer after {:?}", String::from_utf8_lossy(&garbage))
            });
            if r.get("id").and_then(|v| v.as_str()) == Some(id.as_str()) {
                assert_eq!(r["return"], json!([]));
                break;
            }
        }
    }
    wait_clients(&s.handle, 0).await;
}

#[tokio::test]
async fn connections_come_and_go_without_leaks() {
    let s = start(NetService::default(), Config::default()).await;
    for i in 0..100 {
        let mut c = Raw::connect(&s.path).await;
        if i % 3 == 0 {
            c.send(b"{\"execute\": \"qmp_capabilities\"}{\"execute\": ")
                .await;
        }
    }
    wait_clients(&s.handle, 0).await;
    assert_eq!(s.handle.connections_served(), 100);
}

#[tokio::test]
async fn clients_past_the_limit_wait_their_turn() {
    let s = start(
        NetService::default(),
        Config {
            max_clients: 2,
            ..Config::default()
        },
    )
    .await;
    let a = Raw::connect(&s.path).await;
    let _b = Raw::connect(&s.path).await;
    let mut third = tokio::net::UnixStream::connect(&s.path).await.unwrap();
    let mut buf = [0u8; 256];
    use tokio::io::AsyncReadExt;
    assert!(
        tokio::time::timeout(Duration::from_millis(100), third.read(&mut buf))
            .await
            .is_err(),
        "no greeting yet"
    );
    drop(a);
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"{\"QMP\""));
}

#[tokio::test]
async fn a_stream_of_answers_does_not_starve_events() {
    let s = start_demo(Config {
        event_backlog: 16,
        ..Config::default()
    })
    .await;
    let c = Raw::negotiated(&s.path, false).await;
    let (mut rd, mut wr) = c.stream.into_split();
    let writer = tokio::spawn(async move {
        let line = b"{\"execute\": \"query-figures\"}\n".repeat(100);
        for _ in 0..50 {
            wr.write_all(&line).await.unwrap();
        }
        wr
    });
    let emitter = {
        let h = s.handle.clone();
        tokio::spawn(async move {
            for _ in 0..200 {
                h.emit(&qapi_generated_tests::server::events::Event::Reset(
                    qapi_generated_tests::server::events::Reset,
                ));
                tokio::task::yield_now().await;
            }
        })
    };
    let mut streamer = qapi_runtime::qmp::json::Streamer::default();
    let (mut answers, mut events) = (0, 0);
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    use tokio::io::AsyncReadExt;
    while answers < 5000 || events < 200 {
        let n = tokio::time::timeout(Duration::from_secs(5), rd.read(&mut buf))
            .await
            .expect("the server went quiet")
            .unwrap();
        assert!(
            n > 0,
            "disconnected after {answers} answers and {events} events"
        );
        streamer.feed(&buf[..n], &mut out);
        for m in out.drain(..) {
            let m = m.unwrap();
            if m.get("event").is_some() {
                events += 1;
            } else {
                answers += 1;
            }
        }
    }
    emitter.await.unwrap();
    drop(writer.await.unwrap());
}

/// A message at the nesting limit is read, handled and answered on a
/// thread whose stack is `json::STACK_BUDGET`, with the server, its
/// connection task and the client all on that thread: a nested `id` is
/// echoed and nested arguments refused. A parser (or handler) that needed
/// more than the documented budget would overflow the stack here. The
/// requests are written by hand, not by serde_json, so that only the
/// QMP code's own needs are measured.
#[test]
fn a_message_at_the_nesting_limit_fits_the_stack_budget() {
    let budget = qapi_runtime::qmp::json::STACK_BUDGET;
    let nested = |depth: usize| format!("{}\"bottom\"{}", "[".repeat(depth), "]".repeat(depth));
    let on_budget = std::thread::Builder::new()
        .name("stack budget".into())
        .stack_size(budget)
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let s = start_demo(Config::default()).await;
                let mut c = Raw::negotiated(&s.path, false).await;
                // The request object is one level: the id nests up to the limit.
                let id = nested(MAX_NESTING - 1);
                c.send(format!("{{\"execute\": \"query-figures\", \"id\": {id}}}").as_bytes())
                    .await;
                let answer = c.recv().await.expect("an answer");
                let mut echoed = Vec::new();
                qapi_runtime::qmp::json::write_value(&mut echoed, &answer["id"]);
                assert_eq!(
                    String::from_utf8_lossy(&echoed),
                    id,
                    "the nested id is echoed"
                );
                let arguments = format!(
                    "{{\"id\": {}, \"kind\": \"circle\"}}",
                    nested(MAX_NESTING - 2)
                );
                c.send(
                    format!("{{\"execute\": \"add-figure\", \"arguments\": {arguments}}}")
                        .as_bytes(),
                )
                .await;
                let answer = c.recv().await.expect("an answer");
                assert_eq!(
                    desc(&answer),
                    "Invalid parameter type for 'id', expected: string"
                );
            });
        })
        .expect("a thread");
    if let Err(panic) = on_budget.join() {
        std::panic::resume_unwind(panic);
    }
}
