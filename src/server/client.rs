//! [`Client`]: the application's handle on one connected client.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Backpressure, Hub};
use crate::connection::{Message, PreparedMessage};
use crate::frame::CloseCode;
use crate::handshake::Request;

/// Identifies a message accepted by [`Client::send`]; reported again by
/// [`Handler::on_sent`](super::Handler::on_sent).
pub type MessageId = u64;

/// Why [`Client::send`] did not take a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The client is closing or gone.
    Closed,
    /// The message would cross the high-water mark; try again after
    /// [`Handler::on_sent`](super::Handler::on_sent) (policy
    /// [`Backpressure::Retry`]).
    Full,
    /// The message would cross the high-water mark and was dropped
    /// (policy [`Backpressure::Drop`]; counted in the server's stats).
    Dropped,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Closed => "the client is closing or gone",
            SendError::Full => "the client's send queue is full; retry later",
            SendError::Dropped => "the client's send queue is full; message dropped",
        })
    }
}

impl std::error::Error for SendError {}

/// How a server driver carries out a client's commands.
pub(crate) trait Link: Send + Sync {
    fn send(&self, message: Message, policy: Option<Backpressure>) -> Result<MessageId, SendError>;
    fn send_prepared(
        &self,
        prepared: &Arc<PreparedMessage>,
        policy: Option<Backpressure>,
    ) -> Result<MessageId, SendError>;
    fn close(&self, code: CloseCode, reason: &str);
    fn buffered_amount(&self) -> usize;
}

/// What a server knows of a client once its handshake is accepted.
pub(crate) struct ClientInfo {
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    pub(crate) request: Request,
    pub(crate) subprotocol: Option<String>,
    pub(crate) extensions: Vec<String>,
}

pub(crate) struct ClientShared<D> {
    info: ClientInfo,
    data: Mutex<D>,
    link: Box<dyn Link>,
    hub: Hub<D>,
}

/// A connected client: cheap to clone, usable from any thread.
pub struct Client<D = ()> {
    pub(crate) shared: Arc<ClientShared<D>>,
}

impl<D> Clone for Client<D> {
    fn clone(&self) -> Self {
        Client {
            shared: self.shared.clone(),
        }
    }
}

impl<D> fmt::Debug for Client<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.shared.info.id)
            .field("peer", &self.shared.info.peer)
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

impl<D> fmt::Display for Client<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client {} ({})",
            self.shared.info.id, self.shared.info.peer
        )
    }
}

impl<D> Client<D> {
    pub(crate) fn new(info: ClientInfo, data: D, link: Box<dyn Link>, hub: Hub<D>) -> Client<D> {
        Client {
            shared: Arc::new(ClientShared {
                info,
                data: Mutex::new(data),
                link,
                hub,
            }),
        }
    }

    /// A number unique among this server's clients.
    pub fn id(&self) -> u64 {
        self.shared.info.id
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.shared.info.peer
    }

    /// The upgrade request (path, query, headers, cookies, credentials).
    pub fn request(&self) -> &Request {
        &self.shared.info.request
    }

    /// The request path.
    pub fn path(&self) -> &str {
        self.shared.info.request.path()
    }

    /// The negotiated subprotocol, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.shared.info.subprotocol.as_deref()
    }

    /// The names of the negotiated extensions, in negotiation order (e.g.
    /// `["permessage-deflate"]`).
    pub fn extensions(&self) -> &[String] {
        &self.shared.info.extensions
    }

    /// The server's hub: every connected client, rooms, publishing.
    pub fn hub(&self) -> &Hub<D> {
        &self.shared.hub
    }

    /// Join `room` (idempotent; see [`Hub::subscribe`]).
    pub fn subscribe(&self, room: &str) -> bool {
        self.shared.hub.subscribe(self, room)
    }

    /// Leave `room` (idempotent; see [`Hub::unsubscribe`]).
    pub fn unsubscribe(&self, room: &str) -> bool {
        self.shared.hub.unsubscribe(self, room)
    }

    /// The rooms this client is in, sorted.
    pub fn rooms(&self) -> Vec<String> {
        self.shared.hub.rooms_of(self)
    }

    /// The application's per-client data. Do not hold the guard across a
    /// call that may run another callback for this client.
    pub fn data(&self) -> MutexGuard<'_, D> {
        self.shared.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue a message for the client. On the event-loop server this never
    /// blocks: the message is queued and the client's loop woken; past the
    /// high-water mark the server's [`Backpressure`] policy applies. On the
    /// threaded server the message is written before this returns.
    pub fn send(&self, message: impl Into<Message>) -> Result<MessageId, SendError> {
        self.shared.link.send(message.into(), None)
    }

    /// [`Client::send`] with a backpressure policy for this message only.
    pub fn send_with(
        &self,
        message: impl Into<Message>,
        policy: Backpressure,
    ) -> Result<MessageId, SendError> {
        self.shared.link.send(message.into(), Some(policy))
    }

    /// Queue a [`PreparedMessage`]: the bytes are shared with every other
    /// client that frames it the same way (what [`Hub::publish`] uses).
    /// Never blocks, on either server; past the high-water mark the
    /// backpressure policy applies.
    pub fn send_prepared(&self, prepared: &Arc<PreparedMessage>) -> Result<MessageId, SendError> {
        self.shared.link.send_prepared(prepared, None)
    }

    /// Start the close handshake with `code` (a [`CloseCode`] or a `u16`
    /// from 1000-1003, 1007-1014 or 3000-4999; anything else closes with
    /// 1011). Messages accepted before are sent first.
    pub fn close(&self, code: impl Into<CloseCode>, reason: &str) {
        self.shared.link.close(code.into(), reason);
    }

    /// Bytes accepted by `send` and not yet written to the socket.
    pub fn buffered_amount(&self) -> usize {
        self.shared.link.buffered_amount()
    }

    /// Whether two handles refer to the same client.
    pub fn same_client(&self, other: &Client<D>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}
