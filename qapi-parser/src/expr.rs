//! Expression checks: each top-level definition's keys, names, flags,
//! conditions and features, in the reference's order (`expr.py`).
//! A definition that passes comes out typed, ready for `schema.rs`.

use crate::ast::{Object, Value};
use crate::doc::Doc;
use crate::error::{Error, Result};
use crate::ir::IfCond;
use crate::naming::{c_name, is_camel, name_stem};
use crate::parser::{Parsed, TopLevel};
use crate::source::{InfoId, Pragma, SourceMap};

/// A type reference as written: a name, or a one-element array of one.
#[derive(Debug, Clone)]
pub(crate) struct TypeRef {
    pub name: String,
    pub array: bool,
}

/// A feature as written on a definition, member or value.
#[derive(Debug, Clone)]
pub(crate) struct FeatureDef {
    pub name: String,
    pub ifcond: Option<IfCond>,
}

/// A struct member or command/event parameter as written.
#[derive(Debug, Clone)]
pub(crate) struct MemberDef {
    pub name: String,
    pub optional: bool,
    pub ty: TypeRef,
    pub ifcond: Option<IfCond>,
    pub features: Vec<FeatureDef>,
}

/// An enum value as written.
#[derive(Debug, Clone)]
pub(crate) struct ValueDef {
    pub name: String,
    pub ifcond: Option<IfCond>,
    pub features: Vec<FeatureDef>,
}

/// A union or alternate branch as written.
#[derive(Debug, Clone)]
pub(crate) struct BranchDef {
    pub name: String,
    pub ty: TypeRef,
    pub ifcond: Option<IfCond>,
}

/// Either a type name or an inline object (implicit type).
#[derive(Debug, Clone)]
pub(crate) enum ArgDef {
    Named(String),
    Inline(Vec<MemberDef>),
}

/// The body of a checked definition.
#[derive(Debug, Clone)]
pub(crate) enum DefKind {
    Include(String),
    Enum {
        values: Vec<ValueDef>,
        prefix: Option<String>,
    },
    Struct {
        base: Option<String>,
        members: Vec<MemberDef>,
    },
    Union {
        base: Option<ArgDef>,
        /// `None` only for a legacy simple union.
        discriminator: Option<String>,
        branches: Vec<BranchDef>,
    },
    Alternate {
        branches: Vec<BranchDef>,
    },
    Command {
        data: Option<ArgDef>,
        returns: Option<TypeRef>,
        gen: bool,
        success_response: bool,
        boxed: bool,
        allow_oob: bool,
        allow_preconfig: bool,
        coroutine: bool,
    },
    Event {
        data: Option<ArgDef>,
        boxed: bool,
    },
}

/// A checked definition.
#[derive(Debug, Clone)]
pub(crate) struct Def {
    pub name: String,
    pub info: InfoId,
    pub doc: Option<usize>,
    pub ifcond: Option<IfCond>,
    pub features: Vec<FeatureDef>,
    pub kind: DefKind,
}

const METAS: [&str; 6] = ["enum", "struct", "union", "alternate", "command", "event"];

struct Checker<'a> {
    map: &'a mut SourceMap,
    pragma: &'a Pragma,
    docs: &'a mut [Doc],
    legacy: bool,
}

