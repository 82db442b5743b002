//! One io_uring loop: one submission per iteration, completions to the
//! connections, accepting and handing over connections, the inbox from
//! other threads, timers and graceful shutdown.

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use super::ring::{user_data, Completion, Op, Ring, MAX_SLOTS};
use super::*;
use crate::server::loop_link::local_ready_pending;
use crate::server::shared::ServerState;
use crate::server::Hub;

pub(super) struct LoopCtx<H: Handler> {
    /// First field: see the `Drop` below.
    pub(super) ring: Ring,
    loops: Arc<[Arc<LoopShared>]>,
    listener: Option<std::net::TcpListener>,
    /// The multishot accept is armed.
    accepting: bool,
    /// Arm the accept again at the next tick (it ended with an error,
    /// such as running out of file descriptors).
    accept_later: bool,
    /// Handler, hub, options, counters and this loop's shared side.
    pub(super) base: LoopBase<H, Handoff>,
    pub(super) live: Arc<AtomicUsize>,
    pub(super) conns: Vec<Option<Conn<H::Data>>>,
    pub(super) free: Vec<usize>,
    next_generation: u32,
    next_loop: usize,
    /// Connections whose engine got input: dispatched once per batch.
    pub(super) dirty: Vec<usize>,
    /// Reused list of connections to pump.
    ready: Vec<(usize, u64)>,
    completions: Vec<Completion>,
    pub(super) stopping: Option<Instant>,
}

impl<H: Handler> LoopCtx<H> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        ring: Ring,
        loops: Arc<[Arc<LoopShared>]>,
        index: usize,
        listener: Option<std::net::TcpListener>,
        handler: Arc<H>,
        hub: Hub<H::Data>,
        options: Arc<ServerBuilder>,
        state: Arc<ServerState>,
        live: Arc<AtomicUsize>,
    ) -> LoopCtx<H> {
        LoopCtx {
            ring,
            base: LoopBase {
                handler,
                hub,
                options,
                state,
                me: loops[index].clone(),
            },
            loops,
            listener,
            accepting: false,
            accept_later: false,
            live,
            conns: Vec::new(),
            free: Vec::new(),
            next_generation: 1,
            next_loop: 0,
            dirty: Vec::new(),
            ready: Vec::new(),
            completions: Vec::new(),
            stopping: None,
        }
    }

    pub(super) fn run(mut self) -> io::Result<()> {
        self.base.me.enter();
        self.arm_accept();
        let mut next_tick = Instant::now() + TICK;
        loop {
            let busy = !self.dirty.is_empty()
                || self.base.me.pending.load(Ordering::Acquire)
                || local_ready_pending();
            self.ring.submit_and_wait(if busy { 0 } else { 1 })?;
            let mut completions = std::mem::take(&mut self.completions);
            self.ring.completions(&mut completions);
            for c in completions.drain(..) {
                match c.op {
                    Some(Op::Accept) => self.on_accept(c),
                    Some(Op::Recv) => self.on_recv(c),
                    Some(Op::Send) => self.on_send(c),
                    // The tick only wakes the loop; the clock decides.
                    _ => {}
                }
            }
            self.completions = completions;
            self.process_dirty();
            self.drain_inbox();
            if self.base.state.is_shutting_down() && self.stopping.is_none() {
                self.begin_shutdown();
            }
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + TICK;
                self.tick(now);
            }
            if let Some(deadline) = self.stopping {
                let empty = self
                    .conns
                    .iter()
                    .all(|c| c.as_ref().is_none_or(|c| c.io.dead));
                if empty || now >= deadline {
                    for slot in 0..self.conns.len() {
                        self.finish(slot);
                    }
                    return Ok(());
                }
            }
        }
    }

    fn arm_accept(&mut self) {
        if let Some(listener) = &self.listener {
            if !self.accepting && self.stopping.is_none() {
                self.ring.accept(listener.as_raw_fd());
                self.accepting = true;
            }
        }
    }

    fn on_accept(&mut self, c: Completion) {
        if !c.more() {
            self.accepting = false;
        }
        if c.result >= 0 {
            let socket = ring::accepted(c.result);
            if self.stopping.is_none() {
                let _ = socket.set_nodelay(true);
                match socket.peer_addr() {
                    Ok(peer) => {
                        let target = self.next_loop % self.loops.len();
                        self.next_loop = self.next_loop.wrapping_add(1);
                        if target == self.base.me.index {
                            self.take_conn(socket, peer);
                        } else {
                            self.loops[target].hand_over((socket, peer));
                        }
                    }
                    Err(e) => log::debug!("an accepted connection is already gone: {e}"),
                }
            }
        } else if c.result != -libc::ECANCELED {
            log::warn!("accept failed: {}", io::Error::from_raw_os_error(-c.result));
        }
        if !self.accepting {
            if self.stopping.is_some() {
                // Cancelled by the shutdown: stop listening.
                self.listener = None;
            } else if c.result >= 0 {
                self.arm_accept();
            } else {
                // Out of descriptors or memory: try again at the next
                // tick rather than spin.
                self.accept_later = true;
            }
        }
    }

    pub(super) fn take_conn(&mut self, socket: TcpStream, peer: SocketAddr) {
        let refuse = self.live.fetch_add(1, Ordering::SeqCst) >= self.base.options.max_connections
            || self.stopping.is_some();
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        if slot >= MAX_SLOTS {
            log::warn!("io_uring loop full: dropping a connection from {peer}");
            self.conns.pop();
            self.live.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let io = Io {
            socket,
            sending: None,
            recv: Recv::Idle,
            dead: false,
            dirty: false,
        };
        let generation = u64::from(generation);
        self.conns[slot] = Some(Conn::accepted(
            io,
            generation,
            peer,
            &self.base.options,
            refuse,
        ));
        self.sync_recv(slot);
    }

    /// Dispatch and pump every connection whose engine got input.
    fn process_dirty(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &slot in &dirty {
            if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) {
                conn.io.dirty = false;
                self.process(slot);
            }
        }
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    fn drain_inbox(&mut self) {
        let mut ready = std::mem::take(&mut self.ready);
        LoopDriver::drain_inbox(self, &mut ready);
        self.ready = ready;
    }

    fn tick(&mut self, now: Instant) {
        if std::mem::take(&mut self.accept_later) {
            self.arm_accept();
        }
        self.tick_conns(now);
    }

    fn begin_shutdown(&mut self) {
        self.stopping = Some(Instant::now() + self.base.options.shutdown_timeout);
        if self.accepting {
            // The listener closes when the accept's last completion comes.
            self.ring.cancel(user_data(Op::Accept, 0, 0));
        } else {
            self.listener = None;
        }
        self.shutdown_conns();
    }
}

impl<H: Handler> Drop for LoopCtx<H> {
    /// Every operation is cancelled and its last completion awaited before
    /// the connections (whose sends may still be in flight) are dropped;
    /// if the kernel never answers, their memory is leaked instead.
    fn drop(&mut self) {
        if !self.ring.quiesce(Duration::from_secs(1)) {
            std::mem::forget(std::mem::take(&mut self.conns));
        }
    }
}
