//! [`Client`]: the application's handle on one connected client.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use super::Backpressure;
use crate::connection::Message;
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
    fn close(&self, code: CloseCode, reason: &str);
    fn buffered_amount(&self) -> usize;
}

pub(crate) struct ClientShared<D> {
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    pub(crate) request: Request,
    pub(crate) subprotocol: Option<String>,
    pub(crate) data: Mutex<D>,
    pub(crate) link: Box<dyn Link>,
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
            .field("id", &self.shared.id)
            .field("peer", &self.shared.peer)
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

impl<D> fmt::Display for Client<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {} ({})", self.shared.id, self.shared.peer)
    }
}

impl<D> Client<D> {
    pub(crate) fn new(
        id: u64,
        peer: SocketAddr,
        request: Request,
        subprotocol: Option<String>,
        data: D,
        link: Box<dyn Link>,
    ) -> Client<D> {
        Client {
            shared: Arc::new(ClientShared {
                id,
                peer,
                request,
                subprotocol,
                data: Mutex::new(data),
                link,
            }),
        }
    }

    /// A number unique among this server's clients.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.shared.peer
    }

    /// The upgrade request (path, query, headers, cookies, credentials).
    pub fn request(&self) -> &Request {
        &self.shared.request
    }

    /// The request path.
    pub fn path(&self) -> &str {
        self.shared.request.path()
    }

    /// The negotiated subprotocol, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.shared.subprotocol.as_deref()
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
