//! The QMP client: typed commands through the generated request types,
//! several in flight at once, out-of-band execution, events as a stream.
//!
//! One task reads the connection: it matches each answer to its request
//! by `id` (every request gets one), and copies each event into the
//! event streams. Writing is done by the callers, one whole request at a
//! time. What a server sends is read with the same JSON rules and limits
//! as the server reads ([`super::json`]), so a hostile or broken peer
//! cannot make the client allocate without bound.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::json::{write_value, Limits, Streamer};
use super::wire::VersionInfo;
use crate::api::{Command, Event};
use crate::error::{Error, ErrorClass};
use crate::event::Timestamp;
use crate::input::{Input, InputError, Role};
use crate::output::Output;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error (class and text as sent).
    #[error("{0}")]
    Qmp(#[from] Error),
    /// The answer does not fit the command's return type.
    #[error("cannot read the answer: {0}")]
    Decode(InputError),
    /// The connection failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The peer's first message is not a QMP greeting.
    #[error("not a QMP greeting: {0}")]
    Greeting(String),
    /// `qmp_capabilities` was refused.
    #[error("capabilities negotiation failed: {0}")]
    Negotiation(Error),
    /// No answer in time (the answer, if it comes, is dropped).
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The greeting or the answer to `qmp_capabilities` did not come in
    /// time; says which.
    #[error("no {waited_for} within {after:?}")]
    HandshakeTimeout {
        /// What did not come.
        waited_for: &'static str,
        /// How long the client waited.
        after: Duration,
    },
    /// The connection is closed (by the peer, or by
    /// [`Client::into_inner`]).
    #[error("the connection is closed")]
    Closed,
    /// `exec-oob` without the `oob` capability negotiated.
    #[error("out-of-band execution was not negotiated")]
    NoOob,
}

impl ClientError {
    /// The QMP error, when the server sent one.
    pub fn qmp(&self) -> Option<&Error> {
        match self {
            ClientError::Qmp(e) | ClientError::Negotiation(e) => Some(e),
            _ => None,
        }
    }

    /// The QMP error class, when the server sent an error.
    pub fn class(&self) -> Option<ErrorClass> {
        self.qmp().map(|e| e.class)
    }
}

/// The server's greeting.
#[derive(Debug, Clone, PartialEq)]
pub struct Greeting {
    /// `version`, when it has the usual form.
    pub version: Option<VersionInfo>,
    /// `capabilities` offered.
    pub capabilities: Vec<String>,
    /// The whole `QMP` member as sent.
    pub raw: Value,
}

/// How a client connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Ask for out-of-band execution when the server offers it.
    pub oob: bool,
    /// Default limit on waiting for an answer (`None`: wait as long as
    /// the connection lives).
    pub timeout: Option<Duration>,
    /// Limit on the greeting and negotiation.
    pub handshake_timeout: Option<Duration>,
    /// Events kept per stream not yet read; past that the oldest are
    /// dropped and the stream reports how many ([`EventsLost`]).
    pub event_queue: usize,
    /// Limits on one message from the server.
    pub limits: Limits,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            oob: true,
            timeout: None,
            handshake_timeout: Some(Duration::from_secs(30)),
            event_queue: 1024,
            limits: Limits::default(),
        }
    }
}

/// An event as received: its name, data and time, whether or not this
/// build knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    /// The event's name.
    pub event: String,
    /// Its `data` member.
    pub data: Option<Value>,
    /// Its `timestamp`, when well formed.
    pub timestamp: Option<Timestamp>,
}

/// An event read into a schema's event type.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded<E> {
    /// One of the schema's events.
    Known(E),
    /// An event the schema does not have (a newer server's): only the
    /// raw form exists.
    Unknown,
    /// One of the schema's events whose data does not fit it.
    Invalid(InputError),
}

