//! What every part of the Rust back end needs to know about the schema:
//! Rust names, folded conditions, which references need a `Box`, which
//! types can derive `Eq`, and how to spell a type reference.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Ident, TokenStream};
use qapi_parser::doc::Doc;
use qapi_parser::ir::{Entity, EntityId, EntityKind, Feature, JsonType, Member, Schema};
use quote::{format_ident, quote};

use super::{GenerateError, Options, Unstable};
use crate::cfg::{CfgMap, Predicate, Resolved};
use crate::names::{self, Namespace};

/// The Rust names of generated items, by entity.
#[derive(Debug, Default)]
pub struct TypeNames {
    /// Types at the top level.
    pub types: HashMap<EntityId, Ident>,
    /// Commands' request types, in `commands`.
    pub commands: HashMap<EntityId, Ident>,
    /// Events' data types, in `events`.
    pub events: HashMap<EntityId, Ident>,
    /// Unions' branch enums, at the top level.
    pub branches: HashMap<EntityId, Ident>,
    /// Each enum's variant names, one per value in schema order
    /// (discriminators and their unions' dispatch use the same ones).
    pub variants: HashMap<EntityId, Vec<Ident>>,
}

/// The generator's view of a schema.
pub(crate) struct Context<'a> {
    pub schema: &'a Schema,
    pub options: &'a Options,
    pub rt: TokenStream,
    pub names: TypeNames,
    pub cfg_map: CfgMap,
    unstable: Resolved,
    conds: Vec<Resolved>,
    boxed: HashSet<(EntityId, EntityId)>,
    eq: Vec<bool>,
    pub derives: Vec<TokenStream>,
    attributes: Vec<(String, TokenStream)>,
}

/// Whether an object entity gets a top-level Rust type.
pub(crate) fn is_top_level_object(e: &Entity) -> bool {
    matches!(e.kind, EntityKind::Object(_))
        && e.name != "q_empty"
        && !(e.name.starts_with("q_obj_")
            && (e.name.ends_with("-arg") || e.name.ends_with("-base")))
}

