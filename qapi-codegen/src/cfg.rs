//! `if` conditions to `#[cfg]`: the mapping from QAPI configuration
//! symbols (`CONFIG_VMNET`) to Rust configuration predicates
//! (`target_os = "macos"`), under the user's control.
//!
//! Each symbol is one of three things:
//!
//! * **mapped** to a cfg predicate written as Rust source, such as
//!   `feature = "af-xdp"`: the condition becomes `#[cfg(...)]`, with
//!   `all`/`any`/`not` kept as `all()`/`any()`/`not()`;
//! * **defined**: always true, the item is generated without a cfg;
//! * **undefined**: always false, the item is left out.
//!
//! A symbol the map does not name is **undefined**, as an undefined macro is
//! in QEMU's C: its items are left out. This default never produces
//! `unexpected_cfgs` warnings, because no unknown cfg name ever reaches the
//! generated code; use [`CfgMap::unmapped_defined`] to flip it. Conditions
//! are folded at generation time, so a condition that is statically true
//! or false leaves no attribute behind.

use std::collections::BTreeMap;
use std::fmt;

use proc_macro2::TokenStream;
use qapi_parser::ir::IfCond;
use quote::quote;

/// What a configuration symbol means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Symbol {
    /// Always true.
    Defined,
    /// Always false.
    Undefined,
    /// A cfg predicate, as Rust source (`feature = "af-xdp"`).
    Cfg(String),
}

/// The user's mapping from QAPI symbols to Rust cfg predicates.
#[derive(Debug, Clone, Default)]
pub struct CfgMap {
    symbols: BTreeMap<String, Symbol>,
    unmapped_defined: bool,
}

/// A condition after folding: always, never, or a predicate to test.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// Statically true: no attribute.
    Always,
    /// Statically false: the item is left out.
    Never,
    /// Decided when the generated code is compiled.
    Cfg(Predicate),
}

/// A cfg predicate tree whose leaves are user-given predicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Predicate {
    /// A mapped symbol's predicate, as Rust source.
    Leaf(String),
    /// `all(...)`
    All(Vec<Predicate>),
    /// `any(...)`
    Any(Vec<Predicate>),
    /// `not(...)`
    Not(Box<Predicate>),
}

/// A cfg predicate that is not valid Rust syntax.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cfg mapping for '{symbol}': '{predicate}' is not a cfg predicate")]
pub struct BadPredicate {
    /// The QAPI symbol.
    pub symbol: String,
    /// What the user gave.
    pub predicate: String,
}

impl CfgMap {
    /// An empty map: every symbol undefined.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `symbol` to a cfg predicate given as Rust source, such as
    /// `feature = "af-xdp"` or `target_os = "macos"`.
    pub fn map(&mut self, symbol: &str, predicate: &str) -> Result<&mut Self, BadPredicate> {
        let bad = || BadPredicate {
            symbol: symbol.to_owned(),
            predicate: predicate.to_owned(),
        };
        let tokens: TokenStream = predicate.parse().map_err(|_| bad())?;
        syn::parse2::<syn::Meta>(tokens).map_err(|_| bad())?;
        self.symbols
            .insert(symbol.to_owned(), Symbol::Cfg(predicate.to_owned()));
        Ok(self)
    }

    /// Makes `symbol` always true.
    pub fn define(&mut self, symbol: &str) -> &mut Self {
        self.symbols.insert(symbol.to_owned(), Symbol::Defined);
        self
    }

    /// Makes `symbol` always false (the default for unmapped symbols).
    pub fn undefine(&mut self, symbol: &str) -> &mut Self {
        self.symbols.insert(symbol.to_owned(), Symbol::Undefined);
        self
    }

    /// Whether symbols the map does not name count as defined (`true`) or
    /// undefined (`false`, the default).
    pub fn unmapped_defined(&mut self, defined: bool) -> &mut Self {
        self.unmapped_defined = defined;
        self
    }

    /// What `symbol` means under this map.
    pub fn symbol(&self, symbol: &str) -> Symbol {
        match self.symbols.get(symbol) {
            Some(s) => s.clone(),
            None if self.unmapped_defined => Symbol::Defined,
            None => Symbol::Undefined,
        }
    }

    /// Parses `SYMBOL`, `SYMBOL=PREDICATE`, `!SYMBOL` (command-line form):
    /// defined, mapped, undefined.
    pub fn add_spec(&mut self, spec: &str) -> Result<&mut Self, BadPredicate> {
        if let Some(sym) = spec.strip_prefix('!') {
            return Ok(self.undefine(sym.trim()));
        }
        match spec.split_once('=') {
            Some((sym, pred)) => self.map(sym.trim(), pred.trim()),
            None => Ok(self.define(spec.trim())),
        }
    }

    /// Folds a condition (`None`: unconditional).
    pub fn resolve(&self, cond: Option<&IfCond>) -> Resolved {
        match cond {
            None => Resolved::Always,
            Some(c) => self.fold(c),
        }
    }

