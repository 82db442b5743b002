//! The state one async WebSocket connection lives in: the engine, the
//! transport, the output not yet written, the timer and the close. Every
//! public tokio type (the whole stream and its split halves) is a thin
//! shell around one [`Core`], so no state lives in a future.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::time::Sleep;

use super::linger::Lingering;
use crate::connection::{Engine, Event, Message, UsageError};
use crate::driver::close_for;
use crate::error::Error;
use crate::frame::CloseCode;
use crate::handshake::{Request, Response};

/// Bytes read from the transport per call, into a buffer of the thread's
/// (never kept per connection, never on the stack): a 64 KiB message and
/// its header fit in one read.
const READ_CHUNK: usize = 128 * 1024;

thread_local! {
    /// The read buffer of every async connection polled on this thread.
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
}

/// Read once from `io` into this thread's read buffer and give what came
/// to `engine`: `Ready(Ok(0))` at the end of input.
pub(crate) fn poll_read_into<S: AsyncRead + Unpin>(
    io: &mut S,
    cx: &mut Context<'_>,
    engine: &mut Engine,
) -> Poll<io::Result<usize>> {
    let mut read = |buf: &mut [u8]| {
        let mut buf = ReadBuf::new(buf);
        Pin::new(&mut *io).poll_read(cx, &mut buf).map_ok(|()| {
            engine.receive(buf.filled());
            buf.filled().len()
        })
    };
    READ_BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => read(&mut buf),
        // A transport whose poll_read polls another connection on this
        // thread: that one has the buffer.
        Err(_) => read(&mut vec![0; 16 * 1024]),
    })
}
/// Output buffers bigger than this are released once written.
const OUT_KEEP: usize = 256 * 1024;
/// The default high-water mark on output not yet written.
pub(crate) const DEFAULT_HIGH_WATER_MARK: usize = 1 << 20;

/// The clock every tokio driver gives the engine: tokio's, so that a
/// runtime with paused time drives the engine's timers too.
pub(crate) fn now() -> Instant {
    ::tokio::time::Instant::now().into_std()
}

/// Which half of a split stream is polling (the whole stream polls as
/// both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Reader = 0,
    Writer = 1,
}

/// Where the connection is in its life.
#[derive(Debug)]
enum Phase {
    /// Messages flow.
    Open,
    /// The engine is done: write what is left (our Close, or the reply to
    /// the peer's), then linger.
    Flushing,
    /// Our write side is shut: discard the peer's input until its FIN.
    Lingering(Lingering),
    /// The stream has ended.
    Done,
}

/// What the handshake left behind, for the application to look at.
#[derive(Debug, Default)]
pub(crate) struct HandshakeInfo {
    pub(crate) request: Option<Box<Request>>,
    pub(crate) response: Option<Box<Response>>,
    pub(crate) subprotocol: Option<String>,
}

/// Both halves of a split stream may wait for the transport to become
/// writable (the reader to flush pongs and Close replies, the writer to
/// flush messages), but a transport keeps one write waker. The transport
/// is given this fan-out waker instead, which wakes whichever halves
/// registered.
#[derive(Debug, Default)]
struct Fanout {
    slots: Mutex<[Option<Waker>; 2]>,
}

