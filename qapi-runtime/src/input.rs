//! JSON to typed values, as QEMU's QObject input visitor does it.
//!
//! The checks and their order follow `qapi/qobject-input-visitor.c` and
//! `qapi/qapi-visit-core.c` (QEMU 7.2): members are visited in schema
//! order (base members, then a union's branch), a missing member fails as
//! soon as it is reached, and members left over fail last. Error texts are
//! QEMU's, with its naming: full dotted paths (`addr.type`, `list[2]`) for
//! missing members and JSON type mismatches, the bare member name (or
//! `null` for list elements) for integer ranges and enum values.
//!
//! In keyval mode (values parsed from `-netdev user,id=n0,...`) every
//! scalar arrives as a string and is converted by the target type, as
//! `qobject_input_visitor_new_keyval` does.

use serde_json::{Map, Value};

use crate::policy::{CompatPolicy, Special, Subject};

/// A JSON object being visited.
pub type Object = Map<String, Value>;

/// Why a value does not fit its type; `Display` is QEMU's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A mandatory member is absent.
    #[error("Parameter '{0}' is missing")]
    Missing(String),
    /// A value of the wrong JSON type.
    #[error("Invalid parameter type for '{name}', expected: {expected}")]
    InvalidType {
        /// Where.
        name: String,
        /// What was expected (`object`, `integer`, an alternate's name...).
        expected: String,
    },
    /// A member the type does not have.
    #[error("Parameter '{0}' is unexpected")]
    Unexpected(String),
    /// A value of the right JSON type that the type still refuses
    /// (an integer out of range, an unparsable keyval scalar).
    #[error("Parameter '{name}' expects {what}")]
    Expects {
        /// Where.
        name: String,
        /// What it expects (`uint8_t`, `uint64`, `size`, `'on' or 'off'`).
        what: String,
    },
    /// A string that is not one of an enum's values.
    #[error("Parameter '{name}' does not accept value '{value}'")]
    BadEnumValue {
        /// Where (the bare member name, as QEMU prints it).
        name: String,
        /// The value given.
        value: String,
    },
    /// Keyval input with members below a scalar (`id.x=1`).
    #[error("Parameters '{0}.*' are unexpected")]
    KeyvalNested(String),
    /// Keyval input with a scalar that is not a string.
    #[error("Internal error: parameter {0} invalid")]
    KeyvalNotString(String),
    /// Refused by the compat policy.
    #[error("{0}")]
    Policy(String),
}

/// A type that can be read from JSON with QEMU's input semantics.
pub trait Visit: Sized {
    /// Reads `value`, which is called `name` in its parent object (`None`
    /// at the root and for list elements).
    fn visit(
        input: &mut Input,
        name: Option<&'static str>,
        value: Value,
    ) -> Result<Self, InputError>;
}

/// An object type whose members can be read out of an object shared with
/// other types (a struct's base, a union's branch).
pub trait VisitMembers: Sized {
    /// Reads this type's members out of `object`, removing them.
    fn visit_members(input: &mut Input, object: &mut Object) -> Result<Self, InputError>;
}

/// Who is reading, which decides what an unknown enum value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// A server: unknown enum values are errors, as in QEMU.
    #[default]
    Server,
    /// A client: enum types generated with room for unknown values keep
    /// them (a newer server may send values this build does not know).
    Client,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    /// The container's name in its parent.
    name: Option<&'static str>,
    /// For a list, the index of the element being visited.
    index: Option<usize>,
}

/// The state of one input visit: where in the value it is, and the
/// options that decide how scalars and special features are read.
#[derive(Debug, Clone, Default)]
pub struct Input {
    frames: Vec<Frame>,
    keyval: bool,
    role: Role,
    policy: CompatPolicy,
}

impl Input {
    /// An input for QMP (JSON) values, as a server reads them.
    pub fn new() -> Self {
        Self::default()
    }

    /// An input for keyval values: every scalar is a string converted by
    /// the target type.
    pub fn keyval() -> Self {
        Input {
            keyval: true,
            ..Self::default()
        }
    }

