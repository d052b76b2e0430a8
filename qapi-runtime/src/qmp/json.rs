//! JSON as QEMU's QMP monitor reads and writes it.
//!
//! QMP is not read with a general JSON parser: QEMU feeds the bytes of a
//! connection through its own lexer (`qobject/json-lexer.c`), a streamer
//! that cuts the token stream into messages (`json-streamer.c`) and a
//! parser (`json-parser.c`). A client notices the differences: single-quoted
//! strings are accepted, duplicate keys are an error, invalid bytes give
//! `JSON parse error, stray '...'` and the lexer then skips to the next
//! structural character, a message ends as soon as its brackets balance
//! (so `{"execute":"a"}{"execute":"b"}` is two messages and no newline is
//! needed), a number or keyword at the top level waits for the byte after
//! it, and a message is limited in size, token count and nesting. This
//! module follows those rules and texts, tested against QEMU 7.2 by
//! `qapi-runtime/tests/qmp_qemu_interop.rs`.
//!
//! The one deliberate difference: a number whose value is infinite as a
//! double (`1e400`) is refused with `JSON parse error, number out of
//! range`; QEMU accepts it and would echo `inf`, which no JSON reader can
//! read back.
//!
//! Writing ([`write_value`]) follows QEMU's compact form, `{"a": 1, "b":
//! [2, 3]}`, with characters outside printable ASCII written as `\uXXXX`.

use serde_json::{Map, Number, Value};

/// QEMU's `MAX_TOKEN_SIZE`: the bytes of one message's tokens (and of
/// one token).
pub const MAX_MESSAGE_SIZE: usize = 64 << 20;
/// QEMU's `MAX_TOKEN_COUNT`: the tokens of one message.
pub const MAX_TOKEN_COUNT: usize = 2 << 20;
/// QEMU's `MAX_NESTING`: open brackets and braces in one message.
pub const MAX_NESTING: usize = 1 << 10;

/// The stack a thread needs, at most, to read, handle and answer a
/// message at the nesting limit ([`MAX_NESTING`]): 1.5 MiB. Parsing does
/// not recurse, but copying the `id`, writing it back and dropping a value
/// recurse once per level. Measured with a server and its client on one
/// thread: a debug build needs between 1 and 1.125 MiB, a release build
/// between 256 and 384 KiB. Tokio's worker threads have 2 MiB by default;
/// a runtime built with a smaller `thread_stack_size`, or a
/// `current_thread` runtime on a smaller thread, must give at least this.
/// `tests/qmp_hostile.rs` runs a server and its client on a thread of
/// exactly this size, in whichever profile the tests are built with.
pub const STACK_BUDGET: usize = 3 << 19;

/// The limits on one message. The defaults are QEMU's; a server with many
/// clients may want smaller ones, since each client may hold one message
/// of `max_message_size` bytes (plus its parsed value) at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of tokens in one message (whitespace not counted).
    pub max_message_size: usize,
    /// Tokens in one message.
    pub max_tokens: usize,
    /// Depth of nested arrays and objects.
    pub max_nesting: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: MAX_MESSAGE_SIZE,
            max_tokens: MAX_TOKEN_COUNT,
            max_nesting: MAX_NESTING,
        }
    }
}

/// Why bytes did not make a message; `Display` is QEMU's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Bytes that start no token, or an invalid byte inside one; holds
    /// the token's text up to and including the bad byte.
    #[error("JSON parse error, stray '{0}'")]
    Stray(String),
    /// The message (or one token) grew past the size limit.
    #[error("JSON token size limit exceeded")]
    TokenSize,
    /// The message has too many tokens.
    #[error("JSON token count limit exceeded")]
    TokenCount,
    /// The message nests too deeply.
    #[error("JSON nesting depth limit exceeded")]
    Nesting,
    /// The tokens do not form a value (`expecting value`, `duplicate
    /// key`, `invalid keyword 'x'`, ...).
    #[error("JSON parse error, {0}")]
    Parse(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    LCurly,
    RCurly,
    LSquare,
    RSquare,
    Colon,
    Comma,
    Integer,
    Float,
    Keyword,
    String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    Recovery,
    DqString,
    DqEscape,
    SqString,
    SqEscape,
    Zero,
    Digits,
    Sign,
    Mantissa,
    MantissaDigits,
    ExpE,
    ExpSign,
    ExpDigits,
    Keyword,
}

