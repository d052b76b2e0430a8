//! A [`Report`] as text for people (`qapi-gen diff`), Markdown for
//! `schemas/UPGRADES.md`, and JSON for tools (`qapi-gen diff --format
//! json`).

use std::fmt::{self, Write as _};

use serde_json::{json, Map, Value};

use super::report::{Change, ChangeKind, Class, Direction, Item, Report, Side, Step, Subject};

/// The sections of a report, in the order they are printed, with their
/// titles.
const SECTIONS: [(Class, &str); 5] = [
    (
        Class::BreaksClients,
        "Breaks old clients against a new server",
    ),
    (
        Class::BreaksServers,
        "Breaks old servers receiving new clients' requests (or new clients reading old answers)",
    ),
    (Class::BreaksBoth, "Breaks both old clients and old servers"),
    (Class::Feature, "Feature changes (deprecated, unstable)"),
    (Class::Compatible, "Compatible"),
];

/// A path below a subject: members joined with `.`, `[tag=value]` for
/// the members a union has for one tag value, `[]` for array elements.
fn path_text(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Member(name) => {
                if !out.is_empty() && !out.ends_with('.') {
                    out.push('.');
                }
                out.push_str(name);
            }
            Step::Case { tag, value } => {
                let _ = write!(out, "[{tag}={value}]");
            }
            Step::Element => out.push_str("[]"),
        }
    }
    out
}

/// Where a change is: `command 'x' argument 'a.b'`, `event 'E' data`,
/// `type 'T' (output) member 'm'`.
fn location(change: &Change) -> String {
    let what = match (&change.subject, change.direction) {
        (_, None) => None,
        (Subject::Command(_), Some(Direction::Input)) => Some(("argument", "arguments")),
        (Subject::Command(_), Some(Direction::Output)) => Some(("returns", "returns")),
        (Subject::Event(_), Some(_)) => Some(("data", "data")),
        (Subject::Type { .. }, Some(_)) => Some(("member", "")),
    };
    let mut out = change.subject.to_string();
    if let (Subject::Type { .. }, Some(direction)) = (&change.subject, change.direction) {
        let _ = write!(out, " ({})", direction.code());
    }
    if let Some((one, whole)) = what {
        let path = path_text(&change.path);
        if path.is_empty() {
            if !whole.is_empty() {
                let _ = write!(out, " {whole}");
            }
        } else {
            let _ = write!(out, " {one} '{path}'");
        }
    }
    out
}

/// What an item is called before a condition or feature change.
fn item_prefix(item: &Item) -> String {
    match item {
        Item::EnumValue(value) => format!("value '{value}': "),
        Item::AlternateBranch(name) => format!("alternative '{name}': "),
        Item::Command | Item::Event | Item::Type | Item::Member { .. } => String::new(),
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let condition = |c: &Option<qapi_parser::ir::IfCond>| match c {
            Some(c) => format!("'{c}'"),
            None => "none".to_owned(),
        };
        match self {
            ChangeKind::Removed(Item::Type) => f.write_str("removed (no command or event uses it)"),
            ChangeKind::Added(Item::Type) => f.write_str("added (no command or event uses it)"),
            ChangeKind::Removed(Item::Member { optional: true }) => {
                f.write_str("removed (was optional)")
            }
            ChangeKind::Removed(Item::EnumValue(v)) => write!(f, "value '{v}' removed"),
            ChangeKind::Added(Item::EnumValue(v)) => write!(f, "value '{v}' added"),
            ChangeKind::Removed(Item::AlternateBranch(t)) => write!(f, "alternative '{t}' removed"),
            ChangeKind::Added(Item::AlternateBranch(t)) => write!(f, "alternative '{t}' added"),
            ChangeKind::Added(Item::Member { optional: true }) => f.write_str("added (optional)"),
            ChangeKind::Added(Item::Member { optional: false }) => f.write_str("added (mandatory)"),
            ChangeKind::Removed(_) => f.write_str("removed"),
            ChangeKind::Added(_) => f.write_str("added"),
            ChangeKind::NowMandatory => f.write_str("now mandatory"),
            ChangeKind::NowOptional => f.write_str("now optional"),
            ChangeKind::TypeNarrowed { old, new } => {
                write!(f, "type narrowed from '{old}' to '{new}'")
            }
            ChangeKind::TypeWidened { old, new } => {
                write!(f, "type widened from '{old}' to '{new}'")
            }
            ChangeKind::TypeChanged { old, new } => {
                write!(f, "type changed from '{old}' to '{new}'")
            }
            ChangeKind::ConditionChanged { of, old, new } => write!(
                f,
                "{}condition changed from {} to {}",
                item_prefix(of),
                condition(old),
                condition(new)
            ),
            ChangeKind::FeatureAdded { of, feature } => {
                write!(f, "{}feature '{feature}' added", item_prefix(of))
            }
            ChangeKind::FeatureRemoved { of, feature } => {
                write!(f, "{}feature '{feature}' removed", item_prefix(of))
            }
            ChangeKind::FlagChanged { flag, now } => write!(f, "'{flag}' now {now}"),
            ChangeKind::DiscriminatorChanged { old, new } => {
                write!(f, "discriminator changed from '{old}' to '{new}'")
            }
        }
    }
}

