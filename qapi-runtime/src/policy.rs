//! QEMU's `-compat` policy: what to do with interfaces marked with the
//! special features `deprecated` and `unstable`.
//!
//! This module is only the policy's data and its checks, and imports no
//! other module of the crate: [`input`](crate::input) applies it, and
//! reading a policy (QEMU's `-compat` option,
//! [`CompatPolicy::from_option`]) is done above both, in `compat_option`.

/// The special features of a command, member, enum value or event, as a
/// bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Special(u8);

impl Special {
    /// No special feature.
    pub const NONE: Special = Special(0);
    /// The `deprecated` feature.
    pub const DEPRECATED: Special = Special(1);
    /// The `unstable` feature.
    pub const UNSTABLE: Special = Special(2);
    /// Both.
    pub const BOTH: Special = Special(3);

    /// Whether `deprecated` is set.
    pub const fn deprecated(self) -> bool {
        self.0 & 1 != 0
    }

    /// Whether `unstable` is set.
    pub const fn unstable(self) -> bool {
        self.0 & 2 != 0
    }

    /// Whether no special feature is set.
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }
}

/// What to do with special input (`deprecated-input`, `unstable-input`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputPolicy {
    /// Accept it (the default).
    #[default]
    Accept,
    /// Reject it with an error.
    Reject,
    /// Abort the process (a testing aid, as in QEMU).
    Crash,
}

/// What to do with special output (`deprecated-output`,
/// `unstable-output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputPolicy {
    /// Emit it (the default).
    #[default]
    Accept,
    /// Leave it out.
    Hide,
}

/// QEMU's `CompatPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompatPolicy {
    /// `deprecated-input`
    pub deprecated_input: InputPolicy,
    /// `deprecated-output`
    pub deprecated_output: OutputPolicy,
    /// `unstable-input`
    pub unstable_input: InputPolicy,
    /// `unstable-output`
    pub unstable_output: OutputPolicy,
}

/// What kind of thing a policy check is about, for the error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A command (`Deprecated command NAME disabled by policy`, class
    /// `CommandNotFound`).
    Command,
    /// A member (`Deprecated parameter NAME disabled by policy`).
    Parameter,
    /// An enum value (`Deprecated value NAME disabled by policy`).
    Value,
}

impl CompatPolicy {
    /// Checks special input against the policy; `Err` holds QEMU's text.
    pub fn check_input(
        &self,
        special: Special,
        subject: Subject,
        name: &str,
    ) -> Result<(), String> {
        for (set, policy, word) in [
            (special.deprecated(), self.deprecated_input, "Deprecated"),
            (special.unstable(), self.unstable_input, "Unstable"),
        ] {
            if !set {
                continue;
            }
            match policy {
                InputPolicy::Accept => {}
                InputPolicy::Reject => {
                    let kind = match subject {
                        Subject::Command => "command",
                        Subject::Parameter => "parameter",
                        Subject::Value => "value",
                    };
                    return Err(format!("{word} {kind} {name} disabled by policy"));
                }
                InputPolicy::Crash => std::process::abort(),
            }
        }
        Ok(())
    }

    /// Whether special output is shown under the policy.
    pub fn shows(&self, special: Special) -> bool {
        !(special.deprecated() && self.deprecated_output == OutputPolicy::Hide
            || special.unstable() && self.unstable_output == OutputPolicy::Hide)
    }
}

impl InputPolicy {
    /// The value's name in QEMU's `CompatPolicyInput`.
    pub const fn as_str(self) -> &'static str {
        match self {
            InputPolicy::Accept => "accept",
            InputPolicy::Reject => "reject",
            InputPolicy::Crash => "crash",
        }
    }

    /// The value named `name` in QEMU's `CompatPolicyInput`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "accept" => Some(InputPolicy::Accept),
            "reject" => Some(InputPolicy::Reject),
            "crash" => Some(InputPolicy::Crash),
            _ => None,
        }
    }
}

impl OutputPolicy {
    /// The value's name in QEMU's `CompatPolicyOutput`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OutputPolicy::Accept => "accept",
            OutputPolicy::Hide => "hide",
        }
    }

    /// The value named `name` in QEMU's `CompatPolicyOutput`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "accept" => Some(OutputPolicy::Accept),
            "hide" => Some(OutputPolicy::Hide),
            _ => None,
        }
    }
}
