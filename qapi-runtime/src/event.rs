//! Emitting events: the message QEMU sends, stamped with the time.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::api::Event;
use crate::output::Output;

/// When an event happened, as QMP writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// Microseconds within the second.
    pub microseconds: i64,
}

impl Timestamp {
    /// The current wall-clock time (QEMU uses `g_get_real_time`).
    pub fn now() -> Self {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            seconds: since.as_secs() as i64,
            microseconds: i64::from(since.subsec_micros()),
        }
    }

    /// `{"seconds": ..., "microseconds": ...}`
    pub fn to_value(self) -> Value {
        json!({ "seconds": self.seconds, "microseconds": self.microseconds })
    }
}

/// The QMP message for an event: `{"timestamp": ..., "event": NAME,
/// "data": ...}` (no `data` for events without any). `None` when the
/// compat policy hides the event.
pub fn message<E: Event>(event: &E, timestamp: Timestamp, out: &Output) -> Option<Value> {
    if !out.shows(event.special()) {
        return None;
    }
    let mut m = serde_json::Map::new();
    m.insert("timestamp".into(), timestamp.to_value());
    m.insert("event".into(), Value::String(event.name().to_owned()));
    if let Some(data) = event.data(out) {
        m.insert("data".into(), data);
    }
    Some(Value::Object(m))
}

/// Where an [`Emitter`] delivers events.
type Sink<E> = Box<dyn Fn(&E, Timestamp) + Send + Sync>;

/// Stamps events and hands the messages to a sink (a QMP server's
/// broadcast, a log, a test's vector).
pub struct Emitter<E> {
    sink: Sink<E>,
}

impl<E: Event> Emitter<E> {
    /// An emitter that gives each event and its time to `sink`.
    pub fn new(sink: impl Fn(&E, Timestamp) + Send + Sync + 'static) -> Self {
        Emitter {
            sink: Box::new(sink),
        }
    }

    /// Emits `event`, stamped now.
    pub fn emit(&self, event: impl Into<E>) {
        let event = event.into();
        (self.sink)(&event, Timestamp::now());
    }
}

impl<E> std::fmt::Debug for Emitter<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Emitter")
    }
}
