//! A connection's traffic on the event loop: reading into the engine,
//! writing, and letting the connection go; the steps between (dispatch,
//! queued sends, `on_sent`, `on_close`) are `server/loop_conn.rs`'s.

use super::*;

impl<H: Handler> LoopCtx<H> {
    pub(super) fn read_open(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        let Phase::Open { engine, link, .. } = &mut conn.phase else {
            return;
        };
        if link.buffered() > self.base.options.high_water_mark {
            // Stop reading from a client whose replies are not being
            // consumed; TCP pushes back on it. Resumed in `pump`.
            conn.read_paused = true;
            return;
        }
        let mut budget = READ_BUDGET;
        loop {
            match read_from(&mut conn.io.socket, &mut conn.io.tls, &mut self.buf) {
                Ok(0) => {
                    conn.eof = true;
                    engine.receive_eof();
                    break;
                }
                Ok(n) => {
                    engine.receive(&self.buf[..n]);
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        self.pending_reads.push(slot);
                        break;
                    }
                    // A plain read that did not fill the buffer drained the
                    // socket: under edge-triggered readiness, bytes that
                    // arrive later raise a new event, so another read now
                    // would only return EAGAIN (a third syscall per echo).
                    if n < self.buf.len() && conn.io.tls.is_none() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("read from {} failed: {e}", conn.peer);
                    conn.eof = true;
                    conn.io_error.get_or_insert(e);
                    engine.receive_eof();
                    break;
                }
            }
        }
        self.process(slot);
    }

    /// Closing or lingering: read and discard what the peer still sends;
    /// its FIN (or a read error) ends the connection.
    pub(super) fn drain(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        if matches!(&conn.phase, Phase::Lingering(linger) if linger.exhausted()) {
            // Past the byte bound: read no more; the deadline ends it.
            return;
        }
        let mut finished = false;
        loop {
            match conn.io.socket.read(&mut self.buf) {
                Ok(0) => {
                    conn.eof = true;
                    finished = matches!(conn.phase, Phase::Lingering(_));
                    break;
                }
                Ok(n) => {
                    if let Phase::Lingering(linger) = &mut conn.phase {
                        if !linger.discarded(n) {
                            // Read no more: flow control holds a peer still
                            // sending until it reads our Close, up to the
                            // deadline.
                            return;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    finished = true;
                    break;
                }
            }
        }
        if finished {
            self.finish(slot);
        } else {
            self.pump(slot);
        }
    }

    /// Everything is written: report the end, shut our write side and
    /// discard the peer's input until its FIN or the bounds.
    fn linger(&mut self, slot: usize) {
        self.report_end(slot);
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut conn.io.tls {
            // Best effort: the socket has room, we just wrote everything.
            tls.send_close_notify();
            let _ = super::super::tls_io::TlsIo {
                tls,
                sock: &mut conn.io.socket,
            }
            .flush_tls();
        }
        if conn.eof || conn.io.socket.shutdown(Shutdown::Write).is_err() {
            return self.finish(slot);
        }
        conn.start_lingering();
        // The peer's FIN may already be waiting.
        self.pending_reads.push(slot);
    }
}

impl<H: Handler> LoopDriver for LoopCtx<H> {
    type Handler = H;
    type Handoff = Handoff;
    type Io = Io;

    fn parts(&mut self, slot: usize) -> Option<(&LoopBase<H, Handoff>, &mut Conn<H::Data>)> {
        let conn = self.conns.get_mut(slot)?.as_mut()?;
        Some((&self.base, conn))
    }

    fn slots(&self) -> usize {
        self.conns.len()
    }

    fn base(&self) -> &LoopBase<H, Handoff> {
        &self.base
    }

    fn add_conn(&mut self, (socket, peer): Handoff) {
        self.take_conn(socket, peer);
    }

    /// Encode queued messages, honour a close request, write, report
    /// `on_sent`, and end the connection when the engine is done.
    ///
    /// Queued messages are encoded a part at a time (up to `OUT_LOW`
    /// bytes); while the socket takes a whole part, the next is encoded
    /// and written, up to `WRITE_BUDGET` bytes, after which the
    /// connection is scheduled again so that others get their turn. (An
    /// edge-triggered socket that took everything raises no new event.)
    fn pump(&mut self, slot: usize) {
        let Some((parts, conn)) = self.parts(slot) else {
            return;
        };
        let mut budget = WRITE_BUDGET;
        loop {
            conn.prepare_output();
            let part = conn.output.len;
            if let Err(e) = write_out(&mut conn.io.socket, &mut conn.io.tls, &mut conn.output) {
                log::debug!("write to {} failed: {e}", conn.peer);
                conn.io_error.get_or_insert(e);
                return self.write_failed(slot);
            }
            // A part short of OUT_LOW means the queue was empty.
            if part < OUT_LOW || conn.output.len > 0 {
                break;
            }
            budget = budget.saturating_sub(part);
            if budget == 0 {
                parts.me.schedule(slot, conn.generation);
                break;
            }
        }
        let mut linger = false;
        let mut resume = false;
        match &conn.phase {
            Phase::Open { engine, link, .. } => {
                link.output_is(conn.output.len);
                linger = conn.output.len == 0
                    && !tls_pending(&conn.io.tls)
                    && engine.wants_close_transport();
                if conn.read_paused && link.buffered() <= parts.options.high_water_mark / 2 {
                    conn.read_paused = false;
                    resume = true;
                }
            }
            Phase::Closing => linger = conn.output.len == 0 && !tls_pending(&conn.io.tls),
            Phase::Handshake { .. } | Phase::Lingering(_) => {}
        }
        parts.report_sent(conn);
        if linger {
            self.linger(slot);
        } else if resume {
            self.pending_reads.push(slot);
        }
    }

    /// Drop the connection (reporting `on_close` first if it was open).
    fn finish(&mut self, slot: usize) {
        self.report_end(slot);
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.io.socket);
        let _ = conn.io.socket.shutdown(Shutdown::Both);
        self.free.push(slot);
        self.live.fetch_sub(1, Ordering::SeqCst);
    }

    /// Reading stopped at the end of the request: whatever followed it in
    /// the socket gets no new readiness edge.
    fn opened(&mut self, slot: usize) {
        self.pending_reads.push(slot);
    }
}
