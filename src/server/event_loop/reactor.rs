//! One event loop: readiness, accepting and handing over connections,
//! the inbox from other threads, timers and graceful shutdown.

use super::*;

pub(super) struct LoopCtx<H: Handler> {
    pub(super) poll: Poll,
    loops: Arc<[Arc<LoopShared>]>,
    listener: Option<TcpListener>,
    /// Handler, hub, options, counters and this loop's shared side.
    pub(super) base: LoopBase<H, Handoff>,
    pub(super) live: Arc<AtomicUsize>,
    pub(super) conns: Vec<Option<Conn<H::Data>>>,
    pub(super) free: Vec<usize>,
    next_generation: u64,
    next_loop: usize,
    pub(super) buf: Vec<u8>,
    pub(super) pending_reads: Vec<usize>,
    /// Reused list of connections to pump.
    ready: Vec<(usize, u64)>,
    pub(super) stopping: Option<Instant>,
}

impl<H: Handler> LoopCtx<H> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        poll: Poll,
        loops: Arc<[Arc<LoopShared>]>,
        index: usize,
        listener: Option<TcpListener>,
        handler: Arc<H>,
        hub: Hub<H::Data>,
        options: Arc<ServerBuilder>,
        state: Arc<ServerState>,
        live: Arc<AtomicUsize>,
    ) -> LoopCtx<H> {
        LoopCtx {
            poll,
            base: LoopBase {
                handler,
                hub,
                options,
                state,
                me: loops[index].clone(),
            },
            loops,
            listener,
            live,
            conns: Vec::new(),
            free: Vec::new(),
            next_generation: 1,
            next_loop: 0,
            buf: vec![0; READ_BUF],
            pending_reads: Vec::new(),
            ready: Vec::new(),
            stopping: None,
        }
    }

    pub(super) fn run(mut self) -> io::Result<()> {
        self.base.me.enter();
        if let Some(l) = &mut self.listener {
            self.poll
                .registry()
                .register(l, LISTENER, Interest::READABLE)?;
        }
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        loop {
            let busy = !self.pending_reads.is_empty()
                || self.base.me.pending.load(Ordering::Acquire)
                || local_ready_pending();
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
                        // Edge-triggered epoll reports every readable socket
                        // as writable too: pump again only if bytes wait.
                        if event.is_writable() && self.has_output(slot) {
                            self.pump(slot);
                        }
                    }
                }
            }
            for slot in std::mem::take(&mut self.pending_reads) {
                self.on_readable(slot);
            }
            self.drain_inbox();
            if self.base.state.is_shutting_down() && self.stopping.is_none() {
                self.begin_shutdown();
            }
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + TICK;
                self.tick_conns(now);
            }
            if let Some(deadline) = self.stopping {
                let empty = self.conns.iter().all(Option::is_none);
                if empty || now >= deadline {
                    for slot in 0..self.conns.len() {
                        self.finish(slot);
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
                    if target == self.base.me.index {
                        self.take_conn(socket, peer);
                    } else {
                        self.loops[target].hand_over((socket, peer));
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

    pub(super) fn take_conn(&mut self, mut socket: TcpStream, peer: SocketAddr) {
        let refuse = self.live.fetch_add(1, Ordering::SeqCst) >= self.base.options.max_connections
            || self.stopping.is_some();
        #[cfg(feature = "tls")]
        let tls = match &self.base.options.tls {
            Some(config) => match super::super::tls_io::session(config.clone()) {
                Ok(session) => Some(Box::new(session)),
                Err(e) => {
                    // Never plaintext on a TLS port: drop the connection.
                    log::error!("cannot start a TLS session for {peer}: {e}");
                    self.live.fetch_sub(1, Ordering::SeqCst);
                    return;
                }
            },
            None => None,
        };
        #[cfg(not(feature = "tls"))]
        let tls = None;
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
        let io = Io { socket, tls };
        self.conns[slot] = Some(Conn::accepted(
            io,
            generation,
            peer,
            &self.base.options,
            refuse,
        ));
        // Bytes may already be waiting: edge-triggered readiness would not
        // report them again.
        self.pending_reads.push(slot);
    }

    fn drain_inbox(&mut self) {
        let mut ready = std::mem::take(&mut self.ready);
        LoopDriver::drain_inbox(self, &mut ready);
        self.ready = ready;
    }

    /// Whether the connection has bytes waiting to be written (its own,
    /// or its TLS session's).
    fn has_output(&self, slot: usize) -> bool {
        self.conns
            .get(slot)
            .and_then(Option::as_ref)
            .is_some_and(|c| c.output.len > 0 || tls_pending(&c.io.tls))
    }

    fn on_readable(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        match conn.phase {
            Phase::Handshake { .. } => self.read_handshake(slot),
            Phase::Open { .. } => self.read_open(slot),
            Phase::Closing | Phase::Lingering(_) => self.drain(slot),
        }
    }

    fn begin_shutdown(&mut self) {
        self.stopping = Some(Instant::now() + self.base.options.shutdown_timeout);
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        self.shutdown_conns();
    }
}
