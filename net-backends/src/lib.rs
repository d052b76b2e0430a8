//! QEMU's netdev drivers, implementing the traits generated from QEMU
//! 9.0's `net.json`.
//!
//! Today this crate holds the generated bindings ([`qapi`]), the
//! in-process packet core ([`core`]) and the QMP control plane on it
//! ([`control`]); the drivers build on them.
#![deny(missing_docs)]

/// The types, command traits, events and introspection generated from
/// QEMU 9.0's `net.json` (see `build.rs`).
#[allow(missing_docs)]
pub mod qapi {
    include!(concat!(env!("OUT_DIR"), "/net.rs"));
}

pub mod control;
pub mod core;
pub mod driver;
pub mod io;
