//! Introspection: the `query-qmp-schema` answer for a schema, exactly as
//! QEMU computes it.
//!
//! QEMU's `scripts/qapi/introspect.py` builds the answer at generation time
//! as a tree of values, parts of which carry `if` conditions that the C
//! preprocessor applies later. This module builds the same tree once, then
//! either evaluates the conditions for a set of defined symbols
//! ([`schema_info`]) or turns them into `#[cfg]` attributes on the
//! statements of generated Rust ([`generate`]).
//!
//! The rules below are QEMU 7.2's (its answer, `members` of enums
//! included, is what `tests/tests/introspection.rs` compares with a real
//! QEMU 7.2); the newest `introspect.py` builds the same tree:
//!
//! * **Order.** Commands and events first, module by module (modules in the
//!   order first seen, not in global definition order: a file's commands
//!   come before those of a file it includes), then the types they use, in
//!   order of first use, a type's own references queued as it is visited.
//!   Types nobody uses are not listed.
//! * **Integers.** Every integer built-in type is reported as `int`, every
//!   array of one as `[int]`.
//! * **Masking.** Type names other than built-ins are replaced by numbers
//!   `"0"`, `"1"`, ... in order of first use, arrays being named
//!   `[element]`; `unmask` keeps the names. The numbers are assigned at
//!   generation time, before any condition is applied, so they never
//!   depend on which symbols are defined.
//! * **Conditions.** An entry, member, variant, alternative, enum value or
//!   feature whose condition is false is dropped; nothing else changes. A
//!   type used only by a conditional command still appears (with its own
//!   condition only), and a `features` list whose features are all
//!   conditional can end up empty.
//! * **Keys.** QEMU sends dictionaries in the order of its `QDict` hash
//!   buckets; [`KEY_ORDER`] is that order for every key the answer uses, so
//!   the JSON text here is QEMU's but for the spaces QEMU writes after `,`
//!   and `:`.
//! * **Compatibility policy.** QEMU passes the answer through its QAPI
//!   visitors so that `-compat deprecated-output=hide` can filter it; under
//!   the default policy that changes nothing, and it is not modelled here.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Literal, TokenStream};
use qapi_parser::ir::{
    Branch, Entity, EntityId, EntityKind, EnumValue, Feature, IfCond, JsonType, Member, Schema,
};
use quote::quote;
use serde_json::{Map, Value};

use crate::cfg::{CfgMap, Resolved};

/// Every key of the answer, in the order QEMU sends them.
///
/// QEMU's `QDict` keeps entries in 512 hash buckets and `qobject_to_json`
/// walks the buckets in order; with `tdb_hash` (qobject/qdict.c) these keys
/// land in distinct buckets, in this order (see the unit test
/// `key_order_is_qdict_bucket_order`).
pub const KEY_ORDER: [&str; 15] = [
    "name",
    "element-type",
    "tag",
    "variants",
    "ret-type",
    "default",
    "members",
    "allow-oob",
    "case",
    "type",
    "json-type",
    "meta-type",
    "arg-type",
    "values",
    "features",
];

