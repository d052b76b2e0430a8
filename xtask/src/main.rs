//! `cargo xtask <task>`: developer chores for this workspace.
//!
//! * `ci`: everything CI checks, in order: the system packages the tests
//!   need, the shared test data (required when `CI` is set), `cargo fmt`,
//!   `cargo clippy` and `cargo test --no-fail-fast` over the whole workspace.
//! * `regenerate`: rewrite every checked-in generated file, then print what
//!   changed. These are the insta snapshots of `tests/tests/snapshots.rs`
//!   in `tests/tests/snapshots/` (for each seed schema
//!   `schemas/VERSION/net-schema.json`: the generated Rust,
//!   `net_rust@VERSION.snap`, and the IR dump, `net_ir@VERSION.snap`) and
//!   the upgrade report `schemas/UPGRADES.md` (what `qapi-gen diff`
//!   reports between consecutive seeds, from `qapi_codegen::diff`).
//!
//! # Updating snapshots
//!
//! When the generator, the front end or a seed schema changes, the snapshot
//! tests fail with "... is stale: run `cargo xtask regenerate`". Run it,
//! review the result with `git diff` and commit it with the change. It needs
//! no insta CLI: it deletes the snapshots (so that obsolete ones go),
//! runs `cargo test -p qapi-tests --test snapshots` with
//! `INSTA_UPDATE=always` (insta then writes each snapshot in place and
//! passes; `INSTA_FORCE_PASS` is not needed, and is unset so that it cannot
//! hide a failure), removes any `.snap.new` / `.pending-snap` leftovers,
//! runs the same tests again without `INSTA_UPDATE` to check the result,
//! and lists the files that changed. A second run changes nothing. If the
//! rewriting run fails, the deleted snapshots are put back.
//!
//! * `bench-compile`: how long a crate holding only the code generated for
//!   QEMU 9.2.0-rc2's full QMP schema takes to build (`cargo build`, dev
//!   profile, `CARGO_INCREMENTAL=0`), the median of three clean builds of
//!   that crate (its dependencies are built once beforehand and not
//!   counted). The crate lives in `target/qapi-bench-compile/`.
//!
//! In CI (`CI=true`) insta never writes snapshots, and the tests fail on a
//! stale one; so does `cargo xtask ci`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::env;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use clap::{Parser, Subcommand};

/// Debian packages the test suite needs beyond a Rust toolchain; missing
/// ones are installed with apt-get. The data folders' `check.sh` scripts
/// need only bash, coreutils and diffutils, which Debian always has;
/// `qemu-system-x86` brings `qemu-system-x86_64`, whose `query-qmp-schema`
/// answer is what `tests/tests/introspection.rs` compares the
/// introspection generator with (in CI that test fails without it), and
/// which `qapi-runtime/tests/qmp_qemu_interop.rs` drives over QMP;
/// `python3-venv` lets `qapi-runtime/tests/qmp_python.rs` make a virtual
/// environment (under the target directory) and pip-install Python's
/// `qemu.qmp` client from PyPI to drive our QMP server;
/// `qemu-guest-agent` brings `qemu-ga`, which
/// `qapi-runtime/tests/guest_agent.rs` runs on the host as the peer of the
/// guest-agent client.
///
/// The real-guest tests (`net-backends/tests/guests.rs`) boot a guest
/// whose userland is `busybox-static`'s busybox; `passt` is a guest's
/// network in one of them, run with `iproute2`'s `ip netns` in a
/// namespace the test makes. The guest's kernel is no installed package:
/// the harness (`tests/src/guest/image.rs`) fetches the current
/// `linux-image-*-cloud-amd64` with `apt-get download` (running `apt-get
/// update` first when that fails) and caches the image under `target/`.
const SYSTEM_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "python3",
    "python3-venv",
    "qemu-guest-agent",
    "busybox-static",
    "passt",
    "iproute2",
];

/// The shared data folders the tests read.
const SHARED_PARTS: [&str; 3] = ["qapi-conformance", "qapi-release-dumps", "qapi-schemas"];

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Developer chores for this workspace")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run every check CI runs (the README's test command).
    Ci,
    /// Regenerate checked-in generated code and snapshots.
    Regenerate,
    /// Time building a crate of the code generated for QEMU 9.2's QMP schema.
    BenchCompile,
}

