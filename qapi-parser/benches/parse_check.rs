//! How long reading and checking a whole schema takes, in legacy mode.
//!
//! * `qmp-9.2.0-rc2`: QEMU 9.2.0-rc2's full QMP schema, from the shared data
//!   (`<shared>/qapi-schemas`); skipped with a message when that is missing.
//! * `net-9.0.4`: the QEMU 9.0.4 net.json closure bundled in `schemas/`.
//!
//! A schema that fails to load is reported and skipped rather than timed.
//!
//! Run with `cargo bench -p qapi-parser --bench parse_check`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use qapi_parser::{load, Options};

fn bench_load(c: &mut Criterion, name: &str, schema: &Path) {
    let options = Options { legacy: true };
    if let Err(err) = load(schema, &options) {
        eprintln!(
            "skipping benchmark {name}: {} does not load:\n{err}",
            schema.display()
        );
        return;
    }
    c.bench_function(name, |b| b.iter(|| load(schema, &options)));
}

fn parse_check(c: &mut Criterion) {
    let qmp = qapi_tests::shared_dir().join("qapi-schemas/9.2.0-rc2/qapi/qapi-schema.json");
    if qmp.is_file() {
        bench_load(c, "qmp-9.2.0-rc2", &qmp);
    } else {
        eprintln!(
            "skipping benchmark qmp-9.2.0-rc2: {} is missing (shared data not found)",
            qmp.display()
        );
    }
    let net = qapi_tests::workspace_root().join("schemas/9.0.4/net-schema.json");
    bench_load(c, "net-9.0.4", &net);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = parse_check
}
criterion_main!(benches);
