//! Generates the bindings of QEMU 9.0's net.json, as any VMM using
//! qapi-codegen would: through the Builder, into OUT_DIR.

fn main() {
    let built = qapi_codegen::Builder::new("../schemas/9.0.4/net-schema.json")
        // QEMU 9.0's doc comments predate today's doc rules.
        .legacy(true)
        .map_cfg(
            "CONFIG_AF_XDP",
            r#"all(target_os = "linux", feature = "af-xdp")"#,
        )
        .map_cfg("CONFIG_VMNET", r#"target_os = "macos""#)
        .map_cfg("CONFIG_LINUX", r#"target_os = "linux""#)
        // `commands::QmpService`: the stack served by qapi_runtime::qmp.
        .qmp_service(true)
        .out_path("net.rs")
        .generate();
    if let Err(e) = built {
        // The front end's diagnostic, FILE:LINE: message, as QEMU prints it.
        eprintln!("{e}");
        std::process::exit(1);
    }
}
