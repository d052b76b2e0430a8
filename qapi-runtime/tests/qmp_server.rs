//! The QMP server's protocol, seen from a raw socket: greeting,
//! negotiation, envelope errors, ids, built-in commands, out-of-band
//! execution, events, the compat policy, several clients at once; with
//! QEMU 9.0's net.json (in memory) and the demo schema.

mod support;

use std::time::Duration;

use qapi_runtime::policy::{CompatPolicy, InputPolicy, OutputPolicy};
use qapi_runtime::qmp::{Address, Config, VersionInfo};
use serde_json::json;
use support::{class, desc, net_memory::NetService, start, start_demo, wait_clients, Raw};

fn version() -> VersionInfo {
    VersionInfo {
        major: 9,
        minor: 0,
        micro: 4,
        package: "test".into(),
    }
}

#[tokio::test]
async fn greeting_negotiation_and_builtins() {
    let config = Config {
        version: version(),
        ..Config::default()
    };
    let s = start(NetService::default(), config).await;
    let mut c = Raw::connect(&s.path).await;
    assert_eq!(
        c.greeting,
        json!({"QMP": {"version": {"qemu": {"micro": 4, "minor": 0, "major": 9}, "package": "test"}, "capabilities": ["oob"]}})
    );
    // Before negotiation, every command but qmp_capabilities is refused.
    for cmd in ["query-version", "netdev_del", "nope"] {
        let r = c.call(json!({"execute": cmd, "id": 7})).await;
        assert_eq!(
            r,
            json!({"id": 7, "error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}})
        );
    }
    // Envelope errors keep their own text.
    let r = c.call(json!({"execute": "query-version", "x": 1})).await;
    assert_eq!(desc(&r), "QMP input member 'x' is unexpected");
    let r = c.call(json!({"exec-oob": "qmp_capabilities"})).await;
    assert_eq!(desc(&r), "QMP input member 'exec-oob' is unexpected");
    // Argument errors of qmp_capabilities, QEMU's texts.
    let r = c
        .call(json!({"execute": "qmp_capabilities", "arguments": {"enable": ["foo"]}}))
        .await;
    assert_eq!(desc(&r), "Parameter 'null' does not accept value 'foo'");
    let r = c
        .call(json!({"execute": "qmp_capabilities", "arguments": {"enable": [1]}}))
        .await;
    assert_eq!(
        desc(&r),
        "Invalid parameter type for 'enable[0]', expected: string"
    );
    let r = c
        .call(json!({"execute": "qmp_capabilities", "arguments": {"enable": "oob"}}))
        .await;
    assert_eq!(
        desc(&r),
        "Invalid parameter type for 'enable', expected: array"
    );
    let r = c
        .call(json!({"execute": "qmp_capabilities", "id": {"any": ["json", null]}}))
        .await;
    assert_eq!(r, json!({"return": {}, "id": {"any": ["json", null]}}));
    let r = c.call(json!({"execute": "qmp_capabilities"})).await;
    assert_eq!(
        r,
        json!({"error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}})
    );
    let r = c.call(json!({"execute": "query-version"})).await;
    assert_eq!(
        r,
        json!({"return": {"qemu": {"major": 9, "minor": 0, "micro": 4}, "package": "test"}})
    );
    let r = c
        .call(json!({"execute": "query-version", "arguments": {"a": 1}}))
        .await;
    assert_eq!(desc(&r), "Parameter 'a' is unexpected");
    let r = c.call(json!({"execute": "query-commands"})).await;
    let names: Vec<&str> = r["return"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for n in [
        "qmp_capabilities",
        "query-commands",
        "query-version",
        "query-qmp-schema",
        "netdev_add",
        "netdev_del",
        "set_link",
        "query-rx-filter",
        "announce-self",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let r = c.call(json!({"execute": "query-qmp-schema"})).await;
    let schema = r["return"].as_array().unwrap();
    assert!(schema
        .iter()
        .any(|e| e["name"] == "netdev_add" && e["meta-type"] == "command"));
    // Without oob negotiated, exec-oob is just an unknown member.
    let r = c
        .call(json!({"execute": "query-commands", "exec-oob": "x"}))
        .await;
    assert_eq!(desc(&r), "QMP input member 'exec-oob' is unexpected");
}

#[tokio::test]
async fn net_commands_with_qemu_texts() {
    let s = start(NetService::default(), Config::default()).await;
    let mut c = Raw::negotiated(&s.path, false).await;
    let add = json!({"execute": "netdev_add", "arguments": {"type": "hubport", "id": "h0", "hubid": 0}, "id": "a"});
    assert_eq!(c.call(add.clone()).await, json!({"return": {}, "id": "a"}));
    assert_eq!(desc(&c.call(add).await), "Duplicate ID 'h0'");
    let cases = [
        (
            json!({"type": "nope", "id": "h1"}),
            "Parameter 'type' does not accept value 'nope'",
        ),
        (json!({"id": "h1"}), "Parameter 'type' is missing"),
        (
            json!({"type": "hubport", "id": "h1"}),
            "Parameter 'hubid' is missing",
        ),
        (
            json!({"type": "hubport", "id": 1, "hubid": 0}),
            "Invalid parameter type for 'id', expected: string",
        ),
    ];
    for (args, text) in cases {
        let r = c
            .call(json!({"execute": "netdev_add", "arguments": args}))
            .await;
        assert_eq!((class(&r), desc(&r)), ("GenericError", text));
    }
    let r = c
        .call(json!({"execute": "set_link", "arguments": {"name": "zz", "up": false}}))
        .await;
    assert_eq!(
        r,
        json!({"error": {"class": "DeviceNotFound", "desc": "Device 'zz' not found"}})
    );
    let r = c
        .call(json!({"execute": "query-rx-filter", "arguments": {"name": "h0"}}))
        .await;
    assert_eq!(desc(&r), "net client(h0) isn't a NIC");
    let r = c.call(json!({"execute": "query-rx-filter"})).await;
    assert_eq!(r, json!({"return": []}));
    let r = c
        .call(json!({"execute": "netdev_del", "arguments": {"id": "h0"}}))
        .await;
    assert_eq!(r, json!({"return": {}}));
    let r = c
        .call(json!({"execute": "netdev_del", "arguments": {"id": "h0"}}))
        .await;
    assert_eq!(class(&r), "DeviceNotFound");
    assert!(s.server.service().0.lock().unwrap().netdevs.is_empty());
}

#[tokio::test]
async fn malformed_input_gets_qemus_errors_and_the_next_message_is_read() {
    let s = start(NetService::default(), Config::default()).await;
    let mut c = Raw::negotiated(&s.path, false).await;
    let cases: &[(&[u8], &str)] = &[
        (b"[]", "QMP input must be a JSON object"),
        (b"{}", "QMP input lacks member 'execute'"),
        (
            b"{\"execute\": 1}",
            "QMP input member 'execute' must be a string",
        ),
        (
            b"{\"execute\": \"x\", \"arguments\": 1}",
            "QMP input member 'arguments' must be an object",
        ),
        (
            b"{\"execute\": \"a\", \"id\": 1, \"id\": 2}",
            "JSON parse error, duplicate key",
        ),
        (
            b"{\"execute\" \"x\"}",
            "JSON parse error, missing : in object pair",
        ),
        (
            b"{\"execute\": tru}",
            "JSON parse error, invalid keyword 'tru'",
        ),
        (b"@", "JSON parse error, stray '@'"),
        (
            b"{\"execute\": \"\\ud800\"}",
            "JSON parse error, \\ud800 is not a valid Unicode character",
        ),
        (
            b"{\"execute\": \"\xed\xa0\x80\"}",
            "JSON parse error, invalid UTF-8 sequence in string",
        ),
    ];
    for (input, text) in cases {
        c.send(input).await;
        let r = c.recv().await.unwrap();
        assert_eq!(desc(&r), *text, "for {}", String::from_utf8_lossy(input));
    }
    // Single quotes are QEMU's extension.
    let r = c.call(json!("ignored")).await;
    assert_eq!(desc(&r), "QMP input must be a JSON object");
    c.send(b"{'execute': 'query-rx-filter', 'id': 'sq'}").await;
    assert_eq!(c.recv().await, Some(json!({"return": [], "id": "sq"})));
    let r = c.call(json!({"execute": "nope", "id": 1})).await;
    assert_eq!(
        r,
        json!({"id": 1, "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}})
    );
}

#[tokio::test]
async fn out_of_band_runs_ahead_of_queued_commands() {
    let s = start_demo(Config::default()).await;
    // Without oob negotiated, exec-oob is not a member QMP knows.
    let mut plain = Raw::negotiated(&s.path, false).await;
    let r = plain
        .call(json!({"exec-oob": "query-figures", "id": 1}))
        .await;
    assert_eq!(desc(&r), "QMP input member 'exec-oob' is unexpected");

    let mut c = Raw::negotiated(&s.path, true).await;
    // A slow in-band command, then an out-of-band one: the second is
    // answered first.
    c.send_json(&json!({"execute": "draw", "arguments": {"shape": {"name": "s", "points": []}, "scale": 0.3}, "id": "slow"}))
        .await;
    c.send_json(&json!({"execute": "query-figures", "id": "queued"}))
        .await;
    c.send_json(&json!({"exec-oob": "query-figures", "id": "oob"}))
        .await;
    let order: Vec<_> = [
        c.recv().await.unwrap(),
        c.recv().await.unwrap(),
        c.recv().await.unwrap(),
    ]
    .iter()
    .map(|r| r["id"].as_str().unwrap().to_owned())
    .collect();
    assert_eq!(order, ["oob", "slow", "queued"]);
    let r = c.call(json!({"exec-oob": "query-version"})).await;
    assert_eq!(desc(&r), "The command query-version does not support OOB");
    let r = c.call(json!({"exec-oob": "draw", "arguments": {}})).await;
    assert_eq!(desc(&r), "The command draw does not support OOB");
}

#[tokio::test]
async fn oob_is_refused_when_not_offered() {
    let s = start_demo(Config {
        oob: false,
        ..Config::default()
    })
    .await;
    let mut c = Raw::connect(&s.path).await;
    assert_eq!(c.greeting["QMP"]["capabilities"], json!([]));
    let r = c
        .call(json!({"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}))
        .await;
    assert_eq!(desc(&r), "Capability oob not available");
}

#[tokio::test]
async fn no_reply_for_success_response_false() {
    let s = start_demo(Config::default()).await;
    let mut c = Raw::negotiated(&s.path, false).await;
    c.send_json(&json!({"execute": "fire-and-forget", "id": 1}))
        .await;
    c.send_json(&json!({"execute": "query-figures", "id": 2}))
        .await;
    assert_eq!(c.recv().await, Some(json!({"return": [], "id": 2})));
    // Errors are still answered.
    let r = c
        .call(json!({"execute": "fire-and-forget", "arguments": {"x": 1}, "id": 3}))
        .await;
    assert_eq!(desc(&r), "Parameter 'x' is unexpected");
}

#[tokio::test]
async fn events_reach_every_negotiated_client_with_timestamps() {
    let s = start_demo(Config::default()).await;
    let mut a = Raw::negotiated(&s.path, false).await;
    let mut b = Raw::negotiated(&s.path, true).await;
    let mut waiting = Raw::connect(&s.path).await;
    let r = a
        .call(json!({"execute": "add-figure", "arguments": {"id": "f", "kind": "circle", "radius": 2}}))
        .await;
    // The event may come before or after the answer.
    let second = a.recv().await.unwrap();
    let (answer, event) = if r.get("event").is_some() {
        (second, r)
    } else {
        (r, second)
    };
    assert_eq!(answer, json!({"return": {}}));
    for e in [event, b.recv().await.unwrap()] {
        assert_eq!(e["event"], "FIGURE_ADDED");
        assert_eq!(e["data"], json!({"id": "f", "kind": "circle"}));
        let t = &e["timestamp"];
        assert!(t["seconds"].as_i64().unwrap() > 1_600_000_000);
        assert!((0..1_000_000).contains(&t["microseconds"].as_i64().unwrap()));
    }
    // A client still negotiating gets no event.
    assert_eq!(waiting.recv_within(Duration::from_millis(100)).await, None);
    // Events without data have no `data`.
    assert!(s
        .handle
        .emit(&qapi_generated_tests::server::events::Event::Reset(
            qapi_generated_tests::server::events::Reset
        )));
    let e = b.recv().await.unwrap();
    assert_eq!(e["event"], "RESET");
    assert!(e.get("data").is_none());
}

#[tokio::test]
async fn compat_policy_applies_to_commands_arguments_and_events() {
    let policy = CompatPolicy {
        deprecated_input: InputPolicy::Reject,
        deprecated_output: OutputPolicy::Hide,
        ..CompatPolicy::default()
    };
    let s = start_demo(Config {
        policy,
        ..Config::default()
    })
    .await;
    let mut c = Raw::negotiated(&s.path, false).await;
    let r = c.call(json!({"execute": "old-cmd"})).await;
    assert_eq!(
        r,
        json!({"error": {"class": "CommandNotFound", "desc": "Deprecated command old-cmd disabled by policy"}})
    );
    let r = c
        .call(json!({"execute": "with-old-member", "arguments": {"old": 1}}))
        .await;
    assert_eq!(desc(&r), "Deprecated parameter old disabled by policy");
    let r = c
        .call(json!({"execute": "with-old-member", "arguments": {"new": 1}}))
        .await;
    assert_eq!(r, json!({"return": {}}));
    #[allow(deprecated)]
    let old = qapi_generated_tests::server::events::Event::OldEvent(
        qapi_generated_tests::server::events::OldEvent,
    );
    assert!(!s.handle.emit(&old), "a deprecated event is hidden");
}

#[tokio::test]
async fn clients_have_their_own_state() {
    let s = start(NetService::default(), Config::default()).await;
    let mut a = Raw::negotiated(&s.path, false).await;
    let mut b = Raw::connect(&s.path).await;
    let r = a.call(json!({"execute": "query-rx-filter"})).await;
    assert_eq!(r, json!({"return": []}));
    let r = b.call(json!({"execute": "query-rx-filter"})).await;
    assert_eq!(class(&r), "CommandNotFound");
    // Many clients at once, each with its own requests in flight.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let path = s.path.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Raw::negotiated(&path, i % 2 == 0).await;
            for j in 0..20 {
                let id = format!("h{i}-{j}");
                c.send_json(&json!({"execute": "netdev_add", "arguments": {"type": "hubport", "id": id, "hubid": i}, "id": j}))
                    .await;
            }
            for j in 0..20 {
                assert_eq!(c.recv().await, Some(json!({"return": {}, "id": j})));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.server.service().0.lock().unwrap().netdevs.len(), 16 * 20);
    drop((a, b));
    wait_clients(&s.handle, 0).await;
}

#[tokio::test]
async fn tcp_listens_on_loopback_by_default() {
    let a: Address = "tcp:0".parse().unwrap();
    assert_eq!(a, Address::Tcp("127.0.0.1:0".parse().unwrap()));
    assert_eq!(
        "tcp::4444".parse::<Address>().unwrap(),
        Address::Tcp("127.0.0.1:4444".parse().unwrap())
    );
    assert_eq!(
        "unix:/x".parse::<Address>().unwrap(),
        Address::Unix("/x".into())
    );
    assert!("foo".parse::<Address>().is_err());
    let listener = qapi_runtime::qmp::Listener::bind(&a).await.unwrap();
    let Ok(Address::Tcp(bound)) = listener.local_address() else {
        panic!()
    };
    assert!(bound.ip().is_loopback());
    let server = qapi_runtime::qmp::Server::new(NetService::default());
    let handle = server.handle();
    let task = tokio::spawn(async move { server.serve(listener).await });
    let client = qapi_runtime::qmp::Client::connect_tcp(bound, Default::default())
        .await
        .unwrap();
    assert!(client.oob());
    let v = client.execute_raw("query-rx-filter", None).await.unwrap();
    assert_eq!(v, json!([]));
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn any_byte_stream_serves_one_client() {
    let server = qapi_runtime::qmp::Server::new(NetService::default());
    let (ours, theirs) = tokio::io::duplex(4096);
    let served = {
        let server = server.clone();
        tokio::spawn(async move { server.serve_connection(ours).await })
    };
    let client = qapi_runtime::qmp::Client::handshake(theirs, Default::default())
        .await
        .unwrap();
    let v = client.execute_raw("query-rx-filter", None).await.unwrap();
    assert_eq!(v, json!([]));
    drop(client);
    served.await.unwrap();
    assert_eq!(server.handle().clients(), 0);
}

/// The generated `QmpService` (Builder option `qmp_service`) serves a
/// plain `Commands` implementation behind a `Mutex`, with no hand-written
/// glue.
#[tokio::test]
async fn the_generated_service_adaptor_serves_commands() {
    use qapi_generated_tests::server::{self as demo, commands::QmpService};

    #[derive(Default)]
    struct Counter(u32);

    #[allow(deprecated)]
    impl demo::commands::Commands for Counter {
        fn draw(
            &mut self,
            _shape: demo::Shape,
            _scale: Option<f64>,
        ) -> Result<demo::Point, qapi_runtime::Error> {
            self.0 += 1;
            Ok(demo::Point {
                x: self.0 as i8,
                y: 0,
                label: None,
                weight: None,
                size: None,
            })
        }
        fn add_figure(&mut self, _: demo::Figure) -> Result<(), qapi_runtime::Error> {
            Ok(())
        }
        fn send_signal(&mut self, _: demo::Signal) -> Result<(), qapi_runtime::Error> {
            Ok(())
        }
        fn x_exp(&mut self, _: i64) -> Result<(), qapi_runtime::Error> {
            Ok(())
        }
        fn query_figures(&mut self) -> Result<Vec<demo::Figure>, qapi_runtime::Error> {
            Ok(vec![])
        }
        fn old_cmd(&mut self) -> Result<(), qapi_runtime::Error> {
            Ok(())
        }
        fn fire_and_forget(&mut self) -> Result<(), qapi_runtime::Error> {
            Ok(())
        }
        fn cond_args(&mut self, _: demo::CondArgs) -> Result<(), qapi_runtime::Error> {
            Ok(())
        }
        fn with_old_member(
            &mut self,
            _: Option<i64>,
            _: Option<i64>,
        ) -> Result<(), qapi_runtime::Error> {
            Ok(())
        }
    }

    let s = start(
        QmpService(std::sync::Mutex::new(Counter::default())),
        Config::default(),
    )
    .await;
    let mut c = Raw::connect(&s.path).await;
    c.call(json!({"execute": "qmp_capabilities"})).await;
    let args = json!({"shape": {"name": "s", "points": []}});
    let r = c.call(json!({"execute": "draw", "arguments": args})).await;
    assert_eq!(r, json!({"return": {"x": 1, "y": 0}}));
    let r = c.call(json!({"execute": "draw", "arguments": args})).await;
    assert_eq!(r, json!({"return": {"x": 2, "y": 0}}));
    let r = c.call(json!({"execute": "query-qmp-schema"})).await;
    assert!(r["return"].as_array().is_some_and(|a| !a.is_empty()));
}
