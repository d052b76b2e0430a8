//! How long generating Rust from a whole schema takes: read, check,
//! generate tokens, format with prettyplease, i.e. everything `qapi-gen
//! rust` does but writing the file.
//!
//! * `qmp-9.2.0-rc2/all`: QEMU 9.2.0-rc2's full QMP schema from the shared
//!   data, every part (types, commands, events, introspection); skipped
//!   with a message when the shared data is missing. The steps are also
//!   timed one by one: `load`, `tokens`, and `format-1-thread` (syn and
//!   prettyplease over the whole file on one thread, which `all` spreads
//!   over every core, item by item).
//! * `net-9.0.4/all`: the bundled QEMU 9.0.4 net.json closure.
//!
//! Run with `cargo bench -p qapi-codegen --bench generate`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use qapi_codegen::Options;

fn bench_schema(c: &mut Criterion, name: &str, path: &Path) {
    let load = || qapi_parser::load(path, &qapi_parser::Options { legacy: true });
    let options = Options::default();
    let schema = match load() {
        Ok(s) => s,
        Err(err) => {
            eprintln!("skipping {name}: {} does not load:\n{err}", path.display());
            return;
        }
    };
    let mut group = c.benchmark_group(name);
    group.sample_size(20);
    group.bench_function("all", |b| {
        b.iter(|| {
            let schema = load().expect("loaded before");
            qapi_codegen::generate_source(&schema, &options, "bench").expect("generates")
        })
    });
    group.bench_function("load", |b| b.iter(load));
    group.bench_function("tokens", |b| {
        b.iter(|| qapi_codegen::generate(&schema, &options))
    });
    let tokens = qapi_codegen::generate(&schema, &options).expect("generates");
    group.bench_function("format-1-thread", |b| {
        b.iter(|| {
            let file: syn::File = syn::parse2(tokens.clone()).expect("parses");
            prettyplease::unparse(&file)
        })
    });
    group.finish();
}

fn generate(c: &mut Criterion) {
    let qmp = qapi_tests::shared_dir().join("qapi-schemas/9.2.0-rc2/qapi/qapi-schema.json");
    if qmp.is_file() {
        bench_schema(c, "qmp-9.2.0-rc2", &qmp);
    } else {
        eprintln!(
            "skipping qmp-9.2.0-rc2: {} is missing (shared data not found)",
            qmp.display()
        );
    }
    let net = qapi_tests::workspace_root().join("schemas/9.0.4/net-schema.json");
    bench_schema(c, "net-9.0.4", &net);
}

criterion_group!(benches, generate);
criterion_main!(benches);
