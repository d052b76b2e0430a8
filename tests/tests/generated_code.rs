//! The generated Rust itself: it must compile cleanly, and it must read
//! and write QEMU's own QMP examples.
//!
//! * [`generation_never_panics`]: every schema the front end accepts (the
//!   conformance corpus's accepted cases, non-legacy; every release's QMP
//!   and guest-agent schemas, legacy) generates, without a panic.
//! * [`generated_code_passes_clippy`]: the bundled net schemas (with their
//!   cfg map), ten releases' QMP and guest-agent schemas (every symbol
//!   undefined; for two releases' QMP also every symbol defined, and open
//!   enums), and the corpus's accepted cases (those four ways, plus every
//!   symbol mapped to `feature = "af-xdp"` or its negation) become the
//!   modules of one generated crate, which must pass
//!   `cargo clippy --all-targets -- -D warnings`, without and with the
//!   feature `af-xdp`. The library's unit-test build, which
//!   `--all-targets` also checks, has no tests, and modules whose code
//!   does not depend on the feature are left out of the build with it: each
//!   module is checked once per configuration that can change it.
//! * [`qemu_examples_round_trip`]: every QMP example in the doc comments
//!   (`-> {"execute": ...}`, `<- {"return": ...}`, `<- {"event": ...}`)
//!   of QEMU 9.2.0-rc2's and 7.2.13's QMP schemas and of the 9.0.4 net
//!   schema (all generated with every symbol defined) that is JSON and
//!   concerns a command or event of the schema is read with the generated
//!   types (a request as a server reads it, a reply or event as a client
//!   does) and written back; the result must equal the example (objects
//!   in any order, numbers by value). The exceptions are the examples that
//!   contradict QEMU's schema, listed in [`KNOWN_BAD`] with the error text
//!   (QEMU's) they must keep failing with. Error replies and the greeting
//!   are out of scope; every count is printed.
//!
//! The generated crates live in the workspace's target directory
//! (`<target>/qapi-compile-test`, `<target>/qapi-roundtrip-test`) and are
//! built with target directories of their own next to them, never the
//! workspace's (which the outer Cargo may hold locked), with `RUSTFLAGS`
//! unset. Files whose text did not change are not rewritten, so a second
//! run is checked by Cargo as fresh.
//!
//! `QAPI_COMPILE_TEST_ONLY=TEXT` compiles only the modules whose name
//! contains `TEXT`; `QAPI_ROUNDTRIP_VERBOSE=1` lists the example messages
//! the round trip does not check.
//!
//! Without the shared data, or without `cargo clippy`, the tests skip with
//! a loud notice; in CI (`CI` set) they fail instead.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::env;
use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use qapi_codegen::cfg::CfgMap;
use qapi_codegen::docs::Example;
use qapi_codegen::{generate_source, Options};
use qapi_parser::ir::{EntityKind, Feature, IfCond, Member, Schema};
use qapi_tests::{
    in_ci, parallel_map, require_shared, run, skipped, workspace_root, Outcome, SkipReason,
    SEED_VERSIONS,
};
use serde_json::{json, Value};

/// The releases whose QMP and guest-agent schemas are compiled.
const COMPILED_RELEASES: [&str; 10] = [
    "6.2.0",
    "7.0.0",
    "7.1.0",
    "7.2.13",
    "8.0.5",
    "8.1.5",
    "8.2.6",
    "9.0.4",
    "9.1.2",
    "9.2.0-rc2",
];

/// The releases whose QMP schema is also compiled with every symbol
/// defined, and with open enums.
const VARIANT_RELEASES: [&str; 2] = ["9.2.0-rc2", "7.2.13"];

