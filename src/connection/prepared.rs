//! [`PreparedMessage`]: one message framed (and compressed) once for many
//! connections.

use std::fmt;
use std::sync::{Arc, Mutex};

use super::{Message, UsageError};

/// A message to send to many connections, framed once per distinct
/// framing and shared.
///
/// Server connections that frame a message the same way (no masking, the
/// same fragment size, and extensions that keep no state between messages,
/// such as permessage-deflate without server context takeover) get the
/// very same bytes: the first connection to send it encodes (and
/// compresses) it, every other one reuses the result. A connection whose
/// framing depends on its own history (a compressor that keeps context, a
/// client that masks) encodes its own copy, so the message still goes
/// everywhere.
///
/// ```
/// use wsstack::connection::{Config, Engine, PreparedMessage};
///
/// let prepared = PreparedMessage::new("to everyone");
/// let mut a = Engine::server(Config::default())?;
/// let mut b = Engine::server(Config::default())?;
/// let wire_a = a.send_prepared(&prepared)?;
/// let wire_b = b.send_prepared(&prepared)?;
/// assert!(std::sync::Arc::ptr_eq(&wire_a, &wire_b)); // framed once
/// assert_eq!(prepared.encodings(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PreparedMessage {
    message: Message,
    encodings: Mutex<Vec<Encoding>>,
}

/// One framing of a prepared message: what decides the bytes, and the
/// bytes.
type Encoding = (Vec<u64>, Arc<[u8]>);

impl PreparedMessage {
    /// Prepare `message` for sending to many connections.
    pub fn new(message: impl Into<Message>) -> Arc<PreparedMessage> {
        Arc::new(PreparedMessage {
            message: message.into(),
            encodings: Mutex::new(Vec::new()),
        })
    }

    /// The message.
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// How many distinct encodings have been made so far.
    pub fn encodings(&self) -> usize {
        self.encodings.lock().map_or(0, |e| e.len())
    }

    /// The shared encoding for `key`, made with `encode` if there is none
    /// yet.
    pub(crate) fn encoding(
        &self,
        key: Vec<u64>,
        encode: impl FnOnce() -> Result<Vec<u8>, UsageError>,
    ) -> Result<Arc<[u8]>, UsageError> {
        // Encoding under the lock makes concurrent senders wait for one
        // encoding instead of each compressing the message.
        let mut encodings = self.encodings.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, bytes)) = encodings.iter().find(|(k, _)| *k == key) {
            return Ok(bytes.clone());
        }
        let bytes: Arc<[u8]> = encode()?.into();
        encodings.push((key, bytes.clone()));
        Ok(bytes)
    }
}

impl fmt::Debug for PreparedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedMessage")
            .field("message", &self.message)
            .field("encodings", &self.encodings())
            .finish()
    }
}
