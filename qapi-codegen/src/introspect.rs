//! Introspection: the `query-qmp-schema` answer for a schema.
//!
//! (Being written: see the module's owner.)