/// The cfg map of the bundled net schemas: `net-backends/build.rs`'s, with
/// `CONFIG_AF_XDP` on the feature alone so that both of its values can be
/// checked on any host.
const SEED_CFG: [(&str, &str); 3] = [
    ("CONFIG_AF_XDP", r#"feature = "af-xdp""#),
    ("CONFIG_VMNET", r#"target_os = "macos""#),
    ("CONFIG_LINUX", r#"target_os = "linux""#),
];

/// Where a release's QMP top file may be, newest layout first.
const QMP_TOPS: [&str; 2] = ["qapi/qapi-schema.json", "qapi-schema.json"];

/// Where a release's guest-agent top file is, if it has one.
const QGA_TOP: &str = "qga/qapi-schema.json";

/// Environment variable that restricts the compile test to the modules
/// whose name contains its value (`corpus_`, `qmp_9_2`...), to iterate on
/// the generator quickly.
const ONLY_VAR: &str = "QAPI_COMPILE_TEST_ONLY";

/// Environment variable that makes the round-trip test list the example
/// messages it does not check (unparsable, out of scope).
const VERBOSE_VAR: &str = "QAPI_ROUNDTRIP_VERBOSE";

/// Time allowed for one Cargo run.
const CARGO_TIME_LIMIT: Duration = Duration::from_secs(1800);

// ----- generating ----------------------------------------------------------

/// How a schema is generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// Default options: every symbol undefined, closed enums.
    Default,
    /// Every symbol defined (`CfgMap::unmapped_defined(true)`).
    AllDefined,
    /// `open_enums: true`.
    OpenEnums,
    /// The net schemas' map ([`SEED_CFG`]).
    Seed,
    /// Every symbol mapped to a cfg predicate on the feature `af-xdp`,
    /// alternately `feature = "af-xdp"` and `not(feature = "af-xdp")`,
    /// so that the conditions stay in the code as `#[cfg]`.
    FeatureMapped,
}

impl Variant {
    fn suffix(self) -> &'static str {
        match self {
            Variant::Default | Variant::Seed => "",
            Variant::AllDefined => "_all_defined",
            Variant::OpenEnums => "_open_enums",
            Variant::FeatureMapped => "_feature_mapped",
        }
    }

    /// Whether the code depends on the feature `af-xdp`.
    fn uses_feature(self) -> bool {
        matches!(self, Variant::Seed | Variant::FeatureMapped)
    }

    fn options(self, schema: &Schema) -> Options {
        let mut cfg = CfgMap::new();
        let mut open_enums = false;
        match self {
            Variant::Default => {}
            Variant::AllDefined => {
                cfg.unmapped_defined(true);
            }
            Variant::OpenEnums => open_enums = true,
            Variant::Seed => {
                for (symbol, predicate) in SEED_CFG {
                    cfg.map(symbol, predicate).expect("a valid predicate");
                }
            }
            Variant::FeatureMapped => {
                for (i, symbol) in symbols(schema).iter().enumerate() {
                    let predicate = if i % 2 == 0 {
                        r#"feature = "af-xdp""#
                    } else {
                        r#"not(feature = "af-xdp")"#
                    };
                    cfg.map(symbol, predicate).expect("a valid predicate");
                }
            }
        }
        Options {
            cfg,
            open_enums,
            ..Options::default()
        }
    }
}

/// Every configuration symbol a schema's conditions name.
fn symbols(schema: &Schema) -> BTreeSet<String> {
    fn walk(cond: Option<&IfCond>, out: &mut BTreeSet<String>) {
        match cond {
            None => {}
            Some(IfCond::Name(n)) => {
                out.insert(n.clone());
            }
            Some(IfCond::All(v) | IfCond::Any(v)) => v.iter().for_each(|c| walk(Some(c), out)),
            Some(IfCond::Not(c)) => walk(Some(c), out),
        }
    }
    fn features(f: &[Feature], out: &mut BTreeSet<String>) {
        f.iter().for_each(|f| walk(f.ifcond.as_ref(), out));
    }
    fn members(m: &[Member], out: &mut BTreeSet<String>) {
        for m in m {
            walk(m.ifcond.as_ref(), out);
            features(&m.features, out);
        }
    }
    let mut out = BTreeSet::new();
    for e in &schema.entities {
        walk(e.ifcond.as_ref(), &mut out);
        features(&e.features, &mut out);
        match &e.kind {
            EntityKind::Enum { values, .. } => {
                for v in values {
                    walk(v.ifcond.as_ref(), &mut out);
                    features(&v.features, &mut out);
                }
            }
            EntityKind::Object(o) => {
                members(&o.members, &mut out);
                for b in o.union.iter().flat_map(|u| &u.branches) {
                    walk(b.ifcond.as_ref(), &mut out);
                }
            }
            EntityKind::Alternate { branches } => {
                for b in branches {
                    walk(b.ifcond.as_ref(), &mut out);
                }
            }
            _ => {}
        }
    }
    out
}

/// Runs `f`, turning a panic into an error naming it.
fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        format!("PANIC: {text}")
    })
}

/// Loads a schema (a panic is an error too).
fn load(path: &Path, legacy: bool) -> Result<Schema, String> {
    catch(|| qapi_parser::load(path, &qapi_parser::Options { legacy }))?
        .map_err(|err| format!("not accepted by the front end:\n{err}"))
}

/// One schema to generate: a module of a generated crate.
#[derive(Debug, Clone)]
struct Unit {
    /// The module name.
    module: String,
    /// The top schema file.
    path: PathBuf,
    /// Named in the generated file's header (no machine-specific path, so
    /// that the text is the same wherever the data is).
    origin: String,
    legacy: bool,
    variant: Variant,
}

impl Unit {
    fn new(module: &str, path: PathBuf, origin: String, legacy: bool, variant: Variant) -> Unit {
        Unit {
            module: format!("{module}{}", variant.suffix()),
            path,
            origin,
            legacy,
            variant,
        }
    }

    /// The generated source; `Err` says why there is none (a panic
    /// included).
    fn generate(&self) -> Result<String, String> {
        let schema = load(&self.path, self.legacy)?;
        let options = catch(|| self.variant.options(&schema))?;
        catch(|| generate_source(&schema, &options, &self.origin))?
            .map_err(|err| format!("generation failed: {err}"))
    }
}

/// A module name for a release (`9.2.0-rc2` -> `9_2_0_rc2`).
fn ident_of(version: &str) -> String {
    version.replace(['.', '-'], "_")
}

/// The QMP top file of a release.
fn qmp_top(release: &Path) -> Option<PathBuf> {
    QMP_TOPS
        .iter()
        .map(|top| release.join(top))
        .find(|p| p.is_file())
}

/// The bundled net schemas, with their cfg map.
fn seed_units() -> Vec<Unit> {
    SEED_VERSIONS
        .iter()
        .map(|v| {
            let path = workspace_root()
                .join("schemas")
                .join(v)
                .join("net-schema.json");
            Unit::new(
                &format!("net_{}", ident_of(v)),
                path,
                format!("schemas/{v}/net-schema.json"),
                true,
                Variant::Seed,
            )
        })
        .collect()
}

/// The QMP and guest-agent schemas of `version`, each in `variants`
/// (the guest agent only in the default one).
fn release_units(schemas: &Path, version: &str, qmp_variants: &[Variant]) -> Vec<Unit> {
    let release = schemas.join(version);
    let mut out = Vec::new();
    let qmp = qmp_top(&release).unwrap_or_else(|| panic!("{}: no QMP schema", release.display()));
    let qmp_rel = qmp
        .strip_prefix(&release)
        .unwrap_or(&qmp)
        .display()
        .to_string();
    for &variant in qmp_variants {
        out.push(Unit::new(
            &format!("qmp_{}", ident_of(version)),
            qmp.clone(),
            format!("qapi-schemas/{version}/{qmp_rel}"),
            true,
            variant,
        ));
    }
    let qga = release.join(QGA_TOP);
    if qga.is_file() {
        out.push(Unit::new(
            &format!("qga_{}", ident_of(version)),
            qga,
            format!("qapi-schemas/{version}/{QGA_TOP}"),
            true,
            Variant::Default,
        ));
    }
    out
}

