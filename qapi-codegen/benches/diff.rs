//! What `qapi-gen diff` costs next to reading the two schemas it
//! compares: QEMU 9.1.2's and 9.2.0-rc2's full QMP schemas from the
//! shared data (skipped with a message when it is missing).
//!
//! * `load-both`: read and check both schemas (legacy mode, as
//!   `qapi-gen diff` does);
//! * `diff`: compare the two loaded schemas;
//! * `load-both+diff`: both, i.e. `qapi-gen diff` but printing.
//!
//! Run with `cargo bench -p qapi-codegen --bench diff`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use qapi_parser::Options;

fn load(path: &Path) -> qapi_parser::Schema {
    qapi_parser::load(path, &Options { legacy: true }).expect("the release schema loads")
}

fn diff(c: &mut Criterion) {
    let schemas = qapi_tests::shared_dir().join("qapi-schemas");
    let old = schemas.join("9.1.2/qapi/qapi-schema.json");
    let new = schemas.join("9.2.0-rc2/qapi/qapi-schema.json");
    if !old.is_file() || !new.is_file() {
        eprintln!("skipping the diff bench: {} is missing", schemas.display());
        return;
    }
    let (old_schema, new_schema) = (load(&old), load(&new));
    let mut group = c.benchmark_group("qmp-9.1.2-to-9.2.0-rc2");
    group.sample_size(20);
    group.bench_function("load-both", |b| b.iter(|| (load(&old), load(&new))));
    group.bench_function("diff", |b| {
        b.iter(|| qapi_codegen::diff::diff(&old_schema, &new_schema))
    });
    group.bench_function("load-both+diff", |b| {
        b.iter(|| qapi_codegen::diff::diff(&load(&old), &load(&new)))
    });
    group.finish();
}

criterion_group!(benches, diff);
criterion_main!(benches);
