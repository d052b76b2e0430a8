//! `-netdev` in QEMU's keyval syntax, read into the `Netdev` generated
//! from QEMU 9.0's net.json (`net_backends::qapi`), end to end: text,
//! keyval tree, typed value, and QEMU's error texts.
//!
//! Which texts QEMU reads as keyval: QEMU 7.2+ (`net/net.c`,
//! `netdev_is_modern()`) reads `-netdev` with
//! `qobject_input_visitor_new_str(text, "type")` (keyval, implied key
//! `type`) when the type is `stream` or `dgram`, or when the text is JSON;
//! the other types still go through QemuOpts, whose lists repeat a key
//! (`hostfwd=A,hostfwd=B`). In keyval, lists are indexed, and
//! `NetdevUserOptions.hostfwd` is a list of `String` structs, so the
//! keyval form of `hostfwd=tcp::2222-:22` is `hostfwd.0.str=tcp::2222-:22`.
//!
//! The last test runs QEMU (Debian's 7.2) on `-netdev` and `-compat` texts
//! and compares its messages with ours; without QEMU it prints `SKIPPED`
//! (and fails when `CI` is set).

use net_backends::qapi::{Netdev, NetdevBranch};
use qapi_runtime::keyval::{self, ReadError};
use qapi_runtime::{CompatPolicy, Output, ToValue};
use serde_json::{json, Value};