/// A value of the answer before conditions are applied.
#[derive(Debug, Clone)]
enum Node {
    Null,
    Bool(bool),
    Str(String),
    /// Elements, each possibly conditional.
    List(Vec<Entry>),
    /// Keys (from [`KEY_ORDER`]) and values, in wire order.
    Dict(Vec<(&'static str, Node)>),
}

/// A list element with its condition (`None`: unconditional).
#[derive(Debug, Clone)]
struct Entry {
    ifcond: Option<IfCond>,
    node: Node,
}

impl Entry {
    fn new(ifcond: &Option<IfCond>, node: Node) -> Self {
        Entry {
            ifcond: ifcond.clone(),
            node,
        }
    }
}

/// A dictionary under construction; [`DictBuilder::finish`] puts the keys
/// in wire order.
#[derive(Default)]
struct DictBuilder(Vec<(&'static str, Node)>);

impl DictBuilder {
    fn set(&mut self, key: &'static str, value: Node) -> &mut Self {
        debug_assert!(KEY_ORDER.contains(&key), "unknown key {key}");
        self.0.push((key, value));
        self
    }

    fn finish(mut self) -> Node {
        self.0
            .sort_by_key(|(k, _)| KEY_ORDER.iter().position(|o| o == k));
        Node::Dict(self.0)
    }
}

/// The state of `introspect.py`'s visitor: the name map and the work
/// queue of used types.
struct Builder<'a> {
    schema: &'a Schema,
    unmask: bool,
    names: HashMap<&'a str, usize>,
    used: Vec<EntityId>,
    used_set: HashSet<EntityId>,
    int: EntityId,
    int_list: EntityId,
    empty: EntityId,
    entries: Vec<Entry>,
}

impl<'a> Builder<'a> {
    fn new(schema: &'a Schema, unmask: bool) -> Self {
        let id = |name: &str| {
            schema
                .lookup_id(name)
                .unwrap_or_else(|| panic!("every schema has the built-in type {name}"))
        };
        Builder {
            schema,
            unmask,
            names: HashMap::new(),
            used: Vec::new(),
            used_set: HashSet::new(),
            int: id("int"),
            int_list: id("intList"),
            empty: id("q_empty"),
            entries: Vec::new(),
        }
    }

    /// `_name`: the masked name, numbered in order of first use.
    fn name(&mut self, name: &'a str) -> String {
        if self.unmask {
            return name.to_owned();
        }
        let next = self.names.len();
        self.names.entry(name).or_insert(next).to_string()
    }

    fn is_int(&self, id: EntityId) -> bool {
        matches!(
            self.schema.entity(id).kind,
            EntityKind::Builtin {
                json_type: JsonType::Int
            }
        )
    }

    /// `_use_type`: queues the type if new and returns how the answer
    /// refers to it.
    fn use_type(&mut self, id: EntityId) -> String {
        let schema = self.schema;
        let id = match &schema.entity(id).kind {
            _ if self.is_int(id) => self.int,
            EntityKind::Array { element, .. } if self.is_int(*element) => self.int_list,
            _ => id,
        };
        if self.used_set.insert(id) {
            self.used.push(id);
        }
        let e = schema.entity(id);
        match &e.kind {
            EntityKind::Builtin { .. } => e.name.clone(),
            EntityKind::Array { element, .. } => format!("[{}]", self.use_type(*element)),
            _ => self.name(&e.name),
        }
    }

    fn features(features: &[Feature]) -> Node {
        Node::List(
            features
                .iter()
                .map(|f| Entry::new(&f.ifcond, Node::Str(f.name.clone())))
                .collect(),
        )
    }

    /// `_gen_tree` for enum, object and alternate types, whose names are
    /// masked.
    fn push(&mut self, e: &'a Entity, mtype: &str, mut dict: DictBuilder) {
        let name = self.name(&e.name);
        dict.set("name", Node::Str(name));
        self.push_named(e, mtype, dict);
    }

    /// `_gen_tree` once the name is set: meta-type, features, condition.
    fn push_named(&mut self, e: &'a Entity, mtype: &str, mut dict: DictBuilder) {
        dict.set("meta-type", Node::Str(mtype.to_owned()));
        if !e.features.is_empty() {
            dict.set("features", Self::features(&e.features));
        }
        self.entries.push(Entry::new(&e.ifcond, dict.finish()));
    }

    fn member(&mut self, m: &Member) -> Entry {
        let mut d = DictBuilder::default();
        d.set("name", Node::Str(m.name.clone()));
        d.set("type", Node::Str(self.use_type(m.ty)));
        if m.optional {
            d.set("default", Node::Null);
        }
        if !m.features.is_empty() {
            d.set("features", Self::features(&m.features));
        }
        Entry::new(&m.ifcond, d.finish())
    }

    fn variant(&mut self, b: &Branch) -> Entry {
        let mut d = DictBuilder::default();
        d.set("case", Node::Str(b.name.clone()));
        d.set("type", Node::Str(self.use_type(b.ty)));
        Entry::new(&b.ifcond, d.finish())
    }

    fn enum_member(v: &EnumValue) -> Entry {
        let mut d = DictBuilder::default();
        d.set("name", Node::Str(v.name.clone()));
        if !v.features.is_empty() {
            d.set("features", Self::features(&v.features));
        }
        Entry::new(&v.ifcond, d.finish())
    }

    /// `visit_command` and `visit_event`.
    fn visit_definition(&mut self, e: &'a Entity) {
        let mut d = DictBuilder::default();
        d.set("name", Node::Str(e.name.clone()));
        match &e.kind {
            EntityKind::Command(c) => {
                let arg = self.use_type(c.arg_type.unwrap_or(self.empty));
                let ret = self.use_type(c.ret_type.unwrap_or(self.empty));
                d.set("arg-type", Node::Str(arg));
                d.set("ret-type", Node::Str(ret));
                if c.allow_oob {
                    d.set("allow-oob", Node::Bool(true));
                }
                self.push_named(e, "command", d);
            }
            EntityKind::Event(ev) => {
                let arg = self.use_type(ev.arg_type.unwrap_or(self.empty));
                d.set("arg-type", Node::Str(arg));
                self.push_named(e, "event", d);
            }
            _ => {}
        }
    }

    /// The `visit_*_type` methods, for a used type.
    fn visit_type(&mut self, id: EntityId) {
        let schema = self.schema;
        let e = schema.entity(id);
        let mut d = DictBuilder::default();
        match &e.kind {
            EntityKind::Builtin { json_type } => {
                let json_type = match json_type {
                    JsonType::String => "string",
                    JsonType::Number => "number",
                    JsonType::Int => "int",
                    JsonType::Boolean => "boolean",
                    JsonType::Null => "null",
                    JsonType::Value => "value",
                };
                d.set("name", Node::Str(e.name.clone()));
                d.set("json-type", Node::Str(json_type.to_owned()));
                self.push_named(e, "builtin", d);
            }
            EntityKind::Enum { values, .. } => {
                d.set(
                    "members",
                    Node::List(values.iter().map(Self::enum_member).collect()),
                );
                d.set(
                    "values",
                    Node::List(
                        values
                            .iter()
                            .map(|v| Entry::new(&v.ifcond, Node::Str(v.name.clone())))
                            .collect(),
                    ),
                );
                self.push(e, "enum", d);
            }
            EntityKind::Array { element, .. } => {
                let element = self.use_type(*element);
                d.set("name", Node::Str(format!("[{element}]")));
                d.set("element-type", Node::Str(element));
                self.push_named(e, "array", d);
            }
            EntityKind::Object(o) => {
                let members = o.members.iter().map(|m| self.member(m)).collect();
                d.set("members", Node::List(members));
                if let Some(u) = &o.union {
                    d.set("tag", Node::Str(u.tag.clone()));
                    let variants = u.branches.iter().map(|b| self.variant(b)).collect();
                    d.set("variants", Node::List(variants));
                }
                self.push(e, "object", d);
            }
            EntityKind::Alternate { branches } => {
                let members = branches
                    .iter()
                    .map(|b| {
                        let mut m = DictBuilder::default();
                        m.set("type", Node::Str(self.use_type(b.ty)));
                        Entry::new(&b.ifcond, m.finish())
                    })
                    .collect();
                d.set("members", Node::List(members));
                self.push(e, "alternate", d);
            }
            EntityKind::Include { .. } | EntityKind::Command(_) | EntityKind::Event(_) => {}
        }
    }
}

/// The answer's entries, conditions still attached.
fn entries(schema: &Schema, unmask: bool) -> Vec<Entry> {
    let mut b = Builder::new(schema, unmask);
    // `QAPISchema.visit` goes module by module; the first pass skips types.
    for module in &schema.modules {
        for &id in &module.entities {
            let e = schema.entity(id);
            if matches!(e.kind, EntityKind::Command(_) | EntityKind::Event(_)) {
                b.visit_definition(e);
            }
        }
    }
    // `visit_end`: the used types; visiting one may queue more.
    let mut i = 0;
    while let Some(&id) = b.used.get(i) {
        b.visit_type(id);
        i += 1;
    }
    b.entries
}

/// Whether a condition holds (`None`: unconditional).
fn holds(ifcond: &Option<IfCond>, defined: &dyn Fn(&str) -> bool) -> bool {
    match ifcond {
        None => true,
        Some(c) => c.eval(defined),
    }
}

fn to_value(node: &Node, defined: &dyn Fn(&str) -> bool) -> Value {
    match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Str(s) => Value::String(s.clone()),
        Node::List(items) => Value::Array(
            items
                .iter()
                .filter(|e| holds(&e.ifcond, defined))
                .map(|e| to_value(&e.node, defined))
                .collect(),
        ),
        Node::Dict(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), to_value(v, defined)))
                .collect::<Map<String, Value>>(),
        ),
    }
}

