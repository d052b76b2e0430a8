//! The syntax tree: the JSON-like values a schema file is made of.
//!
//! Values carry no positions of their own; like the reference, every
//! diagnostic about a definition points at the line where its top-level
//! expression starts.

/// A value of the schema's JSON dialect: single-quoted strings,
/// booleans, arrays and objects (no numbers, no null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `'text'`
    Str(String),
    /// `true` / `false`
    Bool(bool),
    /// `[ ... ]`
    Array(Vec<Value>),
    /// `{ 'key': value, ... }`, keys in source order.
    Object(Object),
}

/// An object: keys in source order, no duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Object(pub Vec<(String, Value)>);

impl Object {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, to change it in place.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    /// The keys, in source order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }
}
