//! The receive path: frame headers, payload (through decoding
//! extensions), message assembly, UTF-8 and control frames.

use super::*;

impl Engine {
    pub(super) fn start_frame(&mut self, header: FrameHeader) -> Result<(), ProtocolError> {
        let rsv =
            (u8::from(header.rsv1) << 2) | (u8::from(header.rsv2) << 1) | u8::from(header.rsv3);
        if rsv & !self.rsv_allowed != 0 || (rsv != 0 && header.opcode.is_control()) {
            // Extensions never apply to control frames.
            return Err(ProtocolError::ReservedBits(rsv));
        }
        let available = (self.inbuf.len() - self.in_pos) as u64;
        let max = self.config.limits.max_message_size;
        let mut transformed = 0u8;
        match header.opcode {
            OpCode::Reserved(op) => return Err(ProtocolError::ReservedOpcode(op)),
            OpCode::Continuation => {
                let Some(msg) = &self.message else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                let len = msg.len;
                transformed = self.decode_start(&header, false)?;
                if transformed == 0 {
                    check_size(len, header.payload_len, max)?;
                    if let Some(msg) = &mut self.message {
                        if !msg.streaming {
                            // Reserve what has arrived, never what the
                            // header claims: a peer must send the bytes it
                            // makes us hold.
                            msg.buf.reserve(header.payload_len.min(available) as usize);
                        }
                    }
                }
            }
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(ProtocolError::ExpectedContinuation);
                }
                transformed = self.decode_start(&header, true)?;
                if transformed == 0 {
                    check_size(0, header.payload_len, max)?;
                }
                let kind = if header.opcode == OpCode::Text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                let streaming = self.streaming;
                let buf = if streaming || transformed != 0 {
                    Vec::new()
                } else {
                    // What has arrived, not what the header claims; the
                    // rest grows by doubling as the payload comes in.
                    Vec::with_capacity(header.payload_len.min(available) as usize)
                };
                self.message = Some(InMessage {
                    kind,
                    buf,
                    len: 0,
                    utf8: Utf8Validator::default(),
                    incremental: false,
                    streaming,
                    first_chunk: true,
                });
            }
            _ => self.control.clear(),
        }
        self.frame = Some(InFrame {
            header,
            received: 0,
            transformed,
            whole: available >= header.payload_len,
        });
        Ok(())
    }

    /// Ask each extension, innermost (last negotiated) first, whether it
    /// decodes this data frame.
    pub(super) fn decode_start(
        &mut self,
        header: &FrameHeader,
        first: bool,
    ) -> Result<u8, ProtocolError> {
        let mut mask = 0u8;
        for (i, ext) in self.extensions.iter_mut().enumerate().rev() {
            if ext.decode_start(header, first)? {
                mask |= 1 << i;
            }
        }
        Ok(mask)
    }

    /// Payload bytes of the current frame (still masked).
    pub(super) fn frame_data(&mut self, chunk: &mut [u8]) -> Result<(), ProtocolError> {
        let Some(frame) = &mut self.frame else {
            return Ok(());
        };
        if let Some(key) = frame.header.mask {
            apply_mask(chunk, key, (frame.received % 4) as usize);
        }
        frame.received += chunk.len() as u64;
        let done = frame.received == frame.header.payload_len;
        let header = frame.header;
        let (whole, transformed) = (frame.whole, frame.transformed);
        if done {
            self.frame = None;
        }
        if header.opcode.is_control() {
            self.control.extend_from_slice(chunk);
            if done {
                let payload = std::mem::take(&mut self.control);
                self.handle_control(header.opcode, payload)?;
            }
            return Ok(());
        }
        if transformed == 0 {
            return self.deliver(chunk, done && header.fin, whole && done);
        }
        let direct =
            self.message.as_ref().is_some_and(|m| !m.streaming) && transformed.count_ones() == 1;
        if direct {
            let index = transformed.trailing_zeros() as usize;
            return self.decode_into_message(chunk, index, done, header.fin);
        }
        let decoded = self.decode_chunk(chunk, transformed, done, header.fin)?;
        let result = self.deliver(&decoded, done && header.fin, false);
        self.recycle(decoded);
        result
    }

    /// The common case of one decoding extension and a buffered message:
    /// inflate straight into the message buffer, with no scratch copy (and
    /// so no second copy of a large message in memory).
    pub(super) fn decode_into_message(
        &mut self,
        chunk: &[u8],
        index: usize,
        done: bool,
        fin: bool,
    ) -> Result<(), ProtocolError> {
        let max = self.config.limits.max_message_size;
        let Some(msg) = &mut self.message else {
            return Ok(());
        };
        let limit = max - msg.len;
        let old = msg.buf.len();
        let ext = &mut self.extensions[index];
        let mut step = ext.decode(chunk, &mut msg.buf, limit);
        if step.is_ok() && done {
            step = ext.decode_end(fin, &mut msg.buf, limit);
        }
        step.map_err(|e| transform_error(e, max))?;
        msg.len = msg.buf.len();
        if msg.kind == MessageKind::Text {
            msg.incremental = true;
            if !msg.utf8.feed(&msg.buf[old..]) {
                return Err(ProtocolError::InvalidUtf8);
            }
        }
        if done && fin {
            self.finish_message()?;
        }
        Ok(())
    }

    /// Run a chunk through the extensions that decode this frame, in
    /// reverse negotiation order.
    pub(super) fn decode_chunk(
        &mut self,
        chunk: &[u8],
        transformed: u8,
        done: bool,
        fin: bool,
    ) -> Result<Vec<u8>, ProtocolError> {
        let max = self.config.limits.max_message_size;
        let limit = max - self.message.as_ref().map_or(0, |m| m.len);
        let mut input = std::mem::take(&mut self.scratch[0]);
        input.clear();
        input.extend_from_slice(chunk);
        for i in (0..self.extensions.len()).rev() {
            if transformed & (1 << i) == 0 {
                continue;
            }
            let mut out = std::mem::take(&mut self.scratch[1]);
            out.clear();
            let ext = &mut self.extensions[i];
            let mut step = ext.decode(&input, &mut out, limit);
            if step.is_ok() && done {
                step = ext.decode_end(fin, &mut out, limit);
            }
            step.map_err(|e| transform_error(e, max))?;
            self.scratch[1] = std::mem::replace(&mut input, out);
        }
        Ok(input)
    }

    pub(super) fn recycle(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() <= SCRATCH_KEEP {
            buf.clear();
            self.scratch[0] = buf;
        }
        if self.scratch[1].capacity() > SCRATCH_KEEP {
            self.scratch[1] = Vec::new();
        }
    }

    /// Message data after any extension decoding.
    pub(super) fn deliver(
        &mut self,
        data: &[u8],
        fin_message: bool,
        whole_frame: bool,
    ) -> Result<(), ProtocolError> {
        let max = self.config.limits.max_message_size;
        let Some(msg) = &mut self.message else {
            return Ok(());
        };
        if msg.len + data.len() > max {
            return Err(ProtocolError::MessageTooLarge { max });
        }
        msg.len += data.len();
        if msg.kind == MessageKind::Text {
            // A message that is one final frame which arrived whole is
            // checked once at the end; anything else piece by piece.
            let single_pass = !msg.streaming
                && whole_frame
                && fin_message
                && !msg.incremental
                && msg.len == data.len();
            if !single_pass {
                msg.incremental = true;
                if !msg.utf8.feed(data) {
                    return Err(ProtocolError::InvalidUtf8);
                }
            }
        }
        if msg.streaming {
            if !data.is_empty() || fin_message {
                self.events.push_back(Event::Chunk {
                    kind: msg.kind,
                    data: data.to_vec(),
                    first: msg.first_chunk,
                    last: fin_message,
                });
                msg.first_chunk = false;
            }
        } else {
            msg.buf.extend_from_slice(data);
        }
        if fin_message {
            self.finish_message()?;
        }
        Ok(())
    }

    pub(super) fn finish_message(&mut self) -> Result<(), ProtocolError> {
        let Some(msg) = self.message.take() else {
            return Ok(());
        };
        if msg.kind == MessageKind::Text && msg.incremental && !msg.utf8.is_complete() {
            return Err(ProtocolError::InvalidUtf8);
        }
        if !msg.streaming {
            let event = match msg.kind {
                MessageKind::Text => {
                    let text = super::super::text::into_string(msg.buf)
                        .ok_or(ProtocolError::InvalidUtf8)?;
                    Event::Message(Message::Text(text))
                }
                MessageKind::Binary => Event::Message(Message::Binary(msg.buf)),
            };
            self.events.push_back(event);
        }
        Ok(())
    }

    pub(super) fn handle_control(
        &mut self,
        opcode: OpCode,
        payload: Vec<u8>,
    ) -> Result<(), ProtocolError> {
        match opcode {
            OpCode::Ping => {
                if !self.close_sent {
                    self.queue_frame(OpCode::Pong, true, &payload);
                }
                self.events.push_back(Event::Ping(payload));
            }
            OpCode::Pong => {
                if self.pong_wait.is_some_and(|(_, p)| p[..] == payload[..]) {
                    self.pong_wait = None;
                }
                self.events.push_back(Event::Pong(payload));
            }
            OpCode::Close => {
                let (code, reason) = match payload.len() {
                    0 => (CloseCode::NO_STATUS, String::new()),
                    1 => return Err(ProtocolError::InvalidClosePayload),
                    _ => {
                        let code = u16::from_be_bytes([payload[0], payload[1]]);
                        if !is_valid_close_code(code) {
                            return Err(ProtocolError::InvalidCloseCode(code));
                        }
                        let reason = std::str::from_utf8(&payload[2..])
                            .map_err(|_| ProtocolError::InvalidUtf8)?;
                        (CloseCode::new(code), reason.to_owned())
                    }
                };
                if !self.close_sent {
                    // §5.5.1: echo the status code received.
                    self.close_sent = true;
                    let body = if code == CloseCode::NO_STATUS {
                        Vec::new()
                    } else {
                        code.as_u16().to_be_bytes().to_vec()
                    };
                    self.queue_frame(OpCode::Close, true, &body);
                }
                self.finish(code, reason);
            }
            _ => {}
        }
        Ok(())
    }
}

fn check_size(current: usize, more: u64, max: usize) -> Result<(), ProtocolError> {
    if current as u64 + more > max as u64 {
        Err(ProtocolError::MessageTooLarge { max })
    } else {
        Ok(())
    }
}

/// An extension's error as the connection's: a size overrun reports the
/// message limit, anything else is wrapped.
fn transform_error(e: TransformError, max: usize) -> ProtocolError {
    match e {
        TransformError::TooLarge { .. } => ProtocolError::MessageTooLarge { max },
        other => ProtocolError::Extension(other),
    }
}
