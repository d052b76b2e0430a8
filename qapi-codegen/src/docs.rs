//! QAPI documentation comments to rustdoc (Markdown).
//!
//! A QAPI `##` block is QEMU's flavour of reStructuredText split into
//! sections ([`Doc`]).  This module turns it into the Markdown rustdoc
//! reads:
//!
//! * [`item_doc`]: the documented definition's own text: the body, then
//!   the other sections in source order (`Returns:`, `Errors:`, `Since:`,
//!   the `Features:` list, notes, examples; `TODO:` is dropped).  Member
//!   descriptions are left out: they go on the fields ([`member_doc`]) and
//!   feature descriptions are also available one by one ([`feature_doc`]).
//! * [`examples`]: every QMP exchange (`-> {...}` / `<- {...}`) of the
//!   documentation, with its JSON parsed.
//!
//! The rules of the conversion, in order of importance:
//!
//! 1. Rustdoc never compiles anything: every literal block (a paragraph
//!    ending in `::`, `.. qmp-example::`, `.. code-block::`, `.. table::`,
//!    old `Example:` sections, any paragraph starting with `->` or `<-`,
//!    rST tables) is fenced as `` ```text ``, adjacent fences are merged,
//!    and no line outside a fence is indented by four spaces or more
//!    (prose is left-trimmed, list content is indented by at most three).
//! 2. Nothing becomes a heading by accident: a line made only of `=` or
//!    `-` is escaped (or, under a title line, the pair becomes a bold
//!    title), a leading `#` is escaped.
//! 3. Inline markup: `@name` becomes `` `name` ``, ``` ``x`` ``` becomes
//!    `` `x` ``, roles (`` :doc:`Title <target>` ``) keep their title as
//!    code, `` `text <url>`_ `` becomes a link, `*emphasis*` and
//!    `**strong**` stay, `[`, `]` and `<` are escaped (no broken
//!    intra-doc links, no stray HTML), bare URLs are wrapped in `<...>`.
//! 4. Admonitions (`.. note::`, `.. caution::`, `.. admonition:: Title`,
//!    old `Note:` sections) become a bold lead-in, `**Note:** text`;
//!    `Returns:`, `Errors:` likewise; `Since: 6.0` becomes `*Since:* 6.0`.
//!
//! Old schemas read in legacy mode may keep a block as raw text (one
//! plain section holding `@member:` lines and tags); such blocks are cut
//! into sections again here, the way QEMU's old parser did.

use std::collections::HashMap;

use qapi_parser::doc::{Doc, SectionKind};
use qapi_parser::ir::Schema;

// ----- public API ------------------------------------------------------

/// Markdown for the item a documentation block describes: its body, then
/// its tagged sections (Returns, Errors, Since, features, notes), with
/// examples fenced as `text` so rustdoc never compiles them.
pub fn item_doc(_schema: &Schema, doc: &Doc) -> Option<String> {
    let parts = parts_of(doc);
    let mut blocks = Vec::new();
    let mut features_done = false;
    for part in &parts {
        match &part.kind {
            PartKind::Body | PartKind::Plain => blocks.extend(convert(&part.lines)),
            PartKind::Member | PartKind::Todo => {}
            PartKind::Feature => {
                if !features_done {
                    features_done = true;
                    blocks.extend(features_list(&parts));
                }
            }
            PartKind::Returns => blocks.extend(with_lead("**Returns:**", convert(&part.lines))),
            PartKind::Errors => blocks.extend(with_lead("**Errors:**", convert(&part.lines))),
            PartKind::Since => blocks.extend(with_lead("*Since:*", convert(&part.lines))),
            PartKind::Note(tag) | PartKind::Other(tag) => {
                blocks.extend(with_lead(&format!("**{tag}:**"), convert(&part.lines)))
            }
            PartKind::Example(tag) => {
                blocks.push(Block::Para(vec![format!("**{tag}:**")]));
                if !part.lines.is_empty() {
                    blocks.push(Block::Fence(part.lines.clone()));
                }
            }
        }
    }
    finish(blocks)
}

/// Markdown for the member, branch or enum value `name` that `doc`
/// describes with an `@name:` section; `None` when it has no text.
pub fn member_doc(_schema: &Schema, doc: &Doc, name: &str) -> Option<String> {
    named_part(doc, PartKind::Member, name)
}

/// Markdown for the feature `name` that `doc` describes under
/// `Features:`; `None` when it has no text.
pub fn feature_doc(_schema: &Schema, doc: &Doc, name: &str) -> Option<String> {
    named_part(doc, PartKind::Feature, name)
}

/// Converts a piece of QAPI documentation text (reStructuredText as QEMU
/// writes it) to Markdown, by the rules of this module.
pub fn rst_to_markdown(text: &str) -> String {
    let lines = dedent_lines(&prep(text));
    finish(convert(&lines)).unwrap_or_default()
}

/// A QMP example exchange found in the documentation.
#[derive(Debug, Clone)]
pub struct Example {
    /// The documented command, event or type.
    pub symbol: String,
    /// `file:line` of the first message.
    pub location: String,
    /// The messages, in order.
    pub messages: Vec<ExampleMessage>,
}

/// One message of an [`Example`].
#[derive(Debug, Clone)]
pub struct ExampleMessage {
    /// `->` (client to server) rather than `<-`.
    pub to_server: bool,
    /// The JSON text as written: the arrow's line and its continuation
    /// lines (up to balanced brackets), joined with newlines, without the
    /// arrow and without the indentation of the arrow's line.
    pub text: String,
    /// The parsed text, or why it does not parse (elisions such as `...`,
    /// comments, typos in the documentation).
    pub json: Result<serde_json::Value, String>,
}

/// Every QMP example exchange of the definition documentation of
/// `schema`, in source order.  Messages separated only by blank lines or
/// continuation lines form one example; prose or a directive in between
/// starts another.  Free-form documentation is not searched (it shows the
/// notation, not exchanges).
pub fn examples(schema: &Schema) -> Vec<Example> {
    let mut files: HashMap<String, Option<Vec<String>>> = HashMap::new();
    let mut out = Vec::new();
    for doc in &schema.docs {
        let Some(symbol) = &doc.symbol else { continue };
        let mut groups = Vec::new();
        for part in parts_of(doc) {
            scan_messages(&part.lines, &mut groups);
        }
        if groups.is_empty() {
            continue;
        }
        let file = schema.source.file_name(doc.info).to_owned();
        let src = files
            .entry(file.clone())
            .or_insert_with(|| {
                std::fs::read_to_string(&file)
                    .ok()
                    .map(|s| s.lines().map(str::to_owned).collect())
            })
            .as_deref();
        // Index (0-based) of the line after the opening `##`.
        let mut cursor = schema.source.info(doc.info).line as usize;
        for group in groups {
            let mut location = None;
            for (first, _) in &group {
                if let Some(found) = src.and_then(|s| find_comment_line(s, cursor, first)) {
                    location.get_or_insert(found + 1);
                    cursor = found + 1;
                }
            }
            let location = match location {
                Some(line) => format!("{file}:{line}"),
                None => schema.source.location(doc.info),
            };
            out.push(Example {
                symbol: symbol.clone(),
                location,
                messages: group.into_iter().map(|(_, m)| m).collect(),
            });
        }
    }
    out
}

// ----- sections ----------------------------------------------------------

/// What a section is, after legacy tags and raw blocks are sorted out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PartKind {
    Body,
    Plain,
    Member,
    Feature,
    Returns,
    Errors,
    Since,
    Todo,
    /// `Note:` / `Notes:`, as written.
    Note(String),
    /// `Example:` / `Examples:`, as written: verbatim text.
    Example(String),
    /// Any other legacy tag.
    Other(String),
}

/// A section with its text dedented the way QEMU's `qapidoc` does.
#[derive(Debug, Clone)]
struct Part {
    kind: PartKind,
    name: Option<String>,
    lines: Vec<String>,
}

