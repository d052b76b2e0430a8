//! Against a real QEMU 7.2 (`qemu-system-x86_64 -M none`): our client
//! drives it with the generated net.json request types, and QEMU and our
//! server get the same bytes, malformed ones included, and must answer
//! the same bytes.
//!
//! Without `qemu-system-x86_64` these tests print `SKIPPED` and pass,
//! except in CI (`CI` set), where they fail: `cargo xtask ci` installs
//! Debian's `qemu-system-x86`.

mod support;

use std::path::Path;
use std::time::Duration;

use net_backends::qapi::commands::{AnnounceSelf, NetdevAdd, NetdevDel, QueryRxFilter, SetLink};
use net_backends::qapi::{
    AnnounceParameters, InetSocketAddress, Netdev, NetdevBranch, NetdevDgramOptions,
    NetdevHubPortOptions, SocketAddress, SocketAddressBranch,
};
use qapi_runtime::qmp::{Client, ClientOptions, Config, Decoded};
use qapi_runtime::ErrorClass;
use qapi_tests::ports::free_port;
use qapi_tests::qemu::Qemu;
use serde_json::{json, Value};
use support::{net_memory::NetService, start, Raw};

/// QEMU 7.2 with its QMP socket (fails in CI when missing, skips elsewhere).
fn qemu() -> Option<Qemu> {
    Qemu::start()
}

fn inet(port: u16) -> SocketAddress {
    SocketAddress {
        r#type: SocketAddressBranch::Inet(InetSocketAddress {
            host: "127.0.0.1".into(),
            port: port.to_string(),
            numeric: None,
            to: None,
            ipv4: None,
            ipv6: None,
            keep_alive: None,
        }),
    }
}

fn netdev(id: &str, branch: NetdevBranch) -> NetdevAdd {
    NetdevAdd(Netdev {
        id: id.into(),
        r#type: branch,
    })
}

#[tokio::test]
async fn our_client_drives_qemu() {
    let Some(q) = qemu() else { return };
    let c = Client::connect_unix(&q.socket(), ClientOptions::default())
        .await
        .unwrap();
    let v = c.greeting().version.clone().expect("QEMU's version");
    assert_eq!((v.major, v.minor), (7, 2));
    assert!(c.oob(), "QEMU offers oob on a socket monitor");
    let mut events = c.events();

    let hub = |hubid| {
        NetdevBranch::Hubport(NetdevHubPortOptions {
            hubid,
            netdev: None,
        })
    };
    c.execute(&netdev("h0", hub(0))).await.unwrap();
    let e = c.execute(&netdev("h0", hub(1))).await.unwrap_err();
    assert_eq!(
        (e.class(), e.to_string()),
        (Some(ErrorClass::GenericError), "Duplicate ID 'h0'".into())
    );

    let dgram = |local, remote| {
        NetdevBranch::Dgram(NetdevDgramOptions {
            local,
            remote: Some(inet(remote)),
        })
    };
    c.execute(&netdev("d0", dgram(Some(inet(free_port())), free_port())))
        .await
        .unwrap();
    let e = c
        .execute(&netdev("d1", dgram(None, free_port())))
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "dgram requires local= parameter");

    c.execute(&SetLink {
        name: "h0".into(),
        up: false,
    })
    .await
    .unwrap();
    let e = c
        .execute(&SetLink {
            name: "zz".into(),
            up: true,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.class(), e.to_string()),
        (
            Some(ErrorClass::DeviceNotFound),
            "Device 'zz' not found".into()
        )
    );

    assert!(c
        .execute(&QueryRxFilter { name: None })
        .await
        .unwrap()
        .is_empty());
    let e = c
        .execute(&QueryRxFilter {
            name: Some("h0".into()),
        })
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "net client(h0) isn't a NIC");
    let e = c
        .execute(&QueryRxFilter {
            name: Some("zz".into()),
        })
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "invalid net client name: zz");

    let announce = AnnounceParameters {
        initial: 50,
        max: 550,
        rounds: 5,
        step: 100,
        interfaces: None,
        id: Some("a".into()),
    };
    c.execute(&AnnounceSelf(announce)).await.unwrap();

    c.execute(&NetdevDel { id: "h0".into() }).await.unwrap();
    c.execute(&NetdevDel { id: "d0".into() }).await.unwrap();
    let e = c.execute(&NetdevDel { id: "h0".into() }).await.unwrap_err();
    assert_eq!(
        (e.class(), e.to_string()),
        (
            Some(ErrorClass::DeviceNotFound),
            "Device 'h0' not found".into()
        )
    );

    // Argument errors come from QEMU's visitor; ours read the same texts.
    let e = c
        .execute_raw("netdev_add", Some(json!({"type": "hubport", "id": "x"})))
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "Parameter 'hubid' is missing");
    let e = c.execute_raw("no-such-command", None).await.unwrap_err();
    assert_eq!(
        (e.class(), e.to_string()),
        (
            Some(ErrorClass::CommandNotFound),
            "The command no-such-command has not been found".into()
        )
    );

    // Out of band: QEMU's one OOB command without a guest fails, but
    // answers out of band.
    let e = c
        .execute_raw_oob("migrate-recover", Some(json!({"uri": "x"})))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Migrate recover can only be run when postcopy is paused."
    );
    let e = c.execute_raw_oob("query-version", None).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "The command query-version does not support OOB"
    );

    // An event net.json does not know arrives raw.
    c.execute_raw("stop", None).await.unwrap();
    c.execute_raw("cont", None).await.unwrap();
    let e = events
        .wait_for("RESUME", Duration::from_secs(5))
        .await
        .expect("RESUME from QEMU");
    assert!(e.timestamp.is_some());
    assert!(matches!(
        e.decode::<net_backends::qapi::events::Event>(),
        Decoded::Unknown
    ));

    // Many in flight at once, matched by id.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("p{i}");
            c.execute(&netdev(
                &id,
                NetdevBranch::Hubport(NetdevHubPortOptions {
                    hubid: i,
                    netdev: None,
                }),
            ))
            .await
            .unwrap();
            c.execute(&NetdevDel { id }).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    drop(q);
}

