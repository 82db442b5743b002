//! A connection's life on the two loop drivers (the mio event loop and
//! io_uring), apart from how its bytes move: its phases, what it keeps,
//! and every step that does not touch the transport (delivering the
//! engine's events, the verdict on a handshake, opening, encoding queued
//! sends, `on_sent`, reporting the end, timers and shutdown).
//!
//! A driver implements [`LoopDriver`] (its connections, how it writes
//! and how it lets a connection go) and gets these steps as provided
//! methods, so both loops run one copy of them.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::dispatch::{
    admit, deliver, handshake_verdict, open_client, report_close, transport_loss, Admitted,
};
use super::loop_link::{LinkShared, LoopAccess, LoopShared};
use super::output::Output;
use super::queued::{encode_for_write, QueuedLink, Queues};
use super::shared::{guarded, ServerState};
use super::{Client, Handler, Hub, ServerBuilder};
use crate::connection::Engine;
use crate::driver::{Linger, ServerHandshake, ServerProgress};
use crate::frame::CloseCode;
use crate::handshake::{Rejection, Request};

/// Where a connection is in its life.
pub(crate) enum Phase<D, S> {
    /// Reading the upgrade request.
    Handshake {
        handshake: ServerHandshake,
        deadline: Instant,
        refuse: bool,
    },
    /// A WebSocket connection.
    Open {
        engine: Box<Engine>,
        client: Client<D>,
        link: Arc<LinkShared<S>>,
    },
    /// Write what is left (a rejection), then linger.
    Closing,
    /// The last bytes are written and our write side is shut: discard
    /// what the peer still sends until its FIN or the bounds.
    Lingering(Linger),
}

/// A connection on a loop: what both drivers keep, and the driver's own
/// part (`io`: its socket and whatever its way of moving bytes needs).
pub(crate) struct LoopConn<D, S, X> {
    pub(crate) io: X,
    /// Tells this connection from an earlier one in the same slot.
    pub(crate) generation: u64,
    pub(crate) peer: SocketAddr,
    pub(crate) phase: Phase<D, S>,
    pub(crate) output: Output,
    /// Over the high-water mark: no reading until the output drains.
    pub(crate) read_paused: bool,
    /// How the connection ended, once the engine said so.
    pub(crate) close_info: Option<(CloseCode, String)>,
    /// The first read or write failure, reported with the end.
    pub(crate) io_error: Option<io::Error>,
    pub(crate) eof: bool,
}

impl<D, S, X> LoopConn<D, S, X> {
    /// A connection just accepted, reading its upgrade request (to be
    /// refused if `refuse`: over the connection limit, or shutting down).
    pub(crate) fn accepted(
        io: X,
        generation: u64,
        peer: SocketAddr,
        options: &ServerBuilder,
        refuse: bool,
    ) -> Self {
        LoopConn {
            io,
            generation,
            peer,
            phase: Phase::Handshake {
                handshake: ServerHandshake::new(options.handshake.limits),
                deadline: Instant::now() + options.handshake_timeout,
                refuse,
            },
            output: Output::default(),
            read_paused: false,
            close_info: None,
            io_error: None,
            eof: false,
        }
    }

    /// Before a write: encode queued messages into the output (all of
    /// them, then the Close, when a close was requested: everything
    /// accepted before it goes out first), and take what the engine
    /// queued itself.
    pub(crate) fn prepare_output(&mut self) {
        if let Phase::Open { engine, link, .. } = &mut self.phase {
            encode_for_write(&mut self.output, engine, &link.send, |added, removed| {
                link.moved(added, removed)
            });
            self.output.take_from(engine);
        }
    }

    /// Everything is written and our write side shut: discard the peer's
    /// input until its FIN or the linger bounds.
    pub(crate) fn start_lingering(&mut self) {
        self.phase = Phase::Lingering(Linger::new(
            Instant::now(),
            Linger::TIMEOUT,
            Linger::MAX_BYTES,
        ));
    }
}

/// What a loop shares with its connections' steps (handed out next to
/// one connection by [`LoopDriver::parts`]).
pub(crate) struct LoopBase<H: Handler, S> {
    pub(crate) handler: Arc<H>,
    pub(crate) hub: Hub<H::Data>,
    pub(crate) options: Arc<ServerBuilder>,
    pub(crate) state: Arc<ServerState>,
    /// This loop, as other threads see it.
    pub(crate) me: Arc<LoopShared<S>>,
}

