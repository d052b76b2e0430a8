//! Documentation comments: the model of a `##` block and the operations
//! the schema stage performs on it (attaching members and features).
//!
//! Reading the block's lines is the parser's job (`parser.rs`); this
//! module holds what a block becomes.

use indexmap::IndexMap;

use crate::error::{Error, Result};
use crate::source::{InfoId, SourceMap};

/// What a section of a documentation block is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionKind {
    /// Untagged text (the body, or a paragraph after the descriptions).
    Plain,
    /// `@member:` description.
    Member,
    /// `@feature:` description under `Features:`.
    Feature,
    /// `Returns:`
    Returns,
    /// `Errors:`
    Errors,
    /// `Since:`
    Since,
    /// `TODO:`
    Todo,
    /// An old-style tagged section (`Note:`, `Notes:`, `Example:`,
    /// `Examples:`), accepted in legacy mode only; holds the tag as
    /// written.
    Legacy(String),
}

impl SectionKind {
    /// The reference's name of the kind (`Plain`, `Returns`, ...).
    pub fn title(&self) -> &str {
        match self {
            SectionKind::Plain => "Plain",
            SectionKind::Member => "Member",
            SectionKind::Feature => "Feature",
            SectionKind::Returns => "Returns",
            SectionKind::Errors => "Errors",
            SectionKind::Since => "Since",
            SectionKind::Todo => "Todo",
            SectionKind::Legacy(tag) => tag,
        }
    }
}

/// A section of a documentation block.
#[derive(Debug, Clone)]
pub struct Section {
    /// Where the section begins.
    pub info: InfoId,
    /// What it is.
    pub kind: SectionKind,
    /// The member or feature described (member and feature sections).
    pub name: Option<String>,
    /// The text, without the tag, without leading and trailing blank
    /// lines, lines without their `# ` prefix.
    pub text: String,
    /// Whether the described member or feature exists (set by the schema
    /// stage; a stub inserted for an undocumented member counts too).
    pub connected: bool,
}

impl Section {
    fn new(info: InfoId, kind: SectionKind, name: Option<String>) -> Self {
        Section {
            info,
            kind,
            name,
            text: String::new(),
            connected: false,
        }
    }
}

/// Index of a section inside its [`Doc`].
pub type SectionId = usize;

/// A documentation block: either definition documentation (`symbol` set,
/// attached to the definition that follows) or free-form text.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Where the block begins (its opening `##`).
    pub info: InfoId,
    /// The documented definition; `None` for free-form documentation.
    pub symbol: Option<String>,
    /// Every section, in the order the reference keeps them (stubs for
    /// undocumented members included).
    pub order: Vec<SectionId>,
    /// Section storage; `order`, `args`, `features` and `sections` index it.
    pub storage: Vec<Section>,
    /// Member descriptions by name, documented ones first, then stubs.
    pub args: IndexMap<String, SectionId>,
    /// Feature descriptions by name.
    pub features: IndexMap<String, SectionId>,
    /// Tagged and untagged sections other than the body, members and
    /// features, in source order.
    pub sections: Vec<SectionId>,
    returns: Option<SectionId>,
    errors: Option<SectionId>,
    since: Option<SectionId>,
}

impl Doc {
    pub(crate) fn new(info: InfoId, symbol: Option<String>) -> Self {
        Doc {
            info,
            symbol,
            order: vec![0],
            storage: vec![Section::new(info, SectionKind::Plain, None)],
            args: IndexMap::new(),
            features: IndexMap::new(),
            sections: Vec::new(),
            returns: None,
            errors: None,
            since: None,
        }
    }

    /// The body: the text before the first tagged section.
    pub fn body(&self) -> &Section {
        &self.storage[0]
    }

    /// A section by id.
    pub fn section(&self, id: SectionId) -> &Section {
        &self.storage[id]
    }

    /// The `Returns:` section.
    pub fn returns(&self) -> Option<&Section> {
        self.returns.map(|i| &self.storage[i])
    }

    /// The `Errors:` section.
    pub fn errors(&self) -> Option<&Section> {
        self.errors.map(|i| &self.storage[i])
    }

    /// The `Since:` section.
    pub fn since(&self) -> Option<&Section> {
        self.since.map(|i| &self.storage[i])
    }

    fn push(&mut self, section: Section) -> SectionId {
        self.storage.push(section);
        let id = self.storage.len() - 1;
        self.order.push(id);
        id
    }

    fn last(&mut self) -> &mut Section {
        let id = *self.order.last().expect("a doc always has its body");
        &mut self.storage[id]
    }

    pub(crate) fn append_line(&mut self, line: &str) {
        let s = self.last();
        s.text.push_str(line);
        s.text.push('\n');
    }

    pub(crate) fn ensure_untagged_section(&mut self, info: InfoId) {
        if self.last().kind == SectionKind::Plain {
            let s = self.last();
            if s.text.is_empty() {
                s.info = info;
            }
            s.text.push('\n');
            return;
        }
        let id = self.push(Section::new(info, SectionKind::Plain, None));
        self.sections.push(id);
    }

