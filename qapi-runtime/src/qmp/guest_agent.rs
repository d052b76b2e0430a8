//! A client for QEMU's guest agent (`qemu-ga`), which speaks QMP's JSON
//! without the rest of QMP: no greeting, no capabilities negotiation, no
//! events, one command at a time.
//!
//! What `qga/qapi-schema.json` (`guest-sync-delimited`, `guest-sync`)
//! prescribes, and this client does:
//!
//! * Before the first command, and again after anything that may have left
//!   the agent's parser or the reply stream in an unknown state (a timeout,
//!   a call given up half-way, garbage), the client synchronizes: it sends
//!   a `0xFF` byte, which the agent's JSON lexer takes as invalid input and
//!   so drops whatever half-read request it holds, then
//!   `guest-sync-delimited` with a fresh random id. The agent puts a `0xFF`
//!   byte before its reply, so everything before that byte (stale replies,
//!   the agent's complaint about the `0xFF` it got) is skipped, and then
//!   replies are skipped until `{"return": ID}` with this id.
//! * An agent that does not know `guest-sync-delimited` (it answers
//!   `CommandNotFound`) is synchronized with `guest-sync` instead: the
//!   same, without the delimiter.
//! * Commands with `success-response: false` (`guest-shutdown`,
//!   `guest-suspend-disk`, `-ram`, `-hybrid`) send no reply on success,
//!   only on failure. The client follows such a command with a
//!   `guest-sync-delimited`: the agent runs requests in order, so an error
//!   before the sync's reply is the command's, and the sync's reply means
//!   it returned without error. The connection closing (the guest went
//!   down) or the agent staying silent until the timeout (a guest
//!   suspended or stopping) is success too, as QEMU documents: success
//!   shows in the guest, not on the wire.
//! * A timeout says what was waited for ("the reply to
//!   guest-sync-delimited (id 7)", "the answer to guest-file-read").
//!
//! Requests carry an `id` (qemu-ga echoes it, as QMP does); an answer
//! with another id is a stale one and is skipped.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::Instant;

use super::json::{write_value, Limits, Streamer};
use crate::api::Command;
use crate::error::{Error, ErrorClass};
use crate::input::{Input, InputError, Role};
use crate::output::Output;

/// The byte that resets the agent's parser and precedes the reply to
/// `guest-sync-delimited`: never valid in UTF-8, so never inside JSON.
pub const DELIMITER: u8 = 0xFF;

/// Why a guest-agent call failed.
#[derive(Debug, thiserror::Error)]
pub enum GuestAgentError {
    /// The agent answered with an error (class and text as sent).
    #[error("{0}")]
    Qmp(#[from] Error),
    /// The answer does not fit the command's return type.
    #[error("cannot read the answer: {0}")]
    Decode(InputError),
    /// The connection failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// Nothing came in time; says what was waited for.
    #[error("no {waited_for} within {after:?}")]
    Timeout {
        /// What did not come: `the answer to guest-info`, `the reply to
        /// guest-sync-delimited (id 7)`.
        waited_for: String,
        /// How long the client waited.
        after: Duration,
    },
    /// The agent closed the connection.
    #[error("the guest agent closed the connection")]
    Closed,
}

impl GuestAgentError {
    /// The agent's error, when it sent one.
    pub fn qmp(&self) -> Option<&Error> {
        match self {
            GuestAgentError::Qmp(e) => Some(e),
            _ => None,
        }
    }
}

/// How the client synchronizes with the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMethod {
    /// `guest-sync-delimited` (QEMU 1.1 on), falling back to `guest-sync`
    /// when the agent does not know it.
    #[default]
    Delimited,
    /// `guest-sync` only.
    Plain,
}

/// How a [`GuestAgent`] behaves.
#[derive(Debug, Clone)]
pub struct GuestAgentOptions {
    /// Limit on waiting for a command's answer (and, for a command that
    /// does not answer on success, for the sync after it).
    pub timeout: Duration,
    /// Limit on waiting for the reply to a sync.
    pub sync_timeout: Duration,
    /// How to synchronize.
    pub sync: SyncMethod,
    /// Limits on one message from the agent.
    pub limits: Limits,
}

impl Default for GuestAgentOptions {
    fn default() -> Self {
        GuestAgentOptions {
            timeout: Duration::from_secs(30),
            sync_timeout: Duration::from_secs(10),
            sync: SyncMethod::Delimited,
            limits: Limits::default(),
        }
    }
}

