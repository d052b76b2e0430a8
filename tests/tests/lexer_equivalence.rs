//! The hand-written scanner the front end uses must produce exactly the
//! token stream of the pest grammar (`qapi-parser/src/qapi.pest`), which
//! is the specification of the lexical level.

use std::path::Path;

use proptest::prelude::*;
use qapi_parser::lexer::{tokenize, tokenize_pest};

/// The source as the front end hands it to the lexer.
fn normalized(src: &str) -> String {
    let mut s = src.replace("\r\n", "\n").replace('\r', "\n");
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

fn assert_same(src: &str, what: &str) {
    let src = normalized(src);
    let fast = tokenize(&src);
    let spec = tokenize_pest(&src);
    if fast != spec {
        let i = fast
            .iter()
            .zip(&spec)
            .position(|(a, b)| a != b)
            .unwrap_or(fast.len().min(spec.len()));
        panic!(
            "{what}: token {i} differs: scanner {:?}, grammar {:?}",
            fast.get(i),
            spec.get(i)
        );
    }
}

fn json_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

#[test]
fn scanner_matches_grammar_on_every_corpus_and_release_file() {
    let Some(shared) = qapi_tests::require_shared(".") else {
        return;
    };
    let mut files = Vec::new();
    json_files(&shared.join("qapi-conformance/cases"), &mut files);
    json_files(&shared.join("qapi-schemas"), &mut files);
    assert!(
        files.len() > 1000,
        "expected the corpus and 41 releases, found {} files",
        files.len()
    );
    for f in &files {
        let bytes = std::fs::read(f).expect("readable");
        if let Ok(src) = String::from_utf8(bytes) {
            assert_same(&src, &f.display().to_string());
        }
    }
}

#[test]
fn scanner_matches_grammar_on_tricky_text() {
    for src in [
        "",
        "'",
        "'\\",
        "'\\\n'",
        "'a\\'b'",
        "'\\é'",
        "trueish falsey tru",
        "x#y 'z",
        "\u{a0}\u{2028}\u{1c} a",
        "é'ü'",
        "{'a':[true,false]}",
        "# c\n## d\n",
        "\t\x0b\x0c'\t'",
        "'unterminated\n'ok'",
    ] {
        assert_same(src, &format!("{src:?}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn scanner_matches_grammar_on_random_text(s in "[{}\\[\\]:,'\\\\#\n \t\u{a0}\u{1c}a-z0-9é\u{2028}truefals]{0,80}") {
        assert_same(&s, &format!("{s:?}"));
    }
}
