//! Building the IR from checked definitions, then the semantic checks:
//! type resolution, redefinitions, member clashes, union and alternate
//! rules, command and event rules, documentation attachment.  A port of
//! the reference's `schema.py`, in its order of checks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::error::{Error, Result};
use crate::expr::{ArgDef, BranchDef, Def, DefKind, FeatureDef, MemberDef, TypeRef, ValueDef};
use crate::ir::*;
use crate::naming::c_name;
use crate::parser::Parsed;
use crate::source::{abspath, InfoId};

const UNRESOLVED: EntityId = EntityId(u32::MAX);
const BUILTIN_MODULE: &str = "./builtin";

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Unchecked,
    Checking,
    Complete,
}

/// How a member is named in clash messages.
#[derive(Clone)]
struct Seen {
    name: String,
    role: &'static str,
    defined_in: String,
}

struct Builder {
    s: Schema,
    module_by_name: HashMap<String, ModuleId>,
    module_by_file: HashMap<crate::source::FileId, ModuleId>,
    features: IndexMap<String, Option<InfoId>>,
    schema_dir: PathBuf,
    state: Vec<State>,
    legacy: bool,
}

/// Python's `os.path.relpath(path, start)` on absolute, normalized paths.
fn relpath(path: &Path, start: &Path) -> String {
    let p: Vec<_> = path.components().collect();
    let s: Vec<_> = start.components().collect();
    let common = p.iter().zip(&s).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); s.len() - common];
    parts.extend(
        p[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Builds and checks the schema.
pub(crate) fn build(fname: &str, parsed: Parsed, defs: Vec<Def>, legacy: bool) -> Result<Schema> {
    let dir = match fname.rfind('/') {
        Some(i) => &fname[..i.max(1)],
        None => "",
    };
    let mut b = Builder {
        s: Schema {
            source: parsed.map,
            entities: Vec::with_capacity(defs.len() * 2),
            modules: Vec::new(),
            docs: parsed.docs,
            pragma: parsed.pragma,
            feature_names: Vec::new(),
            by_name: HashMap::with_capacity(defs.len() * 2),
        },
        module_by_name: HashMap::new(),
        module_by_file: HashMap::new(),
        features: IndexMap::new(),
        schema_dir: abspath(Path::new(dir)),
        state: Vec::new(),
        legacy,
    };
    for f in ["deprecated", "unstable"] {
        b.features.insert(f.into(), None);
    }
    b.make_module(BUILTIN_MODULE);
    b.make_module(fname);
    b.def_predefineds()?;
    for def in defs {
        b.def_expr(def)?;
    }
    b.check()?;
    b.s.feature_names = b.features.keys().cloned().collect();
    Ok(b.s)
}

impl Builder {
    fn err(&self, info: Option<InfoId>, msg: impl Into<String>) -> Error {
        match info {
            Some(i) => Error::at(&self.s.source, i, None, msg.into()),
            None => Error::Unreadable {
                file: String::new(),
                reason: msg.into(),
            },
        }
    }

    fn module_name(&self, fname: &str) -> String {
        if fname.starts_with("./") && fname == BUILTIN_MODULE {
            return fname.to_owned();
        }
        relpath(&abspath(Path::new(fname)), &self.schema_dir)
    }

    fn make_module(&mut self, fname: &str) -> ModuleId {
        let name = self.module_name(fname);
        if let Some(&id) = self.module_by_name.get(&name) {
            return id;
        }
        let id = ModuleId(self.s.modules.len() as u32);
        self.s.modules.push(Module {
            name: name.clone(),
            entities: Vec::new(),
        });
        self.module_by_name.insert(name, id);
        id
    }

    fn entity(&self, id: EntityId) -> &Entity {
        &self.s.entities[id.0 as usize]
    }

    fn entity_mut(&mut self, id: EntityId) -> &mut Entity {
        &mut self.s.entities[id.0 as usize]
    }

    fn push_entity(&mut self, e: Entity) -> EntityId {
        self.s.entities.push(e);
        self.state.push(State::Unchecked);
        EntityId(self.s.entities.len() as u32 - 1)
    }

    /// The reference's `describe()` of a type or definition.
    fn describe(&self, id: EntityId) -> String {
        let e = self.entity(id);
        match &e.kind {
            EntityKind::Array { element_name, .. } => format!("array type ['{element_name}']"),
            EntityKind::Command(_) | EntityKind::Event(_) => format!("{} '{}'", e.meta(), e.name),
            _ => format!("{} type '{}'", e.meta(), e.name),
        }
    }

    fn def_definition(&mut self, e: Entity) -> Result<EntityId> {
        let info = e.info;
        let name = e.name.clone();
        let id = self.push_entity(e);
        if let Some(&other) = self.s.by_name.get(&name) {
            return Err(match self.entity(other).info {
                Some(oi) => {
                    let where_ = format!("{}: previous definition", self.s.source.describe(oi));
                    self.err(info, format!("'{name}' is already defined\n{where_}"))
                }
                None => self.err(info, format!("{} is already defined", self.describe(other))),
            });
        }
        self.s.by_name.insert(name, id);
        Ok(id)
    }

    fn lookup_type(&self, name: &str) -> Option<EntityId> {
        self.s
            .by_name
            .get(name)
            .copied()
            .filter(|&id| self.entity(id).is_type())
    }

    fn new_entity(name: String, info: Option<InfoId>, kind: EntityKind) -> Entity {
        Entity {
            name,
            info,
            doc: None,
            ifcond: None,
            features: Vec::new(),
            kind,
            module: ModuleId(0),
        }
    }

    fn def_predefineds(&mut self) -> Result<()> {
        use JsonType::*;
        for (name, json_type) in [
            ("str", String),
            ("number", Number),
            ("int", Int),
            ("int8", Int),
            ("int16", Int),
            ("int32", Int),
            ("int64", Int),
            ("uint8", Int),
            ("uint16", Int),
            ("uint32", Int),
            ("uint64", Int),
            ("size", Int),
            ("bool", Boolean),
            ("any", Value),
            ("null", Null),
        ] {
            self.def_definition(Self::new_entity(
                name.into(),
                None,
                EntityKind::Builtin { json_type },
            ))?;
            self.make_array_type(name, None)?;
        }
        self.def_definition(Self::new_entity(
            "q_empty".into(),
            None,
            EntityKind::Object(ObjectType {
                base_name: None,
                base: None,
                local_members: Vec::new(),
                members: Vec::new(),
                union: None,
            }),
        ))?;
        let values = [
            "none", "qnull", "qnum", "qstring", "qdict", "qlist", "qbool",
        ]
        .iter()
        .map(|n| EnumValue {
            name: (*n).into(),
            ifcond: None,
            features: Vec::new(),
            info: None,
        })
        .collect();
        self.def_definition(Self::new_entity(
            "QType".into(),
            None,
            EntityKind::Enum {
                values,
                prefix: None,
            },
        ))?;
        Ok(())
    }

    fn make_features(&mut self, features: Vec<FeatureDef>, info: Option<InfoId>) -> Vec<Feature> {
        features
            .into_iter()
            .map(|f| {
                if !self.features.contains_key(&f.name) {
                    self.features.insert(f.name.clone(), info);
                }
                Feature {
                    name: f.name,
                    info,
                    ifcond: f.ifcond,
                }
            })
            .collect()
    }

    fn make_array_type(&mut self, element: &str, info: Option<InfoId>) -> Result<String> {
        let name = format!("{element}List");
        if self.lookup_type(&name).is_none() {
            self.def_definition(Self::new_entity(
                name.clone(),
                info,
                EntityKind::Array {
                    element_name: element.into(),
                    element: UNRESOLVED,
                },
            ))?;
        }
        Ok(name)
    }

    fn type_name(&mut self, ty: &TypeRef, info: InfoId) -> Result<String> {
        if ty.array {
            self.make_array_type(&ty.name, Some(info))
        } else {
            Ok(ty.name.clone())
        }
    }

    fn make_members(
        &mut self,
        defs: Vec<MemberDef>,
        info: InfoId,
        defined_in: &str,
    ) -> Result<Vec<Member>> {
        let mut out = Vec::with_capacity(defs.len());
        for m in defs {
            let type_name = self.type_name(&m.ty, info)?;
            let features = self.make_features(m.features, Some(info));
            out.push(Member {
                name: m.name,
                type_name,
                ty: UNRESOLVED,
                optional: m.optional,
                ifcond: m.ifcond,
                features,
                defined_in: defined_in.to_owned(),
                info: Some(info),
            });
        }
        Ok(out)
    }

    fn object(
        base_name: Option<String>,
        local_members: Vec<Member>,
        union: Option<Union>,
    ) -> EntityKind {
        EntityKind::Object(ObjectType {
            base_name,
            base: None,
            local_members,
            members: Vec::new(),
            union,
        })
    }

    fn make_implicit_object_type(
        &mut self,
        name: &str,
        info: InfoId,
        ifcond: Option<IfCond>,
        role: &str,
        members: Vec<MemberDef>,
    ) -> Result<Option<String>> {
        if members.is_empty() {
            return Ok(None);
        }
        let name = format!("q_obj_{name}-{role}");
        if !self.s.by_name.contains_key(&name) {
            let members = self.make_members(members, info, &name)?;
            let mut e =
                Self::new_entity(name.clone(), Some(info), Self::object(None, members, None));
            e.ifcond = ifcond;
            self.def_definition(e)?;
        }
        Ok(Some(name))
    }

    fn make_branches(&mut self, defs: Vec<BranchDef>, info: InfoId) -> Result<Vec<Branch>> {
        let mut out = Vec::with_capacity(defs.len());
        for b in defs {
            let type_name = self.type_name(&b.ty, info)?;
            out.push(Branch {
                name: b.name,
                type_name,
                ty: UNRESOLVED,
                ifcond: b.ifcond,
                info: Some(info),
            });
        }
        Ok(out)
    }

    fn def_expr(&mut self, def: Def) -> Result<()> {
        let Def {
            name,
            info,
            doc,
            ifcond,
            features,
            kind,
            ..
        } = def;
        let kind = match kind {
            DefKind::Include(file) => {
                let module = self.make_module(&file);
                let e = Self::new_entity(file, Some(info), EntityKind::Include { module });
                self.push_entity(e);
                return Ok(());
            }
            DefKind::Enum { values, prefix } => {
                let features = self.make_features(features, Some(info));
                let values = self.make_enum_values(values, info);
                return self.def_named(
                    name,
                    info,
                    doc,
                    ifcond,
                    features,
                    EntityKind::Enum { values, prefix },
                );
            }
            other => other,
        };
        let features = self.make_features(features, Some(info));
        let kind = match kind {
            DefKind::Struct { base, members } => {
                let members = self.make_members(members, info, &name)?;
                Self::object(base, members, None)
            }
            DefKind::Union {
                base,
                discriminator: Some(tag),
                branches,
            } => {
                let base = match base {
                    Some(ArgDef::Inline(m)) => {
                        self.make_implicit_object_type(&name, info, ifcond.clone(), "base", m)?
                    }
                    Some(ArgDef::Named(n)) => Some(n),
                    None => None,
                };
                let branches = self.make_branches(branches, info)?;
                Self::object(base, Vec::new(), Some(Union { tag, branches }))
            }
            DefKind::Union {
                base: _,
                discriminator: None,
                branches,
            } => self.make_simple_union(&name, info, ifcond.clone(), branches)?,
            DefKind::Alternate { branches } => EntityKind::Alternate {
                branches: self.make_branches(branches, info)?,
            },
            DefKind::Command {
                data,
                returns,
                gen,
                success_response,
                boxed,
                allow_oob,
                allow_preconfig,
                coroutine,
            } => {
                let arg_type_name = self.arg_type(&name, info, ifcond.clone(), data)?;
                let ret_type_name = match returns {
                    Some(r) => Some(self.type_name(&r, info)?),
                    None => None,
                };
                EntityKind::Command(Command {
                    arg_type_name,
                    arg_type: None,
                    ret_type_name,
                    ret_type: None,
                    gen,
                    success_response,
                    boxed,
                    allow_oob,
                    allow_preconfig,
                    coroutine,
                })
            }
            DefKind::Event { data, boxed } => {
                let arg_type_name = self.arg_type(&name, info, ifcond.clone(), data)?;
                EntityKind::Event(Event {
                    arg_type_name,
                    arg_type: None,
                    boxed,
                })
            }
            DefKind::Include(_) | DefKind::Enum { .. } => unreachable!("handled above"),
        };
        self.def_named(name, info, doc, ifcond, features, kind)
    }

    fn def_named(
        &mut self,
        name: String,
        info: InfoId,
        doc: Option<usize>,
        ifcond: Option<IfCond>,
        features: Vec<Feature>,
        kind: EntityKind,
    ) -> Result<()> {
        let mut e = Self::new_entity(name, Some(info), kind);
        e.doc = doc;
        e.ifcond = ifcond;
        e.features = features;
        self.def_definition(e)?;
        Ok(())
    }

    fn make_enum_values(&mut self, values: Vec<ValueDef>, info: InfoId) -> Vec<EnumValue> {
        values
            .into_iter()
            .map(|v| EnumValue {
                features: self.make_features(v.features, Some(info)),
                name: v.name,
                ifcond: v.ifcond,
                info: Some(info),
            })
            .collect()
    }

    fn arg_type(
        &mut self,
        name: &str,
        info: InfoId,
        ifcond: Option<IfCond>,
        data: Option<ArgDef>,
    ) -> Result<Option<String>> {
        match data {
            Some(ArgDef::Inline(m)) => self.make_implicit_object_type(name, info, ifcond, "arg", m),
            Some(ArgDef::Named(n)) => Ok(Some(n)),
            None => Ok(None),
        }
    }

    /// A simple union (QEMU before 6.2), the way QEMU built it: an enum
    /// `<Name>Kind` of the branch names, a wrapper type `q_obj_<T>-wrapper`
    /// with one member `data` per branch type, and the tag member `type`
    /// (here in an implicit base, as today's language spells it).
    fn make_simple_union(
        &mut self,
        name: &str,
        info: InfoId,
        ifcond: Option<IfCond>,
        defs: Vec<BranchDef>,
    ) -> Result<EntityKind> {
        let mut branches = Vec::with_capacity(defs.len());
        for b in defs {
            let typ = self.type_name(&b.ty, info)?;
            let wrapper = self
                .make_implicit_object_type(
                    &typ,
                    info,
                    None,
                    "wrapper",
                    vec![MemberDef {
                        name: "data".into(),
                        optional: false,
                        ty: TypeRef {
                            name: typ.clone(),
                            array: false,
                        },
                        ifcond: None,
                        features: Vec::new(),
                    }],
                )?
                .unwrap_or_default();
            branches.push(Branch {
                name: b.name,
                type_name: wrapper,
                ty: UNRESOLVED,
                ifcond: b.ifcond,
                info: Some(info),
            });
        }
        let kind_name = format!("{name}Kind");
        let values = branches
            .iter()
            .map(|b| EnumValue {
                name: b.name.clone(),
                ifcond: b.ifcond.clone(),
                features: Vec::new(),
                info: Some(info),
            })
            .collect();
        let mut e = Self::new_entity(
            kind_name.clone(),
            Some(info),
            EntityKind::Enum {
                values,
                prefix: None,
            },
        );
        e.ifcond = ifcond.clone();
        self.def_definition(e)?;
        let base = self.make_implicit_object_type(
            name,
            info,
            ifcond,
            "base",
            vec![MemberDef {
                name: "type".into(),
                optional: false,
                ty: TypeRef {
                    name: kind_name,
                    array: false,
                },
                ifcond: None,
                features: Vec::new(),
            }],
        )?;
        Ok(Self::object(
            base,
            Vec::new(),
            Some(Union {
                tag: "type".into(),
                branches,
            }),
        ))
    }

    // ----- checks ------------------------------------------------------

    fn resolve_type(
        &self,
        name: &str,
        info: Option<InfoId>,
        what: impl FnOnce() -> String,
    ) -> Result<EntityId> {
        self.lookup_type(name)
            .ok_or_else(|| self.err(info, format!("{} uses unknown type '{name}'", what())))
    }

    /// The reference's `QAPISchemaMember.describe(info)`.
    fn describe_member(&self, m: &Seen, info: Option<InfoId>) -> String {
        let mut role = m.role.to_owned();
        let mut meta = "type";
        let mut defined_in = m.defined_in.as_str();
        if let Some(rest) = defined_in.strip_prefix("q_obj_") {
            defined_in = rest;
            if let Some(r) = rest.strip_suffix("-arg") {
                role = "parameter".into();
                meta = "command";
                defined_in = r;
            } else if let Some(r) = rest.strip_suffix("-base") {
                role = format!("base {role}");
                defined_in = r;
            } else if let Some(r) = rest.strip_suffix("-wrapper") {
                defined_in = r;
            }
        }
        let defn = info.and_then(|i| self.s.source.definition_name(i));
        if Some(defined_in) != defn {
            format!("{role} '{}' of {meta} '{defined_in}'", m.name)
        } else {
            format!("{role} '{}'", m.name)
        }
    }

    fn check_clash(
        &self,
        m: Seen,
        info: Option<InfoId>,
        seen: &mut HashMap<String, Seen>,
    ) -> Result<()> {
        let cname = c_name(&m.name, true);
        if let Some(other) = seen.get(&cname) {
            return Err(self.err(
                info,
                format!(
                    "{} collides with {}",
                    self.describe_member(&m, info),
                    self.describe_member(other, info)
                ),
            ));
        }
        seen.insert(cname, m);
        Ok(())
    }

    fn seen_member(m: &Member) -> Seen {
        Seen {
            name: m.name.clone(),
            role: "member",
            defined_in: m.defined_in.clone(),
        }
    }

    fn check_features(
        &self,
        features: &[Feature],
        defined_in: &str,
        info: Option<InfoId>,
    ) -> Result<()> {
        let mut seen = HashMap::new();
        for f in features {
            self.check_clash(
                Seen {
                    name: f.name.clone(),
                    role: "feature",
                    defined_in: defined_in.to_owned(),
                },
                info,
                &mut seen,
            )?;
        }
        Ok(())
    }

    /// `QAPISchemaDefinition.check` plus, for types, the special-feature
    /// rule.
    fn check_definition(&self, id: EntityId) -> Result<()> {
        let e = self.entity(id);
        self.check_features(&e.features, &e.name, e.info)?;
        if e.is_type() {
            if let Some(f) = e.features.iter().find(|f| f.is_special()) {
                return Err(self.err(
                    e.info,
                    format!("feature '{}' is not supported for types", f.name),
                ));
            }
        }
        Ok(())
    }

    fn check(&mut self) -> Result<()> {
        for i in 0..self.s.entities.len() {
            let id = EntityId(i as u32);
            self.check_entity(id)?;
            self.connect_doc(id, None)?;
        }
        for i in 0..self.s.entities.len() {
            self.set_module(EntityId(i as u32));
        }
        if !self.legacy {
            for doc in &self.s.docs {
                doc.check(&self.s.source)?;
            }
        }
        if self.features.len() > 64 {
            let info = self.features[64];
            return Err(self.err(info, "Maximum of 64 schema features is permitted"));
        }
        Ok(())
    }

    fn check_entity(&mut self, id: EntityId) -> Result<()> {
        let e = self.entity(id);
        match &e.kind {
            EntityKind::Include { .. } => Ok(()),
            EntityKind::Builtin { .. } => self.check_definition(id),
            EntityKind::Enum { values, .. } => {
                self.check_definition(id)?;
                let mut seen = HashMap::new();
                for v in values {
                    self.check_clash(
                        Seen {
                            name: v.name.clone(),
                            role: "value",
                            defined_in: e.name.clone(),
                        },
                        e.info,
                        &mut seen,
                    )?;
                }
                Ok(())
            }
            EntityKind::Array { element_name, .. } => {
                self.check_definition(id)?;
                let info = e.info;
                let meta = info
                    .and_then(|i| self.s.source.info(i).definition.as_ref().map(|d| d.0))
                    .unwrap_or("");
                let element = self.resolve_type(element_name, info, || meta.to_owned())?;
                if let EntityKind::Array { element: el, .. } = &mut self.entity_mut(id).kind {
                    *el = element;
                }
                // An array's condition is its element type's.
                let cond = self.entity(element).ifcond.clone();
                self.entity_mut(id).ifcond = cond;
                Ok(())
            }
            EntityKind::Object(_) => self.check_object(id),
            EntityKind::Alternate { .. } => self.check_alternate(id),
            EntityKind::Command(_) => self.check_command(id),
            EntityKind::Event(_) => self.check_event(id),
        }
    }

    fn object_type(&self, id: EntityId) -> Option<&ObjectType> {
        match &self.entity(id).kind {
            EntityKind::Object(o) => Some(o),
            _ => None,
        }
    }

    /// Members (and, for unions, every branch's members) of a checked
    /// object type against `seen`.
    fn object_check_clash(
        &self,
        id: EntityId,
        info: Option<InfoId>,
        seen: &mut HashMap<String, Seen>,
    ) -> Result<()> {
        let o = self.object_type(id).expect("an object type");
        for m in &o.members {
            self.check_clash(Self::seen_member(m), info, seen)?;
        }
        if let Some(u) = &o.union {
            self.branches_check_clash(u, info, seen)?;
        }
        Ok(())
    }

    fn branches_check_clash(
        &self,
        u: &Union,
        info: Option<InfoId>,
        seen: &HashMap<String, Seen>,
    ) -> Result<()> {
        for b in &u.branches {
            let mut s = seen.clone();
            self.object_check_clash(b.ty, info, &mut s)?;
        }
        Ok(())
    }

    fn check_object(&mut self, id: EntityId) -> Result<()> {
        match self.state[id.0 as usize] {
            State::Complete => return Ok(()),
            State::Checking => {
                let e = self.entity(id);
                return Err(self.err(e.info, format!("object {} contains itself", e.name)));
            }
            State::Unchecked => {}
        }
        self.state[id.0 as usize] = State::Checking;
        self.check_definition(id)?;
        let info = self.entity(id).info;
        let mut seen: HashMap<String, Seen> = HashMap::new();
        let mut members: Vec<Member> = Vec::new();
        let base_name = self.object_type(id).and_then(|o| o.base_name.clone());

        let mut base = None;
        if let Some(base_name) = &base_name {
            let b = self.resolve_type(base_name, info, || "'base'".into())?;
            let is_struct = self.object_type(b).is_some_and(|bo| bo.union.is_none());
            if !is_struct {
                return Err(self.err(
                    info,
                    format!("'base' requires a struct type, {} isn't", self.describe(b)),
                ));
            }
            self.check_object(b)?;
            self.object_check_clash(b, info, &mut seen)?;
            members.extend(
                self.object_type(b)
                    .expect("checked")
                    .members
                    .iter()
                    .cloned(),
            );
            base = Some(b);
        }
        // Work on the members outside the entity, and put them back below.
        let (mut local, mut union) = match &mut self.entity_mut(id).kind {
            EntityKind::Object(o) => (std::mem::take(&mut o.local_members), o.union.take()),
            _ => unreachable!("check_object on an object type"),
        };
        for m in local.iter_mut() {
            let seen_m = Self::seen_member(m);
            m.ty = self.resolve_type(&m.type_name, m.info, || {
                self.describe_member(&seen_m, m.info)
            })?;
            self.check_features(&m.features, &m.name, m.info)?;
            self.check_clash(seen_m, info, &mut seen)?;
            members.push(m.clone());
        }

        if let Some(u) = union.as_mut() {
            let name = self.entity(id).name.clone();
            self.check_union_branches(u, &name, info, &seen)?;
            self.branches_check_clash(u, info, &seen)?;
        }
        if let EntityKind::Object(obj) = &mut self.entity_mut(id).kind {
            obj.base = base;
            obj.local_members = local;
            obj.members = members;
            obj.union = union;
        }
        self.state[id.0 as usize] = State::Complete;
        Ok(())
    }

    /// `QAPISchemaBranches.check`.
    fn check_union_branches(
        &mut self,
        u: &mut Union,
        union_name: &str,
        info: Option<InfoId>,
        seen: &HashMap<String, Seen>,
    ) -> Result<()> {
        let explicit = u.branches.len();
        let tag = &u.tag;
        let Some(tag_seen) = seen.get(&c_name(tag, true)).filter(|m| &m.name == tag) else {
            return Err(self.err(
                info,
                format!("discriminator '{tag}' is not a member of 'base'"),
            ));
        };
        let defined_in = tag_seen.defined_in.clone();
        let base_id = self
            .lookup_type(&defined_in)
            .expect("the tag's type exists");
        let base = if self.entity(base_id).is_implicit() {
            "'base'".to_owned()
        } else {
            format!("base type '{defined_in}'")
        };
        let tag_member = self
            .object_type(base_id)
            .and_then(|o| o.members.iter().find(|m| &m.name == tag))
            .expect("the tag member is in its type")
            .clone();
        let enum_values = match &self.entity(tag_member.ty).kind {
            EntityKind::Enum { values, .. } => values.clone(),
            // QEMU 1.7 discriminated on a string member; its branch names
            // are the values.
            EntityKind::Builtin {
                json_type: JsonType::String,
            } if self.legacy => u
                .branches
                .iter()
                .map(|b| EnumValue {
                    name: b.name.clone(),
                    ifcond: b.ifcond.clone(),
                    features: Vec::new(),
                    info: b.info,
                })
                .collect(),
            _ => {
                return Err(self.err(
                    info,
                    format!("discriminator member '{tag}' of {base} must be of enum type"),
                ))
            }
        };
        if tag_member.optional {
            return Err(self.err(
                info,
                format!("discriminator member '{tag}' of {base} must not be optional"),
            ));
        }
        if tag_member.ifcond.is_some() {
            return Err(self.err(
                info,
                format!("discriminator member '{tag}' of {base} must not be conditional"),
            ));
        }
        for v in &enum_values {
            if !u.branches.iter().any(|b| b.name == v.name) {
                u.branches.push(Branch {
                    name: v.name.clone(),
                    type_name: "q_empty".into(),
                    ty: UNRESOLVED,
                    ifcond: v.ifcond.clone(),
                    info,
                });
            }
        }
        if u.branches.is_empty() {
            return Err(self.err(info, "union has no branches"));
        }
        let enum_describe = self.describe(tag_member.ty);
        for (i, b) in u.branches.iter_mut().enumerate() {
            let seen_b = Seen {
                name: b.name.clone(),
                role: "branch",
                defined_in: if i < explicit {
                    union_name.to_owned()
                } else {
                    defined_in.clone()
                },
            };
            b.ty = self.resolve_type(&b.type_name, b.info, || {
                self.describe_member(&seen_b, b.info)
            })?;
            if !enum_values.iter().any(|v| v.name == b.name) {
                return Err(self.err(
                    info,
                    format!("branch '{}' is not a value of {enum_describe}", b.name),
                ));
            }
            if self.object_type(b.ty).is_none() {
                return Err(self.err(
                    info,
                    format!(
                        "{} cannot use {}",
                        self.describe_member(&seen_b, info),
                        self.describe(b.ty)
                    ),
                ));
            }
            self.check_object(b.ty)?;
        }
        Ok(())
    }

    fn check_alternate(&mut self, id: EntityId) -> Result<()> {
        self.check_definition(id)?;
        let e = self.entity(id);
        let info = e.info;
        let name = e.name.clone();
        let EntityKind::Alternate { branches } = &e.kind else {
            unreachable!()
        };
        let mut branches = branches.clone();
        for b in branches.iter_mut() {
            let seen_b = Seen {
                name: b.name.clone(),
                role: "branch",
                defined_in: name.clone(),
            };
            b.ty = self.resolve_type(&b.type_name, b.info, || {
                self.describe_member(&seen_b, b.info)
            })?;
        }
        let mut seen = HashMap::new();
        let mut types_seen: Vec<(&'static str, String)> = Vec::new();
        for b in &branches {
            let seen_b = Seen {
                name: b.name.clone(),
                role: "branch",
                defined_in: name.clone(),
            };
            self.check_clash(seen_b.clone(), info, &mut seen)?;
            let t = self.entity(b.ty);
            let qtype = match &t.kind {
                EntityKind::Builtin { json_type } => match json_type {
                    JsonType::String => Some("QTYPE_QSTRING"),
                    JsonType::Number | JsonType::Int => Some("QTYPE_QNUM"),
                    JsonType::Boolean => Some("QTYPE_QBOOL"),
                    JsonType::Null => Some("QTYPE_QNULL"),
                    JsonType::Value => None,
                },
                EntityKind::Enum { .. } => Some("QTYPE_QSTRING"),
                EntityKind::Array { .. } => Some("QTYPE_QLIST"),
                EntityKind::Object(_) => Some("QTYPE_QDICT"),
                _ => None,
            };
            let Some(qtype) = qtype else {
                return Err(self.err(
                    info,
                    format!(
                        "{} cannot use {}",
                        self.describe_member(&seen_b, info),
                        self.describe(b.ty)
                    ),
                ));
            };
            let mut conflicting = vec![qtype];
            if qtype == "QTYPE_QSTRING" {
                if let EntityKind::Enum { values, .. } = &t.kind {
                    for v in values {
                        if (v.name == "on" || v.name == "off")
                            && !conflicting.contains(&"QTYPE_QBOOL")
                        {
                            conflicting.push("QTYPE_QBOOL");
                        }
                        if v.name.starts_with(|c: char| {
                            matches!(c, '-' | '+' | '.') || c.is_ascii_digit()
                        }) && !conflicting.contains(&"QTYPE_QNUM")
                        {
                            conflicting.push("QTYPE_QNUM");
                        }
                    }
                } else {
                    conflicting.push("QTYPE_QNUM");
                    conflicting.push("QTYPE_QBOOL");
                }
            }
            for qt in conflicting {
                if let Some((_, other)) = types_seen.iter().find(|(t, _)| *t == qt) {
                    if !self.legacy {
                        return Err(self.err(
                            info,
                            format!(
                                "{} can't be distinguished from '{other}'",
                                self.describe_member(&seen_b, info)
                            ),
                        ));
                    }
                }
                types_seen.push((qt, b.name.clone()));
            }
        }
        if let EntityKind::Alternate { branches: bs } = &mut self.entity_mut(id).kind {
            *bs = branches;
        }
        Ok(())
    }

    /// The argument type of a command or event; `what` is "command" or
    /// "event".
    fn check_arg_type(
        &mut self,
        id: EntityId,
        name: &str,
        boxed: bool,
        what: &str,
    ) -> Result<Option<EntityId>> {
        let info = self.entity(id).info;
        let arg = self.resolve_type(name, info, || format!("{what}'s 'data'"))?;
        let Some(o) = self.object_type(arg) else {
            return Err(self.err(
                info,
                format!("{what}'s 'data' cannot take {}", self.describe(arg)),
            ));
        };
        if o.union.is_some() && !boxed {
            return Err(self.err(
                info,
                format!(
                    "{what}'s 'data' can take {} only with 'boxed': true",
                    self.describe(arg)
                ),
            ));
        }
        self.check_object(arg)?;
        let conditional = self
            .object_type(arg)
            .is_some_and(|o| o.members.iter().any(|m| m.ifcond.is_some()));
        if conditional && !boxed {
            return Err(self.err(
                info,
                format!("conditional {what} arguments require 'boxed': true"),
            ));
        }
        Ok(Some(arg))
    }

    fn check_command(&mut self, id: EntityId) -> Result<()> {
        self.check_definition(id)?;
        let e = self.entity(id);
        let info = e.info;
        let name = e.name.clone();
        let EntityKind::Command(c) = &e.kind else {
            unreachable!()
        };
        let c = c.clone();
        let arg_type = match &c.arg_type_name {
            Some(n) => self.check_arg_type(id, n, c.boxed, "command")?,
            None => None,
        };
        let mut ret_type = None;
        if let Some(r) = &c.ret_type_name {
            let ret = self.resolve_type(r, info, || "command's 'returns'".into())?;
            let excepted = self.s.pragma.command_returns_exceptions.contains(&name);
            if !excepted && !self.legacy {
                let mut t = ret;
                if let EntityKind::Array { element, .. } = &self.entity(t).kind {
                    t = *element;
                }
                if self.object_type(t).is_none() {
                    return Err(self.err(
                        info,
                        format!("command's 'returns' cannot take {}", self.describe(ret)),
                    ));
                }
            }
            ret_type = Some(ret);
        }
        if let EntityKind::Command(c) = &mut self.entity_mut(id).kind {
            c.arg_type = arg_type;
            c.ret_type = ret_type;
        }
        Ok(())
    }

    fn check_event(&mut self, id: EntityId) -> Result<()> {
        self.check_definition(id)?;
        let EntityKind::Event(ev) = &self.entity(id).kind else {
            unreachable!()
        };
        let ev = ev.clone();
        let arg_type = match &ev.arg_type_name {
            Some(n) => self.check_arg_type(id, n, ev.boxed, "event")?,
            None => None,
        };
        if let EntityKind::Event(ev) = &mut self.entity_mut(id).kind {
            ev.arg_type = arg_type;
        }
        Ok(())
    }

    // ----- documentation ----------------------------------------------

    fn connect_feature(&mut self, doc: usize, f: &Feature) -> Result<()> {
        let strict = !self.legacy;
        self.s.docs[doc].connect_feature(&self.s.source, &f.name, f.info, strict)
    }

    fn connect_member(
        &mut self,
        doc: usize,
        name: &str,
        role: &str,
        info: Option<InfoId>,
    ) -> Result<()> {
        let strict = !self.legacy;
        let info = info.unwrap_or(self.s.docs[doc].info);
        self.s.docs[doc].connect_member(
            &self.s.source,
            name,
            role,
            info,
            &self.s.pragma.documentation_exceptions,
            strict,
        )
    }

    fn connect_doc(&mut self, id: EntityId, doc: Option<usize>) -> Result<()> {
        let Some(doc) = doc.or(self.entity(id).doc) else {
            return Ok(());
        };
        // Borrow the entity's parts out while the doc is updated (the
        // recursion only visits other entities: implicit bases and
        // argument types), and put them back whatever happens.
        let e = self.entity_mut(id);
        let kind = std::mem::replace(
            &mut e.kind,
            EntityKind::Include {
                module: ModuleId(0),
            },
        );
        let features = std::mem::take(&mut e.features);
        let result = self.connect_doc_parts(doc, &kind, &features);
        let e = self.entity_mut(id);
        e.kind = kind;
        e.features = features;
        result
    }

    fn connect_doc_parts(
        &mut self,
        doc: usize,
        kind: &EntityKind,
        features: &[Feature],
    ) -> Result<()> {
        for f in features {
            self.connect_feature(doc, f)?;
        }
        match kind {
            EntityKind::Enum { values, .. } => {
                for v in values {
                    self.connect_member(doc, &v.name, "value", v.info)?;
                    for f in &v.features {
                        self.connect_feature(doc, f)?;
                    }
                }
            }
            EntityKind::Object(o) => {
                if let Some(b) = o.base {
                    if self.entity(b).is_implicit() {
                        self.connect_doc(b, Some(doc))?;
                    }
                }
                for m in &o.local_members {
                    self.connect_member(doc, &m.name, "member", m.info)?;
                    for f in &m.features {
                        self.connect_feature(doc, f)?;
                    }
                }
            }
            EntityKind::Alternate { branches } => {
                for b in branches {
                    self.connect_member(doc, &b.name, "branch", b.info)?;
                }
            }
            EntityKind::Command(Command {
                arg_type: Some(a), ..
            })
            | EntityKind::Event(Event {
                arg_type: Some(a), ..
            }) if self.entity(*a).is_implicit() => {
                self.connect_doc(*a, Some(doc))?;
            }
            _ => {}
        }
        Ok(())
    }

    fn set_module(&mut self, id: EntityId) {
        let e = self.entity(id);
        let info = match &e.kind {
            EntityKind::Array { element, .. } => self.entity(*element).info,
            _ => e.info,
        };
        let module = match info {
            Some(i) => {
                let file = self.s.source.info(i).file;
                match self.module_by_file.get(&file) {
                    Some(&m) => m,
                    None => {
                        let fname = self.s.source.file(file).name.clone();
                        let m = self.make_module(&fname);
                        self.module_by_file.insert(file, m);
                        m
                    }
                }
            }
            None => ModuleId(0),
        };
        self.entity_mut(id).module = module;
        self.s.modules[module.0 as usize].entities.push(id);
    }
}