/// A guest-agent client over a byte stream (a unix socket to
/// `qemu-ga -m unix-listen`, the host end of QEMU's
/// `-chardev socket,...,name=org.qemu.guest_agent.0`). Calls take turns:
/// the agent runs one command at a time.
pub struct GuestAgent<S> {
    connection: tokio::sync::Mutex<Connection<S>>,
    options: GuestAgentOptions,
}

impl<S> std::fmt::Debug for GuestAgent<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestAgent")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl GuestAgent<UnixStream> {
    /// Connects to the agent's unix socket and synchronizes.
    pub async fn connect_unix(
        path: impl AsRef<Path>,
        options: GuestAgentOptions,
    ) -> Result<Self, GuestAgentError> {
        let stream = UnixStream::connect(path).await?;
        let agent = GuestAgent::new(stream, options);
        agent.sync().await?;
        Ok(agent)
    }
}

impl<S> GuestAgent<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// A client on `stream`, not yet synchronized: the first call
    /// synchronizes first (so whatever the stream held before, a
    /// half-written request say, is flushed).
    pub fn new(stream: S, options: GuestAgentOptions) -> Self {
        GuestAgent {
            connection: tokio::sync::Mutex::new(Connection {
                stream,
                streamer: Streamer::new(options.limits),
                messages: VecDeque::new(),
                synced: false,
                method: options.sync,
                next_id: 1,
                closed: false,
                limits: options.limits,
            }),
            options,
        }
    }

    /// Synchronizes now (see the module documentation); `Ok` once the
    /// agent has replied to the sync.
    pub async fn sync(&self) -> Result<(), GuestAgentError> {
        let mut connection = self.connection.lock().await;
        connection.synced = false;
        let deadline = Instant::now() + self.options.sync_timeout;
        connection
            .sync(true, deadline, self.options.sync_timeout)
            .await
    }

    /// Runs a command and reads its answer into the command's return
    /// type. A command with `success-response: false` is followed by a
    /// sync, as the module documentation says.
    pub async fn execute<C: Command>(&self, command: &C) -> Result<C::Returns, GuestAgentError> {
        self.execute_timeout(command, self.options.timeout).await
    }

    /// [`GuestAgent::execute`] with another time limit.
    pub async fn execute_timeout<C: Command>(
        &self,
        command: &C,
        timeout: Duration,
    ) -> Result<C::Returns, GuestAgentError> {
        let arguments = command.arguments(&Output::new());
        let answers = C::info().success_response;
        let value = self.call(C::NAME, arguments, answers, timeout).await?;
        Input::new()
            .with_role(Role::Client)
            .read::<C::Returns>(value)
            .map_err(GuestAgentError::Decode)
    }

    /// Runs a command given by name with JSON arguments; the answer as
    /// JSON. The command is taken to answer on success.
    pub async fn execute_raw(
        &self,
        name: &str,
        arguments: Option<Value>,
    ) -> Result<Value, GuestAgentError> {
        self.call(name, arguments, true, self.options.timeout).await
    }

    /// Gives the stream back (between calls).
    pub fn into_inner(self) -> S {
        self.connection.into_inner().stream
    }

    async fn call(
        &self,
        name: &str,
        arguments: Option<Value>,
        answers: bool,
        timeout: Duration,
    ) -> Result<Value, GuestAgentError> {
        let mut connection = self.connection.lock().await;
        if !connection.synced {
            let deadline = Instant::now() + self.options.sync_timeout;
            connection
                .sync(true, deadline, self.options.sync_timeout)
                .await?;
        }
        let id = connection.next_id;
        connection.next_id += 1;
        let mut request = Map::new();
        request.insert("execute".into(), Value::String(name.to_owned()));
        if let Some(arguments) = arguments {
            request.insert("arguments".into(), arguments);
        }
        request.insert("id".into(), Value::from(id));
        let mut line = Vec::new();
        write_value(&mut line, &Value::Object(request));
        line.push(b'\n');
        // Until the answer is read, the stream's state is unknown: a call
        // given up half-way (a dropped future) makes the next one resync.
        connection.synced = false;
        connection.stream.write_all(&line).await?;
        let deadline = Instant::now() + timeout;
        if !answers {
            return connection.after_silent_command(id, deadline, timeout).await;
        }
        let waited_for = format!("answer to {name}");
        loop {
            let message = connection
                .next_message(deadline, timeout, &waited_for)
                .await?;
            match answer_of(&message, Some(id)) {
                Some(answer) => {
                    connection.synced = true;
                    return answer.map_err(GuestAgentError::Qmp);
                }
                // A stale answer (another id) or not an answer at all.
                None => continue,
            }
        }
    }
}