/// What each input gets: every message up to the answer of a sync
/// request sent after it (preceded by 0xFF and a newline, which bring
/// QEMU's lexer back to its start).
async fn answers(path: &Path, negotiate: bool, inputs: &[&[u8]]) -> Vec<Vec<String>> {
    let mut c = if negotiate {
        Raw::negotiated(path, true).await
    } else {
        Raw::connect(path).await
    };
    let mut all = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        c.send(input).await;
        let sync = format!("sync{i}");
        c.send(
            format!("\u{ff}\n{{\"execute\": \"query-rx-filter\", \"id\": \"{sync}\"}}").as_bytes(),
        )
        .await;
        let mut got = Vec::new();
        loop {
            let m = c
                .recv()
                .await
                .unwrap_or_else(|| panic!("no answer to {:?}", String::from_utf8_lossy(input)));
            if m.get("id") == Some(&Value::String(sync.clone())) {
                break;
            }
            got.push(normalize(m));
        }
        all.push(got);
    }
    all
}

/// Our version and package differ from QEMU's, and so may what
/// `query-commands` lists.
fn normalize(mut m: Value) -> String {
    if let Some(r) = m.get_mut("return") {
        if r.get("qemu").is_some() {
            *r = json!("VERSION");
        }
    }
    let mut out = Vec::new();
    qapi_runtime::qmp::json::write_value(&mut out, &m);
    String::from_utf8(out).unwrap()
}