impl RawEvent {
    fn from_message(mut m: Map<String, Value>) -> Option<RawEvent> {
        let Some(Value::String(event)) = m.remove("event") else {
            return None;
        };
        let timestamp = m.get("timestamp").and_then(|t| {
            Some(Timestamp {
                seconds: t.get("seconds")?.as_i64()?,
                microseconds: t.get("microseconds")?.as_i64()?,
            })
        });
        Some(RawEvent {
            event,
            data: m.remove("data"),
            timestamp,
        })
    }

    /// Reads this event as one of `E`'s (a generated `events::Event`).
    pub fn decode<E: Event>(&self) -> Decoded<E> {
        let mut input = Input::new().with_role(Role::Client);
        match E::parse(&self.event, self.data.clone(), &mut input) {
            None => Decoded::Unknown,
            Some(Ok(e)) => Decoded::Known(e),
            Some(Err(e)) => Decoded::Invalid(e),
        }
    }
}

/// Events a stream dropped because it was not read fast enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} events lost: the event stream was not read in time")]
pub struct EventsLost(pub u64);

#[derive(Debug)]
struct QueueState {
    items: VecDeque<RawEvent>,
    lost: u64,
    closed: bool,
    waker: Option<Waker>,
}

#[derive(Debug)]
struct EventQueue {
    state: Mutex<QueueState>,
    capacity: usize,
}

impl EventQueue {
    fn new(capacity: usize) -> Arc<Self> {
        Arc::new(EventQueue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                lost: 0,
                closed: false,
                waker: None,
            }),
            capacity: capacity.max(1),
        })
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, e: RawEvent) {
        let mut s = self.lock();
        if s.items.len() >= self.capacity {
            s.items.pop_front();
            s.lost += 1;
        }
        s.items.push_back(e);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }

    fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

/// The events of a connection, in order: a [`futures_core::Stream`], or
/// read with [`EventStream::next`]. Each stream sees the events that
/// arrive while it exists (the first stream taken from a client also
/// those since negotiation). An item is an error when events were
/// dropped because the stream was not read in time.
#[derive(Debug)]
pub struct EventStream {
    queue: Arc<EventQueue>,
}

impl EventStream {
    /// The next event; `None` once the connection is closed and every
    /// event was read.
    pub async fn next(&mut self) -> Option<Result<RawEvent, EventsLost>> {
        std::future::poll_fn(|cx| self.poll(cx)).await
    }

    /// An event already received, without waiting.
    pub fn try_next(&mut self) -> Option<Result<RawEvent, EventsLost>> {
        let mut s = self.queue.lock();
        if s.lost > 0 {
            let n = std::mem::take(&mut s.lost);
            return Some(Err(EventsLost(n)));
        }
        s.items.pop_front().map(Ok)
    }