/// The corpus cases the front end accepts: `accept` in `MANIFEST.tsv`,
/// which must agree with `expected/NAME.exit`.
fn accepted_cases(corpus: &Path) -> Vec<String> {
    let manifest = fs::read_to_string(corpus.join("MANIFEST.tsv"))
        .unwrap_or_else(|err| panic!("cannot read MANIFEST.tsv in {}: {err}", corpus.display()));
    let mut out = Vec::new();
    for line in manifest.lines() {
        let mut fields = line.trim_end_matches('\r').split('\t');
        let (Some(name), Some(verdict)) = (fields.next(), fields.next()) else {
            continue;
        };
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        let exit = fs::read_to_string(corpus.join("expected").join(format!("{name}.exit")))
            .unwrap_or_else(|err| panic!("cannot read the expected exit status of {name}: {err}"));
        assert_eq!(
            verdict == "accept",
            exit.trim() == "0",
            "{name}: MANIFEST.tsv says {verdict}, expected/{name}.exit says {}",
            exit.trim()
        );
        if verdict == "accept" {
            out.push(name.to_owned());
        }
    }
    assert!(!out.is_empty(), "the corpus accepts no case");
    out
}

/// The corpus's accepted cases in `variants` (non-legacy, as the corpus
/// expects).
fn corpus_units(corpus: &Path, variants: &[Variant]) -> Vec<Unit> {
    let mut out = Vec::new();
    for name in accepted_cases(corpus) {
        for &variant in variants {
            out.push(Unit::new(
                &format!("corpus_{}", name.replace('-', "_")),
                corpus.join("cases").join(format!("{name}.json")),
                format!("qapi-conformance/cases/{name}.json"),
                false,
                variant,
            ));
        }
    }
    out
}

/// Generates every unit on all cores; panics listing every failure.
fn generate_all(units: &[Unit]) -> Vec<String> {
    let results = parallel_map(units, Unit::generate);
    let failures: Vec<String> = units
        .iter()
        .zip(&results)
        .filter_map(|(u, r)| {
            r.as_ref()
                .err()
                .map(|e| format!("{} ({:?}): {e}", u.origin, u.variant))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} schemas did not generate:\n{}",
        failures.len(),
        units.len(),
        failures.join("\n")
    );
    results.into_iter().map(Result::unwrap).collect()
}

/// Every corpus schema is generated (and compiled) all these ways.
const CORPUS_VARIANTS: [Variant; 4] = [
    Variant::Default,
    Variant::AllDefined,
    Variant::OpenEnums,
    Variant::FeatureMapped,
];

#[test]
fn generation_never_panics() {
    let mut units = Vec::new();
    for variant in [Variant::Default, Variant::AllDefined, Variant::OpenEnums] {
        units.extend(
            seed_units()
                .into_iter()
                .map(|u| Unit::new(&u.module, u.path, u.origin, true, variant)),
        );
    }
    if let Some(corpus) = require_shared("qapi-conformance") {
        units.extend(corpus_units(&corpus, &CORPUS_VARIANTS));
    }
    if let Some(schemas) = require_shared("qapi-schemas") {
        let mut releases: Vec<String> = fs::read_dir(&schemas)
            .expect("cannot list qapi-schemas")
            .map(|entry| entry.expect("cannot list qapi-schemas").path())
            .filter(|path| path.is_dir())
            .filter_map(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        releases.sort();
        assert!(
            releases.len() >= 41,
            "only {} releases in {}",
            releases.len(),
            schemas.display()
        );
        for version in &releases {
            units.extend(release_units(&schemas, version, &[Variant::Default]));
        }
    }
    let started = Instant::now();
    let generated = generate_all(&units);
    for (unit, source) in units.iter().zip(&generated) {
        assert!(
            source.contains("pub mod commands"),
            "{} ({:?}): the output has no commands module",
            unit.origin,
            unit.variant
        );
    }
    notice(&format!(
        "generated {} schemas in {:.1?}",
        units.len(),
        started.elapsed()
    ));
}

// ----- the generated crates ------------------------------------------------

/// The workspace's target directory (`CARGO_TARGET_TMPDIR` is `<target>/tmp`).
fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_owned()
}

/// Writes `text` to `path` unless the file already holds exactly that, so
/// that Cargo sees an unchanged file as fresh.
fn write_if_changed(path: &Path, text: &str) {
    if fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return;
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", dir.display()));
    }
    fs::write(path, text).unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
}

/// Removes the `.rs` files of `dir` that are not in `keep` (modules of an
/// earlier run).
fn remove_stale_sources(dir: &Path, keep: &BTreeSet<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") && !keep.contains(&name) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// `Cargo.toml` of a generated crate.
fn manifest(name: &str, extra_dependencies: &str, extra: &str) -> String {
    let runtime = workspace_root().join("qapi-runtime");
    format!(
        "# @generated by tests/tests/generated_code.rs; do not edit.\n\
         [package]\n\
         name = \"{name}\"\n\
         version = \"0.0.0\"\n\
         edition = \"2021\"\n\
         publish = false\n\
         {extra}\n\
         [dependencies]\n\
         # Generated code needs none of the runtime's optional parts.\n\
         qapi-runtime = {{ path = {runtime:?}, default-features = false }}\n\
         {extra_dependencies}\n\
         # Not a member of the workspace around it.\n\
         [workspace]\n",
        runtime = runtime.display().to_string(),
    )
}

/// Gives a generated crate the workspace's lock file, so that it builds
/// with the same dependency versions and without a registry update.
fn seed_lock_file(crate_dir: &Path) {
    let lock = crate_dir.join("Cargo.lock");
    if !lock.exists() {
        let _ = fs::copy(workspace_root().join("Cargo.lock"), &lock);
    }
}

/// The Cargo that runs the tests (or the one on the `PATH`).
fn cargo() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// Whether `cargo SUBCOMMAND --version` works: `None` if it does, else
/// why not.
fn missing_tool(args: &[&str]) -> Option<String> {
    match Command::new(cargo()).args(args).output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "`cargo {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(err) => Some(format!(
            "cannot run cargo ({}): {err}",
            cargo().to_string_lossy()
        )),
    }
}

/// Skips (or fails in CI) when a tool is missing; `true` to go on.
fn require_tool(args: &[&str]) -> bool {
    match missing_tool(args) {
        None => true,
        Some(why) if in_ci() => panic!("{why}; CI is set, so this is an error"),
        Some(why) => {
            skipped(SkipReason::NotInstalled("cargo or clippy"), &why);
            false
        }
    }
}