impl Fanout {
    fn register(&self, side: Side, waker: &Waker) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut slots[side as usize];
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

impl Wake for Fanout {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let taken = std::mem::take(&mut *self.slots.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in taken.into_iter().flatten() {
            waker.wake();
        }
    }
}

/// The wakers of a split stream.
#[derive(Debug)]
struct SplitWakers {
    fanout: Arc<Fanout>,
    write_waker: Waker,
    /// The reader's task, woken when the writer changes what the reader
    /// waits for (a close arms the close-handshake timer; a failed write
    /// ends the stream).
    reader: Option<Waker>,
}

/// One connection's state; see the module docs.
#[derive(Debug)]
pub(crate) struct Core<S> {
    pub(crate) io: S,
    pub(crate) engine: Engine,
    out: Vec<u8>,
    out_pos: usize,
    /// A long payload handed over whole by [`Engine::send_owned`], written
    /// right after `out` (so nothing may join `out` while it waits).
    tail: Vec<u8>,
    tail_pos: usize,
    pub(crate) high_water_mark: usize,
    timer: Option<Pin<Box<Sleep>>>,
    timer_at: Option<Instant>,
    phase: Phase,
    pub(crate) close_status: Option<(CloseCode, String)>,
    /// The transport failed (read or write): nothing more is written.
    io_failed: Option<io::ErrorKind>,
    /// The transport error to report when the engine says the connection
    /// ended abnormally.
    io_error: Option<io::Error>,
    split: Option<SplitWakers>,
    pub(crate) info: HandshakeInfo,
}

impl<S> Core<S> {
    /// Bytes accepted for sending and not yet written to the transport.
    pub(crate) fn buffered(&self) -> usize {
        self.out.len() - self.out_pos + self.tail.len() - self.tail_pos
            + self.engine.pending_transmit()
    }

    /// Whether the stream has ended.
    pub(crate) fn is_terminated(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Core<S> {
    /// A connection over `io` whose handshake is done, run by `engine`,
    /// with `buffered` bytes already read past the handshake.
    pub(crate) fn new(io: S, mut engine: Engine, buffered: &[u8], info: HandshakeInfo) -> Core<S> {
        // The stream yields whole messages only.
        engine.set_streaming(false);
        engine.receive(buffered);
        // Start the engine's clock, so its timers (ping, idle) are armed.
        engine.handle_timeout(now());
        Core {
            io,
            engine,
            out: Vec::new(),
            out_pos: 0,
            tail: Vec::new(),
            tail_pos: 0,
            high_water_mark: DEFAULT_HIGH_WATER_MARK,
            timer: None,
            timer_at: None,
            phase: Phase::Open,
            close_status: None,
            io_failed: None,
            io_error: None,
            split: None,
            info,
        }
    }

    /// Prepare for being polled from two tasks (see [`Fanout`]).
    pub(crate) fn into_split(mut self) -> Core<S> {
        let fanout = Arc::new(Fanout::default());
        self.split = Some(SplitWakers {
            write_waker: Waker::from(fanout.clone()),
            fanout,
            reader: None,
        });
        self
    }

    /// Back to being polled from one task.
    pub(crate) fn into_whole(mut self) -> Core<S> {
        self.split = None;
        self
    }

    // ---- reading ----

    /// The next message; `None` once the close handshake is over (or the
    /// connection failed, after its error) and the transport is closed.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        let polled = self.poll_next_inner(cx);
        if polled.is_pending() {
            if let Some(split) = &mut self.split {
                if !split
                    .reader
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    split.reader = Some(cx.waker().clone());
                }
            }
        }
        polled
    }

