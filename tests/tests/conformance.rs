//! The conformance corpus (`<shared>/qapi-conformance`): for every case,
//! `qapi-gen check --dump NAME.json` run inside `cases/` must print exactly
//! the reference's stdout and stderr and exit with its status.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use qapi_tests::{
    assert_check_sh_passes, first_difference, parallel_map, qapi_gen, require_shared, run,
};

/// Time allowed for one case (the same default as `check.sh`).
const CASE_TIME_LIMIT: Duration = Duration::from_secs(60);

/// The case names listed in `MANIFEST.tsv` (first column; no header).
fn case_names(corpus: &Path) -> Vec<String> {
    let manifest = fs::read_to_string(corpus.join("MANIFEST.tsv"))
        .unwrap_or_else(|err| panic!("cannot read MANIFEST.tsv in {}: {err}", corpus.display()));
    manifest
        .lines()
        .filter_map(|line| line.split('\t').next())
        .map(|name| name.trim_end_matches('\r'))
        .filter(|name| !name.is_empty() && !name.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Runs one case; `Err` says what differs from the expected files.
fn check_case(corpus: &Path, qapi_gen: &Path, name: &str) -> Result<(), String> {
    let file = format!("{name}.json");
    let done = run(
        Command::new(qapi_gen)
            .args(["check", "--dump", &file])
            .current_dir(corpus.join("cases")),
        CASE_TIME_LIMIT,
    )
    .map_err(|err| format!("cannot run {}: {err}", qapi_gen.display()))?;
    if done.timed_out {
        return Err(format!("timed out after {CASE_TIME_LIMIT:?}"));
    }
    let expected = |ext: &str| {
        let path = corpus.join("expected").join(format!("{name}.{ext}"));
        fs::read(&path).map_err(|err| format!("cannot read {}: {err}", path.display()))
    };
    let mut problems = Vec::new();
    if let Some(diff) = first_difference(&expected("out")?, &done.stdout) {
        problems.push(format!("stdout {diff}"));
    }
    if let Some(diff) = first_difference(&expected("err")?, &done.stderr) {
        problems.push(format!("stderr {diff}"));
    }
    let exit = String::from_utf8_lossy(&expected("exit")?)
        .trim()
        .to_owned();
    match done.status {
        Some(status) if status.to_string() == exit => {}
        Some(status) => problems.push(format!("exit status {status}, expected {exit}")),
        None => problems.push(format!("killed by a signal, expected exit status {exit}")),
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n    "))
    }
}

#[test]
fn every_case_matches_the_reference() {
    let Some(corpus) = require_shared("qapi-conformance") else {
        return;
    };
    let qapi_gen = qapi_gen();
    let names = case_names(&corpus);
    assert!(!names.is_empty(), "MANIFEST.tsv lists no case");
    let failures: Vec<String> = parallel_map(&names, |name| {
        check_case(&corpus, qapi_gen, name)
            .err()
            .map(|why| format!("FAIL {name}:\n    {why}"))
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(
        failures.is_empty(),
        "{} of {} conformance cases failed:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}

/// The corpus's own driver agrees (`check.sh -- qapi-gen check --dump`).
#[test]
fn check_sh_passes() {
    if let Some(corpus) = require_shared("qapi-conformance") {
        assert_check_sh_passes(&corpus.join("check.sh"), &["check", "--dump"]);
    }
}
