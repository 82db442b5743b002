//! The event-loop server: non-blocking sockets on mio (epoll), N loops
//! sharing the port by accept hand-off, sends from any thread queued and
//! the right loop woken, vectored writes, backpressure by policy.

mod link;
mod output;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::client::Link;
use super::shared::{decide, guarded, ServerState};
use super::{Backpressure, Client, Handler, MessageId, SendError, ServerBuilder, ServerHandle};
use crate::connection::{Engine, Event};
use crate::handshake::{parse_request, Rejection};
use crate::{Error, Message};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX);
/// Timer granularity: deadlines (handshake, ping, idle, close) are checked
/// this often.
const TICK: Duration = Duration::from_millis(100);
/// Encode queued messages only while less than this is waiting to be
/// written, so control frames never wait behind a long queue.
const OUT_LOW: usize = 64 * 1024;
/// Bytes read from one socket per readiness event before others get a turn.
const READ_BUDGET: usize = 1 << 20;
const READ_BUF: usize = 64 * 1024;
const MAX_IOV: usize = 64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    /// Which loop (if any) the current thread runs.
    static CURRENT_LOOP: Cell<usize> = const { Cell::new(usize::MAX) };
    /// Connections this loop's own callbacks scheduled: (slot, generation).
    static LOCAL_READY: RefCell<Vec<(usize, u64)>> = const { RefCell::new(Vec::new()) };
}

use link::{EventLoopLink, LinkShared, LoopShared};
use output::Output;

enum Phase<D> {
    Handshake {
        buf: Vec<u8>,
        deadline: Instant,
        refuse: bool,
    },
    Open {
        engine: Box<Engine>,
        client: Client<D>,
        link: Arc<LinkShared>,
    },
    /// Write what is left (a rejection, a final Close), then drop.
    Closing,
}

struct Conn<D> {
    socket: TcpStream,
    generation: u64,
    peer: SocketAddr,
    phase: Phase<D>,
    output: Output,
    read_paused: bool,
    close_info: Option<(u16, String)>,
    eof: bool,
}

/// An epoll server (wspy's `AsyncServer`): N event loops, non-blocking
/// sends queued per client, `on_sent` when a message is fully written,
/// backpressure by policy. Build with [`ServerBuilder::bind_event_loop`].
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
    pub(crate) fn bind(options: ServerBuilder) -> io::Result<EventLoopServer> {
        let listener = std::net::TcpListener::bind(options.resolve()?)?;
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
    pub fn run<H: Handler>(self, handler: H) -> io::Result<()> {
        if self.options.stop_on_signals {
            self.handle.install_signal_handler()?;
        }
        let n = self.options.loops.max(1);
        let mut polls = Vec::with_capacity(n);
        let mut shared = Vec::with_capacity(n);
        for index in 0..n {
            let poll = Poll::new()?;
            let waker = Waker::new(poll.registry(), WAKER)?;
            shared.push(Arc::new(LoopShared {
                index,
                waker,
                inbox: Mutex::default(),
                pending: AtomicBool::new(false),
            }));
            polls.push(poll);
        }
        let shared: Arc<[Arc<LoopShared>]> = shared.into();
        for l in shared.iter() {
            let l = l.clone();
            self.handle.state.add_waker(move || {
                let _ = l.waker.wake();
            });
        }
        let handler = Arc::new(handler);
        let options = Arc::new(self.options);
        let live = Arc::new(AtomicUsize::new(0));
        let mut listener = Some(TcpListener::from_std(self.listener));
        log::info!(
            "event-loop server listening on {:?} with {n} loops",
            listener.as_ref().map(|l| l.local_addr())
        );
        let mut threads = Vec::new();
        for (index, poll) in polls.into_iter().enumerate() {
            let ctx = LoopCtx {
                poll,
                me: shared[index].clone(),
                loops: shared.clone(),
                listener: if index == 0 { listener.take() } else { None },
                handler: handler.clone(),
                options: options.clone(),
                state: self.handle.state.clone(),
                live: live.clone(),
                conns: Vec::new(),
                free: Vec::new(),
                next_generation: 1,
                next_loop: 0,
                buf: vec![0; READ_BUF],
                pending_reads: Vec::new(),
                ready: Vec::new(),
                stopping: None,
            };
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
                Ok(Err(e)) => result = Err(e),
                Err(_) => result = Err(io::Error::other("an event loop panicked")),
            }
        }
        log::info!("event-loop server stopped");
        result
    }
}

