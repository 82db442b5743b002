//! The threaded server: a thread per client, blocking I/O, the engine
//! shared between the client's reader thread and senders.
//!
//! `conn.rs` holds one client's shared state and its link (direct writes,
//! and the outbox that hub deliveries use).

mod conn;

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::client::Link;
use super::dispatch::{
    admit, deliver, open_client, report_close, transport_loss, Admitted, EngineAccess,
};
use super::shared::{guarded, ServerState};
use super::{Client, Handler, Hub, ServerBuilder, ServerHandle};
use crate::connection::Event;
use crate::driver::{Linger, ServerHandshake, ServerProgress};
use crate::error::Error;
use crate::frame::CloseCode;
use crate::handshake::{Rejection, Request};

const READ_CHUNK: usize = 128 * 1024;
/// The longest a client thread blocks in `read` before looking at its
/// timers again.
const RECHECK: Duration = Duration::from_secs(1);
/// At most this many threads answer refused connections at once; beyond
/// that, refused connections are simply closed.
const MAX_REFUSERS: usize = 64;

use conn::{lock, Conn, ThreadedLink};

/// A thread per client. Sends from other threads write
/// directly, blocking the sender until the bytes are with the kernel
/// (bounded by the write timeout). Build with
/// [`ServerBuilder::bind_threaded`].
pub struct ThreadedServer {
    listener: TcpListener,
    options: ServerBuilder,
    handle: ServerHandle,
}

impl std::fmt::Debug for ThreadedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadedServer")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

struct Registry {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    changed: Condvar,
}

impl ThreadedServer {
    pub(crate) fn bind(options: ServerBuilder) -> Result<ThreadedServer, Error> {
        let listener = options.listen()?;
        let handle = ServerHandle::new();
        let local = listener.local_addr()?;
        // Wake the blocking accept by connecting to ourselves.
        handle.state.add_waker(move || {
            let _ = TcpStream::connect_timeout(&local, Duration::from_secs(1));
        });
        Ok(ThreadedServer {
            listener,
            options,
            handle,
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
        let hub: Hub<H::Data> = self.options.hub_for()?;
        let _ = self.handle.state.hub.set(hub.erased());
        let handler = Arc::new(handler);
        let options = Arc::new(self.options);
        let state = self.handle.state.clone();
        let registry = Arc::new(Registry {
            conns: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
        });
        let active = Arc::new(AtomicUsize::new(0));
        let refusing = Arc::new(AtomicUsize::new(0));
        let mut threads: Vec<JoinHandle<()>> = Vec::new();
        log::info!(
            "threaded server listening on {}",
            self.listener.local_addr()?
        );
        for stream in self.listener.incoming() {
            if state.is_shutting_down() {
                break;
            }
            let tcp = match stream {
                Ok(tcp) => tcp,
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    continue;
                }
            };
            threads.retain(|t| !t.is_finished());
            let peer = match tcp.peer_addr() {
                Ok(p) => p,
                Err(_) => continue,
            };
            if active.load(Ordering::SeqCst) >= options.max_connections {
                state.refused.fetch_add(1, Ordering::Relaxed);
                if refusing.fetch_add(1, Ordering::SeqCst) < MAX_REFUSERS {
                    let (options, refusing) = (options.clone(), refusing.clone());
                    thread::spawn(move || {
                        refuse(tcp, &options);
                        refusing.fetch_sub(1, Ordering::SeqCst);
                    });
                } else {
                    refusing.fetch_sub(1, Ordering::SeqCst);
                }
                continue;
            }
            active.fetch_add(1, Ordering::SeqCst);
            let (handler, hub, options, state, registry, active) = (
                handler.clone(),
                hub.clone(),
                options.clone(),
                state.clone(),
                registry.clone(),
                active.clone(),
            );
            let spawned = thread::Builder::new()
                .name(format!("ws-client-{peer}"))
                .spawn(move || {
                    serve(tcp, peer, &*handler, &hub, &options, &state, &registry);
                    active.fetch_sub(1, Ordering::SeqCst);
                });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => log::error!("cannot spawn a client thread: {e}"),
            }
        }
        drop(self.listener);
        shutdown_clients(&registry, options.shutdown_timeout);
        for t in threads {
            let _ = t.join();
        }
        log::info!("threaded server stopped");
        Ok(())
    }
}

/// Close every client with 1001 (what they were sent before stays ahead of
/// the Close), wait for them to go, then cut whoever is left.
fn shutdown_clients(registry: &Registry, timeout: Duration) {
    let conns: Vec<Arc<Conn>> = lock(&registry.conns).values().cloned().collect();
    for conn in &conns {
        let link = ThreadedLink { conn: conn.clone() };
        link.close(CloseCode::GOING_AWAY, "server shutting down");
    }
    let deadline = Instant::now() + timeout;
    let mut guard = lock(&registry.conns);
    while !guard.is_empty() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        guard = registry
            .changed
            .wait_timeout(guard, deadline - now)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
    for conn in guard.values() {
        conn.fail_transport();
    }
}

