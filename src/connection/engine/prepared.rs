//! Sending a [`PreparedMessage`]: one encoding shared by every connection
//! that frames it the same way.

use std::sync::Arc;

use super::*;
use crate::connection::PreparedMessage;

impl Engine {
    /// Send a [`PreparedMessage`], sharing its encoding with every other
    /// connection that frames it the same way. Returns the bytes to write.
    ///
    /// They do not pass through [`poll_transmit`](Engine::poll_transmit):
    /// drain `poll_transmit` *before* this call and write its bytes first,
    /// then these, so that the wire order is the call order.
    pub fn send_prepared(&mut self, prepared: &PreparedMessage) -> Result<Arc<[u8]>, UsageError> {
        self.check_open()?;
        if self.sending.is_some() {
            return Err(UsageError::MessageInProgress);
        }
        let Some(key) = self.shared_framing_key() else {
            return self.encode_alone(prepared.message()).map(Arc::from);
        };
        prepared.encoding(key, || self.encode_alone(prepared.message()))
    }

    /// The message framed by this connection into a buffer of its own.
    fn encode_alone(&mut self, message: &Message) -> Result<Vec<u8>, UsageError> {
        let pending = std::mem::take(&mut self.out);
        let sent = self.send(message);
        let bytes = std::mem::replace(&mut self.out, pending);
        sent.map(|()| bytes)
    }

    /// What decides this connection's framing of a whole message, if the
    /// framing depends on nothing but the message.
    fn shared_framing_key(&self) -> Option<Vec<u64>> {
        if self.role != Role::Server {
            return None; // every masked frame is unique
        }
        let mut key = vec![self.config.fragment_size.map_or(0, |s| s as u64 + 1)];
        for ext in &self.extensions {
            key.push(ext.shared_key()?);
        }
        Some(key)
    }
}