const COMMAND_MODE: &[&[u8]] = &[
    br#"{"execute":"query-version","id":1}"#,
    br#"{"execute":"query-version","id":1,"foo":2}"#,
    br#"{"foo":1,"bar":2,"baz":3}"#,
    br#"{"execute":"query-version","arguments":[]}"#,
    br#"{"execute":1}"#,
    br#"{"exec-oob":"query-version"}"#,
    br#"{"execute":"query-version","exec-oob":"query-version"}"#,
    br#"{"arguments":{}}"#,
    b"{}",
    b"[]",
    b"1",
    b"\"abc\"",
    b"null",
    b"}",
    b"]",
    b":",
    br#"{"execute":"nope","id":[1,{"a":null}]}"#,
    b"{'execute':'query-version'}",
    br#"{"execute":"query-version","id":1,"id":2}"#,
    br#"{"execute":"query-version","arguments":{"x":1}}"#,
    br#"{"execute":"netdev_del","arguments":{}}"#,
    br#"{"execute":"netdev_del","arguments":{"id":"nope"}}"#,
    br#"{"execute":"netdev_del","arguments":{"id":1}}"#,
    br#"{"execute":"netdev_add","arguments":{"type":"hubport","id":"h0","hubid":0},"id":"add"}"#,
    br#"{"execute":"netdev_add","arguments":{"type":"hubport","id":"h0","hubid":0}}"#,
    br#"{"execute":"netdev_add","arguments":{"type":"nope","id":"h1"}}"#,
    br#"{"execute":"netdev_add","arguments":{"id":"h1"}}"#,
    br#"{"execute":"netdev_add","arguments":{"type":"hubport","id":"h1"}}"#,
    br#"{"execute":"netdev_add","arguments":{"type":"hubport","id":"h1","hubid":"0"}}"#,
    br#"{"execute":"netdev_add","arguments":{"type":"hubport","id":"h1","hubid":99999999999}}"#,
    br#"{"execute":"set_link","arguments":{"name":"h0","up":false}}"#,
    br#"{"execute":"set_link","arguments":{"name":"zz","up":false}}"#,
    br#"{"execute":"set_link","arguments":{"name":"h0","up":"no"}}"#,
    br#"{"execute":"query-rx-filter","arguments":{"name":"h0"}}"#,
    br#"{"execute":"query-rx-filter","arguments":{"name":"zz"}}"#,
    br#"{"execute":"announce-self","arguments":{}}"#,
    br#"{"execute":"announce-self","arguments":{"initial":50,"max":550,"rounds":5,"step":100}}"#,
    br#"{"execute":"netdev_del","arguments":{"id":"h0"}}"#,
    br#"{"execute":"qmp_capabilities"}"#,
    br#"{"execute":"query-version" x}"#,
    br#"{"execute":"query-version",}"#,
    br#"{"execute" "x"}"#,
    br#"{"execute":%d}"#,
    b"{\"execute\":\"q\xff\"}",
    b"\xfe{\"execute\":\"query-version\"}",
    b"{\"execute\":\"\xc3\xa9\"}",
    br#"{"execute":"\u00e9\u0001\ud83d\ude00"}"#,
    br#"{"execute":"\u0000"}"#,
    br#"{"execute":"\ud800"}"#,
    br#"{"execute":"\ud800\u0041"}"#,
    br#"{"execute":"\u12"}"#,
    br#"{"execute":"\uFFFE"}"#,
    br#"{"execute":"\x"}"#,
    b"{\"execute\":\"a\x01b\"}",
    b"{\"execute\":\"a\tb\"}",
    br#"{"execute":tru}"#,
    br#"{"execute":01}"#,
    br#"{"execute":0e5}"#,
    br#"{"execute":1.5e3}"#,
    br#"{"execute":-}"#,
    br#"{"execute":1.}"#,
    br#"{1:2}"#,
    br#"{"id":1 "execute":"x"}"#,
    b"[1 2]",
    b"[1,]",
    b"abc",
    b"  \n  \r\t ",
    br#"{"execute":"query-version"}{"execute":"query-version","id":2}"#,
    br#"{"execute":"query-version","id":"%s"}"#,
    b"@",
    b"{\"execute\":\"query-version\"}@{\"execute\":\"query-version\"}",
    b"{\"execute\":\"query-versio\x00n\"}",
    b"{\"execute\":\"\xed\xa0\x80\"}",
    b"{\"execute\":\"\xc0\x80\"}",
    b"{\"execute\":\"\xef\xbf\xbe\"}",
    b"{\"execute\":\"\xf4\x90\x80\x80\"}",
    br#"{"execute": "query-version", "id": 123456789012345678901234567890}"#,
    br#"{"execute": "query-version", "id": 1.0}"#,
    br#"{"execute": "query-version", "id": 0.1}"#,
    br#"{"execute": "query-version", "id": -1.5e-7}"#,
    br#"{"execute": "query-version", "id": 18446744073709551615}"#,
    br#"{"execute": "query-version", "id": -9223372036854775809}"#,
    br#"{"execute": "query-version", "id": -0}"#,
    br#"{"execute": "query-version", "id": "\"\\\/\b\f\n\r\t\u007f"}"#,
    b"{\"execute\": \"query-version\", \"id\": [[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]}",
];

const NEGOTIATION_MODE: &[&[u8]] = &[
    br#"{"execute":"query-version","id":1}"#,
    br#"{"execute":"nope"}"#,
    br#"{"exec-oob":"qmp_capabilities"}"#,
    br#"{"execute":"qmp_capabilities","x":1}"#,
    b"[",
    br#"{"execute":"qmp_capabilities","arguments":{"enable":["foo"]}}"#,
    br#"{"execute":"qmp_capabilities","arguments":{"enable":"oob"}}"#,
    br#"{"execute":"qmp_capabilities","arguments":{"x":1}}"#,
    br#"{"execute":"qmp_capabilities","arguments":{"enable":[1]}}"#,
    br#"{"execute":"qmp_capabilities","arguments":{"enable":["oob","oob"]},"id":"neg"}"#,
    br#"{"execute":"qmp_capabilities"}"#,
];

