//! The wire shape of a QAPI type: what a JSON value of that type looks
//! like, with every name the wire never sees resolved away.
//!
//! Base types are already flattened into [`ObjectType::members`] by the
//! front end; arrays are their element; implicit objects (`q_obj_*`) are
//! just their members. What remains named is only what a change can be
//! anchored to in a report: the schema's own definitions.

use qapi_parser::ir::{
    Branch, EntityId, EntityKind, EnumValue, IfCond, JsonType, Member, ObjectType,
};
use qapi_parser::Schema;

/// A built-in type as the wire sees it: a JSON type, and for integers the
/// range of values QEMU accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    /// `str`
    Str,
    /// `number` (any JSON number)
    Number,
    /// `int`, `intN`, `uintN`, `size`: the inclusive range.
    Int {
        /// The smallest value accepted.
        min: i128,
        /// The largest value accepted.
        max: i128,
    },
    /// `bool`
    Bool,
    /// `null`
    Null,
    /// `any`: every JSON value.
    Any,
}

impl Scalar {
    /// The scalar of a built-in type, by its name and JSON type.
    fn of(name: &str, json_type: JsonType) -> Scalar {
        let int = |min: i128, max: i128| Scalar::Int { min, max };
        match json_type {
            JsonType::String => Scalar::Str,
            JsonType::Number => Scalar::Number,
            JsonType::Boolean => Scalar::Bool,
            JsonType::Null => Scalar::Null,
            JsonType::Value => Scalar::Any,
            JsonType::Int => match name {
                "int8" => int(i8::MIN.into(), i8::MAX.into()),
                "int16" => int(i16::MIN.into(), i16::MAX.into()),
                "int32" => int(i32::MIN.into(), i32::MAX.into()),
                "uint8" => int(0, u8::MAX.into()),
                "uint16" => int(0, u16::MAX.into()),
                "uint32" => int(0, u32::MAX.into()),
                "uint64" | "size" => int(0, u64::MAX.into()),
                // `int` and `int64`
                _ => int(i64::MIN.into(), i64::MAX.into()),
            },
        }
    }

    /// Whether every value of `self` is a value of `other`.
    pub(crate) fn within(self, other: Scalar) -> bool {
        match (self, other) {
            (_, Scalar::Any) => true,
            (Scalar::Int { .. }, Scalar::Number) => true,
            (Scalar::Int { min, max }, Scalar::Int { min: lo, max: hi }) => lo <= min && max <= hi,
            (a, b) => a == b,
        }
    }
}

/// The JSON type an alternate dispatches on; two branches of one
/// alternate never share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonKind {
    /// A JSON object (struct, union).
    Object,
    /// A JSON array.
    Array,
    /// A JSON string (`str`, enums).
    String,
    /// A JSON number (integers, `number`).
    Number,
    /// `true` or `false`.
    Boolean,
    /// `null`.
    Null,
    /// Anything (`any`, which alternates refuse).
    Any,
}

/// A discriminator value of a union and the object it selects.
#[derive(Debug, Clone)]
pub(crate) struct Case<'s> {
    /// The value of the tag member.
    pub(crate) value: &'s str,
    /// The branch's condition.
    pub(crate) ifcond: Option<&'s IfCond>,
    /// The branch's object type (`q_empty` when it adds no member).
    pub(crate) ty: EntityId,
}

/// The variant part of a union.
#[derive(Debug, Clone)]
pub(crate) struct Variants<'s> {
    /// The tag member's name.
    pub(crate) tag: &'s str,
    /// One case per tag value.
    pub(crate) cases: Vec<Case<'s>>,
}

/// A JSON object: its members (a base's included) and, for unions, the
/// members that depend on the tag.
#[derive(Debug, Clone)]
pub(crate) struct ObjectShape<'s> {
    /// Members present whatever the tag says.
    pub(crate) members: &'s [Member],
    /// The variant part, for unions.
    pub(crate) variants: Option<Variants<'s>>,
}

impl<'s> ObjectShape<'s> {
    /// The object with no member: what a command without arguments
    /// takes, and what one without `returns` answers (`{}`).
    pub(crate) const EMPTY: ObjectShape<'static> = ObjectShape {
        members: &[],
        variants: None,
    };

    fn of(object: &'s ObjectType) -> Self {
        ObjectShape {
            members: &object.members,
            variants: object.union.as_ref().map(|union| Variants {
                tag: &union.tag,
                cases: union
                    .branches
                    .iter()
                    .map(|branch| Case {
                        value: &branch.name,
                        ifcond: branch.ifcond.as_ref(),
                        ty: branch.ty,
                    })
                    .collect(),
            }),
        }
    }
}

/// What a value of a type looks like on the wire.
#[derive(Debug, Clone)]
pub(crate) enum Shape<'s> {
    /// A built-in type.
    Scalar(Scalar),
    /// A string from a fixed set.
    Enum(&'s [EnumValue]),
    /// An array of the element type.
    Array(EntityId),
    /// An object.
    Object(ObjectShape<'s>),
    /// One of several types, told apart by JSON type.
    Alternate(&'s [Branch]),
}

impl Shape<'_> {
    /// The JSON type of values of this shape.
    pub(crate) fn json_kind(&self) -> JsonKind {
        match self {
            Shape::Scalar(Scalar::Str) | Shape::Enum(_) => JsonKind::String,
            Shape::Scalar(Scalar::Number | Scalar::Int { .. }) => JsonKind::Number,
            Shape::Scalar(Scalar::Bool) => JsonKind::Boolean,
            Shape::Scalar(Scalar::Null) => JsonKind::Null,
            Shape::Scalar(Scalar::Any) | Shape::Alternate(_) => JsonKind::Any,
            Shape::Array(_) => JsonKind::Array,
            Shape::Object(_) => JsonKind::Object,
        }
    }
}

/// The wire shape of a type entity. Commands, events and includes are
/// not types; a type id always names a type in a checked schema, so they
/// read as the empty object rather than failing.
pub(crate) fn shape_of(schema: &Schema, id: EntityId) -> Shape<'_> {
    let entity = schema.entity(id);
    match &entity.kind {
        EntityKind::Builtin { json_type } => Shape::Scalar(Scalar::of(&entity.name, *json_type)),
        EntityKind::Enum { values, .. } => Shape::Enum(values),
        EntityKind::Array { element, .. } => Shape::Array(*element),
        EntityKind::Object(object) => Shape::Object(ObjectShape::of(object)),
        EntityKind::Alternate { branches } => Shape::Alternate(branches),
        EntityKind::Include { .. } | EntityKind::Command(_) | EntityKind::Event(_) => {
            Shape::Object(ObjectShape::EMPTY)
        }
    }
}

/// Whether a change inside this type is reported under the type's own
/// name: the schema's named enums, structs, unions and alternates (not
/// built-ins, arrays or implicit objects, whose names the wire and the
/// schema's reader never see).
pub(crate) fn is_anchor(schema: &Schema, id: EntityId) -> bool {
    let entity = schema.entity(id);
    !entity.is_implicit()
        && matches!(
            entity.kind,
            EntityKind::Enum { .. } | EntityKind::Object(_) | EntityKind::Alternate { .. }
        )
}

/// A type as a reader of the schema writes it: `Foo`, `[Foo]`, `int8`.
pub(crate) fn type_label(schema: &Schema, id: EntityId) -> String {
    match &schema.entity(id).kind {
        EntityKind::Array { element, .. } => format!("[{}]", type_label(schema, *element)),
        _ => schema.entity(id).name.clone(),
    }
}
