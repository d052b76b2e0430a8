//! The QMP envelope: what a request must look like, and the messages a
//! server writes (greeting, responses, events), with QEMU's texts
//! (`qapi/qmp-dispatch.c`, `monitor/qmp.c`) and member order.

use serde_json::{Map, Value};

use super::json::{qdict_bucket, qdict_order, write_str, write_value};
use crate::error::{Error, ErrorClass};

/// What `query-version` answers and the greeting announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// `qemu.major`
    pub major: i64,
    /// `qemu.minor`
    pub minor: i64,
    /// `qemu.micro`
    pub micro: i64,
    /// `package`: free text (QEMU puts its distribution's version here).
    pub package: String,
}

impl Default for VersionInfo {
    /// QEMU version 0.0.0 and `package` naming this crate
    /// (`qapi-runtime 0.1.0`): the `qemu` member is a QEMU release number,
    /// which clients compare to know what a QEMU supports, and a server
    /// built on this crate is no QEMU release, so it claims none (a
    /// client that gates features on the number assumes the fewest).
    /// A server that implements a given release's interface says so in
    /// [`Config::version`](super::Config::version) (`netdevd` announces
    /// the QEMU release whose `net.json` it implements), or answers
    /// `query-version` through its service.
    fn default() -> Self {
        VersionInfo {
            major: 0,
            minor: 0,
            micro: 0,
            package: concat!("qapi-runtime ", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl VersionInfo {
    /// The `VersionInfo` JSON object.
    pub fn to_value(&self) -> Value {
        serde_json::json!({
            "qemu": { "major": self.major, "minor": self.minor, "micro": self.micro },
            "package": self.package,
        })
    }

    /// Reads a `VersionInfo` object (a client reading a greeting).
    pub fn from_value(v: &Value) -> Option<Self> {
        let q = v.get("qemu")?;
        Some(VersionInfo {
            major: q.get("major")?.as_i64()?,
            minor: q.get("minor")?.as_i64()?,
            micro: q.get("micro")?.as_i64()?,
            package: v.get("package")?.as_str()?.to_owned(),
        })
    }
}

/// A request that passed QEMU's envelope checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The command name.
    pub command: String,
    /// `arguments`, when present (always an object).
    pub arguments: Option<Map<String, Value>>,
    /// `id`, echoed in the response.
    pub id: Option<Value>,
    /// Sent with `exec-oob`.
    pub oob: bool,
}

/// Whether a message is to run out of band: it has `exec-oob` and no
/// `execute` (QEMU's `qmp_is_oob`, applied before any other check, so an
/// out-of-band request is answered at once even when it is refused).
pub fn is_oob(message: &Value) -> bool {
    match message {
        Value::Object(m) => m.contains_key("exec-oob") && !m.contains_key("execute"),
        _ => false,
    }
}

/// QEMU's `qmp_dispatch_check_obj`: the envelope checks, member by
/// member in QEMU's dictionary order. On error, the `id` (if the input
/// was an object that had one) comes back with the error.
pub fn check_request(message: Value, allow_oob: bool) -> Result<Request, (Error, Option<Value>)> {
    let Value::Object(mut map) = message else {
        return Err((Error::generic("QMP input must be a JSON object"), None));
    };
    let id = map.get("id").cloned();
    let mut exec_key: Option<&str> = None;
    for (name, value) in qdict_order(&map) {
        let fail = |desc: String| Err((Error::generic(desc), id.clone()));
        match name.as_str() {
            "execute" | "exec-oob" if name == "execute" || allow_oob => {
                if !value.is_string() {
                    return fail(format!("QMP input member '{name}' must be a string"));
                }
                if let Some(other) = exec_key {
                    return fail(format!("QMP input member '{name}' clashes with '{other}'"));
                }
                exec_key = Some(if name == "execute" {
                    "execute"
                } else {
                    "exec-oob"
                });
            }
            "arguments" => {
                if !value.is_object() {
                    return fail("QMP input member 'arguments' must be an object".to_owned());
                }
            }
            "id" => {}
            _ => return fail(format!("QMP input member '{name}' is unexpected")),
        }
    }
    let Some(key) = exec_key else {
        return Err((Error::generic("QMP input lacks member 'execute'"), id));
    };
    let Some(Value::String(command)) = map.remove(key) else {
        return Err((Error::generic("QMP input lacks member 'execute'"), id));
    };
    let arguments = match map.remove("arguments") {
        Some(Value::Object(a)) => Some(a),
        _ => None,
    };
    Ok(Request {
        command,
        arguments,
        id,
        oob: key == "exec-oob",
    })
}

/// `"class"` before `"desc"`, as QEMU writes an error.
fn write_error(out: &mut Vec<u8>, e: &Error) {
    out.extend_from_slice(b"{\"class\": ");
    write_str(out, e.class.as_str());
    out.extend_from_slice(b", \"desc\": ");
    write_str(out, &e.desc);
    out.push(b'}');
}

/// Writes a response line: `{"return": R, "id": I}` or `{"id": I,
/// "error": {...}}` (QEMU's member order), then a newline.
pub fn write_response(out: &mut Vec<u8>, result: &Result<Value, Error>, id: Option<&Value>) {
    match result {
        Ok(ret) => {
            out.extend_from_slice(b"{\"return\": ");
            write_value(out, ret);
            if let Some(id) = id {
                out.extend_from_slice(b", \"id\": ");
                write_value(out, id);
            }
        }
        Err(e) => {
            out.push(b'{');
            if let Some(id) = id {
                out.extend_from_slice(b"\"id\": ");
                write_value(out, id);
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(b"\"error\": ");
            write_error(out, e);
        }
    }
    out.extend_from_slice(b"}\n");
}

/// Writes the greeting line, `{"QMP": {"version": ..., "capabilities":
/// [...]}}`.
pub fn write_greeting(out: &mut Vec<u8>, version: &VersionInfo, capabilities: &[&str]) {
    let caps = Value::Array(
        capabilities
            .iter()
            .map(|c| Value::String((*c).to_owned()))
            .collect(),
    );
    out.extend_from_slice(b"{\"QMP\": {\"version\": ");
    write_value(out, &qemu_ordered(version.to_value()));
    out.extend_from_slice(b", \"capabilities\": ");
    write_value(out, &caps);
    out.extend_from_slice(b"}}\n");
}

/// Writes an event message (as `event::message` builds it) with its
/// members in QEMU's order: `timestamp`, `event`, `data`.
pub fn write_event(out: &mut Vec<u8>, message: &Value) {
    match message {
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, v)) in qdict_order(m).into_iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_str(out, k);
                out.extend_from_slice(b": ");
                if k == "timestamp" {
                    write_value(out, &qemu_ordered(v.clone()));
                } else {
                    write_value(out, v);
                }
            }
            out.push(b'}');
        }
        other => write_value(out, other),
    }
    out.push(b'\n');
}