/// What the lexer does with one byte in one state.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Take the byte, go to the state.
    Go(State),
    /// The token ended before this byte (which is looked at again).
    EndBefore(Kind),
    /// The byte completes a token.
    End(Kind),
    /// Take the byte and report the token so far as stray.
    Error,
    /// Drop the token so far and look at this byte again from `Start`.
    Resync,
}

fn step(state: State, b: u8) -> Step {
    use State::*;
    use Step::*;
    let printable = (0x20..=0xFD).contains(&b);
    match state {
        Start => match b {
            b'"' => Go(DqString),
            b'\'' => Go(SqString),
            b'0' => Go(Zero),
            b'1'..=b'9' => Go(Digits),
            b'-' => Go(Sign),
            b'{' => End(Kind::LCurly),
            b'}' => End(Kind::RCurly),
            b'[' => End(Kind::LSquare),
            b']' => End(Kind::RSquare),
            b',' => End(Kind::Comma),
            b':' => End(Kind::Colon),
            b'a'..=b'z' => Go(Keyword),
            b' ' | b'\t' | b'\r' | b'\n' => Go(Start),
            _ => Error,
        },
        Recovery => match b {
            b'\t' => Go(Recovery),
            0..=0x1F | 0xFE | 0xFF | b'[' | b']' | b'{' | b'}' | b':' | b',' => Resync,
            _ => Go(Recovery),
        },
        DqString => match b {
            b'\\' => Go(DqEscape),
            b'"' => End(Kind::String),
            _ if printable => Go(DqString),
            _ => Error,
        },
        SqString => match b {
            b'\\' => Go(SqEscape),
            b'\'' => End(Kind::String),
            _ if printable => Go(SqString),
            _ => Error,
        },
        DqEscape if printable => Go(DqString),
        SqEscape if printable => Go(SqString),
        DqEscape | SqEscape => Error,
        // QEMU 7.2 takes no exponent right after a leading zero: `0e5`
        // is the integer 0, then the keyword `e`, then 5.
        Zero => match b {
            b'0'..=b'9' => Error,
            b'.' => Go(Mantissa),
            _ => EndBefore(Kind::Integer),
        },
        Digits => match b {
            b'0'..=b'9' => Go(Digits),
            b'.' => Go(Mantissa),
            b'e' | b'E' => Go(ExpE),
            _ => EndBefore(Kind::Integer),
        },
        Sign => match b {
            b'0' => Go(Zero),
            b'1'..=b'9' => Go(Digits),
            _ => Error,
        },
        Mantissa => match b {
            b'0'..=b'9' => Go(MantissaDigits),
            _ => Error,
        },
        MantissaDigits => match b {
            b'0'..=b'9' => Go(MantissaDigits),
            b'e' | b'E' => Go(ExpE),
            _ => EndBefore(Kind::Float),
        },
        ExpE => match b {
            b'-' | b'+' => Go(ExpSign),
            b'0'..=b'9' => Go(ExpDigits),
            _ => Error,
        },
        ExpSign => match b {
            b'0'..=b'9' => Go(ExpDigits),
            _ => Error,
        },
        ExpDigits => match b {
            b'0'..=b'9' => Go(ExpDigits),
            _ => EndBefore(Kind::Float),
        },
        Keyword => match b {
            b'a'..=b'z' => Go(Keyword),
            _ => EndBefore(Kind::Keyword),
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

/// Cuts a byte stream into QMP messages, as QEMU's JSON message parser.
///
/// Feed it whatever a read returned; it returns every message completed
/// so far, each a value or the error QEMU would answer with. Bytes of an
/// incomplete message stay inside (at most the limits' worth).
#[derive(Debug)]
pub struct Streamer {
    limits: Limits,
    state: State,
    /// The token being lexed.
    token: Vec<u8>,
    /// The texts of the current message's tokens, back to back.
    text: Vec<u8>,
    tokens: Vec<Token>,
    braces: isize,
    brackets: isize,
}

impl Default for Streamer {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Streamer {
    /// A streamer with these limits.
    pub fn new(limits: Limits) -> Self {
        Streamer {
            limits,
            state: State::Start,
            token: Vec::new(),
            text: Vec::new(),
            tokens: Vec::new(),
            braces: 0,
            brackets: 0,
        }
    }

    /// Whether no message is under way (nothing but whitespace since the
    /// last complete one).
    pub fn is_idle(&self) -> bool {
        self.state == State::Start && self.tokens.is_empty()
    }

    /// Feeds bytes; pushes each completed message onto `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Result<Value, JsonError>>) {
        let mut i = 0;
        while i < bytes.len() {
            // Fast path through the body of a string: QEMU's table takes
            // every byte 0x20..=0xFD but the quote and the backslash.
            if matches!(self.state, State::DqString | State::SqString) {
                let quote = if self.state == State::DqString {
                    b'"'
                } else {
                    b'\''
                };
                let run = bytes[i..]
                    .iter()
                    .position(|&b| b == quote || b == b'\\' || !(0x20..=0xFD).contains(&b))
                    .unwrap_or(bytes.len() - i);
                if run > 0 {
                    let room = self.limits.max_message_size + 1
                        - self.token.len().min(self.limits.max_message_size);
                    let take = run.min(room);
                    self.token.extend_from_slice(&bytes[i..i + take]);
                    i += take;
                    self.check_token_size(out);
                    continue;
                }
            }
            self.feed_byte(bytes[i], out);
            i += 1;
        }
    }

    fn feed_byte(&mut self, b: u8, out: &mut Vec<Result<Value, JsonError>>) {
        loop {
            match step(self.state, b) {
                Step::Go(State::Start) => {
                    self.token.clear();
                    self.state = State::Start;
                    break;
                }
                Step::Go(State::Recovery) => {
                    self.token.clear();
                    self.state = State::Recovery;
                    break;
                }
                Step::Go(next) => {
                    self.token.push(b);
                    self.state = next;
                    break;
                }
                Step::End(kind) => {
                    self.token.push(b);
                    self.token_done(kind, out);
                    self.state = State::Start;
                    break;
                }
                Step::EndBefore(kind) => {
                    self.token_done(kind, out);
                    self.state = State::Start;
                }
                Step::Error => {
                    self.token.push(b);
                    let shown = stray_text(&self.token);
                    self.token.clear();
                    self.reset();
                    out.push(Err(JsonError::Stray(shown)));
                    self.state = State::Recovery;
                    break;
                }
                Step::Resync => {
                    self.token.clear();
                    self.state = State::Start;
                }
            }
        }
        self.check_token_size(out);
    }

    /// QEMU's lexer hands a token longer than the limit to the streamer
    /// as it is, which refuses it; lexing restarts in the start state.
    fn check_token_size(&mut self, out: &mut Vec<Result<Value, JsonError>>) {
        if self.token.len() > self.limits.max_message_size {
            self.token.clear();
            self.state = State::Start;
            self.reset();
            out.push(Err(JsonError::TokenSize));
        }
    }

    fn reset(&mut self) {
        self.braces = 0;
        self.brackets = 0;
        self.tokens.clear();
        self.text.clear();
        // Give back what a huge message took.
        if self.text.capacity() > 1 << 16 {
            self.text.shrink_to(1 << 12);
        }
        if self.tokens.capacity() > 1 << 12 {
            self.tokens.shrink_to(1 << 8);
        }
        if self.token.capacity() > 1 << 16 {
            self.token.shrink_to(1 << 12);
        }
    }

    fn token_done(&mut self, kind: Kind, out: &mut Vec<Result<Value, JsonError>>) {
        match kind {
            Kind::LCurly => self.braces += 1,
            Kind::RCurly => self.braces -= 1,
            Kind::LSquare => self.brackets += 1,
            Kind::RSquare => self.brackets -= 1,
            _ => {}
        }
        let len = self.token.len();
        let error = if self.text.len() + len + 1 > self.limits.max_message_size {
            Some(JsonError::TokenSize)
        } else if self.tokens.len() + 1 > self.limits.max_tokens {
            Some(JsonError::TokenCount)
        } else if self.braces + self.brackets > self.limits.max_nesting as isize {
            Some(JsonError::Nesting)
        } else {
            None
        };
        if let Some(e) = error {
            self.token.clear();
            self.reset();
            out.push(Err(e));
            return;
        }
        let start = self.text.len();
        self.text.extend_from_slice(&self.token);
        self.token.clear();
        self.tokens.push(Token {
            kind,
            start,
            end: start + len,
        });
        if (self.braces > 0 || self.brackets > 0) && self.braces >= 0 && self.brackets >= 0 {
            return;
        }
        let parsed = Parser {
            text: &self.text,
            tokens: &self.tokens,
            pos: 0,
        }
        .parse();
        self.reset();
        out.push(parsed.map_err(JsonError::Parse));
    }
}

/// The text QEMU shows for a stray token: a C string, so it stops at a
/// NUL byte; invalid UTF-8 shows as U+FFFD, as QEMU's JSON writer does.
fn stray_text(token: &[u8]) -> String {
    let end = token.iter().position(|&b| b == 0).unwrap_or(token.len());
    String::from_utf8_lossy(&token[..end]).into_owned()
}

/// Parses one complete message held as tokens, as `json-parser.c`. The
/// first error wins, as there.
///
/// The parser does not recurse: the arrays and objects under way are kept
/// on a heap stack ([`Open`]), so the thread's stack does not grow with
/// the nesting (at [`MAX_NESTING`] a recursive descent needed close to
/// 2 MiB in a debug build, all of a tokio worker's stack).
struct Parser<'a> {
    text: &'a [u8],
    tokens: &'a [Token],
    pos: usize,
}

type PResult<T> = Result<T, String>;

/// An array or object whose closing bracket has not been read yet.
enum Open {
    /// An array: the elements so far.
    Array(Vec<Value>),
    /// An object waiting for the key of a member.
    Key(Map<String, Value>),
    /// An object waiting for the value of the member with this key.
    Member(Map<String, Value>, String),
}

impl Parser<'_> {
    fn parse(mut self) -> PResult<Value> {
        let mut open: Vec<Open> = Vec::new();
        'value: loop {
            // A value starts here: a scalar is read whole, an array or
            // object is opened (or read whole when it is empty).
            let mut done = match self.start_value()? {
                Some(value) => value,
                None => {
                    let opened = match self.tokens[self.pos - 1].kind {
                        Kind::LCurly => Open::Key(Map::new()),
                        _ => Open::Array(Vec::new()),
                    };
                    open.push(opened);
                    continue 'value;
                }
            };
            // A value is complete: it goes into the innermost open array
            // or object, which may complete in turn.
            loop {
                let Some(innermost) = open.pop() else {
                    return Ok(done);
                };
                match innermost {
                    Open::Array(mut list) => {
                        list.push(done);
                        match self.pop().map(|t| t.kind) {
                            None => return Err("premature EOI".into()),
                            Some(Kind::RSquare) => done = Value::Array(list),
                            Some(Kind::Comma) => {
                                open.push(Open::Array(list));
                                continue 'value;
                            }
                            Some(_) => return Err("expected separator in list".into()),
                        }
                    }
                    Open::Key(map) => {
                        let Value::String(key) = done else {
                            return Err("key is not a string in object".into());
                        };
                        match self.pop().map(|t| t.kind) {
                            None => return Err("premature EOI".into()),
                            Some(Kind::Colon) => {}
                            Some(_) => return Err("missing : in object pair".into()),
                        }
                        open.push(Open::Member(map, key));
                        continue 'value;
                    }
                    Open::Member(mut map, key) => {
                        if map.contains_key(&key) {
                            return Err("duplicate key".into());
                        }
                        map.insert(key, done);
                        match self.pop().map(|t| t.kind) {
                            None => return Err("premature EOI".into()),
                            Some(Kind::RCurly) => done = Value::Object(map),
                            Some(Kind::Comma) => {
                                open.push(Open::Key(map));
                                continue 'value;
                            }
                            Some(_) => return Err("expected separator in dict".into()),
                        }
                    }
                }
            }
        }
    }

    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.pos).copied()
    }

    fn pop(&mut self) -> Option<Token> {
        let t = self.peek();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn str_of(&self, t: Token) -> &[u8] {
        &self.text[t.start..t.end]
    }

    /// Reads the start of a value: `Some` with a scalar or an empty array
    /// or object, `None` after the opening bracket of one with members.
    fn start_value(&mut self) -> PResult<Option<Value>> {
        let Some(t) = self.peek() else {
            return Err("premature EOI".into());
        };
        let (empty, close) = match t.kind {
            Kind::LCurly => (Value::Object(Map::new()), Kind::RCurly),
            Kind::LSquare => (Value::Array(Vec::new()), Kind::RSquare),
            Kind::Integer | Kind::Float => {
                self.pos += 1;
                return number(self.str_of(t), t.kind == Kind::Integer).map(Some);
            }
            Kind::String => {
                self.pos += 1;
                return string(self.str_of(t)).map(|s| Some(Value::String(s)));
            }
            Kind::Keyword => {
                self.pos += 1;
                return match self.str_of(t) {
                    b"true" => Ok(Some(Value::Bool(true))),
                    b"false" => Ok(Some(Value::Bool(false))),
                    b"null" => Ok(Some(Value::Null)),
                    other => Err(format!(
                        "invalid keyword '{}'",
                        String::from_utf8_lossy(other)
                    )),
                };
            }
            _ => return Err("expecting value".into()),
        };
        self.pos += 1;
        match self.peek() {
            None => Err("premature EOI".into()),
            Some(next) if next.kind == close => {
                self.pos += 1;
                Ok(Some(empty))
            }
            Some(_) => Ok(None),
        }
    }
}

