//! [`Server`]: one server type whose driver is chosen at run time.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;

#[cfg(feature = "mio")]
use super::EventLoopServer;
#[cfg(feature = "tokio")]
use super::TokioServer;
#[cfg(all(feature = "uring", target_os = "linux"))]
use super::UringServer;
use super::{Handler, ServerBuilder, ServerHandle, ThreadedServer};
use crate::error::Error;

/// Which driver runs a [`Server`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerKind {
    /// A thread per client ([`ThreadedServer`]).
    Threaded,
    /// mio (epoll) event loops ([`EventLoopServer`], feature `mio`).
    #[default]
    EventLoop,
    /// A task per client on a tokio runtime (`TokioServer`, feature
    /// `tokio`).
    Tokio,
    /// io_uring rings (`UringServer`, feature `uring`, Linux only).
    Uring,
}

impl ServerKind {
    /// The name used on command lines: `threaded`, `event-loop`, `tokio`,
    /// `uring`.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Threaded => "threaded",
            ServerKind::EventLoop => "event-loop",
            ServerKind::Tokio => "tokio",
            ServerKind::Uring => "uring",
        }
    }
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `"threaded"`, `"event-loop"` (also `"event_loop"`, `"mio"`), `"tokio"`
/// or `"uring"` (also `"io-uring"`).
impl FromStr for ServerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<ServerKind, String> {
        match s {
            "threaded" => Ok(ServerKind::Threaded),
            "event-loop" | "event_loop" | "mio" => Ok(ServerKind::EventLoop),
            "tokio" => Ok(ServerKind::Tokio),
            "uring" | "io-uring" => Ok(ServerKind::Uring),
            other => Err(format!(
                "unknown server kind {other:?}: expected threaded, event-loop, tokio or uring"
            )),
        }
    }
}

enum Inner {
    Threaded(ThreadedServer),
    #[cfg(feature = "mio")]
    EventLoop(EventLoopServer),
    #[cfg(feature = "tokio")]
    Tokio(TokioServer),
    #[cfg(all(feature = "uring", target_os = "linux"))]
    Uring(UringServer),
}

/// A bound server of either kind, run with any [`Handler`]: the front door
/// when the driver is a setting rather than a design decision.
///
/// ```no_run
/// use wsstack::server::{Client, Handler, ServerBuilder, ServerKind};
/// use wsstack::Message;
///
/// struct Echo;
/// impl Handler for Echo {
///     type Data = ();
///     fn on_message(&self, client: &Client, message: Message) {
///         let _ = client.send(message);
///     }
/// }
///
/// let kind: ServerKind = "threaded".parse()?;
/// let server = ServerBuilder::new().address("127.0.0.1:9001").bind(kind)?;
/// println!("listening on ws://{}", server.local_addr()?);
/// server.run(Echo)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Server {
    inner: Inner,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("kind", &self.kind())
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

impl Server {
    pub(crate) fn bind(options: ServerBuilder, kind: ServerKind) -> Result<Server, Error> {
        let inner = match kind {
            ServerKind::Threaded => Inner::Threaded(options.bind_threaded()?),
            #[cfg(feature = "mio")]
            ServerKind::EventLoop => Inner::EventLoop(options.bind_event_loop()?),
            #[cfg(not(feature = "mio"))]
            ServerKind::EventLoop => {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the event-loop server needs wsstack's `mio` feature",
                )))
            }
            #[cfg(feature = "tokio")]
            ServerKind::Tokio => Inner::Tokio(options.bind_tokio()?),
            #[cfg(not(feature = "tokio"))]
            ServerKind::Tokio => {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the tokio server needs wsstack's `tokio` feature",
                )))
            }
            #[cfg(all(feature = "uring", target_os = "linux"))]
            ServerKind::Uring => Inner::Uring(options.bind_uring()?),
            #[cfg(not(all(feature = "uring", target_os = "linux")))]
            ServerKind::Uring => {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the io_uring server needs Linux and wsstack's `uring` feature",
                )))
            }
        };
        Ok(Server { inner })
    }

    /// The driver running this server.
    pub fn kind(&self) -> ServerKind {
        match &self.inner {
            Inner::Threaded(_) => ServerKind::Threaded,
            #[cfg(feature = "mio")]
            Inner::EventLoop(_) => ServerKind::EventLoop,
            #[cfg(feature = "tokio")]
            Inner::Tokio(_) => ServerKind::Tokio,
            #[cfg(all(feature = "uring", target_os = "linux"))]
            Inner::Uring(_) => ServerKind::Uring,
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            Inner::Threaded(s) => s.local_addr(),
            #[cfg(feature = "mio")]
            Inner::EventLoop(s) => s.local_addr(),
            #[cfg(feature = "tokio")]
            Inner::Tokio(s) => s.local_addr(),
            #[cfg(all(feature = "uring", target_os = "linux"))]
            Inner::Uring(s) => s.local_addr(),
        }
    }

    /// A handle to stop the server, read its counters and reach its hub.
    pub fn handle(&self) -> ServerHandle {
        match &self.inner {
            Inner::Threaded(s) => s.handle(),
            #[cfg(feature = "mio")]
            Inner::EventLoop(s) => s.handle(),
            #[cfg(feature = "tokio")]
            Inner::Tokio(s) => s.handle(),
            #[cfg(all(feature = "uring", target_os = "linux"))]
            Inner::Uring(s) => s.handle(),
        }
    }

    /// Serve until [`ServerHandle::shutdown`] (or a signal, with
    /// [`ServerBuilder::stop_on_signals`]), then close every client
    /// gracefully and return.
    pub fn run<H: Handler>(self, handler: H) -> Result<(), Error> {
        match self.inner {
            Inner::Threaded(s) => s.run(handler),
            #[cfg(feature = "mio")]
            Inner::EventLoop(s) => s.run(handler),
            #[cfg(feature = "tokio")]
            Inner::Tokio(s) => s.run(handler),
            #[cfg(all(feature = "uring", target_os = "linux"))]
            Inner::Uring(s) => s.run(handler),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ServerKind;

    #[test]
    fn kinds_parse_by_name_and_garbage_is_a_clear_error() {
        for kind in [
            ServerKind::Threaded,
            ServerKind::EventLoop,
            ServerKind::Tokio,
            ServerKind::Uring,
        ] {
            assert_eq!(kind.name().parse::<ServerKind>(), Ok(kind));
        }
        assert_eq!("mio".parse::<ServerKind>(), Ok(ServerKind::EventLoop));
        assert_eq!("io-uring".parse::<ServerKind>(), Ok(ServerKind::Uring));
        for bad in ["", "Threaded", "event loop", "\u{0}", "tokio "] {
            let e = bad.parse::<ServerKind>().unwrap_err();
            assert!(
                e.contains("expected threaded, event-loop, tokio or uring"),
                "{bad:?}: {e}"
            );
        }
    }
}
