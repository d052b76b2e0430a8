//! The reference's name rules: `c_name` and the shape of QAPI names.

/// Words the reference protects with a `q_` prefix in C names.
const PROTECTED: &[&str] = &[
    // C89
    "auto",
    "break",
    "case",
    "char",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extern",
    "float",
    "for",
    "goto",
    "if",
    "int",
    "long",
    "register",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "switch",
    "typedef",
    "union",
    "unsigned",
    "void",
    "volatile",
    "while",
    // C99
    "inline",
    "restrict",
    "_Bool",
    "_Complex",
    "_Imaginary",
    // C11
    "_Alignas",
    "_Alignof",
    "_Atomic",
    "_Generic",
    "_Noreturn",
    "_Static_assert",
    "_Thread_local",
    // GCC
    "asm",
    "typeof",
    // C++
    "bool",
    "catch",
    "class",
    "const_cast",
    "delete",
    "dynamic_cast",
    "explicit",
    "false",
    "friend",
    "mutable",
    "namespace",
    "new",
    "operator",
    "private",
    "protected",
    "public",
    "reinterpret_cast",
    "static_cast",
    "template",
    "this",
    "throw",
    "true",
    "try",
    "typeid",
    "typename",
    "using",
    "virtual",
    "wchar_t",
    "and",
    "and_eq",
    "bitand",
    "bitor",
    "compl",
    "not",
    "not_eq",
    "or",
    "or_eq",
    "xor",
    "xor_eq",
    // namespace pollution
    "unix",
    "errno",
    "mips",
    "sparc",
    "i386",
    "linux",
];

/// The C name the reference derives from a QAPI name: every character
/// other than ASCII letters, digits and `_` becomes `_`; with `protect`,
/// C keywords and names starting with a digit get a `q_` prefix.
pub fn c_name(name: &str, protect: bool) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if protect
        && (PROTECTED.contains(&mapped.as_str())
            || mapped.chars().next().is_some_and(|c| c.is_numeric()))
    {
        return format!("q_{mapped}");
    }
    mapped
}

fn is_stem(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The stem of a valid QAPI name (the part after the optional
/// `__RFQDN_` and `x-` prefixes), by the reference's pattern
/// `(__[a-z0-9.-]+_)?(x-)?([a-z][a-z0-9_-]*)$`, case-insensitively.
pub(crate) fn name_stem(name: &str) -> Option<&str> {
    let mut rest = name;
    if let Some(after) = name.strip_prefix("__") {
        let n = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
            .unwrap_or(after.len());
        if n > 0 && after[n..].starts_with('_') {
            rest = &after[n + 1..];
        }
    }
    if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case("x-") && is_stem(&rest[2..]) {
        return Some(&rest[2..]);
    }
    if is_stem(rest) {
        return Some(rest);
    }
    None
}

/// `[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$`
pub(crate) fn is_camel(stem: &str) -> bool {
    stem.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && stem.chars().all(|c| c.is_ascii_alphanumeric())
        && stem.chars().skip(1).any(|c| c.is_ascii_lowercase())
}
