//! The QMP server: QEMU's monitor protocol over unix sockets, TCP or any
//! byte stream, for any schema's generated code.
//!
//! # How a connection runs
//!
//! Each connection is one task that reads and writes, plus one task that
//! runs its in-band commands in order, as QEMU's monitor:
//!
//! * the greeting goes out at once; until `qmp_capabilities` succeeds only
//!   that command is accepted (anything else gets QEMU's `CommandNotFound`
//!   "Expecting capabilities negotiation with 'qmp_capabilities'");
//! * bytes are cut into messages by QEMU's JSON rules ([`super::json`]);
//!   a malformed message gets QEMU's error and the next one is read;
//! * an `exec-oob` request runs as soon as it is read, ahead of queued
//!   in-band requests (QEMU's `qmp_is_oob`); it must have been negotiated
//!   and the command must allow it;
//! * in-band requests are queued (at most [`Config::queue`], QEMU's
//!   `QMP_REQ_QUEUE_LEN_MAX`) and answered in order; while the queue is
//!   full the connection is not read, so a client that floods it slows
//!   itself down and nobody else;
//! * events go to every client past negotiation, through one shared ring
//!   of [`Config::event_backlog`] messages: a client that falls that far
//!   behind (it does not read) is disconnected rather than let the server
//!   hold an unbounded queue or lose events silently;
//! * when a client goes away, the command it is running finishes (its
//!   side effects are not cut in half) and the queued ones are dropped,
//!   as QEMU does when out-of-band is on; without out-of-band QEMU reads
//!   one command at a time, so what was sent before the end is answered.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{broadcast, mpsc, watch, Semaphore};

use super::fds::{FdReader, NamedFds, Received};
use super::json::{JsonError, Limits, Streamer};
use super::wire::{self, Request, VersionInfo};
use crate::api::{CommandInfo, Event};
use crate::error::{Error, ErrorClass};
use crate::event::{Emitter, Timestamp};
use crate::input::{Input, InputError};
use crate::output::Output;
use crate::policy::CompatPolicy;

/// What a server serves: the commands of a schema's generated code.
///
/// Implemented in a few lines with what the generator emits:
///
/// ```ignore
/// struct Net(std::sync::Mutex<MyNet>); // MyNet: commands::Commands
///
/// impl qapi_runtime::qmp::Service for Net {
///     fn commands(&self) -> &'static [CommandInfo] {
///         qapi::commands::COMMANDS
///     }
///     async fn dispatch(&self, name: &str, arguments: Option<Value>, input: &mut Input, out: &Output)
///         -> Option<Result<Value, Error>> {
///         qapi::commands::dispatch_async(&self.0, name, arguments, input, out).await
///     }
///     fn schema(&self) -> Option<String> {
///         Some(qapi::introspection::qmp_schema_json())
///     }
/// }
/// ```
///
/// The server itself answers `qmp_capabilities`, `query-commands`,
/// `query-version` (unless the service has its own: a schema that
/// includes QEMU's `control.json` generates it, with its `VersionInfo`
/// type, and then the service answers it and the greeting announces that
/// answer) and `query-qmp-schema` (and `getfd` and `closefd`
/// with [`Config::fd_passing`]), and checks the envelope,
/// negotiation, out-of-band use and the compat policy for commands
/// before calling [`Service::dispatch`].
pub trait Service: Send + Sync + 'static {
    /// Metadata of every command (the generated `commands::COMMANDS`);
    /// those with `enabled: false` do not exist for clients.
    fn commands(&self) -> &'static [CommandInfo];

    /// The metadata of the command `name`, if it exists (asked once per
    /// message; the generated `commands::command_info` answers with a
    /// `match`, which is what `QmpService` uses).
    fn command_info(&self, name: &str) -> Option<&'static CommandInfo> {
        self.commands().iter().find(|c| c.enabled && c.name == name)
    }

    /// Runs a command: the generated `commands::dispatch_async`. `None`
    /// means no such command (a `'gen': false` one the service does not
    /// handle itself), answered with `CommandNotFound`.
    fn dispatch(
        &self,
        name: &str,
        arguments: Option<Value>,
        input: &mut Input,
        out: &Output,
    ) -> impl Future<Output = Option<Result<Value, Error>>> + Send;

    /// The `query-qmp-schema` answer as JSON text (the generated
    /// `introspection::qmp_schema_json()`); `None` leaves the command out.
    fn schema(&self) -> Option<String> {
        None
    }
}

