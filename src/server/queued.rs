//! The servers that queue sends (event loop, io_uring, tokio): a message
//! waiting in a client's queue ([`Queued`]), what senders on any thread
//! share with the connection ([`SendSide`]), the client's [`Link`] over
//! it ([`QueuedLink`]), and moving queued messages into the output
//! ([`encode_queued`]). What differs between drivers is only how the
//! connection's driver is woken ([`Queues::wake`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::client::Link;
use super::output::Output;
use super::shared::ServerState;
use super::{Backpressure, MessageId, SendError, ServerBuilder};
use crate::connection::{Engine, Message, PreparedMessage};
use crate::frame::CloseCode;

/// Encode queued messages only while less than this waits to be written,
/// so control frames never wait behind a long queue.
pub(crate) const OUT_LOW: usize = 64 * 1024;

/// A connection's send queue, shared with the threads that send.
pub(crate) type SendQueue = Mutex<VecDeque<(Queued, MessageId)>>;

/// A message waiting for its connection's loop or task.
pub(crate) enum Queued {
    /// Framed by this connection.
    Message(Message),
    /// Framed once for many connections (hub deliveries).
    Prepared(Arc<PreparedMessage>),
}

impl Queued {
    /// The payload length, which the high-water mark counts.
    pub(crate) fn len(&self) -> usize {
        match self {
            Queued::Message(m) => m.len(),
            Queued::Prepared(p) => p.message().len(),
        }
    }
}

/// Change a buffered-bytes counter by `added - removed` in one atomic step,
/// so a sender on another thread never reads a count caught halfway.
pub(crate) fn adjust(counter: &AtomicUsize, added: usize, removed: usize) {
    if added >= removed {
        counter.fetch_add(added - removed, Ordering::AcqRel);
    } else {
        counter.fetch_sub(removed - added, Ordering::AcqRel);
    }
}

/// Before a write: queued messages into `output` (up to [`OUT_LOW`]);
/// on a close request, all of them and then the Close, so everything
/// accepted before the close goes out first. `moved` as for
/// [`encode_queued`].
pub(crate) fn encode_for_write(
    output: &mut Output,
    engine: &mut Engine,
    side: &SendSide,
    mut moved: impl FnMut(usize, usize),
) {
    if !engine.close_started() {
        encode_queued(output, engine, &side.queue, false, &mut moved);
    }
    if let Some((code, reason)) = side.take_close_request() {
        encode_queued(output, engine, &side.queue, true, &mut moved);
        if engine.close(code, &reason).is_err() {
            let _ = engine.close(CloseCode::INTERNAL_ERROR, "");
        }
    }
}

