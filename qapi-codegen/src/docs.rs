//! QAPI documentation comments to rustdoc (Markdown).
//!
//! (Being written: see the module's owner.)

use qapi_parser::doc::Doc;
use qapi_parser::ir::Schema;

/// Markdown for the item a documentation block describes: its body, then
/// its tagged sections (Returns, Errors, Since, features, notes), with
/// examples fenced as `text` so rustdoc never compiles them.
pub fn item_doc(_schema: &Schema, _doc: &Doc) -> Option<String> {
    None
}

/// Markdown for the member, branch, enum value or feature `name` that
/// `doc` describes with an `@name:` section.
pub fn member_doc(_schema: &Schema, _doc: &Doc, _name: &str) -> Option<String> {
    None
}