/// Runs Cargo in a generated crate with its own target directory, without
/// `RUSTFLAGS` from the environment.
fn run_cargo(crate_dir: &Path, target: &Path, args: &[&str]) -> Outcome {
    let mut command = Command::new(cargo());
    command
        .args(args)
        .current_dir(crate_dir)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_TERM_COLOR", "never")
        // Nothing is rebuilt piecemeal here: incremental data would only
        // cost time and disk.
        .env("CARGO_INCREMENTAL", "0")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    let done = run(&mut command, CARGO_TIME_LIMIT)
        .unwrap_or_else(|err| panic!("cannot run cargo {}: {err}", args.join(" ")));
    assert!(
        !done.timed_out,
        "cargo {} in {} ran past {CARGO_TIME_LIMIT:?}",
        args.join(" "),
        crate_dir.display()
    );
    done
}

/// The first diagnostics of a failed Cargo run (`--message-format=short`).
fn first_errors(done: &Outcome) -> String {
    let stderr = String::from_utf8_lossy(&done.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("error") || l.contains("warning"))
        .take(40)
        .collect();
    let tail: Vec<&str> = stderr
        .lines()
        .rev()
        .take(15)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!(
        "first diagnostics:\n{}\n...\nend of cargo's output:\n{}",
        errors.join("\n"),
        tail.join("\n")
    )
}

/// A line on stderr that the test harness does not capture.
fn notice(text: &str) {
    let _ = std::io::stderr()
        .lock()
        .write_all(format!("{text}\n").as_bytes());
}

// ----- compile test --------------------------------------------------------

#[test]
fn generated_code_passes_clippy() {
    if !require_tool(&["--version"]) || !require_tool(&["clippy", "--version"]) {
        return;
    }
    let mut units = seed_units();
    if let Some(schemas) = require_shared("qapi-schemas") {
        for version in COMPILED_RELEASES {
            let variants: &[Variant] = if VARIANT_RELEASES.contains(&version) {
                &[Variant::Default, Variant::AllDefined, Variant::OpenEnums]
            } else {
                &[Variant::Default]
            };
            units.extend(release_units(&schemas, version, variants));
        }
    }
    if let Some(corpus) = require_shared("qapi-conformance") {
        units.extend(corpus_units(&corpus, &CORPUS_VARIANTS));
    }

    if let Some(only) = env::var_os(ONLY_VAR) {
        let only = only.to_string_lossy().into_owned();
        units.retain(|u| u.module.contains(&only));
        notice(&format!(
            "compile test: only the {} modules matching ${ONLY_VAR}={only}",
            units.len()
        ));
    }

    let started = Instant::now();
    let sources = generate_all(&units);
    let generated_in = started.elapsed();

    let crate_dir = target_dir().join("qapi-compile-test");
    let src = crate_dir.join("src");
    let mut lib = String::from(
        "//! @generated by tests/tests/generated_code.rs; do not edit.\n\
         //! Each module is the code generated for one schema.\n\
         //!\n\
         //! `cargo clippy --all-targets` also checks this library's unit-test\n\
         //! build, which has no tests: the modules are left out of it rather\n\
         //! than checked twice. Modules whose code does not depend on the\n\
         //! feature `af-xdp` are left out of the build with it, for the same\n\
         //! reason.\n\n",
    );
    let mut files = BTreeSet::from(["lib.rs".to_owned()]);
    for (unit, source) in units.iter().zip(&sources) {
        let file = format!("{}.rs", unit.module);
        assert!(
            files.insert(file.clone()),
            "two modules named {}",
            unit.module
        );
        write_if_changed(&src.join(&file), source);
        let cfg = if unit.variant.uses_feature() {
            "not(test)"
        } else {
            "not(any(test, feature = \"af-xdp\"))"
        };
        lib.push_str(&format!("#[cfg({cfg})]\npub mod {};\n", unit.module));
    }
    write_if_changed(&src.join("lib.rs"), &lib);
    remove_stale_sources(&src, &files);
    write_if_changed(
        &crate_dir.join("Cargo.toml"),
        &manifest(
            "qapi-compile-test",
            "",
            "\n[lib]\ndoctest = false\n\n[features]\naf-xdp = []\n",
        ),
    );
    seed_lock_file(&crate_dir);

    let target = target_dir().join("qapi-compile-test-target");
    let mut times = Vec::new();
    for features in [&[][..], &["--features", "af-xdp"][..]] {
        let mut args = vec!["clippy", "--all-targets", "--message-format=short"];
        args.extend(features);
        args.extend(["--", "-D", "warnings"]);
        let started = Instant::now();
        let done = run_cargo(&crate_dir, &target, &args);
        times.push(format!("{} {:.1?}", features.join(" "), started.elapsed()));
        assert!(
            done.status == Some(0),
            "`cargo {}` failed in {} (status {:?}); {}",
            args.join(" "),
            crate_dir.display(),
            done.status,
            first_errors(&done)
        );
    }
    notice(&format!(
        "compile test: {} modules generated in {generated_in:.1?}; clippy: {}",
        units.len(),
        times.join(", ")
    ));
}

// ----- round trip ----------------------------------------------------------

/// A QEMU example that contradicts QEMU's own schema: where it is, and the
/// error the generated code reports for it (QEMU's text for the same
/// input).
struct KnownBad {
    /// The schema's label in [`RoundTrip`].
    schema: &'static str,
    /// `FILE:LINE` of the example (its first message), relative to the
    /// release directory.
    at: &'static str,
    /// The error text, or `mismatch: JSON` for a value written back
    /// differently.
    error: &'static str,
    /// What is wrong with the example.
    why: &'static str,
}

