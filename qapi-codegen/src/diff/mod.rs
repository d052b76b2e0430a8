//! What an upgrade of a schema breaks on the wire, and for whom: the
//! compat-diff back end behind `qapi-gen diff`.
//!
//! [`diff`] compares two checked schemas (an old release and a new one)
//! through the types as the wire sees them (module `shape`): names of
//! implicit or renamed types do not matter, base members are flattened,
//! arrays are their elements. Every difference becomes a [`Change`] with
//! a [`Class`] that says whom it breaks:
//!
//! * **old clients against a new server** ([`Class::BreaksClients`]): a
//!   command or event removed; an argument removed, made mandatory or
//!   narrowed (an enum value or an alternate branch removed, a smaller
//!   integer); a returned or event member removed (when it was mandatory)
//!   or made optional; a value the server sends widened (see below);
//! * **old servers receiving new clients' requests, and new clients
//!   reading old servers' answers** ([`Class::BreaksServers`]): the mirror
//!   images: an argument made optional (a new client may leave it out, an
//!   old server wants it), a returned member made mandatory or added as
//!   mandatory (a new client expects it, an old server does not send it),
//!   a value the server sends narrowed;
//! * both ([`Class::BreaksBoth`]): a type changed to one that shares no
//!   value with the old (`str` to `int`), a changed `success-response`,
//!   a union whose discriminator changed;
//! * [`Class::Feature`]: `deprecated` or `unstable` added or removed;
//! * [`Class::Compatible`]: the rest: additions a peer only uses if it
//!   chooses to (new commands and events, new optional arguments, new
//!   enum values and alternate branches in what clients send), new
//!   members in answers and events (QMP's specification tells clients to
//!   ignore keys they do not know), other features, definitions no
//!   command or event uses.
//!
//! **The rule for enum values** (and union branches, alternate branches
//! and integer ranges, which follow it): a value added to what a client
//! sends is compatible, since only a client that chooses it sends it; a
//! value added to what a server sends (a command's answer, an event)
//! breaks old clients, because QMP's specification promises clients new
//! object keys, not new values, and a client that maps enums to a closed
//! type (the default of this crate's generated Rust, see
//! [`Options::open_enums`](crate::Options)) rejects the answer. Removed
//! values are the mirror: they break old clients in what clients send,
//! and new clients reading old servers in what servers send.
//!
//! **Directions.** Command arguments are input (the server reads them);
//! command answers and event data are output (the client reads them). A
//! named type used both ways is compared, and reported, once per
//! direction. Conditions (`if`) are carried to each change: a change
//! inside a conditional command, member or branch says under which
//! condition it exists, and a condition that changes is a change of its
//! own (present in fewer builds counts as removed, in more as added).

mod compare;
mod render;
mod report;
mod shape;

use qapi_parser::Schema;

pub use render::{to_json, to_markdown, to_text};
pub use report::{Change, ChangeKind, Class, Direction, Item, Report, Side, Step, Subject};

/// Compares `old` with `new` (in that order: an upgrade from `old` to
/// `new`) as the wire sees them.
pub fn diff(old: &Schema, new: &Schema) -> Report {
    compare::compare(old, new)
}
