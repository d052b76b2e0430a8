//! Helpers shared by the cross-crate tests in `tests/tests/`.
//!
//! Besides the tests, `xtask` and the benchmarks use this crate for one rule:
//! where the shared test data lives ([`shared_dir`]).
//!
//! The tests that need the `qapi-gen` executable get it from [`qapi_gen`]:
//! Cargo only hands `CARGO_BIN_EXE_*` to the tests of the package that owns
//! the binary, so this crate builds it with a nested `cargo build` (or takes
//! the path in `QAPI_GEN`).
#![deny(missing_docs)]

/// The README's code blocks, compiled (and run, unless marked `no_run`)
/// as doctests of this crate, which has every workspace crate at hand.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub mod fds;
pub mod guest;
pub mod ports;
pub mod qemu;

use std::env;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// Environment variable that overrides where the shared test data is.
pub const SHARED_DIR_VAR: &str = "QAPI_SHARED_DIR";

/// Environment variable naming a prebuilt `qapi-gen` executable (an absolute
/// path) to test instead of building one.
pub const QAPI_GEN_VAR: &str = "QAPI_GEN";

/// The QEMU releases whose `net.json` closure is bundled in `schemas/`.
pub const SEED_VERSIONS: [&str; 4] = ["6.0.1", "7.1.0", "8.2.6", "9.0.4"];

/// The top file of a net schema: `schemas/VERSION/net-schema.json` holds
/// exactly this, as does the file `qapi-release-dumps/check.sh` writes.
pub const NET_SCHEMA_TOP: &str =
    "{ 'include': 'qapi/pragma.json' }\n{ 'include': 'qapi/net.json' }\n";

/// The workspace's root directory.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits inside the workspace")
}

/// Where the shared test data is: `$QAPI_SHARED_DIR` if set, else the
/// `shared` directory next to the workspace root (`<root>/../shared`).
pub fn shared_dir() -> PathBuf {
    match env::var_os(SHARED_DIR_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let root = workspace_root();
            root.parent().unwrap_or(root).join("shared")
        }
    }
}

/// Whether this is a CI run: `CI` is set to anything but empty, `0` or
/// `false`. In CI, missing test data is an error rather than a skip.
pub fn in_ci() -> bool {
    env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The path of `part` inside the shared test data, if it exists.
///
/// When it does not: in CI (see [`in_ci`]) this panics with a clear message;
/// elsewhere it prints a loud `SKIPPED` notice to stderr (see [`skipped`])
/// and returns `None`, so that the calling test can return early.
pub fn require_shared(part: &str) -> Option<PathBuf> {
    let path = shared_dir().join(part);
    if path.exists() {
        return Some(path);
    }
    let why = format!(
        "{} not found (it must sit at <workspace root>/../shared, \
         or ${SHARED_DIR_VAR} must point to it)",
        path.display()
    );
    if in_ci() {
        panic!("shared test data missing: {why}; CI is set, so this is an error");
    }
    skipped(SkipReason::SharedDataMissing, &why);
    None
}

/// Environment variable naming a file to which [`skipped`] appends one
/// line per skip: `EXECUTABLE<TAB>TEST<TAB>REASON`. `cargo xtask ci` sets
/// it, so that its summary counts skipped tests as skipped, not passed.
pub const SKIP_LOG_VAR: &str = "QAPI_SKIP_LOG";

/// Why a test, or a part of one, did not run. `cargo xtask ci` totals the
/// skips by this (its [`Display`](std::fmt::Display) text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The shared test data ([`shared_dir`]) is missing.
    SharedDataMissing,
    /// A program the test runs is not installed (its name).
    NotInstalled(&'static str),
    /// Something else the test needs is not available on this host.
    Unavailable(&'static str),
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::SharedDataMissing => f.write_str("shared test data missing"),
            SkipReason::NotInstalled(program) => write!(f, "{program} not installed"),
            SkipReason::Unavailable(what) => write!(f, "{what} unavailable"),
        }
    }
}