    /// Sets who is reading.
    pub fn with_role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    /// Sets the compat policy for special input.
    pub fn with_policy(mut self, policy: CompatPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The compat policy in force.
    pub fn policy(&self) -> &CompatPolicy {
        &self.policy
    }

    /// Whether enum types with room for unknown values should keep them.
    pub fn keeps_unknown_enum_values(&self) -> bool {
        self.role == Role::Client
    }

    /// Reads a whole value of type `T`.
    pub fn read<T: Visit>(&mut self, value: Value) -> Result<T, InputError> {
        self.frames.clear();
        T::visit(self, None, value)
    }

    /// QEMU's `full_name()`: the path of `name` inside the containers
    /// being visited.
    pub fn full_name(&self, name: Option<&str>) -> String {
        let mut segments: Vec<String> = Vec::new();
        let mut name = name;
        for frame in self.frames.iter().rev() {
            match frame.index {
                None => segments.push(format!(".{}", name.unwrap_or("<anonymous>"))),
                Some(i) if self.keyval => segments.push(format!(".{i}")),
                Some(i) => segments.push(format!("[{i}]")),
            }
            name = frame.name;
        }
        let mut out: String = segments.iter().rev().map(String::as_str).collect();
        match name {
            Some(n) => out.insert_str(0, n),
            None if out.starts_with('.') => {
                out.remove(0);
            }
            None if out.is_empty() => return "<anonymous>".to_owned(),
            None => {}
        }
        out
    }

    fn invalid_type(&self, name: Option<&str>, expected: &str) -> InputError {
        InputError::InvalidType {
            name: self.full_name(name),
            expected: expected.to_owned(),
        }
    }

    fn expects(&self, name: Option<&str>, what: &str) -> InputError {
        InputError::Expects {
            name: self.full_name(name),
            what: what.to_owned(),
        }
    }

    /// Starts an object: checks that `value` is one and enters it.
    pub fn start_struct(
        &mut self,
        name: Option<&'static str>,
        value: Value,
    ) -> Result<Object, InputError> {
        match value {
            Value::Object(object) => {
                self.frames.push(Frame { name, index: None });
                Ok(object)
            }
            _ => Err(self.invalid_type(name, "object")),
        }
    }

    /// Ends an object: any member not read is unexpected.
    pub fn end_struct(&mut self, object: Object) -> Result<(), InputError> {
        if let Some(key) = object.keys().next() {
            return Err(InputError::Unexpected(self.full_name(Some(key))));
        }
        self.frames.pop();
        Ok(())
    }

    /// Reads an object type whole: start, members, end.
    pub fn object<T: VisitMembers>(
        &mut self,
        name: Option<&'static str>,
        value: Value,
    ) -> Result<T, InputError> {
        let mut object = self.start_struct(name, value)?;
        let done = T::visit_members(self, &mut object)?;
        self.end_struct(object)?;
        Ok(done)
    }

    /// Reads a mandatory member.
    pub fn member<T: Visit>(
        &mut self,
        object: &mut Object,
        name: &'static str,
    ) -> Result<T, InputError> {
        self.member_with(object, name, T::visit)
    }

    /// Reads a mandatory member with a visit function of its own (for
    /// `size`, whose keyval syntax differs from `uint64`'s).
    pub fn member_with<T>(
        &mut self,
        object: &mut Object,
        name: &'static str,
        visit: impl FnOnce(&mut Input, Option<&'static str>, Value) -> Result<T, InputError>,
    ) -> Result<T, InputError> {
        match object.remove(name) {
            Some(value) => visit(self, Some(name), value),
            None => Err(InputError::Missing(self.full_name(Some(name)))),
        }
    }

    /// Reads an optional member.
    pub fn optional<T: Visit>(
        &mut self,
        object: &mut Object,
        name: &'static str,
    ) -> Result<Option<T>, InputError> {
        self.optional_with(object, name, T::visit)
    }

    /// Reads an optional member with a visit function of its own.
    pub fn optional_with<T>(
        &mut self,
        object: &mut Object,
        name: &'static str,
        visit: impl FnOnce(&mut Input, Option<&'static str>, Value) -> Result<T, InputError>,
    ) -> Result<Option<T>, InputError> {
        match object.remove(name) {
            Some(value) => visit(self, Some(name), value).map(Some),
            None => Ok(None),
        }
    }

    /// Applies the compat policy to a member with special features,
    /// before it is read (QEMU's `visit_policy_reject`). For an optional
    /// member, only when it is present.
    pub fn special_member(
        &mut self,
        object: &Object,
        name: &'static str,
        optional: bool,
        special: Special,
    ) -> Result<(), InputError> {
        if optional && !object.contains_key(name) {
            return Ok(());
        }
        self.policy
            .check_input(special, Subject::Parameter, name)
            .map_err(InputError::Policy)
    }

    /// Applies the compat policy to an enum value with special features.
    pub fn special_value(&mut self, value: &str, special: Special) -> Result<(), InputError> {
        self.policy
            .check_input(special, Subject::Value, value)
            .map_err(InputError::Policy)
    }

    /// Reads a list, each element with `visit`.
    pub fn list<T>(
        &mut self,
        name: Option<&'static str>,
        value: Value,
        visit: impl Fn(&mut Input, Option<&'static str>, Value) -> Result<T, InputError>,
    ) -> Result<Vec<T>, InputError> {
        let Value::Array(elements) = value else {
            return Err(self.invalid_type(name, "array"));
        };
        self.frames.push(Frame {
            name,
            index: Some(0),
        });
        let mut out = Vec::with_capacity(elements.len());
        for (i, element) in elements.into_iter().enumerate() {
            if let Some(frame) = self.frames.last_mut() {
                frame.index = Some(i);
            }
            out.push(visit(self, None, element)?);
        }
        self.frames.pop();
        Ok(out)
    }

    /// The string of a keyval scalar.
    fn keyval_str(&self, name: Option<&str>, value: Value) -> Result<String, InputError> {
        match value {
            Value::String(s) => Ok(s),
            Value::Object(_) | Value::Array(_) => {
                Err(InputError::KeyvalNested(self.full_name(name)))
            }
            _ => Err(InputError::KeyvalNotString(self.full_name(name))),
        }
    }

    /// `int` / `int64`.
    pub fn int64(&mut self, name: Option<&'static str>, value: Value) -> Result<i64, InputError> {
        if self.keyval {
            let s = self.keyval_str(name, value)?;
            return parse_i64(&s).ok_or_else(|| self.expects(name, "integer"));
        }
        match &value {
            Value::Number(n) => n.as_i64().ok_or_else(|| self.invalid_type(name, "integer")),
            _ => Err(self.invalid_type(name, "integer")),
        }
    }

    /// `uint64`: negative integers are accepted and wrap, as in QEMU
    /// ("for backward compatibility").
    pub fn uint64(&mut self, name: Option<&'static str>, value: Value) -> Result<u64, InputError> {
        if self.keyval {
            let s = self.keyval_str(name, value)?;
            return parse_u64(&s).ok_or_else(|| self.expects(name, "integer"));
        }
        let n = match &value {
            Value::Number(n) => n.as_u64().or_else(|| n.as_i64().map(|i| i as u64)),
            _ => None,
        };
        n.ok_or_else(|| self.expects(name, "uint64"))
    }

    /// `size`: like `uint64` in JSON; in keyval, a byte count with an
    /// optional suffix (`64k`, `1.5G`), as `qemu_strtosz`.
    pub fn size(&mut self, name: Option<&'static str>, value: Value) -> Result<u64, InputError> {
        if self.keyval {
            let s = self.keyval_str(name, value)?;
            return parse_size(&s).ok_or_else(|| self.expects(name, "size"));
        }
        self.uint64(name, value)
    }

    /// A signed integer of a given width: range errors name the bare
    /// member (`null` for list elements), as QEMU's `visit_type_intN`.
    pub fn int_in(
        &mut self,
        name: Option<&'static str>,
        value: Value,
        min: i64,
        max: i64,
        type_name: &str,
    ) -> Result<i64, InputError> {
        let v = self.int64(name, value)?;
        if v < min || v > max {
            return Err(InputError::Expects {
                name: name.unwrap_or("null").to_owned(),
                what: type_name.to_owned(),
            });
        }
        Ok(v)
    }

    /// An unsigned integer of a given width (see [`Input::int_in`]).
    pub fn uint_in(
        &mut self,
        name: Option<&'static str>,
        value: Value,
        max: u64,
        type_name: &str,
    ) -> Result<u64, InputError> {
        let v = self.uint64(name, value)?;
        if v > max {
            return Err(InputError::Expects {
                name: name.unwrap_or("null").to_owned(),
                what: type_name.to_owned(),
            });
        }
        Ok(v)
    }

    /// `number`: integers are accepted.
    pub fn number(&mut self, name: Option<&'static str>, value: Value) -> Result<f64, InputError> {
        if self.keyval {
            let s = self.keyval_str(name, value)?;
            return match s.trim_start().parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(self.invalid_type(name, "number")),
            };
        }
        match &value {
            Value::Number(n) => n.as_f64().ok_or_else(|| self.invalid_type(name, "number")),
            _ => Err(self.invalid_type(name, "number")),
        }
    }

    /// `bool`; keyval spells it `on` / `off`, or as QEMU's
    /// `qapi_bool_parse()` also takes, `yes` / `no`, `true` / `false`,
    /// `y` / `n` (lower case only).
    pub fn boolean(
        &mut self,
        name: Option<&'static str>,
        value: Value,
    ) -> Result<bool, InputError> {
        if self.keyval {
            let s = self.keyval_str(name, value)?;
            return match s.as_str() {
                "on" | "yes" | "true" | "y" => Ok(true),
                "off" | "no" | "false" | "n" => Ok(false),
                _ => Err(self.expects(name, "'on' or 'off'")),
            };
        }
        match value {
            Value::Bool(b) => Ok(b),
            _ => Err(self.invalid_type(name, "boolean")),
        }
    }

    /// `str`.
    pub fn string(
        &mut self,
        name: Option<&'static str>,
        value: Value,
    ) -> Result<String, InputError> {
        if self.keyval {
            return self.keyval_str(name, value);
        }
        match value {
            Value::String(s) => Ok(s),
            _ => Err(self.invalid_type(name, "string")),
        }
    }

    /// `null`.
    pub fn null(&mut self, name: Option<&'static str>, value: Value) -> Result<(), InputError> {
        match value {
            Value::Null => Ok(()),
            _ => Err(self.invalid_type(name, "null")),
        }
    }

    /// The error for a string that names no value of an enum.
    pub fn bad_enum_value(&self, name: Option<&str>, value: &str) -> InputError {
        InputError::BadEnumValue {
            name: name.unwrap_or("null").to_owned(),
            value: value.to_owned(),
        }
    }

    /// The error for a value whose JSON type matches no branch of an
    /// alternate (named by its bare name, as QEMU's generated code does).
    pub fn alternate_mismatch(&self, name: Option<&str>, alternate: &str) -> InputError {
        InputError::InvalidType {
            name: name.unwrap_or("null").to_owned(),
            expected: alternate.to_owned(),
        }
    }

    /// Whether this input reads keyval (all scalars are strings).
    pub fn is_keyval(&self) -> bool {
        self.keyval
    }
}

/// `qemu_strtoi64` with base 0: decimal, `0x` hex, leading-`0` octal.
pub fn parse_i64(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let magnitude = parse_radix0(digits)?;
    if neg {
        if magnitude == 1u64 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(magnitude).ok().map(|v| -v)
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// `qemu_strtou64` with base 0; like `strtoull`, a minus sign negates
/// modulo 2^64.
pub fn parse_u64(s: &str) -> Option<u64> {
    let t = s.trim_start();
    match t.as_bytes().first() {
        Some(b'-') => parse_radix0(&t[1..]).map(|m| m.wrapping_neg()),
        Some(b'+') => parse_radix0(&t[1..]),
        _ => parse_radix0(t),
    }
}

fn parse_radix0(digits: &str) -> Option<u64> {
    let (radix, body) = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, h)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(body, radix).ok()
}

/// `qemu_strtosz`: a number, optionally with a fraction, then an optional
/// unit suffix `B`, `K`, `M`, `G`, `T`, `P`, `E` (either case; powers of
/// 1024). Hexadecimal takes no fraction. The result must fit 64 bits.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim_start();
    let unit_of = |c: char| -> Option<u32> {
        Some(match c.to_ascii_uppercase() {
            'B' => 0,
            'K' => 10,
            'M' => 20,
            'G' => 30,
            'T' => 40,
            'P' => 50,
            'E' => 60,
            _ => return None,
        })
    };
    let (number, shift) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() && !t.starts_with("0x") && !t.starts_with("0X") => {
            (&t[..t.len() - 1], unit_of(c)?)
        }
        Some(c) if c.is_ascii_alphabetic() => {
            // Hex digits end in letters; only a unit after the digits
            // counts, and hex with a unit is rare enough to refuse.
            match unit_of(c) {
                Some(shift) if !c.is_ascii_hexdigit() => (&t[..t.len() - 1], shift),
                _ => (t, 0),
            }
        }
        _ => (t, 0),
    };
    if number.starts_with('-') || number.is_empty() {
        return None;
    }
    if let Some(h) = number
        .strip_prefix("0x")
        .or_else(|| number.strip_prefix("0X"))
    {
        let v = u64::from_str_radix(h, 16).ok()?;
        return v.checked_mul(1u64 << shift);
    }
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (number, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole_v: u64 = whole.parse().ok()?;
    let mut total = whole_v.checked_mul(1u64 << shift)?;
    if let Some(f) = fraction {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let frac: f64 = format!("0.{f}").parse().ok()?;
        total = total.checked_add((frac * (1u64 << shift) as f64) as u64)?;
    }
    Some(total)
}

macro_rules! visit_scalar {
    ($t:ty, $method:ident) => {
        impl Visit for $t {
            fn visit(
                input: &mut Input,
                name: Option<&'static str>,
                value: Value,
            ) -> Result<Self, InputError> {
                input.$method(name, value)
            }
        }
    };
}

visit_scalar!(i64, int64);
visit_scalar!(u64, uint64);
visit_scalar!(f64, number);
visit_scalar!(bool, boolean);
visit_scalar!(String, string);

macro_rules! visit_int {
    ($t:ty, $name:literal) => {
        impl Visit for $t {
            fn visit(
                input: &mut Input,
                name: Option<&'static str>,
                value: Value,
            ) -> Result<Self, InputError> {
                let v = input.int_in(name, value, <$t>::MIN as i64, <$t>::MAX as i64, $name)?;
                Ok(v as $t)
            }
        }
    };
}

macro_rules! visit_uint {
    ($t:ty, $name:literal) => {
        impl Visit for $t {
            fn visit(
                input: &mut Input,
                name: Option<&'static str>,
                value: Value,
            ) -> Result<Self, InputError> {
                let v = input.uint_in(name, value, <$t>::MAX as u64, $name)?;
                Ok(v as $t)
            }
        }
    };
}

visit_int!(i8, "int8_t");
visit_int!(i16, "int16_t");
visit_int!(i32, "int32_t");
visit_uint!(u8, "uint8_t");
visit_uint!(u16, "uint16_t");
visit_uint!(u32, "uint32_t");

/// The QAPI `null` type: its only value is JSON `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Null;

impl Visit for Null {
    fn visit(
        input: &mut Input,
        name: Option<&'static str>,
        value: Value,
    ) -> Result<Self, InputError> {
        input.null(name, value).map(|()| Null)
    }
}

/// The result of a command without `returns`: QEMU answers `{}`.
impl Visit for () {
    fn visit(
        input: &mut Input,
        name: Option<&'static str>,
        value: Value,
    ) -> Result<Self, InputError> {
        let object = input.start_struct(name, value)?;
        input.end_struct(object)
    }
}

impl Visit for Value {
    fn visit(_: &mut Input, _: Option<&'static str>, value: Value) -> Result<Self, InputError> {
        Ok(value)
    }
}

impl<T: Visit> Visit for Vec<T> {
    fn visit(
        input: &mut Input,
        name: Option<&'static str>,
        value: Value,
    ) -> Result<Self, InputError> {
        input.list(name, value, T::visit)
    }
}

impl<T: VisitMembers> VisitMembers for Box<T> {
    fn visit_members(input: &mut Input, object: &mut Object) -> Result<Self, InputError> {
        T::visit_members(input, object).map(Box::new)
    }
}

impl<T: Visit> Visit for Box<T> {
    fn visit(
        input: &mut Input,
        name: Option<&'static str>,
        value: Value,
    ) -> Result<Self, InputError> {
        T::visit(input, name, value).map(Box::new)
    }
}

/// Reads a `T` for serde's `Deserialize`: the JSON is taken whole, then
/// visited (generated types implement `Deserialize` through this).
pub fn deserialize<'de, T: Visit, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    use serde::Deserialize as _;
    let value = Value::deserialize(deserializer)?;
    Input::new()
        .with_role(Role::Client)
        .read(value)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn full_names_follow_qemu() {
        let mut input = Input::new();
        assert_eq!(input.full_name(Some("id")), "id");
        assert_eq!(input.full_name(None), "<anonymous>");
        let mut top = input.start_struct(None, json!({"a": [{"b": 1}]})).unwrap();
        assert_eq!(input.full_name(Some("x")), "x");
        let a = top.remove("a").unwrap();
        let err = input
            .list(Some("a"), a, |i, n, v| {
                let mut o = i.start_struct(n, v)?;
                i.member::<String>(&mut o, "b")
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid parameter type for 'a[0].b', expected: string"
        );
    }

    #[test]
    fn integers_follow_qemu() {
        let mut input = Input::new();
        assert_eq!(input.read::<u64>(json!(-1)).unwrap(), u64::MAX);
        let err = input.read::<u8>(json!(256)).unwrap_err();
        assert_eq!(err.to_string(), "Parameter 'null' expects uint8_t");
        let err = input.read::<i64>(json!(1.5)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid parameter type for '<anonymous>', expected: integer"
        );
        assert_eq!(input.read::<f64>(json!(3)).unwrap(), 3.0);
        let err = input.read::<u64>(json!("1")).unwrap_err();
        assert_eq!(err.to_string(), "Parameter '<anonymous>' expects uint64");
    }

    #[test]
    fn keyval_scalars() {
        let mut input = Input::keyval();
        assert_eq!(input.read::<i64>(json!("0x10")).unwrap(), 16);
        assert_eq!(input.read::<i64>(json!("010")).unwrap(), 8);
        assert!(input.read::<bool>(json!("on")).unwrap());
        assert_eq!(input.size(None, json!("1.5k")).unwrap(), 1536);
        assert_eq!(input.size(None, json!("64M")).unwrap(), 64 << 20);
        assert_eq!(input.size(None, json!("0x20")).unwrap(), 32);
        assert!(input.size(None, json!("16E")).is_err());
        assert!(input.read::<bool>(json!("yes")).unwrap());
        assert!(!input.read::<bool>(json!("n")).unwrap());
        let err = input.read::<bool>(json!("ON")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Parameter '<anonymous>' expects 'on' or 'off'"
        );
        let err = input.read::<String>(json!({"a": "1"})).unwrap_err();
        assert_eq!(err.to_string(), "Parameters '<anonymous>.*' are unexpected");
    }
}
