//! `cargo xtask <task>`: developer chores for this workspace.
//!
//! * `ci`: everything CI checks, in order: the system packages the tests
//!   need, the shared test data (required when `CI` is set), `cargo fmt`,
//!   `cargo clippy` and `cargo test --no-fail-fast` over the whole workspace.
//! * `regenerate`: rewrite checked-in generated code and snapshots (nothing
//!   is generated yet).

use std::env;
use std::ffi::{OsStr, OsString};
use std::process::{Command, ExitCode, Stdio};

use clap::{Parser, Subcommand};

/// Debian packages the test suite needs beyond a Rust toolchain; missing
/// ones are installed with apt-get. The data folders' `check.sh` scripts
/// need only bash, coreutils and diffutils, which Debian always has;
/// `qemu-system-x86` brings `qemu-system-x86_64`, whose `query-qmp-schema`
/// answer is what `tests/tests/introspection.rs` compares the
/// introspection generator with (in CI that test fails without it).
const SYSTEM_PACKAGES: &[&str] = &["qemu-system-x86"];

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
}

fn main() -> ExitCode {
    let done = match Cli::parse().task {
        Task::Ci => ci(),
        Task::Regenerate => {
            println!("xtask regenerate: nothing is generated yet (the Rust generator comes later)");
            Ok(())
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("xtask: {why}");
            ExitCode::FAILURE
        }
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
/// doc-tests, which reads as if nothing ran).
fn test_with_summary() -> Result<(), String> {
    use std::io::{BufRead, BufReader};
    let args = ["test", "--workspace", "--no-fail-fast"];
    let shown = format!("cargo {}", args.join(" "));
    eprintln!("xtask: running {shown}");
    let mut child = Command::new(cargo_program())
        .args(args)
        .current_dir(qapi_tests::workspace_root())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run {shown}: {err}"))?;
    let (mut passed, mut failed) = (0u64, 0u64);
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                for part in rest.split(';') {
                    let mut words = part.split_whitespace().rev();
                    let (Some(what), Some(n)) = (words.next(), words.next()) else {
                        continue;
                    };
                    let n: u64 = n.parse().unwrap_or(0);
                    match what {
                        "passed" => passed += n,
                        "failed" => failed += n,
                        _ => {}
                    }
                }
            }
        }
    }
    let status = child.wait().map_err(|err| format!("{shown}: {err}"))?;
    println!("tests: {passed} passed, {failed} failed");
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
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
            run("sudo", &[&["apt-get"], args].concat())
        }
    };
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