fn netdev(text: &str) -> Netdev {
    keyval::read::<Netdev>(text, Some("type")).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The netdev as QMP JSON, as `netdev_add` would take it.
fn qmp(text: &str) -> Value {
    netdev(text).to_value(&Output::new())
}

fn error(text: &str) -> String {
    match keyval::read::<Netdev>(text, Some("type")) {
        Ok(n) => panic!("{text}: read as {n:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn user_with_hostfwd_list() {
    let n = netdev("user,id=n0,hostfwd.0.str=tcp::2222-:22");
    assert_eq!(n.id, "n0");
    let NetdevBranch::User(user) = &n.r#type else {
        panic!("{n:?}");
    };
    let hostfwd = user.hostfwd.as_ref().unwrap();
    assert_eq!(hostfwd.len(), 1);
    assert_eq!(hostfwd[0].str, "tcp::2222-:22");
    assert_eq!(
        n.to_value(&Output::new()),
        json!({"id": "n0", "type": "user", "hostfwd": [{"str": "tcp::2222-:22"}]})
    );

    assert_eq!(
        qmp(
            "user,id=n0,net=10.0.2.0/24,restrict=on,ipv6=off,ipv6-prefixlen=0x40,\
             dnssearch.0.str=example.com,dnssearch.1.str=example.org,\
             hostfwd.1.str=udp::5353-:53,hostfwd.0.str=tcp::2222-:22,tftp-server-name=t,,s"
        ),
        json!({
            "id": "n0", "type": "user",
            "restrict": true, "ipv6": false, "net": "10.0.2.0/24",
            "dnssearch": [{"str": "example.com"}, {"str": "example.org"}],
            "ipv6-prefixlen": 64,
            "hostfwd": [{"str": "tcp::2222-:22"}, {"str": "udp::5353-:53"}],
            "tftp-server-name": "t,s"
        })
    );

    // QemuOpts' form is not keyval: a string where a list is expected.
    assert_eq!(
        error("user,id=n0,hostfwd=tcp::2222-:22"),
        "Invalid parameter type for 'hostfwd', expected: array"
    );
    assert_eq!(
        error("user,id=n0,hostfwd.0=tcp::2222-:22"),
        "Invalid parameter type for 'hostfwd.0', expected: object"
    );
    assert_eq!(
        error("user,id=n0,hostfwd.1.str=x"),
        "Parameter 'hostfwd.0' missing"
    );
    assert_eq!(
        error("user,id=n0,hostfwd.0.str=x,hostfwd.0.bogus=y"),
        "Parameter 'hostfwd.0.bogus' is unexpected"
    );
    assert_eq!(
        error("user,id=n0,hostfwd.0.x=y"),
        "Parameter 'hostfwd.0.str' is missing"
    );
    assert_eq!(
        error("user,id=n0,ipv6-prefixlen=64k"),
        "Parameter 'ipv6-prefixlen' expects integer"
    );
    assert_eq!(
        error("user,id=n0,restrict=maybe"),
        "Parameter 'restrict' expects 'on' or 'off'"
    );
}

#[test]
fn stream_and_dgram() {
    assert_eq!(
        qmp("stream,id=s0,addr.type=inet,addr.host=127.0.0.1,addr.port=1234,server=on"),
        json!({"id": "s0", "type": "stream", "addr": {"type": "inet", "host": "127.0.0.1", "port": "1234"}, "server": true})
    );
    // Booleans as qapi_bool_parse() takes them; the type given explicitly.
    assert_eq!(
        qmp("type=stream,id=s0,server=yes,reconnect=5,addr.type=inet,addr.host=::1,addr.port=1,addr.to=0x10,addr.numeric=n"),
        json!({"id": "s0", "type": "stream", "addr": {"type": "inet", "host": "::1", "port": "1", "numeric": false, "to": 16}, "server": true, "reconnect": 5})
    );
    assert_eq!(
        qmp("stream,id=s1,addr.type=fd,addr.str=3"),
        json!({"id": "s1", "type": "stream", "addr": {"type": "fd", "str": "3"}})
    );
    assert_eq!(
        qmp("dgram,id=d0,remote.type=inet,remote.host=127.0.0.1,remote.port=1234,local.type=inet,local.host=127.0.0.1,local.port=1235"),
        json!({
            "id": "d0", "type": "dgram",
            "local": {"type": "inet", "host": "127.0.0.1", "port": "1235"},
            "remote": {"type": "inet", "host": "127.0.0.1", "port": "1234"}
        })
    );
    assert_eq!(
        qmp("dgram,id=d1,local.type=unix,local.path=/tmp/a,,b"),
        json!({"id": "d1", "type": "dgram", "local": {"type": "unix", "path": "/tmp/a,b"}})
    );

    assert_eq!(error("stream,id=s0"), "Parameter 'addr' is missing");
    assert_eq!(
        error("stream,id=s0,addr.type=inet,addr.host=h"),
        "Parameter 'addr.port' is missing"
    );
    assert_eq!(
        error("stream,id=s0,addr.host=h"),
        "Parameter 'addr.type' is missing"
    );
    assert_eq!(
        error("stream,id=s0,addr.type=tcp"),
        "Parameter 'type' does not accept value 'tcp'"
    );
    assert_eq!(
        error("stream,id=s0,addr=inet"),
        "Invalid parameter type for 'addr', expected: object"
    );
    assert_eq!(
        error("stream,id=s0,addr.type=inet,addr.host=h,addr.port=1,addr.to=65536"),
        "Parameter 'to' expects uint16_t"
    );
    assert_eq!(
        error("stream,id=s0,addr.type=inet,addr.host=h,addr.port=1,reconnect=-1"),
        "Parameter 'reconnect' expects uint32_t"
    );
    assert_eq!(
        error("stream,id=s0,addr.type=inet,addr.host=h,addr.port=1,addr.port.x=2"),
        "Parameters 'addr.port.*' used inconsistently"
    );
    assert_eq!(
        error("dgram,id=d0,remote.0=x"),
        "Invalid parameter type for 'remote', expected: object"
    );
    assert_eq!(
        error("dgram,id=d0,remote.type=inet,remote.host=h,remote.port=1,remote.keep-alive=1"),
        "Parameter 'remote.keep-alive' expects 'on' or 'off'"
    );
}

#[test]
fn hubport_and_l2tpv3() {
    assert_eq!(
        qmp("hubport,id=h0,hubid=1"),
        json!({"id": "h0", "type": "hubport", "hubid": 1})
    );
    let n = netdev("hubport,id=h0,hubid=-0x10,netdev=n0");
    let NetdevBranch::Hubport(h) = &n.r#type else {
        panic!("{n:?}")
    };
    assert_eq!((h.hubid, h.netdev.as_deref()), (-16, Some("n0")));
    assert_eq!(error("hubport,id=h0"), "Parameter 'hubid' is missing");
    assert_eq!(
        error("hubport,id=h0,hubid=one"),
        "Parameter 'hubid' expects integer"
    );
    assert_eq!(
        error("hubport,id=h0,hubid=2147483648"),
        "Parameter 'hubid' expects int32_t"
    );
    assert_eq!(
        error("hubport,id=h0,hubid=1,bogus=1"),
        "Parameter 'bogus' is unexpected"
    );

    assert_eq!(
        qmp("l2tpv3,id=l0,src=10.0.0.1,dst=10.0.0.2,udp=on,srcport=1701,dstport=1701,\
             txsession=0xffffffff,rxsession=0,counter=on,cookie64=off,txcookie=0x1234567890,offset=010"),
        json!({
            "id": "l0", "type": "l2tpv3", "src": "10.0.0.1", "dst": "10.0.0.2",
            "srcport": "1701", "dstport": "1701", "udp": true, "cookie64": false, "counter": true,
            "txcookie": 0x12_3456_7890u64, "txsession": 0xffff_ffffu32, "rxsession": 0, "offset": 8
        })
    );
    assert_eq!(error("l2tpv3,id=l0"), "Parameter 'src' is missing");
    assert_eq!(
        error("l2tpv3,id=l0,src=a,dst=b"),
        "Parameter 'txsession' is missing"
    );
    assert_eq!(
        error("l2tpv3,id=l0,src=a,dst=b,txsession=0x100000000"),
        "Parameter 'txsession' expects uint32_t"
    );
    assert_eq!(
        error("l2tpv3,id=l0,src=a,dst=b,txsession=1,txcookie=18446744073709551616"),
        "Parameter 'txcookie' expects integer"
    );
}

#[test]
fn netdev_errors() {
    assert_eq!(
        error("bogus,id=x"),
        "Parameter 'type' does not accept value 'bogus'"
    );
    assert_eq!(error("hubport,hubid=1"), "Parameter 'id' is missing");
    assert_eq!(error("id=h0,hubid=1"), "Parameter 'type' is missing");
    assert_eq!(
        error("hubport,id=h0,hubid"),
        "Expected '=' after parameter 'hubid'"
    );
    assert_eq!(
        error("hubport,id=h0,help"),
        "Help is not available for this option"
    );
    assert_eq!(
        error("hubport,id=h0,hubid=1,id.x=2"),
        "Parameters 'id.*' used inconsistently"
    );
    assert_eq!(
        error("hubport,id.x=h0,hubid=1"),
        "Parameters 'id.*' are unexpected"
    );
    assert_eq!(
        error("hubport,id=h0,,hubid=1"),
        "Parameter 'hubid' is missing"
    );
    assert_eq!(
        error("hub port,id=h0"),
        "Parameter 'type' does not accept value 'hub port'"
    );
    assert!(matches!(
        keyval::read::<Netdev>("=hubport", Some("type")),
        Err(ReadError::Keyval(keyval::KeyvalError::InvalidParameter(_)))
    ));
    assert_eq!(qmp("none,id=x"), json!({"id": "x", "type": "none"}));
}

#[test]
fn json_form() {
    let read = |t: &str| keyval::read_str::<Netdev>(t, Some("type"));
    let n = read(r#"{"type": "hubport", "id": "h0", "hubid": 1}"#).unwrap();
    assert_eq!(n, netdev("hubport,id=h0,hubid=1"));
    let e = read(r#"{"type": "hubport", "id": "h0", "hubid": "1"}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid parameter type for 'hubid', expected: integer"
    );
    // Keyval text goes through keyval.
    assert_eq!(read("hubport,id=h0,hubid=1").unwrap(), n);
}

/// What QEMU says about `OPTION TEXT`: its message, or `None` when it
/// accepts the option (the next option, `-compat sentinel=1`, then fails).
fn qemu_message(qemu: &str, option: &str, text: &str) -> Option<String> {
    let out = std::process::Command::new(qemu)
        .args([
            "-M",
            "none",
            "-nodefaults",
            "-display",
            "none",
            "-S",
            option,
            text,
            "-compat",
            "sentinel=1",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running QEMU");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().next().unwrap_or_default();
    if line.ends_with("-compat sentinel=1: Parameter 'sentinel' is unexpected") {
        return None;
    }
    let prefix = format!("{option} {text}: ");
    let at = line
        .find(&prefix)
        .unwrap_or_else(|| panic!("unexpected QEMU output for {option} {text}: {stderr}"));
    Some(line[at + prefix.len()..].to_owned())
}

#[test]
fn same_texts_as_qemu() {
    let qemu = "qemu-system-x86_64";
    if std::process::Command::new(qemu)
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(std::env::var_os("CI").is_none(), "{qemu} is needed in CI");
        qapi_tests::skipped(
            qapi_tests::SkipReason::NotInstalled("qemu-system-x86_64"),
            "the texts were not compared with QEMU's",
        );
        return;
    }
    // QEMU 7.2 reads stream and dgram (and JSON) as keyval; its net.json
    // lacks what came later (`reconnect`), so these cases avoid it.
    let netdevs = [
        "stream,id=s0,addr.type=inet,addr.host=127.0.0.1,addr.port=1234,server=on",
        "type=stream,id=s0,server=yes,addr.type=inet,addr.host=::1,addr.port=1,addr.to=0x10,addr.numeric=n",
        "stream,id=s0,server=true,addr.type=unix,addr.path=/tmp/a,,b,addr.abstract=on,addr.tight=off",
        "stream,id=s0,addr.type=fd,addr.str=3",
        "stream,id=s0,addr.type=vsock,addr.cid=2,addr.port=1",
        "stream,id=s0,server=maybe,addr.type=inet,addr.host=h,addr.port=1",
        "stream,id=s0,server=ON,addr.type=inet,addr.host=h,addr.port=1",
        "stream,id=s0",
        "stream,addr.type=inet",
        "stream,id=s0,addr.host=h",
        "stream,id=s0,addr.type=inet,addr.host=h",
        "stream,id=s0,addr.type=tcp",
        "stream,id=s0,addr=inet",
        "stream,id=s0,addr.0=inet",
        "stream,id=s0,addr.type=inet,addr.host=h,addr.port=1,addr.to=65536",
        "stream,id=s0,addr.type=inet,addr.host=h,addr.port=1,addr.to=-1",
        "stream,id=s0,addr.type=inet,addr.host=h,addr.port=1,addr.to=",
        "stream,id=s0,addr.type=inet,addr.host=h,addr.port=1,addr.to= 7",
        "stream,id=s0,addr.type=inet,addr.host=h,addr.port=1,addr.to=7 ",
        "stream,id=s0,addr.type=inet,addr.host=h,addr.port=1,addr.to=08",
        "stream,id=s0,addr.type=inet,addr.host=h,addr.port=1,bogus=2",
        "stream,id=s0,addr.type=inet,addr.host=h,addr.port=1,addr.bogus=2",
        "stream,id=s0,addr.type=inet,addr.host=h,addr.port=1,addr.port.x=2",
        "stream,id.x=s0,addr.type=inet,addr.host=h,addr.port=1",
        "stream,id=s0,addr.type=inet,addr.host.0=h,addr.port=1",
        "stream,id=s0,help",
        "stream,id=s0,addr.type=inet,addr.host=h,addr.port=1,",
        "stream,id=s0,,addr.type=inet",
        "dgram,id=d0,remote.type=inet,remote.host=127.0.0.1,remote.port=1234,local.type=inet,local.host=127.0.0.1,local.port=1235",
        "dgram,id=d0,local.type=unix,local.path=/tmp/a",
        "dgram,id=d0,remote.type=inet,remote.host=h",
        "dgram,id=d0,remote.0=x",
        "dgram,id=d0,remote.type=inet,remote.host=h,remote.port=1,remote.keep-alive=1",
        "dgram,id=d0,remote.type=inet,remote.1.host=h",
        "dgram,id=d0,local.x.1=a,remote.y.1=b",
        r#"{"type": "hubport", "id": "h0", "hubid": 1}"#,
        r#"{"type": "hubport", "id": "h0", "hubid": "1"}"#,
        r#"{"type": "hubport", "id": "h0", "hubid": 2147483648}"#,
        r#"{"type": "hubport", "id": "h0"}"#,
        r#"{"type": "user", "id": "n0", "hostfwd": [{"str": "tcp::2222-:22"}], "restrict": "on"}"#,
        r#"{"type": "stream", "id": "s0", "addr": {"type": "inet", "host": "1", "port": "2"}, "server": "on"}"#,
        r#"{"type": "l2tpv3", "id": "l0", "src": "a", "dst": "b", "txsession": 4294967296}"#,
        r#"{"type": "dgram", "id": "d0", "remote": {"type": "inet", "host": "h", "port": "1", "to": -1}}"#,
    ];
    let mut diffs = Vec::new();
    for text in netdevs {
        let ours = keyval::read_str::<Netdev>(text, Some("type"))
            .err()
            .map(|e| e.to_string());
        let theirs = qemu_message(qemu, "-netdev", text);
        if ours != theirs {
            diffs.push(format!(
                "-netdev {text}\n  QEMU: {theirs:?}\n  ours: {ours:?}"
            ));
        }
    }
    let compats = [
        "deprecated-input=reject,deprecated-output=hide",
        "unstable-input=crash,unstable-output=hide",
        "",
        "deprecated-input=bogus",
        "deprecated-output=reject",
        "deprecated-input=reject,foo=bar",
        "deprecated-input.x=1",
        "deprecated-input",
        "help",
        "?",
        "deprecated-input=reject,help",
        "=reject",
        ",",
        "deprecated-input=reject,,deprecated-output=hide",
        "deprecated-input=reject,deprecated-input.0=x",
        "a.b=1,a=2",
        "a.b=1,a.b.c=2",
        "a.b.c=1,a.b.0=2",
        "a.0.c=1,a.b.c=2",
        "list.1=lonely",
        "list.0=null,list.2=eins,list.02=zwei",
        "x.1=a,y.1=b",
        "y.1=a,x.1=b",
        "l.3=a,m.2=b,n.1=c",
        "7up=val",
        "key[0]=val",
        "key.",
        "__org.qemu_x.y=1",
        r#"{"deprecated-input": "reject", "unstable-output": "hide"}"#,
        r#"{"deprecated-input": true}"#,
    ];
    for text in compats {
        let ours = CompatPolicy::from_option(text).err().map(|e| e.to_string());
        let theirs = qemu_message(qemu, "-compat", text);
        if ours != theirs {
            diffs.push(format!(
                "-compat {text}\n  QEMU: {theirs:?}\n  ours: {ours:?}"
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "differences from QEMU:\n{}",
        diffs.join("\n")
    );
}
