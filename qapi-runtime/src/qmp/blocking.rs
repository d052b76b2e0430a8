//! A blocking QMP client, for programs without an async runtime: the
//! asynchronous [`Client`] driven by a private one-thread runtime, so
//! answers and events are read in the background between calls.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::runtime::Runtime;

use super::client::{
    Client, ClientError, ClientOptions, EventStream, EventsLost, Greeting, RawEvent,
};
use crate::api::Command;

/// A blocking QMP client.
pub struct BlockingClient<S> {
    runtime: Runtime,
    client: Client<S>,
    events: Option<EventStream>,
}

impl<S> std::fmt::Debug for BlockingClient<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingClient")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

fn runtime() -> Result<Runtime, ClientError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("qmp-client")
        .enable_all()
        .build()?)
}

impl BlockingClient<UnixStream> {
    /// Connects to a unix socket and negotiates.
    pub fn connect_unix(
        path: impl AsRef<Path>,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let runtime = runtime()?;
        let client = runtime.block_on(Client::connect_unix(path, options))?;
        Ok(BlockingClient {
            runtime,
            client,
            events: None,
        })
    }
}

impl BlockingClient<TcpStream> {
    /// Connects over TCP and negotiates.
    pub fn connect_tcp(
        addr: std::net::SocketAddr,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let runtime = runtime()?;
        let client = runtime.block_on(Client::connect_tcp(addr, options))?;
        Ok(BlockingClient {
            runtime,
            client,
            events: None,
        })
    }
}

impl<S> BlockingClient<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// The server's greeting.
    pub fn greeting(&self) -> &Greeting {
        self.client.greeting()
    }

    /// The asynchronous client inside (to share with async code).
    pub fn client(&self) -> &Client<S> {
        &self.client
    }

    /// Runs a command (see [`Client::execute`]).
    pub fn execute<C: Command>(&self, command: &C) -> Result<C::Returns, ClientError> {
        self.runtime.block_on(self.client.execute(command))
    }

    /// Runs a command with a time limit.
    pub fn execute_timeout<C: Command>(
        &self,
        command: &C,
        timeout: Duration,
    ) -> Result<C::Returns, ClientError> {
        self.runtime
            .block_on(self.client.execute_timeout(command, timeout))
    }

    /// Runs a command out of band.
    pub fn execute_oob<C: Command>(&self, command: &C) -> Result<C::Returns, ClientError> {
        self.runtime.block_on(self.client.execute_oob(command))
    }

    /// Runs a command by name with JSON arguments.
    pub fn execute_raw(&self, name: &str, arguments: Option<Value>) -> Result<Value, ClientError> {
        self.runtime
            .block_on(self.client.execute_raw(name, arguments))
    }

    /// The next event, waiting at most `timeout` (`None`: until the
    /// connection closes). `None` when none came in time or the
    /// connection is closed.
    pub fn next_event(
        &mut self,
        timeout: Option<Duration>,
    ) -> Option<Result<RawEvent, EventsLost>> {
        let events = self.events.get_or_insert_with(|| self.client.events());
        match timeout {
            Some(t) => self
                .runtime
                .block_on(async { tokio::time::timeout(t, events.next()).await.ok().flatten() }),
            None => self.runtime.block_on(events.next()),
        }
    }

    /// Gives the stream back (see [`Client::into_inner`]).
    pub fn into_inner(self) -> Result<S, ClientError> {
        let BlockingClient {
            runtime,
            client,
            events,
        } = self;
        drop(events);
        runtime.block_on(client.into_inner())
    }
}
