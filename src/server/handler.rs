//! The [`Handler`] trait both servers run.

use super::{Client, MessageId};
use crate::connection::Message;
use crate::error::Error;
use crate::frame::CloseCode;
use crate::handshake::{Rejection, Request};

/// The application's side of a server: override the callbacks you need.
/// Either server runs the same handler unchanged. Every method has a
/// default that does nothing (or accepts).
///
/// Callbacks for one client are never run concurrently, and always in
/// order: `on_open` first, `on_close` last. Callbacks for different
/// clients may run in parallel (one thread per client on the threaded
/// server, one per event loop on the event-loop server), so keep them
/// short on the event-loop server and share state through `&self` with
/// interior mutability.
///
/// ```
/// use wsstack::server::{Client, Handler};
/// use wsstack::Message;
///
/// struct Echo;
///
/// impl Handler for Echo {
///     /// Per-client state, owned by the application.
///     type Data = u32;
///
///     fn on_message(&self, client: &Client<u32>, message: Message) {
///         *client.data() += 1;
///         let _ = client.send(message);
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Per-client data, created by [`on_handshake`](Handler::on_handshake)
    /// (with `Default` unless you override it) and reachable through
    /// [`Client::data`].
    type Data: Default + Send + 'static;

    /// Decide on an upgrade request that passed the built-in checks (and
    /// the [`ServerConfig`](crate::handshake::ServerConfig)'s own hook):
    /// path, query, headers, cookies, credentials, origin. `Ok` accepts it
    /// with the client's data (made from the request, e.g. a user name
    /// from a cookie); `Err` answers with the rejection's status.
    fn on_handshake(&self, _request: &Request) -> Result<Self::Data, Rejection> {
        Ok(Self::Data::default())
    }

    /// A client completed the handshake.
    fn on_open(&self, _client: &Client<Self::Data>) {}

    /// A whole message arrived.
    fn on_message(&self, _client: &Client<Self::Data>, _message: Message) {}

    /// A ping arrived (the pong is already on its way).
    fn on_ping(&self, _client: &Client<Self::Data>, _payload: &[u8]) {}

    /// A pong arrived.
    fn on_pong(&self, _client: &Client<Self::Data>, _payload: &[u8]) {}

    /// The client is gone: the close handshake finished (the peer's code
    /// and reason), the connection failed (the code we sent) or the
    /// transport dropped (1006). Called exactly once per opened client.
    fn on_close(&self, _client: &Client<Self::Data>, _code: CloseCode, _reason: &str) {}

    /// The connection failed: a protocol violation by the peer
    /// ([`Error::Protocol`]), or a transport failure such as a reset, a
    /// broken pipe or a write timeout ([`Error::Io`]). Reported once;
    /// `on_close` follows.
    fn on_error(&self, _client: &Client<Self::Data>, _error: &Error) {}

    /// A message accepted by [`Client::send`] has been written to the
    /// socket completely. Event-loop server only; the
    /// threaded server writes before `send` returns and never calls it.
    fn on_sent(&self, _client: &Client<Self::Data>, _id: MessageId) {}
}

/// Forward every callback of a handler type that wraps another.
macro_rules! forward_handler {
    ($(#[$doc:meta])* $ty:ty) => {
        $(#[$doc])*
        impl<H: Handler> Handler for $ty {
            type Data = H::Data;

            fn on_handshake(&self, request: &Request) -> Result<Self::Data, Rejection> {
                (**self).on_handshake(request)
            }
            fn on_open(&self, client: &Client<Self::Data>) {
                (**self).on_open(client)
            }
            fn on_message(&self, client: &Client<Self::Data>, message: Message) {
                (**self).on_message(client, message)
            }
            fn on_ping(&self, client: &Client<Self::Data>, payload: &[u8]) {
                (**self).on_ping(client, payload)
            }
            fn on_pong(&self, client: &Client<Self::Data>, payload: &[u8]) {
                (**self).on_pong(client, payload)
            }
            fn on_close(&self, client: &Client<Self::Data>, code: CloseCode, reason: &str) {
                (**self).on_close(client, code, reason)
            }
            fn on_error(&self, client: &Client<Self::Data>, error: &Error) {
                (**self).on_error(client, error)
            }
            fn on_sent(&self, client: &Client<Self::Data>, id: MessageId) {
                (**self).on_sent(client, id)
            }
        }
    };
}

forward_handler!(
    /// A shared handler: `Arc<H>` runs `H`, so state shared with other
    /// threads needs no wrapper.
    std::sync::Arc<H>
);
forward_handler!(
    /// A handler that lives for the whole program (e.g. a `static`, or
    /// `Box::leak`).
    &'static H
);
