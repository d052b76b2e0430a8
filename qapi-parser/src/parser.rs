//! Reading schema files: tokens to top-level expressions and
//! documentation blocks, `include` and `pragma` directives.
//!
//! A port of the reference's `QAPISchemaParser`, keeping its order of
//! checks so that the first error reported is the same one.

use std::path::{Path, PathBuf};

use crate::ast::{Object, Value};
use crate::doc::{Doc, SectionKind};
use crate::error::{strerror, Error, Result};
use crate::lexer::{tokenize, Tok, TokKind};
use crate::source::{abspath, FileId, InfoId, Pragma, SourceMap};

/// How deeply arrays and objects may nest.  The reference has no limit
/// of its own (Python's recursion limit stops it near 330 levels); real
/// schemas nest fewer than 10 levels.
pub const MAX_NESTING: usize = 256;

/// A top-level expression of a schema file.
#[derive(Debug, Clone)]
pub(crate) enum TopLevel {
    /// `{ 'include': ... }`, with the file name as the reference joins
    /// it (including directory + include string).
    Include { file: String, info: InfoId },
    /// A definition, not yet checked.
    Definition {
        expr: Object,
        info: InfoId,
        doc: Option<usize>,
    },
}

/// Everything read from a schema's file tree.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub map: SourceMap,
    pub exprs: Vec<TopLevel>,
    pub docs: Vec<Doc>,
    pub pragma: Pragma,
}

/// Reads the schema whose main file is `fname` and everything it
/// includes.
pub(crate) fn parse_schema(fname: &str, legacy: bool) -> Result<Parsed> {
    let mut ctx = Ctx {
        out: Parsed::default(),
        included: Vec::new(),
        legacy,
    };
    let src = read_schema_file(fname, FileKinds::Any).map_err(|reason| Error::Unreadable {
        file: fname.to_owned(),
        reason,
    })?;
    ctx.parse_file(fname, src, None)?;
    Ok(ctx.out)
}

/// The largest schema file the front end reads, in bytes: 4 MiB, twenty
/// times QEMU's largest (`qapi/block-core.json`, 196 KiB in 11.0). A
/// larger file is refused with an error instead of read, so that a schema
/// cannot make the front end read without bound (an include of
/// `/dev/zero`, say).
pub const MAX_FILE_SIZE: u64 = 4 << 20;

/// Which kinds of file [`read_schema_file`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKinds {
    /// Anything that can be opened and read (the main file, which the
    /// user names: a pipe such as `/dev/stdin` is allowed).
    Any,
    /// Regular files only (an include, which the schema names: a device,
    /// a FIFO or a directory is refused without being opened, since
    /// opening a FIFO or reading a device may block or never end).
    RegularOnly,
}

/// Reads a schema file of at most [`MAX_FILE_SIZE`] bytes; `Err` is the
/// reason, as the diagnostic says it (`strerror`'s text for a system
/// error).
fn read_schema_file(path: &str, kinds: FileKinds) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read as _;
    let regular_only = kinds == FileKinds::RegularOnly;
    if regular_only {
        let meta = std::fs::metadata(path).map_err(|e| strerror(&e))?;
        if !meta.is_file() {
            return Err("not a regular file".to_owned());
        }
    }
    let file = std::fs::File::open(path).map_err(|e| strerror(&e))?;
    // Checked again on the open file, in case the path changed meanwhile.
    let meta = file.metadata().map_err(|e| strerror(&e))?;
    if regular_only && !meta.is_file() {
        return Err("not a regular file".to_owned());
    }
    let too_big = || format!("larger than {MAX_FILE_SIZE} bytes, the limit for a schema file");
    if meta.len() > MAX_FILE_SIZE {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| strerror(&e))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(too_big());
    }
    Ok(bytes)
}

struct Ctx {
    out: Parsed,
    /// Absolute, normalized names of the files read so far.
    included: Vec<PathBuf>,
    legacy: bool,
}