/// A client's transport while its handshake runs: the socket it reads
/// from, the clone writes go to, and the TLS session over both.
struct Wire {
    tcp: TcpStream,
    writer: Mutex<TcpStream>,
    tls: Option<conn::Tls>,
}

impl Wire {
    /// Set up the transport (with the TLS handshake, bounded by
    /// `deadline`, if the server speaks TLS). `None` when it failed, with
    /// a log line saying why.
    fn open(tcp: TcpStream, options: &ServerBuilder, deadline: Instant) -> Option<Wire> {
        let peer = tcp.peer_addr().ok();
        let writer = match tcp.try_clone() {
            Ok(w) => w,
            Err(e) => {
                log::warn!("cannot clone a client socket: {e}");
                return None;
            }
        };
        #[cfg(feature = "tls")]
        if let Some(config) = &options.tls {
            let shaken =
                crate::tls::ServerTlsStream::accept_until(config.clone(), writer, Some(deadline));
            return match shaken {
                Ok(stream) => {
                    let (session, writer) = stream.into_parts();
                    Some(Wire {
                        tcp,
                        writer: Mutex::new(writer),
                        tls: Some(super::tls_io::SharedTls::new(session)),
                    })
                }
                Err(e) => {
                    log::info!(
                        "TLS handshake with {} failed: {e}",
                        peer.map_or_else(|| "a client".to_owned(), |p| p.to_string())
                    );
                    None
                }
            };
        }
        let _ = (options, deadline, peer);
        Some(Wire {
            tcp,
            writer: Mutex::new(writer),
            tls: None,
        })
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        conn::read(&mut self.tcp, self.tls.as_ref(), &self.writer, buf)
    }

    fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        conn::write_all(&mut lock(&self.writer), self.tls.as_ref(), bytes, &[])
    }

    /// Answer and end a connection that is not opened.
    fn reject(mut self, rejection: &Rejection) {
        let _ = self.write_all(&rejection.to_bytes());
        linger_close(&mut self.tcp, self.tls.as_ref(), &self.writer);
    }
}

/// Read the upgrade request (within the handshake timeout) and answer 503.
fn refuse(tcp: TcpStream, options: &ServerBuilder) {
    let deadline = Instant::now() + options.handshake_timeout;
    let Some(mut wire) = Wire::open(tcp, options, deadline) else {
        return;
    };
    if read_request(&mut wire, options, deadline).is_some() {
        wire.reject(&Rejection::status(503).with_header("Retry-After", "1"));
    }
}

