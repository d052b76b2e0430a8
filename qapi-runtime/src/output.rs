//! Typed values to JSON, as QEMU's QObject output visitor does it:
//! members in schema order, absent optional members left out, and members
//! hidden when the compat policy says `deprecated-output=hide`.

use serde_json::{Map, Value};

use crate::input::Null;
use crate::policy::{CompatPolicy, Special};

/// The options of one output: the compat policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    policy: CompatPolicy,
}

impl Output {
    /// Output under the default policy (show everything).
    pub fn new() -> Self {
        Self::default()
    }

    /// Output under `policy`.
    pub fn with_policy(policy: CompatPolicy) -> Self {
        Output { policy }
    }

    /// Whether a member (or enum value, event) with these special
    /// features is shown.
    pub fn shows(&self, special: Special) -> bool {
        self.policy.shows(special)
    }
}

/// A type that can be written as JSON.
pub trait ToValue {
    /// The JSON form.
    fn to_value(&self, out: &Output) -> Value;
}

/// An object type whose members can be written into an object shared
/// with other types (a struct's base, a union's branch).
pub trait OutputMembers {
    /// Writes this type's members into `object`, in schema order.
    fn output_members(&self, out: &Output, object: &mut Map<String, Value>);
}

impl<T: OutputMembers + ?Sized> OutputMembers for Box<T> {
    fn output_members(&self, out: &Output, object: &mut Map<String, Value>) {
        (**self).output_members(out, object)
    }
}

/// The JSON object of an object type.
pub fn object<T: OutputMembers + ?Sized>(value: &T, out: &Output) -> Value {
    let mut object = Map::new();
    value.output_members(out, &mut object);
    Value::Object(object)
}

macro_rules! to_value_via_from {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self, _: &Output) -> Value {
                Value::from(*self)
            }
        }
    )*};
}

to_value_via_from!(i8, i16, i32, i64, u8, u16, u32, u64, bool);

impl ToValue for f64 {
    fn to_value(&self, _: &Output) -> Value {
        serde_json::Number::from_f64(*self).map_or(Value::Null, Value::Number)
    }
}

impl ToValue for String {
    fn to_value(&self, _: &Output) -> Value {
        Value::String(self.clone())
    }
}

impl ToValue for Value {
    fn to_value(&self, _: &Output) -> Value {
        self.clone()
    }
}

impl ToValue for Null {
    fn to_value(&self, _: &Output) -> Value {
        Value::Null
    }
}

/// The result of a command without `returns`: `{}`.
impl ToValue for () {
    fn to_value(&self, _: &Output) -> Value {
        Value::Object(Map::new())
    }
}

impl<T: ToValue> ToValue for Vec<T> {
    fn to_value(&self, out: &Output) -> Value {
        Value::Array(self.iter().map(|v| v.to_value(out)).collect())
    }
}

impl<T: ToValue + ?Sized> ToValue for Box<T> {
    fn to_value(&self, out: &Output) -> Value {
        (**self).to_value(out)
    }
}

/// Writes a `T` for serde's `Serialize` (generated types implement
/// `Serialize` through this).
pub fn serialize<T: ToValue + ?Sized, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::Serialize as _;
    value.to_value(&Output::new()).serialize(serializer)
}

/// Implements serde's `Serialize` and `Deserialize` for generated types
/// through [`ToValue`] and [`Visit`](crate::Visit). Attributes before a
/// type (`#[cfg(...)]`, `#[allow(deprecated)]`) go on both impls.
#[macro_export]
macro_rules! impl_serde {
    ($($(#[$attr:meta])* $t:ty),* $(,)?) => {$(
        $(#[$attr])*
        impl $crate::__private::serde::Serialize for $t {
            fn serialize<S: $crate::__private::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                $crate::output::serialize(self, s)
            }
        }
        $(#[$attr])*
        impl<'de> $crate::__private::serde::Deserialize<'de> for $t {
            fn deserialize<D: $crate::__private::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                $crate::input::deserialize(d)
            }
        }
    )*};
}