/// The commands every server answers itself.
pub const BUILTIN_COMMANDS: [&str; 4] = [
    "qmp_capabilities",
    "query-commands",
    "query-version",
    "query-qmp-schema",
];

/// The commands a server with [`Config::fd_passing`] answers itself.
pub const FD_COMMANDS: [&str; 2] = ["getfd", "closefd"];

/// How a server behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The greeting's and `query-version`'s answer when the service has
    /// no `query-version` of its own. The default claims no QEMU release
    /// (see [`VersionInfo::default`]).
    pub version: VersionInfo,
    /// Whether the `oob` capability is offered (QEMU offers it on socket
    /// monitors).
    pub oob: bool,
    /// The `-compat` policy for commands, arguments and events.
    pub policy: CompatPolicy,
    /// Limits on one message (QEMU's by default).
    pub limits: Limits,
    /// Clients served at once; more wait to be accepted.
    pub max_clients: usize,
    /// In-band requests queued per client (QEMU: 8).
    pub queue: usize,
    /// Events a client may fall behind before it is disconnected.
    pub event_backlog: usize,
    /// Descriptors passed over unix sockets (SCM_RIGHTS) are kept, and
    /// the server answers QEMU's `getfd` and `closefd` itself, keeping
    /// them in [`Server::named_fds`]. Off by default: the kernel then
    /// closes what clients send.
    pub fd_passing: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: VersionInfo::default(),
            oob: true,
            policy: CompatPolicy::default(),
            limits: Limits::default(),
            max_clients: 64,
            queue: 8,
            event_backlog: 1024,
            fd_passing: false,
        }
    }
}

/// Where a server listens or a client connects: `unix:PATH`,
/// `tcp:HOST:PORT`, or `tcp::PORT` / `tcp:PORT` for the loopback address
/// (a server is not exposed to the network unless a host says so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
}

/// A string that is not an [`Address`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address '{0}': expected unix:PATH, tcp:HOST:PORT or tcp::PORT")]
pub struct AddressError(pub String);

impl std::str::FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, AddressError> {
        let bad = || AddressError(s.to_owned());
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(bad());
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        let rest = s.strip_prefix("tcp:").ok_or_else(bad)?;
        let rest = rest.strip_prefix(':').unwrap_or(rest);
        if let Ok(port) = rest.parse::<u16>() {
            return Ok(Address::Tcp(SocketAddr::from(([127, 0, 0, 1], port))));
        }
        let addr = std::net::ToSocketAddrs::to_socket_addrs(rest)
            .map_err(|_| bad())?
            .next()
            .ok_or_else(bad)?;
        Ok(Address::Tcp(addr))
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "unix:{}", p.display()),
            Address::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// A bound listening socket.
#[derive(Debug)]
pub enum Listener {
    /// A unix socket.
    Unix(UnixListener),
    /// A TCP socket.
    Tcp(TcpListener),
}

impl Listener {
    /// Binds `address`. A unix socket file left by an earlier server is
    /// replaced, as QEMU does.
    pub async fn bind(address: &Address) -> io::Result<Listener> {
        match address {
            Address::Unix(path) => {
                remove_stale_socket(path);
                Ok(Listener::Unix(UnixListener::bind(path)?))
            }
            Address::Tcp(addr) => Ok(Listener::Tcp(TcpListener::bind(addr).await?)),
        }
    }

    /// The address bound (with the port chosen when it was 0).
    pub fn local_address(&self) -> io::Result<Address> {
        match self {
            Listener::Unix(l) => {
                let a = l.local_addr()?;
                let p = a.as_pathname().map(Path::to_path_buf).unwrap_or_default();
                Ok(Address::Unix(p))
            }
            Listener::Tcp(l) => Ok(Address::Tcp(l.local_addr()?)),
        }
    }
}

fn remove_stale_socket(path: &Path) {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What every connection shares with the server, whatever the service.
#[derive(Debug)]
struct Hub {
    events: broadcast::Sender<Arc<[u8]>>,
    shutdown: watch::Sender<bool>,
    clients: AtomicUsize,
    served: AtomicU64,
    output: Output,
}

/// A handle on a running server: emit events, count clients, stop it.
/// Cheap to clone, and usable from any thread.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    hub: Arc<Hub>,
}

