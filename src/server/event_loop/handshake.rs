//! The opening handshake on the event loop: read without blocking, feed
//! the shared handshake driver, answer, and open the client.

use super::*;
use crate::driver::ServerProgress;
use crate::handshake::{Rejection, Request};
use crate::server::dispatch::{admit, handshake_verdict, open_client, Admitted};

impl<H: Handler> LoopCtx<H> {
    pub(super) fn read_handshake(&mut self, slot: usize) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        let Phase::Handshake {
            handshake, refuse, ..
        } = &mut conn.phase
        else {
            return;
        };
        let refuse = *refuse;
        let mut ended = false;
        let progress = loop {
            match read_from(&mut conn.socket, &mut conn.tls, &mut self.buf) {
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
                    if conn.tls.is_some() {
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
            self.state.refused.fetch_add(1, Ordering::Relaxed);
            return self.finish(slot);
        }
        match handshake_verdict(progress, refuse, &self.state) {
            None => {}
            Some(Err(rejection)) => self.reject(slot, rejection),
            Some(Ok((request, rest))) => self.open(slot, request, rest),
        }
    }

    fn reject(&mut self, slot: usize, rejection: Rejection) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        log::debug!("refused {}: {}", conn.peer, rejection.error);
        conn.phase = Phase::Closing;
        conn.output.push(rejection.to_bytes());
        self.pump(slot);
    }

    fn open(&mut self, slot: usize, request: Request, rest: Vec<u8>) {
        let (handler, state, options) = (
            self.handler.clone(),
            self.state.clone(),
            self.options.clone(),
        );
        let admitted = admit(&*handler, &state, &options, &request, &rest, Instant::now());
        let Admitted {
            accepted,
            data,
            engine,
        } = match admitted {
            Ok(admitted) => admitted,
            Err(rejection) => return self.reject(slot, rejection),
        };
        let engine = Box::new(engine);
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        conn.output.push(accepted.to_bytes());
        let link = Arc::new(LinkShared::new(
            slot,
            conn.generation,
            self.me.clone(),
            state.clone(),
            &options,
        ));
        let client = open_client::<H>(
            &self.hub,
            &state,
            conn.peer,
            request,
            &accepted,
            data,
            Box::new(EventLoopLink(link.clone())),
        );
        conn.phase = Phase::Open {
            engine,
            client: client.clone(),
            link: link.clone(),
        };
        if !guarded(&state, "on_open", || handler.on_open(&client)) {
            link.request_close(CloseCode::INTERNAL_ERROR, "");
        }
        self.process(slot);
        // Reading stopped at the end of the request: whatever followed it
        // in the socket gets no new readiness edge.
        self.pending_reads.push(slot);
    }
}