fn tag_kind(tag: &str) -> PartKind {
    match tag {
        "Returns" => PartKind::Returns,
        "Errors" => PartKind::Errors,
        "Since" => PartKind::Since,
        "TODO" => PartKind::Todo,
        "Note" | "Notes" => PartKind::Note(tag.to_owned()),
        "Example" | "Examples" => PartKind::Example(tag.to_owned()),
        t => PartKind::Other(t.to_owned()),
    }
}

fn parts_of(doc: &Doc) -> Vec<Part> {
    if is_raw(doc) {
        return raw_parts(&doc.body().text);
    }
    doc.order
        .iter()
        .map(|&id| {
            let s = doc.section(id);
            let kind = match &s.kind {
                SectionKind::Plain if id == 0 => PartKind::Body,
                SectionKind::Plain => PartKind::Plain,
                SectionKind::Member => PartKind::Member,
                SectionKind::Feature => PartKind::Feature,
                SectionKind::Returns => PartKind::Returns,
                SectionKind::Errors => PartKind::Errors,
                SectionKind::Since => PartKind::Since,
                SectionKind::Todo => PartKind::Todo,
                SectionKind::Legacy(tag) => tag_kind(tag),
            };
            let lines = prep(&s.text);
            let lines = match kind {
                PartKind::Body | PartKind::Plain => dedent_lines(&lines),
                _ => qemu_dedent(&lines),
            };
            Part {
                kind,
                name: s.name.clone(),
                lines,
            }
        })
        .collect()
}

/// Whether legacy mode kept the block as raw text: a definition's block
/// with nothing but a body, and member descriptions or tags in it.
fn is_raw(doc: &Doc) -> bool {
    doc.symbol.is_some()
        && doc.features.is_empty()
        && doc.sections.is_empty()
        && doc.args.values().all(|&id| doc.section(id).text.is_empty())
        && doc
            .body()
            .text
            .lines()
            .any(|l| at_name_colon(l).is_some() || section_tag(l).is_some() || is_features(l))
}

/// Cuts a raw block into sections, roughly as QEMU's parser before 8.2
/// did: `@name:` lines start descriptions (features after `Features:`),
/// tags at the start of a line start tagged sections; a description or
/// `Since:` ends at an unindented paragraph, other tagged sections run to
/// the next tag.
fn raw_parts(text: &str) -> Vec<Part> {
    let mut parts = vec![Part {
        kind: PartKind::Body,
        name: None,
        lines: Vec::new(),
    }];
    let mut features = false;
    let mut prev_blank = false;
    for line in prep(text) {
        let blank = line.trim().is_empty();
        if let Some((name, rest)) = at_name_colon(&line) {
            let kind = if features {
                PartKind::Feature
            } else {
                PartKind::Member
            };
            parts.push(Part {
                kind,
                name: Some(name.to_owned()),
                lines: vec![rest.to_owned()],
            });
        } else if is_features(&line) {
            features = true;
        } else if let Some((tag, rest)) = section_tag(&line) {
            features = false;
            parts.push(Part {
                kind: tag_kind(tag),
                name: None,
                lines: vec![rest.to_owned()],
            });
        } else {
            let cur = parts.last_mut().expect("the body is always there");
            let ends = matches!(
                cur.kind,
                PartKind::Member | PartKind::Feature | PartKind::Since
            ) && prev_blank
                && !blank
                && indent_of(&line) == 0;
            if ends {
                features = false;
                parts.push(Part {
                    kind: PartKind::Plain,
                    name: None,
                    lines: vec![line.clone()],
                });
            } else {
                cur.lines.push(line.clone());
            }
        }
        prev_blank = blank;
    }
    for p in &mut parts {
        let lines = trim_blank_lines(&p.lines);
        p.lines = match p.kind {
            PartKind::Body | PartKind::Plain => dedent_lines(&lines),
            _ => qemu_dedent(&lines),
        };
    }
    parts
}

fn named_part(doc: &Doc, kind: PartKind, name: &str) -> Option<String> {
    let parts = parts_of(doc);
    let part = parts
        .iter()
        .find(|p| p.kind == kind && p.name.as_deref() == Some(name))?;
    finish(convert(&part.lines))
}

fn features_list(parts: &[Part]) -> Vec<Block> {
    let mut blocks = vec![Block::Para(vec!["**Features:**".to_owned()])];
    for p in parts.iter().filter(|p| p.kind == PartKind::Feature) {
        let name = p.name.as_deref().unwrap_or_default();
        let lead = format!("{}:", code_span(name));
        blocks.push(Block::Item {
            marker: "*".to_owned(),
            blocks: with_lead(&lead, convert(&p.lines)),
        });
    }
    blocks
}

/// `@name:` at the start of a line: the name and the text after it.
fn at_name_colon(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('@')?;
    let colon = rest.find(':')?;
    let name = &rest[..colon];
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    Some((name, rest[colon + 1..].trim()))
}

/// A section tag at the start of a line (`Returns:`, not `Returns::`).
fn section_tag(line: &str) -> Option<(&'static str, &str)> {
    for tag in [
        "Returns", "Errors", "Since", "Notes", "Note", "Examples", "Example", "TODO",
    ] {
        if let Some(rest) = line.strip_prefix(tag) {
            if rest.starts_with("::") {
                continue;
            }
            if let Some(rest) = rest.strip_prefix(':') {
                return Some((tag, rest.trim()));
            }
        }
    }
    None
}

fn is_features(line: &str) -> bool {
    line.trim_end() == "Features:"
}

// ----- text helpers ------------------------------------------------------

/// Lines with tabs expanded and trailing white space removed, without
/// leading and trailing blank lines.
fn prep(text: &str) -> Vec<String> {
    let lines: Vec<String> = text
        .lines()
        .map(|l| expand_tabs(l).trim_end().to_owned())
        .collect();
    trim_blank_lines(&lines)
}

fn expand_tabs(line: &str) -> String {
    if !line.contains('\t') {
        return line.to_owned();
    }
    let mut out = String::new();
    let mut col = 0;
    for c in line.chars() {
        if c == '\t' {
            let n = 8 - col % 8;
            out.extend(std::iter::repeat(' ').take(n));
            col += n;
        } else {
            out.push(c);
            col += 1;
        }
    }
    out
}

fn trim_blank_lines(lines: &[String]) -> Vec<String> {
    let start = lines.iter().position(|l| !is_blank(l));
    let end = lines.iter().rposition(|l| !is_blank(l));
    match (start, end) {
        (Some(s), Some(e)) => lines[s..=e].to_vec(),
        _ => Vec::new(),
    }
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Python's `textwrap.dedent`: the common indentation removed, blank lines
/// emptied.
fn dedent_lines(lines: &[String]) -> Vec<String> {
    let min = lines
        .iter()
        .filter(|l| !is_blank(l))
        .map(|l| indent_of(l))
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|l| {
            if is_blank(l) {
                String::new()
            } else {
                l[min..].to_owned()
            }
        })
        .collect()
}

/// `qapidoc`'s dedent: a description that starts on the tag's line keeps
/// its first line and has the rest dedented; one that starts on the next
/// line is dedented whole.
fn qemu_dedent(lines: &[String]) -> Vec<String> {
    match lines.first() {
        None => Vec::new(),
        Some(first) if indent_of(first) > 0 || first.is_empty() => dedent_lines(lines),
        Some(first) => {
            let mut out = vec![first.clone()];
            out.extend(dedent_lines(&lines[1..]));
            out
        }
    }
}

/// `->` or `<-` opening a QMP message: whether it goes to the server, and
/// the rest of the line.
fn arrow(t: &str) -> Option<(bool, &str)> {
    let (to_server, rest) = if let Some(r) = t.strip_prefix("->") {
        (true, r)
    } else if let Some(r) = t.strip_prefix("<-") {
        (false, r)
    } else {
        return None;
    };
    (rest.is_empty() || rest.starts_with([' ', '{', '['])).then_some((to_server, rest))
}

