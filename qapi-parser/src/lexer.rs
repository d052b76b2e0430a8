//! Tokens: the lexical level of the schema language.
//!
//! `qapi.pest` is the lexical grammar.  [`tokenize_pest`] runs it;
//! [`tokenize`] is a hand-written scanner for the same grammar that the
//! front end uses, about ten times faster (pest spends most of a large
//! schema's parse time on comment bytes).  A test runs both over the
//! conformance corpus, every QEMU release and fuzzed input and requires
//! identical token streams, so the grammar stays the specification.
//! Either way a whole file becomes one flat token list (no recursion, so
//! no stack to overflow), which `parser.rs` walks.

use pest::Parser as _;

use grammar::{Grammar, Rule};

mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "qapi.pest"]
    pub(super) struct Grammar;
}

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum TokKind {
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Colon,
    Comma,
    /// A quoted string, possibly malformed (see `parser.rs`).
    Str,
    True,
    False,
    /// `#` to the end of the line.
    Comment,
    /// A run of characters that is no token.
    Stray,
    Newline,
}

/// A token: its kind and byte range in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tok {
    /// What it is.
    pub kind: TokKind,
    /// Byte offset of its first byte.
    pub start: u32,
    /// Byte offset just past it.
    pub end: u32,
}

/// Splits `src` into tokens with the pest grammar.  Never fails:
/// anything unexpected becomes a [`TokKind::Stray`] token.
pub fn tokenize_pest(src: &str) -> Vec<Tok> {
    let pairs = match Grammar::parse(Rule::file, src) {
        Ok(pairs) => pairs,
        // The grammar accepts every input; should pest still refuse,
        // report the whole text as one stray run rather than panic.
        Err(_) => {
            return vec![Tok {
                kind: TokKind::Stray,
                start: 0,
                end: src.len() as u32,
            }]
        }
    };
    let mut toks = Vec::with_capacity(src.len() / 6);
    for pair in pairs {
        let span = pair.as_span();
        let kind = match pair.as_rule() {
            Rule::newline => TokKind::Newline,
            Rule::comment => TokKind::Comment,
            Rule::string => TokKind::Str,
            Rule::stray => TokKind::Stray,
            Rule::boolean => {
                if span.as_str() == "true" {
                    TokKind::True
                } else {
                    TokKind::False
                }
            }
            Rule::punct => match span.as_str() {
                "{" => TokKind::LBrace,
                "}" => TokKind::RBrace,
                "[" => TokKind::LBracket,
                "]" => TokKind::RBracket,
                ":" => TokKind::Colon,
                _ => TokKind::Comma,
            },
            _ => continue,
        };
        toks.push(Tok {
            kind,
            start: span.start() as u32,
            end: span.end() as u32,
        });
    }
    toks
}

/// Python's `str.isspace()` minus the line feed (see `space_char` in
/// the grammar).
fn is_space(c: char) -> bool {
    c != '\n' && (c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// The character starting at byte `i` (a char boundary).
fn char_at(src: &str, i: usize) -> char {
    src[i..].chars().next().unwrap_or('\0')
}

/// Splits `src` into tokens exactly as [`tokenize_pest`] does.
pub fn tokenize(src: &str) -> Vec<Tok> {
    let b = src.as_bytes();
    let n = b.len();
    let mut toks = Vec::with_capacity(n / 8);
    let mut i = 0;
    let mut push = |kind, start: usize, end: usize| {
        toks.push(Tok {
            kind,
            start: start as u32,
            end: end as u32,
        })
    };
    while i < n {
        let c = b[i];
        let start = i;
        let kind = match c {
            b'\n' => {
                i += 1;
                TokKind::Newline
            }
            b' ' | b'\t' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f => {
                i += 1;
                continue;
            }
            b'{' | b'}' | b'[' | b']' | b':' | b',' => {
                i += 1;
                match c {
                    b'{' => TokKind::LBrace,
                    b'}' => TokKind::RBrace,
                    b'[' => TokKind::LBracket,
                    b']' => TokKind::RBracket,
                    b':' => TokKind::Colon,
                    _ => TokKind::Comma,
                }
            }
            b'#' => {
                i = b[i..].iter().position(|&x| x == b'\n').map_or(n, |p| i + p);
                TokKind::Comment
            }
            b'\'' => {
                i += 1;
                while i < n {
                    match b[i] {
                        b'\'' => {
                            i += 1;
                            break;
                        }
                        b'\n' => break,
                        b'\\' if i + 1 < n && b[i + 1] != b'\n' => {
                            // The escaped character, however many bytes.
                            i += 1 + char_at(src, i + 1).len_utf8();
                        }
                        b'\\' => break,
                        _ => i += 1,
                    }
                }
                TokKind::Str
            }
            _ if b[i..].starts_with(b"true") => {
                i += 4;
                TokKind::True
            }
            _ if b[i..].starts_with(b"false") => {
                i += 5;
                TokKind::False
            }
            _ => {
                if c >= 0x80 && is_space(char_at(src, i)) {
                    i += char_at(src, i).len_utf8();
                    continue;
                }
                while i < n {
                    let ch = b[i];
                    if matches!(ch, b'{' | b'}' | b'[' | b']' | b':' | b',' | b'\'' | b'\n') {
                        break;
                    }
                    let chr = char_at(src, i);
                    if is_space(chr) {
                        break;
                    }
                    i += chr.len_utf8();
                }
                TokKind::Stray
            }
        };
        push(kind, start, i);
    }
    toks
}
