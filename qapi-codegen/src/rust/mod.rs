//! The Rust back end: IR to tokens, tokens to formatted source.
//!
//! The generated file has four parts, each optional (see [`Parts`]):
//!
//! * the schema's types at the top level: structs, enums, unions (base
//!   members plus an enum of branches), alternates;
//! * `pub mod commands`: a request type per command (client side), the
//!   `Commands` and `AsyncCommands` traits and their dispatchers (server
//!   side), command metadata;
//! * `pub mod events`: a data type per event and the `Event` enum;
//! * `pub mod introspection`: the `query-qmp-schema` answer.
//!
//! Nothing is derived through serde: every type implements the runtime's
//! `Visit`/`ToValue` traits with QEMU's input semantics, and serde's traits
//! through them.

mod commands;
mod events;
mod format;
mod model;
mod types;

use std::collections::HashMap;

use proc_macro2::TokenStream;
use qapi_parser::ir::{EntityId, Schema};
use quote::quote;

use crate::cfg::CfgMap;

pub use model::TypeNames;

/// Which parts of the output to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// Types (always needed by the other parts; turning it off is for
    /// crates that get the types from elsewhere through `super::`).
    pub types: bool,
    /// The command traits and dispatchers.
    pub server: bool,
    /// The client request types (and the command metadata).
    pub client: bool,
    /// Event types, the event enum.
    pub events: bool,
    /// The `query-qmp-schema` answer.
    pub introspection: bool,
}

impl Default for Parts {
    fn default() -> Self {
        Parts {
            types: true,
            server: true,
            client: true,
            events: true,
            introspection: true,
        }
    }
}

/// What to do with interfaces marked `unstable` (commands, events,
/// members, enum values).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Unstable {
    /// Generate them, marked in their documentation.
    #[default]
    Include,
    /// Leave them out.
    Omit,
    /// Generate them under a cfg predicate, e.g. `feature = "unstable"`.
    Cfg(String),
}

/// How to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// The mapping of `if` symbols to cfg predicates.
    pub cfg: CfgMap,
    /// The path of the runtime crate as generated code names it.
    pub runtime: String,
    /// The parts to emit.
    pub parts: Parts,
    /// Give every enum a variant `Unknown(String)` that keeps a value this
    /// build does not know, when read by a client (`Role::Client`);
    /// servers still reject unknown values with QEMU's error.
    pub open_enums: bool,
    /// What to do with `unstable` interfaces.
    pub unstable: Unstable,
    /// Extra derives on every generated struct and enum (paths, such as
    /// `Hash` or `serde::Serialize` — note the runtime already implements
    /// serde's traits).
    pub derives: Vec<String>,
    /// Extra attributes on types, by QAPI name (`*` for all), as source
    /// text such as `#[non_exhaustive]`.
    pub type_attributes: Vec<(String, String)>,
    /// Introspection with type names unmasked.
    pub unmask_introspection: bool,
    /// Also generate `commands::QmpService`, which serves the commands with
    /// `qapi_runtime::qmp::Server` (needs the runtime's `qmp` feature).
    pub qmp_service: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cfg: CfgMap::new(),
            runtime: "::qapi_runtime".to_owned(),
            parts: Parts::default(),
            open_enums: false,
            unstable: Unstable::Include,
            derives: Vec::new(),
            type_attributes: Vec::new(),
            unmask_introspection: false,
            qmp_service: false,
        }
    }
}

/// A schema the generator cannot express, or options it cannot use.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The runtime path is not a Rust path.
    #[error("runtime path '{0}' is not a Rust path")]
    BadRuntimePath(String),
    /// An extra derive is not a Rust path.
    #[error("derive '{0}' is not a Rust path")]
    BadDerive(String),
    /// An extra attribute is not a Rust attribute.
    #[error("attribute '{0}' is not a Rust attribute")]
    BadAttribute(String),
    /// The unstable cfg predicate is not a cfg predicate.
    #[error("unstable cfg '{0}' is not a cfg predicate")]
    BadUnstableCfg(String),
    /// Generated tokens that do not parse as Rust (a bug in this crate).
    #[error("generated code does not parse ({0}); please report this with the schema")]
    Unparsable(String),
}

