//! QEMU's `KEY=VALUE,...` command-line syntax (`util/keyval.c`), parsed
//! into the tree that [`Input::keyval`] reads into generated types.
//!
//! # Syntax
//!
//! ```text
//! key-vals     = [ key-val { ',' key-val } [ ',' ] ]
//! key-val      = key '=' val | help
//! key          = key-fragment { '.' key-fragment }
//! key-fragment = qapi-name | index
//! index        = / [0-9]+ /
//! val          = { / [^,]+ / | ',,' }
//! help         = 'help' | '?'
//! ```
//!
//! With an implied key (`type` for `-netdev`), the first parameter may be
//! a bare value, `/ [^=,]+ /` other than `help` or `?`: `stream,id=s0` is
//! `type=stream,id=s0`. A bare value cannot contain `,` or `=`.
//!
//! # Semantics
//!
//! The text denotes a JSON object whose leaves are all strings: each
//! `a.b.c=v` is a path from the root to a leaf. A fragment made of digits
//! (never the first) is a list index; every other fragment names an
//! object member. The indices of a list may come in any order but must
//! cover `0..n` without gaps (`Parameter 'list.0' missing`); an index is
//! read as a decimal number (`01` is `1`), capped at `i32::MAX`. A node
//! that is used both as a leaf and as an inner node, or both as a list and
//! as an object, is an error (`Parameters 'a.*' used inconsistently`).
//! When several parameters denote the same leaf, the last one wins; when
//! several list indices denote the same element (`list.1`, `list.01`), the
//! one that comes last in QEMU's `QDict` iteration order wins, as in QEMU
//! (that order is reproduced: `tdb_hash` modulo 512 buckets, newest first
//! within a bucket). A key fragment is 1 to 127 characters long and must
//! be a QAPI name (`[A-Za-z][A-Za-z0-9_-]*`, optionally after a downstream
//! `__RFQDN_` prefix) or a run of decimal digits.
//!
//! Scalars stay strings: [`Input::keyval`] converts them by their target
//! type (`on`/`off`, `yes`/`no`, `true`/`false` or `y`/`n` for booleans,
//! `qemu_strtou64` for integers, sizes with suffixes), with QEMU's texts
//! (`Parameter 'x' expects integer`, `Parameters 'x.*' are unexpected`).
//!
//! # How QEMU uses it
//!
//! QEMU reads an option through keyval with
//! `qobject_input_visitor_new_str(text, implied_key)`: text starting with
//! `{` is JSON read by the QMP input visitor, anything else is keyval read
//! by the keyval input visitor. [`read_str`] is that entry point.
//!
//! * `-compat` (QEMU 6.0+): `qobject_input_visitor_new_str(optarg, NULL)`
//!   into `CompatPolicy`, no implied key; see
//!   [`CompatPolicy::from_option`](crate::CompatPolicy::from_option).
//! * `-netdev` (QEMU 7.2+, `net/net.c`): `netdev_is_modern()` first parses
//!   the text with QemuOpts (implied key `type`); when it is JSON, or its
//!   type is `stream` or `dgram`, `netdev_parse_modern()` reads it with
//!   `qobject_input_visitor_new_str(optarg, "type")` into `Netdev`. Every
//!   other type (`user`, `tap`, `hubport`, `l2tpv3`, `socket`, ...) still
//!   goes through `net_client_parse()`: QemuOpts and the opts visitor,
//!   whose syntax differs for lists (`hostfwd=A,hostfwd=B` repeats a key,
//!   where keyval says `hostfwd.0.str=A,hostfwd.1.str=B`). This module is
//!   the keyval form only; QEMU's JSON form `-netdev '{"type": "user",
//!   ...}'` reaches every type, and so does [`read_str`] with `type` as
//!   implied key.
//!
//! # Differences from QEMU
//!
//! * The text ends at its first NUL character, as a C string would.
//! * Keys nested more than [`MAX_DEPTH`] levels deep are refused
//!   ([`KeyvalError::TooDeep`]); QEMU has no limit and recurses.
//! * An implied key that is not itself a valid key is a programming
//!   error QEMU asserts on; here it is reported as an invalid parameter.
//! * The objects of the tree keep their members in the order they first
//!   appear in the text (QEMU's `QDict` order is a hash order).
//! * [`read_str`] parses JSON with `serde_json`, so its syntax error texts
//!   (and its refusal of QEMU's single-quoted strings) are not QEMU's.

use serde_json::{Map, Value};

use crate::input::{Input, InputError, Visit};

