//! What generated code implements: client request types, enums, events,
//! and the metadata a server needs about each command.

use serde_json::Value;

use crate::input::{Input, InputError, Visit};
use crate::output::{Output, ToValue};
use crate::policy::Special;

/// A command as a client sends it: the request type generated for each
/// command holds its arguments, so a client writes
/// `client.execute(NetdevDel { id })` and gets `Returns` back.
pub trait Command: ToValue {
    /// The command's wire name.
    const NAME: &'static str;
    /// What a successful call returns (`()` for `{}`).
    type Returns: Visit;
    /// The command's metadata.
    fn info() -> &'static CommandInfo;
    /// The `arguments` member of the request, or `None` when the command
    /// takes none.
    fn arguments(&self, out: &Output) -> Option<Value> {
        match self.to_value(out) {
            Value::Object(m) if m.is_empty() => None,
            v => Some(v),
        }
    }
}

/// What a server needs to know about a command besides its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    /// The wire name.
    pub name: &'static str,
    /// `deprecated` / `unstable`.
    pub special: Special,
    /// Every feature, special or not.
    pub features: &'static [&'static str],
    /// `false` for `'success-response': false`: no reply on success.
    pub success_response: bool,
    /// `allow-oob`: may run out of band.
    pub allow_oob: bool,
    /// `allow-preconfig`: allowed before machine creation.
    pub allow_preconfig: bool,
    /// `coroutine`: may yield (QEMU runs it in a coroutine).
    pub coroutine: bool,
    /// `false` for `'gen': false`: the schema leaves the marshalling to
    /// hand-written code, and the generated dispatcher does not route it.
    pub gen: bool,
    /// Whether this build has the command (its `if` condition holds).
    pub enabled: bool,
}

impl CommandInfo {
    /// Applies the compat policy to a call of this command: QEMU's
    /// "Deprecated command NAME disabled by policy" (`CommandNotFound`).
    pub fn check_policy(&self, input: &Input) -> Result<(), crate::Error> {
        input
            .policy()
            .check_input(self.special, crate::policy::Subject::Command, self.name)
            .map_err(|desc| crate::Error::new(crate::ErrorClass::CommandNotFound, desc))
    }
}

/// A QAPI enum type.
pub trait QapiEnum: Sized + 'static {
    /// The wire name.
    fn as_str(&self) -> &str;
    /// The value with this wire name.
    fn from_wire(name: &str) -> Option<Self>;
}

/// An event set: the enum of every event of a schema.
pub trait Event: Sized {
    /// The event's wire name.
    fn name(&self) -> &'static str;
    /// Its special features (for `deprecated-output=hide`).
    fn special(&self) -> Special;
    /// Its `data` member, or `None` for an event without data.
    fn data(&self, out: &Output) -> Option<Value>;
    /// Reads an event of this set; `None` when the name is not one of
    /// its events (a client keeps such events as raw JSON).
    fn parse(
        name: &str,
        data: Option<Value>,
        input: &mut Input,
    ) -> Option<Result<Self, InputError>>;
}

/// A string that names no value of an enum (`FromStr`'s error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a value of {enum_name}")]
pub struct UnknownValue {
    /// The enum's QAPI name.
    pub enum_name: &'static str,
    /// The string given.
    pub value: String,
}

impl UnknownValue {
    /// The error for `value` in `enum_name`.
    pub fn new(enum_name: &'static str, value: &str) -> Self {
        UnknownValue {
            enum_name,
            value: value.to_owned(),
        }
    }
}
