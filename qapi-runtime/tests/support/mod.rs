//! What the QMP tests share: the two services (QEMU 9.0's net.json in
//! memory, and the demo schema of `qapi-generated-tests` with a slow
//! command, an out-of-band one and events), a server on a fresh unix
//! socket, and a raw line client that sees exactly what the server
//! writes.
#![allow(dead_code)]

#[path = "../../examples/support/net_memory.rs"]
pub mod net_memory;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use qapi_generated_tests::server as demo;
use qapi_runtime::qmp::json::Streamer;
use qapi_runtime::qmp::{Config, Listener, Server, ServerHandle, Service};
use qapi_runtime::{CommandInfo, Error, Input, Output, Value};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// The demo schema's commands, asynchronously: `draw` sleeps `scale`
/// seconds (to have a command in flight), `add-figure` emits
/// `FIGURE_ADDED`.
#[derive(Default)]
pub struct Canvas {
    pub figures: Mutex<Vec<demo::Figure>>,
    /// The server's handle, given when the server makes the service
    /// (`Server::build`).
    pub events: Option<ServerHandle>,
    /// `draw` calls that ran to the end.
    pub drawn: std::sync::atomic::AtomicUsize,
}

#[allow(deprecated)]
impl demo::commands::AsyncCommands for Canvas {
    async fn draw(&self, shape: demo::Shape, scale: Option<f64>) -> Result<demo::Point, Error> {
        if let Some(s) = scale.filter(|s| *s > 0.0) {
            tokio::time::sleep(Duration::from_secs_f64(s.min(10.0))).await;
        }
        self.drawn.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(demo::Point {
            x: shape.points.len() as i8,
            y: 0,
            label: Some(shape.name),
            weight: scale,
            size: None,
        })
    }

    async fn x_exp(&self, _v: i64) -> Result<(), Error> {
        Ok(())
    }

    async fn send_signal(&self, _arguments: demo::Signal) -> Result<(), Error> {
        Ok(())
    }

    async fn add_figure(&self, arguments: demo::Figure) -> Result<(), Error> {
        let mut f = self.figures.lock().unwrap();
        if f.iter().any(|x| x.id == arguments.id) {
            return Err(Error::generic(format!(
                "Duplicate ID '{}' for figure",
                arguments.id
            )));
        }
        let kind = arguments.kind.tag();
        let id = arguments.id.clone();
        f.push(arguments);
        drop(f);
        if let Some(h) = &self.events {
            h.emit(&demo::events::Event::FigureAdded(
                demo::events::FigureAdded { id, kind },
            ));
        }
        Ok(())
    }

    async fn query_figures(&self) -> Result<Vec<demo::Figure>, Error> {
        Ok(self.figures.lock().unwrap().clone())
    }

    async fn old_cmd(&self) -> Result<(), Error> {
        Ok(())
    }

    async fn fire_and_forget(&self) -> Result<(), Error> {
        Ok(())
    }

    async fn cond_args(&self, _arguments: demo::CondArgs) -> Result<(), Error> {
        Ok(())
    }

    async fn with_old_member(&self, _old: Option<i64>, _new: Option<i64>) -> Result<(), Error> {
        Ok(())
    }
}

/// The demo service.
#[derive(Default, Clone)]
pub struct DemoService(pub Arc<Canvas>);

impl Service for DemoService {
    fn commands(&self) -> &'static [CommandInfo] {
        demo::commands::COMMANDS
    }

    async fn dispatch(
        &self,
        name: &str,
        arguments: Option<Value>,
        input: &mut Input,
        out: &Output,
    ) -> Option<Result<Value, Error>> {
        demo::commands::dispatch_async(&*self.0, name, arguments, input, out).await
    }

    fn schema(&self) -> Option<String> {
        Some(demo::introspection::qmp_schema_json())
    }
}

/// A server listening on a fresh unix socket.
pub struct Running<S> {
    pub server: Server<S>,
    pub handle: ServerHandle,
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl<S> Drop for Running<S> {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

pub async fn start<S: Service>(service: S, config: Config) -> Running<S> {
    start_built(config, |_| service).await
}

/// A server whose service is made with the server's handle in hand.
pub async fn start_built<S: Service>(
    config: Config,
    make_service: impl FnOnce(&ServerHandle) -> S,
) -> Running<S> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qmp.sock");
    let server = Server::build(config, make_service);
    let listener = Listener::bind(&qapi_runtime::qmp::Address::Unix(path.clone()))
        .await
        .unwrap();
    let s = server.clone();
    tokio::spawn(async move { s.serve(listener).await });
    Running {
        handle: server.handle(),
        server,
        path,
        _dir: dir,
    }
}

/// The demo service on a server, its handlers emitting events through
/// the handle the server gave it.
pub async fn start_demo(config: Config) -> Running<DemoService> {
    start_built(config, |handle| {
        DemoService(Arc::new(Canvas {
            events: Some(handle.clone()),
            ..Canvas::default()
        }))
    })
    .await
}

/// A client that writes bytes and reads messages, nothing more.
pub struct Raw {
    pub stream: UnixStream,
    streamer: Streamer,
    queued: std::collections::VecDeque<Value>,
    pub greeting: Value,
}

pub const WAIT: Duration = Duration::from_secs(5);

impl Raw {
    pub async fn connect(path: &std::path::Path) -> Raw {
        let stream = UnixStream::connect(path).await.unwrap();
        let mut raw = Raw {
            stream,
            streamer: Streamer::default(),
            queued: Default::default(),
            greeting: Value::Null,
        };
        raw.greeting = raw.recv().await.expect("a greeting");
        raw
    }

    /// Connects and negotiates (with `oob` if asked).
    pub async fn negotiated(path: &std::path::Path, oob: bool) -> Raw {
        let mut raw = Raw::connect(path).await;
        let args = if oob {
            json!({"enable": ["oob"]})
        } else {
            json!({})
        };
        raw.send_json(&json!({"execute": "qmp_capabilities", "arguments": args}))
            .await;
        assert_eq!(raw.recv().await, Some(json!({"return": {}})));
        raw
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    pub async fn send_json(&mut self, v: &Value) {
        let mut line = serde_json::to_vec(v).unwrap();
        line.push(b'\n');
        self.send(&line).await;
    }

    /// The next message, or `None` at the end of the connection or
    /// after [`WAIT`] without one.
    pub async fn recv(&mut self) -> Option<Value> {
        self.recv_within(WAIT).await
    }

    pub async fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        let mut buf = [0u8; 4096];
        let mut out = Vec::new();
        loop {
            if let Some(v) = self.queued.pop_front() {
                return Some(v);
            }
            let n = match tokio::time::timeout(wait, self.stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => return None,
            };
            self.streamer.feed(&buf[..n], &mut out);
            self.queued.extend(
                out.drain(..)
                    .map(|r| r.expect("the server writes valid JSON")),
            );
        }
    }

    /// Sends a request and reads the next message.
    pub async fn call(&mut self, v: Value) -> Value {
        self.send_json(&v).await;
        self.recv().await.expect("an answer")
    }
}

/// The `desc` of an error answer.
pub fn desc(v: &Value) -> &str {
    v["error"]["desc"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {v}"))
}

/// The `class` of an error answer.
pub fn class(v: &Value) -> &str {
    v["error"]["class"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {v}"))
}

/// Waits until the server counts `n` clients.
pub async fn wait_clients(handle: &ServerHandle, n: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while handle.clients() != n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} clients, expected {n}",
            handle.clients()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
