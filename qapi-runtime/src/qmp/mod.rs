//! QMP, QEMU's monitor protocol: a server for any schema's generated
//! commands and events, and a client for any QMP server (QEMU itself
//! among them).
//!
//! Both speak the protocol as QEMU 7.2 does, byte for byte where a peer
//! could notice: QEMU's JSON reading rules and limits ([`json`]), its
//! envelope checks and texts ([`wire`]), negotiation, out-of-band
//! execution, `id` echoing, and events with timestamps. The
//! `qapi-runtime/tests/qmp_*.rs` tests drive this server and QEMU 7.2
//! with the same inputs and compare the answers, and drive this server
//! with Python's `qemu.qmp` library.
//!
//! * [`Server`] serves a [`Service`]: the generated `commands::COMMANDS`,
//!   `commands::dispatch_async` and `introspection::qmp_schema_json`
//!   wired in a few lines (see [`Service`]);
//! * [`Client`] (and [`BlockingClient`]) runs the generated request
//!   types (`client.execute(&NetdevDel { id })`) and reads events as
//!   raw JSON that the generated `events::Event` decodes;
//! * [`GuestAgent`] runs the guest agent's generated request types
//!   against `qemu-ga` (no greeting; `guest-sync-delimited`).
//!
//! Everything runs on tokio and is behind the `qmp` cargo feature (on by
//! default), so code that only needs the generated types can leave tokio
//! out.

pub mod blocking;
pub mod client;
pub mod fds;
pub mod guest_agent;
pub mod json;
pub mod server;
pub mod wire;

pub use blocking::BlockingClient;
pub use client::{
    Client, ClientError, ClientOptions, Decoded, EventStream, EventsLost, Greeting, RawEvent,
};
pub use fds::NamedFds;
pub use guest_agent::{GuestAgent, GuestAgentError, GuestAgentOptions, SyncMethod};
pub use json::{JsonError, Limits};
pub use server::{
    Address, AddressError, Config, Listener, Server, ServerHandle, Service, BUILTIN_COMMANDS,
    FD_COMMANDS,
};
pub use wire::VersionInfo;
