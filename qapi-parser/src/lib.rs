//! The QAPI schema front end: reads QEMU's QAPI schema language exactly
//! as QEMU's own `scripts/qapi` does, with its checks and its messages,
//! into an IR the code generator builds on.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! files ──lexer (pest)──▶ tokens ──parser──▶ expressions + doc blocks
//!       ──expr──▶ checked definitions ──schema──▶ ir::Schema ──dump──▶ text
//! ```
//!
//! * [`lexer`]: `qapi.pest`, the lexical grammar, and the scanner
//!   that implements it.
//! * `parser`: values, `include` and `pragma` directives, documentation
//!   blocks ([`doc`]).
//! * `expr`: each definition's keys, names, conditions, features, flags.
//! * `schema`: entities, implicit types, type resolution and the
//!   semantic checks; the result is the [`ir`].
//! * [`dump`]: the test-qapi.py text form used by the conformance corpus.
//!
//! ```no_run
//! let schema = qapi_parser::load("qapi/qapi-schema.json", &qapi_parser::Options::default())?;
//! for e in &schema.entities {
//!     println!("{} {}", e.meta(), e.name);
//! }
//! # Ok::<(), qapi_parser::Error>(())
//! ```
#![deny(missing_docs)]

pub mod ast;
pub mod doc;
pub mod dump;
pub mod error;
mod expr;
pub mod ir;
mod legacy;
pub mod lexer;
pub mod naming;
mod parser;
mod schema;
pub mod source;

pub use error::Error;
pub use ir::Schema;
pub use parser::{MAX_FILE_SIZE, MAX_NESTING};

/// How to read a schema.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Accept every released QEMU schema (1.0 to 9.2): old spellings
    /// (`'type'` for structs, simple unions, `'gen': 'no'`,
    /// `'if': 'defined(X)'` and lists, the old pragma names) are
    /// rewritten into today's forms, and documentation comments are read
    /// without today's style rules (old sections, long lines, sentence
    /// spacing, missing or stale descriptions).  Off by default: the
    /// default is exactly the current reference.
    pub legacy: bool,
}

/// Reads, parses and checks the schema whose main file is `path`.
///
/// File names in diagnostics are printed as given (the main file) or as
/// the including file's directory joined with the include string.
pub fn load(path: impl AsRef<std::path::Path>, options: &Options) -> Result<Schema, Error> {
    let fname = path.as_ref().to_string_lossy().into_owned();
    let mut parsed = parser::parse_schema(&fname, options.legacy)?;
    let defs = expr::check_exprs(&mut parsed, options.legacy)?;
    schema::build(&fname, parsed, defs, options.legacy)
}

impl Schema {
    /// The test-qapi.py dump: entities, then documentation.
    pub fn dump(&self) -> String {
        dump::dump(self)
    }
}
