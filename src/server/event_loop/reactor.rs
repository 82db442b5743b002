//! One event loop: readiness, accepting and handing over connections,
//! the inbox from other threads, timers and graceful shutdown.

use super::*;

pub(super) struct LoopCtx<H: Handler> {
    pub(super) poll: Poll,
    pub(super) me: Arc<LoopShared>,
    loops: Arc<[Arc<LoopShared>]>,
    listener: Option<TcpListener>,
    pub(super) handler: Arc<H>,
    pub(super) hub: Hub<H::Data>,
    pub(super) options: Arc<ServerBuilder>,
    pub(super) state: Arc<ServerState>,
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
            me: loops[index].clone(),
            loops,
            listener,
            handler,
            hub,
            options,
            state,
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
        self.me.enter();
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
                    if target == self.me.index {
                        self.add_conn(socket, peer);
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

    fn add_conn(&mut self, mut socket: TcpStream, peer: SocketAddr) {
        let refuse = self.live.fetch_add(1, Ordering::SeqCst) >= self.options.max_connections
            || self.stopping.is_some();
        #[cfg(feature = "tls")]
        let tls = match &self.options.tls {
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
        self.conns[slot] = Some(Conn {
            socket,
            tls,
            generation,
            peer,
            phase: Phase::Handshake {
                handshake: ServerHandshake::new(self.options.handshake.limits),
                deadline: Instant::now() + self.options.handshake_timeout,
                refuse,
            },
            output: Output::default(),
            read_paused: false,
            close_info: None,
            io_error: None,
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
        take_local_ready(&mut ready);
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
            Phase::Closing | Phase::Lingering(_) => self.drain(slot),
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
                Phase::Lingering(linger) if linger.expired(now) => self.finish(slot),
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
                    link.request_close(CloseCode::GOING_AWAY, "server shutting down");
                    self.pump(slot);
                }
                Phase::Handshake { .. } => self.finish(slot),
                Phase::Closing | Phase::Lingering(_) => {}
            }
        }
    }
}
