//! The intermediate representation: the checked schema, the contract
//! between this crate and every back end (dump, Rust generator,
//! introspection).
//!
//! Everything a back end needs is here, resolved: every type reference
//! is an [`EntityId`], implicit types (`q_obj_*-arg`, `q_obj_*-base`,
//! `*List` arrays, `q_empty`, `QType`) exist as entities of their own,
//! conditions are trees, documentation is attached.  Back ends never see
//! syntax.

use std::collections::HashMap;
use std::fmt;

use crate::doc::Doc;
use crate::source::{InfoId, Pragma, SourceMap};

/// An `if` condition: a configuration symbol, or `all`/`any`/`not` of
/// conditions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IfCond {
    /// A symbol such as `CONFIG_VNC`.
    Name(String),
    /// All of the conditions.
    All(Vec<IfCond>),
    /// Any of the conditions.
    Any(Vec<IfCond>),
    /// Not the condition.
    Not(Box<IfCond>),
}

impl IfCond {
    /// Evaluates the condition for a set of defined symbols.
    pub fn eval(&self, defined: &dyn Fn(&str) -> bool) -> bool {
        match self {
            IfCond::Name(n) => defined(n),
            IfCond::All(v) => v.iter().all(|c| c.eval(defined)),
            IfCond::Any(v) => v.iter().any(|c| c.eval(defined)),
            IfCond::Not(c) => !c.eval(defined),
        }
    }

    fn repr(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IfCond::Name(n) => write!(out, "'{n}'"),
            IfCond::Not(c) => {
                out.write_str("{'not': ")?;
                c.repr(out)?;
                out.write_str("}")
            }
            IfCond::All(v) | IfCond::Any(v) => {
                let op = if matches!(self, IfCond::All(_)) {
                    "all"
                } else {
                    "any"
                };
                write!(out, "{{'{op}': [")?;
                for (i, c) in v.iter().enumerate() {
                    if i > 0 {
                        out.write_str(", ")?;
                    }
                    c.repr(out)?;
                }
                out.write_str("]}")
            }
        }
    }
}

/// As the reference prints conditions: a bare symbol, or the Python
/// repr of the condition object.
impl fmt::Display for IfCond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IfCond::Name(n) => f.write_str(n),
            other => other.repr(f),
        }
    }
}

/// Index of an entity in [`Schema::entities`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId(pub u32);

/// Index of a module in [`Schema::modules`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModuleId(pub u32);

/// A feature of a definition, member or enum value.
#[derive(Debug, Clone)]
pub struct Feature {
    /// Its name; `deprecated` and `unstable` are special.
    pub name: String,
    /// Where it is declared (`None` for the schema-wide special ones).
    pub info: Option<InfoId>,
    /// Its condition.
    pub ifcond: Option<IfCond>,
}

impl Feature {
    /// Whether this is one of the features with a meaning of their own.
    pub fn is_special(&self) -> bool {
        matches!(self.name.as_str(), "deprecated" | "unstable")
    }
}

/// A member of an object type (or a parameter of a command or event).
#[derive(Debug, Clone)]
pub struct Member {
    /// The wire name (without the `*` of optional members).
    pub name: String,
    /// The type as written (arrays as `ElementList`).
    pub type_name: String,
    /// The resolved type.
    pub ty: EntityId,
    /// Whether the member may be absent.
    pub optional: bool,
    /// Its condition.
    pub ifcond: Option<IfCond>,
    /// Its features.
    pub features: Vec<Feature>,
    /// The type the member is declared in (a base type's members keep
    /// their base's name).
    pub defined_in: String,
    /// Where it is declared.
    pub info: Option<InfoId>,
}

/// A value of an enum type.
#[derive(Debug, Clone)]
pub struct EnumValue {
    /// The wire name.
    pub name: String,
    /// Its condition.
    pub ifcond: Option<IfCond>,
    /// Its features.
    pub features: Vec<Feature>,
    /// Where it is declared (`None` for `QType`).
    pub info: Option<InfoId>,
}

/// A branch of a union or an alternate.
#[derive(Debug, Clone)]
pub struct Branch {
    /// The discriminator value (union) or branch name (alternate).
    pub name: String,
    /// The type as written.
    pub type_name: String,
    /// The resolved type (`q_empty` for union values without a branch).
    pub ty: EntityId,
    /// Its condition.
    pub ifcond: Option<IfCond>,
    /// Where it is declared.
    pub info: Option<InfoId>,
}

/// The variant part of a union.
#[derive(Debug, Clone)]
pub struct Union {
    /// Name of the discriminator member (in the base).
    pub tag: String,
    /// One branch per enum value, explicit ones first, then the values
    /// the schema gives no branch (type `q_empty`).
    pub branches: Vec<Branch>,
}

/// The JSON type of a built-in type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// `str`
    String,
    /// `number`
    Number,
    /// `int`, `intN`, `uintN`, `size`
    Int,
    /// `bool`
    Boolean,
    /// `null`
    Null,
    /// `any`
    Value,
}

/// An object type: struct, union or implicit object.
#[derive(Debug, Clone)]
pub struct ObjectType {
    /// The base type's name as written.
    pub base_name: Option<String>,
    /// The base type.
    pub base: Option<EntityId>,
    /// Members declared by the type itself.
    pub local_members: Vec<Member>,
    /// All members: the base's, then the local ones.
    pub members: Vec<Member>,
    /// The variant part, for unions.
    pub union: Option<Union>,
}