/// QEMU's examples that do not fit QEMU's schema (found by this test;
/// the error texts are QEMU's for the same input). Each must still fail
/// exactly so; one that starts to pass must be removed from the list.
const KNOWN_BAD: &[KnownBad] = &[
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/block-core.json:769",
        error: "Parameter '[0].inserted.image.backing_file' is unexpected",
        why: "ImageInfo names the member `backing-filename`; `backing_file` is BlockDeviceInfo's",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/block-core.json:1954",
        error: "Parameter '[0].image.backing_file' is unexpected",
        why: "ImageInfo names the member `backing-filename`; `backing_file` is BlockDeviceInfo's",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/migration.json:299",
        error: "Parameter 'ram.dirty-pages-rate' is missing",
        why: "the `ram` statistics omit MigrationStats' mandatory `dirty-pages-rate` (and more)",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/migration.json:326",
        error: "Parameter 'ram.dirty-pages-rate' is missing",
        why: "the `ram` statistics omit MigrationStats' mandatory `dirty-pages-rate` (and more)",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/migration.json:348",
        error: "Parameter 'ram.dirty-pages-rate' is missing",
        why: "the `ram` statistics omit MigrationStats' mandatory `dirty-pages-rate` (and more)",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/migration.json:1643",
        error: "Parameter 'channels[0].addr.offset' expects uint64",
        why: "`\"offset\": \"0x1000\"` is a string; FileMigrationArgs' `offset` is a `uint64`",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/migration.json:2168",
        error: "not a QMP reply or event (no \"return\", \"error\" or \"event\")",
        why: "query-dirty-rate's results are shown without `{\"return\": ...}` and without the request",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/migration.json:2175",
        error: "not a QMP reply or event (no \"return\", \"error\" or \"event\")",
        why: "query-dirty-rate's results are shown without `{\"return\": ...}` and without the request",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/migration.json:2218",
        error: "Parameter 'dirty-rate' is missing",
        why: "a stray `}` closes the request before its `arguments`",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/trace.json:56",
        error: "Parameter '[0].vcpu' is unexpected",
        why: "TraceEventInfo lost its deprecated `vcpu` member in 9.1; the example still shows it",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/qdev.json:67",
        error: "Parameter 'mac' is unexpected",
        why: "device_add is `'gen': false`: QEMU reads the device's properties by hand, the schema lists only `driver`, `bus` and `id`",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/machine.json:1877",
        error: "Parameter 'filename' is missing",
        why: "a stray `}` closes the request before its `arguments`",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/misc.json:116",
        error: "Parameter '[0].poll-max-ns' is missing",
        why: "the IOThreadInfo entries omit the mandatory `poll-max-ns`, `poll-grow`, `poll-shrink` and `aio-max-batch`",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/misc.json:571",
        error: "Parameter 'qom-path' is missing",
        why: "the event's data omits the mandatory `qom-path` (added in 7.0)",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/misc-target.json:138",
        error: "Parameter 'sev-type' is missing",
        why: "SevInfo became a union on `sev-type` (9.1); the example lacks the discriminator",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/misc-target.json:410",
        error: "Parameter 'sections' is missing",
        why: "the example says `section` for SGXInfo's `sections`",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/pci.json:187",
        error: "Parameter '[0].devices[0].irq_pin' is missing",
        why: "the PciDeviceInfo entries omit the mandatory `irq_pin` (added in 5.1)",
    },
    KnownBad {
        schema: "9.2.0-rc2 QMP",
        at: "qapi/virtio.json:272",
        error: "Parameter 'disable-legacy-check' is missing",
        why: "VirtioStatus' mandatory `disable-legacy-check` (added in 7.2) is missing from the example",
    },
    KnownBad {
        schema: "7.2.13 QMP",
        at: "qapi/block-core.json:657",
        error: "Parameter '[0].inserted.image.backing_file' is unexpected",
        why: "ImageInfo names the member `backing-filename`; `backing_file` is BlockDeviceInfo's",
    },
    KnownBad {
        schema: "7.2.13 QMP",
        at: "qapi/block-core.json:1776",
        error: "Parameter '[0].image.backing_file' is unexpected",
        why: "ImageInfo names the member `backing-filename`; `backing_file` is BlockDeviceInfo's",
    },
    KnownBad {
        schema: "7.2.13 QMP",
        at: "qapi/migration.json:285",
        error: "Parameter 'ram.skipped' is missing",
        why: "the `ram` statistics omit MigrationStats' mandatory `skipped` (and more)",
    },
    KnownBad {
        schema: "7.2.13 QMP",
        at: "qapi/migration.json:310",
        error: "Parameter 'ram.skipped' is missing",
        why: "the `ram` statistics omit MigrationStats' mandatory `skipped` (and more)",
    },
    KnownBad {
        schema: "7.2.13 QMP",
        at: "qapi/migration.json:331",
        error: "Parameter 'ram.skipped' is missing",
        why: "the `ram` statistics omit MigrationStats' mandatory `skipped` (and more)",
    },
    KnownBad {
        schema: "7.2.13 QMP",
        at: "qapi/migration.json:357",
        error: "Parameter 'ram.skipped' is missing",
        why: "the `ram` statistics omit MigrationStats' mandatory `skipped` (and more)",
    },
    KnownBad {
        schema: "7.2.13 QMP",
        at: "qapi/qdev.json:64",
        error: "Parameter 'mac' is unexpected",
        why: "device_add is `'gen': false`: QEMU reads the device's properties by hand, the schema lists only `driver`, `bus` and `id`",
    },
    KnownBad {
        schema: "7.2.13 QMP",
        at: "qapi/misc.json:117",
        error: "Parameter '[0].poll-max-ns' is missing",
        why: "the IOThreadInfo entries omit the mandatory `poll-max-ns`, `poll-grow`, `poll-shrink` and `aio-max-batch`",
    },
    KnownBad {
        schema: "7.2.13 QMP",
        at: "qapi/misc.json:549",
        error: "Parameter 'qom-path' is missing",
        why: "the event's data omits the mandatory `qom-path` (added in 7.0)",
    },
    KnownBad {
        schema: "7.2.13 QMP",
        at: "qapi/misc-target.json:383",
        error: "Parameter 'sections' is missing",
        why: "the example says `section` for SGXInfo's `sections`",
    },
    KnownBad {
        schema: "7.2.13 QMP",
        at: "qapi/pci.json:186",
        error: "Parameter '[0].devices[0].irq_pin' is missing",
        why: "the PciDeviceInfo entries omit the mandatory `irq_pin` (added in 5.1)",
    },
    KnownBad {
        schema: "7.2.13 QMP",
        at: "qapi/virtio.json:271",
        error: "Parameter 'disable-legacy-check' is missing",
        why: "VirtioStatus' mandatory `disable-legacy-check` (added in 7.2) is missing from the example",
    },
];

