//! The report's vocabulary: each [`Change`], where it is, what it is,
//! and whom it breaks ([`Class`]).

use std::fmt;

use qapi_parser::ir::IfCond;

/// Whom a change breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Old clients talking to a new server.
    BreaksClients,
    /// Old servers receiving new clients' requests, or new clients
    /// reading old servers' answers.
    BreaksServers,
    /// Both of the above.
    BreaksBoth,
    /// `deprecated` or `unstable` added or removed.
    Feature,
    /// Nobody.
    Compatible,
}

impl Class {
    /// Whether old clients may fail against a new server.
    pub fn breaks_clients(self) -> bool {
        matches!(self, Class::BreaksClients | Class::BreaksBoth)
    }

    /// Whether old servers may fail with new clients (or new clients
    /// reading old servers' answers).
    pub fn breaks_servers(self) -> bool {
        matches!(self, Class::BreaksServers | Class::BreaksBoth)
    }

    /// The class of a change that is both `self` and `other` (a
    /// condition that moves makes something absent in some builds and
    /// present in others).
    pub(crate) fn join(self, other: Class) -> Class {
        let clients = self.breaks_clients() || other.breaks_clients();
        let servers = self.breaks_servers() || other.breaks_servers();
        match (clients, servers) {
            (true, true) => Class::BreaksBoth,
            (true, false) => Class::BreaksClients,
            (false, true) => Class::BreaksServers,
            (false, false) if self == Class::Feature || other == Class::Feature => Class::Feature,
            (false, false) => Class::Compatible,
        }
    }

    /// The name in the JSON output.
    pub fn code(self) -> &'static str {
        match self {
            Class::BreaksClients => "breaks-clients",
            Class::BreaksServers => "breaks-servers",
            Class::BreaksBoth => "breaks-both",
            Class::Feature => "feature",
            Class::Compatible => "compatible",
        }
    }
}

/// Which way a type travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Sent by clients, read by the server: command arguments.
    Input,
    /// Sent by the server, read by clients: answers and events.
    Output,
}

impl Direction {
    /// `input` or `output`.
    pub fn code(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

/// The definition a change is reported under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// A command (its arguments are input, its answer output).
    Command(String),
    /// An event (its data is output).
    Event(String),
    /// A named type, by its new name.
    Type {
        /// The name in the new schema (the old one's when removed).
        name: String,
        /// The old name, when the wire-equivalent type was renamed.
        was: Option<String>,
    },
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Command(name) => write!(f, "command '{name}'"),
            Subject::Event(name) => write!(f, "event '{name}'"),
            Subject::Type { name, was: None } => write!(f, "type '{name}'"),
            Subject::Type {
                name,
                was: Some(was),
            } => write!(f, "type '{name}' (was '{was}')"),
        }
    }
}

/// One step from a subject down to where a change is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// A member of an object, by wire name.
    Member(String),
    /// The members a union has when its tag member has this value.
    Case {
        /// The tag member.
        tag: String,
        /// Its value.
        value: String,
    },
    /// The elements of an array.
    Element,
}

/// What a change is about, besides the place it is at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Item {
    /// The command (the subject).
    Command,
    /// The event (the subject).
    Event,
    /// The named type (the subject).
    Type,
    /// The member the path ends with.
    Member {
        /// Whether it may be absent.
        optional: bool,
    },
    /// A value of the enum at the path.
    EnumValue(String),
    /// A branch of the alternate at the path, by its type.
    AlternateBranch(String),
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// Something is gone.
    Removed(Item),
    /// Something is new.
    Added(Item),
    /// An optional member is now mandatory.
    NowMandatory,
    /// A mandatory member is now optional.
    NowOptional,
    /// The new type accepts fewer values than the old.
    TypeNarrowed {
        /// The old type, as written.
        old: String,
        /// The new type, as written.
        new: String,
    },
    /// The new type accepts more values than the old.
    TypeWidened {
        /// The old type, as written.
        old: String,
        /// The new type, as written.
        new: String,
    },
    /// The types have values the other lacks.
    TypeChanged {
        /// The old type, as written.
        old: String,
        /// The new type, as written.
        new: String,
    },
    /// The condition of an item changed.
    ConditionChanged {
        /// The item.
        of: Item,
        /// Its old condition (`None`: always present).
        old: Option<IfCond>,
        /// Its new condition.
        new: Option<IfCond>,
    },
    /// An item gained a feature.
    FeatureAdded {
        /// The item.
        of: Item,
        /// The feature.
        feature: String,
    },
    /// An item lost a feature.
    FeatureRemoved {
        /// The item.
        of: Item,
        /// The feature.
        feature: String,
    },
    /// A command's wire-relevant flag (`allow-oob`, `allow-preconfig`,
    /// `success-response`) changed.
    FlagChanged {
        /// The flag's name in the schema.
        flag: &'static str,
        /// Its new value.
        now: bool,
    },
    /// A union's discriminator member changed.
    DiscriminatorChanged {
        /// The old tag member.
        old: String,
        /// The new tag member.
        new: String,
    },
}

/// One difference that matters on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Change {
    /// Whom it breaks.
    pub class: Class,
    /// The definition it is reported under.
    pub subject: Subject,
    /// Which way the data at the change travels (`None` for the
    /// presence and flags of commands and events, and for types no
    /// command or event uses).
    pub direction: Option<Direction>,
    /// From the subject down to the change.
    pub path: Vec<Step>,
    /// What changed.
    pub kind: ChangeKind,
    /// The condition under which the change exists (of the enclosing
    /// command, members, branches), `None` when it always does.
    pub condition: Option<IfCond>,
}

/// Whom `qapi-gen diff` checks for: the exit status is non-zero when a
/// change breaks this side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Old clients against a new server.
    Client,
    /// Old servers with new clients.
    Server,
    /// Either.
    Both,
}

/// Every wire difference between two schemas.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The changes, sorted by class, then subject, then place.
    pub changes: Vec<Change>,
}

impl Report {
    /// Whether some change breaks `side`.
    pub fn breaks(&self, side: Side) -> bool {
        self.changes.iter().any(|c| match side {
            Side::Client => c.class.breaks_clients(),
            Side::Server => c.class.breaks_servers(),
            Side::Both => c.class.breaks_clients() || c.class.breaks_servers(),
        })
    }

    /// The changes of one class.
    pub fn of_class(&self, class: Class) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(move |c| c.class == class)
    }
}