impl<H: Handler, S> LoopBase<H, S> {
    /// `on_sent` for every message whose last byte is now with the kernel.
    pub(crate) fn report_sent<X>(&self, conn: &mut LoopConn<H::Data, S, X>) {
        if let Phase::Open { client, .. } = &conn.phase {
            while let Some(id) = conn.output.next_sent() {
                let handler = &self.handler;
                guarded(&self.state, "on_sent", || handler.on_sent(client, id));
            }
        }
    }
}

/// The connection type of driver `T`.
pub(crate) type ConnOf<T> = LoopConn<
    <<T as LoopDriver>::Handler as Handler>::Data,
    <T as LoopDriver>::Handoff,
    <T as LoopDriver>::Io,
>;

/// A loop driver: its connections and its way with the transport. The
/// provided methods are the steps both drivers share.
pub(crate) trait LoopDriver {
    type Handler: Handler;
    /// What one loop hands another with a connection it accepted.
    type Handoff: Send + 'static;
    /// A connection's driver-specific part.
    type Io;

    /// The loop's shared parts and the live connection in `slot`, if any.
    #[allow(clippy::type_complexity)]
    fn parts(
        &mut self,
        slot: usize,
    ) -> Option<(&LoopBase<Self::Handler, Self::Handoff>, &mut ConnOf<Self>)>;

    /// How many slots there are (live or not).
    fn slots(&self) -> usize;

    /// Encode, write, report `on_sent`, and end the connection when the
    /// engine is done.
    fn pump(&mut self, slot: usize);

    /// Let the connection go (reporting `on_close` first if it was open).
    fn finish(&mut self, slot: usize);

    /// Right after a connection opened (and its first events went out).
    fn opened(&mut self, _slot: usize) {}

    /// Deliver the engine's events to the handler (what each callback
    /// sends is encoded before the next event is polled), then write.
    fn process(&mut self, slot: usize) {
        self.deliver_events(slot, false);
        self.pump(slot);
    }

