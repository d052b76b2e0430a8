//! The control plane: every net command through the generated
//! `commands::dispatch` with JSON arguments (so argument errors are the
//! input visitor's), QEMU's classes and texts, events, and one session
//! over QMP with the runtime's server and client.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use net_backends::control::{id_wellformed, NetService, NetStack};
use net_backends::core::{rarp_frame, ClientKind, MacAddr, NicConfig, NicHandle, RxFilter};
use net_backends::qapi::commands::{self, NetdevAdd, NetdevDel, SetLink};
use net_backends::qapi::events::{Event, NicRxFilterChanged};
use net_backends::qapi::{Netdev, NetdevBranch, NetdevHubPortOptions};
use qapi_runtime::event::Emitter;
use qapi_runtime::qmp::{Address, Client, ClientOptions, Listener, Server};
use qapi_runtime::{Error, ErrorClass, Input, Output, Value};
use serde_json::json;

/// A stack whose events land in a shared vector.
fn stack() -> (NetStack, Arc<Mutex<Vec<Event>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let mut s = NetStack::new();
    s.set_emitter(Emitter::new(move |e: &Event, _| {
        sink.lock().unwrap().push(e.clone())
    }));
    (s, events)
}

fn run(s: &mut NetStack, name: &str, args: Value) -> Result<Value, Error> {
    commands::dispatch(s, name, Some(args), &mut Input::new(), &Output::new())
        .expect("a known command")
}

fn ok(s: &mut NetStack, name: &str, args: Value) -> Value {
    match run(s, name, args.clone()) {
        Ok(v) => v,
        Err(e) => panic!("{name} {args}: {e:?}"),
    }
}

fn err(s: &mut NetStack, name: &str, args: Value) -> (ErrorClass, String) {
    match run(s, name, args.clone()) {
        Ok(v) => panic!("{name} {args} succeeded: {v}"),
        Err(e) => (e.class, e.desc),
    }
}

fn generic(desc: &str) -> (ErrorClass, String) {
    (ErrorClass::GenericError, desc.to_owned())
}

fn not_found(id: &str) -> (ErrorClass, String) {
    (
        ErrorClass::DeviceNotFound,
        format!("Device '{id}' not found"),
    )
}

fn mac(last: u8) -> MacAddr {
    MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, last])
}

/// A NIC called `name` peered with hub port `port` on hub `hubid`.
fn nic_on_hub(s: &mut NetStack, name: &str, port: &str, hubid: i32, last: u8) -> NicHandle {
    ok(
        s,
        "netdev_add",
        json!({"id": port, "type": "hubport", "hubid": hubid}),
    );
    let peer = s.network().lookup(port).unwrap();
    let mut cfg = NicConfig::new(mac(last));
    cfg.path = format!("/machine/peripheral/{name}/virtio-backend");
    s.network_mut().add_nic(name, cfg, Some(peer)).unwrap()
}

#[test]
fn ids_follow_qemu_id_wellformed() {
    for good in ["a", "net0", "a-b.c_d", "Z9"] {
        assert!(id_wellformed(good), "{good}");
    }
    for bad in ["", "0a", "-a", "a b", "a/b", "é", "_a", "a:b"] {
        assert!(!id_wellformed(bad), "{bad}");
    }
}