impl ServerHandle {
    /// Sends `event`, stamped now, to every client past negotiation.
    /// Returns whether it was sent (not hidden by the compat policy).
    pub fn emit<E: Event>(&self, event: &E) -> bool {
        self.emit_at(event, Timestamp::now())
    }

    /// Sends `event` with a given timestamp.
    pub fn emit_at<E: Event>(&self, event: &E, timestamp: Timestamp) -> bool {
        let Some(message) = crate::event::message(event, timestamp, &self.hub.output) else {
            return false;
        };
        let mut line = Vec::with_capacity(128);
        wire::write_event(&mut line, &message);
        // No receiver is fine: no client is listening.
        let _ = self.hub.events.send(line.into());
        true
    }

    /// An [`Emitter`] that sends through this server (for code that
    /// emits events without knowing about QMP).
    pub fn emitter<E: Event + 'static>(&self) -> Emitter<E> {
        let handle = self.clone();
        Emitter::new(move |e: &E, ts| {
            handle.emit_at(e, ts);
        })
    }

    /// Clients connected now (a connection counts until its last
    /// command has finished).
    pub fn clients(&self) -> usize {
        self.hub.clients.load(Ordering::SeqCst)
    }

    /// Connections accepted since the start.
    pub fn connections_served(&self) -> u64 {
        self.hub.served.load(Ordering::SeqCst)
    }

    /// Stops accepting and closes every connection (commands running
    /// finish first).
    pub fn shutdown(&self) {
        self.hub.shutdown.send_replace(true);
    }
}

struct Shared<S> {
    service: S,
    config: Config,
    hub: Arc<Hub>,
    schema: OnceLock<Option<Value>>,
    slots: Arc<Semaphore>,
    named_fds: NamedFds,
}

impl<S: Service> Shared<S> {
    /// Whether `command` is one the server answers itself.
    fn is_builtin(&self, command: &str) -> bool {
        (BUILTIN_COMMANDS.contains(&command)
            && (command != "query-qmp-schema" || self.schema().is_some())
            && (command != "query-version" || !self.service_answers_version()))
            || (self.config.fd_passing && FD_COMMANDS.contains(&command))
    }

    /// Whether the service has its own `query-version` (the generated
    /// one of a schema that includes QEMU's `control.json`).
    fn service_answers_version(&self) -> bool {
        self.service.command_info("query-version").is_some()
    }

    /// What the greeting announces: the service's `query-version` answer
    /// when it has the command (QEMU's greeting is its `query-version`),
    /// else [`Config::version`].
    async fn version(&self) -> VersionInfo {
        if self.service_answers_version() {
            let output = Output::with_policy(self.config.policy);
            let mut input = Input::new().with_policy(self.config.policy);
            let answer = self
                .service
                .dispatch("query-version", Some(json!({})), &mut input, &output)
                .await;
            if let Some(version) = answer
                .and_then(Result::ok)
                .and_then(|v| VersionInfo::from_value(&v))
            {
                return version;
            }
        }
        self.config.version.clone()
    }

    /// The introspection data, read once (invalid JSON counts as none).
    fn schema(&self) -> Option<&Value> {
        self.schema
            .get_or_init(|| {
                self.service
                    .schema()
                    .and_then(|s| serde_json::from_str(&s).ok())
            })
            .as_ref()
    }
}

/// A QMP server for a [`Service`].
pub struct Server<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for Server<S> {
    fn clone(&self) -> Self {
        Server {
            shared: self.shared.clone(),
        }
    }
}

impl<S: Service> Server<S> {
    /// A server with the default [`Config`].
    pub fn new(service: S) -> Self {
        Self::with_config(service, Config::default())
    }

    /// A server with `config`.
    pub fn with_config(service: S, config: Config) -> Self {
        Self::build(config, |_| service)
    }

