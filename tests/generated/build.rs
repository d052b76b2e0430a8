//! Generates the demo schema twice: as a server sees it (enums closed)
//! and as a client sees it (enums keep unknown values).

use qapi_codegen::{Builder, Unstable};

fn builder() -> Builder {
    Builder::new("schema/demo.json")
        .map_cfg("CONFIG_HEX", r#"feature = "hex""#)
        .unstable(Unstable::Cfg(r#"feature = "unstable""#.to_owned()))
        .type_attribute("Circle", "#[derive(PartialOrd, Ord)]")
}

fn main() {
    let results = [
        builder().out_path("server.rs").generate(),
        builder().open_enums(true).out_path("client.rs").generate(),
    ];
    for r in results {
        if let Err(e) = r {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
