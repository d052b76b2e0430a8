//! `qapi_codegen::diff` on real QEMU schemas: every consecutive pair of
//! the releases in `<shared>/qapi-schemas` (QMP, and the guest agent
//! where both releases have one) diffs without error, and real removals
//! recorded in QEMU's `docs/about/removed-features.rst` are reported as
//! breaking old clients in the release pair where the schema dropped
//! them, and in no neighbouring pair.
//!
//! Releases are ordered by version number (`9.2.0-rc2` before
//! `11.0-dev`), not by name. The top files are found as in
//! `all_releases.rs`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use qapi_codegen::diff::{self, Class};
use qapi_parser::Options;
use qapi_tests::{parallel_map, require_shared};

/// Where a release's QMP top file may be, newest layout first.
const QMP_TOPS: [&str; 2] = ["qapi/qapi-schema.json", "qapi-schema.json"];

/// The guest agent's top file, in the releases that have one.
const QGA_TOP: &str = "qga/qapi-schema.json";

/// Removals from QEMU's `docs/about/removed-features.rst` (its section
/// title first), with the release pair where the schema lost them and
/// the line `qapi-gen diff` prints. Where the document's "removed in"
/// and the schemas disagree, the schemas decide (noted per entry).
const REMOVALS: [(&str, &str, &str, &str); 16] = [
    (
        "block-dirty-bitmap-add \"autoload\" parameter (removed in 4.2)",
        "4.1.1",
        "4.2.1",
        "command 'block-dirty-bitmap-add' argument 'autoload': removed (was optional)",
    ),
    (
        "VXHS backend (removed in 5.1)",
        "5.0.1",
        "5.1.0",
        "type 'BlockdevDriver' (input): value 'vxhs' removed",
    ),
    (
        "cpu-add (removed in 5.2)",
        "5.1.0",
        "5.2.0",
        "command 'cpu-add': removed",
    ),
    (
        "change (removed in 6.0)",
        "5.2.0",
        "6.0.1",
        "command 'change': removed",
    ),
    (
        "query-events (removed in 6.0)",
        "5.2.0",
        "6.0.1",
        "command 'query-events': removed",
    ),
    (
        "migrate_set_cache_size and query-migrate-cache-size (removed in 6.0)",
        "5.2.0",
        "6.0.1",
        "command 'query-migrate-cache-size': removed",
    ),
    (
        "migrate_set_downtime and migrate_set_speed (removed in 6.0)",
        "5.2.0",
        "6.0.1",
        "command 'migrate_set_downtime': removed",
    ),
    (
        "query-cpus (removed in 6.0)",
        "5.2.0",
        "6.0.1",
        "command 'query-cpus': removed",
    ),
    (
        "query-cpus-fast arch output member (removed in 6.0)",
        "5.2.0",
        "6.0.1",
        "type 'CpuInfoFast' (output) member 'arch': removed",
    ),
    (
        "query-named-block-nodes result encryption_key_missing (removed in 6.0)",
        "5.2.0",
        "6.0.1",
        "type 'BlockDeviceInfo' (output) member 'encryption_key_missing': removed",
    ),
    (
        "query-named-block-nodes and query-block result dirty-bitmaps[i].status (removed in 6.0)",
        "5.2.0",
        "6.0.1",
        "type 'BlockDirtyInfo' (output) member 'status': removed",
    ),
    (
        "object-add option props (removed in 6.0)",
        "5.2.0",
        "6.0.1",
        "command 'object-add' argument 'props': removed (was optional)",
    ),
    (
        // The document says 6.0; the 6.0.1 schema still lists the driver.
        "sheepdog driver (removed in 6.0)",
        "6.0.1",
        "6.1.1",
        "type 'BlockdevDriver' (input): value 'sheepdog' removed",
    ),
    (
        "query-sgx return value member section-size (removed in 8.0)",
        "7.2.13",
        "8.0.5",
        "command 'query-sgx' returns 'section-size': removed [if TARGET_I386]",
    ),
    (
        "migrate command option inc (removed in 9.1)",
        "9.0.4",
        "9.1.2",
        "command 'migrate' argument 'inc': removed (was optional)",
    ),
    (
        "MEM_UNPLUG_ERROR (removed in 9.1)",
        "9.0.4",
        "9.1.2",
        "event 'MEM_UNPLUG_ERROR': removed",
    ),
];

/// A release directory and its version as numbers, for ordering.
struct Release {
    name: String,
    dir: PathBuf,
}

/// `9.2.0-rc2` -> [9, 2, 0]; a pre-release sorts with its numbers.
fn version_key(name: &str) -> Vec<u32> {
    let numbers = name.split('-').next().unwrap_or(name);
    numbers
        .split('.')
        .map(|part| part.parse().unwrap_or(0))
        .collect()
}

fn releases(schemas: &Path) -> Vec<Release> {
    let mut releases: Vec<Release> = fs::read_dir(schemas)
        .expect("cannot list qapi-schemas")
        .map(|entry| entry.expect("cannot list qapi-schemas").path())
        .filter(|path| path.is_dir())
        .map(|dir| Release {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir,
        })
        .collect();
    releases.sort_by_key(|r| version_key(&r.name));
    releases
}

fn qmp_top(release: &Release) -> Option<PathBuf> {
    QMP_TOPS
        .iter()
        .map(|top| release.dir.join(top))
        .find(|p| p.is_file())
}

/// One upgrade: which schemas, and its changes as (class, line).
struct Upgrade {
    what: String,
    old: String,
    new: String,
    qmp: bool,
    changes: Result<Vec<(Class, String)>, String>,
}

