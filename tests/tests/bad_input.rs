//! Bad input must never crash or hang the front end.
//!
//! Arbitrary bytes, QAPI-like token soup and mutated conformance cases are
//! written to a temporary file and loaded in both modes. Each load must
//! finish within [`TIME_LIMIT`] without panicking, and each error must say
//! where it is: its text contains `FILE:` (the file name as given, then the
//! line) or starts with `can't read`. Deeply nested input must be an error,
//! not a stack overflow.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use qapi_parser::Options;
use qapi_tests::require_shared;
use tempfile::TempDir;

/// Time allowed for one load.
const TIME_LIMIT: Duration = Duration::from_secs(10);

/// Stack size of the thread that loads: Rust's default for spawned threads,
/// so deep input must not need more than a library user gets by default.
const STACK_SIZE: usize = 2 * 1024 * 1024;

/// Bytes inserted by the [`Mutation::Insert`] mutation.
const INSERTED: &[u8] = b"{[]}'\\#\n\t";

/// Pieces of QAPI syntax (and near misses) for token soup.
#[rustfmt::skip]
const TOKENS: &[&str] = &[
    "{", "}", "[", "]", ":", ",", " ", "\n", "\t", "\r\n", "#", "##\n", "# @a: x\n", "'", "\\",
    "true", "false", "null", "1", "'enum'", "'struct'", "'union'", "'alternate'", "'command'",
    "'event'", "'data'", "'base'", "'discriminator'", "'returns'", "'boxed'", "'if'", "'all'",
    "'any'", "'not'", "'features'", "'name'", "'type'", "'include'", "'pragma'", "'doc-required'",
    "'Foo'", "'foo'", "'*bar'", "'str'", "['int']", "'CONFIG_X'", "'a'", "'b'", "'FooList'",
];

fn config() -> Config {
    Config {
        cases: 256,
        // Failing inputs are saved here and tried first on later runs.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/bad_input.proptest-regressions"
        )))),
        // Keep a failure (for example a time-out) from shrinking for ages.
        max_shrink_time: 60_000,
        ..Config::default()
    }
}

/// Loads `path` on a fresh thread; panics if the load panics or takes too
/// long. Returns the error text, if any.
fn load(path: &Path, legacy: bool) -> Result<(), String> {
    let (sender, receiver) = mpsc::channel();
    let owned = path.to_path_buf();
    let loader = thread::Builder::new()
        .name("load".into())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            let outcome = qapi_parser::load(&owned, &Options { legacy });
            // The receiver may have given up after a time-out.
            let _ = sender.send(outcome.map(drop).map_err(|err| err.to_string()));
        })
        .expect("cannot spawn a thread");
    match receiver.recv_timeout(TIME_LIMIT) {
        Ok(outcome) => {
            let _ = loader.join();
            outcome
        }
        Err(RecvTimeoutError::Disconnected) => match loader.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => panic!("the load thread ended without an answer"),
        },
        Err(RecvTimeoutError::Timeout) => panic!(
            "loading {} (legacy: {legacy}) did not finish within {TIME_LIMIT:?}",
            path.display()
        ),
    }
}

/// Writes `bytes` to `path`, loads it in both modes and checks any error;
/// with `must_fail`, success is a failure too.
fn check(path: &Path, bytes: &[u8], must_fail: bool) -> Result<(), String> {
    fs::write(path, bytes).map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    let located = format!("{}:", path.display());
    for legacy in [false, true] {
        match load(path, legacy) {
            Ok(()) if must_fail => return Err(format!("accepted (legacy: {legacy})")),
            Ok(()) => {}
            Err(text) if text.contains(&located) || text.starts_with("can't read") => {}
            Err(text) => {
                return Err(format!(
                    "error without location (legacy: {legacy}): {text:?}"
                ))
            }
        }
    }
    Ok(())
}

/// A scratch directory and the input file inside it.
fn scratch() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("cannot create a temporary directory");
    let file = dir.path().join("input.json");
    (dir, file)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let (_dir, file) = scratch();
        check(&file, &bytes, false).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn token_soup(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..300)) {
        let (_dir, file) = scratch();
        check(&file, tokens.concat().as_bytes(), false).map_err(TestCaseError::fail)?;
    }
}