/// Python's `os.path.join(os.path.dirname(base), rel)`.
fn join_dirname(base: &str, rel: &str) -> String {
    if rel.starts_with('/') {
        return rel.to_owned();
    }
    match base.rfind('/') {
        Some(0) => format!("/{rel}"),
        Some(i) => {
            let dir = base[..i].trim_end_matches('/');
            let dir = if dir.is_empty() { "/" } else { dir };
            if dir.ends_with('/') {
                format!("{dir}{rel}")
            } else {
                format!("{dir}/{rel}")
            }
        }
        None => rel.to_owned(),
    }
}

/// Python's universal-newline reading: `\r\n` and lone `\r` become `\n`;
/// a missing final newline is added.
fn normalize_newlines(mut src: String) -> String {
    if src.contains('\r') {
        src = src.replace("\r\n", "\n").replace('\r', "\n");
    }
    if !src.ends_with('\n') {
        src.push('\n');
    }
    src
}

impl Ctx {
    fn parse_file(&mut self, fname: &str, bytes: Vec<u8>, incl_info: Option<InfoId>) -> Result<()> {
        self.included.push(abspath(Path::new(fname)));
        let file = self.out.map.add_file(fname.to_owned(), incl_info);
        let src = match String::from_utf8(bytes) {
            Ok(s) => normalize_newlines(s),
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let bytes = e.as_bytes();
                let line = 1 + bytes[..valid].iter().filter(|&&b| b == b'\n').count() as u32;
                let info = self.out.map.add_info(file, line);
                return Err(Error::at(
                    &self.out.map,
                    info,
                    None,
                    format!("invalid UTF-8 (byte 0x{:02x})", bytes[valid]),
                ));
            }
        };
        let toks = tokenize(&src);
        let mut p = FileParser {
            ctx: self,
            src: &src,
            toks: &toks,
            next: 0,
            tok: None,
            pos: 0,
            line: 1,
            line_pos: 0,
            line_info: None,
            file,
            fname,
            literal_mode: false,
            literal_indent: 0,
        };
        p.parse()
    }
}

struct FileParser<'a> {
    ctx: &'a mut Ctx,
    src: &'a str,
    toks: &'a [Tok],
    /// Index of the next token to read.
    next: usize,
    /// The current token; `None` at the end of the file.
    tok: Option<Tok>,
    /// Byte offset of the current token.
    pos: usize,
    line: u32,
    /// Byte offset of the current line's start.
    line_pos: usize,
    /// The info of the current line, made on first use.
    line_info: Option<InfoId>,
    file: FileId,
    fname: &'a str,
    literal_mode: bool,
    literal_indent: usize,
}

/// Saved lexer position, to re-read a documentation block.
#[derive(Clone, Copy)]
struct Mark {
    next: usize,
    tok: Option<Tok>,
    pos: usize,
    line: u32,
    line_pos: usize,
    line_info: Option<InfoId>,
}

fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn leading_space(s: &str) -> usize {
    s.chars().take_while(|&c| is_py_space(c)).count()
}