/// Checks every expression read by the parser.
pub(crate) fn check_exprs(parsed: &mut Parsed, legacy: bool) -> Result<Vec<Def>> {
    let exprs = std::mem::take(&mut parsed.exprs);
    let mut c = Checker {
        map: &mut parsed.map,
        pragma: &parsed.pragma,
        docs: &mut parsed.docs,
        legacy,
    };
    let mut defs = Vec::with_capacity(exprs.len());
    for e in exprs {
        match e {
            TopLevel::Include { file, info } => defs.push(Def {
                name: file.clone(),
                info,
                doc: None,
                ifcond: None,
                features: Vec::new(),
                kind: DefKind::Include(file),
            }),
            TopLevel::Definition {
                mut expr,
                info,
                doc,
            } => {
                if legacy {
                    crate::legacy::modernize(&mut expr);
                    for nested in crate::legacy::hoist_nested_structs(&mut expr) {
                        defs.push(c.check_expr(nested, info, None)?);
                    }
                }
                defs.push(c.check_expr(expr, info, doc)?);
            }
        }
    }
    Ok(defs)
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Str(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

fn pprint(mut keys: Vec<&str>) -> String {
    keys.sort_unstable();
    keys.iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `{'type': value}` for a member given as a bare type.
fn normalize_members(v: Option<&mut Value>) {
    if let Some(Value::Object(o)) = v {
        for (_, arg) in o.0.iter_mut() {
            if !matches!(arg, Value::Object(_)) {
                let t = std::mem::replace(arg, Value::Bool(false));
                *arg = Value::Object(Object(vec![("type".into(), t)]));
            }
        }
    }
}

/// `{'name': value}` for an element given as a bare name.
fn normalize_named(items: &mut [Value]) {
    for item in items.iter_mut() {
        if !matches!(item, Value::Object(_)) {
            let t = std::mem::replace(item, Value::Bool(false));
            *item = Value::Object(Object(vec![("name".into(), t)]));
        }
    }
}

impl Checker<'_> {
    fn err(&self, info: InfoId, msg: impl Into<String>) -> Error {
        Error::at(self.map, info, None, msg.into())
    }

    fn check_name_is_str<'v>(
        &self,
        v: Option<&'v Value>,
        info: InfoId,
        source: &str,
    ) -> Result<&'v str> {
        match v {
            Some(Value::Str(s)) => Ok(s),
            _ => Err(self.err(info, format!("{source} requires a string name"))),
        }
    }

    fn check_name_str<'n>(&self, name: &'n str, info: InfoId, source: &str) -> Result<&'n str> {
        if self.legacy
            && !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            // Old releases used '.' in enum values and other shapes.
            return Ok(name_stem(name).unwrap_or(name));
        }
        match name_stem(name) {
            Some(stem) if !c_name(name, false).starts_with("q_") => Ok(stem),
            _ => Err(self.err(info, format!("{source} has an invalid name"))),
        }
    }

    fn check_name_upper(&self, name: &str, info: InfoId, source: &str) -> Result<()> {
        let stem = self.check_name_str(name, info, source)?;
        if !self.legacy && stem.chars().any(|c| c.is_ascii_lowercase() || c == '-') {
            return Err(self.err(
                info,
                format!("name of {source} must not use lowercase or '-'"),
            ));
        }
        Ok(())
    }

    fn check_name_lower(
        &self,
        name: &str,
        info: InfoId,
        source: &str,
        permit_upper: bool,
        permit_underscore: bool,
    ) -> Result<()> {
        let stem = self.check_name_str(name, info, source)?;
        if self.legacy {
            return Ok(());
        }
        if (!permit_upper && stem.chars().any(|c| c.is_ascii_uppercase()))
            || (!permit_underscore && stem.contains('_'))
        {
            return Err(self.err(
                info,
                format!("name of {source} must not use uppercase or '_'"),
            ));
        }
        Ok(())
    }

    fn check_defn_name_str(&self, name: &str, info: InfoId, meta: &str) -> Result<()> {
        match meta {
            "event" => self.check_name_upper(name, info, meta),
            "command" => {
                let permit = self
                    .pragma
                    .command_name_exceptions
                    .iter()
                    .any(|n| n == name);
                self.check_name_lower(name, info, meta, false, permit)
            }
            _ => {
                let stem = self.check_name_str(name, info, meta)?;
                if !self.legacy && !is_camel(stem) {
                    return Err(self.err(info, format!("name of {meta} must use CamelCase")));
                }
                if name.ends_with("List") {
                    return Err(self.err(info, format!("{meta} name should not end in 'List'")));
                }
                Ok(())
            }
        }
    }

    fn check_keys(
        &self,
        value: &Object,
        info: InfoId,
        source: &str,
        required: &[&str],
        optional: &[&str],
    ) -> Result<()> {
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|k| !value.contains(k))
            .collect();
        if !missing.is_empty() {
            return Err(self.err(
                info,
                format!(
                    "{source} misses key{} {}",
                    if missing.len() > 1 { "s" } else { "" },
                    pprint(missing)
                ),
            ));
        }
        let unknown: Vec<&str> = value
            .keys()
            .filter(|k| !required.contains(k) && !optional.contains(k))
            .collect();
        if !unknown.is_empty() {
            let allowed: Vec<&str> = required.iter().chain(optional).copied().collect();
            return Err(self.err(
                info,
                format!(
                    "{source} has unknown key{} {}\nValid keys are {}.",
                    if unknown.len() > 1 { "s" } else { "" },
                    pprint(unknown),
                    pprint(allowed)
                ),
            ));
        }
        Ok(())
    }

    fn check_if(&self, obj: &Object, info: InfoId, source: &str) -> Result<Option<IfCond>> {
        match obj.get("if") {
            None => Ok(None),
            Some(cond) => self.check_if_cond(cond, info, source).map(Some),
        }
    }

    fn check_if_cond(&self, cond: &Value, info: InfoId, source: &str) -> Result<IfCond> {
        match cond {
            Value::Str(s) => {
                let mut chars = s.chars();
                let ok = chars.next().is_some_and(|c| c.is_ascii_uppercase())
                    && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if !ok {
                    return Err(self.err(
                        info,
                        format!("'if' condition '{s}' of {source} is not a valid identifier"),
                    ));
                }
                Ok(IfCond::Name(s.clone()))
            }
            Value::Object(o) => {
                let src = format!("'if' condition of {source}");
                self.check_keys(o, info, &src, &[], &["all", "any", "not"])?;
                if o.len() != 1 {
                    return Err(self.err(info, format!("{src} has conflicting keys")));
                }
                let (op, operand) = &o.0[0];
                if op == "not" {
                    return Ok(IfCond::Not(Box::new(
                        self.check_if_cond(operand, info, source)?,
                    )));
                }
                let Value::Array(operands) = operand else {
                    return Err(self.err(
                        info,
                        format!("'{op}' condition of {source} must be an array"),
                    ));
                };
                if operands.is_empty() {
                    return Err(self.err(info, format!("'if' condition [] of {source} is useless")));
                }
                let list = operands
                    .iter()
                    .map(|c| self.check_if_cond(c, info, source))
                    .collect::<Result<Vec<_>>>()?;
                Ok(if op == "all" {
                    IfCond::All(list)
                } else {
                    IfCond::Any(list)
                })
            }
            _ => Err(self.err(
                info,
                format!("'if' condition of {source} must be a string or an object"),
            )),
        }
    }

    fn check_features(
        &self,
        features: Option<&mut Value>,
        info: InfoId,
    ) -> Result<Vec<FeatureDef>> {
        let Some(features) = features else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = features else {
            return Err(self.err(info, "'features' must be an array"));
        };
        normalize_named(items);
        let mut out = Vec::with_capacity(items.len());
        for feat in items.iter() {
            let Value::Object(feat) = feat else {
                unreachable!("normalized")
            };
            let source = "'features' member";
            self.check_keys(feat, info, source, &["name"], &["if"])?;
            let name = self.check_name_is_str(feat.get("name"), info, source)?;
            let source = format!("{source} '{name}'");
            self.check_name_lower(name, info, &source, false, false)?;
            let ifcond = self.check_if(feat, info, &source)?;
            out.push(FeatureDef {
                name: name.to_owned(),
                ifcond,
            });
        }
        Ok(out)
    }

    fn check_type_name(
        &self,
        v: Option<&Value>,
        info: InfoId,
        source: &str,
    ) -> Result<Option<String>> {
        match v {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.err(info, format!("{source} should be a type name"))),
        }
    }

    fn check_type_name_or_array(
        &self,
        v: Option<&Value>,
        info: InfoId,
        source: &str,
    ) -> Result<Option<TypeRef>> {
        match v {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(TypeRef {
                name: s.clone(),
                array: false,
            })),
            Some(Value::Array(a)) => match a.as_slice() {
                [Value::Str(s)] => Ok(Some(TypeRef {
                    name: s.clone(),
                    array: true,
                })),
                _ => Err(self.err(
                    info,
                    format!("{source}: array type must contain single type name"),
                )),
            },
            Some(_) => Err(self.err(info, format!("{source} should be a type name or array"))),
        }
    }

    fn check_type_implicit(
        &self,
        v: &mut Value,
        info: InfoId,
        source: &str,
        parent: Option<&str>,
    ) -> Result<Vec<MemberDef>> {
        let Value::Object(members) = v else {
            return Err(self.err(info, format!("{source} should be an object or type name")));
        };
        let permissive =
            parent.is_some_and(|p| self.pragma.member_name_exceptions.iter().any(|n| n == p));
        let mut out = Vec::with_capacity(members.len());
        for (key, arg) in members.0.iter_mut() {
            let key_source = format!("{source} member '{key}'");
            let (name, optional) = match key.strip_prefix('*') {
                Some(k) => (k, true),
                None => (key.as_str(), false),
            };
            self.check_name_lower(name, info, &key_source, permissive, permissive)?;
            let c = c_name(name, false);
            if c == "u" || c.starts_with("has_") {
                return Err(self.err(info, format!("{key_source} uses reserved name")));
            }
            let Value::Object(arg) = arg else {
                unreachable!("normalized")
            };
            self.check_keys(arg, info, &key_source, &["type"], &["if", "features"])?;
            let ifcond = self.check_if(arg, info, &key_source)?;
            let features = self.check_features(arg.get_mut("features"), info)?;
            let ty = self
                .check_type_name_or_array(arg.get("type"), info, &key_source)?
                .expect("'type' is present");
            out.push(MemberDef {
                name: name.to_owned(),
                optional,
                ty,
                ifcond,
                features,
            });
        }
        Ok(out)
    }

    fn check_type_name_or_implicit(
        &self,
        v: Option<&mut Value>,
        info: InfoId,
        source: &str,
        parent: Option<&str>,
    ) -> Result<Option<ArgDef>> {
        match v {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(ArgDef::Named(s.clone()))),
            Some(v) => Ok(Some(ArgDef::Inline(
                self.check_type_implicit(v, info, source, parent)?,
            ))),
        }
    }

    fn check_branches(
        &self,
        data: &Object,
        info: InfoId,
        alternate: bool,
        names_or_arrays: bool,
    ) -> Result<Vec<BranchDef>> {
        let mut out = Vec::with_capacity(data.len());
        for (key, value) in &data.0 {
            let source = format!("'data' member '{key}'");
            if alternate {
                self.check_name_lower(key, info, &source, false, false)?;
            }
            let Value::Object(value) = value else {
                unreachable!("normalized")
            };
            self.check_keys(value, info, &source, &["type"], &["if"])?;
            let ifcond = self.check_if(value, info, &source)?;
            let ty = if names_or_arrays {
                self.check_type_name_or_array(value.get("type"), info, &source)?
            } else {
                self.check_type_name(value.get("type"), info, &source)?
                    .map(|name| TypeRef { name, array: false })
            }
            .expect("'type' is present");
            out.push(BranchDef {
                name: key.clone(),
                ty,
                ifcond,
            });
        }
        Ok(out)
    }

    fn check_expr(&mut self, mut expr: Object, info: InfoId, doc: Option<usize>) -> Result<Def> {
        let metas: Vec<&'static str> = METAS.iter().copied().filter(|m| expr.contains(m)).collect();
        if metas.len() != 1 {
            return Err(self.err(
                info,
                "expression must have exactly one key 'enum', 'struct', 'union', 'alternate', 'command', 'event'",
            ));
        }
        let meta = metas[0];
        let name = self
            .check_name_is_str(expr.get(meta), info, &format!("'{meta}'"))?
            .to_owned();
        self.map.set_definition(info, meta, &name);
        self.check_defn_name_str(&name, info, meta)?;

        if let Some(d) = doc {
            if !self.legacy {
                let doc = &self.docs[d];
                if doc.symbol.as_deref() != Some(name.as_str()) {
                    return Err(self.err(
                        info,
                        format!(
                            "documentation comment is for '{}'",
                            doc.symbol.as_deref().unwrap_or_default()
                        ),
                    ));
                }
                self.doc_check_expr(doc, &expr, meta)?;
            }
        } else if self.pragma.doc_required && !self.legacy {
            return Err(self.err(info, "documentation comment required"));
        }

        let kind = match meta {
            "enum" => {
                self.check_keys(
                    &expr,
                    info,
                    meta,
                    &["enum", "data"],
                    &["if", "features", "prefix"],
                )?;
                self.check_enum(&name, &mut expr, info)?
            }
            "union" => {
                if self.legacy && !expr.contains("discriminator") {
                    // A simple union (before QEMU 6.2): no base needed.
                    self.check_keys(
                        &expr,
                        info,
                        meta,
                        &["union", "data"],
                        &["base", "if", "features"],
                    )?;
                } else {
                    self.check_keys(
                        &expr,
                        info,
                        meta,
                        &["union", "base", "discriminator", "data"],
                        &["if", "features"],
                    )?;
                }
                normalize_members(expr.get_mut("base"));
                normalize_members(expr.get_mut("data"));
                self.check_union(&name, &mut expr, info)?
            }
            "alternate" => {
                self.check_keys(
                    &expr,
                    info,
                    meta,
                    &["alternate", "data"],
                    &["if", "features"],
                )?;
                normalize_members(expr.get_mut("data"));
                let data = expr.get("data").expect("checked");
                if !truthy(Some(data)) {
                    return Err(self.err(info, "'data' must not be empty"));
                }
                let Value::Object(data) = data else {
                    return Err(self.err(info, "'data' must be an object"));
                };
                DefKind::Alternate {
                    branches: self.check_branches(data, info, true, true)?,
                }
            }
            "struct" => {
                self.check_keys(
                    &expr,
                    info,
                    meta,
                    &["struct", "data"],
                    &["base", "if", "features"],
                )?;
                normalize_members(expr.get_mut("data"));
                let data = expr
                    .0
                    .iter_mut()
                    .find(|(k, _)| k == "data")
                    .map(|(_, v)| v)
                    .expect("checked");
                let members = self.check_type_implicit(data, info, "'data'", Some(&name))?;
                let base = self.check_type_name(expr.get("base"), info, "'base'")?;
                DefKind::Struct { base, members }
            }
            "command" => {
                self.check_keys(
                    &expr,
                    info,
                    meta,
                    &["command"],
                    &[
                        "data",
                        "returns",
                        "boxed",
                        "if",
                        "features",
                        "gen",
                        "success-response",
                        "allow-oob",
                        "allow-preconfig",
                        "coroutine",
                    ],
                )?;
                normalize_members(expr.get_mut("data"));
                let boxed = truthy(expr.get("boxed"));
                let data = self.check_args(&mut expr, info, boxed)?;
                let returns =
                    self.check_type_name_or_array(expr.get("returns"), info, "'returns'")?;
                DefKind::Command {
                    data,
                    returns,
                    gen: expr.get("gen") != Some(&Value::Bool(false)),
                    success_response: expr.get("success-response") != Some(&Value::Bool(false)),
                    boxed,
                    allow_oob: truthy(expr.get("allow-oob")),
                    allow_preconfig: truthy(expr.get("allow-preconfig")),
                    coroutine: truthy(expr.get("coroutine")),
                }
            }
            _ => {
                self.check_keys(
                    &expr,
                    info,
                    meta,
                    &["event"],
                    &["data", "boxed", "if", "features"],
                )?;
                normalize_members(expr.get_mut("data"));
                let boxed = truthy(expr.get("boxed"));
                let data = self.check_args(&mut expr, info, boxed)?;
                DefKind::Event { data, boxed }
            }
        };

        let ifcond = self.check_if(&expr, info, meta)?;
        let features = self.check_features(expr.get_mut("features"), info)?;
        self.check_flags(&expr, info)?;
        Ok(Def {
            name,
            info,
            doc,
            ifcond,
            features,
            kind,
        })
    }

    fn check_args(&self, expr: &mut Object, info: InfoId, boxed: bool) -> Result<Option<ArgDef>> {
        let data = expr.get_mut("data");
        if boxed {
            let Some(data) = data else {
                return Err(self.err(info, "'boxed': true requires 'data'"));
            };
            Ok(self
                .check_type_name(Some(data), info, "'data'")?
                .map(ArgDef::Named))
        } else {
            self.check_type_name_or_implicit(data, info, "'data'", None)
        }
    }

    fn check_flags(&self, expr: &Object, info: InfoId) -> Result<()> {
        for key in ["gen", "success-response"] {
            if let Some(v) = expr.get(key) {
                if *v != Value::Bool(false) {
                    return Err(self.err(info, format!("flag '{key}' may only use false value")));
                }
            }
        }
        for key in ["boxed", "allow-oob", "allow-preconfig", "coroutine"] {
            if let Some(v) = expr.get(key) {
                if *v != Value::Bool(true) {
                    return Err(self.err(info, format!("flag '{key}' may only use true value")));
                }
            }
        }
        if expr.contains("allow-oob") && expr.contains("coroutine") {
            return Err(self.err(info, "flags 'allow-oob' and 'coroutine' are incompatible"));
        }
        Ok(())
    }

    fn check_enum(&self, name: &str, expr: &mut Object, info: InfoId) -> Result<DefKind> {
        let prefix = expr.get("prefix").cloned();
        let data = expr
            .0
            .iter_mut()
            .find(|(k, _)| k == "data")
            .map(|(_, v)| v)
            .expect("checked");
        let Value::Array(members) = data else {
            return Err(self.err(info, "'data' must be an array"));
        };
        let prefix = match prefix {
            None => None,
            Some(Value::Str(s)) => Some(s),
            Some(_) => return Err(self.err(info, "'prefix' must be a string")),
        };
        let permissive = self.pragma.member_name_exceptions.iter().any(|n| n == name);
        normalize_named(members);
        let mut values = Vec::with_capacity(members.len());
        for member in members.iter_mut() {
            let Value::Object(member) = member else {
                unreachable!("normalized")
            };
            let source = "'data' member";
            self.check_keys(member, info, source, &["name"], &["if", "features"])?;
            let member_name = self
                .check_name_is_str(member.get("name"), info, source)?
                .to_owned();
            let source = format!("{source} '{member_name}'");
            // Enum values may start with a digit: hide it from the check.
            let checked = if member_name.chars().next().is_some_and(|c| c.is_numeric()) {
                format!("d{member_name}")
            } else {
                member_name.clone()
            };
            self.check_name_lower(&checked, info, &source, permissive, permissive)?;
            let ifcond = self.check_if(member, info, &source)?;
            let features = self.check_features(
                member
                    .0
                    .iter_mut()
                    .find(|(k, _)| k == "features")
                    .map(|(_, v)| v),
                info,
            )?;
            values.push(ValueDef {
                name: member_name,
                ifcond,
                features,
            });
        }
        Ok(DefKind::Enum { values, prefix })
    }

    fn check_union(&self, name: &str, expr: &mut Object, info: InfoId) -> Result<DefKind> {
        let base_v = expr.get_mut("base");
        let base = self.check_type_name_or_implicit(base_v, info, "'base'", Some(name))?;
        let discriminator = match expr.get("discriminator") {
            None if self.legacy => None,
            d => Some(
                self.check_name_is_str(d, info, "'discriminator'")?
                    .to_owned(),
            ),
        };
        let Some(Value::Object(data)) = expr.get("data") else {
            return Err(self.err(info, "'data' must be an object"));
        };
        // A simple union's branches may be arrays; a flat union's may not.
        let branches = self.check_branches(data, info, false, discriminator.is_none())?;
        Ok(DefKind::Union {
            base,
            discriminator,
            branches,
        })
    }

    /// The reference's `QAPIDoc.check_expr`.
    fn doc_check_expr(&self, doc: &Doc, expr: &Object, meta: &str) -> Result<()> {
        if meta == "command" {
            if let Some(r) = doc.returns() {
                if !expr.contains("returns") {
                    return Err(self.err(
                        r.info,
                        "'Returns' section, but command doesn't return anything",
                    ));
                }
            }
        } else {
            if let Some(r) = doc.returns() {
                return Err(self.err(r.info, "'Returns' section is only valid for commands"));
            }
            if let Some(e) = doc.errors() {
                return Err(self.err(e.info, "'Errors' section is only valid for commands"));
            }
        }
        Ok(())
    }
}
