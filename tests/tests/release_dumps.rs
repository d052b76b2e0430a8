//! Legacy-mode dumps of real QEMU schemas against `<shared>/qapi-release-dumps`.
//!
//! `every_expected_dump_matches` is `qapi-release-dumps/check.sh` in Rust:
//! for each `VERSION.KIND.out`, `qapi-gen check --legacy --dump FILE` runs
//! inside the schema's directory, and its stdout, cut before the first line
//! that starts with `doc `, must equal the file (trailing newlines aside, as
//! in the script). Unlike the script, it also wants exit status 0.
//! The repository's own `schemas/` are checked against the same files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use qapi_tests::{
    assert_check_sh_passes, first_difference, parallel_map, qapi_gen, require_shared, run,
    workspace_root, NET_SCHEMA_TOP, SEED_VERSIONS,
};

/// Time allowed for one schema.
const TIME_LIMIT: Duration = Duration::from_secs(300);

/// The entity part of a dump: everything before the first `doc ` line,
/// without trailing newlines.
fn entity_part(dump: &[u8]) -> &[u8] {
    let mut end = dump.len();
    let mut start = 0;
    for line in dump.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"doc ") {
            end = start;
            break;
        }
        start += line.len();
    }
    trim_newlines(&dump[..end])
}

fn trim_newlines(mut text: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n'] = text {
        text = rest;
    }
    text
}

/// Dumps `dir/file` in legacy mode and compares it with `expected`.
fn dump_matches(dir: &Path, file: &str, expected: &Path) -> Result<(), String> {
    let want =
        fs::read(expected).map_err(|err| format!("cannot read {}: {err}", expected.display()))?;
    let done = run(
        Command::new(qapi_gen())
            .args(["check", "--legacy", "--dump", file])
            .current_dir(dir),
        TIME_LIMIT,
    )
    .map_err(|err| format!("cannot run qapi-gen: {err}"))?;
    let stderr = String::from_utf8_lossy(&done.stderr);
    let stderr = stderr.trim_end();
    if done.timed_out {
        return Err(format!("timed out after {TIME_LIMIT:?}"));
    }
    if done.status != Some(0) {
        return Err(format!("exit status {:?}: {stderr}", done.status));
    }
    match first_difference(trim_newlines(&want), entity_part(&done.stdout)) {
        None => Ok(()),
        Some(diff) => Err(format!("dump {diff}")),
    }
}

/// Copies the files of `from` into `to` (recursively), like `cp -r`.
fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Sets up what `VERSION.KIND.out` is the dump of: the directory to run in
/// and the file to name. A `net` schema is assembled in `scratch` the way
/// `check.sh` does it. `None` for an unknown kind, which `check.sh` skips.
fn schema_for(
    schemas: &Path,
    scratch: &Path,
    version: &str,
    kind: &str,
) -> io::Result<Option<(PathBuf, &'static str)>> {
    let release = schemas.join(version);
    Ok(match kind {
        "qmp" => Some((release.join("qapi"), "qapi-schema.json")),
        "qga" => Some((release.join("qga"), "qapi-schema.json")),
        "net" => {
            let dir = scratch.join(version);
            copy_dir(&release.join("qapi"), &dir.join("qapi"))?;
            fs::write(dir.join("net-schema.json"), NET_SCHEMA_TOP)?;
            Some((dir, "net-schema.json"))
        }
        _ => None,
    })
}

#[test]
fn every_expected_dump_matches() {
    let (Some(dumps), Some(schemas)) = (
        require_shared("qapi-release-dumps"),
        require_shared("qapi-schemas"),
    ) else {
        return;
    };
    let scratch = tempfile::tempdir().expect("cannot create a temporary directory");
    let mut expected: Vec<PathBuf> = fs::read_dir(&dumps)
        .expect("cannot list qapi-release-dumps")
        .map(|entry| entry.expect("cannot list qapi-release-dumps").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "out"))
        .collect();
    expected.sort();
    assert!(!expected.is_empty(), "no *.out file in {}", dumps.display());

    let mut jobs = Vec::new();
    for path in &expected {
        let base = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let Some((version, kind)) = base.rsplit_once('.') else {
            continue;
        };
        let schema = schema_for(&schemas, scratch.path(), version, kind)
            .unwrap_or_else(|err| panic!("cannot set up {base}: {err}"));
        if let Some((dir, file)) = schema {
            jobs.push((base.to_owned(), dir, file, path.clone()));
        }
    }
    let failures: Vec<String> = parallel_map(&jobs, |(base, dir, file, path)| {
        dump_matches(dir, file, path)
            .err()
            .map(|why| format!("FAIL {base}: {why}"))
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(
        failures.is_empty(),
        "{} of {} release dumps differ:\n{}",
        failures.len(),
        jobs.len(),
        failures.join("\n")
    );
}

/// The repository's `schemas/VERSION/net-schema.json` dumps as QEMU's own
/// front end dumped that release's net.json closure.
#[test]
fn bundled_net_schemas_match() {
    let Some(dumps) = require_shared("qapi-release-dumps") else {
        return;
    };
    let failures: Vec<String> = parallel_map(&SEED_VERSIONS, |version| {
        let dir = workspace_root().join("schemas").join(version);
        let expected = dumps.join(format!("{version}.net.out"));
        dump_matches(&dir, "net-schema.json", &expected)
            .err()
            .map(|why| format!("FAIL schemas/{version}: {why}"))
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `schemas/` holds unmodified copies of QEMU's files, and the top files
/// are the ones `check.sh` writes.
#[test]
fn bundled_schemas_are_unmodified_copies() {
    let Some(schemas) = require_shared("qapi-schemas") else {
        return;
    };
    for version in SEED_VERSIONS {
        let ours = workspace_root().join("schemas").join(version);
        let top = fs::read_to_string(ours.join("net-schema.json"))
            .unwrap_or_else(|err| panic!("cannot read schemas/{version}/net-schema.json: {err}"));
        assert_eq!(top, NET_SCHEMA_TOP, "schemas/{version}/net-schema.json");
        let copies = fs::read_dir(ours.join("qapi"))
            .unwrap_or_else(|err| panic!("cannot list schemas/{version}/qapi: {err}"));
        for copy in copies {
            let copy = copy.expect("cannot list schemas").path();
            let name = copy.file_name().unwrap_or_default();
            let original = schemas.join(version).join("qapi").join(name);
            let (copy_bytes, original_bytes) = (fs::read(&copy), fs::read(&original));
            assert!(
                matches!((&copy_bytes, &original_bytes), (Ok(a), Ok(b)) if a == b),
                "{} is not an unmodified copy of {}",
                copy.display(),
                original.display()
            );
        }
    }
}

/// The folder's own driver agrees (`check.sh -- qapi-gen check --legacy --dump`).
#[test]
fn check_sh_passes() {
    if let (Some(dumps), Some(_)) = (
        require_shared("qapi-release-dumps"),
        require_shared("qapi-schemas"),
    ) {
        assert_check_sh_passes(&dumps.join("check.sh"), &["check", "--legacy", "--dump"]);
    }
}
