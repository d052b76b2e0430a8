//! The QMP client against this crate's server (and a scripted peer for
//! what a well-behaved server never sends): typed commands, many in
//! flight, out-of-band, events known and unknown, timeouts, getting the
//! stream back, the blocking wrapper.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use net_backends::qapi::commands::{NetdevAdd, NetdevDel, QueryRxFilter, SetLink};
use net_backends::qapi::{Netdev, NetdevBranch, NetdevHubPortOptions};
use qapi_generated_tests::client as demo;
use qapi_runtime::qmp::{BlockingClient, Client, ClientError, ClientOptions, Config, Decoded};
use qapi_runtime::ErrorClass;
use serde_json::json;
use support::{net_memory::NetService, start, start_demo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn shape(name: &str) -> demo::Shape {
    demo::Shape {
        name: name.into(),
        points: vec![],
        color: None,
        extra: None,
        sizes: None,
        digit: None,
    }
}

fn hubport(id: &str, hubid: i32) -> NetdevAdd {
    NetdevAdd(Netdev {
        id: id.into(),
        r#type: NetdevBranch::Hubport(NetdevHubPortOptions {
            hubid,
            netdev: None,
        }),
    })
}

#[tokio::test]
async fn typed_commands_and_errors() {
    let s = start(NetService::default(), Config::default()).await;
    let c = Client::connect_unix(&s.path, ClientOptions::default())
        .await
        .unwrap();
    assert!(c.oob());
    assert_eq!(c.greeting().capabilities, ["oob"]);
    c.execute(&hubport("h0", 0)).await.unwrap();
    let e = c.execute(&hubport("h0", 0)).await.unwrap_err();
    assert_eq!(e.class(), Some(ErrorClass::GenericError));
    assert_eq!(e.to_string(), "Duplicate ID 'h0'");
    c.execute(&SetLink {
        name: "h0".into(),
        up: false,
    })
    .await
    .unwrap();
    assert!(!s.server.service().0.lock().unwrap().netdevs["h0"].up);
    let rx = c.execute(&QueryRxFilter { name: None }).await.unwrap();
    assert!(rx.is_empty());
    let e = c
        .execute(&QueryRxFilter {
            name: Some("h0".into()),
        })
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "net client(h0) isn't a NIC");
    c.execute(&NetdevDel { id: "h0".into() }).await.unwrap();
    let e = c.execute(&NetdevDel { id: "h0".into() }).await.unwrap_err();
    assert_eq!(e.class(), Some(ErrorClass::DeviceNotFound));
    assert_eq!(c.in_flight(), 0);
}

#[tokio::test]
async fn many_commands_in_flight_are_matched_by_id() {
    let s = start(NetService::default(), Config::default()).await;
    let c = Client::connect_unix(&s.path, ClientOptions::default())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("n{i}");
            c.execute(&hubport(&id, i)).await.unwrap();
            // A failing one in between, matched to this caller.
            let e = c
                .execute(&NetdevDel {
                    id: format!("missing{i}"),
                })
                .await
                .unwrap_err();
            assert_eq!(e.to_string(), format!("Device 'missing{i}' not found"));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.server.service().0.lock().unwrap().netdevs.len(), 200);
}