fn main() -> ExitCode {
    let done = match Cli::parse().task {
        Task::Ci => ci(),
        Task::Regenerate => regenerate(),
        Task::BenchCompile => bench_compile(),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("xtask: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The folder of the snapshot tests' insta snapshots, from the workspace
/// root.
const SNAPSHOT_DIR: &str = "tests/tests/snapshots";

/// The other checked-in files the snapshot tests rewrite.
const GENERATED_FILES: [&str; 1] = ["schemas/UPGRADES.md"];

/// The snapshot tests' own test filter: the tests that read the checked-in
/// snapshots instead of writing them, skipped while they are rewritten.
const SNAPSHOT_READERS: [&str; 1] = ["upgrade_visible_between_rust_snapshots"];

/// Rewrites every checked-in generated file and prints what changed; see
/// the module documentation.
fn regenerate() -> Result<(), String> {
    let root = qapi_tests::workspace_root();
    let dir = root.join(SNAPSHOT_DIR);
    let before = generated_files(root)?;
    let mut leftovers = remove_leftovers(&dir)?;
    for name in before.keys().filter(|name| name.starts_with(SNAPSHOT_DIR)) {
        remove(&root.join(name))?;
    }
    let test = ["test", "-p", "qapi-tests", "--test", "snapshots"];
    let mut write: Vec<&str> = test.to_vec();
    write.push("--");
    for reader in SNAPSHOT_READERS {
        write.extend(["--skip", reader]);
    }
    let written = cargo_with_env(&write, Some("always"));
    if let Err(why) = written {
        // Put back what was deleted, so that a failure loses nothing.
        for (name, text) in &before {
            let path = root.join(name);
            if !path.exists() {
                fs::write(&path, text).map_err(|err| format!("{}: {err}", path.display()))?;
            }
        }
        return Err(why);
    }
    leftovers.extend(remove_leftovers(&dir)?);
    cargo_with_env(&test, None)?;
    let after = generated_files(root)?;
    let mut changes = Vec::new();
    for name in before
        .keys()
        .chain(after.keys().filter(|n| !before.contains_key(*n)))
    {
        let (old, new) = (before.get(name), after.get(name));
        if old == new {
            continue;
        }
        let text = |bytes: Option<&Vec<u8>>| {
            String::from_utf8_lossy(bytes.map_or(&[][..], |b| b)).into_owned()
        };
        let (added, removed) = line_changes(&text(old), &text(new));
        let status = match (old, new) {
            (None, _) => "A",
            (_, None) => "D",
            _ => "M",
        };
        changes.push(format!(
            "  {status} {}  (+{added} -{removed} lines)",
            name.display()
        ));
    }
    for leftover in leftovers {
        println!("xtask regenerate: removed leftover {}", leftover.display());
    }
    let total = before
        .keys()
        .chain(after.keys())
        .collect::<BTreeSet<_>>()
        .len();
    if changes.is_empty() {
        println!("xtask regenerate: all {total} generated files were up to date");
    } else {
        println!(
            "xtask regenerate: {} of {total} generated files changed (review with `git diff`):",
            changes.len()
        );
        for change in changes {
            println!("{change}");
        }
    }
    Ok(())
}

/// The checked-in generated files, by path from the workspace root: every
/// `.snap` file in [`SNAPSHOT_DIR`] and the [`GENERATED_FILES`] that exist.
fn generated_files(root: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>, String> {
    let mut files = BTreeMap::new();
    let dir = root.join(SNAPSHOT_DIR);
    let mut names: Vec<PathBuf> = GENERATED_FILES.iter().map(PathBuf::from).collect();
    if dir.is_dir() {
        for entry in fs::read_dir(&dir).map_err(|err| format!("{}: {err}", dir.display()))? {
            let path = entry
                .map_err(|err| format!("{}: {err}", dir.display()))?
                .path();
            if path.extension().is_some_and(|ext| ext == "snap") {
                if let Some(name) = path.file_name() {
                    names.push(Path::new(SNAPSHOT_DIR).join(name));
                }
            }
        }
    }
    for name in names {
        let path = root.join(&name);
        if path.is_file() {
            let text = fs::read(&path).map_err(|err| format!("{}: {err}", path.display()))?;
            files.insert(name, text);
        }
    }
    Ok(files)
}

/// How many lines `new` adds to `old` and removes from it, counting lines
/// as a multiset (a cheap stand-in for a diff's `+`/`-` counts).
fn line_changes(old: &str, new: &str) -> (usize, usize) {
    let mut count: HashMap<&str, isize> = HashMap::new();
    for line in old.lines() {
        *count.entry(line).or_default() -= 1;
    }
    for line in new.lines() {
        *count.entry(line).or_default() += 1;
    }
    let added = count.values().filter(|n| **n > 0).sum::<isize>();
    let removed = -count.values().filter(|n| **n < 0).sum::<isize>();
    (added as usize, removed as usize)
}

/// Removes insta's pending snapshots (`.snap.new`, `.pending-snap`) from
/// `dir`; returns their paths from the workspace root.
fn remove_leftovers(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut removed = Vec::new();
    if !dir.is_dir() {
        return Ok(removed);
    }
    for entry in fs::read_dir(dir).map_err(|err| format!("{}: {err}", dir.display()))? {
        let path = entry
            .map_err(|err| format!("{}: {err}", dir.display()))?
            .path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.ends_with(".snap.new") || name.ends_with(".pending-snap") {
            remove(&path)?;
            removed.push(Path::new(SNAPSHOT_DIR).join(&*name));
        }
    }
    removed.sort();
    Ok(removed)
}

fn remove(path: &Path) -> Result<(), String> {
    fs::remove_file(path).map_err(|err| format!("cannot remove {}: {err}", path.display()))
}

/// Runs Cargo with `args` from the workspace root, with `INSTA_UPDATE` set
/// to `insta_update` (or unset) and `INSTA_FORCE_PASS` unset.
fn cargo_with_env(args: &[&str], insta_update: Option<&str>) -> Result<(), String> {
    let mut command = Command::new(cargo_program());
    command
        .args(args)
        .current_dir(qapi_tests::workspace_root())
        .env_remove("INSTA_FORCE_PASS");
    let shown = match insta_update {
        Some(value) => {
            command.env("INSTA_UPDATE", value);
            format!("INSTA_UPDATE={value} cargo {}", args.join(" "))
        }
        None => {
            command.env_remove("INSTA_UPDATE");
            format!("cargo {}", args.join(" "))
        }
    };
    eprintln!("xtask: running {shown}");
    let status = command
        .status()
        .map_err(|err| format!("cannot run {shown}: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn ci() -> Result<(), String> {
    install_missing_packages(SYSTEM_PACKAGES)?;
    add_missing_rust_components()?;
    check_shared_data()?;
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    test_with_summary()
}

/// Runs the workspace's tests, echoing their output, and ends with one
/// line that totals every test binary's `test result:` line (cargo's own
/// last line is that of whichever crate comes last, often one with no
/// doc-tests, which reads as if nothing ran):
/// `tests: N passed, M failed, K skipped: REASON (COUNT), ...`.
///
/// The harness reports a test that skipped as `ok`; such tests record
/// themselves in the file [`qapi_tests::SKIP_LOG_VAR`] names (see
/// [`qapi_tests::skipped`]), and are counted as skipped instead of passed.
/// A test that skipped part of its checks counts as skipped too: it did
/// not check everything.
fn test_with_summary() -> Result<(), String> {
    use std::io::{BufRead, BufReader};
    let args = ["test", "--workspace", "--no-fail-fast"];
    let shown = format!("cargo {}", args.join(" "));
    let skip_log = qapi_tests::workspace_root().join("target/xtask-skipped-tests.tsv");
    if let Some(dir) = skip_log.parent() {
        fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    }
    fs::write(&skip_log, "").map_err(|err| format!("{}: {err}", skip_log.display()))?;
    eprintln!("xtask: running {shown}");
    let mut child = Command::new(cargo_program())
        .args(args)
        .current_dir(qapi_tests::workspace_root())
        .env(qapi_tests::SKIP_LOG_VAR, &skip_log)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run {shown}: {err}"))?;
    let mut totals = Totals::default();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            totals.read_line(&line);
        }
    }
    let status = child.wait().map_err(|err| format!("{shown}: {err}"))?;
    let records =
        fs::read_to_string(&skip_log).map_err(|err| format!("{}: {err}", skip_log.display()))?;
    println!("{}", totals.summary(&records));
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

/// What the test harness's output says, summed over every test binary.
#[derive(Default)]
struct Totals {
    passed: u64,
    failed: u64,
    /// The names of the tests reported as `FAILED`.
    failed_tests: BTreeSet<String>,
}

impl Totals {
    /// Takes in one line of `cargo test`'s standard output.
    fn read_line(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split(';') {
                let mut words = part.split_whitespace().rev();
                let (Some(what), Some(n)) = (words.next(), words.next()) else {
                    continue;
                };
                let n: u64 = n.parse().unwrap_or(0);
                match what {
                    "passed" => self.passed += n,
                    "failed" => self.failed += n,
                    _ => {}
                }
            }
        } else if let Some(test) = line
            .strip_prefix("test ")
            .and_then(|rest| rest.strip_suffix(" ... FAILED"))
        {
            self.failed_tests.insert(test.to_owned());
        }
    }

    /// The closing line, given the skip records (`EXECUTABLE\tTEST\tREASON`
    /// lines): a test that skipped and did not fail moves from passed to
    /// skipped, under the first reason it gave.
    fn summary(&self, records: &str) -> String {
        let mut skipped: BTreeMap<(&str, &str), &str> = BTreeMap::new();
        for record in records.lines() {
            let mut fields = record.splitn(3, '\t');
            let (Some(executable), Some(test), Some(reason)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if !self.failed_tests.contains(test) {
                skipped.entry((executable, test)).or_insert(reason);
            }
        }
        let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
        for reason in skipped.values() {
            *reasons.entry(reason).or_default() += 1;
        }
        let skips = skipped.len() as u64;
        let passed = self.passed.saturating_sub(skips);
        let mut line = format!("tests: {passed} passed, {} failed", self.failed);
        if skips > 0 {
            line += &format!(", {skips} skipped: ");
            if reasons.len() == 1 {
                line += reasons.keys().next().copied().unwrap_or_default();
            } else {
                let each: Vec<String> = reasons
                    .iter()
                    .map(|(reason, n)| format!("{reason} ({n})"))
                    .collect();
                line += &each.join(", ");
            }
        }
        line
    }
}

/// Runs `program args...` from the workspace root; `Err` unless it succeeds.
fn run(program: impl Into<OsString>, args: &[&str]) -> Result<(), String> {
    let program = program.into();
    let shown = format!("{} {}", program.to_string_lossy(), args.join(" "));
    eprintln!("xtask: running {shown}");
    let status = Command::new(&program)
        .args(args)
        .current_dir(qapi_tests::workspace_root())
        .status()
        .map_err(|err| format!("cannot run {shown}: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

/// The Cargo that started this task (or `cargo` from the `PATH`).
fn cargo_program() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Runs Cargo with `args` from the workspace root.
fn cargo(args: &[&str]) -> Result<(), String> {
    run(cargo_program(), args)
}

/// Whether `program args...` runs and succeeds, quietly.
fn succeeds(program: impl AsRef<OsStr>, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Installs the Debian packages of `packages` that are not installed yet,
/// through `sudo` unless running as root.
fn install_missing_packages(packages: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|package| !is_installed(package))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    let apt = |args: &[&str]| {
        if root {
            run("apt-get", args)
        } else {
            run(
                "sudo",
                &[&["DEBIAN_FRONTEND=noninteractive", "apt-get"], args].concat(),
            )
        }
    };
    // No questions from packages' configuration scripts (tzdata and the
    // like) on a fresh machine.
    env::set_var("DEBIAN_FRONTEND", "noninteractive");
    apt(&["update"])?;
    apt(&[&["install", "-y", "--no-install-recommends"], &missing[..]].concat())
}

/// Whether dpkg knows `package` as installed.
fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout.ends_with(b" installed"))
}

/// Adds rustfmt and clippy through rustup when they are missing.
fn add_missing_rust_components() -> Result<(), String> {
    let cargo = cargo_program();
    if succeeds(&cargo, &["fmt", "--version"]) && succeeds(&cargo, &["clippy", "--version"]) {
        return Ok(());
    }
    run("rustup", &["component", "add", "rustfmt", "clippy"])
}

/// The shared test data must be present in CI; elsewhere its absence only
/// makes the tests that need it skip, so a warning is enough.
fn check_shared_data() -> Result<(), String> {
    let shared = qapi_tests::shared_dir();
    let missing: Vec<&str> = SHARED_PARTS
        .into_iter()
        .filter(|part| !shared.join(part).is_dir())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let why = format!(
        "shared test data missing in {}: {} (it belongs at <workspace root>/../shared, or set {})",
        shared.display(),
        missing.join(", "),
        qapi_tests::SHARED_DIR_VAR
    );
    if qapi_tests::in_ci() {
        return Err(why);
    }
    eprintln!("xtask: warning: {why}; the tests that need it will be SKIPPED");
    Ok(())
}

/// `cargo xtask bench-compile`: see the module documentation.
fn bench_compile() -> Result<(), String> {
    const RUNS: usize = 3;
    let root = qapi_tests::workspace_root();
    let schema = qapi_tests::shared_dir().join("qapi-schemas/9.2.0-rc2/qapi/qapi-schema.json");
    if !schema.is_file() {
        return Err(format!("{} is missing (shared data)", schema.display()));
    }
    let krate = root.join("target/qapi-bench-compile");
    fs::create_dir_all(krate.join("src")).map_err(|e| format!("{}: {e}", krate.display()))?;
    let manifest = format!(
        "[package]\nname = \"qmp-9-2\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nqapi-runtime = {{ path = \"{}\", default-features = false }}\n\n[workspace]\n",
        root.join("qapi-runtime").display()
    );
    let write = |path: PathBuf, text: &str| {
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write(krate.join("Cargo.toml"), &manifest)?;
    write(
        krate.join("src/lib.rs"),
        "//! QEMU 9.2.0-rc2's QMP schema.\n#![allow(missing_docs)]\ninclude!(\"qmp.rs\");\n",
    )?;
    let out = krate.join("src/qmp.rs");
    let out_s = out.to_string_lossy().into_owned();
    let schema_s = schema.to_string_lossy().into_owned();
    cargo(&[
        "run",
        "-q",
        "--release",
        "-p",
        "qapi-codegen",
        "--bin",
        "qapi-gen",
        "--",
        "rust",
        "--legacy",
        &schema_s,
        "-o",
        &out_s,
    ])?;
    let manifest_path = krate.join("Cargo.toml").to_string_lossy().into_owned();
    let target = root
        .join("target/qapi-bench-compile-target")
        .to_string_lossy()
        .into_owned();
    let build = |args: &[&str]| -> Result<std::time::Duration, String> {
        let start = std::time::Instant::now();
        let status = Command::new(cargo_program())
            .args(args)
            .args(["--manifest-path", &manifest_path, "--target-dir", &target])
            .env("CARGO_INCREMENTAL", "0")
            .env_remove("RUSTFLAGS")
            .status()
            .map_err(|e| format!("cargo: {e}"))?;
        if !status.success() {
            return Err(format!("cargo {} failed ({status})", args.join(" ")));
        }
        Ok(start.elapsed())
    };
    build(&["build", "-q"])?;
    let mut times = Vec::new();
    for i in 0..RUNS {
        build(&["clean", "-q", "-p", "qmp-9-2"])?;
        let t = build(&["build", "-q"])?;
        println!("build {}: {:.2} s", i + 1, t.as_secs_f64());
        times.push(t);
    }
    times.sort();
    println!(
        "median of {RUNS} clean builds of the 9.2.0-rc2 QMP crate ({} lines): {:.2} s",
        fs::read_to_string(&out)
            .map(|s| s.lines().count())
            .unwrap_or(0),
        times[RUNS / 2].as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Totals;

    fn totals(output: &str) -> Totals {
        let mut totals = Totals::default();
        for line in output.lines() {
            totals.read_line(line);
        }
        totals
    }

    #[test]
    fn a_skipped_test_is_not_counted_as_passed() {
        let output = "test a ... ok\ntest b ... ok\ntest c ... FAILED\n\
                      test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n\
                      test result: ok. 5 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out\n";
        let t = totals(output);
        assert_eq!(t.summary(""), "tests: 7 passed, 1 failed");
        // `b` skipped twice (one test), `c` skipped and then failed anyway.
        let records = "/x/one\tb\tshared test data missing\n\
                       /x/one\tb\tshared test data missing\n\
                       /x/one\tc\tshared test data missing\n";
        assert_eq!(
            t.summary(records),
            "tests: 6 passed, 1 failed, 1 skipped: shared test data missing"
        );
        let records = "/x/one\tb\tshared test data missing\n\
                       /x/two\tb\tqemu-system-x86_64 not installed\n\
                       /x/two\td\tshared test data missing\n\
                       torn line\n";
        assert_eq!(
            t.summary(records),
            "tests: 4 passed, 1 failed, 3 skipped: qemu-system-x86_64 not installed (1), \
             shared test data missing (2)"
        );
    }
}