/// A number token: an integer is an `i64` if it fits, else a `u64`, else
/// a double, as QEMU's `QNum`.
fn number(text: &[u8], integer: bool) -> PResult<Value> {
    // The lexer only lets ASCII digits, signs, '.', 'e' through.
    let s = std::str::from_utf8(text).map_err(|_| "expecting value".to_owned())?;
    if integer {
        if let Ok(i) = s.parse::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if !s.starts_with('-') {
            if let Ok(u) = s.parse::<u64>() {
                return Ok(Value::Number(u.into()));
            }
        }
    }
    let f: f64 = s.parse().map_err(|_| "expecting value".to_owned())?;
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| "number out of range".to_owned())
}

/// QEMU's `is_valid_codepoint`: Unicode scalar values that are not
/// noncharacters.
fn valid_codepoint(cp: u32) -> bool {
    cp <= 0x10FFFF
        && !(0xFDD0..=0xFDEF).contains(&cp)
        && (cp & 0xFFFE) != 0xFFFE
        && !(0xD800..=0xDFFF).contains(&cp)
}

fn hex4(s: &[u8]) -> Option<u32> {
    if s.len() < 4 {
        return None;
    }
    let mut cp = 0;
    for &c in &s[..4] {
        cp = cp << 4 | (c as char).to_digit(16)?;
    }
    Some(cp)
}