/// One schema whose examples are checked.
struct RoundTrip {
    label: &'static str,
    unit: Unit,
    /// The directory file names are shown relative to.
    root: PathBuf,
}

/// What an example message is, for the round trip.
#[derive(Debug)]
enum Message {
    /// A command's arguments.
    Request { command: String, arguments: Value },
    /// A command's successful result.
    Reply { command: String, value: Value },
    /// An event's data.
    Event { event: String, data: Value },
    /// A message about something else (an error reply, a command the
    /// schema does not have): why it is out of scope.
    Other(String),
    /// A message that is no QMP message at all: what is wrong with it.
    Invalid(String),
}

/// A client message without `execute`.
const NOT_A_COMMAND: &str = "not a QMP command (no \"execute\")";
/// A server message that is neither a reply, an error nor an event.
const NOT_A_REPLY: &str = "not a QMP reply or event (no \"return\", \"error\" or \"event\")";
/// A reply with no request before it, in an example of no command.
const REPLY_TO_NOTHING: &str = "a reply to no command";

/// The command name of a request as written, even when the text is not
/// JSON (`"execute": "NAME"`).
fn command_of_text(text: &str) -> Option<String> {
    for key in ["\"execute\"", "\"exec-oob\""] {
        if let Some(at) = text.find(key) {
            let rest = text[at + key.len()..]
                .trim_start()
                .strip_prefix(':')?
                .trim_start();
            let rest = rest.strip_prefix('"')?;
            return rest.find('"').map(|end| rest[..end].to_owned());
        }
    }
    None
}

/// Sorts the messages of an example. A request names its command; a
/// reply belongs to the last request before it in the example or, without
/// one (QEMU's text sometimes breaks an exchange in two with a stray
/// bracket), to the command the example documents.
fn classify(
    example: &Example,
    commands: &HashMap<String, String>,
    events: &HashMap<String, String>,
) -> Vec<Option<Message>> {
    let documented = commands
        .contains_key(&example.symbol)
        .then(|| example.symbol.clone());
    let mut last_command: Option<String> = None;
    let mut out = Vec::new();
    for m in &example.messages {
        if m.to_server {
            last_command = command_of_text(&m.text);
        }
        let Ok(json) = &m.json else {
            out.push(None);
            continue;
        };
        let message = if m.to_server {
            match json
                .get("execute")
                .or_else(|| json.get("exec-oob"))
                .and_then(Value::as_str)
            {
                Some(name) if commands.contains_key(name) => Message::Request {
                    command: name.to_owned(),
                    arguments: json.get("arguments").cloned().unwrap_or_else(|| json!({})),
                },
                Some(name) => Message::Other(format!("command {name} not in the schema")),
                None => Message::Invalid(NOT_A_COMMAND.to_owned()),
            }
        } else if let Some(value) = json.get("return") {
            match last_command.as_ref().or(documented.as_ref()) {
                Some(name) if commands.contains_key(name) => Message::Reply {
                    command: name.clone(),
                    value: value.clone(),
                },
                Some(name) => Message::Other(format!("reply to {name}, not in the schema")),
                None => Message::Invalid(REPLY_TO_NOTHING.to_owned()),
            }
        } else if let Some(name) = json.get("event").and_then(Value::as_str) {
            if events.contains_key(name) {
                Message::Event {
                    event: name.to_owned(),
                    data: json.get("data").cloned().unwrap_or_else(|| json!({})),
                }
            } else {
                Message::Other(format!("event {name} not in the schema"))
            }
        } else if json.get("error").is_some() {
            Message::Other("error reply".to_owned())
        } else if json.get("QMP").is_some() {
            Message::Other("greeting".to_owned())
        } else {
            Message::Invalid(NOT_A_REPLY.to_owned())
        };
        out.push(Some(message));
    }
    out
}

/// JSON equality as the wire sees it: object members in any order, and
/// numbers by value (`1` and `1.0` are the same `number`).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_json(v, w))
        }
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
                i == j
            } else if let (Some(i), Some(j)) = (x.as_u64(), y.as_u64()) {
                i == j
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        _ => a == b,
    }
}

/// A message's text on one line, cut after 300 characters.
fn shorten(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 300 {
        format!("{}...", line.chars().take(300).collect::<String>())
    } else {
        line
    }
}

/// A module's tables: its name, then its commands' request types and its
/// events' data types by wire name.
type Table = (String, HashMap<String, String>, HashMap<String, String>);

