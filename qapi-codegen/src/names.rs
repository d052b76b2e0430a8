//! QAPI names to Rust names.
//!
//! Types and variants become `UpperCamelCase`, members and commands
//! `snake_case` (through `heck`), and three rules keep every result a
//! valid, unique identifier without per-schema lists:
//!
//! * a Rust keyword becomes a raw identifier (`type` -> `r#type`), or
//!   gets a trailing `_` where raw identifiers are not allowed (`self`,
//!   `Self`, `super`, `crate`);
//! * a type whose name is one of the standard prelude's (a QAPI struct
//!   named `String`) gets the prefix `Qapi` (`QapiString`), because
//!   generated code uses the prelude names unqualified;
//! * a name that starts with a digit gets a prefix (`V` for variants, `T`
//!   for types, `_` for members), and two names that collide after
//!   conversion (`foo-bar` and `fooBar`) are told apart by a numeric
//!   suffix on the later one, in schema order.

use std::collections::HashSet;

use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Ident, Span};

/// Rust's keywords (2021 edition), strict and reserved.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// Keywords that cannot be raw identifiers.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "_"];

/// Type-namespace names of the standard prelude that generated code uses
/// unqualified; a schema type must not shadow them.
const PRELUDE_TYPES: &[&str] = &[
    "String",
    "Vec",
    "Option",
    "Box",
    "Result",
    "Some",
    "None",
    "Ok",
    "Err",
    "Default",
    "Clone",
    "Copy",
    "Send",
    "Sync",
    "Sized",
    "Drop",
    "Fn",
    "FnMut",
    "FnOnce",
    "From",
    "Into",
    "Iterator",
    "IntoIterator",
    "Extend",
    "ToOwned",
    "ToString",
    "PartialEq",
    "Eq",
    "PartialOrd",
    "Ord",
    "AsRef",
    "AsMut",
    "Debug",
    "Hash",
    "Unpin",
    "TryFrom",
    "TryInto",
    "FromIterator",
    "DoubleEndedIterator",
    "ExactSizeIterator",
];

/// `UpperCamelCase` for a type name; `q_obj_` prefixes of implicit types
/// are dropped (`q_obj_String-wrapper` -> `StringWrapper`).
pub fn type_name(qapi: &str) -> String {
    let stem = qapi.strip_prefix("q_obj_").unwrap_or(qapi);
    let mut name = camel(stem);
    if name.starts_with(|c: char| c.is_ascii_digit()) || name.is_empty() {
        name.insert(0, 'T');
    }
    if PRELUDE_TYPES.contains(&name.as_str()) {
        name.insert_str(0, "Qapi");
    }
    name
}

/// `UpperCamelCase` for an enum variant.
pub fn variant_name(qapi: &str) -> String {
    let mut name = camel(qapi);
    if name.starts_with(|c: char| c.is_ascii_digit()) || name.is_empty() {
        name.insert(0, 'V');
    }
    if name == "Self" {
        name.push('_');
    }
    name
}

/// `snake_case` for a member, parameter or method name (keywords are
/// handled when the identifier is made, see [`ident`]).
pub fn member_name(qapi: &str) -> String {
    let mut name = qapi.replace(['.', '+'], "_").to_snake_case();
    if name.starts_with(|c: char| c.is_ascii_digit()) || name.is_empty() {
        name.insert(0, '_');
    }
    name
}

fn camel(s: &str) -> String {
    // heck treats `.` and `+` as part of a word; QAPI uses them as
    // separators (`x86_64`, `1.0`, `tls+psk`).
    s.replace(['.', '+'], "_").to_upper_camel_case()
}

/// An identifier token for `name`: raw for keywords, `_`-suffixed where
/// raw identifiers are not allowed.
pub fn ident(name: &str) -> Ident {
    if NOT_RAW.contains(&name) {
        Ident::new(&format!("{name}_"), Span::call_site())
    } else if KEYWORDS.contains(&name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// A namespace of Rust names: hands out unique names in order.
#[derive(Debug, Default, Clone)]
pub struct Namespace {
    taken: HashSet<String>,
}

impl Namespace {
    /// A namespace with `reserved` names already taken.
    pub fn with_reserved(reserved: &[&str]) -> Self {
        Namespace {
            taken: reserved.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// `wanted`, or `wanted2`, `wanted3`... if taken (for `snake_case`
    /// names `wanted_2`...).
    pub fn claim(&mut self, wanted: String) -> String {
        if self.taken.insert(wanted.clone()) {
            return wanted;
        }
        let snake = wanted.starts_with(|c: char| c.is_lowercase() || c == '_');
        (2..)
            .map(|n| {
                if snake {
                    format!("{wanted}_{n}")
                } else {
                    format!("{wanted}{n}")
                }
            })
            .find(|candidate| self.taken.insert(candidate.clone()))
            .unwrap_or(wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(type_name("NetdevDgramOptions"), "NetdevDgramOptions");
        assert_eq!(type_name("q_obj_String-wrapper"), "StringWrapper");
        assert_eq!(type_name("String"), "QapiString");
        assert_eq!(
            type_name("NETDEV_STREAM_CONNECTED"),
            "NetdevStreamConnected"
        );
        assert_eq!(type_name("query-rx-filter"), "QueryRxFilter");
        assert_eq!(variant_name("af-xdp"), "AfXdp");
        assert_eq!(variant_name("2.0"), "V2_0".replace('_', ""));
        assert_eq!(member_name("ipv6-prefixlen"), "ipv6_prefixlen");
        assert_eq!(member_name("x-origin"), "x_origin");
        assert_eq!(member_name("32bit"), "_32bit");
        assert_eq!(ident("type").to_string(), "r#type");
        assert_eq!(ident("self").to_string(), "self_");
    }

    #[test]
    fn namespaces_tell_collisions_apart() {
        let mut ns = Namespace::default();
        assert_eq!(ns.claim(member_name("foo-bar")), "foo_bar");
        assert_eq!(ns.claim(member_name("fooBar")), "foo_bar_2");
        let mut types = Namespace::default();
        assert_eq!(types.claim(type_name("VNCInfo")), "VncInfo");
        assert_eq!(types.claim(type_name("VncInfo")), "VncInfo2");
    }
}