/// Read an upgrade request head by `deadline`. Returns the request and the
/// bytes read past it, or `None` when the peer was too slow or went away
/// (a malformed request has been answered).
fn read_request(
    wire: &mut Wire,
    options: &ServerBuilder,
    deadline: Instant,
) -> Option<(Request, Vec<u8>)> {
    let mut handshake = ServerHandshake::new(options.handshake.limits);
    let mut chunk = [0u8; 4096];
    let mut n = 0;
    loop {
        match handshake.receive(&chunk[..n]) {
            ServerProgress::NeedMore => {}
            ServerProgress::Request { request, leftover } => return Some((*request, leftover)),
            ServerProgress::Reject(rejection) => {
                log::debug!("malformed handshake: {}", rejection.error);
                let _ = wire.write_all(&rejection.to_bytes());
                linger_close(&mut wire.tcp, wire.tls.as_ref(), &wire.writer);
                return None;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            log::debug!("handshake timed out");
            return None;
        }
        wire.tcp.set_read_timeout(Some(left)).ok()?;
        n = match wire.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
    }
}

/// The lingering close: shut our write side (after the last bytes), then
/// read and discard until the peer's FIN or the bounds, so that unread
/// input never turns our close into a reset that destroys the last bytes
/// in flight.
fn linger_close(tcp: &mut TcpStream, tls: Option<&conn::Tls>, writer: &Mutex<TcpStream>) {
    #[cfg(feature = "tls")]
    if let Some(tls) = tls {
        tls.close_notify(&mut *lock(writer));
    }
    let _ = (tls, writer);
    if tcp.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let mut linger = Linger::new(Instant::now(), Linger::TIMEOUT, Linger::MAX_BYTES);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = linger.deadline().saturating_duration_since(Instant::now());
        if left.is_zero() || tcp.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match tcp.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) if linger.discarded(n) => {}
            Ok(_) => {
                // Past the byte bound: read no more, but let flow control
                // hold a peer that is still sending until it has read our
                // Close, up to the deadline.
                thread::sleep(linger.deadline().saturating_duration_since(Instant::now()));
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = tcp.shutdown(Shutdown::Both);
}

fn serve<H: Handler>(
    tcp: TcpStream,
    peer: SocketAddr,
    handler: &H,
    hub: &Hub<H::Data>,
    options: &ServerBuilder,
    state: &Arc<ServerState>,
    registry: &Registry,
) {
    let _ = tcp.set_nodelay(true);
    let deadline = Instant::now() + options.handshake_timeout;
    let Some(mut wire) = Wire::open(tcp, options, deadline) else {
        state.refused.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let Some((request, rest)) = read_request(&mut wire, options, deadline) else {
        state.refused.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let admitted = admit(handler, state, options, &request, &rest, Instant::now());
    let Admitted {
        accepted,
        data,
        engine,
    } = match admitted {
        Ok(admitted) => admitted,
        Err(rejection) => {
            log::debug!("refused {peer}: {}", rejection.error);
            wire.reject(&rejection);
            return;
        }
    };
    if wire.write_all(&accepted.to_bytes()).is_err() {
        return;
    }
    let Wire {
        mut tcp,
        writer,
        tls,
    } = wire;
    let writer = writer.into_inner().unwrap_or_else(|e| e.into_inner());
    let _ = writer.set_write_timeout(Some(options.write_timeout));
    let conn = Arc::new(Conn::new(
        engine,
        writer,
        tls,
        options.high_water_mark,
        options.backpressure,
        state.clone(),
    ));
    let client = open_client::<H>(
        hub,
        state,
        peer,
        request,
        &accepted,
        data,
        Box::new(ThreadedLink { conn: conn.clone() }),
    );
    let id = client.id();
    lock(&registry.conns).insert(id, conn.clone());
    let link = ThreadedLink { conn: conn.clone() };
    if !guarded(state, "on_open", || handler.on_open(&client)) {
        link.close(CloseCode::INTERNAL_ERROR, "");
    }
    let (code, reason) = client_loop(&mut tcp, &conn, &link, &client, handler, state);
    report_close(handler, &client, state, code, &reason);
    lock(&registry.conns).remove(&id);
    registry.changed.notify_all();
    // What the writer thread still holds goes out before the lingering
    // close shuts the write side.
    conn.finish_outbox();
    linger_close(&mut tcp, conn.tls.as_ref(), &conn.writer);
}

/// The threaded server's way to its engine: a lock per event.
struct ThreadedAccess<'a> {
    conn: &'a Arc<Conn>,
    link: &'a ThreadedLink,
}

impl EngineAccess for ThreadedAccess<'_> {
    fn poll_event(&mut self) -> Result<Option<Event>, Error> {
        Ok(lock(&self.conn.engine).poll_event()?)
    }

    fn close_internal_error(&mut self) {
        self.link.close(CloseCode::INTERNAL_ERROR, "");
    }
}

/// Read, feed the engine, dispatch events, until the connection is over.
/// Returns the close code and reason for `on_close`.
fn client_loop<H: Handler>(
    tcp: &mut TcpStream,
    conn: &Arc<Conn>,
    link: &ThreadedLink,
    client: &Client<H::Data>,
    handler: &H,
    state: &ServerState,
) -> (CloseCode, String) {
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut read_error: Option<io::Error> = None;
    // The read timeout set last: a system call only when it changes.
    let mut armed: Option<Duration> = None;
    loop {
        let access = ThreadedAccess { conn, link };
        if let Some((code, reason)) = deliver(handler, client, state, access) {
            // Our Close (or the reply to the peer's) goes out before the
            // transport is closed.
            let _ = conn.flush();
            let error = lock(&conn.write_error).take().or(read_error);
            return transport_loss(handler, client, state, code, reason, error);
        }
        if conn.flush().is_err() {
            // The write error is reported once the engine has seen the end.
            lock(&conn.engine).receive_eof();
            continue;
        }
        let now = Instant::now();
        // Other threads can arm timers (a close from `Client::close` starts
        // the close-handshake timer) while this one is blocked in `read`,
        // so never block longer than RECHECK.
        let wait = lock(&conn.engine)
            .poll_timeout()
            .map_or(RECHECK, |d| d.saturating_duration_since(now).min(RECHECK))
            .max(Duration::from_millis(1));
        // Timers are checked at least every RECHECK; a deadline within
        // it moves the timeout, which is then set again.
        if armed != Some(wait) {
            if let Err(e) = tcp.set_read_timeout(Some(wait)) {
                read_error = Some(e);
                lock(&conn.engine).receive_eof();
                continue;
            }
            armed = Some(wait);
        }
        let read = conn::read(tcp, conn.tls.as_ref(), &conn.writer, &mut chunk);
        let mut engine = lock(&conn.engine);
        match read {
            Ok(0) => engine.receive_eof(),
            Ok(n) => engine.receive(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                read_error.get_or_insert(e);
                engine.receive_eof();
            }
        }
        engine.handle_timeout(Instant::now());
    }
}
