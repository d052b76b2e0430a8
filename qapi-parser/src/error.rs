//! Diagnostics, rendered exactly as QEMU's `scripts/qapi` renders them.

use crate::source::{InfoId, SourceMap};

/// A front-end diagnostic.
///
/// `Display` gives the reference's text, for example
/// ```text
/// In file included from top.json:3:
/// leaf.json: In struct 'Foo':
/// leaf.json:12: member 'a' collides with member 'a' of type 'Bar'
/// ```
/// Only the first problem in a schema is reported, as the reference does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The main schema file could not be read.
    #[error("can't read schema file '{file}': {reason}")]
    Unreadable {
        /// The file name as given.
        file: String,
        /// The C library's text for the error.
        reason: String,
    },
    /// A problem at a place in the schema.
    #[error("{context}{file}:{line}{}: {message}", column.map(|c| format!(":{c}")).unwrap_or_default())]
    Source {
        /// Include chain and enclosing definition, each line ending in a
        /// newline (may be empty).
        context: String,
        /// The file the problem is in, as the schema names it.
        file: String,
        /// Line of the problem, from 1.
        line: u32,
        /// Column (only for lexical and syntax errors), from 1, tabs
        /// advancing to the next multiple of 8.
        column: Option<u32>,
        /// What is wrong; may span several lines.
        message: String,
    },
}

impl Error {
    /// A problem at `info` (the reference's `QAPISemError`, or with a
    /// column its `QAPIParseError`).
    pub(crate) fn at(map: &SourceMap, info: InfoId, column: Option<u32>, message: String) -> Self {
        let rendered = map.describe(info);
        // `describe` ends in "FILE:LINE"; split the context off it.
        let loc = map.location(info);
        let context = rendered[..rendered.len() - loc.len()].to_owned();
        let i = map.info(info);
        Error::Source {
            context,
            file: map.file(i.file).name.clone(),
            line: i.line,
            column,
            message,
        }
    }

    /// The line of the problem, when it has a place.
    pub fn line(&self) -> Option<u32> {
        match self {
            Error::Source { line, .. } => Some(*line),
            Error::Unreadable { .. } => None,
        }
    }

    /// The message without the location.
    pub fn message(&self) -> String {
        match self {
            Error::Source { message, .. } => message.clone(),
            e => e.to_string(),
        }
    }
}

/// Result of a front-end stage.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The text `strerror` gives for an I/O error, as Python's
/// `OSError.strerror` shows it.
pub(crate) fn strerror(err: &std::io::Error) -> String {
    let s = err.to_string();
    // std renders "No such file or directory (os error 2)".
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}
