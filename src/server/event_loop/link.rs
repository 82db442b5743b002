//! What other threads share with a loop: its inbox and waker, and each
//! connection's send queue, close request and counters.

use super::*;

/// What other threads hand a loop.
#[derive(Default)]
pub(super) struct Inbox {
    pub(super) new_conns: Vec<(TcpStream, SocketAddr)>,
    /// Connections with queued sends or a close request: (slot, generation).
    pub(super) ready: Vec<(usize, u64)>,
}

pub(super) struct LoopShared {
    pub(super) index: usize,
    pub(super) waker: Waker,
    pub(super) inbox: Mutex<Inbox>,
    /// Set when the inbox has something; lets the loop skip the lock.
    pub(super) pending: AtomicBool,
}

impl LoopShared {
    /// Ask the loop to pump a connection. From the loop's own thread (a
    /// send inside a callback) this is a push on a thread-local list; from
    /// elsewhere it goes through the inbox and wakes the loop.
    pub(super) fn schedule(&self, slot: usize, generation: u64) {
        if CURRENT_LOOP.with(Cell::get) == self.index {
            LOCAL_READY.with(|r| r.borrow_mut().push((slot, generation)));
        } else {
            let mut inbox = lock(&self.inbox);
            inbox.ready.push((slot, generation));
            self.pending.store(true, Ordering::Release);
            drop(inbox);
            let _ = self.waker.wake();
        }
    }

    /// Hand a new connection to this loop (from the accepting loop).
    pub(super) fn hand_over(&self, socket: TcpStream, peer: SocketAddr) {
        let mut inbox = lock(&self.inbox);
        inbox.new_conns.push((socket, peer));
        self.pending.store(true, Ordering::Release);
        drop(inbox);
        let _ = self.waker.wake();
    }
}

/// The part of a connection that senders on other threads touch.
pub(super) struct LinkShared {
    pub(super) queue: Mutex<VecDeque<(Queued, MessageId)>>,
    /// Payload bytes queued plus encoded bytes not yet written: one counter,
    /// so a sender never reads it caught between the two.
    pub(super) buffered: AtomicUsize,
    /// The output length already counted in `buffered` (the loop's own).
    pub(super) out_bytes: AtomicUsize,
    pub(super) closed: AtomicBool,
    pub(super) close_request: Mutex<Option<(CloseCode, String)>>,
    /// Set with `close_request`, so the loop need not lock to look.
    pub(super) close_requested: AtomicBool,
    pub(super) next_id: AtomicU64,
    pub(super) slot: usize,
    pub(super) generation: u64,
    pub(super) home: Arc<LoopShared>,
    pub(super) state: Arc<ServerState>,
    pub(super) high_water_mark: usize,
    pub(super) policy: Backpressure,
}

impl LinkShared {
    /// Ask for the close handshake: from now on `send` refuses; what was
    /// queued before still goes out ahead of the Close.
    pub(super) fn request_close(&self, code: CloseCode, reason: &str) {
        let mut req = lock(&self.close_request);
        if req.is_none() && !self.closed.swap(true, Ordering::AcqRel) {
            *req = Some((code, reason.to_owned()));
            self.close_requested.store(true, Ordering::Release);
            drop(req);
            self.home.schedule(self.slot, self.generation);
        }
    }

    pub(super) fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Acquire)
    }
}

pub(super) struct EventLoopLink(pub(super) Arc<LinkShared>);

impl Link for EventLoopLink {
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
        self.0.buffered()
    }
}

impl EventLoopLink {
    fn enqueue(
        &self,
        message: Queued,
        policy: Option<Backpressure>,
    ) -> Result<MessageId, SendError> {
        let l = &self.0;
        if l.closed.load(Ordering::Acquire) {
            return Err(SendError::Closed);
        }
        Backpressure::check(
            policy.unwrap_or(l.policy),
            l.buffered(),
            message.len(),
            l.high_water_mark,
            &l.state,
            |code, reason| l.request_close(code, reason),
        )?;
        let id = l.next_id.fetch_add(1, Ordering::Relaxed);
        l.buffered.fetch_add(message.len(), Ordering::AcqRel);
        lock(&l.queue).push_back((message, id));
        l.home.schedule(l.slot, l.generation);
        Ok(id)
    }
}