    /// A server with `config` whose service is made with the server's
    /// handle in hand, so that command handlers can emit events (keep
    /// [`ServerHandle::emitter`] or the handle in the service):
    ///
    /// ```ignore
    /// let server = Server::build(Config::default(), |handle| MyService {
    ///     events: handle.emitter(),
    ///     ..
    /// });
    /// ```
    pub fn build(config: Config, make_service: impl FnOnce(&ServerHandle) -> S) -> Self {
        let (events, _) = broadcast::channel(config.event_backlog.max(1));
        let (shutdown, _) = watch::channel(false);
        let hub = Arc::new(Hub {
            events,
            shutdown,
            clients: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            output: Output::with_policy(config.policy),
        });
        let slots = Arc::new(Semaphore::new(config.max_clients.max(1)));
        let service = make_service(&ServerHandle { hub: hub.clone() });
        Server {
            shared: Arc::new(Shared {
                service,
                config,
                hub,
                schema: OnceLock::new(),
                slots,
                named_fds: NamedFds::new(),
            }),
        }
    }

    /// The descriptors clients named with `getfd` (with
    /// [`Config::fd_passing`]); hand a clone to the service so that its
    /// commands can take them by name.
    pub fn named_fds(&self) -> NamedFds {
        self.shared.named_fds.clone()
    }

    /// The service.
    pub fn service(&self) -> &S {
        &self.shared.service
    }

    /// A handle to emit events and stop the server.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            hub: self.shared.hub.clone(),
        }
    }

    /// Accepts clients on `listener` until [`ServerHandle::shutdown`];
    /// each is served by a task of its own.
    pub async fn serve(&self, listener: Listener) -> io::Result<()> {
        let mut stop = self.shared.hub.shutdown.subscribe();
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let permit = tokio::select! {
                p = self.shared.slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return Ok(()),
                },
                _ = stop.changed() => return Ok(()),
            };
            let accepted = tokio::select! {
                r = accept(&listener) => r,
                _ = stop.changed() => return Ok(()),
            };
            match accepted {
                Ok(Accepted::Unix(s)) => {
                    let (r, w) = s.into_split();
                    if self.shared.config.fd_passing {
                        let received = Arc::new(Received::default());
                        let reader = FdReader::new(r, received.clone());
                        self.spawn(reader, w, received, permit);
                    } else {
                        self.spawn(r, w, Arc::default(), permit);
                    }
                }
                Ok(Accepted::Tcp(s)) => {
                    let _ = s.set_nodelay(true);
                    let (r, w) = s.into_split();
                    self.spawn(r, w, Arc::default(), permit);
                }
                // Out of descriptors, a connection reset before accept...:
                // not the listener's end; wait a little and go on.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// Binds `address` and serves it (see [`Server::serve`]).
    pub async fn serve_address(&self, address: &Address) -> io::Result<()> {
        let listener = Listener::bind(address).await?;
        self.serve(listener).await
    }

    fn spawn<R, W>(
        &self,
        reader: R,
        writer: W,
        received: Arc<Received>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let shared = self.shared.clone();
        tokio::spawn(async move {
            connection(shared, reader, writer, received).await;
            drop(permit);
        });
    }

    /// Serves one client over any byte stream (a socket pair, a pipe
    /// pair, stdio), returning when the connection ends.
    pub async fn serve_connection<IO>(&self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (r, w) = tokio::io::split(io);
        connection(self.shared.clone(), r, w, Arc::default()).await;
    }
}

