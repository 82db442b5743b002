//! A connection's traffic out on the io_uring loop: dispatching its
//! events, encoding queued sends, the one send in flight and its
//! completion, `on_sent`, and the end of a connection (lingering close,
//! `on_close`, freeing the slot once its operations are done).

use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use super::ring::{user_data, Completion, Op};
use super::*;
use crate::server::dispatch::{deliver, report_close, transport_loss};
use crate::server::loop_link::{encode_queued, LoopAccess};
use crate::server::shared::guarded;

impl<H: Handler> LoopCtx<H> {
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

    /// Encode queued messages, honour a close request, start a send if
    /// none is in flight, report `on_sent`, pause or resume reading, and
    /// end the connection when the engine is done.
    pub(super) fn pump(&mut self, slot: usize) {
        let Some(conn) = self
            .conns
            .get_mut(slot)
            .and_then(Option::as_mut)
            .filter(|c| !c.dead)
        else {
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
        if conn.sending.is_none() {
            if let Some(in_flight) = conn.output.take_front() {
                let sending = Sending::new(in_flight);
                self.ring
                    .send(conn.socket.as_raw_fd(), &sending, slot, conn.generation);
                conn.sending = Some(sending);
            }
        }
        // The output counts the bytes in flight until their completion.
        let mut linger = false;
        match &conn.phase {
            Phase::Open { engine, link, .. } => {
                link.output_is(conn.output.len);
                linger = conn.output.len == 0 && engine.wants_close_transport();
                let mark = self.options.high_water_mark;
                if conn.read_paused {
                    conn.read_paused = link.buffered() > mark / 2;
                } else if link.buffered() > mark {
                    // Stop reading from a client whose replies are not
                    // being consumed; TCP pushes back on it.
                    conn.read_paused = true;
                }
            }
            Phase::Closing => linger = conn.output.len == 0,
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
        } else {
            self.sync_recv(slot);
        }
    }

    pub(super) fn on_send(&mut self, c: Completion) {
        let slot = c.slot;
        let Some(conn) = self
            .conns
            .get_mut(slot)
            .and_then(Option::as_mut)
            .filter(|conn| conn.generation == c.generation)
        else {
            return;
        };
        let Some(sending) = conn.sending.take() else {
            return;
        };
        let offered = sending.len;
        let in_flight = sending.into_in_flight();
        if conn.dead {
            drop(in_flight);
            return self.try_free(slot);
        }
        let error = match c.result {
            n if n > 0 => {
                conn.output.give_back(in_flight, n as usize);
                None
            }
            0 if offered > 0 => {
                conn.output.give_back(in_flight, 0);
                Some(io::ErrorKind::WriteZero.into())
            }
            n if matches!(-n, libc::EINTR | libc::EAGAIN) || n == 0 => {
                conn.output.give_back(in_flight, 0);
                None
            }
            n => {
                conn.output.give_back(in_flight, 0);
                Some(io::Error::from_raw_os_error(-n))
            }
        };
        match error {
            None => self.pump(slot),
            Some(e) => {
                log::debug!("write to {} failed: {e}", conn.peer);
                conn.io_error.get_or_insert(e);
                self.write_failed(slot);
            }
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
        if conn.eof || conn.socket.shutdown(Shutdown::Write).is_err() {
            return self.finish(slot);
        }
        conn.phase = Phase::Lingering(Linger::new(
            Instant::now(),
            Linger::TIMEOUT,
            Linger::MAX_BYTES,
        ));
        // Read again (if paused) to see the peer's FIN.
        conn.read_paused = false;
        self.sync_recv(slot);
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

    /// End the connection (reporting `on_close` first if it was open):
    /// shut the socket, cancel its operations, and free the slot once
    /// their last completions have come.
    pub(super) fn finish(&mut self, slot: usize) {
        self.report_end(slot);
        let Some(conn) = self
            .conns
            .get_mut(slot)
            .and_then(Option::as_mut)
            .filter(|c| !c.dead)
        else {
            return;
        };
        conn.dead = true;
        let _ = conn.socket.shutdown(Shutdown::Both);
        if conn.recv == Recv::Armed {
            self.ring.cancel(user_data(Op::Recv, slot, conn.generation));
            conn.recv = Recv::Cancelling;
        }
        if conn.sending.is_some() {
            self.ring.cancel(user_data(Op::Send, slot, conn.generation));
        }
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.try_free(slot);
    }

    /// Free a finished connection's slot (closing its socket) once no
    /// operation of it is in flight.
    pub(super) fn try_free(&mut self, slot: usize) {
        let idle = self.conns[slot]
            .as_ref()
            .is_some_and(|c| c.dead && c.recv == Recv::Idle && c.sending.is_none());
        if idle {
            self.conns[slot] = None;
            self.free.push(slot);
        }
    }
}
