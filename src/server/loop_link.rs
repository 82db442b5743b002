//! What other threads share with a server loop, for the drivers that run
//! a fixed set of loops (the mio event loop, the io_uring driver): each
//! loop's inbox and wake-up, and each connection's send queue, close
//! request and counters.
//!
//! The wake-up is the one thing that differs between drivers: a loop
//! passes a closure that interrupts its wait (the mio loop a
//! `mio::Waker`, the io_uring loop a write to its eventfd). `S` is what a
//! loop is handed when another loop accepts a connection for it.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::dispatch::EngineAccess;
use super::output::Output;
use super::queued::{Queues, SendSide};
use super::shared::ServerState;
use super::ServerBuilder;
use crate::connection::{Engine, Event};
use crate::error::Error;
use crate::frame::CloseCode;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every loop of every server in the process gets its own number, so a
/// callback on one server's loop that sends to another server's client
/// never takes the other loop's work for its own.
static NEXT_LOOP_ID: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Which loop (by [`LoopShared`] id) the current thread runs, if any.
    static CURRENT_LOOP: Cell<usize> = const { Cell::new(usize::MAX) };
    /// Connections this loop's own callbacks scheduled: (slot, generation).
    static LOCAL_READY: RefCell<Vec<(usize, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Whether this thread's loop has connections its own callbacks
/// scheduled.
pub(crate) fn local_ready_pending() -> bool {
    LOCAL_READY.with(|r| !r.borrow().is_empty())
}

/// Move the connections this thread's loop scheduled for itself into
/// `ready`.
pub(crate) fn take_local_ready(ready: &mut Vec<(usize, u64)>) {
    LOCAL_READY.with(|r| ready.append(&mut r.borrow_mut()));
}

/// What other threads hand a loop.
pub(crate) struct Inbox<S> {
    /// Connections accepted by another loop for this one.
    pub(crate) new_conns: Vec<S>,
    /// Connections with queued sends or a close request: (slot, generation).
    pub(crate) ready: Vec<(usize, u64)>,
}

impl<S> Default for Inbox<S> {
    fn default() -> Self {
        Inbox {
            new_conns: Vec::new(),
            ready: Vec::new(),
        }
    }
}

/// One loop as other threads see it: its inbox and how to wake it.
pub(crate) struct LoopShared<S> {
    /// The loop's position among its server's loops.
    pub(crate) index: usize,
    /// Unique in the process (see [`NEXT_LOOP_ID`]).
    id: usize,
    wake: Box<dyn Fn() + Send + Sync>,
    pub(crate) inbox: Mutex<Inbox<S>>,
    /// Set when the inbox has something; lets the loop skip the lock.
    pub(crate) pending: AtomicBool,
}

impl<S> LoopShared<S> {
    /// Loop `index` of its server, woken by `wake`.
    pub(crate) fn new(index: usize, wake: impl Fn() + Send + Sync + 'static) -> LoopShared<S> {
        LoopShared {
            index,
            id: NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed),
            wake: Box::new(wake),
            inbox: Mutex::default(),
            pending: AtomicBool::new(false),
        }
    }

    /// Called on the loop's thread before it runs: sends from its own
    /// callbacks then skip the inbox and the wake-up.
    pub(crate) fn enter(&self) {
        CURRENT_LOOP.with(|c| c.set(self.id));
    }

    /// Interrupt the loop's wait.
    pub(crate) fn wake(&self) {
        (self.wake)();
    }

    /// Ask the loop to pump a connection. From the loop's own thread (a
    /// send inside a callback) this is a push on a thread-local list; from
    /// elsewhere it goes through the inbox and wakes the loop.
    pub(crate) fn schedule(&self, slot: usize, generation: u64) {
        if CURRENT_LOOP.with(Cell::get) == self.id {
            LOCAL_READY.with(|r| r.borrow_mut().push((slot, generation)));
        } else {
            let mut inbox = lock(&self.inbox);
            inbox.ready.push((slot, generation));
            self.pending.store(true, Ordering::Release);
            drop(inbox);
            self.wake();
        }
    }

    /// What other threads handed this loop since it last looked, and what
    /// its own callbacks scheduled: the connections to pump are appended
    /// to `ready`, the connections handed over are returned.
    pub(crate) fn take_work(&self, ready: &mut Vec<(usize, u64)>) -> Vec<S> {
        let mut handed = Vec::new();
        if self.pending.swap(false, Ordering::AcqRel) {
            let mut inbox = lock(&self.inbox);
            ready.append(&mut inbox.ready);
            handed = std::mem::take(&mut inbox.new_conns);
        }
        take_local_ready(ready);
        handed
    }

    /// Hand a new connection to this loop (from the accepting loop).
    pub(crate) fn hand_over(&self, conn: S) {
        let mut inbox = lock(&self.inbox);
        inbox.new_conns.push(conn);
        self.pending.store(true, Ordering::Release);
        drop(inbox);
        self.wake();
    }
}

