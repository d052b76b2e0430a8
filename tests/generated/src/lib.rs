//! The demo schema (`schema/demo.json`), generated through the Builder,
//! for the tests in `tests/`: QEMU's input semantics and texts, unions,
//! alternates, commands, events, conditions, features.

/// Generated with enums closed, as a server uses them.
#[allow(missing_docs)]
pub mod server {
    include!(concat!(env!("OUT_DIR"), "/server.rs"));
}

/// Generated with `unstable` interfaces behind this crate's `unstable`
/// feature.
#[allow(missing_docs)]
pub mod gated {
    include!(concat!(env!("OUT_DIR"), "/gated.rs"));
}

/// Generated with open enums, as a client uses them.
#[allow(missing_docs)]
pub mod client {
    include!(concat!(env!("OUT_DIR"), "/client.rs"));
}

/// QEMU 7.2's `introspect.json` (`query-qmp-schema` and `SchemaInfo`),
/// generated with open enums as a client would.
#[allow(missing_docs)]
pub mod introspect {
    include!(concat!(env!("OUT_DIR"), "/introspect.rs"));
}

/// QEMU 7.2's guest agent schema (`qga/qapi-schema.json`): types and
/// request types, with open enums, as a guest-agent client uses them.
#[allow(missing_docs)]
pub mod qga {
    include!(concat!(env!("OUT_DIR"), "/qga.rs"));
}

/// QEMU's `query-version` and its `VersionInfo` (`schema/version.json`),
/// with the generated `QmpService`: a service that answers
/// `query-version` itself.
#[allow(missing_docs)]
pub mod version {
    include!(concat!(env!("OUT_DIR"), "/version.rs"));
}
