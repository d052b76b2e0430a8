//! The `build.rs` entry point, in the style of prost-build: point it at a
//! schema, choose options, and `include!` the result.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     qapi_codegen::Builder::new("qapi/net.json")
//!         .map_cfg("CONFIG_AF_XDP", r#"feature = "af-xdp""#)
//!         .map_cfg("CONFIG_VMNET", r#"target_os = "macos""#)
//!         .define_cfg("CONFIG_SLIRP")
//!         .generate()?;
//!     Ok(())
//! }
//! ```
//! ```ignore
//! // src/lib.rs
//! pub mod qmp {
//!     include!(concat!(env!("OUT_DIR"), "/net.rs"));
//! }
//! ```
//!
//! Every schema file read is announced with `cargo::rerun-if-changed`, so
//! cargo reruns the build script exactly when the schema changes.

use std::path::{Path, PathBuf};

use crate::cfg::{BadPredicate, CfgMap};
use crate::rust::{GenerateError, Options, Parts, Unstable};

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The schema is invalid: QEMU's diagnostic, `FILE:LINE: message`.
    #[error("{0}")]
    Schema(#[from] qapi_parser::Error),
    /// A cfg mapping that is not a cfg predicate.
    #[error("{0}")]
    Cfg(#[from] BadPredicate),
    /// An option the generator cannot use.
    #[error("{0}")]
    Generate(#[from] GenerateError),
    /// The output could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No output path, and `OUT_DIR` is not set (not in a build script).
    #[error("OUT_DIR is not set: call out_path() outside build scripts")]
    NoOutDir,
}

/// Generates Rust from a QAPI schema; see the module documentation.
#[derive(Debug, Clone)]
pub struct Builder {
    schema: PathBuf,
    out: Option<PathBuf>,
    legacy: bool,
    options: Options,
    cargo_directives: bool,
    cfg_errors: Vec<BadPredicate>,
}

impl Builder {
    /// A builder for the schema whose main file is `schema`.
    pub fn new(schema: impl Into<PathBuf>) -> Self {
        Builder {
            schema: schema.into(),
            out: None,
            legacy: false,
            options: Options::default(),
            cargo_directives: true,
            cfg_errors: Vec::new(),
        }
    }

    /// Where to write: an absolute path, or one relative to `OUT_DIR`
    /// (default: `OUT_DIR/<schema file stem>.rs`).
    pub fn out_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.out = Some(path.into());
        self
    }

    /// Reads the schema in legacy mode (every QEMU release since 1.0).
    pub fn legacy(mut self, legacy: bool) -> Self {
        self.legacy = legacy;
        self
    }

    /// Maps the QAPI symbol to a cfg predicate (`feature = "af-xdp"`).
    pub fn map_cfg(mut self, symbol: &str, predicate: &str) -> Self {
        if let Err(e) = self.options.cfg.map(symbol, predicate) {
            self.cfg_errors.push(e);
        }
        self
    }

    /// Makes the QAPI symbol always true.
    pub fn define_cfg(mut self, symbol: &str) -> Self {
        self.options.cfg.define(symbol);
        self
    }

    /// Makes the QAPI symbol always false (the default for unmapped ones).
    pub fn undefine_cfg(mut self, symbol: &str) -> Self {
        self.options.cfg.undefine(symbol);
        self
    }

    /// Whether unmapped symbols are defined (default: undefined).
    pub fn unmapped_cfgs_defined(mut self, defined: bool) -> Self {
        self.options.cfg.unmapped_defined(defined);
        self
    }

    /// Replaces the whole cfg map.
    pub fn cfg_map(mut self, map: CfgMap) -> Self {
        self.options.cfg = map;
        self
    }

    /// Which parts to emit.
    pub fn parts(mut self, parts: Parts) -> Self {
        self.options.parts = parts;
        self
    }

    /// The runtime crate's path in generated code (default
    /// `::qapi_runtime`).
    pub fn runtime_path(mut self, path: &str) -> Self {
        self.options.runtime = path.to_owned();
        self
    }

    /// Enums keep values this build does not know (for clients).
    pub fn open_enums(mut self, open: bool) -> Self {
        self.options.open_enums = open;
        self
    }

    /// What to do with `unstable` interfaces.
    pub fn unstable(mut self, unstable: Unstable) -> Self {
        self.options.unstable = unstable;
        self
    }

    /// An extra derive on every type (`Hash`, `PartialOrd`...).
    pub fn derive(mut self, path: &str) -> Self {
        self.options.derives.push(path.to_owned());
        self
    }

    /// An extra attribute on the type with this QAPI name (`*`: all).
    pub fn type_attribute(mut self, qapi_name: &str, attribute: &str) -> Self {
        self.options
            .type_attributes
            .push((qapi_name.to_owned(), attribute.to_owned()));
        self
    }

    /// Introspection with type names unmasked.
    pub fn unmask_introspection(mut self, unmask: bool) -> Self {
        self.options.unmask_introspection = unmask;
        self
    }

    /// Also generate `commands::QmpService`, which serves the commands with
    /// the runtime's QMP server (the runtime's `qmp` feature, on by
    /// default, must be enabled).
    pub fn qmp_service(mut self, on: bool) -> Self {
        self.options.qmp_service = on;
        self
    }

    /// Whether to print `cargo::` directives (on by default; off for
    /// use outside build scripts).
    pub fn cargo_directives(mut self, on: bool) -> Self {
        self.cargo_directives = on;
        self
    }

    /// The options as set so far.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Reads the schema and returns the generated source.
    pub fn generate_source(&self) -> Result<String, BuildError> {
        if let Some(e) = self.cfg_errors.first() {
            return Err(e.clone().into());
        }
        let schema = qapi_parser::load(
            &self.schema,
            &qapi_parser::Options {
                legacy: self.legacy,
            },
        );
        if self.cargo_directives {
            for line in self.directives(schema.as_ref().ok()) {
                println!("{line}");
            }
        }
        let schema = schema?;
        let origin = self
            .schema
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(crate::rust::generate_source(
            &schema,
            &self.options,
            &origin,
        )?)
    }

    /// The `cargo::` lines for a build script: `rerun-if-changed` for the
    /// main file and every file it includes (the main file even when the
    /// schema failed to load, so a fix reruns the script), and
    /// `rustc-check-cfg` for custom cfg names in the mapping.
    pub fn directives(&self, schema: Option<&qapi_parser::Schema>) -> Vec<String> {
        let mut out = vec![format!("cargo::rerun-if-changed={}", self.schema.display())];
        if let Some(schema) = schema {
            for f in schema.source.files() {
                let line = format!("cargo::rerun-if-changed={}", f.name);
                if !out.contains(&line) {
                    out.push(line);
                }
            }
        }
        for p in self.options.cfg.predicates() {
            if let Some(check) = check_cfg(p) {
                out.push(format!("cargo::rustc-check-cfg={check}"));
            }
        }
        out
    }

    /// Generates and writes the output file; returns its path.
    pub fn generate(&self) -> Result<PathBuf, BuildError> {
        let source = self.generate_source()?;
        let path = self.output_path()?;
        // Leave an unchanged file alone, so its timestamp does not make
        // cargo rebuild the crate that includes it.
        if std::fs::read_to_string(&path).ok().as_deref() != Some(source.as_str()) {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|source| BuildError::Write {
                    path: path.clone(),
                    source,
                })?;
            }
            std::fs::write(&path, source).map_err(|source| BuildError::Write {
                path: path.clone(),
                source,
            })?;
        }
        Ok(path)
    }

    fn output_path(&self) -> Result<PathBuf, BuildError> {
        let default_name = || {
            let stem = self
                .schema
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "qapi".into());
            PathBuf::from(format!("{stem}.rs"))
        };
        let path = self.out.clone().unwrap_or_else(default_name);
        if path.is_absolute() {
            return Ok(path);
        }
        let out_dir = std::env::var_os("OUT_DIR").ok_or(BuildError::NoOutDir)?;
        Ok(Path::new(&out_dir).join(path))
    }
}

