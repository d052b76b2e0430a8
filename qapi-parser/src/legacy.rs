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
//! | `'**'`, `'visitor'`, `'dict'` (before 2.5) | `'any'`                      |
//! | a `str` union discriminator (1.7)       | accepted (`schema.rs`)          |
//! | `'if': 'defined(A) \|\| defined(B)'`      | `'if': {'any': ['A', 'B']}`     |
//! | nested anonymous structs (before 2.4)   | structs of their own            |
//! | missing `,` between members (1.1 to 1.5) | accepted (`parser.rs`)         |
//!
//! Simple unions (no discriminator, before 6.2) are kept as they are
//! here; `schema.rs` gives them an implicit enum and wrapper types, as
//! QEMU did at the time.  The pragma names `returns-whitelist` and
//! `name-case-whitelist` are mapped in `parser.rs`.

use crate::ast::{Object, Value};

/// Rewrites one top-level definition in place.
pub(crate) fn modernize(expr: &mut Object) {
    if !expr.contains("struct")
        && expr.contains("type")
        && expr.get("type").is_some_and(|v| v.as_str().is_some())
    {
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
        Value::Str(s) if matches!(s.as_str(), "**" | "visitor" | "dict") => *s = "any".into(),
        Value::Object(o) => modernize_tree(o),
        Value::Array(items) => items.iter_mut().for_each(modernize_value),
        _ => {}
    }
}

fn modernize_if(cond: &mut Value) {
    match cond {
        Value::Str(s) => {
            if let Some(c) = CExpr::parse(s) {
                *cond = c;
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

/// A C preprocessor condition as QEMU 2.12 to 6.1 wrote them
/// (`defined(A) || (defined(B) && !defined(C))`), turned into today's
/// condition object.  `None` when the text is not such an expression.
struct CExpr<'a> {
    s: &'a [u8],
    i: usize,
}

impl CExpr<'_> {
    fn parse(text: &str) -> Option<Value> {
        let mut p = CExpr {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.or()?;
        p.skip_ws();
        (p.i == p.s.len()).then_some(v)
    }

    fn skip_ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.skip_ws();
        if self.s[self.i..].starts_with(tok.as_bytes()) {
            self.i += tok.len();
            true
        } else {
            false
        }
    }

    fn combine(op: &str, mut items: Vec<Value>) -> Value {
        if items.len() == 1 {
            return items.pop().unwrap_or(Value::Bool(false));
        }
        Value::Object(Object(vec![(op.into(), Value::Array(items))]))
    }

    fn or(&mut self) -> Option<Value> {
        let mut items = vec![self.and()?];
        while self.eat("||") {
            items.push(self.and()?);
        }
        Some(Self::combine("any", items))
    }

    fn and(&mut self) -> Option<Value> {
        let mut items = vec![self.unary()?];
        while self.eat("&&") {
            items.push(self.unary()?);
        }
        Some(Self::combine("all", items))
    }

    fn unary(&mut self) -> Option<Value> {
        if self.eat("!") {
            let v = self.unary()?;
            return Some(Value::Object(Object(vec![("not".into(), v)])));
        }
        if self.eat("(") {
            let v = self.or()?;
            return self.eat(")").then_some(v);
        }
        if self.eat("defined") {
            if !self.eat("(") {
                return None;
            }
            let v = self.ident()?;
            return self.eat(")").then_some(v);
        }
        self.ident()
    }

    fn ident(&mut self) -> Option<Value> {
        self.skip_ws();
        let start = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.i += 1;
        }
        (self.i > start)
            .then(|| Value::Str(String::from_utf8_lossy(&self.s[start..self.i]).into_owned()))
    }
}

/// Nested anonymous structs (`'data': { 'qemu': { 'major': 'int' } }`,
/// QEMU 1.0 to 2.3) become struct definitions of their own, named
/// `<Parent><Member>` in CamelCase; the member then refers to it.
/// Returns the new definitions, to be checked before `expr`.
pub(crate) fn hoist_nested_structs(expr: &mut Object) -> Vec<Object> {
    let Some(parent) = ["struct", "command", "event"]
        .iter()
        .find_map(|m| expr.get(m).and_then(Value::as_str))
        .map(str::to_owned)
    else {
        return Vec::new();
    };
    let mut hoisted = Vec::new();
    if let Some((_, Value::Object(data))) = expr.0.iter_mut().find(|(k, _)| k == "data") {
        hoist_in(&parent, data, &mut hoisted);
    }
    hoisted
}

fn hoist_in(parent: &str, data: &mut Object, out: &mut Vec<Object>) {
    for (key, value) in data.0.iter_mut() {
        let Value::Object(inner) = value else {
            continue;
        };
        // `{ 'type': ..., 'if': ... }` is a member, not a nested struct.
        if inner.contains("type")
            && inner
                .keys()
                .all(|k| matches!(k, "type" | "if" | "features"))
        {
            continue;
        }
        let member = key.trim_start_matches('*');
        let camel: String = member
            .split(['-', '_'])
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        let name = format!("{parent}{camel}");
        let mut inner = std::mem::take(inner);
        hoist_in(&name, &mut inner, out);
        out.push(Object(vec![
            ("struct".into(), Value::Str(name.clone())),
            ("data".into(), Value::Object(inner)),
        ]));
        *value = Value::Str(name);
    }
}
