//! A QMP server for QEMU 9.0's net.json commands, with an in-memory
//! implementation, to try QMP by hand:
//!
//! ```text
//! cargo run -p qapi-runtime --example qmp-net-server -- unix:/tmp/qmp.sock
//! socat - UNIX-CONNECT:/tmp/qmp.sock      # or: nc -U /tmp/qmp.sock
//! {"execute": "qmp_capabilities"}
//! {"execute": "netdev_add", "arguments": {"type": "hubport", "id": "h0", "hubid": 0}}
//! {"execute": "query-commands"}
//! ```
//!
//! The address is `unix:PATH`, `tcp:PORT` (loopback) or `tcp:HOST:PORT`;
//! the default is `tcp:4444`. `netdev_add` of a `stream` netdev emits
//! `NETDEV_STREAM_CONNECTED` to every client, to show events.

#[path = "support/net_memory.rs"]
mod net_memory;

use net_backends::qapi::{events, NetdevBranch};
use qapi_runtime::qmp::{Address, Config, Listener, Server, Service, VersionInfo};
use qapi_runtime::{CommandInfo, Error, Input, Output, Value};

/// The in-memory service, plus an event when a stream netdev appears.
struct Demo {
    net: net_memory::NetService,
    events: qapi_runtime::qmp::ServerHandle,
}

impl Service for Demo {
    fn commands(&self) -> &'static [CommandInfo] {
        self.net.commands()
    }

    async fn dispatch(
        &self,
        name: &str,
        arguments: Option<Value>,
        input: &mut Input,
        out: &Output,
    ) -> Option<Result<Value, Error>> {
        let stream = (name == "netdev_add")
            .then(|| arguments.clone())
            .flatten()
            .and_then(|a| Input::new().read::<net_backends::qapi::Netdev>(a).ok())
            .and_then(|n| match n.r#type {
                NetdevBranch::Stream(s) => Some((n.id, s.addr)),
                _ => None,
            });
        let result = self.net.dispatch(name, arguments, input, out).await;
        if let (Some(Ok(_)), Some((id, addr))) = (&result, stream) {
            self.events.emit(&events::Event::NetdevStreamConnected(
                events::NetdevStreamConnected {
                    netdev_id: id,
                    addr,
                },
            ));
        }
        result
    }

    fn schema(&self) -> Option<String> {
        self.net.schema()
    }
}

#[tokio::main]
async fn main() {
    let arg = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp:4444".to_owned());
    let address: Address = match arg.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("qmp-net-server: {e}");
            std::process::exit(2);
        }
    };
    let config = Config {
        version: VersionInfo {
            major: 9,
            minor: 0,
            micro: 4,
            package: "qapi-runtime qmp-net-server (in-memory net)".into(),
        },
        ..Config::default()
    };
    // The service gets the server's handle, to emit events from its
    // command handlers.
    let server = Server::build(config, |handle| Demo {
        net: net_memory::NetService::default(),
        events: handle.clone(),
    });
    let listener = match Listener::bind(&address).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("qmp-net-server: cannot listen on {address}: {e}");
            std::process::exit(1);
        }
    };
    let shown = listener
        .local_address()
        .map(|a| a.to_string())
        .unwrap_or(arg);
    eprintln!("qmp-net-server: serving QMP on {shown} (Ctrl-C to stop)");
    let handle = server.handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        handle.shutdown();
    });
    if let Err(e) = server.serve(listener).await {
        eprintln!("qmp-net-server: {e}");
        std::process::exit(1);
    }
}