/// Generates the Rust items for `schema`.
pub fn generate(schema: &Schema, options: &Options) -> Result<TokenStream, GenerateError> {
    let cx = model::Context::new(schema, options)?;
    let mut out = TokenStream::new();
    if options.parts.types {
        out.extend(types::generate(&cx));
    }
    if options.parts.server || options.parts.client {
        let commands = commands::generate(&cx);
        out.extend(quote! {
            /// The schema's commands: request types for clients, the
            /// traits a server implements, and their dispatchers.
            pub mod commands {
                #commands
            }
        });
    }
    if options.parts.events {
        let events = events::generate(&cx);
        out.extend(quote! {
            /// The schema's events: a type per event and the enum of all.
            pub mod events {
                #events
            }
        });
    }
    if options.parts.introspection {
        let items = crate::introspect::generate(schema, &cx.cfg_map, options.unmask_introspection);
        out.extend(quote! {
            /// The `query-qmp-schema` answer for this schema, as QEMU
            /// computes it.
            pub mod introspection {
                #items
            }
        });
    }
    Ok(out)
}

/// Generates and formats the Rust source for `schema`, with a header
/// naming its origin.
pub fn generate_source(
    schema: &Schema,
    options: &Options,
    origin: &str,
) -> Result<String, GenerateError> {
    let tokens = generate(schema, options)?;
    let body = separate_items(&format::format_file(tokens)?);
    Ok(format!(
        "// @generated by qapi-gen from {origin}; do not edit.\n\n{body}"
    ))
}

/// The Rust type name given to each schema type (for tests and tools that
/// refer to generated items).
pub fn type_names(
    schema: &Schema,
    options: &Options,
) -> Result<HashMap<String, String>, GenerateError> {
    let cx = model::Context::new(schema, options)?;
    Ok(cx
        .names
        .types
        .iter()
        .map(|(id, ident)| (schema.entity(*id).name.clone(), ident.to_string()))
        .collect())
}

/// Wire (QAPI) names to Rust names.
pub type NameMap = HashMap<String, String>;

/// The Rust names of commands' request types and events' data types,
/// keyed by wire name.
pub fn request_and_event_names(
    schema: &Schema,
    options: &Options,
) -> Result<(NameMap, NameMap), GenerateError> {
    let cx = model::Context::new(schema, options)?;
    let get = |m: &HashMap<EntityId, proc_macro2::Ident>| {
        m.iter()
            .filter(|(id, _)| cx.cond(**id).is_possible())
            .map(|(id, i)| (schema.entity(*id).name.clone(), i.to_string()))
            .collect()
    };
    Ok((get(&cx.names.commands), get(&cx.names.events)))
}

/// Puts a blank line between consecutive items (prettyplease leaves
/// none), so the file reads like hand-written code.
fn separate_items(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + source.len() / 16);
    let mut lines = source.lines().peekable();
    while let Some(line) = lines.next() {
        out.push_str(line);
        out.push('\n');
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        // A doc comment line ending in `;` ends no item (a blank line
        // after it trips clippy's `empty_line_after_doc_comments`).
        let ends_item = !trimmed.starts_with("//") && (trimmed == "}" || trimmed.ends_with(';'));
        if !ends_item {
            continue;
        }
        if let Some(next) = lines.peek() {
            let next_indent = next.len() - next.trim_start().len();
            if next_indent == indent && starts_item(next.trim_start()) {
                out.push('\n');
            }
        }
    }
    out
}

/// Whether a line begins an item (or its attributes or docs).
fn starts_item(line: &str) -> bool {
    const STARTS: &[&str] = &[
        "///", "//!", "#[", "pub ", "impl", "fn ", "const ", "static ", "mod ", "struct ", "enum ",
        "trait ", "use ", "type ", "async fn",
    ];
    STARTS.iter().any(|s| line.starts_with(s)) || line.contains("::impl_serde!")
}