/// One change on one line: where, what, and under which condition
/// (`command 'c' argument 'a': removed [if CONFIG_X]`).
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", location(self), self.kind)?;
        match &self.condition {
            Some(condition) => write!(f, " [if {condition}]"),
            None => Ok(()),
        }
    }
}

fn line(change: &Change) -> String {
    change.to_string()
}

/// How many changes of each class, as one sentence.
fn summary(report: &Report) -> String {
    let count = |class| report.of_class(class).count();
    format!(
        "{} changes: {} break old clients, {} break old servers, {} break both, \
         {} feature changes, {} compatible",
        report.changes.len(),
        count(Class::BreaksClients),
        count(Class::BreaksServers),
        count(Class::BreaksBoth),
        count(Class::Feature),
        count(Class::Compatible),
    )
}

/// The report for a terminal: one section per class that has changes,
/// one line per change, then a summary line.
pub fn to_text(report: &Report) -> String {
    let mut out = String::new();
    for (class, title) in SECTIONS {
        let lines: Vec<String> = report.of_class(class).map(line).collect();
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{title} ({}):", lines.len());
        for line in lines {
            let _ = writeln!(out, "  {line}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}", summary(report));
    out
}

/// The report as Markdown: a summary paragraph, then one `###` section
/// per class that has changes, with one bullet per change.
pub fn to_markdown(report: &Report) -> String {
    let mut out = format!("{}.\n", summary(report));
    for (class, title) in SECTIONS {
        let lines: Vec<String> = report.of_class(class).map(line).collect();
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n### {title}\n");
        for line in lines {
            let _ = writeln!(out, "- {}", line.replace('`', "\\`"));
        }
    }
    out
}

fn item_json(item: &Item) -> Value {
    match item {
        Item::Command => json!({ "item": "command" }),
        Item::Event => json!({ "item": "event" }),
        Item::Type => json!({ "item": "type" }),
        Item::Member { optional } => json!({ "item": "member", "optional": optional }),
        Item::EnumValue(value) => json!({ "item": "enum-value", "value": value }),
        Item::AlternateBranch(ty) => json!({ "item": "alternative", "type": ty }),
    }
}

fn change_json(change: &Change) -> Value {
    let mut object = Map::new();
    object.insert("class".into(), change.class.code().into());
    let subject = match &change.subject {
        Subject::Command(name) => json!({ "meta": "command", "name": name }),
        Subject::Event(name) => json!({ "meta": "event", "name": name }),
        Subject::Type { name, was } => json!({ "meta": "type", "name": name, "was": was }),
    };
    object.insert("subject".into(), subject);
    object.insert(
        "direction".into(),
        change.direction.map(Direction::code).into(),
    );
    object.insert("path".into(), path_text(&change.path).into());
    let (code, details) = match &change.kind {
        ChangeKind::Removed(item) => ("removed", item_json(item)),
        ChangeKind::Added(item) => ("added", item_json(item)),
        ChangeKind::NowMandatory => ("now-mandatory", json!({})),
        ChangeKind::NowOptional => ("now-optional", json!({})),
        ChangeKind::TypeNarrowed { old, new } => ("type-narrowed", json!({"old": old, "new": new})),
        ChangeKind::TypeWidened { old, new } => ("type-widened", json!({"old": old, "new": new})),
        ChangeKind::TypeChanged { old, new } => ("type-changed", json!({"old": old, "new": new})),
        ChangeKind::ConditionChanged { of, old, new } => {
            let mut details = item_json(of);
            details["old"] = old.as_ref().map(|c| c.to_string()).into();
            details["new"] = new.as_ref().map(|c| c.to_string()).into();
            ("condition-changed", details)
        }
        ChangeKind::FeatureAdded { of, feature } => {
            let mut details = item_json(of);
            details["feature"] = feature.as_str().into();
            ("feature-added", details)
        }
        ChangeKind::FeatureRemoved { of, feature } => {
            let mut details = item_json(of);
            details["feature"] = feature.as_str().into();
            ("feature-removed", details)
        }
        ChangeKind::FlagChanged { flag, now } => {
            ("flag-changed", json!({"flag": flag, "now": now}))
        }
        ChangeKind::DiscriminatorChanged { old, new } => {
            ("discriminator-changed", json!({"old": old, "new": new}))
        }
    };
    object.insert("change".into(), code.into());
    if let Value::Object(details) = details {
        object.extend(details);
    }
    object.insert(
        "condition".into(),
        change.condition.as_ref().map(|c| c.to_string()).into(),
    );
    object.insert("text".into(), line(change).into());
    Value::Object(object)
}

/// The report for tools: whether each side breaks, the count per class,
/// and every change with its class, subject, direction, path, kind,
/// condition and its line of text.
pub fn to_json(report: &Report) -> Value {
    let counts: Map<String, Value> = SECTIONS
        .iter()
        .map(|(class, _)| {
            (
                class.code().to_owned(),
                report.of_class(*class).count().into(),
            )
        })
        .collect();
    json!({
        "breaks-clients": report.breaks(Side::Client),
        "breaks-servers": report.breaks(Side::Server),
        "counts": counts,
        "changes": report.changes.iter().map(change_json).collect::<Vec<_>>(),
    })
}