#[test]
fn netdev_add_hubport_and_its_peer() {
    let (mut s, _) = stack();
    assert_eq!(
        ok(
            &mut s,
            "netdev_add",
            json!({"id": "h0", "type": "hubport", "hubid": 3})
        ),
        json!({})
    );
    let h0 = s.network().lookup("h0").unwrap();
    assert_eq!(s.network().kind(h0).unwrap(), ClientKind::HubPort);
    assert_eq!(s.network().hub_ports(3), &[h0]);
    // netdev= names the peer: another hub's port here.
    ok(
        &mut s,
        "netdev_add",
        json!({"id": "h1", "type": "hubport", "hubid": 4, "netdev": "h0"}),
    );
    let h1 = s.network().lookup("h1").unwrap();
    assert_eq!(s.network().peer(h1).unwrap(), Some(h0));
    assert_eq!(s.network().peer(h0).unwrap(), Some(h1));
    // net/hub.c: "netdev '%s' not found"; NICs are not netdevs.
    assert_eq!(
        err(
            &mut s,
            "netdev_add",
            json!({"id": "h2", "type": "hubport", "hubid": 0, "netdev": "nope"})
        ),
        generic("netdev 'nope' not found")
    );
    nic_on_hub(&mut s, "n0", "p0", 0, 1);
    assert_eq!(
        err(
            &mut s,
            "netdev_add",
            json!({"id": "h2", "type": "hubport", "hubid": 0, "netdev": "n0"})
        ),
        generic("netdev 'n0' not found")
    );
    // A peer that already has one is refused (QEMU asserts).
    assert_eq!(
        err(
            &mut s,
            "netdev_add",
            json!({"id": "h2", "type": "hubport", "hubid": 0, "netdev": "h0"})
        ),
        generic("net client 'h0' is already in use")
    );
    assert!(s.network().lookup("h2").is_none());
    // The typed handler path: Netdev values straight into the trait.
    let nd = Netdev {
        id: "h3".into(),
        r#type: NetdevBranch::Hubport(NetdevHubPortOptions {
            hubid: 0,
            netdev: None,
        }),
    };
    commands::Commands::netdev_add(&mut s, nd).unwrap();
    assert_eq!(s.network().hub_ports(0).len(), 2);
}

#[test]
fn netdev_add_duplicate_and_malformed_ids() {
    let (mut s, _) = stack();
    ok(
        &mut s,
        "netdev_add",
        json!({"id": "h0", "type": "hubport", "hubid": 0}),
    );
    nic_on_hub(&mut s, "n0", "p0", 0, 1);
    for id in ["h0", "p0", "n0"] {
        assert_eq!(
            err(
                &mut s,
                "netdev_add",
                json!({"id": id, "type": "hubport", "hubid": 1})
            ),
            generic(&format!("Duplicate ID '{id}'"))
        );
        // A driver still to come looks the id up first, as QEMU does
        // before calling the init function.
        assert_eq!(
            err(&mut s, "netdev_add", json!({"id": id, "type": "socket"})),
            generic(&format!("Duplicate ID '{id}'"))
        );
    }
    for id in ["0a", "a b", "", "-x"] {
        assert_eq!(
            err(
                &mut s,
                "netdev_add",
                json!({"id": id, "type": "hubport", "hubid": 1})
            ),
            generic("Parameter 'id' expects an identifier")
        );
    }
}

#[test]
fn netdev_add_refused_types_and_drivers_to_come() {
    let (mut s, _) = stack();
    ok(
        &mut s,
        "netdev_add",
        json!({"id": "h0", "type": "hubport", "hubid": 0}),
    );
    // QEMU's net_client_init1 refuses these before looking the id up.
    for (ty, extra) in [
        ("nic", json!({})),
        ("none", json!({})),
        ("netmap", json!({"ifname": "vale0"})),
    ] {
        for id in ["x", "h0"] {
            let mut args = json!({"id": id, "type": ty});
            args.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            assert_eq!(
                err(&mut s, "netdev_add", args),
                generic(&format!(
                    "network backend '{ty}' is not compiled into this binary"
                )),
                "{ty}"
            );
        }
    }
    let to_come = [
        ("user", json!({})),
        ("tap", json!({})),
        ("vde", json!({})),
        ("bridge", json!({})),
        ("vhost-user", json!({"chardev": "c0"})),
        ("vhost-vdpa", json!({})),
    ];
    for (ty, extra) in to_come {
        let mut args = json!({"id": "x", "type": ty});
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        assert_eq!(
            err(&mut s, "netdev_add", args),
            generic(&format!("netdev '{ty}' is not supported by this build yet")),
            "{ty}"
        );
        assert!(s.network().lookup("x").is_none());
    }
}

