//! The threaded server: a thread per client, blocking I/O, the engine
//! shared between the client's reader thread and senders.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::client::Link;
use super::shared::{decide, guarded, ServerState};
use super::{Backpressure, Client, Handler, MessageId, SendError, ServerBuilder, ServerHandle};
use crate::connection::{Engine, Event};
use crate::handshake::{parse_request, Rejection};
use crate::{Error, Message};

const READ_CHUNK: usize = 16 * 1024;
/// The longest a client thread blocks in `read` before looking at its
/// timers again.
const RECHECK: Duration = Duration::from_secs(1);
/// At most this many threads answer refused connections at once; beyond
/// that, refused connections are simply closed.
const MAX_REFUSERS: usize = 64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A thread per client (wspy's `Server`). Sends from other threads write
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

/// One client's shared state. Lock order: `writer` before `engine`.
struct Conn {
    engine: Mutex<Engine>,
    writer: Mutex<TcpStream>,
    next_id: AtomicU64,
}

impl Conn {
    /// Write whatever the engine has to send.
    fn flush(&self) -> io::Result<()> {
        let mut writer = lock(&self.writer);
        let mut out = Vec::new();
        lock(&self.engine).poll_transmit(&mut out);
        if !out.is_empty() {
            writer.write_all(&out)?;
        }
        Ok(())
    }

    fn fail_transport(&self) {
        let _ = lock(&self.writer).shutdown(Shutdown::Both);
    }
}

struct ThreadedLink {
    conn: Arc<Conn>,
}

impl Link for ThreadedLink {
    fn send(
        &self,
        message: Message,
        _policy: Option<Backpressure>,
    ) -> Result<MessageId, SendError> {
        let mut writer = lock(&self.conn.writer);
        let mut out = Vec::new();
        {
            let mut engine = lock(&self.conn.engine);
            engine.send(&message).map_err(|_| SendError::Closed)?;
            engine.poll_transmit(&mut out);
        }
        if let Err(e) = writer.write_all(&out) {
            log::debug!("write to client failed: {e}");
            let _ = writer.shutdown(Shutdown::Both);
            return Err(SendError::Closed);
        }
        Ok(self.conn.next_id.fetch_add(1, Ordering::Relaxed))
    }

    fn close(&self, code: u16, reason: &str) {
        let mut writer = lock(&self.conn.writer);
        let mut out = Vec::new();
        {
            let mut engine = lock(&self.conn.engine);
            if engine.close(code, reason).is_err() {
                let _ = engine.close(1000, "");
            }
            engine.poll_transmit(&mut out);
        }
        if writer.write_all(&out).is_err() {
            let _ = writer.shutdown(Shutdown::Both);
        }
    }

    fn buffered_amount(&self) -> usize {
        lock(&self.conn.engine).pending_transmit()
    }
}

struct Registry {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    changed: Condvar,
}

impl ThreadedServer {
    pub(crate) fn bind(options: ServerBuilder) -> io::Result<ThreadedServer> {
        let listener = TcpListener::bind(options.resolve()?)?;
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
    pub fn run<H: Handler>(self, handler: H) -> io::Result<()> {
        if self.options.stop_on_signals {
            self.handle.install_signal_handler()?;
        }
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
            let (handler, options, state, registry, active) = (
                handler.clone(),
                options.clone(),
                state.clone(),
                registry.clone(),
                active.clone(),
            );
            let spawned = thread::Builder::new()
                .name(format!("ws-client-{peer}"))
                .spawn(move || {
                    serve(tcp, peer, &*handler, &options, &state, &registry);
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
        link.close(1001, "server shutting down");
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

/// Read the upgrade request (within the handshake timeout) and answer 503.
fn refuse(mut tcp: TcpStream, options: &ServerBuilder) {
    let _ = read_request(&mut tcp, options);
    let rejection = Rejection::status(503).with_header("Retry-After", "1");
    let _ = tcp.write_all(&rejection.to_bytes());
    let _ = tcp.shutdown(Shutdown::Write);
}

/// Read an upgrade request head within the handshake timeout. Returns the
/// bytes read and the parsed request with its length, or `None` when the
/// peer was too slow or went away; a malformed request has been answered.
fn read_request(
    tcp: &mut TcpStream,
    options: &ServerBuilder,
) -> Option<(crate::handshake::Request, Vec<u8>)> {
    let deadline = Instant::now() + options.handshake_timeout;
    let limits = &options.handshake.limits;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match parse_request(&buf, limits) {
            Ok(Some((request, used))) => {
                buf.drain(..used);
                return Some((request, buf));
            }
            Ok(None) => {}
            Err(e) => {
                let _ = tcp.write_all(&Rejection::from_error(e).to_bytes());
                return None;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            log::debug!("handshake timed out");
            return None;
        }
        tcp.set_read_timeout(Some(left)).ok()?;
        match tcp.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn serve<H: Handler>(
    mut tcp: TcpStream,
    peer: SocketAddr,
    handler: &H,
    options: &ServerBuilder,
    state: &Arc<ServerState>,
    registry: &Registry,
) {
    let _ = tcp.set_nodelay(true);
    let Some((request, rest)) = read_request(&mut tcp, options) else {
        state.refused.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let decision = decide(handler, state, &options.handshake, &request);
    let accepted = match decision {
        Ok(a) => a,
        Err(rejection) => {
            log::debug!("refused {peer}: {}", rejection.error);
            state.refused.fetch_add(1, Ordering::Relaxed);
            let _ = tcp.write_all(&rejection.to_bytes());
            let _ = tcp.shutdown(Shutdown::Write);
            return;
        }
    };
    let engine = Engine::server(options.config)
        .and_then(|e| e.with_extensions(options.handshake.build_extensions(&accepted.extensions)));
    let (mut engine, writer) = match (engine, tcp.try_clone()) {
        (Ok(e), Ok(w)) => (e, w),
        _ => return,
    };
    if tcp.write_all(&accepted.to_bytes()).is_err() {
        return;
    }
    let _ = writer.set_write_timeout(Some(options.write_timeout));
    engine.receive(&rest);
    // Start the engine's clock so its timers (ping, idle) are armed.
    engine.handle_timeout(Instant::now());
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    let conn = Arc::new(Conn {
        engine: Mutex::new(engine),
        writer: Mutex::new(writer),
        next_id: AtomicU64::new(0),
    });
    lock(&registry.conns).insert(id, conn.clone());
    state.open.fetch_add(1, Ordering::Relaxed);
    state.accepted.fetch_add(1, Ordering::Relaxed);
    let client = Client::new(
        id,
        peer,
        request,
        accepted.subprotocol,
        H::Data::default(),
        Box::new(ThreadedLink { conn: conn.clone() }),
    );
    let link = ThreadedLink { conn: conn.clone() };
    if !guarded(state, "on_open", || handler.on_open(&client)) {
        link.close(1011, "");
    }
    let (code, reason) = client_loop(&mut tcp, &conn, &link, &client, handler, state);
    guarded(state, "on_close", || {
        handler.on_close(&client, code, &reason)
    });
    lock(&registry.conns).remove(&id);
    registry.changed.notify_all();
    state.open.fetch_sub(1, Ordering::Relaxed);
    let _ = tcp.shutdown(Shutdown::Both);
}

/// Read, feed the engine, dispatch events, until the connection is over.
/// Returns the close code and reason for `on_close`.
fn client_loop<H: Handler>(
    tcp: &mut TcpStream,
    conn: &Conn,
    link: &ThreadedLink,
    client: &Client<H::Data>,
    handler: &H,
    state: &ServerState,
) -> (u16, String) {
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        loop {
            let polled = lock(&conn.engine).poll_event();
            let ok = match polled {
                Ok(None) => break,
                Ok(Some(Event::Text(t))) => guarded(state, "on_message", || {
                    handler.on_message(client, Message::Text(t))
                }),
                Ok(Some(Event::Binary(b))) => guarded(state, "on_message", || {
                    handler.on_message(client, Message::Binary(b))
                }),
                Ok(Some(Event::Ping(p))) => {
                    guarded(state, "on_ping", || handler.on_ping(client, &p))
                }
                Ok(Some(Event::Pong(p))) => {
                    guarded(state, "on_pong", || handler.on_pong(client, &p))
                }
                Ok(Some(Event::Chunk { .. })) => true,
                Ok(Some(Event::Closed { code, reason })) => {
                    let _ = conn.flush();
                    return (code, reason);
                }
                Err(e) => {
                    let _ = conn.flush();
                    let (code, reason) = (e.close_code(), e.to_string());
                    guarded(state, "on_error", || {
                        handler.on_error(client, &Error::Protocol(e))
                    });
                    return (code, reason);
                }
            };
            if !ok {
                link.close(1011, "");
            }
        }
        if conn.flush().is_err() {
            return (1006, "write failed".into());
        }
        let now = Instant::now();
        // Other threads can arm timers (a close from `Client::close` starts
        // the close-handshake timer) while this one is blocked in `read`,
        // so never block longer than RECHECK.
        let wait = lock(&conn.engine)
            .poll_timeout()
            .map_or(RECHECK, |d| d.saturating_duration_since(now).min(RECHECK))
            .max(Duration::from_millis(1));
        if tcp.set_read_timeout(Some(wait)).is_err() {
            return (1006, "socket error".into());
        }
        let read = tcp.read(&mut chunk);
        let mut engine = lock(&conn.engine);
        match read {
            Ok(0) => engine.receive_eof(),
            Ok(n) => engine.receive(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::debug!("read from {client} failed: {e}");
                engine.receive_eof();
            }
        }
        engine.handle_timeout(Instant::now());
    }
}
