//! Legacy mode: rewrites the forms of older QEMU releases into today's
//! language before the expression checks see them.
//!
//! | old form (release)                      | becomes                         |
//! |-----------------------------------------|---------------------------------|
//! | `'type': 'Foo'` (1.x)                   | `'struct': 'Foo'`               |
//! | `'gen': 'no'`, `'success-response': 'no'` | `false`                       |
//! | `'if': 'defined(X)'` (2.12 to 6.1)      | `'if': 'X'`                     |
//! | `'if': [A, B]` (2.12 to 6.1)            | `'if': {'all': [A, B]}`         |
//! | `'union'` with `'discriminator': {}` (2.0 to 2.4) | `'alternate'`          |
//! | `'**'` (any type, before 2.5)           | `'any'`                         |
//!
//! Simple unions (no discriminator, before 6.2) are kept as they are
//! here; `schema.rs` gives them an implicit enum and wrapper types, as
//! QEMU did at the time.  The pragma names `returns-whitelist` and
//! `name-case-whitelist` are mapped in `parser.rs`.

use crate::ast::{Object, Value};

/// Rewrites one top-level definition in place.
pub(crate) fn modernize(expr: &mut Object) {
    if !expr.contains("struct") && expr.contains("type") && expr.get("type").is_some_and(|v| v.as_str().is_some()) {
        if let Some(pos) = expr.0.iter().position(|(k, _)| k == "type") {
            expr.0[pos].0 = "struct".into();
        }
    }
    let is_alternate = expr.contains("union")
        && matches!(expr.get("discriminator"), Some(Value::Object(o)) if o.is_empty());
    if is_alternate {
        expr.remove("discriminator");
        if let Some(pos) = expr.0.iter().position(|(k, _)| k == "union") {
            expr.0[pos].0 = "alternate".into();
        }
    }
    for key in ["gen", "success-response"] {
        if let Some((_, v)) = expr.0.iter_mut().find(|(k, _)| k == key) {
            if matches!(v, Value::Str(s) if s == "no") {
                *v = Value::Bool(false);
            }
        }
    }
    modernize_tree(expr);
}

/// Conditions and the old any type, everywhere in a definition.
fn modernize_tree(obj: &mut Object) {
    for (key, value) in obj.0.iter_mut() {
        if key == "if" {
            modernize_if(value);
            continue;
        }
        modernize_value(value);
    }
}

fn modernize_value(value: &mut Value) {
    match value {
        Value::Str(s) if s == "**" => *s = "any".into(),
        Value::Object(o) => modernize_tree(o),
        Value::Array(items) => items.iter_mut().for_each(modernize_value),
        _ => {}
    }
}

fn modernize_if(cond: &mut Value) {
    match cond {
        Value::Str(s) => {
            let inner = s
                .strip_prefix("defined(")
                .and_then(|r| r.strip_suffix(')'))
                .map(str::to_owned);
            if let Some(inner) = inner {
                *s = inner;
            }
        }
        Value::Array(items) => {
            items.iter_mut().for_each(modernize_if);
            let items = std::mem::take(items);
            *cond = Value::Object(Object(vec![("all".into(), Value::Array(items))]));
        }
        Value::Object(o) => {
            for (_, v) in o.0.iter_mut() {
                match v {
                    Value::Array(items) => items.iter_mut().for_each(modernize_if),
                    other => modernize_if(other),
                }
            }
        }
        Value::Bool(_) => {}
    }
}
