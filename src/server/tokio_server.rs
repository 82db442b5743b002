//! The tokio server (feature `tokio`): one task per client on a tokio
//! runtime, sends from any thread queued and the client's task woken,
//! backpressure by policy, `on_sent` once a message is written.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::{TcpListener, TcpStream};
use ::tokio::task::JoinSet;
use ::tokio::time::Sleep;

use super::client::Link;
use super::dispatch::{decide, deliver, report_close, transport_loss, EngineAccess};
use super::shared::{guarded, ServerState};
use super::{Backpressure, Client, Handler, MessageId, SendError, ServerBuilder, ServerHandle};
use crate::connection::{Engine, Event, Message};
use crate::driver::{server_engine, Linger};
use crate::error::Error;
use crate::frame::CloseCode;
use crate::handshake::Rejection;
use crate::tokio::linger::linger_close;
use crate::tokio::{now, read_request, reject};

/// Encode queued messages only while less than this waits to be written,
/// so control frames never wait behind a long queue.
const OUT_LOW: usize = 64 * 1024;
/// Bytes read per call (on the stack, never kept per connection).
const READ_CHUNK: usize = 64 * 1024;
/// At most this many tasks answer refused connections at once; beyond
/// that, refused connections are simply closed.
const MAX_REFUSERS: usize = 64;
/// After the shutdown timeout, how long cut clients get to report their
/// end before their tasks are aborted.
const CUT_GRACE: Duration = Duration::from_secs(1);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A server on tokio: one task per client. Sends from any thread are
/// queued and the client's task woken; a per-client high-water mark
/// applies the [`Backpressure`] policy, and the server stops reading from
/// a client whose output is over the mark. [`Handler::on_sent`] reports
/// each message once written. Build with [`ServerBuilder::bind_tokio`].
///
/// Handler callbacks run on the runtime's worker threads: keep them short
/// (hand long work to `tokio::task::spawn_blocking` or a thread), as on
/// the event-loop server. [`ServerBuilder::write_timeout`] does not apply
/// (the high-water mark does).
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
/// # async fn run() -> Result<(), wsstack::Error> {
/// // Inside a runtime:
/// let server = ServerBuilder::new().address("127.0.0.1:9001").bind_tokio()?;
/// server.serve(Echo).await?;
/// // Or, from plain `main`: server.run(Echo)?, which starts a runtime
/// // with `ServerBuilder::loops` worker threads.
/// # Ok(())
/// # }
/// ```
pub struct TokioServer {
    listener: std::net::TcpListener,
    options: ServerBuilder,
    handle: ServerHandle,
}

impl std::fmt::Debug for TokioServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokioServer")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

/// What every client task shares.
struct Ctx<H> {
    handler: H,
    options: ServerBuilder,
    state: Arc<ServerState>,
    registry: Mutex<HashMap<u64, Arc<LinkShared>>>,
    /// Connections accepted and not yet finished (handshakes included).
    live: AtomicUsize,
    refusing: AtomicUsize,
}

