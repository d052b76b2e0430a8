//! Formatting generated tokens: prettyplease, item by item, on every core.
//!
//! Parsing the tokens back into a syntax tree is most of the cost of
//! generation (prettyplease needs one), so the file is cut at item
//! boundaries, each item is printed to text (proc-macro2's token streams
//! cannot cross threads), and the items are parsed and formatted on as
//! many threads as the machine has cores, then joined in order. Items of
//! the `commands`, `events` and `introspection` modules are formatted
//! one by one too, and indented into their module.

use std::num::NonZeroUsize;

use proc_macro2::{Delimiter, TokenStream, TokenTree};

use super::GenerateError;

/// A piece of the output: a top-level item, or a module whose items are
/// pieces themselves.
enum Piece {
    Item(String),
    Module { header: String, items: Vec<Piece> },
}

/// Formats a whole generated file.
pub(crate) fn format_file(tokens: TokenStream) -> Result<String, GenerateError> {
    let pieces = split(tokens);
    let mut texts = Vec::new();
    collect(&pieces, &mut texts);
    let formatted = format_all(texts)?;
    let mut out = String::with_capacity(formatted.iter().map(String::len).sum::<usize>() + 1024);
    let mut next = formatted.into_iter();
    assemble(&pieces, &mut next, 0, &mut out)?;
    Ok(out)
}

/// Cuts a token stream into items: an item ends with a top-level `;` or
/// a top-level brace group (plus a `;` right after it). `mod NAME { ... }`
/// items are cut inside too.
fn split(tokens: TokenStream) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut current: Vec<TokenTree> = Vec::new();
    let mut iter = tokens.into_iter().peekable();
    while let Some(tt) = iter.next() {
        let ends = match &tt {
            TokenTree::Punct(p) => p.as_char() == ';',
            TokenTree::Group(g) => g.delimiter() == Delimiter::Brace,
            _ => false,
        };
        current.push(tt);
        if !ends {
            continue;
        }
        if let Some(TokenTree::Punct(p)) = iter.peek() {
            if p.as_char() == ';' {
                if let Some(semi) = iter.next() {
                    current.push(semi);
                }
            }
        }
        pieces.push(piece(std::mem::take(&mut current)));
    }
    if !current.is_empty() {
        pieces.push(piece(current));
    }
    pieces
}

/// A module item becomes a header (its attributes and `pub mod NAME {}`)
/// and its items; anything else is printed as is.
fn piece(tokens: Vec<TokenTree>) -> Piece {
    let is_mod = tokens.windows(3).any(|w| {
        matches!(&w[0], TokenTree::Ident(i) if i == "mod")
            && matches!(&w[1], TokenTree::Ident(_))
            && matches!(&w[2], TokenTree::Group(g) if g.delimiter() == Delimiter::Brace)
    });
    if let (true, Some(TokenTree::Group(body))) = (is_mod, tokens.last()) {
        let inner = split(body.stream());
        let mut header: TokenStream = tokens[..tokens.len() - 1].iter().cloned().collect();
        header.extend(std::iter::once(TokenTree::Group(proc_macro2::Group::new(
            Delimiter::Brace,
            TokenStream::new(),
        ))));
        return Piece::Module {
            header: header.to_string(),
            items: inner,
        };
    }
    Piece::Item(tokens.into_iter().collect::<TokenStream>().to_string())
}

fn collect<'p>(pieces: &'p [Piece], out: &mut Vec<&'p str>) {
    for p in pieces {
        match p {
            Piece::Item(s) => out.push(s),
            Piece::Module { header, items } => {
                out.push(header);
                collect(items, out);
            }
        }
    }
}

/// Parses and prints every text, in parallel, keeping the order.
fn format_all(texts: Vec<&str>) -> Result<Vec<String>, GenerateError> {
    let threads = std::thread::available_parallelism()
        .map(NonZeroUsize::get)
        .unwrap_or(1)
        .clamp(1, 16);
    let total: usize = texts.iter().map(|t| t.len()).sum();
    let share = total / threads + 1;
    // Contiguous runs of about equal size, one per thread.
    let mut runs: Vec<&[&str]> = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, t) in texts.iter().enumerate() {
        size += t.len();
        if size >= share {
            runs.push(&texts[start..=i]);
            start = i + 1;
            size = 0;
        }
    }
    if start < texts.len() {
        runs.push(&texts[start..]);
    }
    let results: Vec<Result<Vec<String>, GenerateError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|run| scope.spawn(move || run.iter().map(|t| format_one(t)).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(GenerateError::Unparsable(
                        "formatter thread panicked".into(),
                    ))
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(texts.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

fn format_one(text: &str) -> Result<String, GenerateError> {
    let file = syn::parse_file(text).map_err(|e| GenerateError::Unparsable(e.to_string()))?;
    Ok(prettyplease::unparse(&file))
}

fn assemble(
    pieces: &[Piece],
    formatted: &mut impl Iterator<Item = String>,
    depth: usize,
    out: &mut String,
) -> Result<(), GenerateError> {
    let missing = || GenerateError::Unparsable("formatter lost an item".into());
    for p in pieces {
        match p {
            Piece::Item(_) => push_indented(out, &formatted.next().ok_or_else(missing)?, depth),
            Piece::Module { items, .. } => {
                let header = formatted.next().ok_or_else(missing)?;
                let open = header
                    .trim_end()
                    .strip_suffix("{}")
                    .ok_or_else(missing)?
                    .to_owned()
                    + "{\n";
                push_indented(out, &open, depth);
                assemble(items, formatted, depth + 1, out)?;
                push_indented(out, "}\n", depth);
            }
        }
    }
    Ok(())
}

fn push_indented(out: &mut String, text: &str, depth: usize) {
    for line in text.lines() {
        if !line.is_empty() {
            for _ in 0..depth {
                out.push_str("    ");
            }
        }
        out.push_str(line);
        out.push('\n');
    }
}