    fn fold(&self, cond: &IfCond) -> Resolved {
        match cond {
            IfCond::Name(n) => match self.symbol(n) {
                Symbol::Defined => Resolved::Always,
                Symbol::Undefined => Resolved::Never,
                Symbol::Cfg(p) => Resolved::Cfg(Predicate::Leaf(p)),
            },
            IfCond::Not(c) => match self.fold(c) {
                Resolved::Always => Resolved::Never,
                Resolved::Never => Resolved::Always,
                Resolved::Cfg(p) => Resolved::Cfg(Predicate::Not(Box::new(p))),
            },
            IfCond::All(cs) => {
                let mut rest = Vec::new();
                for c in cs {
                    match self.fold(c) {
                        Resolved::Never => return Resolved::Never,
                        Resolved::Always => {}
                        Resolved::Cfg(p) => rest.push(p),
                    }
                }
                match rest.len() {
                    0 => Resolved::Always,
                    1 => Resolved::Cfg(rest.remove(0)),
                    _ => Resolved::Cfg(Predicate::All(rest)),
                }
            }
            IfCond::Any(cs) => {
                let mut rest = Vec::new();
                for c in cs {
                    match self.fold(c) {
                        Resolved::Always => return Resolved::Always,
                        Resolved::Never => {}
                        Resolved::Cfg(p) => rest.push(p),
                    }
                }
                match rest.len() {
                    0 => Resolved::Never,
                    1 => Resolved::Cfg(rest.remove(0)),
                    _ => Resolved::Cfg(Predicate::Any(rest)),
                }
            }
        }
    }

    /// Every distinct cfg predicate the map can produce, for
    /// `cargo::rustc-check-cfg` hints.
    pub fn predicates(&self) -> impl Iterator<Item = &str> {
        self.symbols.values().filter_map(|s| match s {
            Symbol::Cfg(p) => Some(p.as_str()),
            _ => None,
        })
    }
}

impl Resolved {
    /// Whether the item can exist at all.
    pub fn is_possible(&self) -> bool {
        !matches!(self, Resolved::Never)
    }

    /// The `#[cfg(...)]` attribute, or nothing.
    pub fn attr(&self) -> TokenStream {
        match self {
            Resolved::Cfg(p) => {
                let p = p.tokens();
                quote!(#[cfg(#p)])
            }
            _ => TokenStream::new(),
        }
    }

    /// Both conditions at once (an item inside a conditional item).
    pub fn and(&self, other: &Resolved) -> Resolved {
        match (self, other) {
            (Resolved::Never, _) | (_, Resolved::Never) => Resolved::Never,
            (Resolved::Always, x) | (x, Resolved::Always) => x.clone(),
            (Resolved::Cfg(a), Resolved::Cfg(b)) if a == b => Resolved::Cfg(a.clone()),
            (Resolved::Cfg(a), Resolved::Cfg(b)) => {
                Resolved::Cfg(Predicate::All(vec![a.clone(), b.clone()]))
            }
        }
    }
}

impl Predicate {
    /// The predicate as tokens, for `#[cfg(..)]` or `cfg!(..)`.
    pub fn tokens(&self) -> TokenStream {
        match self {
            // Validated in `CfgMap::map`.
            Predicate::Leaf(p) => p.parse().unwrap_or_default(),
            Predicate::All(v) => {
                let v = v.iter().map(Predicate::tokens);
                quote!(all(#(#v),*))
            }
            Predicate::Any(v) => {
                let v = v.iter().map(Predicate::tokens);
                quote!(any(#(#v),*))
            }
            Predicate::Not(p) => {
                let p = p.tokens();
                quote!(not(#p))
            }
        }
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.tokens())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> IfCond {
        IfCond::Name(n.into())
    }

    #[test]
    fn folds_statically_known_symbols() {
        let mut map = CfgMap::new();
        map.define("A").map("B", "feature = \"b\"").unwrap();
        let all = IfCond::All(vec![name("A"), name("B")]);
        assert_eq!(
            map.resolve(Some(&all)).attr().to_string(),
            "# [cfg (feature = \"b\")]"
        );
        let any = IfCond::Any(vec![name("UNKNOWN"), name("A")]);
        assert!(matches!(map.resolve(Some(&any)), Resolved::Always));
        let not = IfCond::Not(Box::new(name("UNKNOWN")));
        assert!(matches!(map.resolve(Some(&not)), Resolved::Always));
        assert!(matches!(
            map.resolve(Some(&name("UNKNOWN"))),
            Resolved::Never
        ));
        map.unmapped_defined(true);
        assert!(matches!(
            map.resolve(Some(&name("UNKNOWN"))),
            Resolved::Always
        ));
    }

    #[test]
    fn keeps_the_shape_of_mapped_conditions() {
        let mut map = CfgMap::new();
        map.map("X", "unix")
            .unwrap()
            .map("Y", "target_os = \"macos\"")
            .unwrap();
        let c = IfCond::Any(vec![name("X"), IfCond::Not(Box::new(name("Y")))]);
        assert_eq!(
            map.resolve(Some(&c)).attr().to_string(),
            "# [cfg (any (unix , not (target_os = \"macos\")))]"
        );
    }

    #[test]
    fn rejects_a_predicate_that_is_not_rust() {
        assert!(CfgMap::new().map("X", "feature = ").is_err());
        assert!(CfgMap::new().add_spec("X=feature = \"x\"").is_ok());
    }
}