impl FileParser<'_> {
    fn info(&mut self) -> InfoId {
        match self.line_info {
            Some(i) => i,
            None => {
                let i = self.ctx.out.map.add_info(self.file, self.line);
                self.line_info = Some(i);
                i
            }
        }
    }

    fn mark(&self) -> Mark {
        Mark {
            next: self.next,
            tok: self.tok,
            pos: self.pos,
            line: self.line,
            line_pos: self.line_pos,
            line_info: self.line_info,
        }
    }

    fn reset(&mut self, m: Mark) {
        self.next = m.next;
        self.tok = m.tok;
        self.pos = m.pos;
        self.line = m.line;
        self.line_pos = m.line_pos;
        self.line_info = m.line_info;
    }

    /// A syntax error at the current token, with its column.
    fn parse_error(&mut self, msg: impl Into<String>) -> Error {
        self.error_at_byte(self.pos, msg)
    }

    fn error_at_byte(&mut self, pos: usize, msg: impl Into<String>) -> Error {
        let mut col = 1u32;
        for ch in self.src[self.line_pos..pos.max(self.line_pos)].chars() {
            if ch == '\t' {
                col = (col + 7) % 8 + 1;
            } else {
                col += 1;
            }
        }
        let info = self.info();
        Error::at(&self.ctx.out.map, info, Some(col), msg.into())
    }

    fn sem_error(&self, info: InfoId, msg: impl Into<String>) -> Error {
        Error::at(&self.ctx.out.map, info, None, msg.into())
    }

    fn kind(&self) -> Option<TokKind> {
        self.tok.map(|t| t.kind)
    }

    fn text(&self) -> &str {
        match self.tok {
            Some(t) => &self.src[t.start as usize..t.end as usize],
            None => "",
        }
    }

    /// Moves to the next token (the reference's `accept`).  Comments are
    /// skipped unless `skip_comment` is false or the comment opens a
    /// documentation block.
    fn accept(&mut self, mut skip_comment: bool) -> Result<()> {
        loop {
            let Some(&t) = self.toks.get(self.next) else {
                self.tok = None;
                return Ok(());
            };
            self.next += 1;
            self.tok = Some(t);
            self.pos = t.start as usize;
            match t.kind {
                TokKind::Comment => {
                    if self.src[t.start as usize..].starts_with("##") {
                        skip_comment = false;
                    }
                    if !skip_comment {
                        return Ok(());
                    }
                }
                TokKind::Newline => {
                    if t.end as usize == self.src.len() {
                        self.tok = None;
                        return Ok(());
                    }
                    self.line += 1;
                    self.line_pos = t.end as usize;
                    self.line_info = None;
                }
                TokKind::Stray => {
                    let text = self.text().to_owned();
                    return Err(self.parse_error(format!("stray '{text}'")));
                }
                TokKind::Str => {
                    self.check_string()?;
                    return Ok(());
                }
                _ => return Ok(()),
            }
        }
    }

    /// Applies the reference's string rules, in its order: printable
    /// ASCII only, `\\` the only escape, closing quote on the same line.
    fn check_string(&mut self) -> Result<()> {
        let text = self.text();
        let inner = &text[1..];
        let mut esc = false;
        for ch in inner.chars() {
            if esc {
                if ch != '\\' {
                    return Err(self.parse_error(format!("unknown escape \\{ch}")));
                }
                esc = false;
            } else if ch == '\\' {
                esc = true;
                continue;
            } else if ch == '\'' {
                return Ok(());
            }
            if (ch as u32) < 32 || (ch as u32) >= 127 {
                return Err(self.parse_error("funny character in string"));
            }
        }
        // The token ended at the end of the line without a closing quote.
        Err(self.parse_error("missing terminating \"'\""))
    }

    /// The value of the current string token.
    fn string_value(&self) -> String {
        let text = self.text();
        let inner = &text[1..text.len() - 1];
        if inner.contains('\\') {
            inner.replace("\\\\", "\\")
        } else {
            inner.to_owned()
        }
    }

    fn parse(&mut self) -> Result<()> {
        let mut cur_doc: Option<usize> = None;
        self.accept(true)?;
        while self.tok.is_some() {
            let info = self.info();
            if self.kind() == Some(TokKind::Comment) {
                self.reject_expr_doc(cur_doc)?;
                let doc = self.get_doc()?;
                self.ctx.out.docs.push(doc);
                cur_doc = Some(self.ctx.out.docs.len() - 1);
                continue;
            }
            let expr = self.get_expr(0)?;
            let Value::Object(expr) = expr else {
                return Err(self.sem_error(info, "top-level expression must be an object"));
            };
            if expr.contains("include") {
                self.reject_expr_doc(cur_doc)?;
                if expr.len() != 1 {
                    return Err(self.sem_error(info, "invalid 'include' directive"));
                }
                let Some(Value::Str(include)) = expr.get("include") else {
                    return Err(self.sem_error(info, "value of 'include' must be a string"));
                };
                let incl_fname = join_dirname(self.fname, include);
                self.ctx.out.exprs.push(TopLevel::Include {
                    file: incl_fname.clone(),
                    info,
                });
                self.include(include, info, &incl_fname)?;
            } else if expr.contains("pragma") {
                self.reject_expr_doc(cur_doc)?;
                if expr.len() != 1 {
                    return Err(self.sem_error(info, "invalid 'pragma' directive"));
                }
                let Some(Value::Object(pragma)) = expr.get("pragma") else {
                    return Err(self.sem_error(info, "value of 'pragma' must be an object"));
                };
                for (name, value) in &pragma.0 {
                    self.pragma(name, value, info)?;
                }
            } else {
                if let Some(d) = cur_doc {
                    if self.ctx.out.docs[d].symbol.is_none() {
                        if !self.ctx.legacy {
                            let di = self.ctx.out.docs[d].info;
                            return Err(self.sem_error(di, "definition documentation required"));
                        }
                        cur_doc = None;
                    }
                }
                self.ctx.out.exprs.push(TopLevel::Definition {
                    expr,
                    info,
                    doc: cur_doc,
                });
            }
            cur_doc = None;
        }
        self.reject_expr_doc(cur_doc)
    }

    fn reject_expr_doc(&self, doc: Option<usize>) -> Result<()> {
        if self.ctx.legacy {
            return Ok(());
        }
        if let Some(d) = doc {
            let doc = &self.ctx.out.docs[d];
            if let Some(sym) = &doc.symbol {
                return Err(self.sem_error(
                    doc.info,
                    format!("documentation for '{sym}' is not followed by the definition"),
                ));
            }
        }
        Ok(())
    }

    fn include(&mut self, include: &str, info: InfoId, incl_fname: &str) -> Result<()> {
        let abs = abspath(Path::new(incl_fname));
        // An inclusion loop: the file is one of the including files.
        let map = &self.ctx.out.map;
        let mut inf = Some(info);
        while let Some(i) = inf {
            if abspath(Path::new(map.file_name(i))) == abs {
                return Err(self.sem_error(info, format!("inclusion loop for {include}")));
            }
            inf = map.file(map.info(i).file).included_from;
        }
        if self.ctx.included.contains(&abs) {
            return Ok(());
        }
        let bytes = read_schema_file(incl_fname, FileKinds::RegularOnly).map_err(|reason| {
            self.sem_error(
                info,
                format!("can't read include file '{incl_fname}': {reason}"),
            )
        })?;
        self.ctx.parse_file(incl_fname, bytes, Some(info))
    }

    fn pragma(&mut self, name: &str, value: &Value, info: InfoId) -> Result<()> {
        let list = |p: &Self| -> Result<Vec<String>> {
            match value {
                Value::Array(items) => items
                    .iter()
                    .map(|v| match v {
                        Value::Str(s) => Ok(s.clone()),
                        _ => Err(
                            p.sem_error(info, format!("pragma {name} must be a list of strings"))
                        ),
                    })
                    .collect(),
                _ => Err(p.sem_error(info, format!("pragma {name} must be a list of strings"))),
            }
        };
        let legacy = self.ctx.legacy;
        match name {
            "doc-required" => match value {
                Value::Bool(b) => self.ctx.out.pragma.doc_required = *b,
                _ => return Err(self.sem_error(info, "pragma 'doc-required' must be boolean")),
            },
            "command-name-exceptions" => self.ctx.out.pragma.command_name_exceptions = list(self)?,
            "command-returns-exceptions" => {
                self.ctx.out.pragma.command_returns_exceptions = list(self)?
            }
            "documentation-exceptions" => {
                self.ctx.out.pragma.documentation_exceptions = list(self)?
            }
            "member-name-exceptions" => self.ctx.out.pragma.member_name_exceptions = list(self)?,
            // Names used by QEMU 2.10 to 6.0.
            "returns-whitelist" if legacy => {
                self.ctx.out.pragma.command_returns_exceptions = list(self)?
            }
            "name-case-whitelist" if legacy => {
                self.ctx.out.pragma.member_name_exceptions = list(self)?
            }
            _ => return Err(self.sem_error(info, format!("unknown pragma '{name}'"))),
        }
        Ok(())
    }

    fn get_members(&mut self, depth: usize) -> Result<Object> {
        let mut expr = Object::default();
        if self.kind() == Some(TokKind::RBrace) {
            self.accept(true)?;
            return Ok(expr);
        }
        if self.kind() != Some(TokKind::Str) {
            return Err(self.parse_error("expected string or '}'"));
        }
        loop {
            let key = self.string_value();
            self.accept(true)?;
            if self.kind() != Some(TokKind::Colon) {
                return Err(self.parse_error("expected ':'"));
            }
            self.accept(true)?;
            if expr.contains(&key) {
                return Err(self.parse_error(format!("duplicate key '{key}'")));
            }
            let value = self.get_expr(depth)?;
            expr.0.push((key, value));
            match self.kind() {
                Some(TokKind::RBrace) => {
                    self.accept(true)?;
                    return Ok(expr);
                }
                Some(TokKind::Comma) => {}
                // QEMU before 1.6 did not require the comma.
                Some(TokKind::Str) if self.ctx.legacy => continue,
                _ => return Err(self.parse_error("expected ',' or '}'")),
            }
            self.accept(true)?;
            if self.ctx.legacy && self.kind() == Some(TokKind::RBrace) {
                // QEMU before 1.6 accepted a trailing comma.
                self.accept(true)?;
                return Ok(expr);
            }
            if self.kind() != Some(TokKind::Str) {
                return Err(self.parse_error("expected string"));
            }
        }
    }

    fn get_values(&mut self, depth: usize) -> Result<Vec<Value>> {
        let mut expr = Vec::new();
        if self.kind() == Some(TokKind::RBracket) {
            self.accept(true)?;
            return Ok(expr);
        }
        if !matches!(
            self.kind(),
            Some(
                TokKind::LBrace | TokKind::LBracket | TokKind::Str | TokKind::True | TokKind::False
            )
        ) {
            return Err(self.parse_error("expected '{', '[', ']', string, or boolean"));
        }
        loop {
            expr.push(self.get_expr(depth)?);
            match self.kind() {
                Some(TokKind::RBracket) => {
                    self.accept(true)?;
                    return Ok(expr);
                }
                Some(TokKind::Comma) => {}
                _ => return Err(self.parse_error("expected ',' or ']'")),
            }
            self.accept(true)?;
        }
    }

    fn get_expr(&mut self, depth: usize) -> Result<Value> {
        let nested = matches!(self.kind(), Some(TokKind::LBrace | TokKind::LBracket));
        if nested && depth >= MAX_NESTING {
            return Err(self.parse_error(format!(
                "nesting deeper than {MAX_NESTING} levels is not supported"
            )));
        }
        match self.kind() {
            Some(TokKind::LBrace) => {
                self.accept(true)?;
                Ok(Value::Object(self.get_members(depth + 1)?))
            }
            Some(TokKind::LBracket) => {
                self.accept(true)?;
                Ok(Value::Array(self.get_values(depth + 1)?))
            }
            Some(TokKind::Str) => {
                let v = self.string_value();
                self.accept(true)?;
                Ok(Value::Str(v))
            }
            Some(k @ (TokKind::True | TokKind::False)) => {
                self.accept(true)?;
                Ok(Value::Bool(k == TokKind::True))
            }
            _ => Err(self.parse_error("expected '{', '[', string, or boolean")),
        }
    }

    // ----- documentation blocks -------------------------------------

    /// The next line of a documentation block without its `# ` prefix;
    /// `None` at the closing `##`.
    fn get_doc_line(&mut self) -> Result<Option<String>> {
        if self.kind() != Some(TokKind::Comment) {
            return Err(self.parse_error("documentation comment must end with '##'"));
        }
        let val = self.text();
        if val.starts_with("##") {
            if val != "##" {
                return Err(self.parse_error("junk after '##' at end of documentation comment"));
            }
            self.literal_mode = false;
            return Ok(None);
        }
        if val == "#" {
            return Ok(Some(String::new()));
        }
        if !val[1..].starts_with(' ') {
            return Err(self.parse_error("missing space after #"));
        }
        let line = val[2..].trim_end_matches(is_py_space).to_owned();
        if is_literal_marker(&line) {
            self.literal_mode = true;
            self.literal_indent = 0;
        } else if self.literal_mode && !line.is_empty() {
            let indent = leading_space(&line);
            if self.literal_indent == 0 {
                self.literal_indent = indent;
            } else if indent < self.literal_indent {
                self.literal_mode = false;
            }
        }
        if !self.literal_mode && !self.ctx.legacy {
            self.validate_doc_line_format(&line)?;
        }
        Ok(Some(line))
    }

    fn validate_doc_line_format(&mut self, line: &str) -> Result<()> {
        if line.chars().count() + 2 > 70 && !is_url_line(line) {
            return Err(self.parse_error("documentation line longer than 70 characters"));
        }
        if let Some(at) = find_single_space(line) {
            // Like the reference, point just past the sentence end,
            // counting from the line start as if "# " began the line.
            let skip = 2 + at + 1;
            let mut pos = self.line_pos;
            for (n, (i, _)) in self.src[self.line_pos..].char_indices().enumerate() {
                pos = self.line_pos + i;
                if n == skip {
                    break;
                }
            }
            return Err(self.error_at_byte(
                pos,
                "Use two spaces between sentences\nIf this not the end of a sentence, please report a bug.",
            ));
        }
        Ok(())
    }

    fn get_doc_indented(&mut self, doc: &mut Doc) -> Result<Option<String>> {
        self.accept(false)?;
        let mut line = self.get_doc_line()?;
        while line.as_deref() == Some("") {
            doc.append_line("");
            self.accept(false)?;
            line = self.get_doc_line()?;
        }
        let Some(first) = line else { return Ok(None) };
        let indent = leading_space(&first);
        if indent == 0 {
            return Ok(Some(first));
        }
        doc.append_line(&first);
        let mut prev_line_blank = false;
        loop {
            self.accept(false)?;
            let Some(line) = self.get_doc_line()? else {
                return Ok(None);
            };
            if match_at_name_colon(&line).is_some() {
                return Ok(Some(line));
            }
            let cur_indent = leading_space(&line);
            if !line.is_empty() && cur_indent < indent {
                if prev_line_blank {
                    return Ok(Some(line));
                }
                return Err(self.parse_error(format!(
                    "unexpected de-indent (expected at least {indent} spaces)"
                )));
            }
            doc.append_line(&line);
            prev_line_blank = true;
        }
    }

    fn get_doc_paragraph(&mut self, doc: &mut Doc) -> Result<Option<String>> {
        loop {
            self.accept(false)?;
            let line = self.get_doc_line()?;
            match line {
                None => return Ok(None),
                Some(l) if l.is_empty() => return Ok(Some(l)),
                Some(l) => doc.append_line(&l),
            }
        }
    }

    /// Reads a documentation block.  In legacy mode a block the current
    /// rules reject is kept as plain text instead.
    fn get_doc(&mut self) -> Result<Doc> {
        let start = self.mark();
        match self.get_doc_strict() {
            Ok(doc) => Ok(doc),
            Err(_) if self.ctx.legacy => {
                self.reset(start);
                self.get_doc_raw()
            }
            Err(e) => Err(e),
        }
    }

    /// Legacy fallback: the block's lines as the body, the symbol taken
    /// from an `@name:` first line.
    fn get_doc_raw(&mut self) -> Result<Doc> {
        let info = self.info();
        let mut lines = Vec::new();
        loop {
            self.accept(false)?;
            if self.kind() != Some(TokKind::Comment) {
                break;
            }
            let val = self.text();
            if val.starts_with("##") {
                self.accept(true)?;
                break;
            }
            let line = val[1..].strip_prefix(' ').unwrap_or(&val[1..]);
            lines.push(line.trim_end().to_owned());
        }
        let symbol = lines
            .first()
            .and_then(|l| l.strip_prefix('@'))
            .map(|l| l.trim_end_matches(':').trim().to_owned())
            .filter(|s| !s.is_empty() && !s.contains(' '));
        let skip = usize::from(symbol.is_some());
        let mut doc = Doc::new(info, symbol);
        for l in &lines[skip..] {
            doc.append_line(l);
        }
        doc.end(&self.ctx.out.map).ok();
        Ok(doc)
    }

    fn get_doc_strict(&mut self) -> Result<Doc> {
        if self.text() != "##" {
            return Err(self.parse_error("junk after '##' at start of documentation comment"));
        }
        let info = self.info();
        self.accept(false)?;
        let mut line = self.get_doc_line()?;
        let legacy = self.ctx.legacy;
        let mut doc;
        if let Some(first) = line.clone().filter(|l| l.starts_with('@')) {
            if !first.ends_with(':') {
                return Err(self.parse_error("line should end with ':'"));
            }
            let symbol = first[1..first.len() - 1].to_owned();
            if symbol.is_empty() {
                return Err(self.parse_error("name required after '@'"));
            }
            doc = Doc::new(info, Some(symbol));
            self.accept(false)?;
            line = self.get_doc_line()?;
            let mut no_more_args = false;
            while line.is_some() {
                while line.as_deref() == Some("") {
                    self.accept(false)?;
                    line = self.get_doc_line()?;
                }
                let Some(l) = line.clone() else { break };
                if l == "Features:" {
                    if !doc.features.is_empty() {
                        return Err(self.parse_error("duplicated 'Features:' line"));
                    }
                    self.accept(false)?;
                    line = self.get_doc_line()?;
                    while line.as_deref() == Some("") {
                        self.accept(false)?;
                        line = self.get_doc_line()?;
                    }
                    while let Some((name, rest)) = line.as_deref().and_then(match_at_name_colon) {
                        let (name, rest) = (name.to_owned(), rest.to_owned());
                        let i = self.info();
                        doc.new_description(&self.ctx.out.map, i, &name, true)?;
                        if !rest.is_empty() {
                            doc.append_line(&rest);
                        }
                        line = self.get_doc_indented(&mut doc)?;
                    }
                    if doc.features.is_empty() {
                        return Err(self.parse_error("feature descriptions expected"));
                    }
                    no_more_args = true;
                } else if let Some((name, _)) = match_at_name_colon(&l) {
                    if no_more_args {
                        return Err(self
                            .parse_error(format!("description of '@{name}:' follows a section")));
                    }
                    while let Some((name, rest)) = line.as_deref().and_then(match_at_name_colon) {
                        let (name, rest) = (name.to_owned(), rest.to_owned());
                        let i = self.info();
                        doc.new_description(&self.ctx.out.map, i, &name, false)?;
                        if !rest.is_empty() {
                            doc.append_line(&rest);
                        }
                        line = self.get_doc_indented(&mut doc)?;
                    }
                    no_more_args = true;
                } else if let Some((tag, rest)) = match_section_tag(&l) {
                    let kind = match tag {
                        "Returns" => SectionKind::Returns,
                        "Errors" => SectionKind::Errors,
                        "Since" => SectionKind::Since,
                        "TODO" => SectionKind::Todo,
                        t if legacy => SectionKind::Legacy(t.to_owned()),
                        t if t.contains("Note") => {
                            return Err(self.parse_error(format!(
                                "The '{t}' section is no longer supported. Please use rST's \
                                 '.. note::' or '.. admonition:: notes' directives, or another \
                                 suitable admonition instead."
                            )))
                        }
                        t => {
                            return Err(self.parse_error(format!(
                                "The '{t}' section is no longer supported. Please use the \
                                 '.. qmp-example::' directive, or other suitable markup instead."
                            )))
                        }
                    };
                    let rest = rest.to_owned();
                    let i = self.info();
                    doc.new_tagged_section(&self.ctx.out.map, i, kind)?;
                    if !rest.is_empty() {
                        doc.append_line(&rest);
                    }
                    line = self.get_doc_indented(&mut doc)?;
                    no_more_args = true;
                } else {
                    let i = self.info();
                    doc.ensure_untagged_section(i);
                    doc.append_line(&l);
                    line = self.get_doc_paragraph(&mut doc)?;
                }
            }
        } else {
            doc = Doc::new(info, None);
            let i = self.info();
            doc.ensure_untagged_section(i);
            while let Some(l) = line {
                if let Some((name, _)) = match_at_name_colon(&l) {
                    return Err(self.parse_error(format!(
                        "'@{name}:' not allowed in free-form documentation"
                    )));
                }
                doc.append_line(&l);
                self.accept(false)?;
                line = self.get_doc_line()?;
            }
        }
        self.accept(true)?;
        doc.end(&self.ctx.out.map)?;
        Ok(doc)
    }
}

