//! The servers' adapter of a [`Handler`] to the one dispatch and the one
//! admission of an upgrade request, shared by every server.

use std::io;
use std::sync::atomic::Ordering;

use super::client::{ClientInfo, Link};
use super::shared::{guarded, ServerState};
use super::{Client, Handler, Hub, ServerBuilder};
use crate::connection::{Engine, Event, Message};
use crate::driver::{close_for, dispatch, server_engine, Dispatched, EventTarget};
use crate::error::Error;
use crate::frame::CloseCode;
use crate::handshake::{Accepted, Rejection, Request, ServerConfig};

/// How a server driver reaches one client's engine.
pub(crate) trait EngineAccess {
    /// The engine's next event.
    fn poll_event(&mut self) -> Result<Option<Event>, Error>;
    /// Move what a callback sent into the engine (event loop: the queue).
    fn after_callback(&mut self) {}
    /// Close the client with 1011 after a callback panicked.
    fn close_internal_error(&mut self);
}

/// A handler, its client and a driver's engine access, as an
/// [`EventTarget`].
pub(crate) struct ServerTarget<'a, H: Handler, A> {
    pub(crate) handler: &'a H,
    pub(crate) client: &'a Client<H::Data>,
    pub(crate) state: &'a ServerState,
    pub(crate) access: A,
}

impl<H: Handler, A: EngineAccess> EventTarget for ServerTarget<'_, H, A> {
    fn poll_event(&mut self) -> Result<Option<Event>, Error> {
        self.access.poll_event()
    }

    fn after_callback(&mut self) {
        self.access.after_callback();
    }

    fn on_message(&mut self, message: Message) -> bool {
        let (h, c) = (self.handler, self.client);
        guarded(self.state, "on_message", || h.on_message(c, message))
    }

    fn on_ping(&mut self, payload: &[u8]) -> bool {
        let (h, c) = (self.handler, self.client);
        guarded(self.state, "on_ping", || h.on_ping(c, payload))
    }

    fn on_pong(&mut self, payload: &[u8]) -> bool {
        let (h, c) = (self.handler, self.client);
        guarded(self.state, "on_pong", || h.on_pong(c, payload))
    }

    fn on_error(&mut self, error: &Error) {
        report_error(self.handler, self.client, self.state, error);
    }

    fn callback_failed(&mut self) {
        self.access.close_internal_error();
    }
}

/// Deliver a client's pending events; `Some` once its connection is over.
pub(crate) fn deliver<H: Handler, A: EngineAccess>(
    handler: &H,
    client: &Client<H::Data>,
    state: &ServerState,
    access: A,
) -> Option<(CloseCode, String)> {
    let mut target = ServerTarget {
        handler,
        client,
        state,
        access,
    };
    match dispatch(&mut target) {
        Dispatched::NeedInput => None,
        Dispatched::Ended { code, reason } => Some((code, reason)),
    }
}

/// Report a failure to `on_error` (a panic there is contained) and return
/// the close code and reason for `on_close`.
pub(crate) fn report_error<H: Handler>(
    handler: &H,
    client: &Client<H::Data>,
    state: &ServerState,
    error: &Error,
) -> (CloseCode, String) {
    log::debug!("{client} failed: {error}");
    guarded(state, "on_error", || handler.on_error(client, error));
    close_for(error)
}

/// The code and reason for `on_close` once the engine reported the end
/// with `code` and `reason`. A transport loss (1006: the peer vanished, a
/// read or write failed, the close handshake timed out) is a failure too,
/// reported to `on_error` first as [`Error::Io`] (`error`, if the driver
/// saw one).
pub(crate) fn transport_loss<H: Handler>(
    handler: &H,
    client: &Client<H::Data>,
    state: &ServerState,
    code: CloseCode,
    reason: String,
    error: Option<io::Error>,
) -> (CloseCode, String) {
    if code != CloseCode::ABNORMAL {
        return (code, reason);
    }
    let error = error.unwrap_or_else(|| {
        if reason.is_empty() {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection without a close handshake",
            )
        } else {
            io::Error::new(io::ErrorKind::TimedOut, reason)
        }
    });
    report_error(handler, client, state, &Error::Io(error))
}

/// The end of a client: out of the hub and every room, then `on_close`,
/// exactly once, after which the client is no longer counted as open.
pub(crate) fn report_close<H: Handler>(
    handler: &H,
    client: &Client<H::Data>,
    state: &ServerState,
    code: CloseCode,
    reason: &str,
) {
    client.hub().unregister(client);
    guarded(state, "on_close", || handler.on_close(client, code, reason));
    state.open.fetch_sub(1, Ordering::Relaxed);
}