    pub(crate) fn new_tagged_section(
        &mut self,
        map: &SourceMap,
        info: InfoId,
        kind: SectionKind,
    ) -> Result<()> {
        let slot = match kind {
            SectionKind::Returns => Some(self.returns),
            SectionKind::Errors => Some(self.errors),
            SectionKind::Since => Some(self.since),
            _ => None,
        };
        if let Some(Some(_)) = slot {
            return Err(Error::at(
                map,
                info,
                None,
                format!("duplicated '{}' section", kind.title()),
            ));
        }
        let is = kind.clone();
        let id = self.push(Section::new(info, kind, None));
        match is {
            SectionKind::Returns => self.returns = Some(id),
            SectionKind::Errors => self.errors = Some(id),
            SectionKind::Since => self.since = Some(id),
            _ => {}
        }
        self.sections.push(id);
        Ok(())
    }

    pub(crate) fn new_description(
        &mut self,
        map: &SourceMap,
        info: InfoId,
        name: &str,
        feature: bool,
    ) -> Result<()> {
        if name.is_empty() {
            return Err(Error::at(map, info, None, "invalid parameter name".into()));
        }
        let exists = if feature {
            self.features.contains_key(name)
        } else {
            self.args.contains_key(name)
        };
        if exists {
            return Err(Error::at(
                map,
                info,
                None,
                format!("'{name}' parameter name duplicated"),
            ));
        }
        let kind = if feature {
            SectionKind::Feature
        } else {
            SectionKind::Member
        };
        let id = self.push(Section::new(info, kind, Some(name.to_owned())));
        if feature {
            self.features.insert(name.to_owned(), id);
        } else {
            self.args.insert(name.to_owned(), id);
        }
        Ok(())
    }

    /// Strips blank lines around every section and checks that tagged
    /// sections have text.
    pub(crate) fn end(&mut self, map: &SourceMap) -> Result<()> {
        for &id in &self.order {
            let s = &mut self.storage[id];
            let trimmed = s.text.trim_matches('\n');
            if trimmed.len() != s.text.len() {
                s.text = trimmed.to_owned();
            }
            if s.kind != SectionKind::Plain && s.text.is_empty() {
                return Err(Error::at(
                    map,
                    s.info,
                    None,
                    format!("text required after '{}:'", s.kind.title()),
                ));
            }
        }
        Ok(())
    }

    /// Attaches a member (or enum value, or branch) to its description;
    /// `role` and `info` are for the error when it has none.
    pub(crate) fn connect_member(
        &mut self,
        map: &SourceMap,
        name: &str,
        role: &str,
        info: InfoId,
        exceptions: &[String],
        strict: bool,
    ) -> Result<()> {
        if let Some(&id) = self.args.get(name) {
            self.storage[id].connected = true;
            return Ok(());
        }
        let excepted = self
            .symbol
            .as_deref()
            .is_some_and(|s| exceptions.iter().any(|e| e == s));
        if !excepted {
            if strict {
                return Err(Error::at(
                    map,
                    info,
                    None,
                    format!("{role} '{name}' lacks documentation"),
                ));
            }
            return Ok(());
        }
        // A stub, placed after the member descriptions.
        self.storage.push(Section::new(
            self.info,
            SectionKind::Member,
            Some(name.to_owned()),
        ));
        let id = self.storage.len() - 1;
        self.storage[id].connected = true;
        self.args.insert(name.to_owned(), id);
        let mut index = 1;
        while index < self.order.len()
            && self.storage[self.order[index]].kind == SectionKind::Member
        {
            index += 1;
        }
        self.order.insert(index.min(self.order.len()), id);
        Ok(())
    }

    /// Attaches a feature to its description.
    pub(crate) fn connect_feature(
        &mut self,
        map: &SourceMap,
        name: &str,
        info: Option<InfoId>,
        strict: bool,
    ) -> Result<()> {
        match self.features.get(name) {
            Some(&id) => {
                self.storage[id].connected = true;
                Ok(())
            }
            None if strict => Err(Error::at(
                map,
                info.unwrap_or(self.info),
                None,
                format!("feature '{name}' lacks documentation"),
            )),
            None => Ok(()),
        }
    }

    /// Rejects descriptions of members and features that do not exist.
    pub(crate) fn check(&self, map: &SourceMap) -> Result<()> {
        for (what, descs) in [("member", &self.args), ("feature", &self.features)] {
            let bogus: Vec<&String> = descs
                .iter()
                .filter(|(_, &id)| !self.storage[id].connected)
                .map(|(n, _)| n)
                .collect();
            if let Some(first) = bogus.first() {
                let names = bogus
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("', '");
                let many = bogus.len() > 1;
                return Err(Error::at(
                    map,
                    self.storage[descs[*first]].info,
                    None,
                    format!(
                        "documented {what}{} '{names}' {} not exist",
                        if many { "s" } else { "" },
                        if many { "do" } else { "does" }
                    ),
                ));
            }
        }
        Ok(())
    }
}
