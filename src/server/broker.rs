//! The seam between a [`Hub`](super::Hub) and other nodes: a [`Broker`]
//! carries publications across processes.

use std::fmt;
use std::sync::Arc;

use super::Delivery;
use crate::connection::Message;

/// Carries a hub's publications to other nodes and theirs back.
///
/// The hub delivers to its own clients itself; a broker only tells the
/// other nodes (for example through Redis pub/sub), and hands what they
/// publish to the [`Remote`] it was attached with. It must not hand a
/// node's own publication back to it, or that node's clients would get it
/// twice.
///
/// Methods are called from whatever thread publishes, subscribes or
/// leaves, so they should not block for long: queue the work for a
/// thread of the broker's own.
pub trait Broker: Send + Sync + 'static {
    /// Called once, when the hub starts using this broker: deliver what
    /// other nodes publish through `remote`.
    fn attach(&self, _remote: Remote) {}

    /// This node published `message` on `room` (`None`: to everyone).
    fn publish(&self, room: Option<&str>, message: &Message);

    /// This node now has a member in `room` (its first).
    fn room_opened(&self, _room: &str) {}

    /// This node no longer has any member in `room`.
    fn room_closed(&self, _room: &str) {}
}

/// The default broker: a single process, nothing to carry.
#[derive(Clone, Copy, Debug, Default)]
pub struct InProcessBroker;

impl Broker for InProcessBroker {
    fn publish(&self, _room: Option<&str>, _message: &Message) {}
}

type Deliver = dyn Fn(Option<&str>, Message) -> Delivery + Send + Sync;

/// A broker's way back into its hub: delivers a message another node
/// published to this node's members of a room (or to everyone).
#[derive(Clone)]
pub struct Remote {
    deliver: Arc<Deliver>,
}

impl Remote {
    pub(crate) fn new(
        deliver: impl Fn(Option<&str>, Message) -> Delivery + Send + Sync + 'static,
    ) -> Remote {
        Remote {
            deliver: Arc::new(deliver),
        }
    }

    /// Deliver `message`, published on `room` (`None`: to everyone) by
    /// another node, to this node's clients; returns what became of it
    /// here (for a broker's own counters). A `Remote` does not keep its
    /// hub alive: once the hub is gone, this delivers to nobody.
    pub fn deliver(&self, room: Option<&str>, message: Message) -> Delivery {
        (self.deliver)(room, message)
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Remote")
    }
}