/// Move queued messages through the engine into `output` while it is
/// shorter than [`OUT_LOW`] (or all of them, when `all`), in order behind
/// whatever the engine queued before (pongs). `moved(added, removed)`
/// is told, per message, the bytes it added to the output and the
/// payload bytes it took from the queue, in one call, for the
/// connection's buffered count.
pub(crate) fn encode_queued(
    output: &mut Output,
    engine: &mut Engine,
    queue: &SendQueue,
    all: bool,
    mut moved: impl FnMut(usize, usize),
) {
    loop {
        if !all && output.len >= OUT_LOW {
            return;
        }
        let Some((queued, id)) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else {
            return;
        };
        let before = output.len;
        let len = queued.len();
        let sent = match queued {
            Queued::Message(message) => {
                // A long payload becomes a chunk of its own, not a copy.
                let sent = engine.send_owned(message);
                output.take_from(engine);
                sent.map(|payload| {
                    if let Some(payload) = payload {
                        output.push(payload);
                    }
                })
            }
            Queued::Prepared(prepared) => {
                output.take_from(engine);
                engine
                    .send_prepared(&prepared)
                    .map(|bytes| output.push_shared(bytes))
            }
        };
        moved(output.len - before, len);
        if sent.is_ok() {
            output.mark(id);
        }
        // Else the connection is closing: nothing more can be sent.
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What senders on any thread share with a connection whose driver
/// queues its sends: the queue, one count of the bytes accepted and not
/// yet written, the close request, and the limits a send is checked
/// against.
pub(crate) struct SendSide {
    pub(crate) queue: SendQueue,
    /// Payload bytes queued plus encoded bytes not yet written: one
    /// counter, so a sender never reads it caught between the two.
    pub(crate) buffered: AtomicUsize,
    /// No more sends: a close was requested or the connection ended.
    pub(crate) closed: AtomicBool,
    close_request: Mutex<Option<(CloseCode, String)>>,
    /// Set with `close_request`, so the driver need not lock to look.
    close_requested: AtomicBool,
    next_id: AtomicU64,
    state: Arc<ServerState>,
    high_water_mark: usize,
    policy: Backpressure,
}

impl SendSide {
    /// A connection's send side, with the server's high-water mark and
    /// backpressure policy.
    pub(crate) fn new(state: Arc<ServerState>, options: &ServerBuilder) -> SendSide {
        SendSide {
            queue: Mutex::default(),
            buffered: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            close_request: Mutex::new(None),
            close_requested: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            state,
            high_water_mark: options.high_water_mark,
            policy: options.backpressure,
        }
    }

    pub(crate) fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Acquire)
    }

    /// `added` bytes joined the output, `removed` left the queue (or the
    /// output): one atomic step.
    pub(crate) fn adjust(&self, added: usize, removed: usize) {
        adjust(&self.buffered, added, removed);
    }

    /// Record a close request; `true` if this call made it (the caller
    /// then wakes the driver). Later sends are refused.
    fn request_close(&self, code: CloseCode, reason: &str) -> bool {
        let mut request = lock(&self.close_request);
        if request.is_none() && !self.closed.swap(true, Ordering::AcqRel) {
            *request = Some((code, reason.to_owned()));
            self.close_requested.store(true, Ordering::Release);
            return true;
        }
        false
    }

    /// The close request, once: `Some` the first time the driver looks
    /// after a request.
    pub(crate) fn take_close_request(&self) -> Option<(CloseCode, String)> {
        if self.close_requested.swap(false, Ordering::AcqRel) {
            lock(&self.close_request).take()
        } else {
            None
        }
    }
}

/// A connection's shared side as its client's [`Link`] sees it: the send
/// side, and how to wake the connection's driver.
pub(crate) trait Queues: Send + Sync + 'static {
    fn side(&self) -> &SendSide;

    /// Tell the connection's driver there is work: a send or a close
    /// request.
    fn wake(&self);

    /// Ask for the close handshake: from now on `send` refuses; what was
    /// queued before still goes out ahead of the Close.
    fn request_close(&self, code: CloseCode, reason: &str) {
        if self.side().request_close(code, reason) {
            self.wake();
        }
    }
}

/// A client's [`Link`] on a server that queues sends.
pub(crate) struct QueuedLink<T>(pub(crate) Arc<T>);

impl<T: Queues> Link for QueuedLink<T> {
    fn send(&self, message: Message, policy: Option<Backpressure>) -> Result<MessageId, SendError> {
        self.enqueue(Queued::Message(message), policy)
    }

    fn send_prepared(
        &self,
        prepared: &Arc<PreparedMessage>,
        policy: Option<Backpressure>,
    ) -> Result<MessageId, SendError> {
        self.enqueue(Queued::Prepared(prepared.clone()), policy)
    }

    fn close(&self, code: CloseCode, reason: &str) {
        self.0.request_close(code, reason);
    }

    fn buffered_amount(&self) -> usize {
        self.0.side().buffered()
    }
}

impl<T: Queues> QueuedLink<T> {
    /// Check `message` against the policy and the high-water mark, queue
    /// it and wake the driver.
    fn enqueue(
        &self,
        message: Queued,
        policy: Option<Backpressure>,
    ) -> Result<MessageId, SendError> {
        let side = self.0.side();
        if side.closed.load(Ordering::Acquire) {
            return Err(SendError::Closed);
        }
        Backpressure::check(
            policy.unwrap_or(side.policy),
            side.buffered(),
            message.len(),
            side.high_water_mark,
            &side.state,
            |code, reason| self.0.request_close(code, reason),
        )?;
        let id = side.next_id.fetch_add(1, Ordering::Relaxed);
        side.buffered.fetch_add(message.len(), Ordering::AcqRel);
        lock(&side.queue).push_back((message, id));
        self.0.wake();
        Ok(id)
    }
}