/// `.. name:: argument`: the directive's name and argument.
fn directive(t: &str) -> Option<(&str, &str)> {
    let rest = t.strip_prefix("..")?;
    if !rest.starts_with(' ') {
        return None;
    }
    let rest = rest.trim_start();
    let pos = rest.find("::")?;
    let name = &rest[..pos];
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.' | '+'));
    ok.then(|| (name, rest[pos + 2..].trim()))
}

/// A directive option line, `:name: value`.
fn option_line(t: &str) -> Option<(&str, &str)> {
    let rest = t.strip_prefix(':')?;
    let pos = rest.find(':')?;
    let name = &rest[..pos];
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    let value = &rest[pos + 1..];
    (ok && (value.is_empty() || value.starts_with(' '))).then(|| (name, value.trim()))
}

/// A line made only of one repeated punctuation character: an rST
/// section adornment, or (for `=` and `-`) a Markdown setext underline.
fn is_adornment(t: &str) -> bool {
    let mut chars = t.chars();
    let Some(c) = chars.next() else { return false };
    "=-~^\"'`#*+_.:<>".contains(c) && t.chars().all(|x| x == c)
}

/// Whether a line could underline a setext heading.
fn is_setext_underline(t: &str) -> bool {
    let t = t.trim();
    !t.is_empty() && (t.chars().all(|c| c == '=') || t.chars().all(|c| c == '-'))
}

/// Whether a line would be a Markdown ATX heading (`# Title`).
fn is_atx_heading(t: &str) -> bool {
    let hashes = t.chars().take_while(|&c| c == '#').count();
    (1..=6).contains(&hashes) && t[hashes..].chars().next().map_or(true, char::is_whitespace)
}

/// The border of an rST simple table (`===  ===`) or grid table
/// (`+---+---+`).
fn is_table_border(t: &str) -> bool {
    let simple = t.contains("= ")
        && t.chars().all(|c| c == '=' || c == ' ')
        && t.split_whitespace().count() >= 2;
    let grid = t.len() > 2
        && t.starts_with('+')
        && t.ends_with('+')
        && t.chars().all(|c| matches!(c, '+' | '-' | '='));
    simple || grid
}

/// A list item marker at the start of `t`: the Markdown marker and the
/// width of the rST marker with its space.
fn list_marker(t: &str) -> Option<(String, usize)> {
    for b in ["- ", "* ", "+ "] {
        if t.starts_with(b) {
            return Some((b[..1].to_owned(), 2 + spaces_after(&t[2..])));
        }
    }
    if t == "-" || t == "*" || t == "+" {
        return None;
    }
    if let Some(rest) = t.strip_prefix("#.") {
        if let Some(after) = rest.strip_prefix(' ') {
            return Some(("1.".to_owned(), 3 + spaces_after(after)));
        }
    }
    let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
    if (1..=9).contains(&digits) {
        let rest = &t[digits..];
        for p in [". ", ") "] {
            if rest.starts_with(p) {
                let marker = format!("{}{}", &t[..digits], &p[..1]);
                return Some((marker, digits + 2 + spaces_after(&rest[2..])));
            }
        }
    }
    None
}

fn spaces_after(s: &str) -> usize {
    indent_of(s)
}

// ----- blocks ------------------------------------------------------------

/// Converted Markdown, before it is laid out.
#[derive(Debug, Clone)]
enum Block {
    /// Prose lines, inline markup converted, left-aligned.
    Para(Vec<String>),
    /// Verbatim lines for a `text` fence.
    Fence(Vec<String>),
    /// A list item.
    Item { marker: String, blocks: Vec<Block> },
}

/// Prefixes the first paragraph with `lead`, or puts `lead` on a
/// paragraph of its own when the text starts with something else.
fn with_lead(lead: &str, mut blocks: Vec<Block>) -> Vec<Block> {
    match blocks.first_mut() {
        Some(Block::Para(lines)) if !lines.is_empty() => {
            lines[0] = format!("{lead} {}", lines[0]);
        }
        _ => blocks.insert(0, Block::Para(vec![lead.to_owned()])),
    }
    blocks
}

/// Dedented rST lines to blocks.
fn convert(lines: &[String]) -> Vec<Block> {
    let mut out = Vec::new();
    let n = lines.len();
    let mut i = 0;
    while i < n {
        let line = &lines[i];
        if is_blank(line) {
            i += 1;
            continue;
        }
        let ind = indent_of(line);
        let t = &line[ind..];

        // Directives and comments: the line and everything indented more.
        if let Some((name, arg)) = directive(t) {
            let j = indented_end(lines, i + 1, ind);
            let body = trim_blank_lines(&lines[i + 1..j]);
            directive_blocks(name, arg, &body, &mut out);
            i = j;
            continue;
        }
        if t == ".." || t.starts_with(".. ") {
            i = indented_end(lines, i + 1, ind);
            continue;
        }

        // QMP messages: fenced through blank lines while more messages
        // or continuation lines follow.
        if arrow(t).is_some() {
            let mut j = i + 1;
            loop {
                while j < n && !is_blank(&lines[j]) && indent_of(&lines[j]) >= ind {
                    j += 1;
                }
                let mut k = j;
                while k < n && is_blank(&lines[k]) {
                    k += 1;
                }
                if k > j && k < n {
                    let ki = indent_of(&lines[k]);
                    if ki > ind || (ki == ind && arrow(&lines[k][ki..]).is_some()) {
                        j = k;
                        continue;
                    }
                }
                break;
            }
            out.push(Block::Fence(dedent_lines(&trim_blank_lines(&lines[i..j]))));
            i = j;
            continue;
        }

        // Tables: verbatim.
        if is_table_border(t) {
            let mut j = i + 1;
            while j < n && !is_blank(&lines[j]) {
                j += 1;
            }
            out.push(Block::Fence(dedent_lines(&lines[i..j])));
            i = j;
            continue;
        }

        // List items: the marker's line and the lines indented to its
        // text (or directly following it).
        if let Some((marker, width)) = list_marker(t) {
            let cind = ind + width;
            let mut content = vec![t[width..].to_owned()];
            let mut j = i + 1;
            let mut seen_blank = false;
            while j < n {
                let l = &lines[j];
                if is_blank(l) {
                    seen_blank = true;
                    content.push(String::new());
                    j += 1;
                    continue;
                }
                let li = indent_of(l);
                let lazy = !seen_blank
                    && li > ind
                    && list_marker(&l[li..]).is_none()
                    && directive(&l[li..]).is_none()
                    && arrow(&l[li..]).is_none();
                if li >= cind || lazy {
                    content.push(l[li.min(cind)..].to_owned());
                    j += 1;
                } else {
                    break;
                }
            }
            let content = trim_blank_lines(&content);
            out.push(Block::Item {
                marker,
                blocks: convert(&qemu_dedent(&content)),
            });
            i = j;
            continue;
        }

        // A paragraph.
        let mut j = i + 1;
        while j < n {
            let l = &lines[j];
            if is_blank(l) {
                break;
            }
            let li = indent_of(l);
            let lt = &l[li..];
            if li < ind || arrow(lt).is_some() || directive(lt).is_some() {
                break;
            }
            j += 1;
        }
        let mut para: Vec<String> = lines[i..j].iter().map(|l| l.trim().to_owned()).collect();
        i = j;
        let mut literal = false;
        if let Some(last) = para.last_mut() {
            if last.ends_with("::") {
                literal = true;
                if last == "::" {
                    para.pop();
                } else if last.ends_with(" ::") {
                    let keep = last.len() - 3;
                    last.truncate(keep);
                    let keep = last.trim_end().len();
                    last.truncate(keep);
                } else {
                    last.pop();
                }
            }
        }
        if !para.is_empty() {
            out.push(Block::Para(paragraph(&para)));
        }
        if literal {
            let mut k = i;
            while k < n && is_blank(&lines[k]) {
                k += 1;
            }
            if k < n && indent_of(&lines[k]) > ind {
                let j = indented_end(lines, k, ind);
                out.push(Block::Fence(dedent_lines(&trim_blank_lines(&lines[k..j]))));
                i = j;
            }
        }
    }
    merge_fences(out)
}