/// A value with every object's members in QEMU's order (for the small
/// objects QEMU itself writes: versions, timestamps).
pub fn qemu_ordered(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(usize, (String, Value))> = m.into_iter().enumerate().collect();
            entries.sort_by(|a, b| {
                qdict_bucket(&a.1 .0)
                    .cmp(&qdict_bucket(&b.1 .0))
                    .then(b.0.cmp(&a.0))
            });
            Value::Object(
                entries
                    .into_iter()
                    .map(|(_, (k, v))| (k, qemu_ordered(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.into_iter().map(qemu_ordered).collect()),
        v => v,
    }
}

/// QEMU's text for any command in negotiation mode but
/// `qmp_capabilities` (it replaces every `CommandNotFound` then).
pub fn expecting_negotiation() -> Error {
    Error::new(
        ErrorClass::CommandNotFound,
        "Expecting capabilities negotiation with 'qmp_capabilities'",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value, oob: bool) -> String {
        check_request(v, oob).unwrap_err().0.desc
    }

    #[test]
    fn envelope_texts() {
        assert_eq!(err(json!([]), false), "QMP input must be a JSON object");
        assert_eq!(err(json!({}), false), "QMP input lacks member 'execute'");
        assert_eq!(
            err(json!({"execute": 1}), false),
            "QMP input member 'execute' must be a string"
        );
        assert_eq!(
            err(json!({"execute": "a", "arguments": []}), false),
            "QMP input member 'arguments' must be an object"
        );
        assert_eq!(
            err(json!({"execute": "a", "foo": 1}), false),
            "QMP input member 'foo' is unexpected"
        );
        assert_eq!(
            err(json!({"exec-oob": "a"}), false),
            "QMP input member 'exec-oob' is unexpected"
        );
        assert_eq!(
            err(json!({"execute": "a", "exec-oob": "b"}), true),
            "QMP input member 'execute' clashes with 'exec-oob'"
        );
        let r = check_request(json!({"exec-oob": "a", "id": [1]}), true).unwrap();
        assert!(r.oob);
        assert_eq!(r.id, Some(json!([1])));
    }

    #[test]
    fn responses_in_qemu_order() {
        let mut out = Vec::new();
        write_response(&mut out, &Ok(json!({})), Some(&json!("x")));
        write_response(&mut out, &Err(Error::generic("no")), Some(&json!(1)));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"return\": {}, \"id\": \"x\"}\n{\"id\": 1, \"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}\n"
        );
    }
}