/// The part of a connection that senders on other threads touch: its
/// send side, and where it lives (loop, slot, generation) to be woken.
pub(crate) struct LinkShared<S> {
    pub(crate) send: SendSide,
    /// The output length already counted in `buffered` (the loop's own).
    out_bytes: AtomicUsize,
    slot: usize,
    generation: u64,
    home: Arc<LoopShared<S>>,
}

impl<S> LinkShared<S> {
    /// The link of the connection in `slot` (at `generation`) of the loop
    /// `home`, with the server's high-water mark and backpressure policy.
    pub(crate) fn new(
        slot: usize,
        generation: u64,
        home: Arc<LoopShared<S>>,
        state: Arc<ServerState>,
        options: &ServerBuilder,
    ) -> LinkShared<S> {
        LinkShared {
            send: SendSide::new(state, options),
            out_bytes: AtomicUsize::new(0),
            slot,
            generation,
            home,
        }
    }

    pub(crate) fn buffered(&self) -> usize {
        self.send.buffered()
    }

    /// A queued message left the queue (`removed` payload bytes) and
    /// added `added` bytes to the loop's output: count both, in one step
    /// for senders.
    pub(crate) fn moved(&self, added: usize, removed: usize) {
        self.out_bytes.fetch_add(added, Ordering::Relaxed);
        self.send.adjust(added, removed);
    }

    /// The output now holds `len` unwritten bytes: count the change for
    /// senders on other threads.
    pub(crate) fn output_is(&self, len: usize) {
        let counted = self.out_bytes.swap(len, Ordering::Relaxed);
        self.send.adjust(len, counted);
    }
}

impl<S: Send + 'static> Queues for LinkShared<S> {
    fn side(&self) -> &SendSide {
        &self.send
    }

    fn wake(&self) {
        self.home.schedule(self.slot, self.generation);
    }
}

/// A loop's way to its engine: direct, with the client's queued sends
/// encoded after every callback.
pub(crate) struct LoopAccess<'a, S> {
    pub(crate) engine: &'a mut Engine,
    pub(crate) output: &'a mut Output,
    pub(crate) link: &'a LinkShared<S>,
}

impl<S: Send + 'static> EngineAccess for LoopAccess<'_, S> {
    fn poll_event(&mut self) -> Result<Option<Event>, Error> {
        Ok(self.engine.poll_event()?)
    }

    fn after_callback(&mut self) {
        encode_queued(self.output, self.engine, self.link, true);
    }

    fn close_internal_error(&mut self) {
        Queues::request_close(self.link, CloseCode::INTERNAL_ERROR, "");
    }
}

/// Move queued messages into the output (the shared
/// [`encode_queued`](crate::server::queued::encode_queued)), counting
/// them for senders on other threads.
pub(crate) fn encode_queued<S>(
    output: &mut Output,
    engine: &mut Engine,
    link: &LinkShared<S>,
    all: bool,
) {
    super::queued::encode_queued(output, engine, &link.send.queue, all, |added, removed| {
        link.moved(added, removed)
    });
}
