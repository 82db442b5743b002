//! A connection's traffic out on the io_uring loop: the one send in
//! flight and its completion, pausing and resuming input, and the end of
//! a connection (freeing the slot once its operations are done); the
//! steps between (dispatch, queued sends, `on_sent`, `on_close`) are
//! `server/loop_conn.rs`'s.

use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use super::ring::{user_data, Completion, Op};
use super::*;

impl<H: Handler> LoopCtx<H> {
    pub(super) fn on_send(&mut self, c: Completion) {
        let slot = c.slot;
        let Some(conn) = self
            .conns
            .get_mut(slot)
            .and_then(Option::as_mut)
            .filter(|conn| conn.generation == u64::from(c.generation))
        else {
            return;
        };
        let Some(sending) = conn.io.sending.take() else {
            return;
        };
        let offered = sending.len;
        let in_flight = sending.into_in_flight();
        if conn.io.dead {
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

    /// Everything is written: report the end, shut our write side and
    /// discard the peer's input until its FIN or the bounds.
    fn linger(&mut self, slot: usize) {
        self.report_end(slot);
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        if conn.eof || conn.io.socket.shutdown(Shutdown::Write).is_err() {
            return self.finish(slot);
        }
        conn.start_lingering();
        // Read again (if paused) to see the peer's FIN.
        conn.read_paused = false;
        self.sync_recv(slot);
    }

    /// Free a finished connection's slot (closing its socket) once no
    /// operation of it is in flight.
    pub(super) fn try_free(&mut self, slot: usize) {
        let idle = self.conns[slot]
            .as_ref()
            .is_some_and(|c| c.io.dead && c.io.recv == Recv::Idle && c.io.sending.is_none());
        if idle {
            self.conns[slot] = None;
            self.free.push(slot);
        }
    }
}

impl<H: Handler> LoopDriver for LoopCtx<H> {
    type Handler = H;
    type Handoff = Handoff;
    type Io = Io;

    /// Only a live connection: a finished one waits for its operations.
    fn parts(&mut self, slot: usize) -> Option<(&LoopBase<H, Handoff>, &mut Conn<H::Data>)> {
        let conn = live(&mut self.conns, slot)?;
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

    /// Encode queued messages, honour a close request, start a send if
    /// none is in flight, report `on_sent`, pause or resume reading, and
    /// end the connection when the engine is done.
    fn pump(&mut self, slot: usize) {
        let Some(conn) = live(&mut self.conns, slot) else {
            return;
        };
        conn.prepare_output();
        if conn.io.sending.is_none() {
            if let Some(in_flight) = conn.output.take_front() {
                let sending = Sending::new(in_flight);
                let fd = conn.io.socket.as_raw_fd();
                self.ring.send(fd, &sending, slot, conn.generation as u32);
                conn.io.sending = Some(sending);
            }
        }
        // The output counts the bytes in flight until their completion.
        let mut linger = false;
        match &conn.phase {
            Phase::Open { engine, link, .. } => {
                link.output_is(conn.output.len);
                linger = conn.output.len == 0 && engine.wants_close_transport();
                let mark = self.base.options.high_water_mark;
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
        self.base.report_sent(conn);
        if linger {
            self.linger(slot);
        } else {
            self.sync_recv(slot);
        }
    }

    /// End the connection (reporting `on_close` first if it was open):
    /// shut the socket, cancel its operations, and free the slot once
    /// their last completions have come.
    fn finish(&mut self, slot: usize) {
        self.report_end(slot);
        let Some(conn) = live(&mut self.conns, slot) else {
            return;
        };
        conn.io.dead = true;
        let _ = conn.io.socket.shutdown(Shutdown::Both);
        let generation = conn.generation as u32;
        if conn.io.recv == Recv::Armed {
            self.ring.cancel(user_data(Op::Recv, slot, generation));
            conn.io.recv = Recv::Cancelling;
        }
        if conn.io.sending.is_some() {
            self.ring.cancel(user_data(Op::Send, slot, generation));
        }
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.try_free(slot);
    }
}
