//! Snapshot tests (insta) of what the seed schemas `schemas/VERSION/net-schema.json`
//! become: the generated Rust (`net_rust@VERSION.snap`) and the IR dump
//! (`net_ir@VERSION.snap`), both in `tests/tests/snapshots/`, plus the
//! upgrade report `schemas/UPGRADES.md` (`qapi-gen diff` between
//! consecutive seeds).
//!
//! **To update them, run `cargo xtask regenerate`** (no insta CLI needed),
//! then review the change with `git diff`. A stale or missing snapshot
//! fails here with a message saying so; in CI (`CI=true`) nothing is ever
//! written. Consecutive releases' snapshots diff readably, e.g.
//! `diff tests/tests/snapshots/net_rust@{7.1.0,8.2.6}.snap`.
//!
//! The staleness check is ours, not insta's, so that its hint is
//! `cargo xtask regenerate` rather than `cargo insta review`; it stands
//! aside when `INSTA_UPDATE` asks for an update (`always`, `force`, `new`,
//! `unseen`: what `cargo xtask regenerate` and `cargo insta` set) and lets
//! insta record the snapshot.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use qapi_parser::{Options, Schema};
use qapi_tests::{parallel_map, workspace_root, SEED_VERSIONS};

/// The cfg mapping of `net-backends/build.rs`, the one place this test
/// repeats it: keep the two in sync (`cfg_map_matches_net_backends` checks
/// that they are).
const NET_CFG_MAP: [(&str, &str); 3] = [
    (
        "CONFIG_AF_XDP",
        r#"all(target_os = "linux", feature = "af-xdp")"#,
    ),
    ("CONFIG_VMNET", r#"target_os = "macos""#),
    ("CONFIG_LINUX", r#"target_os = "linux""#),
];

/// The snapshot names (before `@VERSION`).
const RUST: &str = "net_rust";
const IR: &str = "net_ir";

/// What to tell the user when a checked-in file is out of date.
const HINT: &str = "run `cargo xtask regenerate` (then review with `git diff`)";

fn seed_schema(version: &str) -> PathBuf {
    workspace_root()
        .join("schemas")
        .join(version)
        .join("net-schema.json")
}

fn snapshot_dir() -> PathBuf {
    workspace_root().join("tests/tests/snapshots")
}

fn snapshot_file(name: &str, version: &str) -> PathBuf {
    snapshot_dir().join(format!("{name}@{version}.snap"))
}

fn upgrades_file() -> PathBuf {
    workspace_root().join("schemas/UPGRADES.md")
}

/// The Rust that `net-backends/build.rs` would generate for this seed.
fn generated_rust(version: &str) -> String {
    let mut builder = qapi_codegen::Builder::new(seed_schema(version))
        .legacy(true)
        .qmp_service(true)
        .cargo_directives(false);
    for (symbol, predicate) in NET_CFG_MAP {
        builder = builder.map_cfg(symbol, predicate);
    }
    builder
        .generate_source()
        .unwrap_or_else(|err| panic!("schemas/{version}: generation failed:\n{err}"))
}

fn load(version: &str) -> Schema {
    qapi_parser::load(seed_schema(version), &Options { legacy: true })
        .unwrap_or_else(|err| panic!("schemas/{version}: not accepted:\n{err}"))
}

/// Whether `INSTA_UPDATE` asks insta to record snapshots.
fn insta_records() -> bool {
    env::var("INSTA_UPDATE").is_ok_and(|v| !matches!(v.as_str(), "" | "auto" | "no"))
}

/// Whether `INSTA_UPDATE` asks for files to be rewritten in place.
fn rewrite_in_place() -> bool {
    env::var("INSTA_UPDATE").is_ok_and(|v| matches!(v.as_str(), "always" | "1" | "force"))
}

/// The text of an insta snapshot file without its `---` metadata header,
/// normalized as insta compares it (CRLF as LF, no trailing whitespace).
fn snapshot_body(file: &Path) -> Option<String> {
    let text = fs::read_to_string(file).ok()?;
    let mut lines = text.lines();
    if lines.next()?.trim_end() != "---" {
        return None;
    }
    lines.by_ref().find(|line| line.trim_end() == "---")?;
    Some(lines.collect::<Vec<_>>().join("\n").trim_end().to_owned())
}

/// Compares every version's fresh text with its snapshot, then hands each
/// to insta; panics, listing all of them, when some snapshot is stale.
fn check_snapshots(name: &str, make: fn(&str) -> String) {
    let fresh = parallel_map(&SEED_VERSIONS, |version| make(version));
    if !insta_records() {
        let stale: Vec<String> = SEED_VERSIONS
            .iter()
            .zip(&fresh)
            .filter_map(|(version, text)| {
                let file = snapshot_file(name, version);
                let why = match snapshot_body(&file) {
                    None => "is missing or unreadable",
                    Some(body) if body != text.trim_end() => "is stale",
                    Some(_) => return None,
                };
                let shown = file.strip_prefix(workspace_root()).unwrap_or(&file);
                Some(format!("  {} {why}", shown.display()))
            })
            .collect();
        assert!(
            stale.is_empty(),
            "snapshots out of date: {HINT}\n{}",
            stale.join("\n")
        );
    }
    for (version, text) in SEED_VERSIONS.iter().zip(fresh) {
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(snapshot_dir());
        settings.set_prepend_module_to_snapshot(false);
        settings.set_snapshot_suffix(*version);
        settings.set_omit_expression(true);
        settings.bind(|| insta::assert_snapshot!(name, text));
    }
}

#[test]
fn net_rust_snapshots() {
    check_snapshots(RUST, generated_rust);
}

#[test]
fn net_ir_snapshots() {
    check_snapshots(IR, |version| load(version).dump());
}

/// `schemas/UPGRADES.md`: for each pair of consecutive seeds, what
/// `qapi-gen diff OLD NEW` reports (the library behind it,
/// `qapi_codegen::diff`), as Markdown.
fn upgrades_summary() -> String {
    let schemas = parallel_map(&SEED_VERSIONS, |version| load(version));
    let mut out = String::from(
        "# Upgrades between the seed schemas\n\
         \n\
         Generated by `cargo xtask regenerate` (`tests/tests/snapshots.rs`) from\n\
         `schemas/VERSION/net-schema.json`: do not edit. For each pair of\n\
         consecutive seeds, what `qapi-gen diff OLD NEW` reports: the changes on\n\
         the wire, classified by whom they break (old clients against a new\n\
         server; old servers receiving new clients' requests, or new clients\n\
         reading old answers). The rules are in `qapi-codegen/src/diff/mod.rs`.\n\
         The full differences: `diff tests/tests/snapshots/net_ir@{OLD,NEW}.snap`\n\
         (IR) and `diff tests/tests/snapshots/net_rust@{OLD,NEW}.snap` (Rust).\n",
    );
    for (pair, schema) in SEED_VERSIONS.windows(2).zip(schemas.windows(2)) {
        let report = qapi_codegen::diff::diff(&schema[0], &schema[1]);
        out.push_str(&format!(
            "\n## {old} → {new}\n\n\
             `qapi-gen diff schemas/{old}/net-schema.json schemas/{new}/net-schema.json`\n\n{}",
            qapi_codegen::diff::to_markdown(&report),
            old = pair[0],
            new = pair[1],
        ));
    }
    out
}

#[test]
fn upgrades_summary_is_current() {
    let fresh = upgrades_summary();
    let file = upgrades_file();
    if fs::read_to_string(&file).ok().as_deref() == Some(fresh.as_str()) {
        return;
    }
    if rewrite_in_place() {
        fs::write(&file, fresh).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
        eprintln!("updated {}", file.display());
        return;
    }
    panic!("schemas/UPGRADES.md is missing or stale: {HINT}");
}

/// Whether `ident` occurs in `text` as a whole identifier.
fn has_ident(text: &str, ident: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(ident).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + ident.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// The upgrade from 7.1.0 to 8.2.6 shows in the checked-in Rust snapshots:
/// the stream and dgram netdevs (new in 7.2) and AF_XDP (new in 8.2).
/// Reads the snapshot files, not fresh output: `cargo xtask regenerate`
/// skips this test while it rewrites them.
#[test]
fn upgrade_visible_between_rust_snapshots() {
    let read = |version| {
        let file = snapshot_file(RUST, version);
        snapshot_body(&file)
            .unwrap_or_else(|| panic!("{} is missing or unreadable: {HINT}", file.display()))
    };
    let (old, new) = (read("7.1.0"), read("8.2.6"));
    for ident in ["NetdevStreamOptions", "NetdevDgramOptions", "AfXdp"] {
        assert!(
            has_ident(&new, ident),
            "`{ident}` is not in the 8.2.6 Rust snapshot"
        );
        assert!(
            !has_ident(&old, ident),
            "`{ident}` is already in the 7.1.0 Rust snapshot"
        );
    }
    // `AfXdp` as a branch of the `Netdev` union (the enum of its branches),
    // under the cfg that `CONFIG_AF_XDP` maps to.
    let branches = |text: &str, version: &str| -> Vec<String> {
        let mut lines = text
            .lines()
            .skip_while(|line| *line != "pub enum NetdevBranch {");
        assert!(
            lines.next().is_some(),
            "no `pub enum NetdevBranch` in the {version} Rust snapshot"
        );
        lines
            .take_while(|line| *line != "}")
            .map(|line| line.trim().to_owned())
            .collect()
    };
    let af_xdp = |lines: &[String]| lines.iter().position(|line| line.starts_with("AfXdp("));
    assert_eq!(
        af_xdp(&branches(&old, "7.1.0")),
        None,
        "`Netdev` already has an `AfXdp` branch in the 7.1.0 Rust snapshot"
    );
    let new_branches = branches(&new, "8.2.6");
    let at =
        af_xdp(&new_branches).expect("no `AfXdp` branch of `Netdev` in the 8.2.6 Rust snapshot");
    let (_, predicate) = NET_CFG_MAP
        .iter()
        .find(|(symbol, _)| *symbol == "CONFIG_AF_XDP")
        .expect("NET_CFG_MAP maps CONFIG_AF_XDP");
    let cfg = format!("#[cfg({predicate})]");
    assert!(
        at > 0 && new_branches[at - 1] == cfg,
        "the `AfXdp` branch in the 8.2.6 Rust snapshot is not under `{cfg}`"
    );
}

/// `NET_CFG_MAP` is the mapping `net-backends/build.rs` gives the Builder,
/// as `.map_cfg("SYMBOL", PREDICATE)` calls with plain or raw string
/// literals, and that file reads the schema in legacy mode too.
#[test]
fn cfg_map_matches_net_backends() {
    let build_rs = workspace_root().join("net-backends/build.rs");
    let text =
        fs::read_to_string(&build_rs).unwrap_or_else(|err| panic!("{}: {err}", build_rs.display()));
    let mut found = Vec::new();
    for (at, _) in text.match_indices(".map_cfg(") {
        let rest = &text[at + ".map_cfg(".len()..];
        let (symbol, rest) = string_literal(rest)
            .unwrap_or_else(|| panic!("{}: cannot read a map_cfg call", build_rs.display()));
        let rest = rest.trim_start().strip_prefix(',').unwrap_or(rest);
        let (predicate, _) = string_literal(rest)
            .unwrap_or_else(|| panic!("{}: cannot read a map_cfg call", build_rs.display()));
        found.push((symbol, predicate));
    }
    let ours: Vec<(String, String)> = NET_CFG_MAP
        .iter()
        .map(|(s, p)| (s.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        found,
        ours,
        "the cfg map of {} and NET_CFG_MAP in tests/tests/snapshots.rs differ: \
         update NET_CFG_MAP, then run `cargo xtask regenerate`",
        build_rs.display()
    );
    assert!(
        text.contains(".legacy(true)") && text.contains(".qmp_service(true)"),
        "{} no longer reads its schema in legacy mode: update tests/tests/snapshots.rs",
        build_rs.display()
    );
}

/// A Rust string literal at the start of `text` (after whitespace):
/// `"..."` (with `\"` and `\\` escapes only) or `r#"..."#` (any number of
/// `#`). Returns its value and the text after it.
fn string_literal(text: &str) -> Option<(String, &str)> {
    let text = text.trim_start();
    if let Some(raw) = text.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let body = raw[hashes..].strip_prefix('"')?;
        let close = format!("\"{}", "#".repeat(hashes));
        let end = body.find(&close)?;
        return Some((body[..end].to_owned(), &body[end + close.len()..]));
    }
    let body = text.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &body[i + 1..])),
            '\\' => value.push(chars.next()?.1),
            _ => value.push(c),
        }
    }
    None
}
