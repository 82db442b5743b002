//! The send path: commands, fragmentation, encoding extensions, framing.

use super::*;

/// Messages shorter than this are copied by
/// [`send_owned`](Engine::send_owned): one more buffer to write costs more
/// than the copy.
const OWNED_MIN: usize = 4096;

impl Engine {
    pub(super) fn check_open(&self) -> Result<(), UsageError> {
        if self.close_sent || self.closed || self.failure.is_some() {
            Err(UsageError::Closed)
        } else {
            Ok(())
        }
    }

    /// Send a whole message, split into frames of
    /// [`Config::fragment_size`] if it is longer.
    pub fn send(&mut self, message: &Message) -> Result<(), UsageError> {
        self.send_data(message.kind(), message.as_bytes())
    }

    /// Send a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), UsageError> {
        self.send_data(MessageKind::Text, text.as_bytes())
    }

    /// Send a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), UsageError> {
        self.send_data(MessageKind::Binary, data)
    }

    /// Send a message that skips the extensions' transforms (e.g. data
    /// that is already compressed).
    pub fn send_untransformed(&mut self, message: &Message) -> Result<(), UsageError> {
        self.check_open()?;
        if self.sending.is_some() {
            return Err(UsageError::MessageInProgress);
        }
        self.send_frames(message.kind(), message.as_bytes(), false)
    }

    /// Send a whole message given by value, without copying its payload
    /// where it can go on the wire as one frame that no extension
    /// transforms (a client masks it in place): the frame header is queued
    /// for [`poll_transmit`](Engine::poll_transmit) and the payload is
    /// handed back, to be written right after what `poll_transmit` gives
    /// now. Otherwise (a short message, fragmentation, an extension such
    /// as permessage-deflate) the message is queued like
    /// [`send`](Engine::send) and `None` is returned.
    ///
    /// ```
    /// use wsstack::connection::{Config, Engine};
    /// use wsstack::Message;
    ///
    /// let mut engine = Engine::server(Config::default())?;
    /// let payload = engine.send_owned(Message::Binary(vec![7; 100_000]))?;
    /// let mut wire = Vec::new();
    /// engine.poll_transmit(&mut wire);
    /// assert_eq!(wire.len(), 10); // the header only
    /// assert_eq!(payload.map(|p| p.len()), Some(100_000));
    /// # Ok::<(), wsstack::Error>(())
    /// ```
    pub fn send_owned(&mut self, message: Message) -> Result<Option<Vec<u8>>, UsageError> {
        self.check_open()?;
        if self.sending.is_some() {
            return Err(UsageError::MessageInProgress);
        }
        let len = message.len();
        let one_frame = self.config.fragment_size.is_none_or(|size| len <= size);
        if len < OWNED_MIN || !one_frame || !self.extensions.is_empty() {
            self.send_frames(message.kind(), message.as_bytes(), true)?;
            return Ok(None);
        }
        let opcode = message.kind().opcode();
        let mut payload = message.into_bytes();
        let mask = match self.role {
            Role::Client => Some(self.mask.next_key()),
            Role::Server => None,
        };
        let header = FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len: len as u64,
        };
        header.write_to(&mut self.out);
        if let Some(key) = mask {
            apply_mask(&mut payload, key, 0);
        }
        Ok(Some(payload))
    }

    pub(super) fn send_data(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), UsageError> {
        self.check_open()?;
        if self.sending.is_some() {
            return Err(UsageError::MessageInProgress);
        }
        self.send_frames(kind, data, true)
    }

    pub(super) fn send_frames(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        transform: bool,
    ) -> Result<(), UsageError> {
        let mut frame = Outgoing {
            kind,
            first: true,
            fin: true,
            message_len: Some(data.len()),
            transform,
        };
        match self.config.fragment_size {
            Some(size) if data.len() > size => {
                let mut chunks = data.chunks(size).peekable();
                while let Some(chunk) = chunks.next() {
                    frame.fin = chunks.peek().is_none();
                    self.queue_data(frame, chunk)?;
                    frame.first = false;
                }
                Ok(())
            }
            _ => self.queue_data(frame, data),
        }
    }

    /// Send one fragment of a message explicitly: the first call starts a
    /// message of `kind`, later calls continue it (their `kind` is
    /// ignored) and the call with `fin` ends it. Control frames and other
    /// commands may come between fragments; whole messages may not.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        fin: bool,
    ) -> Result<(), UsageError> {
        self.check_open()?;
        let frame = Outgoing {
            kind: self.sending.unwrap_or(kind),
            first: self.sending.is_none(),
            fin,
            message_len: None,
            transform: true,
        };
        self.sending = if fin { None } else { Some(frame.kind) };
        self.queue_data(frame, data)
    }

    /// Queue one data frame, through the extensions in negotiation order.
    pub(super) fn queue_data(&mut self, frame: Outgoing, data: &[u8]) -> Result<(), UsageError> {
        let opcode = if frame.first {
            frame.kind.opcode()
        } else {
            OpCode::Continuation
        };
        if self.extensions.is_empty() {
            self.queue_frame_rsv(opcode, frame.fin, 0, data);
            return Ok(());
        }
        let mut rsv = 0u8;
        let mut cur = std::mem::take(&mut self.scratch[0]);
        cur.clear();
        let mut transformed = false;
        for i in 0..self.extensions.len() {
            let mut out = std::mem::take(&mut self.scratch[1]);
            out.clear();
            let input: &[u8] = if transformed { &cur } else { data };
            match self.extensions[i].encode(input, frame, &mut out) {
                Ok(Some(bits)) => {
                    rsv |= bits;
                    transformed = true;
                    std::mem::swap(&mut cur, &mut out);
                }
                Ok(None) => {}
                Err(e) => {
                    self.scratch[1] = out;
                    self.fail(ProtocolError::Extension(e.clone()));
                    return Err(UsageError::ExtensionFailed(e));
                }
            }
            self.scratch[1] = out;
        }
        self.queue_frame_rsv(
            opcode,
            frame.fin,
            rsv,
            if transformed { &cur } else { data },
        );
        self.recycle(cur);
        Ok(())
    }

    /// Send a ping (payload at most 125 bytes).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), UsageError> {
        self.check_open()?;
        if payload.len() > 125 {
            return Err(UsageError::ControlPayloadTooLong);
        }
        self.queue_frame(OpCode::Ping, true, payload);
        Ok(())
    }

    /// Send an unsolicited pong (payload at most 125 bytes).
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), UsageError> {
        self.check_open()?;
        if payload.len() > 125 {
            return Err(UsageError::ControlPayloadTooLong);
        }
        self.queue_frame(OpCode::Pong, true, payload);
        Ok(())
    }

    /// Start the close handshake with `code` (a [`CloseCode`] or a plain
    /// `u16`) and `reason` (§7.1.2). Nothing is sent after our Close.
    /// Calling it again, or after the peer's Close, does nothing.
    pub fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), UsageError> {
        let code = code.into();
        if !code.is_sendable() {
            return Err(UsageError::InvalidCloseCode(code.as_u16()));
        }
        if reason.len() > 123 {
            return Err(UsageError::ReasonTooLong);
        }
        if self.close_sent || self.closed || self.failure.is_some() {
            return Ok(());
        }
        let mut body = code.as_u16().to_be_bytes().to_vec();
        body.extend_from_slice(reason.as_bytes());
        self.queue_frame(OpCode::Close, true, &body);
        self.close_sent = true;
        self.close_deadline = self.now.map(|now| now + self.config.close_timeout);
        Ok(())
    }

    pub(super) fn queue_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        self.queue_frame_rsv(opcode, fin, 0, payload);
    }

    pub(super) fn queue_frame_rsv(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8]) {
        let mask = match self.role {
            Role::Client => Some(self.mask.next_key()),
            Role::Server => None,
        };
        let header = FrameHeader {
            fin,
            rsv1: rsv & 0b100 != 0,
            rsv2: rsv & 0b010 != 0,
            rsv3: rsv & 0b001 != 0,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        self.out.reserve(header.len() + payload.len());
        header.write_to(&mut self.out);
        let start = self.out.len();
        self.out.extend_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut self.out[start..], key, 0);
        }
    }
}
