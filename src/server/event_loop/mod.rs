//! The event-loop server: non-blocking sockets on mio (epoll), N loops
//! sharing the port by accept hand-off, sends from any thread queued and
//! the right loop woken, vectored writes, backpressure by policy.
//!
//! Files by concern: this one holds the server type, start-up and the
//! connection's socket part; `reactor.rs` the loop itself (readiness,
//! accept, timers, shutdown); `handshake.rs` reading the opening
//! handshake; `pump.rs` reading, writing and letting a connection go.
//! Shared with the io_uring driver: the rest of a connection's life
//! (`server/loop_conn.rs`: dispatch, handshake verdict, opening,
//! `on_sent`, `on_close`, timers), what other threads share with a loop
//! (`server/loop_link.rs`) and a connection's pending bytes
//! (`server/output.rs`).

mod handshake;
mod pump;
mod reactor;

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::loop_conn::{self, LoopBase, LoopConn, LoopDriver};
use super::loop_link::{self, local_ready_pending};
use super::shared::ServerState;
use super::{Handler, Hub, ServerBuilder, ServerHandle};
use crate::error::Error;

use crate::server::output::Output;
use crate::server::queued::OUT_LOW;
use reactor::LoopCtx;

/// A connection accepted by one loop for another.
type Handoff = (TcpStream, SocketAddr);
type LoopShared = loop_link::LoopShared<Handoff>;

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX);
/// Timer granularity: deadlines (handshake, ping, idle, close, linger) are
/// checked this often.
const TICK: Duration = Duration::from_millis(100);
/// Bytes read from one socket per readiness event before others get a turn.
const READ_BUDGET: usize = 1 << 20;
const READ_BUF: usize = 128 * 1024;
/// Bytes written to one socket per pump before others get a turn.
const WRITE_BUDGET: usize = 1 << 20;

/// A connection's TLS session (nothing without the `tls` feature).
#[cfg(feature = "tls")]
type Session = Box<rustls::ServerConnection>;
/// A connection's TLS session (nothing without the `tls` feature).
#[cfg(not(feature = "tls"))]
type Session = std::convert::Infallible;

/// Read plaintext: from the socket, through the TLS session if any.
fn read_from(
    socket: &mut TcpStream,
    tls: &mut Option<Session>,
    buf: &mut [u8],
) -> io::Result<usize> {
    match tls {
        #[cfg(feature = "tls")]
        Some(tls) => super::tls_io::TlsIo { tls, sock: socket }.read(buf),
        #[cfg(not(feature = "tls"))]
        Some(never) => match *never {},
        None => socket.read(buf),
    }
}

/// Write what the output holds: to the socket, through the TLS session
/// if any (whose own buffer is flushed too).
fn write_out(
    socket: &mut TcpStream,
    tls: &mut Option<Session>,
    output: &mut Output,
) -> io::Result<()> {
    match tls {
        #[cfg(feature = "tls")]
        Some(tls) => {
            let mut io = super::tls_io::TlsIo { tls, sock: socket };
            output.write_to(&mut io)?;
            io.flush_tls()
        }
        #[cfg(not(feature = "tls"))]
        Some(never) => match *never {},
        None => output.write_to(socket),
    }
}

/// Whether the TLS session still holds bytes to write.
fn tls_pending(tls: &Option<Session>) -> bool {
    match tls {
        #[cfg(feature = "tls")]
        Some(tls) => tls.wants_write(),
        #[cfg(not(feature = "tls"))]
        Some(never) => match *never {},
        None => false,
    }
}

/// The event loop's part of a connection: its socket and TLS session.
struct Io {
    socket: TcpStream,
    tls: Option<Session>,
}

type Conn<D> = LoopConn<D, Handoff, Io>;
type Phase<D> = loop_conn::Phase<D, Handoff>;

/// An epoll server: N event loops, non-blocking sends queued per client,
/// `on_sent` when a message is fully written, backpressure by policy.
/// Build with [`ServerBuilder::bind_event_loop`].
pub struct EventLoopServer {
    listener: std::net::TcpListener,
    options: ServerBuilder,
    handle: ServerHandle,
}

impl std::fmt::Debug for EventLoopServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoopServer")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl EventLoopServer {
    pub(crate) fn bind(options: ServerBuilder) -> Result<EventLoopServer, Error> {
        let listener = options.listen()?;
        listener.set_nonblocking(true)?;
        Ok(EventLoopServer {
            listener,
            options,
            handle: ServerHandle::new(),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle to stop the server and read its counters.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Serve until [`ServerHandle::shutdown`] (or a signal, with
    /// [`ServerBuilder::stop_on_signals`]), then close every client
    /// gracefully and return.
    pub fn run<H: Handler>(self, handler: H) -> Result<(), Error> {
        if self.options.stop_on_signals {
            self.handle.install_signal_handler()?;
        }
        let n = self.options.loops.max(1);
        let mut polls = Vec::with_capacity(n);
        let mut shared = Vec::with_capacity(n);
        for index in 0..n {
            let poll = Poll::new()?;
            let waker = Waker::new(poll.registry(), WAKER)?;
            shared.push(Arc::new(LoopShared::new(index, move || {
                let _ = waker.wake();
            })));
            polls.push(poll);
        }
        let shared: Arc<[Arc<LoopShared>]> = shared.into();
        for l in shared.iter() {
            let l = l.clone();
            self.handle.state.add_waker(move || l.wake());
        }
        let hub: Hub<H::Data> = self.options.hub_for()?;
        let _ = self.handle.state.hub.set(hub.erased());
        let handler = Arc::new(handler);
        let options = Arc::new(self.options);
        let live = Arc::new(AtomicUsize::new(0));
        let local = self.listener.local_addr()?;
        let mut listener = Some(TcpListener::from_std(self.listener));
        log::info!("event-loop server listening on {local} with {n} loops");
        let mut threads = Vec::new();
        for (index, poll) in polls.into_iter().enumerate() {
            let ctx = LoopCtx::new(
                poll,
                shared.clone(),
                index,
                if index == 0 { listener.take() } else { None },
                handler.clone(),
                hub.clone(),
                options.clone(),
                self.handle.state.clone(),
                live.clone(),
            );
            threads.push(
                thread::Builder::new()
                    .name(format!("ws-loop-{index}"))
                    .spawn(move || ctx.run())?,
            );
        }
        let mut result = Ok(());
        for t in threads {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(Error::Io(e)),
                Err(_) => result = Err(Error::Io(io::Error::other("an event loop panicked"))),
            }
        }
        log::info!("event-loop server stopped");
        result
    }
}