    /// The next event whose name is `name` (others are skipped), with a
    /// time limit.
    pub async fn wait_for(&mut self, name: &str, timeout: Duration) -> Option<RawEvent> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.next()).await {
                Ok(Some(Ok(e))) if e.event == name => return Some(e),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<Option<Result<RawEvent, EventsLost>>> {
        let mut s = self.queue.lock();
        if s.lost > 0 {
            let n = std::mem::take(&mut s.lost);
            return Poll::Ready(Some(Err(EventsLost(n))));
        }
        if let Some(e) = s.items.pop_front() {
            return Poll::Ready(Some(Ok(e)));
        }
        if s.closed {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl futures_core::Stream for EventStream {
    type Item = Result<RawEvent, EventsLost>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll(cx)
    }
}

type Reply = Result<Value, Error>;

#[derive(Debug, Default)]
struct Pending {
    waiting: BTreeMap<u64, (oneshot::Sender<Reply>, bool)>,
    closed: bool,
}

#[derive(Debug, Default)]
struct Events {
    first: Option<Arc<EventQueue>>,
    streams: Vec<Weak<EventQueue>>,
    closed: bool,
}

struct Inner<S> {
    /// Whole requests for the writing task: a request is queued whole or
    /// not at all, so a caller that gives up (a dropped future, a
    /// timeout) never leaves half a request on the wire.
    requests: mpsc::Sender<Vec<u8>>,
    writer: Mutex<Option<JoinHandle<Option<WriteHalf<S>>>>>,
    pending: Mutex<Pending>,
    events: Mutex<Events>,
    event_queue: usize,
    next_id: AtomicU64,
    greeting: Greeting,
    oob: bool,
    timeout: Option<Duration>,
    stop: watch::Sender<bool>,
    reader: Mutex<Option<JoinHandle<ReadHalf<S>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An asynchronous QMP client. Clones share the connection.
pub struct Client<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Client<S> {
    fn clone(&self) -> Self {
        Client {
            inner: self.inner.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("greeting", &self.inner.greeting)
            .field("oob", &self.inner.oob)
            .finish_non_exhaustive()
    }
}

impl Client<UnixStream> {
    /// Connects to a unix socket and negotiates.
    pub async fn connect_unix(
        path: impl AsRef<Path>,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let s = UnixStream::connect(path).await?;
        Client::handshake(s, options).await
    }
}

impl Client<UnixStream> {
    /// Waits for a QMP server to connect to `listener` (QEMU started with
    /// `-qmp unix:PATH,server=off` connects out to `PATH`), then reads its
    /// greeting and negotiates. [`ClientOptions::handshake_timeout`]
    /// limits the wait for the connection too.
    pub async fn accept_unix(
        listener: &tokio::net::UnixListener,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let accepted = within(options.handshake_timeout, "incoming connection", async {
            Ok(listener.accept().await?)
        });
        let (stream, _) = accepted.await?;
        Client::handshake(stream, options).await
    }
}

impl Client<TcpStream> {
    /// [`Client::accept_unix`] over TCP (`-qmp tcp:HOST:PORT,server=off`).
    pub async fn accept_tcp(
        listener: &tokio::net::TcpListener,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let accepted = within(options.handshake_timeout, "incoming connection", async {
            Ok(listener.accept().await?)
        });
        let (stream, _) = accepted.await?;
        let _ = stream.set_nodelay(true);
        Client::handshake(stream, options).await
    }
}

/// `work`, failing with [`ClientError::HandshakeTimeout`] naming
/// `waited_for` if it takes longer than `limit`.
async fn within<T>(
    limit: Option<Duration>,
    waited_for: &'static str,
    work: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    match limit {
        Some(after) => tokio::time::timeout(after, work)
            .await
            .map_err(|_| ClientError::HandshakeTimeout { waited_for, after })?,
        None => work.await,
    }
}

impl Client<TcpStream> {
    /// Connects over TCP and negotiates.
    pub async fn connect_tcp(
        addr: impl tokio::net::ToSocketAddrs,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let s = TcpStream::connect(addr).await?;
        let _ = s.set_nodelay(true);
        Client::handshake(s, options).await
    }
}

/// Reads messages until `want` accepts one; the rest (events before
/// negotiation cannot happen, QEMU sends none) are dropped.
async fn read_until<R: AsyncRead + Unpin>(
    reader: &mut R,
    streamer: &mut Streamer,
    queued: &mut VecDeque<Value>,
    mut want: impl FnMut(&Value) -> bool,
) -> Result<Value, ClientError> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::new();
    loop {
        while let Some(v) = queued.pop_front() {
            if want(&v) {
                return Ok(v);
            }
        }
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Err(ClientError::Closed);
        }
        streamer.feed(&buf[..n], &mut out);
        queued.extend(out.drain(..).filter_map(Result::ok));
        // A peer that talks without answering gets no unbounded queue.
        while queued.len() > 1024 {
            queued.pop_front();
        }
    }
}

impl<S> Client<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Reads the greeting from `stream`, negotiates (`oob` when asked and
    /// offered) and starts reading answers and events.
    pub async fn handshake(stream: S, options: ClientOptions) -> Result<Self, ClientError> {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut streamer = Streamer::new(options.limits);
        let mut queued = VecDeque::new();
        let mut waiting_for = "QMP greeting (QEMU's guest agent sends none: use qmp::GuestAgent)";
        let work = async {
            let greeting = read_until(&mut reader, &mut streamer, &mut queued, |_| true).await?;
            waiting_for = "answer to qmp_capabilities";
            let raw = greeting
                .get("QMP")
                .cloned()
                .ok_or_else(|| ClientError::Greeting(greeting.to_string()))?;
            let capabilities: Vec<String> = raw
                .get("capabilities")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let version = raw.get("version").and_then(VersionInfo::from_value);
            let oob = options.oob && capabilities.iter().any(|c| c == "oob");
            let mut line = Vec::new();
            let request = if oob {
                json!({"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": 0})
            } else {
                json!({"execute": "qmp_capabilities", "id": 0})
            };
            write_value(&mut line, &request);
            line.push(b'\n');
            writer.write_all(&line).await?;
            let answer = read_until(&mut reader, &mut streamer, &mut queued, |v| {
                v.get("return").is_some() || v.get("error").is_some()
            })
            .await?;
            if let Some(e) = answer.get("error") {
                return Err(ClientError::Negotiation(error_from(e)));
            }
            Ok((
                Greeting {
                    version,
                    capabilities,
                    raw,
                },
                oob,
            ))
        };
        let (greeting, oob) = match options.handshake_timeout {
            Some(t) => {
                let done = tokio::time::timeout(t, work).await;
                done.map_err(|_| ClientError::HandshakeTimeout {
                    waited_for: waiting_for,
                    after: t,
                })??
            }
            None => work.await?,
        };
        let (stop, stop_rx) = watch::channel(false);
        let (requests, requests_rx) = mpsc::channel(1024);
        let first = EventQueue::new(options.event_queue);
        let inner = Arc::new(Inner {
            requests,
            writer: Mutex::new(None),
            pending: Mutex::new(Pending::default()),
            events: Mutex::new(Events {
                first: Some(first.clone()),
                streams: vec![Arc::downgrade(&first)],
                closed: false,
            }),
            event_queue: options.event_queue,
            next_id: AtomicU64::new(1),
            greeting,
            oob,
            timeout: options.timeout,
            stop,
            reader: Mutex::new(None),
        });
        // Whatever came after the negotiation's answer (events) first.
        for v in queued {
            dispatch(&inner, v);
        }
        let task = tokio::spawn(read_loop(
            Arc::downgrade(&inner),
            reader,
            streamer,
            stop_rx.clone(),
        ));
        *lock(&inner.reader) = Some(task);
        let task = tokio::spawn(write_loop(
            Arc::downgrade(&inner),
            writer,
            requests_rx,
            stop_rx,
        ));
        *lock(&inner.writer) = Some(task);
        Ok(Client { inner })
    }

    /// The server's greeting.
    pub fn greeting(&self) -> &Greeting {
        &self.inner.greeting
    }

    /// Whether out-of-band execution was negotiated.
    pub fn oob(&self) -> bool {
        self.inner.oob
    }

    /// A stream of the events received from now on (the first call: since
    /// negotiation).
    pub fn events(&self) -> EventStream {
        let mut ev = lock(&self.inner.events);
        if let Some(first) = ev.first.take() {
            return EventStream { queue: first };
        }
        let queue = EventQueue::new(self.inner.event_queue);
        if ev.closed {
            queue.close();
        }
        ev.streams.retain(|w| w.strong_count() > 0);
        ev.streams.push(Arc::downgrade(&queue));
        EventStream { queue }
    }

    /// Runs a command and reads its answer into the command's return
    /// type.
    pub async fn execute<C: Command>(&self, command: &C) -> Result<C::Returns, ClientError> {
        self.typed(command, false, self.inner.timeout).await
    }

    /// [`Client::execute`] with a time limit.
    pub async fn execute_timeout<C: Command>(
        &self,
        command: &C,
        timeout: Duration,
    ) -> Result<C::Returns, ClientError> {
        self.typed(command, false, Some(timeout)).await
    }

    /// Runs a command out of band (`exec-oob`): answered as soon as the
    /// server reads it, ahead of in-band commands still running.
    pub async fn execute_oob<C: Command>(&self, command: &C) -> Result<C::Returns, ClientError> {
        self.typed(command, true, self.inner.timeout).await
    }

    async fn typed<C: Command>(
        &self,
        command: &C,
        oob: bool,
        timeout: Option<Duration>,
    ) -> Result<C::Returns, ClientError> {
        let arguments = command.arguments(&Output::new());
        let wait = C::info().success_response;
        let value = self.call(C::NAME, arguments, oob, timeout, wait).await?;
        Input::new()
            .with_role(Role::Client)
            .read::<C::Returns>(value)
            .map_err(ClientError::Decode)
    }

    /// Runs a command given by name with JSON arguments; the answer as
    /// JSON.
    pub async fn execute_raw(
        &self,
        name: &str,
        arguments: Option<Value>,
    ) -> Result<Value, ClientError> {
        self.call(name, arguments, false, self.inner.timeout, true)
            .await
    }

    /// [`Client::execute_raw`] out of band.
    pub async fn execute_raw_oob(
        &self,
        name: &str,
        arguments: Option<Value>,
    ) -> Result<Value, ClientError> {
        self.call(name, arguments, true, self.inner.timeout, true)
            .await
    }

    async fn call(
        &self,
        name: &str,
        arguments: Option<Value>,
        oob: bool,
        timeout: Option<Duration>,
        wait: bool,
    ) -> Result<Value, ClientError> {
        if oob && !self.inner.oob {
            return Err(ClientError::NoOob);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut request = Map::new();
        request.insert(
            (if oob { "exec-oob" } else { "execute" }).into(),
            Value::String(name.to_owned()),
        );
        if let Some(a) = arguments {
            request.insert("arguments".into(), a);
        }
        request.insert("id".into(), Value::from(id));
        let mut line = Vec::with_capacity(64);
        write_value(&mut line, &Value::Object(request));
        line.push(b'\n');

        let rx = if wait {
            let (tx, rx) = oneshot::channel();
            let mut p = lock(&self.inner.pending);
            if p.closed {
                return Err(ClientError::Closed);
            }
            p.waiting.insert(id, (tx, oob));
            Some(rx)
        } else {
            None
        };
        if self.inner.requests.send(line).await.is_err() {
            lock(&self.inner.pending).waiting.remove(&id);
            return Err(ClientError::Closed);
        }
        let Some(rx) = rx else {
            // `success-response: false`: no answer comes on success.
            return Ok(json!({}));
        };
        let answer = match timeout {
            Some(t) => match tokio::time::timeout(t, rx).await {
                Ok(a) => a,
                Err(_) => {
                    lock(&self.inner.pending).waiting.remove(&id);
                    return Err(ClientError::Timeout(t));
                }
            },
            None => rx.await,
        };
        match answer {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ClientError::Qmp(e)),
            Err(_) => Err(ClientError::Closed),
        }
    }

    /// Commands sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.pending).waiting.len()
    }

    /// Stops reading and gives the stream back (when this is the last
    /// clone; other clones then fail with [`ClientError::Closed`]).
    /// Commands in flight fail with `Closed`; a request being written is
    /// finished first, so the stream is handed back between requests;
    /// bytes of a message partly received are lost.
    pub async fn into_inner(self) -> Result<S, ClientError> {
        self.inner.stop.send_replace(true);
        let task = lock(&self.inner.reader).take();
        let reader = match task {
            Some(t) => t.await.map_err(|_| ClientError::Closed)?,
            None => return Err(ClientError::Closed),
        };
        let task = lock(&self.inner.writer).take();
        let writer = match task {
            Some(t) => t.await.ok().flatten().ok_or(ClientError::Closed)?,
            None => return Err(ClientError::Closed),
        };
        close_all(&self.inner);
        Ok(reader.unsplit(writer))
    }
}

fn error_from(e: &Value) -> Error {
    Error::new(
        ErrorClass::from_wire(
            e.get("class")
                .and_then(Value::as_str)
                .unwrap_or("GenericError"),
        ),
        e.get("desc").and_then(Value::as_str).unwrap_or_default(),
    )
}

/// Routes one message from the server.
fn dispatch<S>(inner: &Inner<S>, v: Value) {
    let Value::Object(mut m) = v else { return };
    if m.contains_key("event") {
        if let Some(e) = RawEvent::from_message(m) {
            let mut ev = lock(&inner.events);
            ev.streams.retain(|w| match w.upgrade() {
                Some(q) => {
                    q.push(e.clone());
                    true
                }
                None => false,
            });
        }
        return;
    }
    let reply = if let Some(r) = m.remove("return") {
        Ok(r)
    } else if let Some(e) = m.get("error") {
        Err(error_from(e))
    } else {
        return;
    };
    let mut p = lock(&inner.pending);
    let sender = match m.get("id") {
        Some(id) => id.as_u64().and_then(|id| p.waiting.remove(&id)),
        // QEMU answers a request it could not read (bad JSON) without an
        // id, in order with in-band requests: the oldest one's.
        None => {
            let oldest = p
                .waiting
                .iter()
                .find(|(_, (_, oob))| !oob)
                .map(|(id, _)| *id);
            oldest.and_then(|id| p.waiting.remove(&id))
        }
    };
    drop(p);
    if let Some((tx, _)) = sender {
        let _ = tx.send(reply);
    }
}

fn close_all<S>(inner: &Inner<S>) {
    let waiting = {
        let mut p = lock(&inner.pending);
        p.closed = true;
        std::mem::take(&mut p.waiting)
    };
    drop(waiting); // the senders' drop fails each caller with `Closed`
    let mut ev = lock(&inner.events);
    ev.closed = true;
    if let Some(f) = &ev.first {
        f.close();
    }
    for q in ev.streams.iter().filter_map(Weak::upgrade) {
        q.close();
    }
}

async fn read_loop<S: AsyncRead>(
    inner: Weak<Inner<S>>,
    mut reader: ReadHalf<S>,
    mut streamer: Streamer,
    mut stop: watch::Receiver<bool>,
) -> ReadHalf<S> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = tokio::select! {
            r = reader.read(&mut buf) => match r {
                Ok(n) if n > 0 => n,
                _ => break,
            },
            _ = stop.wait_for(|s| *s) => return reader,
        };
        streamer.feed(&buf[..n], &mut out);
        let Some(inner) = inner.upgrade() else {
            return reader;
        };
        for v in out.drain(..).filter_map(Result::ok) {
            dispatch(&inner, v);
        }
    }
    if let Some(inner) = inner.upgrade() {
        close_all(&inner);
    }
    reader
}

