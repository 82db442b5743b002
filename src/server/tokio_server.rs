//! The tokio server (feature `tokio`): one task per client on a tokio
//! runtime, sends from any thread queued and the client's task woken,
//! backpressure by policy, `on_sent` once a message is written.
//!
//! This file holds the server, its accept loop, shutdown and each
//! client's handshake; `tokio_server/conn.rs` an open client's loop.

mod conn;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ::tokio::io::{AsyncRead, AsyncWrite};
use ::tokio::net::{TcpListener, TcpStream};
use ::tokio::task::JoinSet;
use ::tokio::time::Sleep;

use super::dispatch::{admit, deliver, open_client, report_close, transport_loss, Admitted};
use super::shared::{guarded, ServerState};
use super::{Client, Handler, Hub, ServerBuilder, ServerHandle};
use crate::connection::{Engine, Event};
use crate::driver::Linger;
use crate::error::Error;
use crate::frame::CloseCode;
use crate::handshake::Rejection;
use crate::tokio::linger::linger_close;
use crate::tokio::{now, read_request, reject};

use super::output::Output;
use super::queued::{QueuedLink, Queues};
use conn::{Conn, LinkShared};

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
/// applies the [`Backpressure`](super::Backpressure) policy, and the server stops reading from
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
struct Ctx<H: Handler> {
    handler: H,
    hub: Hub<H::Data>,
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
        let hub: Hub<H::Data> = self.options.hub_for()?;
        let _ = self.handle.state.hub.set(hub.erased());
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
            hub,
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

async fn serve_conn<H: Handler>(tcp: TcpStream, peer: SocketAddr, ctx: Arc<Ctx<H>>, refuse: bool) {
    let _live = Live(&ctx.live);
    let _refusing = refuse.then(|| Live(&ctx.refusing));
    let _ = tcp.set_nodelay(true);
    // The TLS handshake and the upgrade request, together, by then.
    let deadline = ::tokio::time::Instant::now() + ctx.options.handshake_timeout;
    #[cfg(feature = "tls")]
    if let Some(config) = &ctx.options.tls {
        let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
        match ::tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => serve_ws(tls, peer, &ctx, refuse, deadline).await,
            Ok(Err(e)) => {
                let e = crate::tls::handshake_error(e, &peer.to_string(), false);
                log::debug!("TLS handshake with {peer} failed: {e}");
                ctx.state.refused.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                log::debug!("TLS handshake with {peer} timed out");
                ctx.state.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        return;
    }
    serve_ws(tcp, peer, &ctx, refuse, deadline).await;
}

/// Serve one connection, plain or TLS: the upgrade, then the client.
async fn serve_ws<H: Handler, S: AsyncRead + AsyncWrite + Unpin>(
    mut tcp: S,
    peer: SocketAddr,
    ctx: &Arc<Ctx<H>>,
    refuse: bool,
    deadline: ::tokio::time::Instant,
) {
    let (handler, options, state) = (&ctx.handler, &ctx.options, &*ctx.state);
    let read =
        ::tokio::time::timeout_at(deadline, read_request(&mut tcp, options.handshake.limits)).await;
    if refuse {
        // Over the connection limit (counted as refused on accept): answer
        // the request, if one came in time, with 503.
        if let Ok(Ok(_)) = read {
            let busy = Rejection::status(503).with_header("Retry-After", "1");
            reject(&mut tcp, busy).await;
        }
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
    let admitted = admit(handler, state, options, &request, &rest, now());
    let Admitted {
        accepted,
        data,
        engine,
    } = match admitted {
        Ok(admitted) => admitted,
        Err(rejection) => {
            reject(&mut tcp, rejection).await;
            return;
        }
    };
    let mut out = Output::default();
    out.push(accepted.to_bytes());
    let link = Arc::new(LinkShared::new(ctx.state.clone(), options));
    // Registered in the hub, so reachable from `on_open` on.
    let client = open_client::<H>(
        &ctx.hub,
        state,
        peer,
        request,
        &accepted,
        data,
        Box::new(QueuedLink(link.clone())),
    );
    let id = client.id();
    lock(&ctx.registry).insert(id, link.clone());
    // A shutdown that began during the handshake missed this client.
    if state.is_shutting_down() {
        link.request_close(CloseCode::GOING_AWAY, "server shutting down");
    }
    if !guarded(state, "on_open", || handler.on_open(&client)) {
        link.request_close(CloseCode::INTERNAL_ERROR, "");
    }
    let mut conn = Conn::new(tcp, engine, out, link);
    let (code, reason) = conn.run(handler, &client, state, options).await;
    report_close(handler, &client, state, code, &reason);
    lock(&ctx.registry).remove(&id);
    if !conn.failed {
        linger_close(&mut conn.tcp).await;
    }
}