/// The binary of the round-trip crate: a table from wire names to the
/// generated types, for each module.
fn roundtrip_main(tables: &[Table]) -> String {
    let mut out = String::from(
        "// @generated by tests/tests/generated_code.rs; do not edit.\n\
         //! Reads each case of the JSON file named by the first argument\n\
         //! (`{\"module\", \"kind\", \"name\", \"value\"}`) with the generated type\n\
         //! for it and prints, one line per case, the value written back\n\
         //! (`{\"value\": ...}`), the error (`{\"error\": \"...\"}`), or\n\
         //! `{\"unknown\": true}`.\n\
         #![allow(dead_code, deprecated, unused_imports)]\n\n",
    );
    for (module, _, _) in tables {
        out.push_str(&format!("mod {module};\n"));
    }
    out.push_str(
        "\nuse qapi_runtime::input::Role;\n\
         use qapi_runtime::{Input, Output, ToValue, Visit};\n\
         use serde_json::{json, Value};\n\n\
         fn rt<T: Visit + ToValue>(role: Role, value: Value) -> Result<Value, String> {\n\
         \x20   let mut input = Input::new().with_role(role);\n\
         \x20   let typed: T = input.read(value).map_err(|e| e.to_string())?;\n\
         \x20   Ok(typed.to_value(&Output::new()))\n\
         }\n",
    );
    let mut dispatch = String::new();
    for (module, commands, events) in tables {
        let commands: BTreeMap<_, _> = commands.iter().collect();
        let events: BTreeMap<_, _> = events.iter().collect();
        let mut table = |kind: &str, rows: Vec<String>| {
            out.push_str(&format!(
                "\nfn {module}_{kind}(name: &str, value: Value) -> Option<Result<Value, String>> {{\n    Some(match name {{\n"
            ));
            for row in rows {
                out.push_str(&format!("        {row}\n"));
            }
            out.push_str("        _ => return None,\n    })\n}\n");
            dispatch.push_str(&format!(
                "        ({module:?}, {kind:?}) => {module}_{kind}(name, value),\n"
            ));
        };
        table(
            "request",
            commands
                .iter()
                .map(|(wire, rust)| {
                    format!("{wire:?} => rt::<{module}::commands::{rust}>(Role::Server, value),")
                })
                .collect(),
        );
        table(
            "reply",
            commands
                .iter()
                .map(|(wire, rust)| {
                    format!(
                        "{wire:?} => rt::<<{module}::commands::{rust} as qapi_runtime::Command>::Returns>(Role::Client, value),"
                    )
                })
                .collect(),
        );
        table(
            "event",
            events
                .iter()
                .map(|(wire, rust)| {
                    format!("{wire:?} => rt::<{module}::events::{rust}>(Role::Client, value),")
                })
                .collect(),
        );
    }
    out.push_str(&format!(
        "\nfn dispatch(module: &str, kind: &str, name: &str, value: Value) -> Option<Result<Value, String>> {{\n\
         \x20   match (module, kind) {{\n{dispatch}        _ => None,\n    }}\n}}\n"
    ));
    out.push_str(
        "\nfn main() {\n\
         \x20   let path = std::env::args().nth(1).expect(\"usage: roundtrip CASES.json\");\n\
         \x20   let text = std::fs::read_to_string(&path).expect(\"cannot read the cases\");\n\
         \x20   let cases: Vec<Value> = serde_json::from_str(&text).expect(\"the cases are not JSON\");\n\
         \x20   for case in cases {\n\
         \x20       let field = |k: &str| case[k].as_str().unwrap_or_default().to_owned();\n\
         \x20       let out = match dispatch(&field(\"module\"), &field(\"kind\"), &field(\"name\"), case[\"value\"].clone()) {\n\
         \x20           None => json!({\"unknown\": true}),\n\
         \x20           Some(Ok(v)) => json!({\"value\": v}),\n\
         \x20           Some(Err(e)) => json!({\"error\": e}),\n\
         \x20       };\n\
         \x20       println!(\"{out}\");\n\
         \x20   }\n\
         }\n",
    );
    out
}

/// An in-scope message, ready to send to the binary.
struct Case {
    label: &'static str,
    at: String,
    text: String,
    kind: &'static str,
    name: String,
    value: Value,
}

/// The counts of one schema's examples.
#[derive(Default)]
struct Counts {
    exchanges: usize,
    found: usize,
    parsed: usize,
    unparsable: usize,
    out_of_scope: BTreeMap<String, usize>,
    round_tripped: usize,
    known_bad: usize,
}