/// The `query-qmp-schema` answer (the array under `"return"`) of a QEMU
/// built from `schema` with the configuration symbols for which `defined`
/// is true; type names masked as QEMU masks them unless `unmask` (QEMU's
/// `qapi-gen -u`).
///
/// Objects keep QEMU's key order (with serde_json's `preserve_order`,
/// which this workspace enables), so `serde_json::to_string` of the result
/// is the text QEMU sends, without its spaces.
pub fn schema_info(schema: &Schema, defined: &dyn Fn(&str) -> bool, unmask: bool) -> Value {
    to_value(&Node::List(entries(schema, unmask)), defined)
}

/// A step of the generated function: a piece of text, a comma unless the
/// list so far is empty, or steps under a cfg.
#[derive(Debug)]
enum Op {
    Lit(String),
    Sep,
    Cfg(TokenStream, Vec<Op>),
}

/// Steps with adjacent text merged.
#[derive(Debug, Default)]
struct Ops(Vec<Op>);

impl Ops {
    fn lit(&mut self, text: &str) {
        match self.0.last_mut() {
            Some(Op::Lit(last)) => last.push_str(text),
            _ => self.0.push(Op::Lit(text.to_owned())),
        }
    }

    fn extend(&mut self, other: Ops) {
        for op in other.0 {
            match op {
                Op::Lit(text) => self.lit(&text),
                op => self.0.push(op),
            }
        }
    }

