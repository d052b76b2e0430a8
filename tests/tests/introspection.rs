//! Introspection against the real thing: the `query-qmp-schema` answer that
//! `qapi_codegen::introspect` computes for QEMU 7.2's schema must be exactly
//! the one Debian's QEMU 7.2 (`qemu-system-x86_64` from bookworm's
//! `qemu-system-x86`) sends, order of entries and of keys included.
//!
//! Also here: `--unmask` and the stability of the masking numbers, the
//! `qapi-gen introspect` command, and the Rust that `generate` writes,
//! compiled with `rustc -D warnings` (and clippy when installed) and run.
//!
//! Without `qemu-system-x86_64` the QEMU test fails in CI (`CI` set: see
//! `qapi_tests::in_ci`; `cargo xtask` installs it) and is skipped with a
//! notice elsewhere.

use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use qapi_codegen::cfg::CfgMap;
use qapi_codegen::introspect::{generate, schema_info};
use qapi_parser::{Options, Schema};
use qapi_tests::qemu::{Qemu, QEMU};
use qapi_tests::{in_ci, qapi_gen, require_shared, run, skipped, workspace_root, SkipReason};
use serde_json::Value;

/// The configuration symbols Debian's `qemu-system-x86_64` 7.2 (package
/// `1:7.2+dfsg-7+deb12u18`, QEMU 7.2.22) was built with, among those QEMU
/// 7.2's schema tests in `if` conditions.
///
/// Found by asking the binary: each symbol below shows in its answer (a
/// command such as `query-sev` for `TARGET_I386`, `x-query-jit` for
/// `CONFIG_TCG`, `dumpdtb` for `CONFIG_FDT`, `query-spice`, `query-vnc`,
/// `query-tpm`, `query-xen-replication-status` for `CONFIG_REPLICATION`; an
/// enum value or member such as `input-linux` for `CONFIG_LINUX`,
/// `rng-random` for `CONFIG_POSIX`, `secret_keyring`,
/// `cryptodev-vhost-user` for `CONFIG_VHOST_CRYPTO`, `pmem` for
/// `CONFIG_LIBPMEM`, `mptcp` for `HAVE_IPPROTO_MPTCP`, `host_device` for
/// `HAVE_HOST_BLOCK_DEVICE`, AIO `io_uring` for `CONFIG_LINUX_IO_URING`,
/// `zstd`, `fuse`, `vhost-user-blk`, `vduse-blk`, `qemu-vdagent` for
/// `CONFIG_SPICE_PROTOCOL`, `dbus`, `gtk`, `sdl`, `egl-headless` for
/// `CONFIG_OPENGL` and `CONFIG_GBM`, `curses`), and `ldd` agrees where a
/// library decides (libfdt, libpmem, libzstd, liburing, libfuse3; the UI
/// back ends are modules in /usr/lib/x86_64-linux-gnu/qemu). The exact
/// match of the whole answer is what proves the list.
///
/// Undefined, so absent: `CONFIG_BLKIO` (bookworm has no libblkio: no
/// `virtio-blk-vfio-pci`), `CONFIG_COCOA` and `CONFIG_VMNET` (macOS only),
/// and the other targets `TARGET_ARM`, `TARGET_PPC`, `TARGET_S390X`,
/// `TARGET_MIPS`, `TARGET_LOONGARCH64`.
const DEBIAN_7_2_X86_64: &[&str] = &[
    "TARGET_I386",
    "CONFIG_LINUX",
    "CONFIG_POSIX",
    "CONFIG_TCG",
    "CONFIG_FDT",
    "CONFIG_REPLICATION",
    "CONFIG_SPICE",
    "CONFIG_SPICE_PROTOCOL",
    "CONFIG_VNC",
    "CONFIG_TPM",
    "CONFIG_SECRET_KEYRING",
    "CONFIG_VHOST_CRYPTO",
    "CONFIG_LIBPMEM",
    "HAVE_IPPROTO_MPTCP",
    "HAVE_HOST_BLOCK_DEVICE",
    "CONFIG_LINUX_IO_URING",
    "CONFIG_ZSTD",
    "CONFIG_FUSE",
    "CONFIG_VHOST_USER_BLK_SERVER",
    "CONFIG_VDUSE_BLK_EXPORT",
    "CONFIG_DBUS_DISPLAY",
    "CONFIG_GTK",
    "CONFIG_SDL",
    "CONFIG_OPENGL",
    "CONFIG_GBM",
    "CONFIG_CURSES",
];