#[test]
fn netdev_add_argument_errors_are_the_visitors() {
    let (mut s, _) = stack();
    assert_eq!(
        err(&mut s, "netdev_add", json!({"id": "h", "type": "hubport"})),
        generic("Parameter 'hubid' is missing")
    );
    assert_eq!(
        err(&mut s, "netdev_add", json!({"id": "h"})),
        generic("Parameter 'type' is missing")
    );
    assert_eq!(
        err(
            &mut s,
            "netdev_add",
            json!({"id": "h", "type": "hubport", "hubid": "0"})
        ),
        generic("Invalid parameter type for 'hubid', expected: integer")
    );
    assert_eq!(
        err(
            &mut s,
            "netdev_add",
            json!({"id": "h", "type": "hubport", "hubid": 0, "x": 1})
        ),
        generic("Parameter 'x' is unexpected")
    );
    assert_eq!(
        err(&mut s, "netdev_add", json!({"id": "h", "type": "bogus"})),
        generic("Parameter 'type' does not accept value 'bogus'")
    );
    assert!(s.network().clients().next().is_none());
}

#[test]
fn netdev_del() {
    let (mut s, _) = stack();
    ok(
        &mut s,
        "netdev_add",
        json!({"id": "h0", "type": "hubport", "hubid": 0}),
    );
    ok(
        &mut s,
        "netdev_add",
        json!({"id": "h1", "type": "hubport", "hubid": 1, "netdev": "h0"}),
    );
    let n = nic_on_hub(&mut s, "n0", "p0", 0, 1);
    assert_eq!(ok(&mut s, "netdev_del", json!({"id": "h1"})), json!({}));
    let h0 = s.network().lookup("h0").unwrap();
    assert_eq!(s.network().peer(h0).unwrap(), None);
    assert_eq!(s.network().hub_ports(1), &[]);
    assert_eq!(
        err(&mut s, "netdev_del", json!({"id": "h1"})),
        not_found("h1")
    );
    // A NIC is no netdev: QEMU's qemu_find_netdev skips it.
    assert_eq!(
        err(&mut s, "netdev_del", json!({"id": "n0"})),
        not_found("n0")
    );
    assert!(s.network().nic_mac(n).is_ok());
    // Deleting the NIC's netdev leaves the NIC without a peer.
    ok(&mut s, "netdev_del", json!({"id": "p0"}));
    assert_eq!(s.network().peer(n.client()).unwrap(), None);
    // The id is free again.
    ok(
        &mut s,
        "netdev_add",
        json!({"id": "h1", "type": "hubport", "hubid": 1}),
    );
    assert_eq!(
        err(&mut s, "netdev_del", json!({})),
        generic("Parameter 'id' is missing")
    );
}

#[test]
fn set_link() {
    let (mut s, _) = stack();
    let n = nic_on_hub(&mut s, "n0", "p0", 0, 1);
    ok(
        &mut s,
        "netdev_add",
        json!({"id": "h1", "type": "hubport", "hubid": 0}),
    );
    let p0 = s.network().lookup("p0").unwrap();
    let h1 = s.network().lookup("h1").unwrap();
    // On a netdev whose peer is a NIC: both go down.
    assert_eq!(
        ok(&mut s, "set_link", json!({"name": "p0", "up": false})),
        json!({})
    );
    assert!(!s.network().link_up(p0).unwrap());
    assert!(!s.network().link_up(n.client()).unwrap());
    assert!(s.network().link_up(h1).unwrap());
    // On a NIC whose peer is a hub port: the port keeps its state.
    ok(&mut s, "set_link", json!({"name": "n0", "up": true}));
    assert!(!s.network().link_up(p0).unwrap());
    assert!(s.network().link_up(n.client()).unwrap());
    ok(&mut s, "set_link", json!({"name": "p0", "up": true}));
    assert!(s.network().link_up(p0).unwrap());
    assert_eq!(
        err(&mut s, "set_link", json!({"name": "nope", "up": true})),
        not_found("nope")
    );
    assert_eq!(
        err(&mut s, "set_link", json!({"name": "n0"})),
        generic("Parameter 'up' is missing")
    );
    assert_eq!(
        err(&mut s, "set_link", json!({"name": "n0", "up": "no"})),
        generic("Invalid parameter type for 'up', expected: boolean")
    );
}