/// The longest key fragment QEMU accepts (its buffer is 128 bytes).
pub const MAX_FRAGMENT_LEN: usize = 127;

/// The deepest key this parser accepts, in fragments (`a.b.c` is 3).
/// QEMU has no such limit; this one keeps recursion bounded on hostile
/// input.
pub const MAX_DEPTH: usize = 1024;

/// Why a keyval text is refused; `Display` is QEMU's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyvalError {
    /// A key with an empty or invalid fragment (`=v`, `a..b=v`, `7up=v`,
    /// `key[0]=v`); holds the whole key.
    #[error("Invalid parameter '{0}'")]
    InvalidParameter(String),
    /// A key of a single fragment longer than 127 characters.
    #[error("Parameter '{0}' is too long")]
    TooLong(String),
    /// A fragment of a dotted key longer than 127 characters; holds the
    /// fragment.
    #[error("Parameter fragment '{0}' is too long")]
    FragmentTooLong(String),
    /// A parameter without `=` where no implied key applies (`a,b=1`).
    #[error("Expected '=' after parameter '{0}'")]
    ExpectedEquals(String),
    /// A node used both as a leaf and as an inner node, or both as a list
    /// and as an object; holds the node's key (`a.b` for `a.b.*`).
    #[error("Parameters '{0}.*' used inconsistently")]
    Inconsistent(String),
    /// A gap in a list's indices; holds the missing element's key
    /// (`list.0`).
    #[error("Parameter '{0}' missing")]
    MissingIndex(String),
    /// [`merge`] of a member that is a different kind of node on each
    /// side; holds the member's key.
    #[error("Parameter '{0}' used inconsistently")]
    MergeConflict(String),
    /// `help` or `?` given where the caller offers no help
    /// ([`parse`], as QEMU's `keyval_parse()` without `p_help`).
    #[error("Help is not available for this option")]
    HelpNotAvailable,
    /// A key deeper than [`MAX_DEPTH`] fragments (not in QEMU); holds the
    /// key up to the fragment that goes too deep.
    #[error("Parameter '{0}' is nested too deeply")]
    TooDeep(String),
}

/// Why [`read`] or [`read_str`] failed; `Display` is QEMU's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The text is not valid keyval.
    #[error(transparent)]
    Keyval(#[from] KeyvalError),
    /// The text does not fit the type.
    #[error(transparent)]
    Input(#[from] InputError),
    /// JSON text ([`read_str`]) that does not parse; the text is
    /// `serde_json`'s, not QEMU's.
    #[error("{0}")]
    Json(String),
}

/// The result of [`parse_with_help`].
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The parsed tree: an object whose leaves are strings.
    pub value: Value,
    /// Whether `help` or `?` was among the parameters (it is not in
    /// `value`).
    pub help: bool,
}

/// Parses `params` as QEMU's `keyval_parse(params, implied_key, NULL)`:
/// a `help` or `?` parameter is an error.
///
/// The result is always a JSON object whose leaves are strings.
pub fn parse(params: &str, implied_key: Option<&str>) -> Result<Value, KeyvalError> {
    parse_impl(params, implied_key, false).map(|parsed| parsed.value)
}

/// Parses `params` as QEMU's `keyval_parse(params, implied_key, &help)`:
/// `help` or `?` (a parameter of its own, without `=`) is left out of the
/// tree and reported in [`Parsed::help`], and the other parameters are
/// parsed as usual so that the help can depend on them.
pub fn parse_with_help(params: &str, implied_key: Option<&str>) -> Result<Parsed, KeyvalError> {
    parse_impl(params, implied_key, true)
}

/// Merges `merged` into `dest` as QEMU's `keyval_merge()`: members of
/// `merged` replace strings, are merged into objects and appended to
/// lists; a member that is a different kind of node on each side is an
/// error, and what was merged before it stays merged.
pub fn merge(
    dest: &mut Map<String, Value>,
    merged: &Map<String, Value>,
) -> Result<(), KeyvalError> {
    merge_into(dest, merged, &mut String::new())
}

/// Parses `params` (see [`parse`]) and reads a `T` from it with
/// [`Input::keyval`].
pub fn read<T: Visit>(params: &str, implied_key: Option<&str>) -> Result<T, ReadError> {
    let value = parse(params, implied_key)?;
    Ok(Input::keyval().read(value)?)
}