/// How long QEMU may take to start, and to answer.
const QEMU_TIME_LIMIT: Duration = Duration::from_secs(60);

/// Which configuration symbols are defined.
type Defined<'a> = &'a dyn Fn(&str) -> bool;

fn debian(symbol: &str) -> bool {
    DEBIAN_7_2_X86_64.contains(&symbol)
}

/// QEMU 7.2's schema (the newest 7.2 in the shared data), in legacy mode.
fn schema_7_2() -> Option<Schema> {
    let path = require_shared("qapi-schemas/7.2.13/qapi/qapi-schema.json")?;
    Some(
        qapi_parser::load(&path, &Options { legacy: true })
            .unwrap_or_else(|err| panic!("{}: {err}", path.display())),
    )
}

/// The repository's own 9.0.4 net schema.
fn net_schema_path() -> PathBuf {
    workspace_root().join("schemas/9.0.4/net-schema.json")
}

/// A QMP connection: line-delimited JSON both ways.
struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// The next message that is not an event.
    fn receive(&mut self) -> Value {
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .unwrap_or_else(|err| panic!("reading from QEMU's QMP socket: {err}"));
            assert!(n > 0, "QEMU closed the QMP connection");
            let message: Value = serde_json::from_str(&line).unwrap_or_else(|err| {
                panic!("QEMU sent something that is not JSON ({err}): {line}")
            });
            if message.get("event").is_none() {
                return message;
            }
        }
    }

    /// Runs a command and returns its `return` value.
    fn execute(&mut self, command: &str) -> Value {
        writeln!(self.writer, r#"{{"execute": "{command}"}}"#)
            .unwrap_or_else(|err| panic!("sending {command} to QEMU: {err}"));
        let mut answer = self.receive();
        match answer.get_mut("return") {
            Some(value) => value.take(),
            None => panic!("QEMU's answer to {command}: {answer}"),
        }
    }
}

/// Starts QEMU and connects to its QMP socket; returns the process guard,
/// the connection and the version greeting (`None`: QEMU is not
/// installed, outside CI).
fn start_qemu() -> Option<(Qemu, Qmp, Value)> {
    let qemu = Qemu::start()?;
    let stream = UnixStream::connect(qemu.socket())
        .unwrap_or_else(|err| panic!("connecting to {QEMU}: {err}: {}", qemu.stderr()));
    stream
        .set_read_timeout(Some(QEMU_TIME_LIMIT))
        .expect("a read timeout");
    let mut qmp = Qmp {
        reader: BufReader::new(stream.try_clone().expect("a second handle on the socket")),
        writer: stream,
    };
    let greeting = qmp.receive();
    let version = greeting["QMP"]["version"].clone();
    assert!(version.is_object(), "not a QMP greeting: {greeting}");
    qmp.execute("qmp_capabilities");
    Some((qemu, qmp, version))
}

/// Type names in an entry, for messages.
fn describe(entry: &Value) -> String {
    format!("{} {}", entry["meta-type"], entry["name"])
}

