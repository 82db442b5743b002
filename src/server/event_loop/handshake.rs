//! The opening handshake on the event loop: read without blocking and
//! feed the shared handshake driver; its verdict goes to
//! `LoopDriver::handshake_progress` (refuse or open).

use super::*;
use crate::driver::ServerProgress;

impl<H: Handler> LoopCtx<H> {
    pub(super) fn read_handshake(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        let Phase::Handshake { handshake, .. } = &mut conn.phase else {
            return;
        };
        let mut ended = false;
        let progress = loop {
            match read_from(&mut conn.io.socket, &mut conn.io.tls, &mut self.buf) {
                Ok(0) => {
                    ended = true;
                    break ServerProgress::NeedMore;
                }
                Ok(n) => match handshake.receive(&self.buf[..n]) {
                    ServerProgress::NeedMore => {}
                    done => break done,
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break ServerProgress::NeedMore,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if conn.io.tls.is_some() {
                        log::info!("TLS handshake with {} failed: {e}", conn.peer);
                    } else {
                        log::debug!("reading the handshake from {} failed: {e}", conn.peer);
                    }
                    ended = true;
                    break ServerProgress::NeedMore;
                }
            }
        };
        if ended && matches!(progress, ServerProgress::NeedMore) {
            self.base.state.refused.fetch_add(1, Ordering::Relaxed);
            return self.finish(slot);
        }
        self.handshake_progress(slot, progress);
    }
}
