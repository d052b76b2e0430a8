//! Tokens, produced by the pest grammar in `qapi.pest`.
//!
//! One pest run turns a whole file into a flat token list (no recursion,
//! so no stack to overflow); `parser.rs` walks the list.

use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "qapi.pest"]
struct Grammar;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokKind {
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
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tok {
    pub kind: TokKind,
    pub start: u32,
    pub end: u32,
}

/// Splits `src` into tokens.  Never fails: anything unexpected becomes a
/// [`TokKind::Stray`] token.
pub(crate) fn tokenize(src: &str) -> Vec<Tok> {
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