/// QEMU's `mod_utf8_codepoint`: decodes one character of modified UTF-8
/// (`C0 80` is NUL; overlong forms, surrogates and noncharacters are
/// invalid). Returns the character and its length.
fn mod_utf8(s: &[u8]) -> Option<(char, usize)> {
    let b = *s.first()?;
    if b < 0x80 {
        return Some((b as char, 1));
    }
    if b >= 0xFE || b & 0x40 == 0 {
        return None;
    }
    let len = b.leading_ones() as usize;
    let mut cp = u32::from(b) & ((1 << (7 - len)) - 1);
    for i in 1..len {
        let c = *s.get(i)?;
        if c & 0xC0 != 0x80 {
            return None;
        }
        cp = cp << 6 | u32::from(c & 0x3F);
    }
    const MIN: [u32; 5] = [0x80, 0x800, 0x10000, 0x200000, 0x4000000];
    if !valid_codepoint(cp) || (cp < MIN[len - 2] && !(cp == 0 && len == 2)) {
        return None;
    }
    Some((char::from_u32(cp)?, len))
}

/// A string token (with its quotes) to its value, as QEMU's
/// `parse_string`.
fn string(token: &[u8]) -> PResult<String> {
    let quote = token[0];
    let body = &token[1..token.len() - 1];
    debug_assert_eq!(token[token.len() - 1], quote);
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b == b'\\' {
            let beg = i;
            let Some(&e) = body.get(i + 1) else {
                return Err("invalid escape sequence in string".into());
            };
            i += 2;
            match e {
                b'"' => out.push('"'),
                b'\'' => out.push('\''),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let mut cp = hex4(&body[i.min(body.len())..]).map_or(-1, |c| c as i64);
                    i += 4;
                    if (0xD800..=0xDBFF).contains(&cp)
                        && body.get(i) == Some(&b'\\')
                        && body.get(i + 1) == Some(&b'u')
                    {
                        let lead = cp;
                        cp = match hex4(&body[(i + 2).min(body.len())..]) {
                            Some(t) if (0xDC00..=0xDFFF).contains(&t) => {
                                i += 6;
                                0x10000 + ((lead & 0x3FF) << 10) + (i64::from(t) & 0x3FF)
                            }
                            _ => -1,
                        };
                    }
                    match u32::try_from(cp)
                        .ok()
                        .filter(|&c| valid_codepoint(c))
                        .and_then(char::from_u32)
                    {
                        Some(c) => out.push(c),
                        None => {
                            // QEMU prints the escape as written (the bytes
                            // from the backslash, at most to the token's end).
                            let shown = &token[1 + beg..(1 + i).min(token.len())];
                            return Err(format!(
                                "{} is not a valid Unicode character",
                                String::from_utf8_lossy(shown)
                            ));
                        }
                    }
                }
                _ => return Err("invalid escape sequence in string".into()),
            }
        } else {
            match mod_utf8(&body[i..]) {
                Some((c, n)) => {
                    out.push(c);
                    i += n;
                }
                None => return Err("invalid UTF-8 sequence in string".into()),
            }
        }
    }
    Ok(out)
}