#[test]
fn query_rx_filter_and_its_event() {
    let (mut s, events) = stack();
    let n0 = nic_on_hub(&mut s, "n0", "p0", 0, 1);
    let n1 = nic_on_hub(&mut s, "n1", "p1", 0, 2);
    let all = ok(&mut s, "query-rx-filter", json!({}));
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["n0", "n1"]);
    let one = ok(&mut s, "query-rx-filter", json!({"name": "n1"}));
    assert_eq!(one[0]["main-mac"], json!("52:54:00:12:34:02"));
    assert_eq!(one[0]["promiscuous"], json!(true));
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(
        err(&mut s, "query-rx-filter", json!({"name": "p0"})),
        generic("net client(p0) isn't a NIC")
    );
    assert_eq!(
        err(&mut s, "query-rx-filter", json!({"name": "zz"})),
        generic("invalid net client name: zz")
    );

    // The guest changes the filter: one event, then quiet until queried.
    let filter = RxFilter {
        promiscuous: false,
        ..RxFilter::default()
    };
    s.network_mut()
        .nic_set_rx_filter(n0, filter.clone())
        .unwrap();
    s.network_mut()
        .nic_set_rx_filter(n0, filter.clone())
        .unwrap();
    assert_eq!(s.flush_events(), 1);
    let expected = Event::NicRxFilterChanged(NicRxFilterChanged {
        name: Some("n0".into()),
        path: "/machine/peripheral/n0/virtio-backend".into(),
    });
    assert_eq!(*events.lock().unwrap(), vec![expected.clone()]);
    s.network_mut()
        .nic_set_rx_filter(n0, filter.clone())
        .unwrap();
    assert_eq!(s.flush_events(), 0);
    // Querying another NIC does not re-arm this one.
    ok(&mut s, "query-rx-filter", json!({"name": "n1"}));
    s.network_mut()
        .nic_set_rx_filter(n0, filter.clone())
        .unwrap();
    assert_eq!(s.flush_events(), 0);
    let got = ok(&mut s, "query-rx-filter", json!({"name": "n0"}));
    assert_eq!(got[0]["promiscuous"], json!(false));
    // Events raised before a command are sent when it runs.
    s.network_mut().nic_set_rx_filter(n0, filter).unwrap();
    ok(&mut s, "query-rx-filter", json!({"name": "n1"}));
    assert_eq!(*events.lock().unwrap(), vec![expected.clone(), expected]);
    let _ = n1;
}

/// Drains a NIC's received frames.
fn received(s: &mut NetStack, n: NicHandle) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(f) = s.network_mut().nic_recv_with(n, |f| f.to_vec()).unwrap() {
        out.push(f);
    }
    out
}

