//! QMP errors: what a command handler returns and what a client reads
//! back, `{"error": {"class": ..., "desc": ...}}`.

use std::fmt;

use serde_json::{json, Value};

/// QEMU's error classes (`QapiErrorClass`). Nearly everything is
/// `GenericError`; the others exist because clients test for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Any error without a class of its own.
    GenericError,
    /// The command does not exist (or is not allowed in this state).
    CommandNotFound,
    /// A device exists but is not active.
    DeviceNotActive,
    /// The device does not exist.
    DeviceNotFound,
    /// KVM lacks a capability.
    KVMMissingCap,
}

impl ErrorClass {
    /// The class name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::GenericError => "GenericError",
            ErrorClass::CommandNotFound => "CommandNotFound",
            ErrorClass::DeviceNotActive => "DeviceNotActive",
            ErrorClass::DeviceNotFound => "DeviceNotFound",
            ErrorClass::KVMMissingCap => "KVMMissingCap",
        }
    }

    /// The class with this wire name; unknown names read as
    /// `GenericError`, as QEMU's own clients treat them.
    pub fn from_wire(name: &str) -> Self {
        match name {
            "CommandNotFound" => ErrorClass::CommandNotFound,
            "DeviceNotActive" => ErrorClass::DeviceNotActive,
            "DeviceNotFound" => ErrorClass::DeviceNotFound,
            "KVMMissingCap" => ErrorClass::KVMMissingCap,
            _ => ErrorClass::GenericError,
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A QMP error: a class and a human-readable description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{desc}")]
pub struct Error {
    /// The class clients may test for.
    pub class: ErrorClass,
    /// The text, as QEMU words it.
    pub desc: String,
}

impl Error {
    /// A `GenericError` with this text.
    pub fn generic(desc: impl Into<String>) -> Self {
        Error {
            class: ErrorClass::GenericError,
            desc: desc.into(),
        }
    }

    /// An error of `class` with this text.
    pub fn new(class: ErrorClass, desc: impl Into<String>) -> Self {
        Error {
            class,
            desc: desc.into(),
        }
    }

    /// QEMU's answer to an unknown command: "The command NAME has not been
    /// found".
    pub fn command_not_found(name: &str) -> Self {
        Error::new(
            ErrorClass::CommandNotFound,
            format!("The command {name} has not been found"),
        )
    }

    /// QEMU's "Device 'ID' not found" (`DeviceNotFound`).
    pub fn device_not_found(id: &str) -> Self {
        Error::new(
            ErrorClass::DeviceNotFound,
            format!("Device '{id}' not found"),
        )
    }

    /// The `error` member of a QMP response.
    pub fn to_value(&self) -> Value {
        json!({ "class": self.class.as_str(), "desc": self.desc })
    }
}

impl From<crate::input::InputError> for Error {
    fn from(e: crate::input::InputError) -> Self {
        Error::generic(e.to_string())
    }
}