/// Where two answers first differ, with the entries around it, and which
/// commands, events and types only one side has.
fn explain_difference(want: &[Value], got: &[Value]) -> String {
    let text = |v: &Value| serde_json::to_string(v).unwrap_or_default();
    let mut out = format!("QEMU has {} entries, we have {}\n", want.len(), got.len());
    if let Some(i) =
        (0..want.len().max(got.len())).find(|&i| want.get(i).map(text) != got.get(i).map(text))
    {
        out += &format!("first difference at entry {i}\n");
        for j in i..(i + 3) {
            let pretty = |v: Option<&Value>| match v {
                Some(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
                None => "(none)".to_owned(),
            };
            if want.get(j).is_none() && got.get(j).is_none() {
                break;
            }
            out += &format!(
                "--- QEMU [{j}]:\n{}\n+++ ours [{j}]:\n{}\n",
                pretty(want.get(j)),
                pretty(got.get(j))
            );
        }
    }
    let names = |v: &[Value]| -> Vec<String> { v.iter().map(describe).collect() };
    let (w, g) = (names(want), names(got));
    let only_qemu: Vec<&String> = w.iter().filter(|n| !g.contains(n)).take(20).collect();
    let only_ours: Vec<&String> = g.iter().filter(|n| !w.contains(n)).take(20).collect();
    out += &format!("only QEMU has: {only_qemu:?}\nonly we have: {only_ours:?}\n");
    out
}

#[test]
fn debian_qemu_7_2_sends_exactly_this_answer() {
    let Some(schema) = schema_7_2() else { return };
    let Some((qemu, mut qmp, version)) = start_qemu() else {
        return;
    };
    let is_7_2 = version["qemu"]["major"] == 7 && version["qemu"]["minor"] == 2;
    if !is_7_2 {
        let why = format!(
            "{QEMU} is not QEMU 7.2 (Debian bookworm's qemu-system-x86) but {version}; \
             the reference answer and DEBIAN_7_2_X86_64 are 7.2's"
        );
        assert!(!in_ci(), "{why}; CI is set, so this is an error");
        skipped(SkipReason::Unavailable("QEMU 7.2"), &why);
        return;
    }
    let theirs = qmp.execute("query-qmp-schema");
    drop(qmp);
    drop(qemu);
    let theirs = theirs
        .as_array()
        .expect("query-qmp-schema returns an array");

    let ours = schema_info(&schema, &debian, false);
    let ours = ours.as_array().expect("schema_info returns an array");
    // Text, not `Value` equality: the order of keys counts too.
    let text = |v: &[Value]| serde_json::to_string(v).unwrap_or_default();
    assert!(
        text(theirs) == text(ours),
        "the answer differs from that of QEMU {version}:\n{}",
        explain_difference(theirs, ours)
    );
}

/// Pairs every string of `masked` with the string at the same place in
/// `unmasked`; panics where the two differ in anything else.
fn pair_strings<'a>(masked: &'a Value, unmasked: &'a Value, out: &mut Vec<(&'a str, &'a str)>) {
    match (masked, unmasked) {
        (Value::String(m), Value::String(u)) => out.push((m, u)),
        (Value::Array(m), Value::Array(u)) if m.len() == u.len() => {
            for (m, u) in m.iter().zip(u) {
                pair_strings(m, u, out);
            }
        }
        (Value::Object(m), Value::Object(u)) if m.keys().eq(u.keys()) => {
            for (m, u) in m.values().zip(u.values()) {
                pair_strings(m, u, out);
            }
        }
        (m, u) if m == u => {}
        (m, u) => panic!("masked and unmasked answers differ in shape: {m} vs {u}"),
    }
}

/// The masking: each number (or `[number]`...) in the masked answer and the
/// type name it stands for; checks that the map is one-to-one and that
/// every other string is the same in both answers.
fn masking(schema: &Schema, defined: Defined) -> Vec<(String, String)> {
    let masked = schema_info(schema, defined, false);
    let unmasked = schema_info(schema, defined, true);
    let mut pairs = Vec::new();
    pair_strings(&masked, &unmasked, &mut pairs);
    let mut map: Vec<(String, String)> = Vec::new();
    for (m, u) in pairs {
        if m == u {
            continue;
        }
        let number = m.trim_start_matches('[').trim_end_matches(']');
        let name = u.trim_start_matches('[').trim_end_matches(']');
        let depth = m.len() - number.len();
        assert!(
            number.parse::<u32>().is_ok() && u.len() - name.len() == depth,
            "masked {m:?} for {u:?}"
        );
        assert!(
            schema.lookup(name).is_some_and(|e| e.is_type()),
            "unmasked {u:?} is no type of the schema"
        );
        match map.iter().find(|(n, _)| n == number) {
            Some((_, known)) => assert_eq!(known, name, "number {number} stands for two types"),
            None => {
                assert!(
                    !map.iter().any(|(_, t)| t == name),
                    "type {name} has two numbers"
                );
                map.push((number.to_owned(), name.to_owned()));
            }
        }
    }
    map
}