/// Writes queued requests, several at a time when they pile up. Gives
/// the write half back when stopped; `None` after a write error, which
/// closes the client (no answer can come to what was not sent).
async fn write_loop<S: AsyncWrite>(
    inner: Weak<Inner<S>>,
    mut writer: WriteHalf<S>,
    mut requests: mpsc::Receiver<Vec<u8>>,
    mut stop: watch::Receiver<bool>,
) -> Option<WriteHalf<S>> {
    let mut buf = Vec::new();
    loop {
        let first = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Some(writer),
            r = requests.recv() => match r {
                Some(line) => line,
                None => return Some(writer),
            },
        };
        buf.clear();
        buf.extend_from_slice(&first);
        while buf.len() < 64 * 1024 {
            match requests.try_recv() {
                Ok(line) => buf.extend_from_slice(&line),
                Err(_) => break,
            }
        }
        // Not interrupted by a stop: the stream is only ever handed back
        // between whole requests.
        if writer.write_all(&buf).await.is_err() {
            if let Some(inner) = inner.upgrade() {
                close_all(&inner);
            }
            return None;
        }
    }
}

impl<S> Drop for Inner<S> {
    fn drop(&mut self) {
        // The last clone is gone: stop the reading task.
        self.stop.send_replace(true);
    }
}