impl TokioServer {
    pub(crate) fn bind(options: ServerBuilder) -> Result<TokioServer, Error> {
        let listener = options.listen()?;
        listener.set_nonblocking(true)?;
        Ok(TokioServer {
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

    /// Start a multi-threaded tokio runtime with
    /// [`ServerBuilder::loops`] worker threads and [`serve`](Self::serve)
    /// on it until [`ServerHandle::shutdown`] (or a signal, with
    /// [`ServerBuilder::stop_on_signals`]). Do not call it from inside a
    /// runtime: use `serve` there.
    pub fn run<H: Handler>(self, handler: H) -> Result<(), Error> {
        let runtime = ::tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.options.loops.max(1))
            .thread_name("ws-tokio")
            .enable_all()
            .build()?;
        runtime.block_on(self.serve(handler))
    }

    /// Serve on the current tokio runtime until [`ServerHandle::shutdown`]
    /// (or a signal, with [`ServerBuilder::stop_on_signals`]), then close
    /// every client gracefully: what was queued for it first, then 1001,
    /// then wait for the clients to answer, up to
    /// [`ServerBuilder::shutdown_timeout`].
    pub async fn serve<H: Handler>(self, handler: H) -> Result<(), Error> {
        if self.options.stop_on_signals {
            self.handle.install_signal_handler()?;
        }
        let listener = TcpListener::from_std(self.listener)?;
        let state = self.handle.state.clone();
        let accept_waker: Arc<Mutex<Option<Waker>>> = Arc::default();
        let slot = accept_waker.clone();
        state.add_waker(move || {
            if let Some(waker) = lock(&slot).take() {
                waker.wake();
            }
        });
        let ctx = Arc::new(Ctx {
            handler,
            options: self.options,
            state: state.clone(),
            registry: Mutex::default(),
            live: AtomicUsize::new(0),
            refusing: AtomicUsize::new(0),
        });
        log::info!("tokio server listening on {}", listener.local_addr()?);
        let mut tasks = JoinSet::new();
        loop {
            let accepted = std::future::poll_fn(|cx| {
                *lock(&accept_waker) = Some(cx.waker().clone());
                if state.is_shutting_down() {
                    return Poll::Ready(None);
                }
                listener.poll_accept(cx).map(Some)
            })
            .await;
            while tasks.try_join_next().is_some() {}
            match accepted {
                None => break,
                Some(Ok((tcp, peer))) => {
                    let refuse =
                        ctx.live.fetch_add(1, Ordering::SeqCst) >= ctx.options.max_connections;
                    if refuse {
                        state.refused.fetch_add(1, Ordering::Relaxed);
                        if ctx.refusing.fetch_add(1, Ordering::SeqCst) >= MAX_REFUSERS {
                            ctx.refusing.fetch_sub(1, Ordering::SeqCst);
                            ctx.live.fetch_sub(1, Ordering::SeqCst);
                            continue;
                        }
                    }
                    tasks.spawn(serve_conn(tcp, peer, ctx.clone(), refuse));
                }
                Some(Err(e)) => {
                    log::warn!("accept failed: {e}");
                    // Out of descriptors, most likely: let clients leave.
                    ::tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        drop(listener);
        shutdown_clients(&ctx, &mut tasks).await;
        log::info!("tokio server stopped");
        Ok(())
    }
}

/// Close every client with 1001 (what was queued for it goes first), wait
/// for them to go up to the shutdown timeout, then cut whoever is left.
async fn shutdown_clients<H: Handler>(ctx: &Ctx<H>, tasks: &mut JoinSet<()>) {
    let links: Vec<_> = lock(&ctx.registry).values().cloned().collect();
    for link in &links {
        link.request_close(CloseCode::GOING_AWAY, "server shutting down");
    }
    let open_left = |ctx: &Ctx<H>| !lock(&ctx.registry).is_empty();
    let until_closed = async { while open_left(ctx) && tasks.join_next().await.is_some() {} };
    let _ = ::tokio::time::timeout(ctx.options.shutdown_timeout, until_closed).await;
    for link in lock(&ctx.registry).values() {
        link.cut();
    }
    let until_cut = async { while open_left(ctx) && tasks.join_next().await.is_some() {} };
    let _ = ::tokio::time::timeout(CUT_GRACE, until_cut).await;
    // Handshakes still in progress.
    tasks.shutdown().await;
}

/// Counts a connection as live until its task ends.
struct Live<'a>(&'a AtomicUsize);

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve_conn<H: Handler>(
    mut tcp: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Ctx<H>>,
    refuse: bool,
) {
    let _live = Live(&ctx.live);
    let (handler, options, state) = (&ctx.handler, &ctx.options, &*ctx.state);
    let _ = tcp.set_nodelay(true);
    let read = ::tokio::time::timeout(
        options.handshake_timeout,
        read_request(&mut tcp, options.handshake.limits),
    )
    .await;
    if refuse {
        // Over the connection limit (counted as refused on accept): answer
        // the request, if one came in time, with 503.
        if let Ok(Ok(_)) = read {
            let busy = Rejection::status(503).with_header("Retry-After", "1");
            reject(&mut tcp, busy).await;
        }
        ctx.refusing.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let (request, rest) = match read {
        Ok(Ok(Ok(request))) => request,
        Ok(Ok(Err(rejection))) => {
            state.refused.fetch_add(1, Ordering::Relaxed);
            reject(&mut tcp, rejection).await;
            return;
        }
        Ok(Err(_)) | Err(_) => {
            // The peer left, failed or was too slow (slowloris).
            log::debug!("handshake from {peer} failed or timed out");
            state.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let accepted = match decide(handler, state, &options.handshake, &request) {
        Ok(accepted) => accepted,
        Err(rejection) => {
            state.refused.fetch_add(1, Ordering::Relaxed);
            reject(&mut tcp, rejection).await;
            return;
        }
    };
    let mut engine = match server_engine(options.config, &options.handshake, &accepted.extensions) {
        Ok(engine) => engine,
        Err(e) => {
            log::error!("invalid connection config: {e}");
            reject(&mut tcp, Rejection::status(500)).await;
            return;
        }
    };
    let mut out = Output::default();
    out.push(&accepted.to_bytes(), None);
    engine.receive(&rest);
    // Start the engine's clock so its timers (ping, idle) are armed.
    engine.handle_timeout(now());
    let link = Arc::new(LinkShared {
        queue: Mutex::default(),
        queued_bytes: AtomicUsize::new(0),
        out_bytes: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        close_request: Mutex::new(None),
        work: AtomicBool::new(false),
        cut: AtomicBool::new(false),
        dispatching: AtomicBool::new(false),
        next_id: AtomicU64::new(0),
        waker: Mutex::new(None),
        state: ctx.state.clone(),
        high_water_mark: options.high_water_mark,
        policy: options.backpressure,
    });
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    lock(&ctx.registry).insert(id, link.clone());
    state.open.fetch_add(1, Ordering::Relaxed);
    state.accepted.fetch_add(1, Ordering::Relaxed);
    // A shutdown that began during the handshake missed this client.
    if state.is_shutting_down() {
        link.request_close(CloseCode::GOING_AWAY, "server shutting down");
    }
    let client = Client::new(
        id,
        peer,
        request,
        accepted.subprotocol,
        H::Data::default(),
        Box::new(TokioLink(link.clone())),
    );
    if !guarded(state, "on_open", || handler.on_open(&client)) {
        link.request_close(CloseCode::INTERNAL_ERROR, "");
    }
    let mut conn = Conn {
        tcp,
        engine,
        out,
        link,
        io_error: None,
        failed: false,
        read_paused: false,
        timer: None,
        timer_at: None,
        flush_by: None,
    };
    let (code, reason) = conn.run(handler, &client, state, options).await;
    report_close(handler, &client, state, code, &reason);
    lock(&ctx.registry).remove(&id);
    if !conn.failed {
        linger_close(&mut conn.tcp).await;
    }
}

/// Bytes waiting to be written, and where each message ends in them.
#[derive(Default)]
struct Output {
    buf: Vec<u8>,
    pos: usize,
    /// Bytes ever queued / ever written, on one scale.
    encoded: u64,
    written: u64,
    /// (end offset, id) of each message not yet fully written.
    marks: VecDeque<(u64, MessageId)>,
}

impl Output {
    fn len(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Queue bytes (one message's, with its id, for `on_sent`).
    fn push(&mut self, bytes: &[u8], id: Option<MessageId>) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
        self.encoded += bytes.len() as u64;
        if let Some(id) = id {
            self.marks.push_back((self.encoded, id));
        }
    }

    /// Write as much as the socket takes: `Ready(Ok(true))` if anything
    /// was written.
    fn poll_write(&mut self, tcp: &mut TcpStream, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut wrote = false;
        while self.pos < self.buf.len() {
            match Pin::new(&mut *tcp).poll_write(cx, &self.buf[self.pos..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.pos += n;
                    self.written += n as u64;
                    wrote = true;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending if wrote => return Poll::Ready(Ok(true)),
                Poll::Pending => return Poll::Pending,
            }
        }
        // Everything is written: an idle client keeps no large buffer.
        if self.buf.capacity() > 4 * OUT_LOW {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        self.pos = 0;
        Poll::Ready(Ok(wrote))
    }

    /// The next message now completely written, if any.
    fn next_sent(&mut self) -> Option<MessageId> {
        match self.marks.front() {
            Some(&(end, id)) if end <= self.written => {
                self.marks.pop_front();
                Some(id)
            }
            _ => None,
        }
    }
}

/// The part of a connection that senders on other threads touch.
struct LinkShared {
    queue: Mutex<VecDeque<(Message, MessageId)>>,
    queued_bytes: AtomicUsize,
    /// Encoded, not yet written.
    out_bytes: AtomicUsize,
    closed: AtomicBool,
    close_request: Mutex<Option<(CloseCode, String)>>,
    /// Set with a send or a close request, so the task need not lock to
    /// look.
    work: AtomicBool,
    /// The shutdown timeout passed: drop the connection.
    cut: AtomicBool,
    /// The task is delivering events: it looks at the queue afterwards,
    /// so sends from its own callbacks need not wake it.
    dispatching: AtomicBool,
    next_id: AtomicU64,
    waker: Mutex<Option<Waker>>,
    state: Arc<ServerState>,
    high_water_mark: usize,
    policy: Backpressure,
}

impl LinkShared {
    fn wake(&self) {
        self.work.store(true, Ordering::SeqCst);
        if !self.dispatching.load(Ordering::SeqCst) {
            if let Some(waker) = lock(&self.waker).take() {
                waker.wake();
            }
        }
    }

    /// Ask for the close handshake: from now on `send` refuses; what was
    /// queued before still goes out ahead of the Close.
    fn request_close(&self, code: CloseCode, reason: &str) {
        let mut request = lock(&self.close_request);
        if request.is_none() && !self.closed.swap(true, Ordering::AcqRel) {
            *request = Some((code, reason.to_owned()));
            drop(request);
            self.wake();
        }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.wake();
    }

    fn buffered(&self) -> usize {
        self.queued_bytes.load(Ordering::Acquire) + self.out_bytes.load(Ordering::Acquire)
    }
}

struct TokioLink(Arc<LinkShared>);

impl Link for TokioLink {
    fn send(&self, message: Message, policy: Option<Backpressure>) -> Result<MessageId, SendError> {
        let l = &self.0;
        if l.closed.load(Ordering::Acquire) {
            return Err(SendError::Closed);
        }
        let buffered = l.buffered();
        // One message is always accepted into an empty queue, so a message
        // larger than the mark can still be sent.
        if buffered > 0 && buffered + message.len() > l.high_water_mark {
            return match policy.unwrap_or(l.policy) {
                Backpressure::Drop => {
                    l.state.dropped.fetch_add(1, Ordering::Relaxed);
                    Err(SendError::Dropped)
                }
                Backpressure::Close(code) => {
                    l.request_close(code, "send queue over its high-water mark");
                    Err(SendError::Closed)
                }
                Backpressure::Retry => Err(SendError::Full),
            };
        }
        let id = l.next_id.fetch_add(1, Ordering::Relaxed);
        l.queued_bytes.fetch_add(message.len(), Ordering::AcqRel);
        lock(&l.queue).push_back((message, id));
        l.wake();
        Ok(id)
    }

    fn close(&self, code: CloseCode, reason: &str) {
        self.0.request_close(code, reason);
    }

    fn buffered_amount(&self) -> usize {
        self.0.buffered()
    }
}

/// Move queued messages through the engine into the output, while the
/// output is short (or all of them).
fn encode_queued(out: &mut Output, engine: &mut Engine, link: &LinkShared, all: bool) {
    let mut chunk = Vec::new();
    loop {
        if !all && out.len() >= OUT_LOW {
            return;
        }
        let Some((message, id)) = lock(&link.queue).pop_front() else {
            return;
        };
        let sent = engine.send(&message);
        chunk.clear();
        engine.poll_transmit(&mut chunk);
        // Count the bytes as output before they leave the queue's count, so
        // a sender on another thread never sees less than is held.
        link.out_bytes.fetch_add(chunk.len(), Ordering::AcqRel);
        link.queued_bytes.fetch_sub(message.len(), Ordering::AcqRel);
        out.push(&chunk, sent.is_ok().then_some(id));
    }
}

/// The tokio server's way to its engine: direct, with the client's queued
/// sends encoded after every callback.
struct TokioAccess<'a> {
    engine: &'a mut Engine,
    out: &'a mut Output,
    link: &'a LinkShared,
}

impl EngineAccess for TokioAccess<'_> {
    fn poll_event(&mut self) -> Result<Option<Event>, Error> {
        Ok(self.engine.poll_event()?)
    }

    fn after_callback(&mut self) {
        encode_queued(self.out, self.engine, self.link, true);
    }

    fn close_internal_error(&mut self) {
        self.link.request_close(CloseCode::INTERNAL_ERROR, "");
    }
}

/// What woke a client's task.
enum Wake {
    /// Sends or a close request are waiting, or bytes were written.
    Work,
    Read,
    Eof,
    Timer,
    Failed(io::Error),
}

/// One open client.
struct Conn {
    tcp: TcpStream,
    engine: Engine,
    out: Output,
    link: Arc<LinkShared>,
    io_error: Option<io::Error>,
    /// The transport failed: nothing more can reach the peer.
    failed: bool,
    read_paused: bool,
    timer: Option<Pin<Box<Sleep>>>,
    timer_at: Option<Instant>,
    /// Once the connection is over, the last bytes must be written by
    /// then (a peer that stopped reading cannot hold the task forever).
    flush_by: Option<Instant>,
}

impl Conn {
    /// Read, dispatch, encode, write until the connection is over and its
    /// last bytes are written. Returns the code and reason for `on_close`.
    async fn run<H: Handler>(
        &mut self,
        handler: &H,
        client: &Client<H::Data>,
        state: &ServerState,
        options: &ServerBuilder,
    ) -> (CloseCode, String) {
        let mut close_info: Option<(CloseCode, String)> = None;
        loop {
            if close_info.is_none() {
                self.link.dispatching.store(true, Ordering::SeqCst);
                let access = TokioAccess {
                    engine: &mut self.engine,
                    out: &mut self.out,
                    link: &self.link,
                };
                let ended = deliver(handler, client, state, access);
                self.link.dispatching.store(false, Ordering::SeqCst);
                if let Some((code, reason)) = ended {
                    self.link.closed.store(true, Ordering::Release);
                    let error = self.io_error.take();
                    close_info = Some(transport_loss(handler, client, state, code, reason, error));
                }
            }
            self.pump();
            for id in std::iter::from_fn(|| self.out.next_sent()) {
                guarded(state, "on_sent", || handler.on_sent(client, id));
            }
            if let Some(info) = &close_info {
                if self.out.len() == 0 || self.failed {
                    return info.clone();
                }
                self.flush_by.get_or_insert_with(|| now() + Linger::TIMEOUT);
            }
            let buffered = self.link.buffered();
            if buffered > options.high_water_mark {
                // Stop reading from a client whose replies are not being
                // consumed; TCP pushes back on it.
                self.read_paused = true;
            } else if buffered <= options.high_water_mark / 2 {
                self.read_paused = false;
            }
            match std::future::poll_fn(|cx| self.poll_wake(cx, close_info.is_some())).await {
                Wake::Work => {}
                Wake::Read => self.engine.handle_timeout(now()),
                Wake::Eof => self.engine.receive_eof(),
                Wake::Timer if self.flush_by.is_some_and(|t| t <= now()) => {
                    self.fail(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the peer did not read the end of the connection",
                    ));
                }
                Wake::Timer => self.engine.handle_timeout(now()),
                Wake::Failed(e) => self.fail(e),
            }
        }
    }

    /// Encode queued messages, honour a close request or a cut, and move
    /// the engine's own output (pongs, the Close) behind them.
    fn pump(&mut self) {
        self.link.work.store(false, Ordering::SeqCst);
        if self.link.cut.load(Ordering::SeqCst) && !self.failed {
            self.fail(io::Error::new(
                io::ErrorKind::TimedOut,
                "the server's shutdown timeout passed",
            ));
        }
        if self.failed {
            lock(&self.link.queue).clear();
            self.link.queued_bytes.store(0, Ordering::Release);
            return;
        }
        if !self.engine.close_started() {
            encode_queued(&mut self.out, &mut self.engine, &self.link, false);
        }
        if let Some((code, reason)) = lock(&self.link.close_request).take() {
            // Everything accepted before the close goes out first.
            encode_queued(&mut self.out, &mut self.engine, &self.link, true);
            if self.engine.close(code, &reason).is_err() {
                let _ = self.engine.close(CloseCode::INTERNAL_ERROR, "");
            }
        }
        let mut control = Vec::new();
        self.engine.poll_transmit(&mut control);
        self.out.push(&control, None);
        self.link.out_bytes.store(self.out.len(), Ordering::Release);
    }

    /// The transport failed: the engine learns it is gone, and nothing
    /// more is written.
    fn fail(&mut self, error: io::Error) {
        log::debug!("client transport failed: {error}");
        self.io_error.get_or_insert(error);
        self.failed = true;
        self.out = Output::default();
        self.link.out_bytes.store(0, Ordering::Release);
        self.engine.receive_eof();
        // Deliver the end before waiting for anything.
        self.link.work.store(true, Ordering::SeqCst);
    }

    /// Wait for something to do: queued work, a write, a read, a timer.
    fn poll_wake(&mut self, cx: &mut Context<'_>, ending: bool) -> Poll<Wake> {
        {
            let mut slot = lock(&self.link.waker);
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
        }
        if self.link.work.load(Ordering::SeqCst) {
            return Poll::Ready(Wake::Work);
        }
        if self.out.len() > 0 && !self.failed {
            match self.out.poll_write(&mut self.tcp, cx) {
                Poll::Ready(Ok(_)) => {
                    self.link.out_bytes.store(self.out.len(), Ordering::Release);
                    return Poll::Ready(Wake::Work);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Wake::Failed(e)),
                Poll::Pending => {}
            }
        }
        if !self.read_paused && !ending && !self.failed {
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut buf = ReadBuf::uninit(&mut chunk);
            match Pin::new(&mut self.tcp).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Wake::Eof),
                Poll::Ready(Ok(())) => {
                    self.engine.receive(buf.filled());
                    return Poll::Ready(Wake::Read);
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {
                    cx.waker().wake_by_ref();
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Wake::Failed(e)),
                Poll::Pending => {}
            }
        }
        self.poll_timer(cx)
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        let Some(at) = self.flush_by.or_else(|| self.engine.poll_timeout()) else {
            return Poll::Pending;
        };
        if at <= now() {
            return Poll::Ready(Wake::Timer);
        }
        let deadline = ::tokio::time::Instant::from_std(at);
        match &mut self.timer {
            Some(_) if self.timer_at == Some(at) => {}
            Some(timer) => timer.as_mut().reset(deadline),
            None => self.timer = Some(Box::pin(::tokio::time::sleep_until(deadline))),
        }
        self.timer_at = Some(at);
        match &mut self.timer {
            Some(timer) => timer.as_mut().poll(cx).map(|()| Wake::Timer),
            None => Poll::Pending,
        }
    }
}
