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

mod broker;
mod callbacks;
mod client;
mod dispatch;
#[cfg(feature = "mio")]
mod event_loop;
mod front;
mod handler;
mod hub;
#[cfg(any(feature = "mio", all(feature = "uring", target_os = "linux")))]
mod loop_conn;
#[cfg(any(feature = "mio", all(feature = "uring", target_os = "linux")))]
mod loop_link;
#[cfg(any(
    feature = "mio",
    feature = "tokio",
    all(feature = "uring", target_os = "linux")
))]
mod output;
#[cfg(any(
    feature = "mio",
    feature = "tokio",
    all(feature = "uring", target_os = "linux")
))]
mod queued;
mod shared;
mod threaded;
#[cfg(feature = "tls")]
mod tls_io;
#[cfg(feature = "tokio")]
mod tokio_server;
#[cfg(all(feature = "uring", target_os = "linux"))]
mod uring;

use std::any::Any;
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

pub use broker::{Broker, InProcessBroker, Remote};
pub use callbacks::Callbacks;
pub use client::{Client, MessageId, SendError};
#[cfg(feature = "mio")]
pub use event_loop::EventLoopServer;
pub use front::{Server, ServerKind};
pub use handler::Handler;
pub use hub::{Delivery, Hub};
pub use shared::{ServerHandle, ServerStats};
pub use threaded::ThreadedServer;
#[cfg(feature = "tokio")]
pub use tokio_server::TokioServer;
#[cfg(all(feature = "uring", target_os = "linux"))]
pub use uring::UringServer;

use crate::config::{ConfigError, Limits};
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

impl Backpressure {
    /// The one backpressure decision every server makes: whether a send
    /// of `len` bytes onto `buffered` crosses `mark` (a message is always
    /// taken into an empty queue, so one larger than the mark still goes
    /// out), and if so what the sender gets under this policy. `close`
    /// starts the close handshake for [`Backpressure::Close`].
    pub(crate) fn check(
        policy: Backpressure,
        buffered: usize,
        len: usize,
        mark: usize,
        state: &shared::ServerState,
        close: impl FnOnce(CloseCode, &str),
    ) -> Result<(), SendError> {
        if buffered == 0 || buffered + len <= mark {
            return Ok(());
        }
        Err(match policy {
            Backpressure::Drop => {
                state
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                SendError::Dropped
            }
            Backpressure::Close(code) => {
                close(code, "send queue over its high-water mark");
                SendError::Closed
            }
            Backpressure::Retry => SendError::Full,
        })
    }
}

/// A hub of some client-data type, until `run` knows the type.
#[derive(Clone)]
pub(crate) struct ErasedHub(pub(crate) Arc<dyn Any + Send + Sync>);

impl fmt::Debug for ErasedHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hub")
    }
}