enum Accepted {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

async fn accept(listener: &Listener) -> io::Result<Accepted> {
    match listener {
        Listener::Unix(l) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
        Listener::Tcp(l) => l.accept().await.map(|(s, _)| Accepted::Tcp(s)),
    }
}

/// The state of one client.
#[derive(Debug, Default)]
struct Client {
    /// Past `qmp_capabilities`.
    negotiated: AtomicBool,
    /// `oob` was enabled by `qmp_capabilities`.
    oob: AtomicBool,
    /// The client is gone and queued requests are to be dropped.
    drop_queue: AtomicBool,
    /// Descriptors the client sent (with [`Config::fd_passing`]).
    received: Arc<Received>,
}

/// What the reader and the command task hand the writer.
enum Outgoing {
    /// A complete line.
    Line(Vec<u8>),
    /// Negotiation is done: start sending events.
    Subscribe,
}

/// Counts a connection from its start to the end of its last command.
struct Counted(Arc<Hub>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn connection<S, R, W>(shared: Arc<Shared<S>>, reader: R, writer: W, received: Arc<Received>)
where
    S: Service,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    shared.hub.clients.fetch_add(1, Ordering::SeqCst);
    shared.hub.served.fetch_add(1, Ordering::SeqCst);
    let _counted = Counted(shared.hub.clone());
    let client = Arc::new(Client {
        received,
        ..Client::default()
    });
    // One flag ends the connection: the writer failed, the event ring
    // overflowed, or the server shuts down.
    let (close_tx, close_rx) = watch::channel(false);
    let close_tx = Arc::new(close_tx);
    let mut server_stop = shared.hub.shutdown.subscribe();
    {
        let close_tx = close_tx.clone();
        let mut close_rx = close_rx.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = server_stop.wait_for(|s| *s) => { close_tx.send_replace(true); }
                _ = close_rx.wait_for(|c| *c) => {}
            }
        });
    }

    let (out_tx, out_rx) = mpsc::channel::<Outgoing>(64);
    let (req_tx, req_rx) = mpsc::channel::<Result<Value, JsonError>>(shared.config.queue.max(1));

    let mut greeting = Vec::with_capacity(160);
    let caps: &[&str] = if shared.config.oob { &["oob"] } else { &[] };
    wire::write_greeting(&mut greeting, &shared.version().await, caps);
    let _ = out_tx.send(Outgoing::Line(greeting)).await;

    let commands = tokio::spawn(run_in_band(
        shared.clone(),
        client.clone(),
        req_rx,
        out_tx.clone(),
    ));
    let read = read_loop(
        shared.clone(),
        client.clone(),
        reader,
        req_tx,
        out_tx,
        close_rx.clone(),
    );
    let write = write_loop(
        shared.hub.clone(),
        shared.config.event_backlog.max(1),
        writer,
        out_rx,
        close_tx.clone(),
        close_rx,
    );
    tokio::join!(read, write);
    let _ = commands.await;
    close_tx.send_replace(true);
}

async fn read_loop<S: Service, R: AsyncRead + Unpin>(
    shared: Arc<Shared<S>>,
    client: Arc<Client>,
    mut reader: R,
    req_tx: mpsc::Sender<Result<Value, JsonError>>,
    out_tx: mpsc::Sender<Outgoing>,
    mut close: watch::Receiver<bool>,
) {
    let mut streamer = Streamer::new(shared.config.limits);
    let mut buf = vec![0u8; 64 * 1024];
    let mut messages = Vec::new();
    'read: loop {
        let n = tokio::select! {
            r = reader.read(&mut buf) => match r {
                Ok(0) | Err(_) => break 'read,
                Ok(n) => n,
            },
            _ = close.wait_for(|c| *c) => break 'read,
        };
        streamer.feed(&buf[..n], &mut messages);
        for message in messages.drain(..) {
            match message {
                Ok(m) if wire::is_oob(&m) => {
                    let answer = execute(&shared, &client, m).await;
                    if let Some(line) = answer {
                        if out_tx.send(Outgoing::Line(line)).await.is_err() {
                            break 'read;
                        }
                    }
                }
                other => {
                    let sent = tokio::select! {
                        r = req_tx.send(other) => r.is_ok(),
                        _ = close.wait_for(|c| *c) => false,
                    };
                    if !sent {
                        break 'read;
                    }
                }
            }
        }
    }
    // QEMU drops what is queued when the client goes; it only has a
    // queue when out-of-band is on.
    if client.oob.load(Ordering::SeqCst) {
        client.drop_queue.store(true, Ordering::SeqCst);
    }
}