/// Diffs two top files, rendering the report every way (text, JSON).
fn diff_files(old: &Path, new: &Path) -> Result<Vec<(Class, String)>, String> {
    let load = |path: &Path| {
        qapi_parser::load(path, &Options { legacy: true })
            .map_err(|err| format!("{}:\n{err}", path.display()))
    };
    let report = diff::diff(&load(old)?, &load(new)?);
    let text = diff::to_text(&report);
    let json = diff::to_json(&report);
    if json["changes"].as_array().map(Vec::len) != Some(report.changes.len()) {
        return Err("the JSON report does not list every change".into());
    }
    if report
        .changes
        .iter()
        .any(|c| !text.contains(&c.to_string()))
    {
        return Err("the text report does not list every change".into());
    }
    Ok(report
        .changes
        .iter()
        .map(|c| (c.class, c.to_string()))
        .collect())
}

/// Every consecutive upgrade, QMP and guest agent, computed once for
/// both tests; `None` when the shared data is missing (and skipped).
fn upgrades() -> Option<&'static [Upgrade]> {
    static UPGRADES: OnceLock<Option<Vec<Upgrade>>> = OnceLock::new();
    UPGRADES
        .get_or_init(|| {
            let schemas = require_shared("qapi-schemas")?;
            let releases = releases(&schemas);
            assert!(
                releases.len() >= 2,
                "fewer than two releases in {}",
                schemas.display()
            );
            let mut pairs = Vec::new();
            for pair in releases.windows(2) {
                let (old, new) = (&pair[0], &pair[1]);
                let (Some(old_qmp), Some(new_qmp)) = (qmp_top(old), qmp_top(new)) else {
                    panic!("no QMP schema in {} or {}", old.name, new.name);
                };
                pairs.push((old, new, true, old_qmp, new_qmp));
                let (old_qga, new_qga) = (old.dir.join(QGA_TOP), new.dir.join(QGA_TOP));
                if old_qga.is_file() && new_qga.is_file() {
                    pairs.push((old, new, false, old_qga, new_qga));
                }
            }
            Some(parallel_map(&pairs, |(old, new, qmp, old_top, new_top)| {
                Upgrade {
                    what: format!(
                        "{} {} -> {}",
                        if *qmp { "QMP" } else { "guest agent" },
                        old.name,
                        new.name
                    ),
                    old: old.name.clone(),
                    new: new.name.clone(),
                    qmp: *qmp,
                    changes: diff_files(old_top, new_top),
                }
            }))
        })
        .as_deref()
}

#[test]
fn every_consecutive_release_pair_diffs() {
    let Some(upgrades) = upgrades() else {
        return;
    };
    let failures: Vec<String> = upgrades
        .iter()
        .filter_map(|u| match &u.changes {
            Err(why) => Some(format!("{}: {why}", u.what)),
            // Every QMP release changed something on the wire.
            Ok(changes) if u.qmp && changes.is_empty() => Some(format!("{}: no change", u.what)),
            Ok(_) => None,
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} upgrades failed:\n{}",
        failures.len(),
        upgrades.len(),
        failures.join("\n")
    );
    let qga = upgrades.iter().filter(|u| !u.qmp).count();
    assert!(qga > 0, "no guest-agent upgrade was diffed");
    assert!(
        upgrades.len() > qga + 40,
        "only {} QMP upgrades",
        upgrades.len() - qga
    );
}

#[test]
fn real_removals_break_old_clients_where_they_happened() {
    let Some(upgrades) = upgrades() else {
        return;
    };
    let qmp: Vec<&Upgrade> = upgrades.iter().filter(|u| u.qmp).collect();
    let mut failures = Vec::new();
    for (title, old, new, line) in REMOVALS {
        let Some(at) = qmp.iter().position(|u| u.old == old && u.new == new) else {
            failures.push(format!("{title}: no upgrade {old} -> {new}"));
            continue;
        };
        let reports = |index: usize| -> Vec<(Class, String)> {
            qmp.get(index)
                .and_then(|u| u.changes.as_ref().ok())
                .map(|changes| changes.iter().filter(|(_, l)| l == line).cloned().collect())
                .unwrap_or_default()
        };
        match reports(at).as_slice() {
            [(class, _)] if class.breaks_clients() => {}
            [] => failures.push(format!("{title}: {old} -> {new} does not report `{line}`")),
            found => failures.push(format!(
                "{title}: {old} -> {new} reports `{line}` as {found:?}, not breaking old clients"
            )),
        }
        for neighbour in [at.checked_sub(1), Some(at + 1)].into_iter().flatten() {
            if !reports(neighbour).is_empty() {
                failures.push(format!(
                    "{title}: `{line}` is also reported by {}",
                    qmp[neighbour].what
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} removals not found where they happened:\n{}",
        failures.len(),
        REMOVALS.len(),
        failures.join("\n")
    );
}

/// The example of the issue: `block_passwd`, last present in 5.2.0.
#[test]
fn block_passwd_is_gone_in_6_0() {
    let Some(upgrades) = upgrades() else {
        return;
    };
    let upgrade = upgrades
        .iter()
        .find(|u| u.qmp && u.old == "5.2.0" && u.new == "6.0.1")
        .expect("no QMP upgrade 5.2.0 -> 6.0.1");
    let changes = upgrade.changes.as_ref().expect("5.2.0 -> 6.0.1 diffs");
    assert!(
        changes.contains(&(
            Class::BreaksClients,
            "command 'block_passwd': removed".to_owned()
        )),
        "block_passwd's removal is not reported as breaking old clients"
    );
}
