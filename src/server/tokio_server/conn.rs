//! One open client of the tokio server: its pending output, the link
//! other threads send through, and the task's loop (read, dispatch,
//! encode, write, timers) until the connection is over.

use super::*;
use crate::server::dispatch::EngineAccess;
use crate::server::output::Output;
use crate::server::queued::{encode_for_write, Queues, SendSide};

/// The part of a connection that senders on other threads touch: its
/// send side, and how its task is woken.
pub(super) struct LinkShared {
    send: SendSide,
    /// Set with a send or a close request, so the task need not lock to
    /// look.
    work: AtomicBool,
    /// The shutdown timeout passed: drop the connection.
    cut: AtomicBool,
    /// The task is delivering events: it looks at the queue afterwards,
    /// so sends from its own callbacks need not wake it.
    dispatching: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl LinkShared {
    pub(super) fn new(state: Arc<ServerState>, options: &ServerBuilder) -> LinkShared {
        LinkShared {
            send: SendSide::new(state, options),
            work: AtomicBool::new(false),
            cut: AtomicBool::new(false),
            dispatching: AtomicBool::new(false),
            waker: Mutex::new(None),
        }
    }

    pub(super) fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.wake();
    }

    fn buffered(&self) -> usize {
        self.send.buffered()
    }
}

impl Queues for LinkShared {
    fn side(&self) -> &SendSide {
        &self.send
    }

    fn wake(&self) {
        self.work.store(true, Ordering::SeqCst);
        if !self.dispatching.load(Ordering::SeqCst) {
            if let Some(waker) = lock(&self.waker).take() {
                waker.wake();
            }
        }
    }
}

/// Move queued messages into the output (the shared
/// [`encode_queued`](crate::server::queued::encode_queued)), counting
/// them for senders on other threads.
fn encode_queued(out: &mut Output, engine: &mut Engine, link: &LinkShared, all: bool) {
    crate::server::queued::encode_queued(out, engine, &link.send.queue, all, |added, removed| {
        link.send.adjust(added, removed);
    });
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

/// One open client, over TCP or TLS.
pub(super) struct Conn<S> {
    pub(super) tcp: S,
    /// Bytes were handed to the transport since it was last flushed (a
    /// TLS session may hold them until then).
    unflushed: bool,
    engine: Engine,
    out: Output,
    link: Arc<LinkShared>,
    io_error: Option<io::Error>,
    /// The transport failed: nothing more can reach the peer.
    pub(super) failed: bool,
    read_paused: bool,
    timer: Option<Pin<Box<Sleep>>>,
    timer_at: Option<Instant>,
    /// Once the connection is over, the last bytes must be written by
    /// then (a peer that stopped reading cannot hold the task forever).
    flush_by: Option<Instant>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// An open client over `tcp`, run by `engine`, with `out` to write
    /// first (the 101 response).
    pub(super) fn new(tcp: S, engine: Engine, out: Output, link: Arc<LinkShared>) -> Conn<S> {
        link.send.adjust(out.len, 0);
        Conn {
            tcp,
            unflushed: false,
            engine,
            out,
            link,
            io_error: None,
            failed: false,
            read_paused: false,
            timer: None,
            timer_at: None,
            flush_by: None,
        }
    }

    /// Read, dispatch, encode, write until the connection is over and its
    /// last bytes are written. Returns the code and reason for `on_close`.
    pub(super) async fn run<H: Handler>(
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
                    self.link.send.closed.store(true, Ordering::Release);
                    let error = self.io_error.take();
                    close_info = Some(transport_loss(handler, client, state, code, reason, error));
                }
            }
            self.pump();
            for id in std::iter::from_fn(|| self.out.next_sent()) {
                guarded(state, "on_sent", || handler.on_sent(client, id));
            }
            if let Some(info) = &close_info {
                if self.out.len == 0 || self.failed {
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
            lock(&self.link.send.queue).clear();
            self.link.send.buffered.store(0, Ordering::Release);
            return;
        }
        let side = &self.link.send;
        encode_for_write(&mut self.out, &mut self.engine, side, |added, removed| {
            side.adjust(added, removed)
        });
        let before = self.out.len;
        self.out.take_from(&mut self.engine);
        self.link.send.adjust(self.out.len - before, 0);
    }

    /// The transport failed: the engine learns it is gone, and nothing
    /// more is written.
    fn fail(&mut self, error: io::Error) {
        log::debug!("client transport failed: {error}");
        self.io_error.get_or_insert(error);
        self.failed = true;
        self.out = Output::default();
        self.link.send.buffered.store(0, Ordering::Release);
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
        if self.out.len > 0 && !self.failed {
            let before = self.out.len;
            match self.out.poll_write_to(&mut self.tcp, cx) {
                Poll::Ready(Ok(_)) => {
                    self.unflushed = true;
                    self.link.send.adjust(0, before - self.out.len);
                    return Poll::Ready(Wake::Work);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Wake::Failed(e)),
                Poll::Pending => {}
            }
        }
        if self.unflushed && !self.failed {
            match Pin::new(&mut self.tcp).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => return Poll::Ready(Wake::Failed(e)),
                Poll::Pending => {}
            }
        }
        if !self.read_paused && !ending && !self.failed {
            match crate::tokio::poll_read_into(&mut self.tcp, cx, &mut self.engine) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Wake::Eof),
                Poll::Ready(Ok(_)) => return Poll::Ready(Wake::Read),
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {
                    cx.waker().wake_by_ref();
                }
                // TLS: the peer closed TCP without close_notify; the
                // engine decides what a missing Close means.
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Poll::Ready(Wake::Eof)
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