#[test]
fn qemu_examples_round_trip() {
    if !require_tool(&["--version"]) {
        return;
    }
    let Some(schemas) = require_shared("qapi-schemas") else {
        return;
    };
    let release = schemas.join("9.2.0-rc2");
    let seed = workspace_root().join("schemas/9.0.4");
    let checked = [
        RoundTrip {
            label: "9.2.0-rc2 QMP",
            unit: Unit::new(
                "qmp_9_2_0_rc2",
                release.join("qapi/qapi-schema.json"),
                "qapi-schemas/9.2.0-rc2/qapi/qapi-schema.json".to_owned(),
                true,
                Variant::AllDefined,
            ),
            root: release.clone(),
        },
        RoundTrip {
            label: "7.2.13 QMP",
            unit: Unit::new(
                "qmp_7_2_13",
                schemas.join("7.2.13/qapi/qapi-schema.json"),
                "qapi-schemas/7.2.13/qapi/qapi-schema.json".to_owned(),
                true,
                Variant::AllDefined,
            ),
            root: schemas.join("7.2.13"),
        },
        RoundTrip {
            label: "9.0.4 net",
            unit: Unit::new(
                "net_9_0_4",
                seed.join("net-schema.json"),
                "schemas/9.0.4/net-schema.json".to_owned(),
                true,
                Variant::AllDefined,
            ),
            root: seed.clone(),
        },
    ];

    // Generate, and sort the examples.
    let verbose = env::var_os(VERBOSE_VAR).is_some();
    let crate_dir = target_dir().join("qapi-roundtrip-test");
    let src = crate_dir.join("src");
    let mut files = BTreeSet::from(["main.rs".to_owned()]);
    let mut tables = Vec::new();
    let mut cases = Vec::new();
    let mut counts: Vec<Counts> = Vec::new();
    for rt in &checked {
        let unit = &rt.unit;
        let schema =
            load(&unit.path, unit.legacy).unwrap_or_else(|err| panic!("{}: {err}", rt.label));
        let options = unit.variant.options(&schema);
        let source = generate_source(&schema, &options, &unit.origin)
            .unwrap_or_else(|err| panic!("{}: {err}", rt.label));
        write_if_changed(&src.join(format!("{}.rs", unit.module)), &source);
        files.insert(format!("{}.rs", unit.module));
        let (commands, events) = qapi_codegen::rust::request_and_event_names(&schema, &options)
            .unwrap_or_else(|err| panic!("{}: {err}", rt.label));
        let root = format!("{}/", rt.root.display());
        let mut count = Counts::default();
        for example in qapi_codegen::docs::examples(&schema) {
            count.exchanges += 1;
            let at = example
                .location
                .strip_prefix(&root)
                .unwrap_or(&example.location)
                .to_owned();
            for (message, sorted) in example
                .messages
                .iter()
                .zip(classify(&example, &commands, &events))
            {
                count.found += 1;
                let Some(sorted) = sorted else {
                    count.unparsable += 1;
                    if verbose {
                        notice(&format!(
                            "{} {at}: unparsable: {}",
                            rt.label,
                            shorten(&message.text)
                        ));
                    }
                    continue;
                };
                count.parsed += 1;
                let (kind, name, value) = match sorted {
                    Message::Request { command, arguments } => ("request", command, arguments),
                    Message::Reply { command, value } => ("reply", command, value),
                    Message::Event { event, data } => ("event", event, data),
                    // Checked by the test itself: always a problem.
                    Message::Invalid(what) => ("invalid", what, Value::Null),
                    Message::Other(why) => {
                        if verbose {
                            notice(&format!(
                                "{} {at}: out of scope ({why}): {}",
                                rt.label,
                                shorten(&message.text)
                            ));
                        }
                        *count.out_of_scope.entry(why).or_default() += 1;
                        continue;
                    }
                };
                cases.push(Case {
                    label: rt.label,
                    at: at.clone(),
                    text: message.text.clone(),
                    kind,
                    name,
                    value,
                });
            }
        }
        assert!(count.found > 0, "{}: no example found", rt.label);
        counts.push(count);
        tables.push((unit.module.clone(), commands, events));
    }
    write_if_changed(&src.join("main.rs"), &roundtrip_main(&tables));
    remove_stale_sources(&src, &files);
    write_if_changed(
        &crate_dir.join("Cargo.toml"),
        &manifest("qapi-roundtrip-test", "serde_json = \"1\"", ""),
    );
    seed_lock_file(&crate_dir);
    let wire: Vec<Value> = cases
        .iter()
        .map(|c| {
            let module = &checked
                .iter()
                .find(|rt| rt.label == c.label)
                .expect("a schema")
                .unit
                .module;
            json!({"module": module, "kind": c.kind, "name": c.name, "value": c.value})
        })
        .collect();
    let cases_file = crate_dir.join("cases.json");
    write_if_changed(&cases_file, &serde_json::to_string(&wire).expect("JSON"));

    // Build and run.
    let target = target_dir().join("qapi-roundtrip-test-target");
    let started = Instant::now();
    let cases_arg = cases_file.display().to_string();
    let done = run_cargo(
        &crate_dir,
        &target,
        &["run", "--quiet", "--message-format=short", "--", &cases_arg],
    );
    assert!(
        done.status == Some(0),
        "the round-trip binary failed in {} (status {:?}); {}",
        crate_dir.display(),
        done.status,
        first_errors(&done)
    );
    let ran_in = started.elapsed();
    let stdout = String::from_utf8_lossy(&done.stdout);
    let results: Vec<Value> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|err| panic!("bad output line {l:?}: {err}"))
        })
        .collect();
    assert_eq!(
        results.len(),
        cases.len(),
        "the binary answered {} of {} cases",
        results.len(),
        cases.len()
    );

    // Compare.
    let mut failures = Vec::new();
    let mut seen_bad = vec![0usize; KNOWN_BAD.len()];
    for (case, result) in cases.iter().zip(&results) {
        let count = &mut counts[checked
            .iter()
            .position(|rt| rt.label == case.label)
            .expect("a schema")];
        let problem = if case.kind == "invalid" {
            // Not sent to the generated code (it answers "unknown").
            Some(case.name.clone())
        } else if result.get("unknown").is_some() {
            Some(format!(
                "no {} {} in the generated table",
                case.kind, case.name
            ))
        } else if let Some(error) = result.get("error").and_then(Value::as_str) {
            Some(error.to_owned())
        } else if same_json(&result["value"], &case.value) {
            None
        } else {
            Some(format!("mismatch: {}", result["value"]))
        };
        let Some(problem) = problem else {
            count.round_tripped += 1;
            continue;
        };
        let known = KNOWN_BAD
            .iter()
            .position(|k| k.schema == case.label && k.at == case.at && k.error == problem);
        match known {
            Some(k) => {
                seen_bad[k] += 1;
                count.known_bad += 1;
            }
            None => failures.push(format!(
                "{} {} ({} {}): {problem}\n    {}",
                case.label,
                case.at,
                case.kind,
                case.name,
                shorten(&case.text)
            )),
        }
    }
    for (rt, count) in checked.iter().zip(&counts) {
        let out_of_scope: usize = count.out_of_scope.values().sum();
        notice(&format!(
            "{}: examples: {} found, {} parsed as JSON, {} round-tripped, {} known schema-inconsistent, \
             {} unparsable (elided/commented); {} exchanges; {} parsed but out of scope ({})",
            rt.label,
            count.found,
            count.parsed,
            count.round_tripped,
            count.known_bad,
            count.unparsable,
            count.exchanges,
            out_of_scope,
            count
                .out_of_scope
                .iter()
                .map(|(why, n)| format!("{n} {why}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    notice(&format!("round trip: built and ran in {ran_in:.1?}"));
    assert!(
        failures.is_empty(),
        "{} example messages do not round-trip (fix the generated code, or list QEMU's mistakes in KNOWN_BAD):\n{}",
        failures.len(),
        failures.join("\n")
    );
    let stale: Vec<String> = KNOWN_BAD
        .iter()
        .zip(&seen_bad)
        .filter(|(_, &n)| n == 0)
        .map(|(k, _)| format!("{} {}: {} ({})", k.schema, k.at, k.error, k.why))
        .collect();
    assert!(
        stale.is_empty(),
        "KNOWN_BAD lists examples that no longer fail that way (remove them):\n{}",
        stale.join("\n")
    );
    for (rt, count) in checked.iter().zip(&counts) {
        let out_of_scope: usize = count.out_of_scope.values().sum();
        assert_eq!(count.found, count.parsed + count.unparsable, "{}", rt.label);
        assert_eq!(
            count.round_tripped + count.known_bad,
            count.parsed - out_of_scope,
            "{}: every in-scope message must round-trip or be a known QEMU mistake",
            rt.label
        );
        assert!(
            count.round_tripped > 0,
            "{}: nothing round-tripped",
            rt.label
        );
    }
}