/// One edit of a file's bytes; positions are scaled to the current length.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR the byte at a position with a non-zero mask.
    Flip(Index, u8),
    /// Cut the file at a position.
    Truncate(Index),
    /// Repeat up to this many bytes from a position right after themselves.
    Duplicate(Index, usize),
    /// Insert one of [`INSERTED`] at a position.
    Insert(Index, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1..=u8::MAX).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 1..256usize).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
        (any::<Index>(), prop::sample::select(INSERTED))
            .prop_map(|(at, byte)| Mutation::Insert(at, byte)),
    ]
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        match *self {
            Mutation::Flip(at, mask) if len > 0 => bytes[at.index(len)] ^= mask,
            Mutation::Flip(..) => {}
            Mutation::Truncate(at) => bytes.truncate(at.index(len + 1)),
            Mutation::Duplicate(at, count) => {
                let start = at.index(len + 1);
                let end = (start + count).min(len);
                let mut longer = bytes[..end].to_vec();
                longer.extend_from_slice(&bytes[start..]);
                *bytes = longer;
            }
            Mutation::Insert(at, byte) => bytes.insert(at.index(len + 1), byte),
        }
    }
}

#[test]
fn mutated_conformance_cases() {
    let Some(corpus) = require_shared("qapi-conformance") else {
        return;
    };
    let cases = corpus.join("cases");
    let mut seeds: Vec<(String, Vec<u8>)> = fs::read_dir(&cases)
        .expect("cannot list the conformance cases")
        .map(|entry| entry.expect("cannot list the conformance cases").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let bytes = fs::read(&path).expect("cannot read a conformance case");
            (path.display().to_string(), bytes)
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no case in {}", cases.display());

    let (_dir, file) = scratch();
    let mut runner = TestRunner::new(config());
    let strategy = (0..seeds.len(), prop::collection::vec(mutation(), 1..8));
    let result = runner.run(&strategy, |(seed, mutations)| {
        let (name, original) = &seeds[seed];
        let mut bytes = original.clone();
        for mutation in &mutations {
            mutation.apply(&mut bytes);
        }
        check(&file, &bytes, false).map_err(|why| TestCaseError::fail(format!("{name}: {why}")))
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[test]
fn deep_nesting_is_an_error() {
    const DEPTH: usize = 100_000;
    let (_dir, file) = scratch();
    for (prefix, repeated) in [("", "["), ("{ 'enum': ", "["), ("", "{ 'a': ")] {
        let text = format!("{prefix}{}", repeated.repeat(DEPTH));
        if let Err(why) = check(&file, text.as_bytes(), true) {
            panic!("{DEPTH} times {repeated:?} after {prefix:?}: {why}");
        }
    }
}

/// An include of something that is not a regular file (a device that never
/// ends, a FIFO that blocks, a directory) is refused without reading it,
/// with the error at the include directive.
#[test]
fn include_of_a_non_regular_file_is_refused() {
    let (dir, file) = scratch();
    let fifo = dir.path().join("fifo.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|status| status.success());
    assert!(made, "mkfifo {} failed", fifo.display());
    let sub = dir.path().join("subdir");
    fs::create_dir(&sub).expect("a directory");
    for target in ["/dev/zero", "/dev/stdin", "fifo.json", "subdir"] {
        let schema = format!("{{ 'enum': 'E', 'data': ['a'] }}\n{{ 'include': '{target}' }}\n");
        fs::write(&file, &schema).expect("the schema is written");
        let name = if target.starts_with('/') {
            target.to_owned()
        } else {
            format!("{}/{target}", dir.path().display())
        };
        let expected = format!(
            "{}:2: can't read include file '{name}': not a regular file",
            file.display()
        );
        for legacy in [false, true] {
            assert_eq!(load(&file, legacy), Err(expected.clone()), "{target}");
        }
    }
}

/// A file larger than `MAX_FILE_SIZE` is refused, as an include (located
/// at the directive, with the include chain) and as the main file.
#[test]
fn oversized_files_are_refused() {
    let (dir, file) = scratch();
    let limit = qapi_parser::MAX_FILE_SIZE;
    let big = dir.path().join("big.json");
    // A valid schema file of exactly the limit is read...
    let mut text = "{ 'enum': 'Big', 'data': ['a'] }\n".to_owned().into_bytes();
    text.resize(limit as usize, b'\n');
    fs::write(&big, &text).expect("the big file is written");
    let middle = dir.path().join("middle.json");
    fs::write(&middle, "\n{ 'include': 'big.json' }\n").expect("written");
    fs::write(&file, "{ 'include': 'middle.json' }\n").expect("written");
    assert_eq!(load(&file, false), Ok(()));
    // ...one byte more is not.
    text.push(b'\n');
    fs::write(&big, &text).expect("the big file is written");
    let reason = format!("larger than {limit} bytes, the limit for a schema file");
    let expected = format!(
        "In file included from {}:1:\n{}:2: can't read include file '{}': {reason}",
        file.display(),
        middle.display(),
        big.display()
    );
    for legacy in [false, true] {
        assert_eq!(load(&file, legacy), Err(expected.clone()));
        assert_eq!(
            load(&big, legacy),
            Err(format!(
                "can't read schema file '{}': {reason}",
                big.display()
            ))
        );
    }
}