/// Reads a `T` from an option's text as QEMU's
/// `qobject_input_visitor_new_str()`: text starting with `{` is JSON,
/// read with [`Input::new`]; any other is keyval, read as [`read`] does.
pub fn read_str<T: Visit>(text: &str, implied_key: Option<&str>) -> Result<T, ReadError> {
    if text.starts_with('{') {
        let value: Value =
            serde_json::from_str(text).map_err(|e| ReadError::Json(e.to_string()))?;
        return Ok(Input::new().read(value)?);
    }
    read(text, implied_key)
}

fn parse_impl(
    params: &str,
    implied_key: Option<&str>,
    help_allowed: bool,
) -> Result<Parsed, KeyvalError> {
    let params = c_string(params);
    let mut implied_key = implied_key.map(c_string);
    let mut root = Map::new();
    let mut help = false;
    let mut s = 0;
    while s < params.len() {
        s += parse_one(&mut root, &params[s..], implied_key, &mut help)?;
        implied_key = None;
    }
    if help && !help_allowed {
        return Err(KeyvalError::HelpNotAvailable);
    }
    let value = listify(root)?;
    Ok(Parsed { value, help })
}

/// The text up to its first NUL, as C sees it.
fn c_string(s: &str) -> &str {
    match s.find('\0') {
        Some(end) => &s[..end],
        None => s,
    }
}

/// `starts_with_help_option()`: the length of a leading `?` or `help`.
fn help_option_len(s: &str) -> usize {
    if s.starts_with('?') {
        1
    } else if s.starts_with("help") {
        4
    } else {
        0
    }
}

/// `parse_qapi_name(s, false)`: the length of the QAPI name `s` starts
/// with, if any.
fn qapi_name_len(s: &[u8]) -> Option<usize> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut p = 0;
    if at(0) == b'_' {
        // A downstream extension prefix, __RFQDN_.
        if at(1) != b'_' {
            return None;
        }
        p = 2;
        while at(p).is_ascii_alphanumeric() || at(p) == b'-' || at(p) == b'.' {
            p += 1;
        }
        if at(p) != b'_' {
            return None;
        }
        p += 1;
    }
    if !at(p).is_ascii_alphabetic() {
        return None;
    }
    p += 1;
    while at(p).is_ascii_alphanumeric() || at(p) == b'-' || at(p) == b'_' {
        p += 1;
    }
    Some(p)
}

/// `key_to_index()` for a fragment known to be all digits: its value,
/// capped at `i32::MAX`.
fn index_value(digits: &str) -> usize {
    const CAP: usize = i32::MAX as usize;
    digits.bytes().fold(0usize, |v, d| {
        v.saturating_mul(10)
            .saturating_add(usize::from(d - b'0'))
            .min(CAP)
    })
}