/// Parses one whole text as a QMP message would be read (for tests and
/// tools): the first message, or `None` when the text holds none.
pub fn parse(text: &[u8]) -> Option<Result<Value, JsonError>> {
    let mut s = Streamer::default();
    let mut out = Vec::new();
    s.feed(text, &mut out);
    // A top-level number or keyword ends only at the next byte.
    if out.is_empty() {
        s.feed(b" ", &mut out);
    }
    out.into_iter().next()
}

/// Writes `value` as QEMU does: `{"a": 1, "b": [2, 3]}`, non-ASCII and
/// control characters as `\uXXXX`.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => match (n.is_f64(), n.as_f64()) {
            (true, Some(f)) => out.extend_from_slice(format_double(f).as_bytes()),
            _ => out.extend_from_slice(n.to_string().as_bytes()),
        },
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_value(out, v);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_str(out, k);
                out.extend_from_slice(b": ");
                write_value(out, v);
            }
            out.push(b'}');
        }
    }
}

/// A double as QEMU writes it, C's `%.17g`: `1` for 1.0, `0.10000000000000001`
/// for 0.1, `1.2345678901234568e+29`.
pub fn format_double(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e_form = format!("{f:.16e}");
    let (mantissa, exp) = e_form.split_once('e').unwrap_or((&e_form, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let strip = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s.to_owned()
        }
    };
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip(mantissa), exp.abs())
    } else {
        strip(&format!("{f:.*}", (16 - exp) as usize))
    }
}