    fn poll_next_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        loop {
            match &mut self.phase {
                Phase::Open => {}
                Phase::Flushing => {
                    self.take_transmit();
                    match self.poll_write_out(cx, Side::Reader) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(())) if self.io_failed.is_none() => {
                            self.phase = Phase::Lingering(Lingering::start());
                        }
                        Poll::Ready(_) => self.phase = Phase::Done,
                    }
                    continue;
                }
                Phase::Lingering(lingering) => {
                    if lingering.poll(&mut self.io, cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.phase = Phase::Done;
                    continue;
                }
                Phase::Done => return Poll::Ready(None),
            }
            match self.engine.poll_event() {
                Ok(Some(Event::Message(message))) => return Poll::Ready(Some(Ok(message))),
                Ok(Some(Event::Closed { code, reason })) => {
                    self.phase = Phase::Flushing;
                    self.close_status = Some((code, reason.clone()));
                    if code == CloseCode::ABNORMAL {
                        return Poll::Ready(Some(Err(self.transport_loss(reason))));
                    }
                    continue;
                }
                // Pings are answered by the engine; chunks never come (the
                // stream yields whole messages).
                Ok(Some(_)) => continue,
                Err(e) => {
                    let error = Error::Protocol(e);
                    self.close_status = Some(close_for(&error));
                    self.phase = Phase::Flushing;
                    return Poll::Ready(Some(Err(error)));
                }
                Ok(None) => {}
            }
            // The engine needs input. First write what it queued (pongs,
            // the reply to a Close): the transport may take it later.
            self.take_transmit();
            let flushed = self.poll_write_out(cx, Side::Reader);
            if let Poll::Ready(Err(_)) = flushed {
                continue; // the engine has seen the end
            }
            if self.poll_timer(cx).is_ready() {
                self.engine.handle_timeout(now());
                continue;
            }
            // Stop reading from a peer that does not read what we owe it
            // (pongs pile up otherwise); the write waker resumes us.
            if flushed.is_pending() && self.buffered() > self.high_water_mark {
                return Poll::Pending;
            }
            match poll_read_into(&mut self.io, cx, &mut self.engine) {
                Poll::Ready(Ok(0)) => self.engine.receive_eof(),
                Poll::Ready(Ok(_)) => self.engine.handle_timeout(now()),
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => self.transport_failed(&e),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The error for a connection that ended without a close handshake:
    /// the transport's own error if one was seen.
    fn transport_loss(&mut self, reason: String) -> Error {
        Error::Io(self.io_error.take().unwrap_or_else(|| {
            if reason.is_empty() {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection without a close handshake",
                )
            } else {
                io::Error::new(io::ErrorKind::TimedOut, reason)
            }
        }))
    }

    /// A read or write failed: the engine learns the transport is gone,
    /// and the error is kept to be reported with the end.
    fn transport_failed(&mut self, error: &io::Error) {
        log::debug!("transport failed: {error}");
        if self.io_failed.is_none() {
            self.io_failed = Some(error.kind());
            self.io_error = Some(io::Error::new(error.kind(), error.to_string()));
        }
        self.out.clear();
        self.out_pos = 0;
        self.tail = Vec::new();
        self.tail_pos = 0;
        self.engine.receive_eof();
        self.wake_reader();
    }

    /// Run the engine's timers on tokio's clock: `Ready` when a deadline
    /// has passed.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(at) = self.engine.poll_timeout() else {
            self.timer_at = None;
            return Poll::Pending;
        };
        if at <= now() {
            return Poll::Ready(());
        }
        let deadline = ::tokio::time::Instant::from_std(at);
        match &mut self.timer {
            Some(timer) if self.timer_at == Some(at) => return timer.as_mut().poll(cx),
            Some(timer) => timer.as_mut().reset(deadline),
            None => self.timer = Some(Box::pin(::tokio::time::sleep_until(deadline))),
        }
        self.timer_at = Some(at);
        match &mut self.timer {
            Some(timer) => timer.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }

    fn wake_reader(&mut self) {
        if let Some(waker) = self.split.as_mut().and_then(|s| s.reader.take()) {
            waker.wake();
        }
    }

    // ---- writing ----

    /// Why nothing more can be sent, if so.
    fn check_send(&self) -> Result<(), Error> {
        if let Some(kind) = self.io_failed {
            return Err(Error::Io(io::Error::new(
                kind,
                "the transport failed earlier",
            )));
        }
        if self.engine.close_started() {
            return Err(Error::Usage(UsageError::Closed));
        }
        Ok(())
    }

