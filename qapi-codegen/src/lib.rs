//! Code generators for checked QAPI schemas.
//!
//! This crate will turn the IR built by [`qapi_parser`] into Rust: types,
//! command traits and dispatchers, events and introspection data. The Rust
//! generator arrives with a later issue; for now the crate only ships the
//! `qapi-gen` command-line tool (`src/bin/qapi-gen.rs`), whose `check`
//! subcommand runs the front end alone.
#![deny(missing_docs)]