async fn run_in_band<S: Service>(
    shared: Arc<Shared<S>>,
    client: Arc<Client>,
    mut requests: mpsc::Receiver<Result<Value, JsonError>>,
    out_tx: mpsc::Sender<Outgoing>,
) {
    while let Some(item) = requests.recv().await {
        if client.drop_queue.load(Ordering::SeqCst) {
            continue;
        }
        let was_negotiated = client.negotiated.load(Ordering::SeqCst);
        let answer = match item {
            Ok(message) => execute(&shared, &client, message).await,
            Err(e) => {
                let mut line = Vec::new();
                wire::write_response(&mut line, &Err(Error::generic(e.to_string())), None);
                Some(line)
            }
        };
        if let Some(line) = answer {
            if out_tx.send(Outgoing::Line(line)).await.is_err() {
                break;
            }
        }
        if !was_negotiated
            && client.negotiated.load(Ordering::SeqCst)
            && out_tx.send(Outgoing::Subscribe).await.is_err()
        {
            break;
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    hub: Arc<Hub>,
    backlog: usize,
    mut writer: W,
    mut out_rx: mpsc::Receiver<Outgoing>,
    close_tx: Arc<watch::Sender<bool>>,
    mut close: watch::Receiver<bool>,
) {
    let mut events: Option<broadcast::Receiver<Arc<[u8]>>> = None;
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    const BATCH: usize = 256 * 1024;
    'write: loop {
        tokio::select! {
            biased;
            _ = close.wait_for(|c| *c) => break 'write,
            m = out_rx.recv() => match m {
                None => break 'write,
                Some(Outgoing::Line(l)) => buf.extend_from_slice(&l),
                Some(Outgoing::Subscribe) => events = Some(hub.events.subscribe()),
            },
            e = next_event(&mut events) => match e {
                Ok(line) => buf.extend_from_slice(&line),
                Err(broadcast::error::RecvError::Lagged(_)) => break 'write,
                Err(broadcast::error::RecvError::Closed) => events = None,
            },
        }
        // Take whatever else is ready, answers and events alike (so a
        // stream of answers cannot starve the events), and write it in
        // one go.
        while buf.len() < BATCH {
            let mut progress = false;
            match out_rx.try_recv() {
                Ok(Outgoing::Line(l)) => {
                    buf.extend_from_slice(&l);
                    progress = true;
                }
                Ok(Outgoing::Subscribe) => {
                    events = Some(hub.events.subscribe());
                    progress = true;
                }
                Err(_) => {}
            }
            if let Some(rx) = events.as_mut() {
                match rx.try_recv() {
                    Ok(line) => {
                        buf.extend_from_slice(&line);
                        progress = true;
                    }
                    Err(broadcast::error::TryRecvError::Lagged(_)) => break 'write,
                    Err(_) => {}
                }
            }
            if !progress {
                break;
            }
        }
        // Written piece by piece, so that a client that does not read
        // is noticed falling behind on events while its write waits.
        let mut pos = 0;
        while pos < buf.len() {
            tokio::select! {
                biased;
                r = writer.write(&buf[pos..]) => match r {
                    Ok(n) if n > 0 => pos += n,
                    _ => break 'write,
                },
                _ = close.wait_for(|c| *c) => break 'write,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {
                    if events.as_ref().is_some_and(|rx| rx.len() >= backlog) {
                        break 'write;
                    }
                }
            }
        }
        buf.clear();
        if buf.capacity() > 4 * BATCH {
            buf.shrink_to(8 * 1024);
        }
    }
    let _ = writer.shutdown().await;
    close_tx.send_replace(true);
}

async fn next_event(
    events: &mut Option<broadcast::Receiver<Arc<[u8]>>>,
) -> Result<Arc<[u8]>, broadcast::error::RecvError> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs one message, QEMU's `qmp_dispatch`; `None` when nothing is to be
/// written (a `success-response: false` command that succeeded).
async fn execute<S: Service>(
    shared: &Shared<S>,
    client: &Client,
    message: Value,
) -> Option<Vec<u8>> {
    let negotiating = !client.negotiated.load(Ordering::SeqCst);
    let allow_oob = client.oob.load(Ordering::SeqCst);
    let (result, id) = match wire::check_request(message, allow_oob) {
        Err((e, id)) => (Some(Err(e)), id),
        Ok(request) => {
            let id = request.id.clone();
            let mut result = run(shared, client, negotiating, request).await;
            if negotiating {
                if let Some(Err(e)) = &mut result {
                    if e.class == ErrorClass::CommandNotFound {
                        *e = wire::expecting_negotiation();
                    }
                }
            }
            (result, id)
        }
    };
    let result = result?;
    let mut line = Vec::with_capacity(64);
    wire::write_response(&mut line, &result, id.as_ref());
    Some(line)
}

fn no_oob(name: &str) -> Error {
    Error::generic(format!("The command {name} does not support OOB"))
}

