//! [`Queued`]: a message waiting in a client's send queue, on the servers
//! that queue sends (event loop, tokio).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::connection::{Message, PreparedMessage};

/// A message waiting for its connection's loop or task.
pub(crate) enum Queued {
    /// Framed by this connection.
    Message(Message),
    /// Framed once for many connections (hub deliveries).
    Prepared(Arc<PreparedMessage>),
}

impl Queued {
    /// The payload length, which the high-water mark counts.
    pub(crate) fn len(&self) -> usize {
        match self {
            Queued::Message(m) => m.len(),
            Queued::Prepared(p) => p.message().len(),
        }
    }
}

/// Change a buffered-bytes counter by `added - removed` in one atomic step,
/// so a sender on another thread never reads a count caught halfway.
pub(crate) fn adjust(counter: &AtomicUsize, added: usize, removed: usize) {
    if added >= removed {
        counter.fetch_add(added - removed, Ordering::AcqRel);
    } else {
        counter.fetch_sub(removed - added, Ordering::AcqRel);
    }
}