/// Reports that the running test skips (all or part of its checks):
/// prints a `SKIPPED` notice straight to stderr (not through `eprintln!`,
/// whose output the test harness hides for passing tests) and, when
/// [`SKIP_LOG_VAR`] names a file, appends a record of the skip to it.
///
/// The test is named by its thread, which the standard test harness
/// names after the test.
pub fn skipped(reason: SkipReason, detail: &str) {
    let notice = format!("\n******** SKIPPED ({reason}): {detail} ********\n\n");
    // Nothing useful can be done if stderr is gone.
    let _ = io::stderr().lock().write_all(notice.as_bytes());
    let Some(log) = env::var_os(SKIP_LOG_VAR).filter(|log| !log.is_empty()) else {
        return;
    };
    let executable = env::current_exe()
        .map(|exe| exe.display().to_string())
        .unwrap_or_default();
    let current = thread::current();
    let test = current.name().unwrap_or("(unnamed thread)");
    let record = format!("{executable}\t{test}\t{reason}\n");
    // One `write` on a file opened for appending: records of tests running
    // at the same time do not interleave.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut file| file.write_all(record.as_bytes()));
    if let Err(err) = written {
        let _ = writeln!(
            io::stderr().lock(),
            "cannot record the skip in {}: {err}",
            Path::new(&log).display()
        );
    }
}

/// Whether every Debian package in `packages` is installed (dpkg says
/// so). When one is not: in CI (see [`in_ci`]) this panics; elsewhere it
/// prints a loud `SKIPPED` notice naming `what` and returns `false`.
pub fn packages_installed(what: &str, packages: &[&str]) -> bool {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|package| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", package])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .is_ok_and(|out| out.status.success() && out.stdout.ends_with(b" installed"))
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "{what} need the Debian packages {} (`cargo xtask ci` installs them)",
        missing.join(", ")
    );
    if in_ci() {
        panic!("{why}; CI is set, so this is an error");
    }
    skipped(SkipReason::NotInstalled("Debian packages"), &why);
    false
}

/// Whether a working `bash` is on the `PATH`.
pub fn bash_available() -> bool {
    Command::new("bash")
        .args(["-c", "exit 0"])
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The `qapi-gen` executable to test.
///
/// `$QAPI_GEN` if set (it must be an absolute path, since tests run it from
/// other directories). Otherwise `cargo build -p qapi-codegen --bin qapi-gen`
/// runs once per test process, with the profile the tests were built with,
/// and the path Cargo reports is used. This works under `cargo test` because
/// Cargo releases its build lock before it runs the tests.
pub fn qapi_gen() -> &'static Path {
    static QAPI_GEN: OnceLock<PathBuf> = OnceLock::new();
    QAPI_GEN.get_or_init(|| match env::var_os(QAPI_GEN_VAR) {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            assert!(
                path.is_absolute(),
                "${QAPI_GEN_VAR} must be an absolute path, not {}",
                path.display()
            );
            path
        }
        _ => build_qapi_gen(),
    })
}

/// Builds `qapi-gen` with Cargo and returns the executable's path.
fn build_qapi_gen() -> PathBuf {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command
        .args(["build", "--quiet", "--package", "qapi-codegen"])
        .args([
            "--bin",
            "qapi-gen",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(profile) = current_profile() {
        command.args(["--profile", &profile]);
    }
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("cannot run cargo to build qapi-gen: {err}"));
    assert!(
        output.status.success(),
        "`cargo build --bin qapi-gen` failed ({})",
        output.status
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == "qapi-gen"
        })
        .and_then(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo build did not report the qapi-gen executable")
}

/// The Cargo profile the running test executable was built with, judged by
/// its directory (`<target>/<profile dir>/deps/<test>`); `None` for `dev`.
fn current_profile() -> Option<String> {
    let exe = env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?.file_name()?.to_str()?;
    (profile_dir != "debug").then(|| profile_dir.to_owned())
}

/// Runs a data folder's `check.sh -- QAPI_GEN ARGS...` with `bash` and
/// asserts that it passes, showing the end of its report if not. Skips (with
/// a notice) when `bash` is missing.
pub fn assert_check_sh_passes(script: &Path, args: &[&str]) {
    if !bash_available() {
        skipped(
            SkipReason::NotInstalled("bash"),
            &format!("no bash to run {}", script.display()),
        );
        return;
    }
    let done = run(
        Command::new("bash")
            .arg(script)
            .arg("--")
            .arg(qapi_gen())
            .args(args),
        Duration::from_secs(1800),
    )
    .unwrap_or_else(|err| panic!("cannot run {}: {err}", script.display()));
    let report = String::from_utf8_lossy(&done.stdout);
    let lines: Vec<&str> = report.lines().collect();
    assert!(
        done.status == Some(0),
        "{} failed (status {:?}); the end of its report:\n{}\n{}",
        script.display(),
        done.status,
        lines[lines.len().saturating_sub(40)..].join("\n"),
        String::from_utf8_lossy(&done.stderr)
    );
}

/// What a finished (or stopped) child process produced.
#[derive(Debug)]
pub struct Outcome {
    /// The exit status; `None` when a signal ended the process.
    pub status: Option<i32>,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// Whether the process was killed for running past its time limit.
    pub timed_out: bool,
}

/// Runs `command` with stdin from `/dev/null`, collecting its stdout and
/// stderr; kills it if it runs longer than `limit`.
pub fn run(command: &mut Command, limit: Duration) -> io::Result<Outcome> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(1);
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait()? {
            break (status, false);
        }
        if Instant::now() >= deadline {
            // It may have exited in the meantime; `wait` settles it either way.
            let _ = child.kill();
            break (child.wait()?, true);
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    };
    Ok(Outcome {
        status: status.code(),
        stdout: join_reader(stdout)?,
        stderr: join_reader(stderr)?,
        timed_out,
    })
}