#[tokio::test]
async fn oob_overtakes_and_events_arrive_decoded() {
    let s = start_demo(Config::default()).await;
    let c = Client::connect_unix(&s.path, ClientOptions::default())
        .await
        .unwrap();
    let mut events = c.events();
    let slow = {
        let c = c.clone();
        tokio::spawn(async move {
            let shape = shape("s");
            c.execute(&demo::commands::Draw {
                shape,
                scale: Some(2.0),
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let figures = c
        .execute_oob(&demo::commands::QueryFigures {})
        .await
        .unwrap();
    assert!(figures.is_empty());
    assert_eq!(
        s.server.service().0.drawn.load(Ordering::SeqCst),
        0,
        "the oob answer waited for the slow command"
    );
    let p = slow.await.unwrap().unwrap();
    assert_eq!(p.label.as_deref(), Some("s"));

    let fig = demo::Figure {
        id: "f1".into(),
        hidden: None,
        kind: demo::FigureBranch::Square(demo::Square {
            side: 3,
            center: None,
        }),
    };
    c.execute(&demo::commands::AddFigure(fig)).await.unwrap();
    let e = events.next().await.unwrap().unwrap();
    assert_eq!(e.event, "FIGURE_ADDED");
    assert!(e.timestamp.is_some());
    match e.decode::<demo::events::Event>() {
        Decoded::Known(demo::events::Event::FigureAdded(f)) => assert_eq!(f.id, "f1"),
        other => panic!("{other:?}"),
    }
}

/// A scripted server: sends `lines` after the greeting and the
/// negotiation, then echoes nothing.
async fn scripted(lines: &'static [&'static str]) -> tokio::net::UnixStream {
    let (ours, mut theirs) = tokio::net::UnixStream::pair().unwrap();
    tokio::spawn(async move {
        theirs
            .write_all(b"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 0, \"major\": 99}, \"package\": \"\"}, \"capabilities\": []}}\n")
            .await
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = theirs.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).contains("qmp_capabilities"));
        theirs
            .write_all(b"{\"return\": {}, \"id\": 0}\n")
            .await
            .unwrap();
        for l in lines {
            theirs.write_all(l.as_bytes()).await.unwrap();
        }
        // Keep the connection open while the test runs.
        let _ = theirs.read(&mut buf).await;
        let _ = theirs.read(&mut buf).await;
    });
    ours
}

#[tokio::test]
async fn unknown_events_are_raw_json_never_errors() {
    let stream = scripted(&[
        "{\"event\": \"SOMETHING_NEW\", \"data\": {\"x\": [1]}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\n",
        "{\"event\": \"FIGURE_ADDED\", \"data\": {\"id\": \"a\", \"kind\": \"hexagon-2\"}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 3}}\n",
        "{\"event\": \"FIGURE_ADDED\", \"data\": {\"id\": 5}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 4}}\n",
        "not json at all {\"event\": \"RESET\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 5}}\n",
    ])
    .await;
    let c = Client::handshake(stream, ClientOptions::default())
        .await
        .unwrap();
    assert!(!c.oob(), "not offered, not negotiated");
    assert!(matches!(
        c.execute_raw_oob("x", None).await,
        Err(ClientError::NoOob)
    ));
    let mut ev = c.events();
    let e = ev.next().await.unwrap().unwrap();
    assert_eq!(e.event, "SOMETHING_NEW");
    assert_eq!(e.data, Some(json!({"x": [1]})));
    assert!(matches!(
        e.decode::<demo::events::Event>(),
        Decoded::Unknown
    ));
    // A value this build does not know, read by a client: kept.
    let e = ev.next().await.unwrap().unwrap();
    assert!(
        matches!(e.decode::<demo::events::Event>(), Decoded::Known(_)),
        "{:?}",
        e.decode::<demo::events::Event>()
    );
    let e = ev.next().await.unwrap().unwrap();
    match e.decode::<demo::events::Event>() {
        Decoded::Invalid(err) => assert_eq!(
            err.to_string(),
            "Invalid parameter type for 'id', expected: string"
        ),
        other => panic!("{other:?}"),
    }
    // Garbage from the server is skipped.
    let e = ev.next().await.unwrap().unwrap();
    assert_eq!(e.event, "RESET");
}

#[tokio::test]
async fn timeouts_and_closed_connections() {
    let stream = scripted(&[]).await;
    let c = Client::handshake(stream, ClientOptions::default())
        .await
        .unwrap();
    let e = c
        .execute_timeout(&NetdevDel { id: "x".into() }, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Timeout(_)), "{e}");
    assert_eq!(c.in_flight(), 0);

    // A peer that is not QMP.
    let (ours, mut theirs) = tokio::net::UnixStream::pair().unwrap();
    theirs.write_all(b"{\"hello\": 1}\n").await.unwrap();
    let e = Client::handshake(ours, ClientOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Greeting(_)), "{e}");
    // A peer that says nothing.
    let (ours, _theirs) = tokio::net::UnixStream::pair().unwrap();
    let opts = ClientOptions {
        handshake_timeout: Some(Duration::from_millis(50)),
        ..ClientOptions::default()
    };
    assert!(matches!(
        Client::handshake(ours, opts).await,
        Err(ClientError::HandshakeTimeout {
            waited_for,
            ..
        }) if waited_for.starts_with("QMP greeting")
    ));

    // The server goes away: callers in flight and later get `Closed`.
    let s = start_demo(Config::default()).await;
    let c = Client::connect_unix(&s.path, ClientOptions::default())
        .await
        .unwrap();
    let mut events = c.events();
    let pending = {
        let c = c.clone();
        tokio::spawn(async move {
            let shape = shape("s");
            c.execute(&demo::commands::Draw {
                shape,
                scale: Some(5.0),
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.handle.shutdown();
    assert!(matches!(pending.await.unwrap(), Err(ClientError::Closed)));
    assert!(matches!(
        c.execute_raw("query-version", None).await,
        Err(ClientError::Closed)
    ));
    assert!(events.next().await.is_none());
}

#[tokio::test]
async fn the_stream_comes_back() {
    let s = start(NetService::default(), Config::default()).await;
    let c = Client::connect_unix(&s.path, ClientOptions::default())
        .await
        .unwrap();
    c.execute(&hubport("a", 1)).await.unwrap();
    let mut stream = c.into_inner().await.unwrap();
    // Still a negotiated QMP connection, usable by hand.
    stream
        .write_all(
            b"{\"execute\": \"netdev_del\", \"arguments\": {\"id\": \"a\"}, \"id\": \"raw\"}",
        )
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"{\"return\": {}, \"id\": \"raw\"}\n");
}

#[test]
fn blocking_client() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(start_demo(Config::default()));
    let mut c = BlockingClient::connect_unix(&s.path, ClientOptions::default()).unwrap();
    assert_eq!(c.greeting().capabilities, ["oob"]);
    let fig = demo::Figure {
        id: "b".into(),
        hidden: Some(true),
        kind: demo::FigureBranch::Circle(demo::Circle { radius: 1 }),
    };
    c.execute(&demo::commands::AddFigure(fig.clone())).unwrap();
    let e = c.next_event(Some(Duration::from_secs(5))).unwrap().unwrap();
    assert_eq!(e.event, "FIGURE_ADDED");
    assert_eq!(
        c.execute_oob(&demo::commands::QueryFigures {}).unwrap(),
        vec![fig]
    );
    let e = c.execute(&demo::commands::AddFigure(demo::Figure {
        id: "b".into(),
        hidden: None,
        kind: demo::FigureBranch::None,
    }));
    assert_eq!(e.unwrap_err().to_string(), "Duplicate ID 'b' for figure");
    assert!(c.next_event(Some(Duration::from_millis(20))).is_none());
    let _stream = c.into_inner().unwrap();
    drop(s);
}

#[tokio::test]
async fn a_caller_giving_up_leaves_the_connection_sound() {
    let s = start_demo(Config::default()).await;
    let c = Client::connect_unix(&s.path, ClientOptions::default())
        .await
        .unwrap();
    let slow = demo::commands::Draw {
        shape: shape("slow"),
        scale: Some(0.2),
    };
    let gave_up = tokio::time::timeout(Duration::from_millis(10), c.execute(&slow)).await;
    assert!(gave_up.is_err());
    // The next command is answered, after the slow one (in band).
    assert!(c
        .execute(&demo::commands::QueryFigures {})
        .await
        .unwrap()
        .is_empty());
    assert_eq!(c.in_flight(), 0, "the late answer was matched and dropped");
}

#[tokio::test]
async fn a_stream_not_read_loses_the_oldest_events_and_says_so() {
    let s = start_demo(Config::default()).await;
    let opts = ClientOptions {
        event_queue: 4,
        ..ClientOptions::default()
    };
    let c = Client::connect_unix(&s.path, opts).await.unwrap();
    let mut events = c.events();
    for i in 0..10 {
        let fig = demo::Figure {
            id: format!("f{i}"),
            hidden: None,
            kind: demo::FigureBranch::None,
        };
        c.execute(&demo::commands::AddFigure(fig)).await.unwrap();
    }
    // An answer sent after the last event: all ten were received.
    c.execute(&demo::commands::QueryFigures {}).await.unwrap();
    let first = events.next().await.unwrap();
    assert_eq!(first.unwrap_err(), qapi_runtime::qmp::EventsLost(6));
    for i in 6..10 {
        let e = events.next().await.unwrap().unwrap();
        assert_eq!(e.data.unwrap()["id"], format!("f{i}"));
    }
    assert!(events.try_next().is_none());
}
