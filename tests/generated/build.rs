//! Generates the demo schema three times: as a server sees it (enums
//! closed), as a client sees it (enums keep unknown values), and with its
//! `unstable` interfaces behind the cargo feature `unstable`; and QEMU
//! 7.2's introspect.json, whose types read a real QEMU's
//! `query-qmp-schema`; and QEMU 7.2's guest agent schema, for the
//! guest-agent client's tests.

use qapi_codegen::{Builder, Unstable};

fn builder() -> Builder {
    Builder::new("schema/demo.json")
        .map_cfg("CONFIG_HEX", r#"feature = "hex""#)
        .type_attribute("Circle", "#[derive(PartialOrd, Ord)]")
}

fn main() {
    let results = [
        builder().qmp_service(true).out_path("server.rs").generate(),
        builder().open_enums(true).out_path("client.rs").generate(),
        // Gated by a feature of this crate, which other crates cannot test
        // for: only this crate's tests implement its traits.
        builder()
            .unstable(Unstable::Cfg(r#"feature = "unstable""#.to_owned()))
            .parts(qapi_codegen::Parts {
                events: false,
                introspection: false,
                ..qapi_codegen::Parts::default()
            })
            .out_path("gated.rs")
            .generate(),
        // QEMU 7.2's introspection types, as a client reads them (open
        // enums: a newer QEMU may add meta-types or JSON types).
        Builder::new("../../schemas/7.2.13/introspect-schema.json")
            .legacy(true)
            .open_enums(true)
            .out_path("introspect.rs")
            .generate(),
        // QEMU's query-version with its generated VersionInfo, served:
        // the QMP server then lets the service answer query-version.
        Builder::new("schema/version.json")
            .legacy(true)
            .qmp_service(true)
            .out_path("version.rs")
            .generate(),
        // QEMU 7.2's guest agent schema, as a client uses it: the request
        // types `qapi_runtime::qmp::GuestAgent` executes against a real
        // qemu-ga (tests in qapi-runtime).
        Builder::new("../../schemas/7.2.13/qga/qapi-schema.json")
            .legacy(true)
            .open_enums(true)
            .map_cfg("CONFIG_POSIX", "unix")
            .parts(qapi_codegen::Parts {
                server: false,
                introspection: false,
                ..qapi_codegen::Parts::default()
            })
            .out_path("qga.rs")
            .generate(),
    ];
    for r in results {
        if let Err(e) = r {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