/// A command.
#[derive(Debug, Clone)]
pub struct Command {
    /// The argument type's name (an implicit `q_obj_*-arg` for inline
    /// arguments).
    pub arg_type_name: Option<String>,
    /// The argument type.
    pub arg_type: Option<EntityId>,
    /// The return type's name.
    pub ret_type_name: Option<String>,
    /// The return type.
    pub ret_type: Option<EntityId>,
    /// `false` when the schema says `'gen': false`.
    pub gen: bool,
    /// `false` when the schema says `'success-response': false`.
    pub success_response: bool,
    /// Whether the handler takes the argument type whole.
    pub boxed: bool,
    /// `allow-oob`
    pub allow_oob: bool,
    /// `allow-preconfig`
    pub allow_preconfig: bool,
    /// `coroutine`
    pub coroutine: bool,
}

/// An event.
#[derive(Debug, Clone)]
pub struct Event {
    /// The data type's name.
    pub arg_type_name: Option<String>,
    /// The data type.
    pub arg_type: Option<EntityId>,
    /// Whether the emitter takes the data type whole.
    pub boxed: bool,
}

/// What an entity is.
#[derive(Debug, Clone)]
pub enum EntityKind {
    /// An `include` directive (the included module).
    Include {
        /// The module it brings in.
        module: ModuleId,
    },
    /// A built-in type.
    Builtin {
        /// Its JSON type.
        json_type: JsonType,
    },
    /// An enum type.
    Enum {
        /// Its values.
        values: Vec<EnumValue>,
        /// The `prefix` for C names.
        prefix: Option<String>,
    },
    /// An array type.
    Array {
        /// The element type's name.
        element_name: String,
        /// The element type.
        element: EntityId,
    },
    /// A struct, union or implicit object type.
    Object(ObjectType),
    /// An alternate type.
    Alternate {
        /// Its branches, chosen by JSON type.
        branches: Vec<Branch>,
    },
    /// A command.
    Command(Command),
    /// An event.
    Event(Event),
}

/// A schema entity: a definition, an implicit type or an include.
#[derive(Debug, Clone)]
pub struct Entity {
    /// The name (for includes, the included file as written).
    pub name: String,
    /// Where it is defined: the definition's first line; for implicit
    /// types the definition that needed them; `None` for built-ins.
    pub info: Option<InfoId>,
    /// Its documentation block, an index into [`Schema::docs`].
    pub doc: Option<usize>,
    /// Its condition (an array's is its element type's).
    pub ifcond: Option<IfCond>,
    /// Its features.
    pub features: Vec<Feature>,
    /// What it is.
    pub kind: EntityKind,
    /// The module it belongs to.
    pub module: ModuleId,
}

impl Entity {
    /// The reference's meta word: `built-in`, `enum`, `array`, `struct`,
    /// `union`, `alternate`, `command`, `event` or `include`.
    pub fn meta(&self) -> &'static str {
        match &self.kind {
            EntityKind::Include { .. } => "include",
            EntityKind::Builtin { .. } => "built-in",
            EntityKind::Enum { .. } => "enum",
            EntityKind::Array { .. } => "array",
            EntityKind::Object(o) if o.union.is_some() => "union",
            EntityKind::Object(_) => "struct",
            EntityKind::Alternate { .. } => "alternate",
            EntityKind::Command(_) => "command",
            EntityKind::Event(_) => "event",
        }
    }

    /// Whether the schema did not define it by name (built-in types,
    /// arrays, `q_*` objects, `QType`).
    pub fn is_implicit(&self) -> bool {
        match &self.kind {
            EntityKind::Object(_) => self.name.starts_with("q_"),
            EntityKind::Enum { .. } => self.name == "QType" || self.info.is_none(),
            EntityKind::Array { .. } => true,
            _ => self.info.is_none(),
        }
    }

    /// Whether this is a type (not a command, event or include).
    pub fn is_type(&self) -> bool {
        !matches!(
            self.kind,
            EntityKind::Include { .. } | EntityKind::Command(_) | EntityKind::Event(_)
        )
    }
}

/// A module: one schema file, or `./builtin`.
#[derive(Debug, Clone)]
pub struct Module {
    /// `./builtin`, or the file's path relative to the main file's
    /// directory, normalized.
    pub name: String,
    /// Its entities, in definition order.
    pub entities: Vec<EntityId>,
}

/// A checked schema.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Files and lines.
    pub source: SourceMap,
    /// Every entity in definition order, implicit types just before the
    /// definition that first needed them.
    pub entities: Vec<Entity>,
    /// Modules in the order first seen: `./builtin`, the main file, then
    /// included files.
    pub modules: Vec<Module>,
    /// Documentation blocks in source order.
    pub docs: Vec<Doc>,
    /// The pragmas in force.
    pub pragma: Pragma,
    /// Every feature name the schema uses, `deprecated` and `unstable`
    /// first.
    pub feature_names: Vec<String>,
    pub(crate) by_name: HashMap<String, EntityId>,
}

impl Schema {
    /// The entity with this id.
    pub fn entity(&self, id: EntityId) -> &Entity {
        &self.entities[id.0 as usize]
    }

    /// The definition (or implicit type) with this name.
    pub fn lookup(&self, name: &str) -> Option<&Entity> {
        self.by_name.get(name).map(|&id| self.entity(id))
    }

    /// The id of the definition with this name.
    pub fn lookup_id(&self, name: &str) -> Option<EntityId> {
        self.by_name.get(name).copied()
    }

    /// The documentation of an entity.
    pub fn doc_of(&self, entity: &Entity) -> Option<&Doc> {
        entity.doc.map(|d| &self.docs[d])
    }
}
