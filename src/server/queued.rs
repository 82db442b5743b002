//! [`Queued`]: a message waiting in a client's send queue, on the servers
//! that queue sends (event loop, tokio).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::output::Output;
use super::MessageId;
use crate::connection::{Engine, Message, PreparedMessage};

/// Encode queued messages only while less than this waits to be written,
/// so control frames never wait behind a long queue.
pub(crate) const OUT_LOW: usize = 64 * 1024;

/// A connection's send queue, shared with the threads that send.
pub(crate) type SendQueue = Mutex<VecDeque<(Queued, MessageId)>>;

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

/// Move queued messages through the engine into `output` while it is
/// shorter than [`OUT_LOW`] (or all of them, when `all`), in order behind
/// whatever the engine queued before (pongs). `moved(added, removed)`
/// is told, per message, the bytes it added to the output and the
/// payload bytes it took from the queue, in one call, for the
/// connection's buffered count.
pub(crate) fn encode_queued(
    output: &mut Output,
    engine: &mut Engine,
    queue: &SendQueue,
    all: bool,
    mut moved: impl FnMut(usize, usize),
) {
    loop {
        if !all && output.len >= OUT_LOW {
            return;
        }
        let Some((queued, id)) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else {
            return;
        };
        let before = output.len;
        let len = queued.len();
        let sent = match queued {
            Queued::Message(message) => {
                // A long payload becomes a chunk of its own, not a copy.
                let sent = engine.send_owned(message);
                output.take_from(engine);
                sent.map(|payload| {
                    if let Some(payload) = payload {
                        output.push(payload);
                    }
                })
            }
            Queued::Prepared(prepared) => {
                output.take_from(engine);
                engine
                    .send_prepared(&prepared)
                    .map(|bytes| output.push_shared(bytes))
            }
        };
        moved(output.len - before, len);
        if sent.is_ok() {
            output.mark(id);
        }
        // Else the connection is closing: nothing more can be sent.
    }
}