/// The `rustc-check-cfg` argument for a custom cfg predicate (`name` or
/// `name = "value"`); `None` for the ones rustc and cargo know.
fn check_cfg(predicate: &str) -> Option<String> {
    const KNOWN: &[&str] = &[
        "feature",
        "target_os",
        "target_arch",
        "target_family",
        "target_env",
        "target_abi",
        "target_endian",
        "target_pointer_width",
        "target_vendor",
        "target_feature",
        "target_has_atomic",
        "unix",
        "windows",
        "debug_assertions",
        "test",
        "panic",
        "doc",
        "miri",
        "overflow_checks",
        "proc_macro",
        "relocation_model",
        "sanitize",
        "fmt_debug",
        "ub_checks",
        "contract_checks",
        "target_thread_local",
    ];
    let (name, value) = match predicate.split_once('=') {
        Some((n, v)) => (n.trim(), Some(v.trim())),
        None => (predicate.trim(), None),
    };
    if KNOWN.contains(&name) || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some(match value {
        Some(v) => format!("cfg({name}, values({v}))"),
        None => format!("cfg({name})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_read_reruns_the_build_script() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main.json");
        std::fs::write(
            &main,
            "{ 'include': 'sub/types.json' }\n{ 'command': 'ping' }\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(
            dir.path().join("sub/types.json"),
            "{ 'enum': 'Mode', 'data': ['a'] }\n",
        )
        .unwrap();
        let builder = Builder::new(&main)
            .map_cfg("CONFIG_X", "qapi_x")
            .map_cfg("CONFIG_Y", r#"feature = "y""#);
        let schema = qapi_parser::load(&main, &qapi_parser::Options::default()).unwrap();
        let lines = builder.directives(Some(&schema));
        let main_s = main.display().to_string();
        assert_eq!(lines[0], format!("cargo::rerun-if-changed={main_s}"));
        assert!(lines
            .iter()
            .any(|l| l.ends_with("sub/types.json") && l.starts_with("cargo::rerun-if-changed=")));
        assert!(lines.contains(&"cargo::rustc-check-cfg=cfg(qapi_x)".to_owned()));
        assert!(!lines.iter().any(|l| l.contains("feature")));
        let source = builder.cargo_directives(false).generate_source().unwrap();
        assert!(source.contains("pub enum Mode"));
    }

    #[test]
    fn errors_carry_the_front_ends_diagnostic() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("bad.json");
        std::fs::write(&main, "{ 'command': 'Bad_Name' }\n").unwrap();
        let err = Builder::new(&main)
            .cargo_directives(false)
            .generate_source()
            .unwrap_err();
        assert!(matches!(err, BuildError::Schema(_)));
        assert!(err.to_string().contains("bad.json:1:"), "{err}");
        let err = Builder::new(&main)
            .map_cfg("X", "feature =")
            .generate_source()
            .unwrap_err();
        assert!(matches!(err, BuildError::Cfg(_)));
    }
}