/// The connection and what has been read from it.
struct Connection<S> {
    stream: S,
    streamer: Streamer,
    /// Messages read and not yet looked at (parse errors dropped: they
    /// are stale bytes, the agent writes only JSON).
    messages: VecDeque<Value>,
    /// Whether the reply stream is known to be at a message boundary with
    /// nothing stale left in it.
    synced: bool,
    method: SyncMethod,
    next_id: u64,
    closed: bool,
    limits: Limits,
}

/// `Ok`/`Err` for a reply to the request with `id` (or, for an agent that
/// does not echo ids, a reply without one); `None` for anything else.
fn answer_of(message: &Value, id: Option<u64>) -> Option<Result<Value, Error>> {
    let object = message.as_object()?;
    match (object.get("id"), id) {
        (None, _) => {}
        (Some(got), Some(want)) if got.as_u64() == Some(want) => {}
        _ => return None,
    }
    if let Some(value) = object.get("return") {
        return Some(Ok(value.clone()));
    }
    let error = object.get("error")?;
    Some(Err(Error::new(
        ErrorClass::from_wire(
            error
                .get("class")
                .and_then(Value::as_str)
                .unwrap_or("GenericError"),
        ),
        error
            .get("desc")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )))
}

/// A sync id: random enough that a reply to another session's sync
/// (still in the channel from before this client connected) is not
/// taken for this one's. QEMU's schema asks for a random id; the clock's
/// nanoseconds and the process id do.
fn sync_id(counter: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64 ^ d.as_secs());
    // Below 2^31, so that any JSON reader takes it as an exact integer.
    (nanos ^ (u64::from(std::process::id()) << 16) ^ counter.wrapping_mul(0x9E37_79B9))
        & 0x7FFF_FFFF
}