/// `(\.\. +qmp-example)? *::$`, matched at the start of the line.
fn is_literal_marker(line: &str) -> bool {
    let rest = match line.strip_prefix("..") {
        Some(r) if r.starts_with(' ') => {
            let r = r.trim_start_matches(' ');
            match r.strip_prefix("qmp-example") {
                Some(r) => r,
                None => line,
            }
        }
        _ => line,
    };
    rest.trim_start_matches(' ') == "::"
}

/// ` *(https?|ftp)://[^ ]*$`
fn is_url_line(line: &str) -> bool {
    let l = line.trim_start_matches(' ');
    let rest = ["https://", "http://", "ftp://"]
        .iter()
        .find_map(|p| l.strip_prefix(p));
    rest.is_some_and(|r| !r.contains(' '))
}

/// `@([^:]*): *` at the start of the line: the name and the text after
/// the colon and its spaces.
fn match_at_name_colon(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('@')?;
    let colon = rest.find(':')?;
    Some((&rest[..colon], rest[colon + 1..].trim_start_matches(' ')))
}

/// `(Returns|Errors|Since|Notes?|Examples?|TODO)(?!::): *` at the start
/// of the line.
fn match_section_tag(line: &str) -> Option<(&str, &str)> {
    for tag in [
        "Returns", "Errors", "Since", "Notes", "Note", "Examples", "Example", "TODO",
    ] {
        if let Some(rest) = line.strip_prefix(tag) {
            if rest.starts_with("::") {
                continue;
            }
            if let Some(rest) = rest.strip_prefix(':') {
                return Some((tag, rest.trim_start_matches(' ')));
            }
        }
    }
    None
}

/// The first single space after a sentence end, by the reference's
/// pattern `(\be\.g\.|^ *\d\.|([.!?])) [A-Z0-9(]`: the char index of the
/// punctuation, or `None`.
fn find_single_space(line: &str) -> Option<usize> {
    let c: Vec<char> = line.chars().collect();
    let starts_sentence = |i: usize| {
        c.get(i) == Some(&' ')
            && c.get(i + 1)
                .is_some_and(|&ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '(')
    };
    let is_word = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < c.len() {
        // \be\.g\.
        if (i == 0 || !is_word(c[i - 1]))
            && c[i..].starts_with(&['e', '.', 'g', '.'])
            && starts_sentence(i + 4)
        {
            i += 6;
            continue;
        }
        // ^ *\d\.
        if i == 0 {
            let mut j = 0;
            while c.get(j) == Some(&' ') {
                j += 1;
            }
            if c.get(j).is_some_and(|ch| ch.is_numeric())
                && c.get(j + 1) == Some(&'.')
                && starts_sentence(j + 2)
            {
                i = j + 4;
                continue;
            }
        }
        if matches!(c[i], '.' | '!' | '?') && starts_sentence(i + 1) {
            return Some(i);
        }
        i += 1;
    }
    None
}
