//! A connection's traffic on the event loop: reading into the engine,
//! dispatching its events, encoding queued sends, writing, and the end of
//! a connection (lingering close, `on_close`).

use super::*;
use crate::server::dispatch::{deliver, report_close, transport_loss};
use crate::server::loop_link::{encode_queued, LoopAccess};

impl<H: Handler> LoopCtx<H> {
    pub(super) fn read_open(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        let Phase::Open { engine, link, .. } = &mut conn.phase else {
            return;
        };
        if link.buffered() > self.options.high_water_mark {
            // Stop reading from a client whose replies are not being
            // consumed; TCP pushes back on it. Resumed in `pump`.
            conn.read_paused = true;
            return;
        }
        let mut budget = READ_BUDGET;
        loop {
            match read_from(&mut conn.socket, &mut conn.tls, &mut self.buf) {
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
                    if n < self.buf.len() && conn.tls.is_none() {
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
            match conn.socket.read(&mut self.buf) {
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

    /// Deliver the engine's events to the handler (what each callback
    /// sends is encoded before the next event is polled), then write.
    pub(super) fn process(&mut self, slot: usize) {
        self.deliver_events(slot, false);
        self.pump(slot);
    }

    /// Deliver the engine's events; when the connection has ended, keep
    /// how (reporting a transport loss to `on_error`). `to_the_end`: the
    /// transport is gone, so the connection ends now even if the engine
    /// has not said how.
    fn deliver_events(&mut self, slot: usize, to_the_end: bool) {
        let (handler, state) = (&*self.handler, &*self.state);
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let Phase::Open {
            engine,
            client,
            link,
        } = &mut conn.phase
        else {
            return;
        };
        if conn.close_info.is_some() {
            return;
        }
        let access = LoopAccess {
            engine,
            output: &mut conn.output,
            link,
        };
        let mut ended = deliver(handler, client, state, access);
        if to_the_end {
            ended = ended.or(Some((CloseCode::ABNORMAL, String::new())));
        }
        if let Some((code, reason)) = ended {
            link.closed.store(true, Ordering::Release);
            let error = conn.io_error.take();
            conn.close_info = Some(transport_loss(handler, client, state, code, reason, error));
        }
    }

    /// Encode queued messages, honour a close request, write, report
    /// `on_sent`, and end the connection when the engine is done.
    pub(super) fn pump(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if let Phase::Open { engine, link, .. } = &mut conn.phase {
            if !engine.close_started() {
                encode_queued(&mut conn.output, engine, link, false);
            }
            if let Some((code, reason)) = link.take_close_request() {
                // Everything accepted before the close goes out first.
                encode_queued(&mut conn.output, engine, link, true);
                if engine.close(code, &reason).is_err() {
                    let _ = engine.close(CloseCode::INTERNAL_ERROR, "");
                }
            }
            conn.output.take_from(engine);
        }
        if let Err(e) = write_out(&mut conn.socket, &mut conn.tls, &mut conn.output) {
            log::debug!("write to {} failed: {e}", conn.peer);
            conn.io_error.get_or_insert(e);
            return self.write_failed(slot);
        }
        let mut linger = false;
        let mut resume = false;
        match &conn.phase {
            Phase::Open { engine, link, .. } => {
                link.output_is(conn.output.len);
                linger = conn.output.len == 0
                    && !tls_pending(&conn.tls)
                    && engine.wants_close_transport();
                if conn.read_paused && link.buffered() <= self.options.high_water_mark / 2 {
                    conn.read_paused = false;
                    resume = true;
                }
            }
            Phase::Closing => linger = conn.output.len == 0 && !tls_pending(&conn.tls),
            Phase::Handshake { .. } | Phase::Lingering(_) => {}
        }
        // on_sent for every message whose last byte is now with the kernel.
        if let Phase::Open { client, .. } = &conn.phase {
            while let Some(id) = conn.output.next_sent() {
                let handler = &self.handler;
                guarded(&self.state, "on_sent", || handler.on_sent(client, id));
            }
        }
        if linger {
            self.linger(slot);
        } else if resume {
            self.pending_reads.push(slot);
        }
    }

    /// A write failed: the engine learns the transport is gone, the
    /// handler hears the error and the end, and the socket is dropped (no
    /// lingering: nothing more can reach the peer).
    fn write_failed(&mut self, slot: usize) {
        if let Some(Phase::Open { engine, .. }) = self.conns[slot].as_mut().map(|c| &mut c.phase) {
            engine.receive_eof();
        }
        self.deliver_events(slot, true);
        self.finish(slot);
    }

    /// Everything is written: report the end, shut our write side and
    /// discard the peer's input until its FIN or the bounds.
    fn linger(&mut self, slot: usize) {
        self.report_end(slot);
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut conn.tls {
            // Best effort: the socket has room, we just wrote everything.
            tls.send_close_notify();
            let _ = super::super::tls_io::TlsIo {
                tls,
                sock: &mut conn.socket,
            }
            .flush_tls();
        }
        if conn.eof || conn.socket.shutdown(Shutdown::Write).is_err() {
            return self.finish(slot);
        }
        conn.phase = Phase::Lingering(Linger::new(
            Instant::now(),
            Linger::TIMEOUT,
            Linger::MAX_BYTES,
        ));
        // The peer's FIN may already be waiting.
        self.pending_reads.push(slot);
    }

    /// Report `on_close` once for an open connection (as a transport loss
    /// if the engine never said how it ended).
    fn report_end(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        if !matches!(conn.phase, Phase::Open { .. }) {
            return;
        }
        if conn.close_info.is_none() {
            if let Phase::Open { engine, .. } = &mut conn.phase {
                engine.receive_eof();
            }
            self.deliver_events(slot, true);
        }
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        let phase = std::mem::replace(&mut conn.phase, Phase::Closing);
        if let Phase::Open { client, link, .. } = phase {
            link.closed.store(true, Ordering::Release);
            let (code, reason) = conn
                .close_info
                .take()
                .unwrap_or((CloseCode::ABNORMAL, String::new()));
            report_close(&*self.handler, &client, &self.state, code, &reason);
        }
    }

    /// Drop the connection (reporting `on_close` first if it was open).
    pub(super) fn finish(&mut self, slot: usize) {
        self.report_end(slot);
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.socket);
        let _ = conn.socket.shutdown(Shutdown::Both);
        self.free.push(slot);
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}