    /// Appends the steps that write `node` in compact JSON.
    fn node(&mut self, node: &Node, cfg: &CfgMap) {
        match node {
            Node::Null => self.lit("null"),
            Node::Bool(b) => self.lit(if *b { "true" } else { "false" }),
            Node::Str(s) => self.lit(&Value::String(s.clone()).to_string()),
            Node::Dict(pairs) => {
                self.lit("{");
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        self.lit(",");
                    }
                    self.lit(&format!("\"{k}\":"));
                    self.node(v, cfg);
                }
                self.lit("}");
            }
            Node::List(items) => {
                /// What the list may hold so far.
                #[derive(PartialEq)]
                enum Seen {
                    Nothing,
                    Something,
                    Maybe,
                }
                let mut seen = Seen::Nothing;
                self.lit("[");
                for item in items {
                    let resolved = cfg.resolve(item.ifcond.as_ref());
                    if !resolved.is_possible() {
                        continue;
                    }
                    let mut inner = Ops::default();
                    match seen {
                        Seen::Nothing => {}
                        Seen::Something => inner.lit(","),
                        Seen::Maybe => inner.0.push(Op::Sep),
                    }
                    inner.node(&item.node, cfg);
                    match resolved {
                        Resolved::Cfg(_) => {
                            self.0.push(Op::Cfg(resolved.attr(), inner.0));
                            if seen == Seen::Nothing {
                                seen = Seen::Maybe;
                            }
                        }
                        _ => {
                            self.extend(inner);
                            seen = Seen::Something;
                        }
                    }
                }
                self.lit("]");
            }
        }
    }
}

/// Total length of the text, counting every conditional piece.
fn max_len(ops: &[Op]) -> usize {
    ops.iter()
        .map(|op| match op {
            Op::Lit(s) => s.len(),
            Op::Sep => 1,
            Op::Cfg(_, inner) => max_len(inner),
        })
        .sum()
}

fn uses_sep(ops: &[Op]) -> bool {
    ops.iter().any(|op| match op {
        Op::Sep => true,
        Op::Cfg(_, inner) => uses_sep(inner),
        Op::Lit(_) => false,
    })
}