#[test]
fn announce_self_rounds_and_timers() {
    let (mut s, _) = stack();
    s.set_time(1000);
    let n0 = nic_on_hub(&mut s, "n0", "p0", 0, 1);
    let n1 = nic_on_hub(&mut s, "n1", "p1", 0, 2);
    // Defaults 50/550/5/100: rounds at +0, 50, 200, 450, 800 ms.
    let defaults = json!({"initial": 50, "max": 550, "rounds": 5, "step": 100});
    assert_eq!(ok(&mut s, "announce-self", defaults), json!({}));
    assert_eq!(received(&mut s, n1), vec![rarp_frame(mac(1)).to_vec()]);
    assert_eq!(received(&mut s, n0), vec![rarp_frame(mac(2)).to_vec()]);
    assert_eq!(s.next_due(), Some(1050));
    assert_eq!(s.poll(1049), 0);
    assert_eq!(s.poll(1050), 2);
    assert_eq!(s.next_due(), Some(1200));
    assert_eq!(s.poll(1500), 4); // the rounds due at 1200 and 1450
    assert_eq!(s.next_due(), Some(1800));
    assert_eq!(s.finish_announcements(), 2);
    assert_eq!(s.next_due(), None);
    assert_eq!(received(&mut s, n1).len(), 4);
    assert_eq!(received(&mut s, n0).len(), 4);

    // interfaces= limits the NICs; a named timer is replaced by the next
    // call with its id.
    let args = json!({"initial": 10, "max": 100, "rounds": 3, "step": 10,
                      "interfaces": ["n1"], "id": "t"});
    ok(&mut s, "announce-self", args.clone());
    assert_eq!(received(&mut s, n0), vec![rarp_frame(mac(2)).to_vec()]);
    assert!(received(&mut s, n1).is_empty());
    assert_eq!(s.announce_timers(), ["t"]);
    ok(&mut s, "announce-self", args);
    assert_eq!(s.announce_timers(), ["t"]);
    assert_eq!(s.finish_announcements(), 2);
    assert_eq!(received(&mut s, n0).len(), 3);

    assert_eq!(
        err(
            &mut s,
            "announce-self",
            json!({"initial": 1, "max": 1, "rounds": -1, "step": 1})
        ),
        generic("Parameter 'rounds' expects a non-negative value")
    );
    assert_eq!(
        err(
            &mut s,
            "announce-self",
            json!({"initial": "x", "max": 1, "rounds": 1, "step": 1})
        ),
        generic("Invalid parameter type for 'initial', expected: integer")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn served_over_qmp() {
    let server = Server::new(NetService::new(NetStack::new()));
    let handle = server.handle();
    server
        .service()
        .0
        .lock()
        .unwrap()
        .set_emitter(handle.emitter());
    let listener = Listener::bind(&Address::Tcp("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let Address::Tcp(addr) = listener.local_address().unwrap() else {
        panic!("not tcp");
    };
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener).await });
    let client = Client::connect_tcp(addr, ClientOptions::default())
        .await
        .unwrap();
    let mut events = client.events();

    let add = |id: &str, netdev: Option<&str>| {
        NetdevAdd(Netdev {
            id: id.into(),
            r#type: NetdevBranch::Hubport(NetdevHubPortOptions {
                hubid: 0,
                netdev: netdev.map(str::to_owned),
            }),
        })
    };
    client.execute(&add("h0", None)).await.unwrap();
    client.execute(&add("h1", None)).await.unwrap();
    let e = client.execute(&add("h0", None)).await.unwrap_err();
    assert_eq!(e.class(), Some(ErrorClass::GenericError));
    assert_eq!(e.qmp().unwrap().desc, "Duplicate ID 'h0'");
    let e = client.execute(&add("h2", Some("zz"))).await.unwrap_err();
    assert_eq!(e.qmp().unwrap().desc, "netdev 'zz' not found");

    client
        .execute(&SetLink {
            name: "h1".into(),
            up: false,
        })
        .await
        .unwrap();
    {
        let st = server.service().0.lock().unwrap();
        let h1 = st.network().lookup("h1").unwrap();
        assert!(!st.network().link_up(h1).unwrap());
    }
    let e = client
        .execute(&SetLink {
            name: "nope".into(),
            up: true,
        })
        .await
        .unwrap_err();
    assert_eq!(e.class(), Some(ErrorClass::DeviceNotFound));
    assert_eq!(e.qmp().unwrap().desc, "Device 'nope' not found");

    client
        .execute(&NetdevDel { id: "h1".into() })
        .await
        .unwrap();
    let e = client
        .execute(&NetdevDel { id: "h1".into() })
        .await
        .unwrap_err();
    assert_eq!(e.class(), Some(ErrorClass::DeviceNotFound));
    assert_eq!(e.qmp().unwrap().desc, "Device 'h1' not found");

    // A device model changes a NIC's filter; the event reaches the client.
    {
        let mut st = server.service().0.lock().unwrap();
        let h0 = st.network().lookup("h0").unwrap();
        let mut cfg = NicConfig::new(mac(7));
        cfg.path = "/machine/peripheral/n0/virtio-backend".into();
        let n = st.network_mut().add_nic("n0", cfg, Some(h0)).unwrap();
        st.network_mut()
            .nic_set_rx_filter(n, RxFilter::default())
            .unwrap();
        assert_eq!(st.flush_events(), 1);
    }
    let ev = events
        .wait_for("NIC_RX_FILTER_CHANGED", Duration::from_secs(10))
        .await
        .expect("the event");
    assert_eq!(
        ev.data,
        Some(json!({"name": "n0", "path": "/machine/peripheral/n0/virtio-backend"}))
    );
    handle.shutdown();
}
