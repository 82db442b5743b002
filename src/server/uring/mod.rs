//! The io_uring server (feature `uring`, Linux): N rings, each on its own
//! thread, on the same driver toolkit, [`Handler`], hub and send queues
//! as the mio event loop.
//!
//! # Design
//!
//! Each loop owns one `io_uring` instance and submits everything it
//! wants in one `io_uring_enter` per iteration (`submit_and_wait`), then
//! handles the completions:
//!
//! - **Accept**: loop 0 keeps one multishot accept on the listener and
//!   hands the connections out round-robin, through the other loops'
//!   inboxes (`server/loop_link.rs`, shared with the event loop).
//! - **Receive**: each connection has one multishot receive that picks
//!   buffers from the loop's group of provided buffers (256 × 64 KiB per
//!   loop, lent with `IORING_OP_PROVIDE_BUFFERS`). A completion's bytes
//!   are copied into the handshake or the engine at once and the buffer
//!   is lent again, in batches of consecutive ids, before the next
//!   submission. A receive that ends (`ENOBUFS`, cancelled, or its
//!   completion without `IORING_CQE_F_MORE`) is armed again while the
//!   connection still wants input. So only bytes a peer actually sent
//!   take memory, and at most the fixed pool per loop.
//! - **Send**: at most one `sendmsg` (vectored, `MSG_NOSIGNAL`) per
//!   connection is in flight. Its chunks are taken out of the
//!   connection's [`Output`] ([`Output::take_front`]) into a `Sending`
//!   that also holds the iovecs and the msghdr, so new bytes queued
//!   meanwhile (coalesced into the output's tail) never move memory the
//!   kernel reads. The completion gives the chunks back with the count
//!   written ([`Output::give_back`]), which drives `on_sent`.
//! - **Wake**: a read of the loop's eventfd is always armed. Other
//!   threads queue work in the inbox and write the eventfd (the wake-up
//!   closure of the shared `LoopShared`).
//! - **Timers**: a `Timeout` every [`TICK`] checks handshake deadlines,
//!   engine timers (`Engine::poll_timeout` / `handle_timeout`: keepalive,
//!   idle, close handshake), lingering deadlines and the shutdown
//!   deadline.
//!
//! # user_data
//!
//! The top byte names the operation (`ring::Op`), the next 24 bits the
//! connection's slot and the low 32 bits its generation. A slot is reused
//! only after every operation of its connection has delivered its last
//! completion (an ended connection cancels its receive and send, then
//! waits for them), so a completion always finds the connection it was
//! submitted for, and memory an operation uses is never freed under it.
//!
//! # Buffer lifetimes
//!
//! Receive buffers, the eventfd read buffer and the timer's timespec are
//! owned by the ring and freed only after every operation has completed
//! (on exit the loop cancels everything and waits; should the kernel not
//! answer within a second, the memory is leaked rather than freed). A
//! send's memory is owned by its connection until the send's completion.
//!
//! TLS is not supported: [`ServerBuilder::bind_uring`] refuses a builder
//! with [`ServerBuilder::tls`].
//!
//! Files: this one holds the server and the connection's own part;
//! `ring.rs` the ring and its operations (all the `unsafe`);
//! `reactor.rs` the loop (completions, accept, inbox, timers, shutdown);
//! `conn.rs` input (receive completions); `pump.rs` the send in flight
//! and the end of a connection. The rest of a connection's life
//! (dispatch, handshake verdict, opening, `on_sent`, `on_close`, timers)
//! is shared with the event loop in `server/loop_conn.rs`.

mod conn;
mod pump;
mod reactor;
mod ring;

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::loop_conn::{self, LoopBase, LoopConn, LoopDriver};
use super::loop_link;
use super::{Handler, ServerBuilder, ServerHandle};
use crate::error::Error;

use reactor::LoopCtx;
use ring::Sending;

/// Timer granularity: deadlines (handshake, ping, idle, close, linger,
/// shutdown) are checked this often.
const TICK: Duration = Duration::from_millis(100);

/// A connection accepted by loop 0 for another loop.
type Handoff = (TcpStream, SocketAddr);
type LoopShared = loop_link::LoopShared<Handoff>;

/// The state of a connection's multishot receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recv {
    /// Not submitted (or its last completion came).
    Idle,
    Armed,
    /// Asked to stop; its last completion is still to come.
    Cancelling,
}

/// The io_uring loop's part of a connection: its socket and operations.
struct Io {
    socket: TcpStream,
    /// The one send in flight, if any.
    sending: Option<Sending>,
    recv: Recv,
    /// Finished: the slot is freed once no operation is in flight.
    dead: bool,
    /// In the loop's list of connections to dispatch.
    dirty: bool,
}

/// A connection; its generation fits the 32 bits of a user_data.
type Conn<D> = LoopConn<D, Handoff, Io>;
type Phase<D> = loop_conn::Phase<D, Handoff>;