    /// Ready to take a message: the output is under the high-water mark
    /// (written down to it if need be). Fails once the connection is
    /// closing or the transport failed.
    pub(crate) fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        side: Side,
    ) -> Poll<Result<(), Error>> {
        self.check_send()?;
        if self.buffered() >= self.high_water_mark && self.buffered() > 0 {
            self.take_transmit();
            match self.poll_write_out(cx, side) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Io(e))),
                Poll::Pending if self.buffered() >= self.high_water_mark => return Poll::Pending,
                Poll::Pending => {}
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Encode a message into the output (written by the next flush). A
    /// long payload is not copied: it waits as the tail, after its header.
    pub(crate) fn start_send(&mut self, message: Message) -> Result<(), Error> {
        self.check_send()?;
        if self.tail_pos < self.tail.len() {
            // One tail at a time: this message is copied behind it.
            self.engine.send(&message)?;
            self.take_transmit();
            return Ok(());
        }
        let payload = self.engine.send_owned(message)?;
        self.take_transmit();
        if let Some(payload) = payload {
            self.tail = payload;
            self.tail_pos = 0;
        }
        Ok(())
    }

    /// Encode a ping into the output.
    pub(crate) fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.check_send()?;
        self.engine.ping(payload)?;
        self.take_transmit();
        Ok(())
    }

    /// Start the close handshake (nothing happens if it has started).
    pub(crate) fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.engine.close(code, reason)?;
        // The close arms the engine's close-handshake timer.
        self.engine.handle_timeout(now());
        self.take_transmit();
        self.wake_reader();
        Ok(())
    }

    /// Write all output to the transport and flush it.
    pub(crate) fn poll_flush(
        &mut self,
        cx: &mut Context<'_>,
        side: Side,
    ) -> Poll<Result<(), Error>> {
        self.take_transmit();
        self.poll_write_out(cx, side).map_err(Error::Io)
    }

    /// Move the engine's output behind ours (and behind the tail, which
    /// then joins the output: the wire order is the engine's).
    fn take_transmit(&mut self) {
        if self.engine.pending_transmit() == 0 {
            return;
        }
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        if self.tail_pos < self.tail.len() {
            self.out.extend_from_slice(&self.tail[self.tail_pos..]);
            self.tail = Vec::new();
            self.tail_pos = 0;
        }
        self.engine.poll_transmit(&mut self.out);
    }

    /// Write the output to the transport, then flush it. A failure ends
    /// the connection (the engine sees the end of input).
    fn poll_write_out(&mut self, cx: &mut Context<'_>, side: Side) -> Poll<io::Result<()>> {
        if self.io_failed.is_some() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the transport failed earlier",
            )));
        }
        let mut pending = Pending {
            out: &self.out,
            out_pos: &mut self.out_pos,
            tail: &self.tail,
            tail_pos: &mut self.tail_pos,
        };
        let result = match &self.split {
            None => pending.write_to(&mut self.io, cx),
            Some(split) => {
                split.fanout.register(side, cx.waker());
                let waker = split.write_waker.clone();
                let mut cx = Context::from_waker(&waker);
                pending.write_to(&mut self.io, &mut cx)
            }
        };
        match result {
            Poll::Ready(Ok(())) => {
                if self.out.capacity() > OUT_KEEP {
                    self.out = Vec::new();
                } else {
                    self.out.clear();
                }
                self.out_pos = 0;
                self.tail = Vec::new();
                self.tail_pos = 0;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => {
                self.transport_failed(&e);
                Poll::Ready(Err(e))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The output not yet written: `out[out_pos..]`, then `tail[tail_pos..]`.
struct Pending<'a> {
    out: &'a [u8],
    out_pos: &'a mut usize,
    tail: &'a [u8],
    tail_pos: &'a mut usize,
}

impl Pending<'_> {
    /// Write it all to `io` (one vectored write when the transport takes
    /// it), then flush.
    fn write_to<S: AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let (head, tail) = (&self.out[*self.out_pos..], &self.tail[*self.tail_pos..]);
            if head.is_empty() && tail.is_empty() {
                break;
            }
            let slices = [io::IoSlice::new(head), io::IoSlice::new(tail)];
            let polled = if head.is_empty() {
                Pin::new(&mut *io).poll_write(cx, tail)
            } else if tail.is_empty() || !io.is_write_vectored() {
                Pin::new(&mut *io).poll_write(cx, head)
            } else {
                Pin::new(&mut *io).poll_write_vectored(cx, &slices)
            };
            match polled {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    let from_head = n.min(head.len());
                    *self.out_pos += from_head;
                    *self.tail_pos += n - from_head;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Pin::new(io).poll_flush(cx)
    }
}