/// Whether a stored fragment is a list index: fragments are either QAPI
/// names or runs of digits, and only the latter start with a digit.
fn is_index(fragment: &str) -> bool {
    fragment.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

/// Parses one parameter at the start of `params` into `root`, and returns
/// how many bytes it took (separator included).
fn parse_one(
    root: &mut Map<String, Value>,
    params: &str,
    implied_key: Option<&str>,
    help: &mut bool,
) -> Result<usize, KeyvalError> {
    let bytes = params.as_bytes();
    let len = bytes
        .iter()
        .position(|&c| c == b'=' || c == b',')
        .unwrap_or(bytes.len());
    let mut key = params;
    let mut key_end = len;
    let mut implied_value_end = None;
    if len > 0 && bytes.get(len) != Some(&b'=') {
        if help_option_len(params) == len {
            *help = true;
            return Ok(if bytes.get(len) == Some(&b',') {
                len + 1
            } else {
                len
            });
        }
        if let Some(implied) = implied_key {
            key = implied;
            key_end = implied.len();
            implied_value_end = Some(len);
        }
    }
    let key_bytes = key.as_bytes();

    // Walk the key's fragments; `cur` is the object the current fragment
    // lives in, created on demand when the next fragment is reached.
    let mut cur = root;
    let mut key_in_cur: &str = "";
    let mut depth = 0;
    let mut s = 0;
    loop {
        let rest = &key_bytes[s..];
        let frag_len = if s != 0 && rest.first().is_some_and(u8::is_ascii_digit) {
            rest.iter().take_while(|c| c.is_ascii_digit()).count()
        } else {
            qapi_name_len(rest).unwrap_or(0)
        };
        if frag_len == 0 || (s + frag_len < key_end && key_bytes[s + frag_len] != b'.') {
            return Err(KeyvalError::InvalidParameter(key[..key_end].to_owned()));
        }
        if frag_len > MAX_FRAGMENT_LEN {
            let fragment = key[s..s + frag_len].to_owned();
            return Err(if s != 0 || s + frag_len != key_end {
                KeyvalError::FragmentTooLong(fragment)
            } else {
                KeyvalError::TooLong(fragment)
            });
        }
        depth += 1;
        if depth > MAX_DEPTH {
            return Err(KeyvalError::TooDeep(key[..s + frag_len].to_owned()));
        }
        if s != 0 {
            cur = put_object(cur, key_in_cur, &key[..s - 1])?;
        }
        key_in_cur = &key[s..s + frag_len];
        s += frag_len;
        if key_bytes.get(s) != Some(&b'.') {
            break;
        }
        s += 1;
    }

    let (value, next) = match implied_value_end {
        Some(end) => {
            let next = if bytes.get(end) == Some(&b',') {
                end + 1
            } else {
                end
            };
            (params[..end].to_owned(), next)
        }
        None => {
            if key_bytes.get(s) != Some(&b'=') {
                return Err(KeyvalError::ExpectedEquals(key[..s].to_owned()));
            }
            let start = s + 1;
            let (value, taken) = unescape_value(&params[start..]);
            (value, start + taken)
        }
    };
    match cur.get_mut(key_in_cur) {
        Some(Value::String(old)) => *old = value,
        Some(_) => return Err(KeyvalError::Inconsistent(key[..key_end].to_owned())),
        None => {
            cur.insert(key_in_cur.to_owned(), Value::String(value));
        }
    }
    Ok(next)
}

/// `keyval_parse_put()` for an inner node: makes sure `cur[name]` is an
/// object and returns it; `key` names the node in the error.
fn put_object<'a>(
    cur: &'a mut Map<String, Value>,
    name: &str,
    key: &str,
) -> Result<&'a mut Map<String, Value>, KeyvalError> {
    match cur.entry(name).or_insert_with(|| Value::Object(Map::new())) {
        Value::Object(object) => Ok(object),
        _ => Err(KeyvalError::Inconsistent(key.to_owned())),
    }
}

/// A value up to the next single `,` (or the end), with `,,` standing for
/// `,`; returns it and the bytes taken, the separating `,` included.
fn unescape_value(text: &str) -> (String, usize) {
    let mut value = String::new();
    let mut i = 0;
    loop {
        match text[i..].find(',') {
            None => {
                value.push_str(&text[i..]);
                return (value, text.len());
            }
            Some(comma) => {
                value.push_str(&text[i..i + comma]);
                i += comma + 1;
                if text[i..].starts_with(',') {
                    value.push(',');
                    i += 1;
                } else {
                    return (value, i);
                }
            }
        }
    }
}

/// QEMU's `tdb_hash()`, which places `QDict` keys in buckets.
fn tdb_hash(key: &str) -> u32 {
    let mut value = 0x238F_13AFu32.wrapping_mul(key.len() as u32);
    for (i, c) in key.bytes().enumerate() {
        value = value.wrapping_add(u32::from(c) << ((i as u32).wrapping_mul(5) % 24));
    }
    1_103_515_243u32.wrapping_mul(value).wrapping_add(12345)
}

/// The order in which QEMU's `qdict_first()`/`qdict_next()` visit keys
/// inserted in the given order: by bucket (of 512), newest first within
/// a bucket.
fn qdict_order<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<usize> {
    let mut order: Vec<(u32, usize)> = keys
        .enumerate()
        .map(|(i, k)| (tdb_hash(k) % 512, i))
        .collect();
    order.sort_by_key(|&(bucket, i)| (bucket, std::cmp::Reverse(i)));
    order.into_iter().map(|(_, i)| i).collect()
}

/// An object being listified: its members in insertion order, the order
/// QEMU visits them in, and how far that visit has come.
struct Pending {
    entries: Vec<(String, Value)>,
    order: Vec<usize>,
    next: usize,
    has_index: bool,
    has_member: bool,
    /// The length of the key prefix of this object's parent.
    parent_prefix: usize,
}

impl Pending {
    fn new(object: Map<String, Value>, parent_prefix: usize) -> Self {
        let entries: Vec<(String, Value)> = object.into_iter().collect();
        let order = qdict_order(entries.iter().map(|(k, _)| k.as_str()));
        Pending {
            entries,
            order,
            next: 0,
            has_index: false,
            has_member: false,
            parent_prefix,
        }
    }
}