impl<'a> Context<'a> {
    pub fn new(schema: &'a Schema, options: &'a Options) -> Result<Self, GenerateError> {
        let rt: TokenStream = options
            .runtime
            .parse()
            .ok()
            .filter(|t: &TokenStream| syn::parse2::<syn::Path>(t.clone()).is_ok())
            .ok_or_else(|| GenerateError::BadRuntimePath(options.runtime.clone()))?;
        let derives = options
            .derives
            .iter()
            .map(|d| {
                d.parse::<TokenStream>()
                    .ok()
                    .filter(|t| syn::parse2::<syn::Path>(t.clone()).is_ok())
                    .ok_or_else(|| GenerateError::BadDerive(d.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let attributes = options
            .type_attributes
            .iter()
            .map(|(name, a)| {
                let t: TokenStream = a
                    .parse()
                    .map_err(|_| GenerateError::BadAttribute(a.clone()))?;
                let parsed = syn::parse::Parser::parse2(syn::Attribute::parse_outer, t.clone());
                match parsed {
                    Ok(v) if !v.is_empty() => Ok((name.clone(), t)),
                    _ => Err(GenerateError::BadAttribute(a.clone())),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let unstable = match &options.unstable {
            Unstable::Include => Resolved::Always,
            Unstable::Omit => Resolved::Never,
            Unstable::Cfg(p) => {
                let t: TokenStream = p
                    .parse()
                    .map_err(|_| GenerateError::BadUnstableCfg(p.clone()))?;
                syn::parse2::<syn::Meta>(t)
                    .map_err(|_| GenerateError::BadUnstableCfg(p.clone()))?;
                Resolved::Cfg(Predicate::Leaf(p.clone()))
            }
        };
        let mut cx = Context {
            schema,
            options,
            rt,
            names: TypeNames::default(),
            cfg_map: options.cfg.clone(),
            unstable,
            conds: Vec::new(),
            boxed: HashSet::new(),
            eq: Vec::new(),
            derives,
            attributes,
        };
        cx.conds = schema
            .entities
            .iter()
            .map(|e| {
                let c = cx.cfg_map.resolve(e.ifcond.as_ref());
                match e.kind {
                    EntityKind::Command(_) | EntityKind::Event(_) => {
                        c.and(&cx.special_gate(&e.features))
                    }
                    _ => c,
                }
            })
            .collect();
        cx.conds = cx.needed_conds();
        cx.assign_names();
        cx.find_boxed();
        cx.find_eq();
        Ok(cx)
    }

    fn assign_names(&mut self) {
        let mut types = Namespace::default();
        let mut commands = Namespace::with_reserved(&["Commands", "AsyncCommands"]);
        let mut events = Namespace::with_reserved(&["Event"]);
        for (i, e) in self.schema.entities.iter().enumerate() {
            let id = EntityId(i as u32);
            match &e.kind {
                EntityKind::Enum { values, .. } if e.name != "QType" => {
                    let n = types.claim(names::type_name(&e.name));
                    self.names.types.insert(id, format_ident!("{}", n));
                    let mut ns = self.variant_namespace();
                    let variants = values
                        .iter()
                        .map(|v| format_ident!("{}", ns.claim(names::variant_name(&v.name))))
                        .collect();
                    self.names.variants.insert(id, variants);
                }
                EntityKind::Alternate { .. } => {
                    let n = types.claim(names::type_name(&e.name));
                    self.names.types.insert(id, format_ident!("{}", n));
                }
                EntityKind::Object(_) if is_top_level_object(e) => {
                    let n = types.claim(names::type_name(&e.name));
                    self.names.types.insert(id, format_ident!("{}", n));
                }
                EntityKind::Command(_) => {
                    let n = commands.claim(names::type_name(&e.name));
                    self.names.commands.insert(id, format_ident!("{}", n));
                }
                EntityKind::Event(_) => {
                    let n = events.claim(names::type_name(&e.name));
                    self.names.events.insert(id, format_ident!("{}", n));
                }
                _ => {}
            }
        }
        // Unions' branch enums share the type namespace; named after the
        // union with `Branch`, claimed after every schema type so a schema
        // type never gets renamed because of them.
        let unions: Vec<(EntityId, String)> = self
            .schema
            .entities
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(&e.kind, EntityKind::Object(o) if o.union.is_some()))
            .filter_map(|(i, _)| {
                let id = EntityId(i as u32);
                self.names.types.get(&id).map(|n| (id, n.to_string()))
            })
            .collect();
        for (id, n) in unions {
            let b = types.claim(format!("{n}Branch"));
            self.names.branches.insert(id, format_ident!("{}", b));
        }
    }

    /// The variant namespace of one enum or union: `Unknown` is taken
    /// when enums are open (it keeps unknown values).
    pub fn variant_namespace(&self) -> Namespace {
        if self.options.open_enums {
            Namespace::with_reserved(&["Unknown"])
        } else {
            Namespace::default()
        }
    }

    /// The variant of enum `id` for its value `name`.
    pub fn enum_variant(&self, id: EntityId, name: &str) -> Option<&Ident> {
        let EntityKind::Enum { values, .. } = &self.schema.entity(id).kind else {
            return None;
        };
        let i = values.iter().position(|v| v.name == name)?;
        self.names.variants.get(&id)?.get(i)
    }

    /// The gate for special features: `unstable` follows the options.
    pub fn special_gate(&self, features: &[Feature]) -> Resolved {
        if features.iter().any(|f| f.name == "unstable") {
            self.unstable.clone()
        } else {
            Resolved::Always
        }
    }

    /// An entity's folded condition (commands and events include the
    /// unstable gate).
    pub fn cond(&self, id: EntityId) -> Resolved {
        self.conds[id.0 as usize].clone()
    }

    /// The entities' conditions with what they need folded in: QEMU does
    /// not check that a definition's condition implies those of the types
    /// it needs, so a schema may refer to a type some configuration leaves
    /// out. An object type needs its base, a union its discriminator enum,
    /// an array its element, a command its argument and return types, an
    /// event its data type.
    /// (Members and branches that need a missing type are left out where
    /// they are generated: see [`Context::member_cond`],
    /// [`Context::ref_cond`].)
    fn needed_conds(&self) -> Vec<Resolved> {
        let own = &self.conds;
        let mut out: Vec<Option<Resolved>> = vec![None; own.len()];
        for i in 0..own.len() {
            object_cond(self.schema, own, &mut out, i);
        }
        let mut out: Vec<Resolved> = out
            .into_iter()
            .map(|r| r.unwrap_or(Resolved::Always))
            .collect();
        // Arrays of arrays are not QAPI.
        for (i, e) in self.schema.entities.iter().enumerate() {
            if let EntityKind::Array { element, .. } = &e.kind {
                out[i] = out[i].and(&out[element.0 as usize].clone());
            }
        }
        for (i, e) in self.schema.entities.iter().enumerate() {
            let needs: Vec<EntityId> = match &e.kind {
                EntityKind::Command(c) => c.arg_type.into_iter().chain(c.ret_type).collect(),
                EntityKind::Event(ev) => ev.arg_type.into_iter().collect(),
                _ => continue,
            };
            for t in needs {
                out[i] = out[i].and(&out[t.0 as usize].clone());
            }
        }
        out
    }

    /// The condition a reference from `owner` to `ty` adds: `ty`'s own,
    /// unless `owner` already has exactly that condition (so that members
    /// of conditional types do not repeat their owner's `#[cfg]`).
    pub fn ref_cond(&self, owner: Option<EntityId>, ty: EntityId) -> Resolved {
        let t = self.cond(ty);
        match (owner.map(|o| self.cond(o)), &t) {
            (Some(Resolved::Cfg(a)), Resolved::Cfg(b)) if a == *b => Resolved::Always,
            _ => t,
        }
    }

    /// A member's folded condition: its `if`, the unstable gate, and the
    /// condition of its type.
    pub fn member_cond(&self, m: &Member) -> Resolved {
        let owner = self.schema.lookup_id(&m.defined_in);
        self.cfg_map
            .resolve(m.ifcond.as_ref())
            .and(&self.special_gate(&m.features))
            .and(&self.ref_cond(owner, m.ty))
    }

    /// The special-features bit set as a runtime constant.
    pub fn special(&self, features: &[Feature]) -> Option<TokenStream> {
        let rt = &self.rt;
        let d = features.iter().any(|f| f.name == "deprecated");
        let u = features.iter().any(|f| f.name == "unstable");
        match (d, u) {
            (false, false) => None,
            (true, false) => Some(quote!(#rt::Special::DEPRECATED)),
            (false, true) => Some(quote!(#rt::Special::UNSTABLE)),
            (true, true) => Some(quote!(#rt::Special::BOTH)),
        }
    }

    /// `#[deprecated]` for items with the `deprecated` feature.
    pub fn deprecated_attr(&self, features: &[Feature]) -> TokenStream {
        if features.iter().any(|f| f.name == "deprecated") {
            quote!(#[deprecated])
        } else {
            TokenStream::new()
        }
    }

    /// Extra derives and attributes the user asked for on this type.
    pub fn user_attrs(&self, qapi_name: &str) -> TokenStream {
        let mut out = TokenStream::new();
        if !self.derives.is_empty() {
            let d = &self.derives;
            out.extend(quote!(#[derive(#(#d),*)]));
        }
        for (name, attr) in &self.attributes {
            if name == "*" || name == qapi_name {
                out.extend(attr.clone());
            }
        }
        out
    }

    /// The direct containment edges of a type (members, branches), with
    /// arrays seen through only as far as their element: a `Vec` already
    /// breaks a cycle, so arrays contribute no edge.
    fn inline_edges(&self, id: EntityId) -> Vec<EntityId> {
        if !self.schema.entity(id).is_type() {
            return Vec::new();
        }
        let mut out = self.inline_edges_all(id);
        out.retain(|t| !matches!(self.schema.entity(*t).kind, EntityKind::Array { .. }));
        out
    }

    /// Finds the references that must be boxed: those inside a cycle of
    /// inline containment (Tarjan's strongly connected components).
    fn find_boxed(&mut self) {
        let n = self.schema.entities.len();
        let edges: Vec<Vec<EntityId>> = (0..n)
            .map(|i| self.inline_edges(EntityId(i as u32)))
            .collect();
        let mut index = vec![usize::MAX; n];
        let mut low = vec![0usize; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut comp = vec![usize::MAX; n];
        let mut next = 0usize;
        let mut ncomp = 0usize;
        for root in 0..n {
            if index[root] != usize::MAX {
                continue;
            }
            // Iterative DFS: (node, next edge position).
            let mut work = vec![(root, 0usize)];
            index[root] = next;
            low[root] = next;
            next += 1;
            stack.push(root);
            on_stack[root] = true;
            while let Some(&mut (v, ref mut pos)) = work.last_mut() {
                if *pos < edges[v].len() {
                    let w = edges[v][*pos].0 as usize;
                    *pos += 1;
                    if index[w] == usize::MAX {
                        index[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        work.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                } else {
                    work.pop();
                    if let Some(&(parent, _)) = work.last() {
                        low[parent] = low[parent].min(low[v]);
                    }
                    if low[v] == index[v] {
                        while let Some(w) = stack.pop() {
                            on_stack[w] = false;
                            comp[w] = ncomp;
                            if w == v {
                                break;
                            }
                        }
                        ncomp += 1;
                    }
                }
            }
        }
        for (v, targets) in edges.iter().enumerate() {
            for t in targets {
                let w = t.0 as usize;
                if comp[v] == comp[w] {
                    self.boxed.insert((EntityId(v as u32), *t));
                }
            }
        }
    }

    /// Whether a reference from `from` to `to` is boxed.
    pub fn is_boxed(&self, from: EntityId, to: EntityId) -> bool {
        self.boxed.contains(&(from, to))
    }

    /// Which types can derive `Eq`: all but those holding a `number`
    /// (greatest fixed point, so recursive types are `Eq` unless a cycle
    /// reaches a float).
    fn find_eq(&mut self) {
        let n = self.schema.entities.len();
        let mut eq = vec![true; n];
        for (i, e) in self.schema.entities.iter().enumerate() {
            if let EntityKind::Builtin {
                json_type: JsonType::Number,
            } = e.kind
            {
                eq[i] = false;
            }
        }
        loop {
            let mut changed = false;
            for i in 0..n {
                if !eq[i] {
                    continue;
                }
                let e = &self.schema.entities[i];
                let deps: Vec<EntityId> = match &e.kind {
                    EntityKind::Array { element, .. } => vec![*element],
                    _ => self.inline_edges_all(EntityId(i as u32)),
                };
                if deps.iter().any(|d| !eq[d.0 as usize]) {
                    eq[i] = false;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        self.eq = eq;
    }

    /// Every type an entity holds directly: members and branches of types,
    /// the argument type of commands and events.
    fn inline_edges_all(&self, id: EntityId) -> Vec<EntityId> {
        let e = self.schema.entity(id);
        let mut out = Vec::new();
        match &e.kind {
            EntityKind::Object(o) => {
                out.extend(o.members.iter().map(|m| m.ty));
                if let Some(u) = &o.union {
                    out.extend(u.branches.iter().map(|b| b.ty));
                }
            }
            EntityKind::Alternate { branches } => out.extend(branches.iter().map(|b| b.ty)),
            EntityKind::Command(c) => out.extend(c.arg_type),
            EntityKind::Event(ev) => out.extend(ev.arg_type),
            _ => {}
        }
        out
    }

    /// Whether values of this type can derive `Eq`.
    pub fn is_eq(&self, id: EntityId) -> bool {
        self.eq[id.0 as usize]
    }

    /// The Rust type for a reference to `ty`, from inside the top level
    /// (`up` false) or a submodule (`up` true).
    pub fn type_ref(&self, ty: EntityId, up: bool) -> TokenStream {
        let rt = &self.rt;
        let e = self.schema.entity(ty);
        match &e.kind {
            EntityKind::Builtin { .. } => match e.name.as_str() {
                "str" => quote!(String),
                "int" | "int64" => quote!(i64),
                "int8" => quote!(i8),
                "int16" => quote!(i16),
                "int32" => quote!(i32),
                "uint8" => quote!(u8),
                "uint16" => quote!(u16),
                "uint32" => quote!(u32),
                "uint64" | "size" => quote!(u64),
                "number" => quote!(f64),
                "bool" => quote!(bool),
                "null" => quote!(#rt::input::Null),
                _ => quote!(#rt::Value),
            },
            EntityKind::Array { element, .. } => {
                let inner = self.type_ref(*element, up);
                quote!(Vec<#inner>)
            }
            _ => match self.names.types.get(&ty) {
                Some(name) if up => quote!(super::#name),
                Some(name) => quote!(#name),
                // QType and other built-in enums travel as strings.
                None => quote!(String),
            },
        }
    }

    /// `ty`'s Rust type as a field of `owner`, boxed where needed.
    pub fn field_type(&self, owner: EntityId, ty: EntityId, up: bool) -> TokenStream {
        let t = self.type_ref(ty, up);
        if self.is_boxed(owner, ty) {
            quote!(Box<#t>)
        } else {
            t
        }
    }

    /// A visit function for types whose reading differs from their Rust
    /// type's `Visit` (`size`, and arrays of it); `None` when the trait
    /// does the job.
    pub fn visit_fn(&self, ty: EntityId) -> Option<TokenStream> {
        let rt = &self.rt;
        let e = self.schema.entity(ty);
        match &e.kind {
            EntityKind::Builtin { .. } if e.name == "size" => Some(quote!(#rt::Input::size)),
            EntityKind::Array { element, .. } => {
                let inner = self.visit_fn(*element)?;
                Some(quote!(
                    |i: &mut #rt::Input, n: Option<&'static str>, v: #rt::Value| i.list(n, v, #inner)
                ))
            }
            _ => None,
        }
    }

    /// The documentation block that describes `member`: the defining
    /// type's, or for implicit types the command's, event's or union's.
    pub fn member_doc_owner(&self, defined_in: &str) -> Option<&'a Doc> {
        let owner = defined_in
            .strip_prefix("q_obj_")
            .map(|rest| {
                rest.strip_suffix("-arg")
                    .or_else(|| rest.strip_suffix("-base"))
                    .or_else(|| rest.strip_suffix("-wrapper"))
                    .unwrap_or(rest)
            })
            .unwrap_or(defined_in);
        let e = self.schema.lookup(owner)?;
        self.schema.doc_of(e)
    }

    /// `#[doc]` attributes for an item's documentation block.
    pub fn item_docs(&self, e: &Entity) -> TokenStream {
        let text = self
            .schema
            .doc_of(e)
            .and_then(|d| crate::docs::item_doc(self.schema, d));
        let mut out = doc_lines(text.as_deref().unwrap_or(""));
        if text.is_none() {
            let line = format!(" `{}` (no documentation in the schema)", e.name);
            out = quote!(#[doc = #line]);
        }
        out.extend(self.wire_note(e));
        out
    }

    fn wire_note(&self, e: &Entity) -> TokenStream {
        let mut lines = Vec::new();
        let features: Vec<&str> = e.features.iter().map(|f| f.name.as_str()).collect();
        let documented = self
            .schema
            .doc_of(e)
            .is_some_and(|d| !d.features.is_empty());
        if !features.is_empty() && !documented {
            lines.push(String::new());
            lines.push(format!(" QAPI features: `{}`.", features.join("`, `")));
        }
        if let Some(c) = &e.ifcond {
            lines.push(String::new());
            lines.push(format!(" QAPI condition: `{c}`."));
        }
        let attrs = lines.iter().map(|l| quote!(#[doc = #l]));
        quote!(#(#attrs)*)
    }

    /// `#[doc]` attributes for a member, branch or enum value described
    /// in `doc`.
    pub fn member_docs(&self, doc: Option<&Doc>, name: &str, features: &[Feature]) -> TokenStream {
        let text = doc.and_then(|d| crate::docs::member_doc(self.schema, d, name));
        let mut out = match text {
            Some(t) => doc_lines(&t),
            None => {
                let line = format!(" `{name}`");
                quote!(#[doc = #line])
            }
        };
        if !features.is_empty() {
            let f: Vec<&str> = features.iter().map(|f| f.name.as_str()).collect();
            let blank = "";
            let line = format!(" QAPI features: `{}`.", f.join("`, `"));
            out.extend(quote!(#[doc = #blank] #[doc = #line]));
        }
        out
    }
}

/// The condition of entity `i` with its base's and, for a union, its
/// discriminator's folded in (memoized in `out`; base chains are acyclic).
fn object_cond(
    schema: &Schema,
    own: &[Resolved],
    out: &mut [Option<Resolved>],
    i: usize,
) -> Resolved {
    if let Some(r) = &out[i] {
        return r.clone();
    }
    let mut r = own[i].clone();
    if let EntityKind::Object(o) = &schema.entities[i].kind {
        if let Some(tag) = o
            .union
            .as_ref()
            .and_then(|u| o.members.iter().find(|m| m.name == u.tag))
        {
            r = r.and(&own[tag.ty.0 as usize]);
        }
        if let Some(base) = o.base {
            r = r.and(&object_cond(schema, own, out, base.0 as usize));
        }
    }
    out[i] = Some(r.clone());
    r
}

/// One `#[doc = " line"]` per line.
pub(crate) fn doc_lines(text: &str) -> TokenStream {
    let attrs = text.lines().map(|l| {
        let l = if l.is_empty() {
            String::new()
        } else {
            format!(" {l}")
        };
        quote!(#[doc = #l])
    });
    quote!(#(#attrs)*)
}