type Reader = thread::JoinHandle<io::Result<Vec<u8>>>;

fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> Reader {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_end(&mut bytes)?;
        }
        Ok(bytes)
    })
}

fn join_reader(reader: Reader) -> io::Result<Vec<u8>> {
    reader
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("output reader thread panicked")))
}

/// Applies `f` to every item on all CPUs; results come back in input order.
/// A panic in `f` is passed on to the caller.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<R>> = items.iter().map(|_| None).collect();
    thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(index) else { break };
                        done.push((index, f(item)));
                    }
                    done
                })
            })
            .collect();
        for handle in handles {
            let done = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (index, result) in done {
                results[index] = Some(result);
            }
        }
    });
    results.into_iter().flatten().collect()
}

/// Where `actual` first departs from `expected`, line by line: `None` when
/// they are equal, else a short description such as
/// `line 3: expected "member a\n", got "member b\n"`.
pub fn first_difference(expected: &[u8], actual: &[u8]) -> Option<String> {
    if expected == actual {
        return None;
    }
    let mut want = expected.split_inclusive(|&b| b == b'\n');
    let mut got = actual.split_inclusive(|&b| b == b'\n');
    let mut line = 1;
    loop {
        match (want.next(), got.next()) {
            (Some(w), Some(g)) if w == g => line += 1,
            (w, g) => {
                return Some(format!(
                    "line {line}: expected {}, got {}",
                    show(w),
                    show(g)
                ))
            }
        }
    }
}

/// A line for a message: quoted with escapes, cut after 160 characters.
fn show(line: Option<&[u8]>) -> String {
    const MAX: usize = 160;
    match line {
        None => "end of output".to_owned(),
        Some(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            if text.chars().count() > MAX {
                let cut: String = text.chars().take(MAX).collect();
                format!("{cut:?}...")
            } else {
                format!("{text:?}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_map_keeps_input_order() {
        let items: Vec<u32> = (0..1000).collect();
        let doubled = parallel_map(&items, |n| n * 2);
        assert_eq!(doubled, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        assert!(parallel_map(&[] as &[u32], |n| *n).is_empty());
    }

    #[test]
    fn first_difference_names_the_line() {
        assert_eq!(first_difference(b"a\nb\n", b"a\nb\n"), None);
        assert_eq!(
            first_difference(b"a\nb\n", b"a\nc\n").as_deref(),
            Some(r#"line 2: expected "b\n", got "c\n""#)
        );
        assert_eq!(
            first_difference(b"a\n", b"a\nextra\n").as_deref(),
            Some(r#"line 2: expected end of output, got "extra\n""#)
        );
        assert_eq!(
            first_difference(b"a\n", b"a").as_deref(),
            Some(r#"line 1: expected "a\n", got "a""#)
        );
    }

    #[test]
    fn run_reports_status_output_and_time_limit() {
        if !bash_available() {
            return;
        }
        let done = run(
            Command::new("bash").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(60),
        )
        .expect("bash runs");
        assert_eq!(
            (
                done.status,
                &done.stdout[..],
                &done.stderr[..],
                done.timed_out
            ),
            (Some(3), &b"out\n"[..], &b"err\n"[..], false)
        );
        let stopped = run(
            Command::new("bash").args(["-c", "exec sleep 30"]),
            Duration::from_millis(100),
        )
        .expect("bash runs");
        assert!(stopped.timed_out);
    }
}