/// `keyval_listify()`: turns the objects whose members are all indices
/// into lists, depth first, visiting members in QEMU's order, so that the
/// first error QEMU would find is the one reported. Iterative, so that
/// deep keys cost heap rather than stack.
fn listify(root: Map<String, Value>) -> Result<Value, KeyvalError> {
    // The key of the object on top of the stack, followed by `.`.
    let mut prefix = String::new();
    let mut stack = vec![Pending::new(root, 0)];
    loop {
        let Some(top) = stack.last_mut() else {
            unreachable!("the root is popped last");
        };
        if let Some(&i) = top.order.get(top.next) {
            top.next += 1;
            let (key, value) = &mut top.entries[i];
            if is_index(key) {
                top.has_index = true;
            } else {
                top.has_member = true;
            }
            if let Value::Object(child) = value {
                let child = std::mem::take(child);
                let parent_prefix = prefix.len();
                prefix.push_str(key);
                prefix.push('.');
                stack.push(Pending::new(child, parent_prefix));
            }
            continue;
        }
        let Some(done) = stack.pop() else {
            unreachable!("the stack is not empty");
        };
        let value = if done.has_index && done.has_member {
            return Err(KeyvalError::Inconsistent(
                prefix.trim_end_matches('.').to_owned(),
            ));
        } else if done.has_index {
            into_list(done.entries, &done.order, &prefix)?
        } else {
            Value::Object(done.entries.into_iter().collect())
        };
        prefix.truncate(done.parent_prefix);
        match stack.last_mut() {
            // The member just finished is the parent's last visited one.
            Some(parent) => {
                let i = parent.order[parent.next - 1];
                parent.entries[i].1 = value;
            }
            None => return Ok(value),
        }
    }
}

/// The list part of `keyval_listify()`, for an object whose members are
/// all indices (kept out of the recursion to keep its frames small).
#[inline(never)]
fn into_list(
    entries: Vec<(String, Value)>,
    order: &[usize],
    prefix: &str,
) -> Result<Value, KeyvalError> {
    // An index at or beyond the number of members implies a gap below
    // it, which the scan finds (QEMU keeps one more slot, always empty, as
    // a sentinel; so does this).
    let n = entries.len();
    let indices: Vec<usize> = entries.iter().map(|(k, _)| index_value(k)).collect();
    let mut values: Vec<Option<Value>> = entries.into_iter().map(|(_, v)| Some(v)).collect();
    let mut slots: Vec<Option<Value>> = (0..=n).map(|_| None).collect();
    let mut max_index = 0;
    for &i in order {
        let index = indices[i];
        max_index = max_index.max(index);
        if index < n {
            // Distinct keys can name the same index (`1`, `01`): the last
            // one in QEMU's order wins.
            slots[index] = values[i].take();
        }
    }
    let mut list = Vec::with_capacity(n);
    for (i, slot) in slots
        .into_iter()
        .enumerate()
        .take(max_index.saturating_add(1))
    {
        match slot {
            Some(value) => list.push(value),
            None => return Err(KeyvalError::MissingIndex(format!("{prefix}{i}"))),
        }
    }
    Ok(Value::Array(list))
}

/// The kind of a node, for [`merge`].
fn kind(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// `keyval_do_merge()`; `prefix` is the key of `dest` followed by `.`.
///
/// As in QEMU, a conflict stops the merge of the object it is found in,
/// but the objects around it go on merging their other members. (A second
/// conflict makes QEMU abort; here the first one is reported.)
fn merge_into(
    dest: &mut Map<String, Value>,
    merged: &Map<String, Value>,
    prefix: &mut String,
) -> Result<(), KeyvalError> {
    let entries: Vec<(&String, &Value)> = merged.iter().collect();
    let mut first_error = None;
    for i in qdict_order(entries.iter().map(|(k, _)| k.as_str())) {
        let (key, value) = entries[i];
        match dest.get_mut(key.as_str()) {
            Some(old) if kind(old) != kind(value) => {
                return Err(first_error
                    .unwrap_or_else(|| KeyvalError::MergeConflict(format!("{prefix}{key}"))));
            }
            Some(Value::Object(old)) => {
                let Value::Object(new) = value else { continue };
                let saved = prefix.len();
                prefix.push_str(key);
                prefix.push('.');
                let done = merge_into(old, new, prefix);
                prefix.truncate(saved);
                if let Err(e) = done {
                    first_error.get_or_insert(e);
                }
            }
            Some(Value::Array(old)) => {
                if let Value::Array(new) = value {
                    old.extend(new.iter().cloned());
                }
            }
            Some(old) => *old = value.clone(),
            None => {
                dest.insert(key.clone(), value.clone());
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}
