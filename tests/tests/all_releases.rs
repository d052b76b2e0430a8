//! Every release in `<shared>/qapi-schemas` must be accepted in legacy mode:
//! its QMP schema and, from QEMU 1.4 on, its guest-agent schema.
//!
//! The QMP schema's top file moved over time: `qapi-schema.json` at the
//! root of the tree up to 2.11 (with `qapi/` holding included files from
//! 2.1 on), `qapi/qapi-schema.json` from 2.12 on. The guest agent's is
//! `qga/qapi-schema.json`, absent before 1.4.

use std::fs;
use std::path::PathBuf;

use qapi_parser::Options;
use qapi_tests::{parallel_map, require_shared};

/// Where a release's QMP top file may be, newest layout first.
const QMP_TOPS: [&str; 2] = ["qapi/qapi-schema.json", "qapi-schema.json"];

/// Where a release's guest-agent top file is, if it has one.
const QGA_TOP: &str = "qga/qapi-schema.json";

#[test]
fn every_release_is_accepted_in_legacy_mode() {
    let Some(schemas) = require_shared("qapi-schemas") else {
        return;
    };
    let mut releases: Vec<PathBuf> = fs::read_dir(&schemas)
        .expect("cannot list qapi-schemas")
        .map(|entry| entry.expect("cannot list qapi-schemas").path())
        .filter(|path| path.is_dir())
        .collect();
    releases.sort();
    assert!(!releases.is_empty(), "no release in {}", schemas.display());

    let mut failures = Vec::new();
    let mut tops = Vec::new();
    for release in &releases {
        match QMP_TOPS
            .iter()
            .map(|top| release.join(top))
            .find(|p| p.is_file())
        {
            Some(qmp) => tops.push(qmp),
            None => failures.push(format!("{}: no QMP schema", release.display())),
        }
        let qga = release.join(QGA_TOP);
        if qga.is_file() {
            tops.push(qga);
        }
    }
    failures.extend(
        parallel_map(&tops, |top| {
            qapi_parser::load(top, &Options { legacy: true })
                .err()
                .map(|err| format!("FAIL {}:\n{err}", top.display()))
        })
        .into_iter()
        .flatten(),
    );
    assert!(
        failures.is_empty(),
        "{} of {} schemas from {} releases are rejected:\n{}",
        failures.len(),
        tops.len(),
        releases.len(),
        failures.join("\n")
    );
}
