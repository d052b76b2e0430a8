//! Reading a [`CompatPolicy`] as QEMU reads its `-compat` option: the
//! policy types read as QEMU's `CompatPolicy` struct and its enums
//! (`qapi/compat.json`), from keyval text or JSON.
//!
//! It sits above [`policy`](crate::policy) (the data),
//! [`input`](crate::input) (which applies a policy while reading) and
//! [`keyval`](crate::keyval) (the text syntax), so that none of those
//! imports another above it.

use serde_json::Value;

use crate::input::{Input, InputError, Object, Visit, VisitMembers};
use crate::keyval::ReadError;
use crate::policy::{CompatPolicy, InputPolicy, OutputPolicy};

/// Read as QEMU's enum `CompatPolicyInput`.
impl Visit for InputPolicy {
    fn visit(
        input: &mut Input,
        name: Option<&'static str>,
        value: Value,
    ) -> Result<Self, InputError> {
        let s = input.string(name, value)?;
        InputPolicy::from_name(&s).ok_or_else(|| input.bad_enum_value(name, &s))
    }
}

/// Read as QEMU's enum `CompatPolicyOutput`.
impl Visit for OutputPolicy {
    fn visit(
        input: &mut Input,
        name: Option<&'static str>,
        value: Value,
    ) -> Result<Self, InputError> {
        let s = input.string(name, value)?;
        OutputPolicy::from_name(&s).ok_or_else(|| input.bad_enum_value(name, &s))
    }
}

/// Read as QEMU's struct `CompatPolicy` (`qapi/compat.json`): four
/// optional members, an absent one meaning `accept`.
impl VisitMembers for CompatPolicy {
    fn visit_members(input: &mut Input, object: &mut Object) -> Result<Self, InputError> {
        Ok(CompatPolicy {
            deprecated_input: input
                .optional(object, "deprecated-input")?
                .unwrap_or_default(),
            deprecated_output: input
                .optional(object, "deprecated-output")?
                .unwrap_or_default(),
            unstable_input: input
                .optional(object, "unstable-input")?
                .unwrap_or_default(),
            unstable_output: input
                .optional(object, "unstable-output")?
                .unwrap_or_default(),
        })
    }
}

impl Visit for CompatPolicy {
    fn visit(
        input: &mut Input,
        name: Option<&'static str>,
        value: Value,
    ) -> Result<Self, InputError> {
        input.object(name, value)
    }
}

impl CompatPolicy {
    /// Parses the text of QEMU's `-compat` option, as QEMU does: keyval
    /// without an implied key (or JSON when it starts with `{`), read into
    /// `CompatPolicy`, e.g. `deprecated-input=reject,deprecated-output=hide`.
    /// Errors are QEMU's texts (`Parameter 'deprecated-input' does not
    /// accept value 'bogus'`, `Parameter 'foo' is unexpected`, `Help is
    /// not available for this option`).
    ///
    /// Each `-compat` replaces the whole policy (QEMU copies every member,
    /// so members a later option leaves out are back to `accept`).
    pub fn from_option(text: &str) -> Result<Self, ReadError> {
        crate::keyval::read_str(text, None)
    }
}

impl std::str::FromStr for CompatPolicy {
    type Err = ReadError;

    /// See [`CompatPolicy::from_option`].
    fn from_str(text: &str) -> Result<Self, ReadError> {
        CompatPolicy::from_option(text)
    }
}