    /// Deliver the engine's events; when the connection has ended, keep
    /// how (reporting a transport loss to `on_error`). `to_the_end`: the
    /// transport is gone, so the connection ends now even if the engine
    /// has not said how.
    fn deliver_events(&mut self, slot: usize, to_the_end: bool) {
        let Some((parts, conn)) = self.parts(slot) else {
            return;
        };
        let (handler, state) = (&*parts.handler, &*parts.state);
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
            link.send.closed.store(true, Ordering::Release);
            let error = conn.io_error.take();
            conn.close_info = Some(transport_loss(handler, client, state, code, reason, error));
        }
    }

    /// A write failed: the engine learns the transport is gone, the
    /// handler hears the error and the end, and the connection goes (no
    /// lingering: nothing more can reach the peer).
    fn write_failed(&mut self, slot: usize) {
        if let Some((_, conn)) = self.parts(slot) {
            if let Phase::Open { engine, .. } = &mut conn.phase {
                engine.receive_eof();
            }
        }
        self.deliver_events(slot, true);
        self.finish(slot);
    }

    /// Report `on_close` once for an open connection (as a transport loss
    /// if the engine never said how it ended); it is `Closing` after.
    fn report_end(&mut self, slot: usize) {
        let Some((_, conn)) = self.parts(slot) else {
            return;
        };
        let Phase::Open { engine, .. } = &mut conn.phase else {
            return;
        };
        if conn.close_info.is_none() {
            engine.receive_eof();
            self.deliver_events(slot, true);
        }
        let Some((parts, conn)) = self.parts(slot) else {
            return;
        };
        let phase = std::mem::replace(&mut conn.phase, Phase::Closing);
        if let Phase::Open { client, link, .. } = phase {
            link.send.closed.store(true, Ordering::Release);
            let (code, reason) = conn
                .close_info
                .take()
                .unwrap_or((CloseCode::ABNORMAL, String::new()));
            report_close(&*parts.handler, &client, &parts.state, code, &reason);
        }
    }

    /// The handshake driver has a verdict (or wants more): refuse, open,
    /// or wait.
    fn handshake_progress(&mut self, slot: usize, progress: ServerProgress) {
        let Some((parts, conn)) = self.parts(slot) else {
            return;
        };
        let Phase::Handshake { refuse, .. } = conn.phase else {
            return;
        };
        match handshake_verdict(progress, refuse, &parts.state) {
            None => {}
            Some(Err(rejection)) => self.reject(slot, rejection),
            Some(Ok((request, rest))) => self.open(slot, request, rest),
        }
    }

    /// Answer the upgrade request with `rejection`, then close.
    fn reject(&mut self, slot: usize, rejection: Rejection) {
        let Some((_, conn)) = self.parts(slot) else {
            return;
        };
        log::debug!("refused {}: {}", conn.peer, rejection.error);
        conn.phase = Phase::Closing;
        conn.output.push(rejection.to_bytes());
        self.pump(slot);
    }

    /// Admit the request (or refuse it), answer 101, open the client and
    /// tell the handler, then deliver what followed the request.
    fn open(&mut self, slot: usize, request: Request, rest: Vec<u8>) {
        let Some((parts, conn)) = self.parts(slot) else {
            return;
        };
        let (handler, state) = (parts.handler.clone(), parts.state.clone());
        let admitted = admit(
            &*handler,
            &state,
            &parts.options,
            &request,
            &rest,
            Instant::now(),
        );
        let Admitted {
            accepted,
            data,
            engine,
        } = match admitted {
            Ok(admitted) => admitted,
            Err(rejection) => return self.reject(slot, rejection),
        };
        conn.output.push(accepted.to_bytes());
        let link = Arc::new(LinkShared::new(
            slot,
            conn.generation,
            parts.me.clone(),
            state.clone(),
            &parts.options,
        ));
        let client = open_client::<Self::Handler>(
            &parts.hub,
            &state,
            conn.peer,
            request,
            &accepted,
            data,
            Box::new(QueuedLink(link.clone())),
        );
        conn.phase = Phase::Open {
            engine: Box::new(engine),
            client: client.clone(),
            link: link.clone(),
        };
        if !guarded(&state, "on_open", || handler.on_open(&client)) {
            link.request_close(CloseCode::INTERNAL_ERROR, "");
        }
        self.process(slot);
        self.opened(slot);
    }

    /// The loop's shared parts.
    fn base(&self) -> &LoopBase<Self::Handler, Self::Handoff>;

    /// Take a connection another loop accepted for this one.
    fn add_conn(&mut self, handed: Self::Handoff);

    /// What other threads (and this loop's own callbacks) left: new
    /// connections are added, and each connection with queued sends or a
    /// close request that is still that connection is pumped. `ready` is
    /// a reused list, left empty.
    fn drain_inbox(&mut self, ready: &mut Vec<(usize, u64)>) {
        let handed = self.base().me.take_work(ready);
        for conn in handed {
            self.add_conn(conn);
        }
        for &(slot, generation) in ready.iter() {
            if self
                .parts(slot)
                .is_some_and(|(_, c)| c.generation == generation)
            {
                self.pump(slot);
            }
        }
        ready.clear();
    }

    /// The timers: handshake deadlines, the engines' own (keepalive,
    /// idle, close handshake), linger deadlines.
    fn tick_conns(&mut self, now: Instant) {
        for slot in 0..self.slots() {
            let Some((parts, conn)) = self.parts(slot) else {
                continue;
            };
            match &mut conn.phase {
                Phase::Handshake { deadline, .. } if now >= *deadline => {
                    log::debug!("handshake from {} timed out", conn.peer);
                    parts.state.refused.fetch_add(1, Ordering::Relaxed);
                    self.finish(slot);
                }
                // Only a timer that is due: a connection without one (no
                // keepalive, no idle timeout) is left alone.
                Phase::Open { engine, .. } if engine.poll_timeout().is_some_and(|d| d <= now) => {
                    engine.handle_timeout(now);
                    self.process(slot);
                }
                Phase::Lingering(linger) if linger.expired(now) => self.finish(slot),
                _ => {}
            }
        }
    }

    /// A graceful shutdown starts: open clients get a Close 1001 after
    /// what they were sent, handshakes in progress are dropped.
    fn shutdown_conns(&mut self) {
        for slot in 0..self.slots() {
            let Some((_, conn)) = self.parts(slot) else {
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
