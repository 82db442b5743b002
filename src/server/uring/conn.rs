//! A connection's input on the io_uring loop: receive completions (into
//! the handshake, the engine, or discarded while closing), keeping the
//! multishot receive armed exactly while the connection wants input, and
//! the opening handshake.

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use super::ring::{user_data, Completion, Op};
use super::*;
use crate::driver::ServerProgress;

/// What a receive completion means for its connection.
enum Input {
    /// Nothing to do (no bytes, or bytes discarded).
    Nothing,
    /// The handshake moved on.
    Handshake(ServerProgress),
    /// Bytes went to the engine: dispatch them.
    Engine,
    /// The peer's FIN.
    Eof,
    /// The receive failed.
    Failed(io::Error),
}

/// Hand received bytes to the connection's current phase.
fn feed<D>(conn: &mut Conn<D>, data: &[u8]) -> Input {
    match &mut conn.phase {
        Phase::Handshake { handshake, .. } => match handshake.receive(data) {
            ServerProgress::NeedMore => Input::Nothing,
            done => Input::Handshake(done),
        },
        Phase::Open { engine, .. } => {
            engine.receive(data);
            Input::Engine
        }
        Phase::Closing => Input::Nothing,
        Phase::Lingering(linger) => {
            // Past the byte bound `wants_read` turns false: the receive
            // is cancelled and the deadline ends the connection, so flow
            // control holds a flooding peer until it reads our Close.
            linger.discarded(data.len());
            Input::Nothing
        }
    }
}

/// Whether the connection's receive should be armed.
fn wants_read<D>(conn: &Conn<D>) -> bool {
    !conn.io.dead
        && !conn.eof
        && !conn.read_paused
        && match &conn.phase {
            Phase::Lingering(linger) => !linger.exhausted(),
            _ => true,
        }
}

impl<H: Handler> LoopCtx<H> {
    /// Arm or cancel the connection's multishot receive to match what it
    /// wants now.
    pub(super) fn sync_recv(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let generation = conn.generation as u32;
        match (conn.io.recv, wants_read(conn)) {
            (Recv::Idle, true) => {
                self.ring.recv(conn.io.socket.as_raw_fd(), slot, generation);
                conn.io.recv = Recv::Armed;
            }
            (Recv::Armed, false) => {
                self.ring.cancel(user_data(Op::Recv, slot, generation));
                conn.io.recv = Recv::Cancelling;
            }
            _ => {}
        }
    }

    pub(super) fn on_recv(&mut self, c: Completion) {
        let slot = c.slot;
        let buffer = c.buffer();
        let Some(conn) = self
            .conns
            .get_mut(slot)
            .and_then(Option::as_mut)
            .filter(|conn| conn.generation == u64::from(c.generation))
        else {
            if let Some(bid) = buffer {
                self.ring.recycle(bid);
            }
            return;
        };
        if !c.more() {
            conn.io.recv = Recv::Idle;
        }
        let input = if conn.io.dead {
            Input::Nothing
        } else if c.result > 0 {
            match buffer {
                Some(bid) => feed(conn, self.ring.data(bid, c.result as usize)),
                None => Input::Failed(io::Error::other("a receive completion without a buffer")),
            }
        } else if c.result == 0 {
            Input::Eof
        } else if matches!(-c.result, libc::ENOBUFS | libc::ECANCELED | libc::EINTR) {
            // Out of buffers, or stopped on purpose: armed again below if
            // the connection still wants input.
            Input::Nothing
        } else {
            Input::Failed(io::Error::from_raw_os_error(-c.result))
        };
        if let Some(bid) = buffer {
            self.ring.recycle(bid);
        }
        match input {
            Input::Nothing => {}
            Input::Handshake(progress) => self.handshake_progress(slot, progress),
            Input::Engine => self.mark_dirty(slot),
            Input::Eof => self.input_ended(slot, None),
            Input::Failed(e) => self.input_ended(slot, Some(e)),
        }
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if conn.io.dead {
            self.try_free(slot);
        } else {
            self.sync_recv(slot);
        }
    }

    fn mark_dirty(&mut self, slot: usize) {
        if let Some(conn) = self.conns[slot].as_mut() {
            if !conn.io.dirty {
                conn.io.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    /// The peer's FIN, or a failed receive (`error`).
    fn input_ended(&mut self, slot: usize, error: Option<io::Error>) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        conn.eof = true;
        let peer = conn.peer;
        match &mut conn.phase {
            Phase::Open { engine, .. } => {
                if let Some(e) = error {
                    log::debug!("read from {peer} failed: {e}");
                    conn.io_error.get_or_insert(e);
                }
                engine.receive_eof();
                self.mark_dirty(slot);
            }
            Phase::Handshake { .. } => {
                if let Some(e) = error {
                    log::debug!("reading the handshake from {peer} failed: {e}");
                }
                self.base.state.refused.fetch_add(1, Ordering::Relaxed);
                self.finish(slot);
            }
            Phase::Closing if error.is_none() => self.pump(slot),
            Phase::Closing | Phase::Lingering(_) => self.finish(slot),
        }
    }
}