/// The handshake decision every server makes: the configuration's checks
/// and hook first, then the handler's `on_handshake`, which makes the
/// client's data (a panic there answers 500).
pub(crate) fn decide<H: Handler>(
    handler: &H,
    state: &ServerState,
    config: &ServerConfig,
    request: &Request,
) -> Result<(Accepted, H::Data), Rejection> {
    let mut data = None;
    let accepted = crate::driver::ServerHandshake::decide(config, request, |request| {
        let mut verdict = Err(Rejection::status(500));
        if guarded(state, "on_handshake", || {
            verdict = handler.on_handshake(request)
        }) {
            data = Some(verdict?);
            Ok(())
        } else {
            verdict.map(|_| ())
        }
    })?;
    data.map(|d| (accepted, d))
        .ok_or_else(|| Rejection::status(500))
}

/// A request a server accepted: what was agreed, the client's data, and
/// the engine, already fed the bytes that followed the request and with
/// its clock started (so its timers are armed).
pub(crate) struct Admitted<D> {
    pub(crate) accepted: Accepted,
    pub(crate) data: D,
    pub(crate) engine: Engine,
}

/// What every server does with a complete upgrade request: [`decide`],
/// then the engine for what was agreed (a configuration the engine
/// refuses is answered 500), fed `rest` and started at `now`. A refusal is
/// counted in the server's statistics and returned, to be answered.
pub(crate) fn admit<H: Handler>(
    handler: &H,
    state: &ServerState,
    options: &ServerBuilder,
    request: &Request,
    rest: &[u8],
    now: std::time::Instant,
) -> Result<Admitted<H::Data>, Rejection> {
    let refused = |rejection: Rejection| {
        state.refused.fetch_add(1, Ordering::Relaxed);
        rejection
    };
    let (accepted, data) = decide(handler, state, &options.handshake, request).map_err(refused)?;
    let mut engine = server_engine(options.config, &options.handshake, &accepted.extensions)
        .map_err(|e| {
            log::error!("invalid connection config: {e}");
            refused(Rejection::status(500))
        })?;
    engine.receive(rest);
    engine.handle_timeout(now);
    Ok(Admitted {
        accepted,
        data,
        engine,
    })
}

/// What a loop driver does with its handshake's progress: `None` to wait
/// for more, a complete request to [`admit`], or a refusal (counted) to
/// answer. Over the connection limit (`refuse`), a complete request is
/// answered 503.
#[cfg(any(feature = "mio", all(feature = "uring", target_os = "linux")))]
pub(crate) fn handshake_verdict(
    progress: crate::driver::ServerProgress,
    refuse: bool,
    state: &ServerState,
) -> Option<Result<(Request, Vec<u8>), Rejection>> {
    let refused = |rejection: Rejection| {
        state.refused.fetch_add(1, Ordering::Relaxed);
        Some(Err(rejection))
    };
    use crate::driver::ServerProgress;
    match progress {
        ServerProgress::NeedMore => None,
        ServerProgress::Reject(rejection) => refused(rejection),
        ServerProgress::Request { .. } if refuse => {
            refused(Rejection::status(503).with_header("Retry-After", "1"))
        }
        ServerProgress::Request { request, leftover } => Some(Ok((*request, leftover))),
    }
}

/// A client whose handshake was accepted: its handle, registered in the
/// hub (so reachable from `on_open` on), with the agreed subprotocol and
/// extensions.
pub(crate) fn open_client<H: Handler>(
    hub: &Hub<H::Data>,
    state: &ServerState,
    peer: std::net::SocketAddr,
    request: Request,
    accepted: &Accepted,
    data: H::Data,
    link: Box<dyn Link>,
) -> Client<H::Data> {
    let info = ClientInfo {
        id: state.next_id.fetch_add(1, Ordering::Relaxed),
        peer,
        request,
        subprotocol: accepted.subprotocol.clone(),
        extensions: accepted
            .extensions
            .iter()
            .map(|(_, response)| response.name.clone())
            .collect(),
    };
    let client = Client::new(info, data, link, hub.clone());
    hub.register(&client);
    state.open.fetch_add(1, Ordering::Relaxed);
    state.accepted.fetch_add(1, Ordering::Relaxed);
    client
}