async fn run<S: Service>(
    shared: &Shared<S>,
    client: &Client,
    negotiating: bool,
    request: Request,
) -> Option<Result<Value, Error>> {
    let Request {
        command,
        arguments,
        oob,
        ..
    } = request;
    let config = &shared.config;
    let args = Value::Object(arguments.unwrap_or_default());
    if negotiating && command != "qmp_capabilities" {
        return Some(Err(Error::command_not_found(&command)));
    }
    if shared.is_builtin(&command) {
        if oob {
            return Some(Err(no_oob(&command)));
        }
        return Some(builtin(shared, client, negotiating, &command, args));
    }
    let Some(info) = shared.service.command_info(&command) else {
        return Some(Err(Error::command_not_found(&command)));
    };
    let mut input = Input::new().with_policy(config.policy);
    if let Err(e) = info.check_policy(&input) {
        return Some(Err(e));
    }
    if oob && !info.allow_oob {
        return Some(Err(no_oob(&command)));
    }
    let output = Output::with_policy(config.policy);
    match shared
        .service
        .dispatch(&command, Some(args), &mut input, &output)
        .await
    {
        None => Some(Err(Error::command_not_found(&command))),
        Some(Ok(_)) if !info.success_response => None,
        Some(r) => Some(r),
    }
}

/// An object with no members: "Parameter 'x' is unexpected" otherwise.
fn no_arguments(args: Value) -> Result<(), Error> {
    let mut input = Input::new();
    let object = input.start_struct(None, args)?;
    input.end_struct(object)?;
    Ok(())
}

fn builtin<S: Service>(
    shared: &Shared<S>,
    client: &Client,
    negotiating: bool,
    command: &str,
    args: Value,
) -> Result<Value, Error> {
    match command {
        "qmp_capabilities" => {
            let enable = capabilities_arguments(args)?;
            if !negotiating {
                return Err(Error::new(
                    ErrorClass::CommandNotFound,
                    "Capabilities negotiation is already complete, command ignored",
                ));
            }
            let oob = enable.iter().any(|c| c == "oob");
            if oob && !shared.config.oob {
                return Err(Error::generic("Capability oob not available"));
            }
            client.oob.store(oob, Ordering::SeqCst);
            client.negotiated.store(true, Ordering::SeqCst);
            Ok(json!({}))
        }
        "query-commands" => {
            no_arguments(args)?;
            let builtins = BUILTIN_COMMANDS
                .iter()
                .chain(&FD_COMMANDS)
                .filter(|c| shared.is_builtin(c))
                .copied();
            let own = shared
                .service
                .commands()
                .iter()
                .filter(|c| c.enabled)
                .map(|c| c.name);
            Ok(Value::Array(
                builtins.chain(own).map(|n| json!({ "name": n })).collect(),
            ))
        }
        "query-version" => {
            no_arguments(args)?;
            Ok(wire::qemu_ordered(shared.config.version.to_value()))
        }
        "query-qmp-schema" => {
            no_arguments(args)?;
            Ok(shared.schema().cloned().unwrap_or(Value::Null))
        }
        "getfd" => {
            let name = fdname_argument(args)?;
            let Some(fd) = client.received.take_first() else {
                return Err(Error::generic("No file descriptor supplied via SCM_RIGHTS"));
            };
            shared.named_fds.add(&name, fd)?;
            Ok(json!({}))
        }
        "closefd" => {
            let name = fdname_argument(args)?;
            shared.named_fds.close(&name)?;
            Ok(json!({}))
        }
        _ => Err(Error::command_not_found(command)),
    }
}

/// `getfd`'s and `closefd`'s arguments, `{'fdname': 'str'}`.
fn fdname_argument(args: Value) -> Result<String, InputError> {
    let mut input = Input::new();
    let mut object = input.start_struct(None, args)?;
    let name: String = input.member(&mut object, "fdname")?;
    input.end_struct(object)?;
    Ok(name)
}

/// `qmp_capabilities`' arguments, `{'*enable': ['QMPCapability']}`, read
/// with QEMU's rules and texts.
fn capabilities_arguments(args: Value) -> Result<Vec<String>, InputError> {
    let mut input = Input::new();
    let mut object = input.start_struct(None, args)?;
    let enable = input.optional_with(&mut object, "enable", |input, name, value| {
        input.list(name, value, |input, name, value| {
            let s = input.string(name, value)?;
            if s == "oob" {
                Ok(s)
            } else {
                Err(input.bad_enum_value(name, &s))
            }
        })
    })?;
    input.end_struct(object)?;
    Ok(enable.unwrap_or_default())
}