/// The connection in `slot` unless it has finished (a finished one only
/// waits for its operations' last completions).
fn live<D>(conns: &mut [Option<Conn<D>>], slot: usize) -> Option<&mut Conn<D>> {
    conns.get_mut(slot)?.as_mut().filter(|c| !c.io.dead)
}

/// A server on io_uring (Linux, feature `uring`): N rings, each on its
/// own thread, with multishot accept and receive into provided buffers
/// and vectored sends. It behaves like the
/// [`EventLoopServer`](super::EventLoopServer): sends from any thread are
/// queued and the ring woken, a per-client high-water mark applies the
/// [`Backpressure`](super::Backpressure) policy (and stops reading from
/// the client), [`Handler::on_sent`] reports each message once written.
/// Build with [`ServerBuilder::bind_uring`].
///
/// It does not serve `wss://`: [`ServerBuilder::tls`] is refused.
///
/// ```no_run
/// use wsstack::server::{Client, Handler, ServerBuilder};
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
/// let server = ServerBuilder::new().address("127.0.0.1:9001").bind_uring()?;
/// server.run(Echo)?;
/// # Ok::<(), wsstack::Error>(())
/// ```
pub struct UringServer {
    listener: std::net::TcpListener,
    options: ServerBuilder,
    handle: ServerHandle,
}

impl std::fmt::Debug for UringServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringServer")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl UringServer {
    pub(crate) fn bind(options: ServerBuilder) -> Result<UringServer, Error> {
        #[cfg(feature = "tls")]
        if options.tls.is_some() {
            return Err(Error::Config(crate::config::ConfigError::new(
                "the io_uring server does not serve wss:// (TLS): use the event-loop, threaded or tokio server",
            )));
        }
        let listener = options.listen()?;
        Ok(UringServer {
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
    /// gracefully and return. Fails at once if the kernel refuses
    /// io_uring (too old, or disabled by `kernel.io_uring_disabled`).
    pub fn run<H: Handler>(self, handler: H) -> Result<(), Error> {
        if self.options.stop_on_signals {
            self.handle.install_signal_handler()?;
        }
        let n = self.options.loops.max(1);
        let mut eventfds: Vec<Arc<File>> = Vec::with_capacity(n);
        let mut shared = Vec::with_capacity(n);
        for index in 0..n {
            let eventfd = ring::eventfd()?;
            let waker = eventfd.clone();
            shared.push(Arc::new(LoopShared::new(index, move || ring::wake(&waker))));
            eventfds.push(eventfd);
        }
        let shared: Arc<[Arc<LoopShared>]> = shared.into();
        for l in shared.iter() {
            let l = l.clone();
            self.handle.state.add_waker(move || l.wake());
        }
        let hub = self.options.hub_for::<H::Data>()?;
        let _ = self.handle.state.hub.set(hub.erased());
        let handler = Arc::new(handler);
        let options = Arc::new(self.options);
        let live = Arc::new(AtomicUsize::new(0));
        let local = self.listener.local_addr()?;
        let mut listener = Some(self.listener);
        log::info!("io_uring server listening on {local} with {n} rings");
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        for (index, eventfd) in eventfds.into_iter().enumerate() {
            let (shared, listener) = (shared.clone(), listener.take());
            let (handler, hub, options) = (handler.clone(), hub.clone(), options.clone());
            let (state, live) = (self.handle.state.clone(), live.clone());
            let started = started_tx.clone();
            threads.push(
                thread::Builder::new()
                    .name(format!("ws-uring-{index}"))
                    .spawn(move || {
                        // The ring (and whatever points into it) never
                        // leaves this thread.
                        let ring = ring::Ring::new(eventfd, TICK).map_err(|e| {
                            io::Error::new(e.kind(), format!("cannot set up io_uring: {e}"))
                        });
                        let _ = started.send(
                            ring.as_ref()
                                .map(|_| ())
                                .map_err(|e| io::Error::new(e.kind(), e.to_string())),
                        );
                        drop(started);
                        let Ok(ring) = ring else {
                            return Ok(());
                        };
                        LoopCtx::new(
                            ring, shared, index, listener, handler, hub, options, state, live,
                        )
                        .run()
                    })?,
            );
        }
        drop(started_tx);
        let mut result = Ok(());
        for started in started_rx.iter() {
            if let Err(e) = started {
                // One ring failed: stop the others and report why.
                self.handle.shutdown();
                result = Err(Error::Io(e));
            }
        }
        for t in threads {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = result.and(Err(Error::Io(e))),
                Err(_) => {
                    result = result.and(Err(Error::Io(io::Error::other(
                        "an io_uring loop panicked",
                    ))))
                }
            }
        }
        log::info!("io_uring server stopped");
        result
    }
}