#[test]
fn unmask_names_the_types_and_changes_nothing_else() {
    let Some(schema) = schema_7_2() else { return };
    let map = masking(&schema, &debian);
    // Every masked type of this answer, numbered from 0 in order of use.
    assert!(map.len() > 500, "{} masked names", map.len());
    let unmasked = schema_info(&schema, &debian, true).to_string();
    assert!(unmasked.contains(r#"{"name":"query-status","ret-type":"StatusInfo","meta-type":"command","arg-type":"q_empty"}"#));
    assert!(unmasked.contains(r#""name":"[int]","element-type":"int","meta-type":"array""#));
}

#[test]
fn masking_numbers_do_not_depend_on_symbols() {
    let Some(schema) = schema_7_2() else { return };
    let sets: [(&str, Defined); 3] = [
        ("Debian's", &debian),
        ("no", &|_| false),
        ("all", &|_| true),
    ];
    let maps: Vec<(&str, Vec<(String, String)>)> = sets
        .iter()
        .map(|(what, defined)| (*what, masking(&schema, defined)))
        .collect();
    let (first, reference) = &maps[0];
    for (what, map) in &maps[1..] {
        for (number, name) in map {
            if let Some((_, other)) = reference.iter().find(|(n, _)| n == number) {
                assert_eq!(
                    other, name,
                    "number {number} is {other} with {first} symbols, {name} with {what}"
                );
            }
        }
    }
    // With every symbol defined the numbers run from 0 without a gap;
    // conditions then drop entries and leave gaps, they never renumber.
    let numbers = |map: &[(String, String)]| -> Vec<usize> {
        let mut n: Vec<usize> = map.iter().map(|(n, _)| n.parse().unwrap()).collect();
        n.sort_unstable();
        n
    };
    let all = numbers(&maps[2].1);
    assert!(
        all.iter().copied().eq(0..all.len()),
        "gaps with all symbols"
    );
    for (what, map) in &maps[..2] {
        let some = numbers(map);
        assert!(
            some.last().is_some_and(|&max| max >= some.len()),
            "no gap with {what} symbols"
        );
    }
}

#[test]
fn qapi_gen_introspect_prints_the_answer() {
    let schema_path = net_schema_path();
    let schema = qapi_parser::load(&schema_path, &Options { legacy: true }).expect("net schema");
    let done = run(
        Command::new(qapi_gen())
            .args(["introspect", "--legacy", "--cfg", "CONFIG_LINUX"])
            .args(["--cfg", "CONFIG_AF_XDP", "--unmask"])
            .arg(&schema_path),
        Duration::from_secs(120),
    )
    .expect("qapi-gen runs");
    assert_eq!(
        done.status,
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let defined = |s: &str| s == "CONFIG_LINUX" || s == "CONFIG_AF_XDP";
    let want = serde_json::to_string_pretty(&schema_info(&schema, &defined, true)).unwrap() + "\n";
    assert_eq!(String::from_utf8_lossy(&done.stdout), want);
    assert!(want.contains(r#""case": "af-xdp""#));

    let done = run(
        Command::new(qapi_gen()).args(["introspect", "no-such-schema.json"]),
        Duration::from_secs(120),
    )
    .expect("qapi-gen runs");
    assert_eq!(done.status, Some(1));
    assert!(done.stdout.is_empty());
    assert!(String::from_utf8_lossy(&done.stderr).contains("no-such-schema.json"));
}

/// Compiles `source` (a program printing the answer) with `compiler`, runs
/// it and returns what it printed; `None` if the compiler is missing.
fn compile_and_run(compiler: &str, dir: &Path, source: &str, cfgs: &[&str]) -> Option<String> {
    let src = dir.join("main.rs");
    fs::write(&src, source).expect("source written");
    let exe = dir.join(format!("answer-{}", cfgs.len()));
    let mut command = Command::new(compiler);
    command
        .args(["--edition", "2021", "-D", "warnings", "-o"])
        .arg(&exe)
        .arg(&src);
    for cfg in cfgs {
        command.args(["--cfg", cfg]);
    }
    let done = match run(&mut command, Duration::from_secs(600)) {
        Ok(done) => done,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return None,
        Err(err) => panic!("cannot run {compiler}: {err}"),
    };
    assert_eq!(
        done.status,
        Some(0),
        "{compiler} {cfgs:?} failed:\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let done = run(&mut Command::new(&exe), Duration::from_secs(60)).expect("the program runs");
    assert_eq!(done.status, Some(0));
    Some(String::from_utf8(done.stdout).expect("UTF-8"))
}

/// The program that prints what the generated `qmp_schema_json` returns.
fn program(schema: &Schema, cfg: &CfgMap) -> String {
    let items = generate(schema, cfg, false);
    format!(
        "pub mod introspection {{ {items} }}\n\
         fn main() {{ print!(\"{{}}\", introspection::qmp_schema_json()); }}\n"
    )
}

/// Compiles the generated code once per case (the `--cfg` options to pass
/// and the symbols they amount to) and compares what it prints with
/// [`schema_info`]; lints the first case with clippy where installed.
fn assert_generated_code_agrees(schema: &Schema, cfg: &CfgMap, cases: &[(&[&str], Defined)]) {
    let source = program(schema, cfg);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    for (cfgs, defined) in cases {
        let want = serde_json::to_string(&schema_info(schema, defined, false)).unwrap();
        let got = compile_and_run(&rustc, dir.path(), &source, cfgs).expect("rustc is installed");
        assert!(got == want, "with --cfg {cfgs:?}:\n got {got}\nwant {want}");
    }
    let clippy = Command::new("clippy-driver")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if clippy {
        compile_and_run("clippy-driver", dir.path(), &source, cases[0].0)
            .expect("clippy-driver runs");
    } else {
        skipped(
            SkipReason::NotInstalled("clippy-driver"),
            "the generated code was not linted",
        );
    }
}

#[test]
fn generated_rust_gives_the_same_answer() {
    let schema =
        qapi_parser::load(net_schema_path(), &Options { legacy: true }).expect("net schema");
    let mut cfg = CfgMap::new();
    cfg.map("CONFIG_AF_XDP", "feature = \"af-xdp\"")
        .unwrap()
        .map("CONFIG_VMNET", "target_os = \"macos\"")
        .unwrap()
        .define("CONFIG_LINUX");
    let macos = cfg!(target_os = "macos");
    let with =
        |s: &str| s == "CONFIG_LINUX" || s == "CONFIG_AF_XDP" || (s == "CONFIG_VMNET" && macos);
    let without = |s: &str| s == "CONFIG_LINUX" || (s == "CONFIG_VMNET" && macos);
    assert!(serde_json::to_string(&schema_info(&schema, &with, false))
        .unwrap()
        .contains(r#""case":"af-xdp""#));
    assert_generated_code_agrees(
        &schema,
        &cfg,
        &[(&["feature=\"af-xdp\""], &with), (&[], &without)],
    );
}

/// Lists whose first elements are conditional need the comma decided at
/// run time.
#[test]
fn generated_rust_handles_lists_that_start_conditionally() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("schema.json");
    fs::write(
        &path,
        "{ 'enum': 'Letter', 'data': [ { 'name': 'a', 'if': 'X' },\n\
         { 'name': 'b', 'if': 'Y' }, { 'name': 'c', 'if': { 'not': 'X' } }, 'd' ] }\n\
         { 'command': 'cmd', 'if': 'Y', 'data': { 'l': 'Letter' } }\n\
         { 'event': 'EV', 'data': { 'l': 'Letter' } }\n",
    )
    .unwrap();
    let schema = qapi_parser::load(&path, &Options::default()).expect("schema");
    let mut cfg = CfgMap::new();
    cfg.map("X", "feature = \"x\"")
        .unwrap()
        .map("Y", "feature = \"y\"")
        .unwrap();
    assert!(program(&schema, &cfg).contains("fn sep"));
    assert_generated_code_agrees(
        &schema,
        &cfg,
        &[
            (&[], &|_| false),
            (&["feature=\"x\""], &|s| s == "X"),
            (&["feature=\"y\""], &|s| s == "Y"),
            (&["feature=\"x\"", "feature=\"y\""], &|_| true),
        ],
    );
}

/// The whole QEMU 7.2 schema, a few symbols left to cfg: compiled, it
/// gives Debian's answer (which the QEMU test shows to be QEMU's).
#[test]
fn generated_rust_for_qemu_7_2_gives_debians_answer() {
    let Some(schema) = schema_7_2() else { return };
    let mut cfg = CfgMap::new();
    for symbol in DEBIAN_7_2_X86_64 {
        cfg.define(symbol);
    }
    cfg.map("CONFIG_SPICE", "feature = \"spice\"")
        .unwrap()
        .map("CONFIG_BLKIO", "feature = \"blkio\"")
        .unwrap()
        .map("TARGET_S390X", "target_arch = \"s390x\"")
        .unwrap();
    let program = program(&schema, &cfg);
    assert!(program.len() < 400_000, "{} bytes", program.len());
    assert_generated_code_agrees(&schema, &cfg, &[(&["feature=\"spice\""], &debian)]);
}