struct LoopCtx<H: Handler> {
    poll: Poll,
    me: Arc<LoopShared>,
    loops: Arc<[Arc<LoopShared>]>,
    listener: Option<TcpListener>,
    handler: Arc<H>,
    options: Arc<ServerBuilder>,
    state: Arc<ServerState>,
    live: Arc<AtomicUsize>,
    conns: Vec<Option<Conn<H::Data>>>,
    free: Vec<usize>,
    next_generation: u64,
    next_loop: usize,
    buf: Vec<u8>,
    pending_reads: Vec<usize>,
    /// Reused list of connections to pump.
    ready: Vec<(usize, u64)>,
    stopping: Option<Instant>,
}

impl<H: Handler> LoopCtx<H> {
    fn run(mut self) -> io::Result<()> {
        CURRENT_LOOP.with(|c| c.set(self.me.index));
        if let Some(l) = &mut self.listener {
            self.poll
                .registry()
                .register(l, LISTENER, Interest::READABLE)?;
        }
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        loop {
            let busy = !self.pending_reads.is_empty()
                || self.me.pending.load(Ordering::Acquire)
                || LOCAL_READY.with(|r| !r.borrow().is_empty());
            let timeout = if busy {
                Duration::ZERO
            } else {
                next_tick.saturating_duration_since(Instant::now())
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(slot) => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.on_readable(slot);
                        }
                        if event.is_writable() {
                            self.pump(slot);
                        }
                    }
                }
            }
            for slot in std::mem::take(&mut self.pending_reads) {
                self.on_readable(slot);
            }
            self.drain_inbox();
            if self.state.is_shutting_down() && self.stopping.is_none() {
                self.begin_shutdown();
            }
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + TICK;
                self.tick(now);
            }
            if let Some(deadline) = self.stopping {
                let empty = self.conns.iter().all(Option::is_none);
                if empty || now >= deadline {
                    for slot in 0..self.conns.len() {
                        if self.conns[slot].is_some() {
                            self.finish(slot);
                        }
                    }
                    return Ok(());
                }
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((socket, peer)) => {
                    let _ = socket.set_nodelay(true);
                    let target = self.next_loop % self.loops.len();
                    self.next_loop = self.next_loop.wrapping_add(1);
                    if target == self.me.index {
                        self.add_conn(socket, peer);
                    } else {
                        self.loops[target].hand_over(socket, peer);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn add_conn(&mut self, mut socket: TcpStream, peer: SocketAddr) {
        let refuse = self.live.fetch_add(1, Ordering::SeqCst) >= self.options.max_connections
            || self.stopping.is_some();
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        if let Err(e) = self.poll.registry().register(
            &mut socket,
            Token(slot),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::warn!("cannot register a connection: {e}");
            self.live.fetch_sub(1, Ordering::SeqCst);
            self.free.push(slot);
            return;
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        self.conns[slot] = Some(Conn {
            socket,
            generation,
            peer,
            phase: Phase::Handshake {
                buf: Vec::new(),
                deadline: Instant::now() + self.options.handshake_timeout,
                refuse,
            },
            output: Output::default(),
            read_paused: false,
            close_info: None,
            eof: false,
        });
        // Bytes may already be waiting: edge-triggered readiness would not
        // report them again.
        self.pending_reads.push(slot);
    }

    fn drain_inbox(&mut self) {
        let mut ready = std::mem::take(&mut self.ready);
        if self.me.pending.swap(false, Ordering::AcqRel) {
            let mut inbox = lock(&self.me.inbox);
            ready.append(&mut inbox.ready);
            let new_conns = std::mem::take(&mut inbox.new_conns);
            drop(inbox);
            for (socket, peer) in new_conns {
                self.add_conn(socket, peer);
            }
        }
        LOCAL_READY.with(|r| ready.append(&mut r.borrow_mut()));
        for &(slot, generation) in &ready {
            let current = self
                .conns
                .get(slot)
                .and_then(Option::as_ref)
                .map(|c| c.generation);
            if current == Some(generation) {
                self.pump(slot);
            }
        }
        ready.clear();
        self.ready = ready;
    }

    fn on_readable(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        match conn.phase {
            Phase::Handshake { .. } => self.read_handshake(slot),
            Phase::Open { .. } => self.read_open(slot),
            Phase::Closing => {
                // Drain and discard what the peer still sends.
                let conn = self.conns[slot].as_mut().expect("checked");
                loop {
                    match conn.socket.read(&mut self.buf) {
                        Ok(0) => {
                            conn.eof = true;
                            break;
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                self.pump(slot);
            }
        }
    }

    fn read_handshake(&mut self, slot: usize) {
        let max = self.options.handshake.limits.max_handshake_bytes;
        let conn = self.conns[slot].as_mut().expect("live slot");
        let Phase::Handshake { buf, refuse, .. } = &mut conn.phase else {
            return;
        };
        let mut ended = false;
        loop {
            match conn.socket.read(&mut self.buf) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(n) => {
                    buf.extend_from_slice(&self.buf[..n]);
                    if buf.len() > max {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    ended = true;
                    break;
                }
            }
        }
        let refuse = *refuse;
        match parse_request(buf, &self.options.handshake.limits) {
            Ok(None) if ended => self.finish(slot),
            Ok(None) => {}
            Err(e) => {
                self.state.refused.fetch_add(1, Ordering::Relaxed);
                self.reject(slot, Rejection::from_error(e));
            }
            Ok(Some(_)) if refuse => {
                self.state.refused.fetch_add(1, Ordering::Relaxed);
                self.reject(slot, Rejection::status(503).with_header("Retry-After", "1"));
            }
            Ok(Some((request, used))) => {
                let rest = buf.split_off(used);
                self.open(slot, request, rest);
            }
        }
    }

    fn reject(&mut self, slot: usize, rejection: Rejection) {
        let conn = self.conns[slot].as_mut().expect("live slot");
        log::debug!("refused {}: {}", conn.peer, rejection.error);
        conn.phase = Phase::Closing;
        conn.output.push(rejection.to_bytes());
        self.pump(slot);
    }

    fn open(&mut self, slot: usize, request: crate::handshake::Request, rest: Vec<u8>) {
        let (handler, state, options) = (
            self.handler.clone(),
            self.state.clone(),
            self.options.clone(),
        );
        let decision = decide(&*handler, &state, &options.handshake, &request);
        let accepted = match decision {
            Ok(a) => a,
            Err(rejection) => {
                state.refused.fetch_add(1, Ordering::Relaxed);
                return self.reject(slot, rejection);
            }
        };
        let engine = Engine::server(options.config).and_then(|e| {
            e.with_extensions(options.handshake.build_extensions(&accepted.extensions))
        });
        let mut engine = match engine {
            Ok(e) => Box::new(e),
            Err(e) => {
                log::error!("invalid connection config: {e}");
                return self.reject(slot, Rejection::status(500));
            }
        };
        engine.receive(&rest);
        engine.handle_timeout(Instant::now());
        let conn = self.conns[slot].as_mut().expect("live slot");
        conn.output.push(accepted.to_bytes());
        let link = Arc::new(LinkShared {
            queue: Mutex::default(),
            queued_bytes: AtomicUsize::new(0),
            out_bytes: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            close_request: Mutex::new(None),
            close_requested: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            slot,
            generation: conn.generation,
            home: self.me.clone(),
            state: state.clone(),
            high_water_mark: options.high_water_mark,
            policy: options.backpressure,
        });
        let id = state.next_id.fetch_add(1, Ordering::Relaxed);
        let client = Client::new(
            id,
            conn.peer,
            request,
            accepted.subprotocol,
            H::Data::default(),
            Box::new(EventLoopLink(link.clone())),
        );
        conn.phase = Phase::Open {
            engine,
            client: client.clone(),
            link: link.clone(),
        };
        state.open.fetch_add(1, Ordering::Relaxed);
        state.accepted.fetch_add(1, Ordering::Relaxed);
        if !guarded(&state, "on_open", || handler.on_open(&client)) {
            link.request_close(1011, "");
        }
        self.process(slot);
    }

    fn read_open(&mut self, slot: usize) {
        let conn = self.conns[slot].as_mut().expect("live slot");
        let Phase::Open { engine, link, .. } = &mut conn.phase else {
            return;
        };
        if link.buffered() > self.options.high_water_mark {
            // Stop reading from a client whose replies are not being
            // consumed; TCP pushes back on it. Resumed in `pump`.
            conn.read_paused = true;
            return;
        }
        let mut budget = READ_BUDGET;
        loop {
            match conn.socket.read(&mut self.buf) {
                Ok(0) => {
                    conn.eof = true;
                    engine.receive_eof();
                    break;
                }
                Ok(n) => {
                    engine.receive(&self.buf[..n]);
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        self.pending_reads.push(slot);
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("read from {} failed: {e}", conn.peer);
                    conn.eof = true;
                    engine.receive_eof();
                    break;
                }
            }
        }
        self.process(slot);
    }

    /// Deliver the engine's events to the handler, then write.
    fn process(&mut self, slot: usize) {
        let (handler, state) = (&*self.handler, &*self.state);
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if let Phase::Open {
            engine,
            client,
            link,
        } = &mut conn.phase
        {
            loop {
                let ok = match engine.poll_event() {
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
                        conn.close_info.get_or_insert((code, reason));
                        link.closed.store(true, Ordering::Release);
                        break;
                    }
                    Err(e) => {
                        conn.close_info
                            .get_or_insert((e.close_code(), e.to_string()));
                        link.closed.store(true, Ordering::Release);
                        guarded(state, "on_error", || {
                            handler.on_error(client, &Error::Protocol(e))
                        });
                        break;
                    }
                };
                if !ok {
                    link.request_close(1011, "");
                }
            }
        }
        self.pump(slot);
    }

    /// Encode queued messages, honour a close request, write, report
    /// `on_sent`, and close the transport when the engine is done.
    fn pump(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if let Phase::Open { engine, link, .. } = &mut conn.phase {
            if !link.closed.load(Ordering::Acquire) {
                encode_queued(&mut conn.output, engine, link, false);
            }
            let requested = link.close_requested.swap(false, Ordering::AcqRel);
            let request = if requested {
                lock(&link.close_request).take()
            } else {
                None
            };
            if let Some((code, reason)) = request {
                // Everything accepted before the close goes out first.
                encode_queued(&mut conn.output, engine, link, true);
                if engine.close(code, &reason).is_err() {
                    let _ = engine.close(1011, "");
                }
                link.closed.store(true, Ordering::Release);
            }
            let mut control = Vec::new();
            engine.poll_transmit(&mut control);
            conn.output.push(control);
        }
        let mut done = conn.output.write_to(&mut conn.socket).is_err();
        let mut resume = false;
        match &conn.phase {
            Phase::Open { engine, link, .. } => {
                link.out_bytes.store(conn.output.len, Ordering::Release);
                done |= conn.output.len == 0 && engine.wants_close_transport();
                if conn.read_paused && link.buffered() <= self.options.high_water_mark / 2 {
                    conn.read_paused = false;
                    resume = true;
                }
            }
            Phase::Closing => done |= conn.output.len == 0,
            Phase::Handshake { .. } => {}
        }
        // on_sent for every message whose last byte is now with the kernel.
        if let Phase::Open { client, .. } = &conn.phase {
            while let Some(id) = conn.output.next_sent() {
                let handler = &self.handler;
                guarded(&self.state, "on_sent", || handler.on_sent(client, id));
            }
        }
        if done {
            self.finish(slot);
        } else if resume {
            self.pending_reads.push(slot);
        }
    }

    fn tick(&mut self, now: Instant) {
        for slot in 0..self.conns.len() {
            let Some(conn) = self.conns[slot].as_mut() else {
                continue;
            };
            match &mut conn.phase {
                Phase::Handshake { deadline, .. } if now >= *deadline => {
                    log::debug!("handshake from {} timed out", conn.peer);
                    self.state.refused.fetch_add(1, Ordering::Relaxed);
                    self.finish(slot);
                }
                Phase::Open { engine, .. } if engine.poll_timeout().is_none_or(|d| d <= now) => {
                    engine.handle_timeout(now);
                    self.process(slot);
                }
                _ => {}
            }
        }
    }

    fn begin_shutdown(&mut self) {
        self.stopping = Some(Instant::now() + self.options.shutdown_timeout);
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        for slot in 0..self.conns.len() {
            let Some(conn) = self.conns[slot].as_mut() else {
                continue;
            };
            match &conn.phase {
                Phase::Open { link, .. } => {
                    let mut req = lock(&link.close_request);
                    if !link.closed.swap(true, Ordering::AcqRel) {
                        *req = Some((1001, "server shutting down".into()));
                        link.close_requested.store(true, Ordering::Release);
                    }
                    drop(req);
                    self.pump(slot);
                }
                Phase::Handshake { .. } => self.finish(slot),
                Phase::Closing => {}
            }
        }
    }

    /// Drop the connection and report `on_close` once.
    fn finish(&mut self, slot: usize) {
        let Some(mut conn) = self.conns[slot].take() else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.socket);
        let _ = conn.socket.shutdown(Shutdown::Both);
        self.free.push(slot);
        self.live.fetch_sub(1, Ordering::SeqCst);
        if let Phase::Open { client, link, .. } = conn.phase {
            link.closed.store(true, Ordering::Release);
            self.state.open.fetch_sub(1, Ordering::Relaxed);
            let (code, reason) = conn.close_info.unwrap_or((1006, String::new()));
            let handler = self.handler.clone();
            guarded(&self.state, "on_close", || {
                handler.on_close(&client, code, &reason)
            });
        }
    }
}

/// Move queued messages through the engine into the output, while the
/// output is short (or all of them, when closing).
fn encode_queued(output: &mut Output, engine: &mut Engine, link: &LinkShared, all: bool) {
    loop {
        if !all && output.len >= OUT_LOW {
            return;
        }
        let Some((message, id)) = lock(&link.queue).pop_front() else {
            return;
        };
        link.queued_bytes.fetch_sub(message.len(), Ordering::AcqRel);
        if engine.send(&message).is_err() {
            continue; // closing: nothing more can be sent
        }
        let mut chunk = Vec::new();
        engine.poll_transmit(&mut chunk);
        output.push_message(chunk, id);
    }
}