fn statements(ops: &[Op]) -> TokenStream {
    ops.iter()
        .map(|op| match op {
            // `push_str` of one character is a clippy warning.
            Op::Lit(text) if text.chars().count() == 1 => {
                let c = Literal::character(text.chars().next().unwrap_or(' '));
                quote!(s.push(#c);)
            }
            Op::Lit(text) => {
                let text = Literal::string(text);
                quote!(s.push_str(#text);)
            }
            Op::Sep => quote!(sep(&mut s);),
            Op::Cfg(attr, inner) => {
                let inner = statements(inner);
                quote!(#attr { #inner })
            }
        })
        .collect()
}

/// Rust items that give the [`schema_info`] answer at run time, for the
/// generated crate's `introspection` module: `pub fn qmp_schema_json()`
/// returns the compact JSON text, each symbol's condition decided through
/// `cfg` (symbols mapped to cfg predicates become `#[cfg]` attributes on
/// the statements that add the conditional pieces).
///
/// The text is built from string literals, consecutive unconditional
/// pieces merged into one, so that even the full QMP schema compiles fast
/// and the function allocates once. The code needs only `std`.
pub fn generate(schema: &Schema, cfg: &CfgMap, unmask: bool) -> TokenStream {
    let mut ops = Ops::default();
    ops.node(&Node::List(entries(schema, unmask)), cfg);
    let doc = format!(
        " The `query-qmp-schema` answer as compact JSON, in QEMU's order, type\n \
         names {}.",
        if unmask {
            "unmasked"
        } else {
            "masked as QEMU masks them"
        }
    );
    let body = match &ops.0[..] {
        [Op::Lit(text)] => {
            let text = Literal::string(text);
            quote!(::std::string::String::from(#text))
        }
        _ => {
            let capacity = Literal::usize_unsuffixed(max_len(&ops.0));
            // Used only under `#[cfg]`s that may all be false.
            let unused = (!ops.0.iter().any(|op| matches!(op, Op::Sep)))
                .then(|| quote!(#[allow(dead_code)]));
            let sep = uses_sep(&ops.0).then(|| {
                quote! {
                    /// A comma before a list element unless it is the first.
                    #unused
                    fn sep(s: &mut ::std::string::String) {
                        if !s.ends_with('[') {
                            s.push(',');
                        }
                    }
                }
            });
            let statements = statements(&ops.0);
            quote! {
                #sep
                let mut s = ::std::string::String::with_capacity(#capacity);
                #statements
                s
            }
        }
    };
    quote! {
        #[doc = #doc]
        pub fn qmp_schema_json() -> ::std::string::String {
            #body
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A schema from text, through a file in a fresh directory.
    fn load(text: &str) -> Schema {
        let dir = std::env::temp_dir().join(format!(
            "qapi-introspect-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path: PathBuf = dir.join("schema.json");
        std::fs::write(&path, text).unwrap();
        let schema = qapi_parser::load(&path, &qapi_parser::Options::default());
        std::fs::remove_dir_all(&dir).unwrap();
        schema.unwrap_or_else(|e| panic!("{e}"))
    }

    const SCHEMA: &str = r#"
{ 'enum': 'Color', 'data': [ { 'name': 'blue', 'if': 'HAVE_BLUE' }, 'red',
                             { 'name': 'old', 'features': [ 'deprecated' ] } ] }
{ 'struct': 'Base', 'data': { 'kind': 'Color', '*n': 'uint8' } }
{ 'struct': 'Red', 'data': { 'x': ['int16'], 'c': 'Color' },
  'features': [ 'f1', { 'name': 'f2', 'if': 'HAVE_F2' } ] }
{ 'union': 'Uni', 'base': 'Base', 'discriminator': 'kind',
  'data': { 'red': 'Red' } }
{ 'alternate': 'Alt', 'data': { 'n': 'number', 'u': { 'type': 'Uni', 'if': 'HAVE_U' } } }
{ 'struct': 'Unused', 'data': { 'a': 'str' } }
{ 'struct': 'Args', 'data': { 'a': 'Alt', '*b': { 'type': 'str', 'if': 'HAVE_B' } } }
{ 'command': 'first', 'data': 'Args', 'boxed': true,
  'returns': [ 'Red' ], 'allow-oob': true }
{ 'event': 'EV', 'if': 'HAVE_EV', 'data': { 'w': 'Uni' } }
{ 'command': 'second', 'if': { 'not': 'HAVE_EV' } }
"#;

    fn defined(symbols: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |s: &str| symbols.contains(&s)
    }

    #[test]
    fn key_order_is_qdict_bucket_order() {
        // qobject/qdict.c's tdb_hash, taken modulo QDICT_BUCKET_MAX (512).
        fn bucket(name: &str) -> u32 {
            let mut value = 0x238F_13AFu32.wrapping_mul(name.len() as u32);
            for (i, b) in name.bytes().enumerate() {
                value = value.wrapping_add(u32::from(b) << (i * 5 % 24));
            }
            1_103_515_243u32.wrapping_mul(value).wrapping_add(12345) % 512
        }
        let buckets: Vec<u32> = KEY_ORDER.iter().map(|k| bucket(k)).collect();
        assert!(
            buckets.windows(2).all(|w| w[0] < w[1]),
            "{KEY_ORDER:?} {buckets:?}"
        );
    }

    #[test]
    fn answer_for_a_small_schema() {
        let schema = load(SCHEMA);
        let all = schema_info(
            &schema,
            &defined(&["HAVE_BLUE", "HAVE_F2", "HAVE_U", "HAVE_B", "HAVE_EV"]),
            false,
        );
        // One line per entry, checked by hand against introspect.py.
        let want = [
            r#"{"name":"first","ret-type":"[1]","allow-oob":true,"meta-type":"command","arg-type":"0"}"#,
            r#"{"name":"EV","meta-type":"event","arg-type":"2"}"#,
            r#"{"name":"0","members":[{"name":"a","type":"4"},{"name":"b","default":null,"type":"str"}],"meta-type":"object"}"#,
            r#"{"name":"[1]","element-type":"1","meta-type":"array"}"#,
            r#"{"name":"1","members":[{"name":"x","type":"[int]"},{"name":"c","type":"5"}],"meta-type":"object","features":["f1","f2"]}"#,
            r#"{"name":"2","members":[{"name":"w","type":"6"}],"meta-type":"object"}"#,
            r#"{"name":"3","members":[],"meta-type":"object"}"#,
            r#"{"name":"4","members":[{"type":"number"},{"type":"6"}],"meta-type":"alternate"}"#,
            r#"{"name":"str","json-type":"string","meta-type":"builtin"}"#,
            r#"{"name":"[int]","element-type":"int","meta-type":"array"}"#,
            r#"{"name":"int","json-type":"int","meta-type":"builtin"}"#,
            r#"{"name":"5","members":[{"name":"blue"},{"name":"red"},{"name":"old","features":["deprecated"]}],"meta-type":"enum","values":["blue","red","old"]}"#,
            r#"{"name":"6","tag":"kind","variants":[{"case":"red","type":"1"},{"case":"blue","type":"3"},{"case":"old","type":"3"}],"members":[{"name":"kind","type":"5"},{"name":"n","default":null,"type":"int"}],"meta-type":"object"}"#,
            r#"{"name":"number","json-type":"number","meta-type":"builtin"}"#,
        ];
        let want = format!("[{}]", want.join(","));
        assert_eq!(all.to_string(), want);

        // Without symbols: conditional parts go, numbers stay.
        let none = schema_info(&schema, &defined(&[]), false).to_string();
        assert!(!none.contains(r#""name":"EV""#));
        assert!(none.contains(r#"{"name":"second","ret-type":"3""#));
        assert!(none.contains(r#""members":[{"type":"number"}],"meta-type":"alternate""#));
        assert!(none.contains(r#""features":["f1"]"#));
        assert!(none.contains(r#""values":["red","old"]"#));
        assert!(none.contains(r#""members":[{"name":"red"},{"name":"old","features""#));
        assert!(
            none.contains(r#""variants":[{"case":"red","type":"1"},{"case":"old","type":"3"}]"#)
        );
        // Type 6 (Uni) is still listed: it has no condition of its own.
        assert!(none.contains(r#"{"name":"6","tag":"kind""#));
    }

    #[test]
    fn unmask_keeps_the_names() {
        let schema = load(SCHEMA);
        let all = schema_info(&schema, &|_| true, true).to_string();
        assert!(all.starts_with(
            r#"[{"name":"first","ret-type":"[Red]","allow-oob":true,"meta-type":"command","arg-type":"Args"}"#
        ));
        assert!(all.contains(r#"{"name":"Uni","tag":"kind""#));
        assert!(all.contains(r#"{"name":"[Red]","element-type":"Red","meta-type":"array"}"#));
        assert!(!all.contains("Unused"));
    }

    #[test]
    fn commands_go_module_by_module() {
        let dir = std::env::temp_dir().join(format!("qapi-introspect-mod-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("top.json"),
            "{ 'include': 'a.json' }\n{ 'command': 'top' }\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("a.json"),
            "{ 'include': 'b.json' }\n{ 'command': 'in-a' }\n",
        )
        .unwrap();
        std::fs::write(dir.join("b.json"), "{ 'command': 'in-b' }\n").unwrap();
        let schema = qapi_parser::load(dir.join("top.json"), &qapi_parser::Options::default());
        std::fs::remove_dir_all(&dir).unwrap();
        let info = schema_info(&schema.unwrap(), &|_| true, false);
        let names: Vec<&str> = info
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert_eq!(names, ["top", "in-a", "in-b", "0"]);
    }

    fn pretty(tokens: TokenStream) -> String {
        let file: syn::File = syn::parse2(tokens).unwrap_or_else(|e| panic!("{e}"));
        prettyplease::unparse(&file)
    }

    #[test]
    fn generated_code_parses_and_folds_conditions() {
        let schema = load(SCHEMA);
        let mut cfg = CfgMap::new();
        cfg.define("HAVE_F2")
            .map("HAVE_BLUE", "feature = \"blue\"")
            .unwrap()
            .map("HAVE_EV", "feature = \"ev\"")
            .unwrap()
            .map("HAVE_U", "unix")
            .unwrap();
        let code = pretty(generate(&schema, &cfg, false));
        assert!(code.contains("pub fn qmp_schema_json() -> ::std::string::String"));
        assert!(code.contains("#[cfg(feature = \"ev\")]"));
        assert!(code.contains("#[cfg(not(feature = \"ev\"))]"));
        assert!(code.contains("#[cfg(unix)]"));
        // Folded: f2 is always there, b never.
        assert!(code.contains(r#"\"features\":[\"f1\",\"f2\"]"#));
        assert!(!code.contains(r#"\"b\""#));
        // Color's values start with a conditional one, so the next one
        // needs the comma decided at run time.
        assert!(code.contains("#[cfg(feature = \"blue\")]"));
        assert!(code.contains("fn sep("));

        // No conditions at all: one literal.
        let code = pretty(generate(
            &schema,
            &CfgMap::new().unmapped_defined(true).clone(),
            true,
        ));
        assert!(!code.contains("#[cfg"));
        assert!(code.contains("::std::string::String::from("));
    }

    /// Evaluates the generated steps as the compiled code would, for one
    /// choice of the mapped predicates, by rendering them with a tiny
    /// interpreter over the same `Op`s.
    fn run(ops: &[Op], on: &dyn Fn(&str) -> bool, s: &mut String) {
        for op in ops {
            match op {
                Op::Lit(t) => s.push_str(t),
                Op::Sep => {
                    if !s.ends_with('[') {
                        s.push(',');
                    }
                }
                Op::Cfg(attr, inner) => {
                    if on(&attr.to_string()) {
                        run(inner, on, s);
                    }
                }
            }
        }
    }

    #[test]
    fn generated_steps_give_the_same_text() {
        let schema = load(SCHEMA);
        let symbols = ["HAVE_BLUE", "HAVE_F2", "HAVE_U", "HAVE_B", "HAVE_EV"];
        let mut cfg = CfgMap::new();
        for s in symbols {
            cfg.map(s, &format!("feature = \"{s}\"")).unwrap();
        }
        let mut ops = Ops::default();
        ops.node(&Node::List(entries(&schema, false)), &cfg);
        for mask in 0..(1u32 << symbols.len()) {
            let on_syms: Vec<&str> = symbols
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, s)| *s)
                .collect();
            let is_on = |s: &str| on_syms.contains(&s);
            // Every attribute here is `# [cfg (feature = "X")]` or its `not`.
            let attr_on = |attr: &str| {
                let sym = symbols
                    .iter()
                    .find(|s| attr.contains(&format!("\"{s}\"")))
                    .unwrap();
                is_on(sym) != attr.contains("not")
            };
            let mut text = String::new();
            run(&ops.0, &attr_on, &mut text);
            let want = schema_info(&schema, &is_on, false).to_string();
            assert_eq!(text, want, "symbols {on_syms:?}");
            assert!(max_len(&ops.0) >= text.len());
        }
    }
}