/// Settings shared by every server: the address, protocol limits (set
/// once with [`limits`](ServerBuilder::limits), applied to the handshake
/// and the connection), the handshake policy, the engine configuration,
/// and driver tuning.
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    address: String,
    limits: Option<Limits>,
    hub: Option<ErasedHub>,
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
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Arc<crate::tls::rustls::ServerConfig>>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            address: "127.0.0.1:9001".into(),
            limits: None,
            hub: None,
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
            #[cfg(feature = "tls")]
            tls: None,
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

    /// Protocol limits (frame, message, handshake size, header count),
    /// applied to both the handshake and every connection, whatever
    /// [`handshake`](ServerBuilder::handshake) and
    /// [`connection`](ServerBuilder::connection) say.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// The handshake policy (origins, auth, subprotocols, extensions such
    /// as permessage-deflate). Limits set here also apply to connections
    /// unless [`limits`](ServerBuilder::limits) or the connection's own
    /// configuration says otherwise.
    pub fn handshake(mut self, config: ServerConfig) -> Self {
        self.handshake = config;
        self
    }

    /// The protocol engine's configuration (fragmentation, ping, idle and
    /// close timeouts). Limits set here also apply to the handshake unless
    /// [`limits`](ServerBuilder::limits) or the handshake's own
    /// configuration says otherwise.
    pub fn connection(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Offer permessage-deflate (RFC 7692) to clients that ask for it, in
    /// one call: level 1, and no server context takeover, so an idle
    /// connection holds no compressor and a published message is
    /// compressed once for all its recipients. For other parameters add a
    /// [`PerMessageDeflate`](crate::extensions::PerMessageDeflate) to the
    /// [`handshake`](ServerBuilder::handshake) policy instead.
    #[cfg(feature = "deflate")]
    pub fn permessage_deflate(mut self, on: bool) -> Self {
        if on {
            self.handshake = self.handshake.with_extension(
                crate::extensions::PerMessageDeflate::new().with_server_no_context_takeover(true),
            );
        }
        self
    }

    /// Serve `wss://`: every connection starts with a TLS handshake
    /// (counted against the handshake timeout) with this certificate and
    /// key (feature `tls`).
    ///
    /// ```no_run
    /// use wsstack::server::ServerBuilder;
    /// use wsstack::tls::TlsServerConfig;
    /// let tls = TlsServerConfig::from_pem_files("cert.pem", "key.pem")?;
    /// let server = ServerBuilder::new().address("0.0.0.0:443").tls(tls).bind_event_loop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: crate::tls::TlsServerConfig) -> Self {
        self.tls = Some(config.to_rustls());
        self
    }

    /// The hub the server registers its clients in. Keep a clone to reach
    /// the clients and publish from threads of your own; its data type
    /// must be the handler's `Data` (`run` fails otherwise). Without one,
    /// the server makes its own ([`Client::hub`], [`ServerHandle::hub`]).
    pub fn hub<D: Send + 'static>(mut self, hub: Hub<D>) -> Self {
        self.hub = Some(ErasedHub(hub.erased()));
        self
    }

    /// The hub for a handler whose data is `D`.
    pub(crate) fn hub_for<D: Send + 'static>(&self) -> Result<Hub<D>, Error> {
        match &self.hub {
            None => Ok(Hub::new()),
            Some(ErasedHub(any)) => any.downcast_ref::<Hub<D>>().cloned().ok_or_else(|| {
                Error::Config(ConfigError::new(
                    "the hub given to ServerBuilder::hub holds another client data type than the handler's Data",
                ))
            }),
        }
    }

    /// Apply the limits everywhere: explicit ones to both sides, else the
    /// side that was changed from the defaults to the other.
    pub(crate) fn settle_limits(&mut self) {
        let defaults = Limits::default();
        let limits = match self.limits {
            Some(l) => l,
            None if self.handshake.limits != defaults => self.handshake.limits,
            None => self.config.limits,
        };
        self.handshake.limits = limits;
        self.config.limits = limits;
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

    /// Bind a [`Server`] of the given kind (a run-time choice).
    pub fn bind(self, kind: ServerKind) -> Result<Server, Error> {
        Server::bind(self, kind)
    }

    /// Bind a [`ThreadedServer`].
    pub fn bind_threaded(mut self) -> Result<ThreadedServer, Error> {
        self.settle_limits();
        ThreadedServer::bind(self)
    }

    /// Bind an [`EventLoopServer`].
    #[cfg(feature = "mio")]
    pub fn bind_event_loop(mut self) -> Result<EventLoopServer, Error> {
        self.settle_limits();
        EventLoopServer::bind(self)
    }

    /// Bind a [`UringServer`] (feature `uring`, Linux). Refused with a
    /// [`ConfigError`] when [`tls`](ServerBuilder::tls) was set: the
    /// io_uring server does not serve `wss://`.
    #[cfg(all(feature = "uring", target_os = "linux"))]
    pub fn bind_uring(mut self) -> Result<UringServer, Error> {
        self.settle_limits();
        UringServer::bind(self)
    }

    /// Bind a [`TokioServer`] (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub fn bind_tokio(mut self) -> Result<TokioServer, Error> {
        self.settle_limits();
        TokioServer::bind(self)
    }
}