/// The end of the block of lines from `from` that are blank or indented
/// more than `ind`, trailing blank lines excluded.
fn indented_end(lines: &[String], from: usize, ind: usize) -> usize {
    let mut j = from;
    while j < lines.len() && (is_blank(&lines[j]) || indent_of(&lines[j]) > ind) {
        j += 1;
    }
    while j > from && is_blank(&lines[j - 1]) {
        j -= 1;
    }
    j
}

fn merge_fences(blocks: Vec<Block>) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::with_capacity(blocks.len());
    for b in blocks {
        if let (Some(Block::Fence(prev)), Block::Fence(next)) = (out.last_mut(), &b) {
            prev.push(String::new());
            prev.extend(next.iter().cloned());
            continue;
        }
        out.push(b);
    }
    out
}

fn directive_blocks(name: &str, arg: &str, body: &[String], out: &mut Vec<Block>) {
    let mut options = Vec::new();
    let mut k = 0;
    while k < body.len() && !is_blank(&body[k]) {
        match option_line(body[k].trim()) {
            Some(o) => options.push(o),
            None => break,
        }
        k += 1;
    }
    let content = dedent_lines(&trim_blank_lines(&body[k..]));
    let option = |n: &str| options.iter().find(|(o, _)| *o == n).map(|(_, v)| *v);
    let name = name.to_ascii_lowercase();
    match name.as_str() {
        "qmp-example" => {
            let mut lead = "**Example:**".to_owned();
            if let Some(title) = option("title").filter(|t| !t.is_empty()) {
                lead = format!("{lead} {}", paragraph(&[title.to_owned()]).join(" "));
            }
            if option("annotated").is_some() {
                out.extend(with_lead(&lead, convert(&content)));
            } else {
                out.push(Block::Para(vec![lead]));
                if !content.is_empty() {
                    out.push(Block::Fence(content));
                }
            }
        }
        "code-block" | "code" | "sourcecode" | "parsed-literal" | "highlight" => {
            if !content.is_empty() {
                out.push(Block::Fence(content));
            }
        }
        "table" | "csv-table" | "list-table" => {
            if !arg.is_empty() {
                let title = paragraph(&[arg.to_owned()]).join(" ");
                out.push(Block::Para(vec![format!("**{title}**")]));
            }
            if !content.is_empty() {
                out.push(Block::Fence(content));
            }
        }
        "todo" => {}
        _ => {
            let label = match name.as_str() {
                "admonition" => {
                    let title = if arg.is_empty() { "Note" } else { arg };
                    let title = paragraph(&[title.to_owned()]).join(" ");
                    if title.ends_with([':', '.', '!', '?']) {
                        format!("**{title}**")
                    } else {
                        format!("**{title}:**")
                    }
                }
                "seealso" => "**See also:**".to_owned(),
                other => {
                    let mut c = other.chars();
                    let cap: String = c
                        .next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default();
                    format!("**{cap}:**")
                }
            };
            let mut text = Vec::new();
            if name != "admonition" && !arg.is_empty() {
                text.push(arg.to_owned());
            }
            text.extend(content);
            out.extend(with_lead(&label, convert(&text)));
        }
    }
}

/// A paragraph's lines (trimmed) to Markdown lines.
fn paragraph(lines: &[String]) -> Vec<String> {
    // rST section titles: text under (and over) a line of punctuation.
    let title = match lines {
        [t, u] if is_adornment(u) && !is_adornment(t) => Some(t),
        [o, t, u] if is_adornment(o) && o == u && !is_adornment(t) => Some(t),
        _ => None,
    };
    if let Some(t) = title {
        return vec![format!("**{}**", inline(t))];
    }
    let text = lines.join("\n");
    inline(&text)
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if is_atx_heading(l)
                || is_setext_underline(l)
                || l.starts_with("```")
                || l.starts_with("~~~")
                // A list marker inside a paragraph would start a lazily
                // continued Markdown list (clippy's doc_lazy_continuation).
                || ["- ", "* ", "+ "].iter().any(|m| l.starts_with(m))
            {
                format!("\\{l}")
            } else {
                l.to_owned()
            }
        })
        .collect()
}

