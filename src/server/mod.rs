//! Servers: a threaded [`ThreadedServer`] (a thread per client) and an
//! event-loop [`EventLoopServer`] (mio/epoll, feature `mio`), both running
//! the same [`Handler`].
//!
//! Both are drivers: they own sockets, threads, readiness and timers, and
//! leave every protocol decision to the [`Engine`](crate::connection::Engine)
//! and the [`handshake`](crate::handshake) layer.
//!
//! ```no_run
//! use wsstack::server::{Client, Handler, ServerBuilder};
//! use wsstack::{CloseCode, Message};
//!
//! struct EchoServer;
//!
//! impl Handler for EchoServer {
//!     type Data = ();
//!     fn on_open(&self, client: &Client) {
//!         println!("{client} connected");
//!     }
//!     fn on_message(&self, client: &Client, message: Message) {
//!         let _ = client.send(message);
//!     }
//!     fn on_close(&self, client: &Client, code: CloseCode, reason: &str) {
//!         println!("{client} left: {code} {reason}");
//!     }
//! }
//!
//! let server = ServerBuilder::new().address("127.0.0.1:8000").bind_threaded()?;
//! let handle = server.handle(); // handle.shutdown() stops it from any thread
//! server.run(EchoServer)?;
//! # Ok::<(), wsstack::Error>(())
//! ```

mod client;
mod dispatch;
#[cfg(feature = "mio")]
mod event_loop;
mod handler;
mod shared;
mod threaded;
#[cfg(feature = "tokio")]
mod tokio_server;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

pub use client::{Client, MessageId, SendError};
#[cfg(feature = "mio")]
pub use event_loop::EventLoopServer;
pub use handler::Handler;
pub use shared::{ServerHandle, ServerStats};
pub use threaded::ThreadedServer;
#[cfg(feature = "tokio")]
pub use tokio_server::TokioServer;

use crate::connection::Config;
use crate::error::Error;
use crate::frame::CloseCode;
use crate::handshake::ServerConfig;

/// What to do with a message that would take a client's queue past its
/// high-water mark (event-loop server). Control frames (pongs, closes) are
/// never subject to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backpressure {
    /// Drop the message, count it, and return [`SendError::Dropped`].
    Drop,
    /// Close the client with this code ([`CloseCode::POLICY_VIOLATION`] or
    /// [`CloseCode::TRY_AGAIN_LATER`]) and return [`SendError::Closed`].
    Close(CloseCode),
    /// Refuse the message with [`SendError::Full`]; the application retries
    /// later (e.g. after [`Handler::on_sent`]).
    Retry,
}

/// Settings shared by both servers. Protocol limits live in
/// [`ServerConfig::limits`] and [`Config::limits`]; this holds driver
/// tuning.
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    address: String,
    pub(crate) handshake: ServerConfig,
    pub(crate) config: Config,
    pub(crate) max_connections: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) high_water_mark: usize,
    pub(crate) backpressure: Backpressure,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) loops: usize,
    pub(crate) stop_on_signals: bool,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            address: "127.0.0.1:9001".into(),
            handshake: ServerConfig::new(),
            config: Config::default(),
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            high_water_mark: 1 << 20,
            backpressure: Backpressure::Retry,
            shutdown_timeout: Duration::from_secs(5),
            loops: std::thread::available_parallelism().map_or(1, |n| n.get()),
            stop_on_signals: false,
        }
    }
}

impl ServerBuilder {
    /// Defaults: 127.0.0.1:9001, 10,000 connections, 10 s handshake
    /// timeout, 1 MiB high-water mark with [`Backpressure::Retry`], 5 s
    /// shutdown timeout, one event loop per core.
    pub fn new() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The address to listen on (port 0 picks a free port).
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = address.into();
        self
    }

    /// The handshake policy (origins, auth, subprotocols, extensions such
    /// as permessage-deflate, limits on the request).
    pub fn handshake(mut self, config: ServerConfig) -> Self {
        self.handshake = config;
        self
    }

    /// The protocol engine's configuration (limits, fragmentation, ping,
    /// idle and close timeouts).
    pub fn connection(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Most clients at once; more are answered 503 and closed.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Time allowed for the whole upgrade request (bounds slowloris).
    pub fn handshake_timeout(mut self, t: Duration) -> Self {
        self.handshake_timeout = t;
        self
    }

    /// Threaded server: a blocked write to a client that stopped reading
    /// fails the client after this long.
    pub fn write_timeout(mut self, t: Duration) -> Self {
        self.write_timeout = t;
        self
    }

    /// Event-loop server: bytes a client may have queued before the
    /// backpressure policy applies (and before the server stops reading
    /// from it).
    pub fn high_water_mark(mut self, bytes: usize) -> Self {
        self.high_water_mark = bytes;
        self
    }

    /// The default backpressure policy (per-send override:
    /// [`Client::send_with`]).
    pub fn backpressure(mut self, policy: Backpressure) -> Self {
        self.backpressure = policy;
        self
    }

    /// How long a shutdown waits for clients to answer our 1001 Close.
    pub fn shutdown_timeout(mut self, t: Duration) -> Self {
        self.shutdown_timeout = t;
        self
    }

    /// Event-loop server: the number of loops (threads); at least 1.
    pub fn loops(mut self, n: usize) -> Self {
        self.loops = n.max(1);
        self
    }

    /// Shut down gracefully on Ctrl-C or SIGTERM (feature `signals`; only
    /// one server per process can take the signals).
    pub fn stop_on_signals(mut self, on: bool) -> Self {
        self.stop_on_signals = on;
        self
    }

    pub(crate) fn resolve(&self) -> Result<SocketAddr, Error> {
        self.config.validate()?;
        self.handshake.limits.validate()?;
        let address = &self.address;
        let named = |e: io::Error| {
            Error::Io(io::Error::new(
                e.kind(),
                format!("cannot use address {address:?}: {e}"),
            ))
        };
        self.address
            .to_socket_addrs()
            .map_err(named)?
            .next()
            .ok_or_else(|| {
                named(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "it resolves to nothing",
                ))
            })
    }

    /// Bind a listener on the resolved address; an error names the
    /// address.
    pub(crate) fn listen(&self) -> Result<std::net::TcpListener, Error> {
        let addr = self.resolve()?;
        std::net::TcpListener::bind(addr).map_err(|e| {
            Error::Io(io::Error::new(
                e.kind(),
                format!("cannot listen on {addr}: {e}"),
            ))
        })
    }

    /// Bind a [`ThreadedServer`].
    pub fn bind_threaded(self) -> Result<ThreadedServer, Error> {
        ThreadedServer::bind(self)
    }

    /// Bind an [`EventLoopServer`].
    #[cfg(feature = "mio")]
    pub fn bind_event_loop(self) -> Result<EventLoopServer, Error> {
        EventLoopServer::bind(self)
    }

    /// Bind a [`TokioServer`] (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub fn bind_tokio(self) -> Result<TokioServer, Error> {
        TokioServer::bind(self)
    }
}