impl<S> Connection<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// Reads more bytes; `Ok(None)` at the end of the stream.
    async fn read_some(
        &mut self,
        deadline: Instant,
        limit: Duration,
        waited_for: &str,
    ) -> Result<Option<Vec<u8>>, GuestAgentError> {
        if self.closed {
            return Ok(None);
        }
        let mut buf = vec![0u8; 16 * 1024];
        let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
            Ok(read) => read?,
            Err(_) => {
                return Err(GuestAgentError::Timeout {
                    waited_for: waited_for.to_owned(),
                    after: limit,
                })
            }
        };
        if n == 0 {
            self.closed = true;
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some(buf))
    }

    /// Feeds bytes to the JSON streamer, keeping the messages.
    fn feed(&mut self, bytes: &[u8]) {
        let mut out = Vec::new();
        self.streamer.feed(bytes, &mut out);
        self.messages.extend(out.into_iter().filter_map(Result::ok));
        // An agent that talks without being asked gets no unbounded queue.
        while self.messages.len() > 1024 {
            self.messages.pop_front();
        }
    }

    /// The next message.
    async fn next_message(
        &mut self,
        deadline: Instant,
        limit: Duration,
        waited_for: &str,
    ) -> Result<Value, GuestAgentError> {
        loop {
            if let Some(message) = self.messages.pop_front() {
                return Ok(message);
            }
            match self.read_some(deadline, limit, waited_for).await? {
                Some(bytes) => self.feed(&bytes),
                None => return Err(GuestAgentError::Closed),
            }
        }
    }

    /// Synchronizes (see the module documentation). With `flush`, a
    /// `0xFF` byte goes first to reset the agent's parser.
    async fn sync(
        &mut self,
        flush: bool,
        deadline: Instant,
        limit: Duration,
    ) -> Result<(), GuestAgentError> {
        let id = sync_id(self.next_id);
        self.next_id += 1;
        let method = self.method;
        let name = match method {
            SyncMethod::Delimited => "guest-sync-delimited",
            SyncMethod::Plain => "guest-sync",
        };
        let mut line = Vec::new();
        if flush {
            line.push(DELIMITER);
        }
        write_value(
            &mut line,
            &json!({"execute": name, "arguments": {"id": id}}),
        );
        line.push(b'\n');
        self.stream.write_all(&line).await?;
        let waited_for = format!("reply to {name} (id {id})");
        if method == SyncMethod::Delimited {
            match self.skip_to_delimiter(deadline, limit, &waited_for).await? {
                Delimiter::Found => {}
                Delimiter::Unknown => {
                    self.method = SyncMethod::Plain;
                    return Box::pin(self.sync(flush, deadline, limit)).await;
                }
                Delimiter::Error(e) => return Err(GuestAgentError::Qmp(e)),
            }
        }
        loop {
            let message = self.next_message(deadline, limit, &waited_for).await?;
            if message.as_object().and_then(|m| m.get("return")) == Some(&Value::from(id)) {
                self.synced = true;
                return Ok(());
            }
        }
    }

    /// Skips the reply stream up to the agent's `0xFF`, watching the
    /// skipped replies for a refused `guest-sync-delimited`.
    async fn skip_to_delimiter(
        &mut self,
        deadline: Instant,
        limit: Duration,
        waited_for: &str,
    ) -> Result<Delimiter, GuestAgentError> {
        loop {
            // Bytes read earlier and not yet parsed are gone into the
            // streamer; what it made of them is in `messages`.
            if let Some(found) = self.refusal_of_delimited() {
                return Ok(found);
            }
            let Some(bytes) = self.read_some(deadline, limit, waited_for).await? else {
                return Err(GuestAgentError::Closed);
            };
            match bytes.iter().position(|&b| b == DELIMITER) {
                Some(at) => {
                    self.feed(&bytes[..at]);
                    if let Some(found) = self.refusal_of_delimited() {
                        return Ok(found);
                    }
                    self.messages.clear();
                    self.streamer = Streamer::new(self.limits);
                    self.feed(&bytes[at + 1..]);
                    return Ok(Delimiter::Found);
                }
                None => self.feed(&bytes),
            }
        }
    }

    /// Looks through (and drops) the messages read before the delimiter:
    /// `Some` when the agent refused `guest-sync-delimited`.
    fn refusal_of_delimited(&mut self) -> Option<Delimiter> {
        while let Some(message) = self.messages.pop_front() {
            let Some(Err(error)) = answer_of(&message, None) else {
                continue;
            };
            if error.desc.contains("guest-sync-delimited") {
                return Some(if error.class == ErrorClass::CommandNotFound {
                    Delimiter::Unknown
                } else {
                    Delimiter::Error(error)
                });
            }
        }
        None
    }

    /// After a command that sends no reply on success: a sync, whose
    /// reply (or the connection closing, or silence until the deadline)
    /// means success; an error for `id` before it is the command's.
    async fn after_silent_command(
        &mut self,
        id: u64,
        deadline: Instant,
        limit: Duration,
    ) -> Result<Value, GuestAgentError> {
        let sync_id = sync_id(self.next_id);
        self.next_id += 1;
        let name = match self.method {
            SyncMethod::Delimited => "guest-sync-delimited",
            SyncMethod::Plain => "guest-sync",
        };
        let mut line = Vec::new();
        // No 0xFF first: the agent's parser is at a boundary (our own
        // request just ended). The agent's 0xFF before its reply, if it
        // sends one, is skipped by the JSON reader as a stray byte.
        write_value(
            &mut line,
            &json!({"execute": name, "arguments": {"id": sync_id}}),
        );
        line.push(b'\n');
        if let Err(e) = self.stream.write_all(&line).await {
            return match e.kind() {
                // The guest is already going down.
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Ok(json!({})),
                _ => Err(e.into()),
            };
        }
        let waited_for = format!("reply to {name} (id {sync_id})");
        loop {
            match self.next_message(deadline, limit, &waited_for).await {
                Ok(message) => {
                    if message.get("return") == Some(&Value::from(sync_id)) {
                        self.synced = true;
                        return Ok(json!({}));
                    }
                    if message.get("id").and_then(Value::as_u64) == Some(id) {
                        if let Some(Err(e)) = answer_of(&message, Some(id)) {
                            return Err(GuestAgentError::Qmp(e));
                        }
                    }
                }
                // Gone or silent: success, as QEMU documents; the stream's
                // state is unknown, so the next call resyncs.
                Err(GuestAgentError::Closed | GuestAgentError::Timeout { .. }) => {
                    return Ok(json!({}))
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// What came before the agent's `0xFF`.
enum Delimiter {
    /// The delimiter.
    Found,
    /// The agent does not know `guest-sync-delimited`.
    Unknown,
    /// The agent refused it otherwise.
    Error(Error),
}