/// A Markdown code span holding `s` verbatim.
fn code_span(s: &str) -> String {
    let s = s.replace('\n', " ");
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let ticks = "`".repeat(longest + 1);
    if longest > 0 || s.starts_with(' ') || s.ends_with(' ') {
        format!("{ticks} {s} {ticks}")
    } else {
        format!("{ticks}{s}{ticks}")
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Escapes Markdown's inline specials that rST text may hold by accident.
fn push_text(out: &mut String, c: char) {
    match c {
        '[' => out.push_str("\\["),
        ']' => out.push_str("\\]"),
        '<' => out.push_str("\\<"),
        '`' => out.push_str("\\`"),
        c => out.push(c),
    }
}

/// Inline markup of a paragraph (lines joined with `\n`).
fn inline(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let n = c.len();
    let at = |i: usize| c.get(i).copied();
    let find = |from: usize, pat: &[char]| -> Option<usize> {
        (from..n.saturating_sub(pat.len() - 1)).find(|&k| c[k..].starts_with(pat))
    };
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    while i < n {
        let prev = if i == 0 { None } else { Some(c[i - 1]) };
        let word_before = prev.is_some_and(|p| p.is_alphanumeric());

        // ``literal``
        if c[i] == '`' && at(i + 1) == Some('`') {
            if let Some(end) = find(i + 3, &['`', '`']) {
                let s: String = c[i + 2..end].iter().collect();
                out.push_str(&code_span(&s));
                i = end + 2;
                continue;
            }
            out.push_str("\\`\\`");
            i += 2;
            continue;
        }

        // :role:`content`
        if c[i] == ':' && !word_before {
            let mut k = i + 1;
            while k < n && (c[k].is_ascii_alphanumeric() || matches!(c[k], '-' | '_' | ':' | '.')) {
                k += 1;
            }
            if k > i + 2 && c[k - 1] == ':' && at(k) == Some('`') {
                if let Some(end) = find(k + 1, &['`']) {
                    let s: String = c[k + 1..end].iter().collect();
                    let shown = match (s.rfind('<'), s.ends_with('>')) {
                        (Some(p), true) if p > 0 => s[..p].trim().to_owned(),
                        _ => s.trim_start_matches(['~', '!']).to_owned(),
                    };
                    out.push_str(&code_span(&shown));
                    i = end + 1;
                    continue;
                }
            }
        }

        // `interpreted`, `text <url>`_, `reference`_
        if c[i] == '`' {
            if let Some(end) = find(i + 1, &['`']).filter(|&e| e > i + 1) {
                let s: String = c[i + 1..end].iter().collect();
                let mut next = end + 1;
                let reference = at(next) == Some('_');
                while at(next) == Some('_') {
                    next += 1;
                }
                if reference {
                    match (s.rfind('<'), s.ends_with('>')) {
                        (Some(p), true) if s[p + 1..s.len() - 1].contains("://") => {
                            let label = s[..p].trim();
                            let url = &s[p + 1..s.len() - 1];
                            let mut l = String::new();
                            for ch in label.chars() {
                                push_text(&mut l, ch);
                            }
                            out.push_str(&format!("[{l}]({url})"));
                        }
                        _ => {
                            for ch in s.chars() {
                                push_text(&mut out, ch);
                            }
                        }
                    }
                } else {
                    out.push_str(&code_span(&s));
                }
                i = next;
                continue;
            }
            out.push_str("\\`");
            i += 1;
            continue;
        }

        // @name
        if c[i] == '@' && !word_before && at(i + 1).is_some_and(is_name_char) {
            let mut k = i + 1;
            while k < n && is_name_char(c[k]) {
                k += 1;
            }
            let s: String = c[i + 1..k].iter().collect();
            out.push_str(&code_span(&s));
            i = k;
            continue;
        }

        // <scheme://...>: a Markdown autolink already.
        if c[i] == '<' {
            if let Some(end) = find(i + 1, &['>']) {
                let s: String = c[i + 1..end].iter().collect();
                if is_url(&s) && !s.contains(char::is_whitespace) {
                    out.push('<');
                    out.push_str(&s);
                    out.push('>');
                    i = end + 1;
                    continue;
                }
            }
        }

        // A bare URL.
        if (c[i] == 'h' || c[i] == 'f') && !word_before {
            let mut k = i;
            while k < n && !c[k].is_whitespace() && !matches!(c[k], '<' | '>' | '"' | '`' | '\'') {
                k += 1;
            }
            while k > i && matches!(c[k - 1], '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']') {
                k -= 1;
            }
            let s: String = c[i..k].iter().collect();
            if is_url(&s) {
                out.push('<');
                out.push_str(&s);
                out.push('>');
                i = k;
                continue;
            }
        }

        push_text(&mut out, c[i]);
        i += 1;
    }
    out
}

/// `scheme://host...` with a dot in the host: what rustdoc's `bare_urls`
/// lint would flag.
fn is_url(s: &str) -> bool {
    ["http://", "https://", "ftp://"]
        .iter()
        .find_map(|p| s.strip_prefix(p))
        .is_some_and(|rest| {
            let host = rest.split('/').next().unwrap_or("");
            host.contains('.') && !host.starts_with('.')
        })
}

// ----- layout --------------------------------------------------------------

fn single_para(b: &Block) -> bool {
    matches!(b, Block::Item { blocks, .. } if blocks.len() == 1 && matches!(blocks[0], Block::Para(_)))
}

fn render(blocks: &[Block], indent: usize, out: &mut Vec<String>) {
    let pad = " ".repeat(indent);
    let mut prev: Option<&Block> = None;
    for b in blocks {
        if let Some(p) = prev {
            let tight = single_para(p) && single_para(b);
            if !tight {
                out.push(String::new());
            }
        }
        match b {
            Block::Para(lines) => out.extend(lines.iter().map(|l| format!("{pad}{l}"))),
            Block::Fence(lines) => {
                out.push(format!("{pad}```text"));
                for l in lines {
                    if l.is_empty() {
                        out.push(String::new());
                    } else if l.trim_start().starts_with("```") || l.trim_start().starts_with("~~~")
                    {
                        // Would close the fence: indented past a fence.
                        out.push(format!("{pad}    {l}"));
                    } else {
                        out.push(format!("{pad}{l}"));
                    }
                }
                out.push(format!("{pad}```"));
            }
            Block::Item { marker, blocks } => {
                let width = marker.len() + 1;
                let child = if indent + width <= 3 {
                    indent + width
                } else {
                    indent
                };
                let mut sub = Vec::new();
                render(blocks, child, &mut sub);
                match blocks.first() {
                    Some(Block::Para(_)) if !sub.is_empty() => {
                        sub[0] = format!("{pad}{marker} {}", sub[0].trim_start());
                    }
                    _ => out.push(format!("{pad}{marker}")),
                }
                out.extend(sub);
            }
        }
        prev = Some(b);
    }
}

fn finish(blocks: Vec<Block>) -> Option<String> {
    let blocks = merge_fences(blocks);
    let mut lines = Vec::new();
    render(&blocks, 0, &mut lines);
    let lines = trim_blank_lines(&lines);
    (!lines.is_empty()).then(|| lines.join("\n"))
}

// ----- examples ------------------------------------------------------------

/// Bracket depth of JSON text, strings skipped.
#[derive(Default)]
struct JsonScan {
    depth: i32,
    opened: bool,
    in_str: bool,
    escape: bool,
}

impl JsonScan {
    fn feed(&mut self, s: &str) {
        for c in s.chars() {
            if self.in_str {
                if self.escape {
                    self.escape = false;
                } else if c == '\\' {
                    self.escape = true;
                } else if c == '"' {
                    self.in_str = false;
                }
                continue;
            }
            match c {
                '"' => self.in_str = true,
                '{' | '[' => {
                    self.depth += 1;
                    self.opened = true;
                }
                '}' | ']' => self.depth -= 1,
                _ => {}
            }
        }
        // A string never spans lines.
        self.in_str = false;
        self.escape = false;
    }

    fn done(&self) -> bool {
        self.opened && self.depth <= 0
    }
}

type Found = Vec<(String, ExampleMessage)>;

/// The messages of a section's lines, grouped into examples; each with
/// its first line (trimmed) for locating it in the source.
fn scan_messages(lines: &[String], groups: &mut Vec<Found>) {
    let mut current: Option<Found> = None;
    let n = lines.len();
    let mut i = 0;
    while i < n {
        let l = &lines[i];
        if is_blank(l) {
            i += 1;
            continue;
        }
        let a = indent_of(l);
        let Some((to_server, rest)) = arrow(&l[a..]) else {
            if let Some(g) = current.take() {
                groups.push(g);
            }
            i += 1;
            continue;
        };
        let mut text = vec![rest.trim().to_owned()];
        let mut scan = JsonScan::default();
        scan.feed(rest);
        let mut j = i + 1;
        while !scan.done() && j < n {
            let l2 = &lines[j];
            let i2 = indent_of(l2);
            if is_blank(l2)
                || i2 < a
                || arrow(&l2[i2..]).is_some()
                || directive(&l2[i2..]).is_some()
            {
                break;
            }
            text.push(l2[a..].to_owned());
            scan.feed(l2);
            j += 1;
        }
        let text = text.join("\n").trim().to_owned();
        let json = serde_json::from_str::<serde_json::Value>(&text).map_err(|e| e.to_string());
        current.get_or_insert_with(Vec::new).push((
            l.trim().to_owned(),
            ExampleMessage {
                to_server,
                text,
                json,
            },
        ));
        i = j;
    }
    if let Some(g) = current {
        groups.push(g);
    }
}

/// The index of the first comment line at or after `from` whose text is
/// `want`.
fn find_comment_line(src: &[String], from: usize, want: &str) -> Option<usize> {
    src.iter()
        .enumerate()
        .skip(from)
        .take_while(|(_, l)| l.trim_start().starts_with('#'))
        .find(|(_, l)| {
            let body = l.trim_start().trim_start_matches('#');
            expand_tabs(body).trim() == want
        })
        .map(|(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    // ----- helpers -----------------------------------------------------

    /// A file removed when dropped.
    struct TempFile(PathBuf);

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Loads a schema from source text (legacy mode, like old releases);
    /// the file lives as long as the guard.
    fn load_src(src: &str) -> (Schema, TempFile) {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "qapi-docs-test-{}-{}.json",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, src).unwrap();
        let guard = TempFile(path);
        let schema = qapi_parser::load(&guard.0, &qapi_parser::Options { legacy: true })
            .unwrap_or_else(|e| panic!("{e:?}"));
        (schema, guard)
    }

    fn doc_for<'a>(schema: &'a Schema, name: &str) -> &'a Doc {
        schema
            .docs
            .iter()
            .find(|d| d.symbol.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no doc for {name}"))
    }

    /// A `##` block (lines without `# `) then a definition.
    fn block(lines: &[&str], def: &str) -> String {
        let mut s = String::from("##\n");
        for l in lines {
            if l.is_empty() {
                s.push_str("#\n");
            } else {
                s.push_str(&format!("# {l}\n"));
            }
        }
        s.push_str("##\n");
        s.push_str(def);
        s.push('\n');
        s
    }

    fn md(text: &str) -> String {
        let out = rst_to_markdown(text);
        check_markdown(&out).unwrap_or_else(|e| panic!("{e}\n---\n{out}"));
        out
    }

    /// The invariants every generated text keeps.
    fn check_markdown(md: &str) -> Result<(), String> {
        let mut in_fence = false;
        let mut prev_blank = true;
        for (k, line) in md.lines().enumerate() {
            let ind = indent_of(line);
            let t = line.trim_start();
            let at = |what: &str| Err(format!("line {}: {what}: {line:?}", k + 1));
            if t.starts_with("```") && ind <= 3 && !line.starts_with('\t') {
                if in_fence {
                    if t != "```" {
                        return at("fence closed with an info string");
                    }
                    in_fence = false;
                } else {
                    if t != "```text" {
                        return at("fence opened without `text`");
                    }
                    in_fence = true;
                }
                prev_blank = false;
                continue;
            }
            if in_fence {
                continue;
            }
            if line.starts_with('\t') || ind >= 4 {
                return at("indented line outside a fence");
            }
            if t.contains('\t') {
                return at("tab outside a fence");
            }
            if !prev_blank && is_setext_underline(t) {
                return at("setext heading underline");
            }
            if is_atx_heading(t) {
                return at("heading");
            }
            if arrow(t).is_some() {
                return at("QMP message outside a fence");
            }
            prev_blank = t.is_empty();
        }
        if in_fence {
            return Err("unbalanced fence".into());
        }
        Ok(())
    }

    fn shared() -> Option<PathBuf> {
        let dir = Path::new("/work/shared/qapi-schemas");
        if dir.is_dir() {
            return Some(dir.to_path_buf());
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing (required under CI)",
            dir.display()
        );
        eprintln!("note: {} is absent; skipping", dir.display());
        None
    }

    const RELEASES: [&str; 6] = ["6.0.1", "7.2.13", "8.2.6", "9.0.4", "9.1.2", "9.2.0-rc2"];

    /// The releases the tests cover: [`RELEASES`], or every release there
    /// is with `QAPI_DOCS_RELEASES=all`.
    fn releases(root: &Path) -> Vec<String> {
        match std::env::var("QAPI_DOCS_RELEASES").as_deref() {
            Ok("all") => {
                let mut v: Vec<String> = std::fs::read_dir(root)
                    .unwrap()
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                v.sort();
                v
            }
            _ => RELEASES.iter().map(|r| r.to_string()).collect(),
        }
    }

    // ----- inline rules --------------------------------------------------

    #[test]
    fn at_references_become_code() {
        assert_eq!(
            md("See @device and @node-name."),
            "See `device` and `node-name`."
        );
        assert_eq!(md("mail me@example.org"), "mail me@example.org");
        assert_eq!(md("an @ sign"), "an @ sign");
    }

    #[test]
    fn literals_and_emphasis() {
        assert_eq!(md("Use ``-no-shutdown`` now"), "Use `-no-shutdown` now");
        assert_eq!(md("``a`b``"), "`` a`b ``");
        assert_eq!(md("``@not-a-ref``"), "`@not-a-ref`");
        assert_eq!(md("*emph* and **strong**"), "*emph* and **strong**");
        assert_eq!(md("default `role`"), "default `role`");
    }

    #[test]
    fn roles_links_and_escapes() {
        assert_eq!(
            md("see :doc:`QEMU Machine Protocol Specification </interop/qmp-spec>`"),
            "see `QEMU Machine Protocol Specification`"
        );
        assert_eq!(md(":ref:`cpu-topology-s390x`"), "`cpu-topology-s390x`");
        assert_eq!(
            md("`QEMU <https://qemu.org>`_ site"),
            "[QEMU](https://qemu.org) site"
        );
        assert_eq!(md("[0, 10), [a] <uri>"), "\\[0, 10), \\[a\\] \\<uri>");
        assert_eq!(
            md("see <http://zlib.net/> or https://gnutls.org/manual."),
            "see <http://zlib.net/> or <https://gnutls.org/manual>."
        );
        assert_eq!(
            md("must start with \"http://\""),
            "must start with \"http://\""
        );
    }

    #[test]
    fn no_accidental_headings() {
        assert_eq!(md("Title\n====="), "**Title**");
        assert_eq!(md("=====\nTitle\n====="), "**Title**");
        let out = md("a\nb\n---\nc");
        assert_eq!(out, "a\nb\n\\---\nc");
        assert_eq!(md("# not a heading"), "\\# not a heading");
        assert_eq!(md("#optional text"), "#optional text");
    }

    #[test]
    fn plain_text_is_left_alone() {
        assert_eq!(
            md("Just text, with (parens) and 1.5 numbers."),
            "Just text, with (parens) and 1.5 numbers."
        );
        assert_eq!(md("one\n\ntwo"), "one\n\ntwo");
    }

    // ----- block rules ---------------------------------------------------

    #[test]
    fn literal_paragraphs_are_fenced() {
        let out = md(
            "For example::\n\n    -> { \"execute\": \"x\" }\n    <- { \"return\": {} }\n\nDone.",
        );
        assert_eq!(
            out,
            "For example:\n\n```text\n-> { \"execute\": \"x\" }\n<- { \"return\": {} }\n```\n\nDone."
        );
        assert_eq!(
            md("Expanded ::\n\n  x = 1"),
            "Expanded\n\n```text\nx = 1\n```"
        );
        assert_eq!(md("::\n\n  x\n    y"), "```text\nx\n  y\n```");
    }

    #[test]
    fn indented_text_is_not_code() {
        assert_eq!(
            md("para\n\n        quoted block\n        more"),
            "para\n\nquoted block\nmore"
        );
        assert_eq!(
            md("first\n    hanging\n    indent"),
            "first\nhanging\nindent"
        );
    }

    #[test]
    fn qmp_lines_are_always_fenced() {
        let out = md("Example:\n-> { \"execute\": \"a\",\n     \"arguments\": {} }\n<- { \"return\": {} }\n\n<- { \"event\": \"E\" }\nThen prose.");
        assert_eq!(
            out,
            "Example:\n\n```text\n-> { \"execute\": \"a\",\n     \"arguments\": {} }\n<- { \"return\": {} }\n\n<- { \"event\": \"E\" }\nThen prose.\n```"
        );
    }

    #[test]
    fn qmp_example_directive() {
        let out =
            md(".. qmp-example::\n\n    -> { \"execute\": \"stop\" }\n    <- { \"return\": {} }");
        assert_eq!(
            out,
            "**Example:**\n\n```text\n-> { \"execute\": \"stop\" }\n<- { \"return\": {} }\n```"
        );
        let out =
            md(".. qmp-example::\n   :title: Change a ``medium``\n\n   -> { \"execute\": \"x\" }");
        assert!(
            out.starts_with("**Example:** Change a `medium`\n\n```text\n-> "),
            "{out}"
        );
        let out = md(".. qmp-example::\n   :annotated:\n\n   Set @id histograms\n   [0, 10)::\n\n    -> { \"execute\": \"x\" }\n    <- { \"return\": {} }");
        assert_eq!(
            out,
            "**Example:** Set `id` histograms\n\\[0, 10):\n\n```text\n-> { \"execute\": \"x\" }\n<- { \"return\": {} }\n```"
        );
        let out = md(".. code-block:: json\n\n   { \"a\": 1 }");
        assert_eq!(out, "```text\n{ \"a\": 1 }\n```");
    }

    #[test]
    fn admonitions_get_a_lead_in() {
        assert_eq!(
            md(".. note:: If ``-no-shutdown`` has been\n   specified, qemu will not exit."),
            "**Note:** If `-no-shutdown` has been\nspecified, qemu will not exit."
        );
        assert_eq!(
            md(".. caution:: Errors were not reliably returned until 1.1."),
            "**Caution:** Errors were not reliably returned until 1.1."
        );
        let out = md(".. admonition:: Notes\n\n    1. The first,\n       long note.\n\n    2. All boolean arguments default to false.");
        assert_eq!(
            out,
            "**Notes:**\n\n1. The first,\n   long note.\n2. All boolean arguments default to false."
        );
        assert_eq!(md(".. todo:: Fix this.\n\nKept."), "Kept.");
        let out = md(".. note::\n\n   Literal::\n\n       code");
        assert_eq!(out, "**Note:** Literal:\n\n```text\ncode\n```");
    }

    #[test]
    fn lists() {
        assert_eq!(
            md("- nothing on success\n- If @device is not a valid block device,\n  DeviceNotFound"),
            "- nothing on success\n- If `device` is not a valid block device,\n  DeviceNotFound"
        );
        assert_eq!(md("#. one\n#. two"), "1. one\n1. two");
        let out = md(
            "- item::\n\n      code\n\n  more\n\n  - nested\n    item\n\n    - deeper\n      still",
        );
        assert_eq!(
            out,
            "- item:\n\n  ```text\n  code\n  ```\n\n  more\n\n  - nested\n  item\n\n  - deeper\n  still"
        );
        let out = md("10. ten\n    continued\n\n    second paragraph");
        assert_eq!(out, "10. ten\ncontinued\n\nsecond paragraph");
    }

    #[test]
    fn tables_are_fenced() {
        let out = md(".. table:: Valid parameters combination table\n   :widths: auto\n\n   =====  =====\n   a      b\n   =====  =====\n   x      y\n   =====  =====");
        assert_eq!(
            out,
            "**Valid parameters combination table**\n\n```text\n=====  =====\na      b\n=====  =====\nx      y\n=====  =====\n```"
        );
        let out = md("text\n\n+---+---+\n| a | b |\n+---+---+");
        assert_eq!(out, "text\n\n```text\n+---+---+\n| a | b |\n+---+---+\n```");
    }

    #[test]
    fn fence_content_cannot_close_the_fence() {
        let out = md("::\n\n  ```\n  x");
        assert_eq!(out, "```text\n    ```\nx\n```");
    }

    // ----- documentation blocks -------------------------------------------

    #[test]
    fn item_and_member_docs() {
        let src = block(
            &[
                "@Foo:",
                "",
                "A struct with @a.",
                "",
                "@a: the a member, which is",
                "    documented at length",
                "",
                "@b: the b member",
                "",
                "Features:",
                "",
                "@deprecated: Use @a instead.",
                "",
                "@unstable: Experimental,",
                "    may change.",
                "",
                "Returns: - nothing on success",
                "         - an error otherwise",
                "",
                "Errors:",
                "    - If @a is bad, GenericError",
                "",
                "Since: 6.0",
                "",
                "TODO: drop this",
                "",
                ".. note:: A note.",
                "",
                ".. qmp-example::",
                "",
                "    -> { \"execute\": \"foo\" }",
                "    <- { \"return\": {} }",
            ],
            "{ 'command': 'foo-cmd', 'data': { 'a': 'int', 'b': 'str' }, 'features': [ 'deprecated', 'unstable' ] }",
        )
        .replace("@Foo:", "@foo-cmd:");
        let (schema, _file) = load_src(&src);
        let doc = doc_for(&schema, "foo-cmd");
        let item = item_doc(&schema, doc).unwrap();
        check_markdown(&item).unwrap();
        assert_eq!(
            item,
            "A struct with `a`.\n\n\
             **Features:**\n\n\
             * `deprecated`: Use `a` instead.\n\
             * `unstable`: Experimental,\n  may change.\n\n\
             **Returns:**\n\n\
             - nothing on success\n\
             - an error otherwise\n\n\
             **Errors:**\n\n\
             - If `a` is bad, GenericError\n\n\
             *Since:* 6.0\n\n\
             **Note:** A note.\n\n\
             **Example:**\n\n\
             ```text\n-> { \"execute\": \"foo\" }\n<- { \"return\": {} }\n```"
        );
        assert_eq!(
            member_doc(&schema, doc, "a").unwrap(),
            "the a member, which is\ndocumented at length"
        );
        assert_eq!(member_doc(&schema, doc, "b").unwrap(), "the b member");
        assert_eq!(member_doc(&schema, doc, "c"), None);
        assert_eq!(member_doc(&schema, doc, "deprecated"), None);
        assert_eq!(
            feature_doc(&schema, doc, "unstable").unwrap(),
            "Experimental,\nmay change."
        );
    }

    #[test]
    fn legacy_sections() {
        let src = block(
            &[
                "@Bar:",
                "",
                "An enum.",
                "",
                "@one: first",
                "",
                "Notes: Errors were not reliably",
                "       returned until 1.1",
                "",
                "Example:",
                "",
                "    -> { \"execute\": \"bar\",",
                "         \"arguments\": { \"x\": 1 } }",
                "    <- { \"return\": {} }",
                "",
                "Since: 1.0",
            ],
            "{ 'enum': 'Bar', 'data': [ 'one' ] }",
        );
        let (schema, _file) = load_src(&src);
        let doc = doc_for(&schema, "Bar");
        assert!(!is_raw(doc));
        let item = item_doc(&schema, doc).unwrap();
        check_markdown(&item).unwrap();
        assert_eq!(
            item,
            "An enum.\n\n\
             **Notes:** Errors were not reliably\nreturned until 1.1\n\n\
             **Example:**\n\n\
             ```text\n-> { \"execute\": \"bar\",\n     \"arguments\": { \"x\": 1 } }\n<- { \"return\": {} }\n```\n\n\
             *Since:* 1.0"
        );
        assert_eq!(member_doc(&schema, doc, "one").unwrap(), "first");
    }

    #[test]
    fn raw_blocks_are_cut_into_sections() {
        // An unindented example after `Example:` makes today's parser
        // reject the block; legacy mode keeps it as raw text.
        let src = block(
            &[
                "@baz:",
                "",
                "Resize a block image.",
                "",
                "@device: the name of the device",
                "         to resize",
                "",
                "@size: new image size in bytes",
                "",
                "Returns: - nothing on success",
                "         - If @device is not a valid block device, DeviceNotFound",
                "",
                "Since: 0.14",
                "",
                "Example:",
                "",
                "-> { \"execute\": \"baz\",",
                "     \"arguments\": { \"device\": \"scratch\", \"size\": 1073741824 } }",
                "<- { \"return\": {} }",
            ],
            "{ 'command': 'baz', 'data': { 'device': 'str', 'size': 'int' } }",
        );
        let (schema, _file) = load_src(&src);
        let doc = doc_for(&schema, "baz");
        assert!(is_raw(doc), "expected a raw block: {doc:?}");
        let item = item_doc(&schema, doc).unwrap();
        check_markdown(&item).unwrap();
        assert_eq!(
            item,
            "Resize a block image.\n\n\
             **Returns:**\n\n\
             - nothing on success\n\
             - If `device` is not a valid block device, DeviceNotFound\n\n\
             *Since:* 0.14\n\n\
             **Example:**\n\n\
             ```text\n-> { \"execute\": \"baz\",\n     \"arguments\": { \"device\": \"scratch\", \"size\": 1073741824 } }\n<- { \"return\": {} }\n```"
        );
        assert_eq!(
            member_doc(&schema, doc, "device").unwrap(),
            "the name of the device\nto resize"
        );
        assert_eq!(
            member_doc(&schema, doc, "size").unwrap(),
            "new image size in bytes"
        );

        let ex = examples(&schema);
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].symbol, "baz");
        assert!(ex[0].location.ends_with(":18"), "{}", ex[0].location);
        assert_eq!(ex[0].messages.len(), 2);
        assert!(ex[0].messages[0].to_server);
        assert_eq!(
            ex[0].messages[0].text,
            "{ \"execute\": \"baz\",\n     \"arguments\": { \"device\": \"scratch\", \"size\": 1073741824 } }"
        );
        assert_eq!(
            ex[0].messages[0].json.as_ref().unwrap()["arguments"]["size"],
            1073741824
        );
        assert!(!ex[0].messages[1].to_server);
    }

    #[test]
    fn examples_keep_unparsable_messages() {
        let src = block(
            &[
                "@query-x:",
                "",
                "Query.",
                "",
                "Since: 9.1",
                "",
                ".. qmp-example::",
                "",
                "    -> { \"execute\": \"query-x\" }",
                "    <- { \"return\": [",
                "           { \"a\": 1 },",
                "           ...",
                "         ] }",
                "",
                ".. qmp-example::",
                "   :annotated:",
                "",
                "   Second::",
                "",
                "    <- { \"event\": \"X\",",
                "         \"data\": {} }",
            ],
            "{ 'command': 'query-x' }",
        );
        let (schema, _file) = load_src(&src);
        let ex = examples(&schema);
        assert_eq!(ex.len(), 2, "{ex:#?}");
        assert_eq!(ex[0].messages.len(), 2);
        assert!(ex[0].messages[0].json.is_ok());
        assert!(ex[0].messages[1].json.is_err());
        assert!(ex[0].messages[1].text.contains("..."));
        assert!(ex[0].location.ends_with(":10"), "{}", ex[0].location);
        assert_eq!(ex[1].messages.len(), 1);
        assert!(ex[1].messages[0].json.is_ok());
        assert!(ex[1].location.ends_with(":21"), "{}", ex[1].location);
    }

    // ----- real schemas -----------------------------------------------------

    /// Every markdown text of a schema: (what, text).
    fn all_texts(schema: &Schema) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for doc in &schema.docs {
            let sym = doc.symbol.clone().unwrap_or_else(|| "(free-form)".into());
            let loc = schema.source.location(doc.info);
            if let Some(t) = item_doc(schema, doc) {
                out.push((format!("{loc} {sym}"), t));
            }
            for p in parts_of(doc) {
                let Some(name) = &p.name else { continue };
                let t = match p.kind {
                    PartKind::Member => member_doc(schema, doc, name),
                    _ => feature_doc(schema, doc, name),
                };
                if let Some(t) = t {
                    out.push((format!("{loc} {sym}.{name}"), t));
                }
            }
        }
        out
    }

    fn schema_files(root: &Path, release: &str) -> Vec<PathBuf> {
        ["qapi", "", "qga"]
            .iter()
            .map(|d| root.join(release).join(d).join("qapi-schema.json"))
            .filter(|p| p.is_file())
            .collect()
    }

    #[test]
    fn sweep_released_schemas() {
        let Some(root) = shared() else { return };
        let mut failures = Vec::new();
        let releases = releases(&root);
        for release in &releases {
            let release = release.as_str();
            let files = schema_files(&root, release);
            assert!(!files.is_empty(), "no schema for {release}");
            for file in files {
                let schema = qapi_parser::load(&file, &qapi_parser::Options { legacy: true })
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut texts = 0;
                for (what, text) in all_texts(&schema) {
                    texts += 1;
                    if let Err(e) = check_markdown(&text) {
                        failures.push(format!("{what}: {e}"));
                    }
                }
                // No message is dropped: every arrow line of a
                // definition's documentation is a message.
                let ex = examples(&schema);
                let mut arrows = 0;
                for doc in schema.docs.iter().filter(|d| d.symbol.is_some()) {
                    for p in parts_of(doc) {
                        arrows += p
                            .lines
                            .iter()
                            .filter(|l| arrow(l.trim_start()).is_some())
                            .count();
                    }
                }
                let messages: usize = ex.iter().map(|e| e.messages.len()).sum();
                let ok = ex
                    .iter()
                    .flat_map(|e| &e.messages)
                    .filter(|m| m.json.is_ok())
                    .count();
                assert_eq!(arrows, messages, "{}", file.display());
                let raw = schema.docs.iter().filter(|d| is_raw(d)).count();
                eprintln!(
                    "{release} {}: {} docs ({raw} raw), {texts} texts, {} examples, \
                     {messages} messages, {ok} parse as JSON",
                    file.parent()
                        .unwrap()
                        .file_name()
                        .unwrap()
                        .to_string_lossy(),
                    schema.docs.len(),
                    ex.len(),
                );
                // The guest agent's schema has no QMP examples.
                assert!(
                    !ex.is_empty()
                        || !RELEASES.contains(&release)
                        || file.to_string_lossy().contains("/qga/")
                );
                assert!(ex.iter().all(|e| !e.messages.is_empty()));
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    /// For eyeballing: prints every text and every example that does not
    /// parse, of `QAPI_DOCS_RELEASE` (default 9.2.0-rc2).
    /// `cargo test -p qapi-codegen --lib docs::tests::print -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn print_docs() {
        let Some(root) = shared() else { return };
        let release = std::env::var("QAPI_DOCS_RELEASE").unwrap_or_else(|_| "9.2.0-rc2".into());
        for file in schema_files(&root, &release) {
            let schema = qapi_parser::load(&file, &qapi_parser::Options { legacy: true })
                .unwrap_or_else(|e| panic!("{e}"));
            for (what, text) in all_texts(&schema) {
                println!("==== {what}\n{text}");
            }
            for e in examples(&schema) {
                for m in &e.messages {
                    if let Err(err) = &m.json {
                        println!("#### {} {}: {err}\n{}", e.location, e.symbol, m.text);
                    }
                }
            }
        }
    }

    /// Rustdoc reads every text of every release's schemas (9.2.0-rc2's
    /// at least) without running a doctest, and without a warning.
    #[test]
    fn rustdoc_accepts_the_docs() {
        let Some(root) = shared() else { return };
        let attrs = |out: &mut String, text: &str, indent: &str| {
            for l in text.lines() {
                out.push_str(&format!("{indent}#[doc = {:?}]\n", format!(" {l}")));
            }
        };
        let mut src =
            String::from("//! QAPI documentation, as generated.\n#![allow(dead_code)]\n\n");
        let mut items = 0;
        let files: Vec<PathBuf> = releases(&root)
            .iter()
            .flat_map(|r| schema_files(&root, r))
            .collect();
        assert!(files
            .iter()
            .any(|f| f.ends_with("9.2.0-rc2/qapi/qapi-schema.json")));
        for (m, file) in files.iter().enumerate() {
            let schema = qapi_parser::load(file, &qapi_parser::Options { legacy: true })
                .unwrap_or_else(|e| panic!("{e}"));
            src.push_str(&format!(
                "#[doc = {:?}]\npub mod m{m} {{\n",
                format!(" {}", file.display())
            ));
            for (k, e) in schema.entities.iter().enumerate() {
                let Some(doc) = schema.doc_of(e) else {
                    continue;
                };
                if let Some(t) = item_doc(&schema, doc) {
                    attrs(&mut src, &t, "");
                }
                items += 1;
                src.push_str(&format!("pub struct E{k} {{\n"));
                for (f, p) in parts_of(doc).iter().enumerate() {
                    let Some(name) = &p.name else { continue };
                    let t = match p.kind {
                        PartKind::Member => member_doc(&schema, doc, name),
                        _ => feature_doc(&schema, doc, name),
                    };
                    if let Some(t) = t {
                        attrs(&mut src, &t, "    ");
                        src.push_str(&format!("    pub f{f}: (),\n"));
                    }
                }
                src.push_str("}\n\n");
            }
            src.push_str("}\n\n");
        }
        assert!(items > 500, "{items}");
        let dir = std::env::temp_dir().join(format!("qapi-docs-rustdoc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lib = dir.join("lib.rs");
        std::fs::write(&lib, &src).unwrap();
        let rustdoc = std::env::var("RUSTDOC").unwrap_or_else(|_| "rustdoc".into());

        let test = std::process::Command::new(&rustdoc)
            .args(["--test", "--edition", "2021", "--crate-name", "qapi_docs"])
            .arg(&lib)
            .output()
            .expect("rustdoc runs");
        let stdout = String::from_utf8_lossy(&test.stdout);
        assert!(
            test.status.success(),
            "rustdoc --test failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&test.stderr)
        );
        assert!(stdout.contains("running 0 tests"), "{stdout}");

        let doc = std::process::Command::new(&rustdoc)
            .args([
                "--edition",
                "2021",
                "--crate-name",
                "qapi_docs",
                "-D",
                "warnings",
                "-o",
            ])
            .arg(dir.join("doc"))
            .arg(&lib)
            .output()
            .expect("rustdoc runs");
        let stderr = String::from_utf8_lossy(&doc.stderr);
        assert!(
            doc.status.success() && stderr.trim().is_empty(),
            "rustdoc -D warnings:\n{stderr}"
        );
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!(
            "rustdoc: {} schemas, {items} documented entities, 0 doctests, no warnings",
            files.len()
        );
    }
}