/// A JSON string as QEMU's `quoted_str`.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut start = 0;
    let bytes = s.as_bytes();
    for (i, c) in s.char_indices() {
        let plain = (' '..'\u{7f}').contains(&c) && c != '"' && c != '\\';
        if plain {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        start = i + c.len_utf8();
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.extend_from_slice(format!("\\u{:04X}", u).as_bytes());
                }
            }
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// QEMU's `QDict` hash (`tdb_hash`) bucket of a key: QEMU iterates a
/// dictionary by bucket, so this decides which of several bad members it
/// reports first, and the order of members in what it writes.
pub fn qdict_bucket(key: &str) -> u32 {
    let b = key.as_bytes();
    let mut v: u32 = 0x238F13AFu32.wrapping_mul(b.len() as u32);
    for (i, &c) in b.iter().enumerate() {
        v = v.wrapping_add(u32::from(c) << ((i * 5) % 24));
    }
    1103515243u32.wrapping_mul(v).wrapping_add(12345) % 512
}

/// The keys of `map` in the order QEMU iterates the same dictionary: by
/// bucket, and within a bucket the last inserted first.
pub fn qdict_order(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<(u32, usize, (&String, &Value))> = map
        .iter()
        .enumerate()
        .map(|(i, kv)| (qdict_bucket(kv.0), i, kv))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    v.into_iter().map(|(_, _, kv)| kv).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all(text: &[u8]) -> Vec<Result<Value, String>> {
        let mut s = Streamer::default();
        let mut out = Vec::new();
        s.feed(text, &mut out);
        out.into_iter()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn messages_end_when_brackets_balance() {
        assert_eq!(
            all(br#"{"a":1}{'b':[true,null]} "x""#),
            vec![
                Ok(json!({"a": 1})),
                Ok(json!({"b": [true, null]})),
                Ok(json!("x"))
            ]
        );
        // A top-level number waits for the byte after it.
        assert_eq!(all(b"12"), vec![]);
        assert_eq!(all(b"12 "), vec![Ok(json!(12))]);
    }

    #[test]
    fn qemu_texts() {
        assert_eq!(
            all(br#"{"a":1,"a":2}"#),
            vec![Err("JSON parse error, duplicate key".into())]
        );
        assert_eq!(
            all(b"{\"a\":-}"),
            vec![Err("JSON parse error, stray '-}'".into())]
        );
        assert_eq!(
            all(b"{\"a\":01}"),
            vec![
                Err("JSON parse error, stray '01'".into()),
                Err("JSON parse error, expecting value".into())
            ]
        );
        assert_eq!(
            all(br#"{"a":"\ud800"}"#),
            vec![Err(
                "JSON parse error, \\ud800 is not a valid Unicode character".into()
            )]
        );
        assert_eq!(
            all(b"{\"a\":\"\xc0\x80\"}"),
            vec![Ok(json!({"a": "\u{0}"}))]
        );
        assert_eq!(
            all(b"{\"a\":\"\xed\xa0\x80\"}"),
            vec![Err(
                "JSON parse error, invalid UTF-8 sequence in string".into()
            )]
        );
        assert_eq!(
            all(br#"{"a":"\ud83d\ude00"}"#),
            vec![Ok(json!({"a": "😀"}))]
        );
        assert_eq!(
            all(b"[1e400]"),
            vec![Err("JSON parse error, number out of range".into())]
        );
        assert_eq!(
            all(b"[18446744073709551615, -9223372036854775809, 1.5]"),
            vec![Ok(json!([
                18446744073709551615u64,
                -9.223372036854776e18,
                1.5
            ]))]
        );
    }

    #[test]
    fn limits() {
        let limits = Limits {
            max_message_size: 100,
            max_tokens: 10,
            max_nesting: 3,
        };
        let run = |text: &[u8]| {
            let mut s = Streamer::new(limits);
            let mut out = Vec::new();
            s.feed(text, &mut out);
            out.into_iter()
                .map(|r| r.map_err(|e| e.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(b"[[[1]]]"), vec![Ok(json!([[[1]]]))]);
        assert_eq!(
            run(b"[[[["),
            vec![Err("JSON nesting depth limit exceeded".into())]
        );
        assert_eq!(
            run(b"[1,2,3,4,5,6"),
            vec![Err("JSON token count limit exceeded".into())]
        );
        let long = format!("[\"{}\"]", "x".repeat(200));
        assert_eq!(
            run(long.as_bytes())[0],
            Err("JSON token size limit exceeded".into())
        );
    }

    #[test]
    fn writes_like_qemu() {
        let mut out = Vec::new();
        write_value(
            &mut out,
            &json!({"return": {"a": [1, "é\u{1}😀"]}, "id": null}),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"return": {"a": [1, "\u00E9\u0001\uD83D\uDE00"]}, "id": null}"#
        );
    }

    #[test]
    fn doubles_as_percent_17g() {
        assert_eq!(format_double(1.0), "1");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(
            format_double(1.2345678901234568e29),
            "1.2345678901234568e+29"
        );
        assert_eq!(format_double(-2.5e-7), "-2.4999999999999999e-07");
        assert_eq!(format_double(1e16), "10000000000000000");
        assert_eq!(format_double(1e17), "1e+17");
    }

    #[test]
    fn qdict_order_is_qemus() {
        let m = json!({"id": 1, "error": 2, "return": 3});
        let Value::Object(m) = m else { unreachable!() };
        let keys: Vec<&str> = qdict_order(&m)
            .into_iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, ["return", "id", "error"]);
    }
}
