//! Code generators for checked QAPI schemas: the IR built by
//! [`qapi_parser`] becomes Rust that links against `qapi-runtime`.
//!
//! The stages, one module each:
//!
//! * [`cfg`]: `if` conditions to `#[cfg]` through the user's mapping;
//! * [`names`]: QAPI names to Rust names (case, keywords, clashes);
//! * [`docs`]: QAPI doc comments to rustdoc;
//! * [`rust`]: types, commands, events as `proc_macro2` tokens,
//!   formatted with `prettyplease`;
//! * [`introspect`]: the `query-qmp-schema` answer;
//! * [`builder`]: the `build.rs` entry point, in the style of prost-build;
//! * [`diff`]: what an upgrade from one schema to another breaks on the
//!   wire, for old clients and for old servers (`qapi-gen diff`).
#![deny(missing_docs)]

pub mod builder;
pub mod cfg;
pub mod diff;
pub mod docs;
pub mod introspect;
pub mod names;
pub mod rust;

pub use builder::{BuildError, Builder};
pub use rust::{generate, generate_source, GenerateError, Options, Parts, Unstable};