#[tokio::test]
async fn same_bytes_in_same_bytes_out() {
    let Some(q) = qemu() else { return };
    let ours = start(NetService::default(), Config::default()).await;
    for (negotiate, inputs) in [(true, COMMAND_MODE), (false, NEGOTIATION_MODE)] {
        let theirs = answers(q.socket(), negotiate, inputs).await;
        // QEMU serves one monitor client at a time: ours can run at once.
        let mine = answers(&ours.path, negotiate, inputs).await;
        let mut diffs = Vec::new();
        for ((input, t), m) in inputs.iter().zip(&theirs).zip(&mine) {
            if t != m {
                diffs.push(format!(
                    "{}\n  QEMU: {t:?}\n  ours: {m:?}",
                    String::from_utf8_lossy(input)
                ));
            }
        }
        assert!(
            diffs.is_empty(),
            "{} of {} inputs answered differently:\n{}",
            diffs.len(),
            inputs.len(),
            diffs.join("\n")
        );
    }
}

/// QEMU's whole `query-qmp-schema` answer, read into the types generated
/// from its own `introspect.json` (through the typed request
/// `QueryQmpSchema`), must round-trip: every one of its entries written
/// back gives the JSON QEMU sent.
#[tokio::test]
async fn qemus_introspection_reads_into_generated_types() {
    use qapi_generated_tests::introspect::commands::QueryQmpSchema;
    use qapi_generated_tests::introspect::{SchemaInfo, SchemaInfoBranch, SchemaMetaType};
    use qapi_runtime::{Output, ToValue};

    let Some(q) = qemu() else { return };
    let c = Client::connect_unix(&q.socket(), ClientOptions::default())
        .await
        .unwrap();
    let raw = c.execute_raw("query-qmp-schema", None).await.unwrap();
    let typed: Vec<SchemaInfo> = c.execute(&QueryQmpSchema).await.unwrap();
    let entries = raw.as_array().expect("an array");
    assert_eq!(typed.len(), entries.len());
    assert!(
        typed.len() > 1000,
        "QEMU 7.2 describes over a thousand entries"
    );
    for (t, r) in typed.iter().zip(entries) {
        assert_eq!(&t.to_value(&Output::new()), r, "entry {}", t.name);
    }
    let commands = typed
        .iter()
        .filter(|e| matches!(e.meta_type, SchemaInfoBranch::Command(_)))
        .count();
    assert!(commands > 100, "{commands} commands");
    assert!(typed
        .iter()
        .any(|e| e.name == "netdev_add" && e.meta_type.tag() == SchemaMetaType::Command));
}

/// QEMU started with `-qmp unix:PATH,server=off` connects out to a socket
/// our client listens on; the client takes the connection, reads QEMU's
/// greeting, negotiates and runs commands.
#[tokio::test]
async fn our_client_accepts_qemu_connecting_out() {
    if !qapi_tests::qemu::installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr")).unwrap();
    let child = std::process::Command::new(qapi_tests::qemu::QEMU)
        .args(["-M", "none", "-nodefaults", "-display", "none", "-qmp"])
        .arg(format!("unix:{},server=off", path.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("QEMU starts");
    /// Kills QEMU however the test ends.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _qemu = Killed(child);
    let options = ClientOptions {
        handshake_timeout: Some(qapi_tests::qemu::START_LIMIT),
        ..ClientOptions::default()
    };
    let c = Client::accept_unix(&listener, options)
        .await
        .unwrap_or_else(|e| {
            let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
            panic!("QEMU did not connect and greet: {e}; its stderr: {stderr}")
        });
    let v = c.greeting().version.clone().expect("QEMU's version");
    assert_eq!((v.major, v.minor), (7, 2));
    assert!(c.oob(), "QEMU offers oob on a socket monitor");
    let status = c.execute_raw("query-status", None).await.unwrap();
    assert_eq!(status["status"], "running");
    let e = c
        .execute(&NetdevDel { id: "nope".into() })
        .await
        .expect_err("no such netdev");
    assert_eq!(e.to_string(), "Device 'nope' not found");
}
