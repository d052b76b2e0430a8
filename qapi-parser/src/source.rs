//! Source locations, shared the way the reference shares them.
//!
//! QEMU's `QAPISourceInfo` is one object per source line that something
//! points at; a definition marks the info of its first line with its meta
//! and name, and every diagnostic that points at that info then says
//! "In struct 'Foo'".  [`SourceMap`] keeps those infos in an arena so that
//! the same sharing (and the same messages) fall out naturally.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

/// Python's `os.path.abspath`: absolute and lexically normalized (no
/// symlinks resolved), which is how the reference compares and names
/// files.
pub(crate) fn abspath(p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Index of a source file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId(pub(crate) u32);

/// Index of a source location (a line of a file) in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InfoId(pub(crate) u32);

/// A source file as the schema names it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as diagnostics print it: the including file's directory
    /// joined with the include string, not normalized.
    pub name: String,
    /// The `include` directive that brought the file in; `None` for the
    /// main file.
    pub included_from: Option<InfoId>,
}

/// A line of a source file, possibly marked with the definition it
/// starts.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// The file.
    pub file: FileId,
    /// The line, counting from 1.
    pub line: u32,
    /// The definition starting on this line, as `(meta, name)`, once the
    /// expression checks have seen it.
    pub definition: Option<(&'static str, String)>,
}

/// All files and lines of a schema that anything points at.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
    infos: Vec<SourceInfo>,
}

impl SourceMap {
    pub(crate) fn add_file(&mut self, name: String, included_from: Option<InfoId>) -> FileId {
        self.files.push(SourceFile {
            name,
            included_from,
        });
        FileId(self.files.len() as u32 - 1)
    }

    pub(crate) fn add_info(&mut self, file: FileId, line: u32) -> InfoId {
        self.infos.push(SourceInfo {
            file,
            line,
            definition: None,
        });
        InfoId(self.infos.len() as u32 - 1)
    }

    /// The file with this id.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// Every file read, in the order first read (the main file first).
    pub fn files(&self) -> impl Iterator<Item = &SourceFile> {
        self.files.iter()
    }

    /// The location with this id.
    pub fn info(&self, id: InfoId) -> &SourceInfo {
        &self.infos[id.0 as usize]
    }

    pub(crate) fn set_definition(&mut self, id: InfoId, meta: &'static str, name: &str) {
        self.infos[id.0 as usize].definition = Some((meta, name.to_owned()));
    }

    /// The file name of a location.
    pub fn file_name(&self, id: InfoId) -> &str {
        &self.file(self.info(id).file).name
    }

    /// The definition a location belongs to, if any.
    pub fn definition_name(&self, id: InfoId) -> Option<&str> {
        self.info(id).definition.as_ref().map(|(_, n)| n.as_str())
    }

    /// `FILE:LINE`.
    pub fn location(&self, id: InfoId) -> String {
        let info = self.info(id);
        format!("{}:{}", self.file(info.file).name, info.line)
    }

    /// The reference's rendering of an info: the include chain, the
    /// enclosing definition, then `FILE:LINE`.
    pub fn describe(&self, id: InfoId) -> String {
        let info = self.info(id);
        let file = self.file(info.file);
        let mut chain = Vec::new();
        let mut parent = file.included_from;
        while let Some(p) = parent {
            chain.push(p);
            parent = self.file(self.info(p).file).included_from;
        }
        let mut out = String::new();
        for p in chain.iter().rev() {
            let _ = writeln!(out, "In file included from {}:", self.location(*p));
        }
        if let Some((meta, name)) = &info.definition {
            let _ = writeln!(out, "{}: In {} '{}':", file.name, meta, name);
        }
        let _ = write!(out, "{}:{}", file.name, info.line);
        out
    }
}

/// The `pragma` directives of a schema; one state for the whole include
/// tree, read before any check runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pragma {
    /// `doc-required`: every definition needs a documentation comment.
    pub doc_required: bool,
    /// `command-name-exceptions`: commands whose names may use `_`.
    pub command_name_exceptions: Vec<String>,
    /// `command-returns-exceptions`: commands that may return non-objects.
    pub command_returns_exceptions: Vec<String>,
    /// `documentation-exceptions`: definitions whose members may lack docs.
    pub documentation_exceptions: Vec<String>,
    /// `member-name-exceptions`: types whose members may use upper case
    /// and `_`.
    pub member_name_exceptions: Vec<String>,
}
