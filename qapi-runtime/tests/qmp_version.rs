//! `query-version` and the greeting: answered by the server from
//! `Config::version` (by default no QEMU release: 0.0.0), or by the
//! service when its schema has QEMU's `query-version` (the generated
//! handler and `VersionInfo` type), whose answer the greeting announces.

mod support;

use std::sync::Mutex;

use qapi_generated_tests::version::commands::{Commands, QmpService, QueryVersion};
use qapi_generated_tests::version::{VersionInfo, VersionTriple};
use qapi_runtime::qmp::{Client, ClientOptions, Config};
use qapi_runtime::Error;
use serde_json::json;
use support::{net_memory::NetService, start, Raw};

/// Answers `query-version` as QEMU 7.2.13 with a package of its own.
struct Versioned;

impl Commands for Versioned {
    fn query_version(&mut self) -> Result<VersionInfo, Error> {
        Ok(VersionInfo {
            qemu: VersionTriple {
                major: 7,
                minor: 2,
                micro: 13,
            },
            package: "answered by the service".into(),
        })
    }
}

#[tokio::test]
async fn the_service_answers_query_version_and_the_greeting_says_the_same() {
    let s = start(QmpService(Mutex::new(Versioned)), Config::default()).await;
    let expected = json!({"qemu": {"major": 7, "minor": 2, "micro": 13},
                          "package": "answered by the service"});
    let mut raw = Raw::connect(&s.path).await;
    assert_eq!(raw.greeting["QMP"]["version"], expected);
    raw.send_json(&json!({"execute": "qmp_capabilities"})).await;
    assert_eq!(raw.recv().await, Some(json!({"return": {}})));
    assert_eq!(
        raw.call(json!({"execute": "query-version"})).await,
        json!({ "return": expected })
    );
    let commands = raw.call(json!({"execute": "query-commands"})).await;
    let listed = commands["return"]
        .as_array()
        .expect("a list")
        .iter()
        .filter(|c| c["name"] == "query-version")
        .count();
    assert_eq!(listed, 1, "{commands}");

    // Typed, through the client and the generated request type.
    let c = Client::connect_unix(&s.path, ClientOptions::default())
        .await
        .unwrap();
    let version = c.execute(&QueryVersion).await.unwrap();
    assert_eq!(version.qemu.micro, 13);
    assert_eq!(version.package, "answered by the service");
    let greeting = c.greeting().version.clone().expect("a version");
    assert_eq!((greeting.major, greeting.minor, greeting.micro), (7, 2, 13));
}

#[tokio::test]
async fn by_default_the_server_claims_no_qemu_release() {
    let s = start(NetService::default(), Config::default()).await;
    let mut raw = Raw::negotiated(&s.path, false).await;
    let expected = json!({"qemu": {"major": 0, "minor": 0, "micro": 0},
                          "package": concat!("qapi-runtime ", env!("CARGO_PKG_VERSION"))});
    assert_eq!(raw.greeting["QMP"]["version"], expected);
    assert_eq!(
        raw.call(json!({"execute": "query-version"})).await,
        json!({ "return": expected })
    );
}
