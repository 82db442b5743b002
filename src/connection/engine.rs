//! The sans-I/O protocol engine (RFC 6455 §5.4-5.5, §7).

use std::collections::VecDeque;
use std::time::Instant;

use super::close::{is_valid_close_code, ABNORMAL, NO_STATUS};
use super::utf8::Utf8Validator;
use super::{Config, Message, MessageKind, ProtocolError, UsageError};
use crate::config::ConfigError;
use crate::extensions::{Extension, Outgoing};
use crate::frame::{apply_mask, FrameDecoder, FrameHeader, MaskSource, OpCode, RandomMask, Role};

/// Scratch buffers bigger than this are released after use, so one large
/// message does not pin memory for the life of the connection.
const SCRATCH_KEEP: usize = 64 * 1024;

/// What the engine reports to the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole text message (valid UTF-8).
    Text(String),
    /// A whole binary message.
    Binary(Vec<u8>),
    /// Part of a message, in streaming mode ([`Config::streaming`]). Text
    /// chunks are valid UTF-8 so far but may end inside a character.
    Chunk {
        /// Text or binary.
        kind: MessageKind,
        /// The bytes that arrived.
        data: Vec<u8>,
        /// The first chunk of its message.
        first: bool,
        /// The last chunk of its message.
        last: bool,
    },
    /// A ping arrived (already answered with a pong).
    Ping(Vec<u8>),
    /// A pong arrived.
    Pong(Vec<u8>),
    /// The connection is closed: the close handshake completed (the peer's
    /// code and reason; 1005 if its Close had no body), or the transport
    /// ended or the close handshake timed out (1006). Reported once; the
    /// driver should flush [`Engine::poll_transmit`] and close the
    /// transport.
    Closed {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
}

struct InFrame {
    header: FrameHeader,
    received: u64,
    /// Bit i set: extension i decodes this frame.
    transformed: u8,
    /// Whether the whole payload arrived in one piece (enables the
    /// single-pass UTF-8 check).
    whole: bool,
}

struct InMessage {
    kind: MessageKind,
    buf: Vec<u8>,
    len: usize,
    utf8: Utf8Validator,
    /// Some frame was checked piecewise, so `utf8` holds the state.
    incremental: bool,
    streaming: bool,
    first_chunk: bool,
}

/// The WebSocket protocol engine: bytes in, events and bytes out, no I/O.
///
/// # Call order
///
/// 1. Feed input: [`receive`](Engine::receive) with bytes read from the
///    transport, [`receive_eof`](Engine::receive_eof) when it ends.
/// 2. Drain [`poll_event`](Engine::poll_event) until it returns
///    `Ok(None)`. Frames are parsed lazily here, so a streaming switch
///    ([`set_streaming`](Engine::set_streaming)) applies from the next
///    message. Pings are answered and Close frames replied to as they are
///    parsed. An `Err` means the connection failed: the error is sticky.
/// 3. Issue commands at any time: [`send`](Engine::send),
///    [`send_text`](Engine::send_text), [`send_binary`](Engine::send_binary),
///    [`send_fragment`](Engine::send_fragment), [`ping`](Engine::ping),
///    [`pong`](Engine::pong), [`close`](Engine::close).
/// 4. After each of the above, drain [`poll_transmit`](Engine::poll_transmit)
///    and write the bytes to the transport. When
///    [`wants_close_transport`](Engine::wants_close_transport) is true and
///    the bytes are written, close the transport.
/// 5. With timers configured, call [`handle_timeout`](Engine::handle_timeout)
///    with the current time after each `receive` and whenever the instant
///    from [`poll_timeout`](Engine::poll_timeout) passes.
///
/// ```
/// use wsstack::connection::{Config, Engine, Event};
/// use wsstack::frame::Frame;
///
/// let mut server = Engine::server(Config::default())?;
/// let mut wire = Vec::new();
/// Frame::text("Hello").with_mask(Some([1, 2, 3, 4])).encode(&mut wire);
/// server.receive(&wire);
/// assert_eq!(server.poll_event(), Ok(Some(Event::Text("Hello".into()))));
/// server.send_text("Hi")?;
/// let mut out = Vec::new();
/// server.poll_transmit(&mut out);
/// assert_eq!(out, [0x81, 0x02, b'H', b'i']);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Engine {
    role: Role,
    config: Config,
    decoder: FrameDecoder,
    mask: Box<dyn MaskSource>,
    rsv_allowed: u8,
    extensions: Vec<Box<dyn Extension>>,
    scratch: [Vec<u8>; 2],

    inbuf: Vec<u8>,
    in_pos: usize,
    frame: Option<InFrame>,
    control: Vec<u8>,
    message: Option<InMessage>,
    streaming: bool,
    eof: bool,

    out: Vec<u8>,
    sending: Option<MessageKind>,

    close_sent: bool,
    closed: bool,
    failure: Option<ProtocolError>,
    events: VecDeque<Event>,

    now: Option<Instant>,
    rx_activity: bool,
    last_rx: Option<Instant>,
    next_ping: Option<Instant>,
    pong_wait: Option<(Instant, [u8; 8])>,
    close_deadline: Option<Instant>,
    pings_sent: u64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("role", &self.role)
            .field("close_sent", &self.close_sent)
            .field("closed", &self.closed)
            .field("failure", &self.failure)
            .field("buffered_in", &(self.inbuf.len() - self.in_pos))
            .field("pending_out", &self.out.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine for `role`; fails if the configuration is invalid.
    pub fn new(role: Role, config: Config) -> Result<Engine, ConfigError> {
        config.validate()?;
        Ok(Engine {
            role,
            decoder: FrameDecoder::new(role, config.limits.max_frame_size),
            mask: Box::new(RandomMask),
            rsv_allowed: 0,
            extensions: Vec::new(),
            scratch: [Vec::new(), Vec::new()],
            inbuf: Vec::new(),
            in_pos: 0,
            frame: None,
            control: Vec::new(),
            message: None,
            streaming: config.streaming,
            eof: false,
            out: Vec::new(),
            sending: None,
            close_sent: false,
            closed: false,
            failure: None,
            events: VecDeque::new(),
            now: None,
            rx_activity: false,
            last_rx: None,
            next_ping: None,
            pong_wait: None,
            close_deadline: None,
            pings_sent: 0,
            config,
        })
    }

    /// A server-role engine.
    pub fn server(config: Config) -> Result<Engine, ConfigError> {
        Engine::new(Role::Server, config)
    }

    /// A client-role engine.
    pub fn client(config: Config) -> Result<Engine, ConfigError> {
        Engine::new(Role::Client, config)
    }

    /// Install the negotiated extensions, in negotiation order (outgoing
    /// frames pass through them in this order, incoming ones in reverse).
    /// Fails if two claim the same RSV bit or there are more than eight.
    pub fn with_extensions(
        mut self,
        extensions: Vec<Box<dyn Extension>>,
    ) -> Result<Engine, ConfigError> {
        if extensions.len() > 8 {
            return Err(ConfigError::new("at most 8 extensions"));
        }
        let mut bits = 0u8;
        for ext in &extensions {
            if ext.rsv_bits() & bits != 0 || ext.rsv_bits() & !0b111 != 0 {
                return Err(ConfigError::new(
                    "extensions claim overlapping or invalid RSV bits",
                ));
            }
            bits |= ext.rsv_bits();
        }
        self.rsv_allowed = bits;
        self.extensions = extensions;
        Ok(self)
    }

    /// The names of the installed extensions.
    pub fn extension_names(&self) -> Vec<&str> {
        self.extensions.iter().map(|e| e.name()).collect()
    }

    /// Replace the source of masking keys (tests inject a fixed one).
    pub fn set_mask_source(&mut self, source: Box<dyn MaskSource>) {
        self.mask = source;
    }

    /// Deliver messages as chunks (`true`) or whole (`false`), from the next
    /// message that starts.
    pub fn set_streaming(&mut self, streaming: bool) {
        self.streaming = streaming;
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ---- input ----

    /// Take bytes read from the transport. Ignored once the connection has
    /// failed or closed (§7.1.7: discard what follows).
    pub fn receive(&mut self, data: &[u8]) {
        if self.failure.is_some() || self.closed || data.is_empty() {
            return;
        }
        self.rx_activity = true;
        if self.in_pos == self.inbuf.len() {
            self.inbuf.clear();
            self.in_pos = 0;
        } else if self.in_pos > 0 && self.in_pos >= self.inbuf.len() / 2 {
            self.inbuf.drain(..self.in_pos);
            self.in_pos = 0;
        }
        self.inbuf.extend_from_slice(data);
    }

    /// The transport ended. Unless the close handshake already completed,
    /// [`poll_event`](Engine::poll_event) reports `Closed` with 1006 once
    /// the buffered input is used up.
    pub fn receive_eof(&mut self) {
        self.eof = true;
    }

    /// The next event, parsing buffered input as needed. `Ok(None)` means
    /// more input is needed. After a failure, events that were complete
    /// before it are still returned, then the same error every time.
    pub fn poll_event(&mut self) -> Result<Option<Event>, ProtocolError> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(Some(event));
            }
            if let Some(e) = &self.failure {
                return Err(e.clone());
            }
            if self.closed {
                return Ok(None);
            }
            if !self.process() {
                if self.eof {
                    self.finish(ABNORMAL, String::new());
                    continue;
                }
                if self.in_pos == self.inbuf.len() {
                    // Everything is consumed: an idle connection keeps no
                    // large input buffer.
                    if self.inbuf.capacity() > SCRATCH_KEEP {
                        self.inbuf = Vec::new();
                    } else {
                        self.inbuf.clear();
                    }
                    self.in_pos = 0;
                }
                return Ok(None);
            }
        }
    }

    /// Parse a little of the input; false when nothing could be done.
    fn process(&mut self) -> bool {
        let Some(frame) = &self.frame else {
            let decoded = self.decoder.decode_header(&self.inbuf[self.in_pos..]);
            return match decoded {
                Ok(None) => false,
                Ok(Some((header, len))) => {
                    self.in_pos += len;
                    if let Err(e) = self.start_frame(header) {
                        self.fail(e);
                    }
                    true
                }
                Err(e) => {
                    self.fail(e.into());
                    true
                }
            };
        };
        let remaining = frame.header.payload_len - frame.received;
        let available = self.inbuf.len() - self.in_pos;
        if remaining > 0 && available == 0 {
            return false;
        }
        let take = remaining.min(available as u64) as usize;
        let mut inbuf = std::mem::take(&mut self.inbuf);
        let chunk = &mut inbuf[self.in_pos..self.in_pos + take];
        let result = self.frame_data(chunk);
        self.in_pos += take;
        self.inbuf = inbuf;
        if let Err(e) = result {
            self.fail(e);
        }
        true
    }

    fn start_frame(&mut self, header: FrameHeader) -> Result<(), ProtocolError> {
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
                            msg.buf.reserve(header.payload_len as usize);
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
                    Vec::with_capacity(header.payload_len as usize)
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
    fn decode_start(&mut self, header: &FrameHeader, first: bool) -> Result<u8, ProtocolError> {
        let mut mask = 0u8;
        for (i, ext) in self.extensions.iter_mut().enumerate().rev() {
            if ext.decode_start(header, first)? {
                mask |= 1 << i;
            }
        }
        Ok(mask)
    }

    /// Payload bytes of the current frame (still masked).
    fn frame_data(&mut self, chunk: &mut [u8]) -> Result<(), ProtocolError> {
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
    fn decode_into_message(
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
        step.map_err(|e| match e {
            ProtocolError::MessageTooLarge { .. } => ProtocolError::MessageTooLarge { max },
            other => other,
        })?;
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
    fn decode_chunk(
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
            if let Err(e) = step {
                return Err(match e {
                    ProtocolError::MessageTooLarge { .. } => ProtocolError::MessageTooLarge { max },
                    other => other,
                });
            }
            self.scratch[1] = std::mem::replace(&mut input, out);
        }
        Ok(input)
    }

    fn recycle(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() <= SCRATCH_KEEP {
            buf.clear();
            self.scratch[0] = buf;
        }
        if self.scratch[1].capacity() > SCRATCH_KEEP {
            self.scratch[1] = Vec::new();
        }
    }

    /// Message data after any extension decoding.
    fn deliver(
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

    fn finish_message(&mut self) -> Result<(), ProtocolError> {
        let Some(msg) = self.message.take() else {
            return Ok(());
        };
        if msg.kind == MessageKind::Text && msg.incremental && !msg.utf8.is_complete() {
            return Err(ProtocolError::InvalidUtf8);
        }
        if !msg.streaming {
            let event = match msg.kind {
                MessageKind::Text => {
                    let text =
                        String::from_utf8(msg.buf).map_err(|_| ProtocolError::InvalidUtf8)?;
                    Event::Text(text)
                }
                MessageKind::Binary => Event::Binary(msg.buf),
            };
            self.events.push_back(event);
        }
        Ok(())
    }

    fn handle_control(&mut self, opcode: OpCode, payload: Vec<u8>) -> Result<(), ProtocolError> {
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
                    0 => (NO_STATUS, String::new()),
                    1 => return Err(ProtocolError::InvalidClosePayload),
                    _ => {
                        let code = u16::from_be_bytes([payload[0], payload[1]]);
                        if !is_valid_close_code(code) {
                            return Err(ProtocolError::InvalidCloseCode(code));
                        }
                        let reason = std::str::from_utf8(&payload[2..])
                            .map_err(|_| ProtocolError::InvalidUtf8)?;
                        (code, reason.to_owned())
                    }
                };
                if !self.close_sent {
                    // §5.5.1: echo the status code received.
                    self.close_sent = true;
                    let body = if code == NO_STATUS {
                        Vec::new()
                    } else {
                        code.to_be_bytes().to_vec()
                    };
                    self.queue_frame(OpCode::Close, true, &body);
                }
                self.finish(code, reason);
            }
            _ => {}
        }
        Ok(())
    }

    /// The connection is over: report it once, drop buffered input.
    fn finish(&mut self, code: u16, reason: String) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.frame = None;
        self.message = None;
        self.inbuf = Vec::new();
        self.in_pos = 0;
        self.events.push_back(Event::Closed { code, reason });
    }

    /// Fail the connection (§7.1.7): one Close with the error's code, then
    /// discard everything.
    fn fail(&mut self, error: ProtocolError) {
        if self.failure.is_some() {
            return;
        }
        log::debug!("failing the WebSocket connection: {error}");
        if !self.close_sent && !self.closed {
            self.close_sent = true;
            let mut body = error.close_code().to_be_bytes().to_vec();
            if error.close_code() != 1011 {
                let reason = error.to_string();
                let mut end = reason.len().min(123);
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                body.extend_from_slice(&reason.as_bytes()[..end]);
            }
            self.queue_frame(OpCode::Close, true, &body);
        }
        self.failure = Some(error);
        self.frame = None;
        self.message = None;
        self.inbuf = Vec::new();
        self.in_pos = 0;
    }

    // ---- commands ----

    fn check_open(&self) -> Result<(), UsageError> {
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

    fn send_data(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), UsageError> {
        self.check_open()?;
        if self.sending.is_some() {
            return Err(UsageError::MessageInProgress);
        }
        self.send_frames(kind, data, true)
    }

    fn send_frames(
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
    fn queue_data(&mut self, frame: Outgoing, data: &[u8]) -> Result<(), UsageError> {
        let opcode = if frame.first {
            opcode_for(frame.kind)
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
                    self.fail(e);
                    return Err(UsageError::Closed);
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

    /// Start the close handshake with `code` and `reason` (§7.1.2).
    /// Nothing is sent after our Close. Calling it again, or after the
    /// peer's Close, does nothing.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), UsageError> {
        if !is_valid_close_code(code) {
            return Err(UsageError::InvalidCloseCode(code));
        }
        if reason.len() > 123 {
            return Err(UsageError::ReasonTooLong);
        }
        if self.close_sent || self.closed || self.failure.is_some() {
            return Ok(());
        }
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(reason.as_bytes());
        self.queue_frame(OpCode::Close, true, &body);
        self.close_sent = true;
        self.close_deadline = self.now.map(|now| now + self.config.close_timeout);
        Ok(())
    }

    fn queue_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        self.queue_frame_rsv(opcode, fin, 0, payload);
    }

    fn queue_frame_rsv(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8]) {
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

    // ---- output ----

    /// Move the bytes to transmit into `out` (appending). Returns how many.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.out.len();
        if out.is_empty() {
            std::mem::swap(out, &mut self.out);
        } else {
            out.append(&mut self.out);
        }
        n
    }

    /// Bytes waiting in [`poll_transmit`](Engine::poll_transmit).
    pub fn pending_transmit(&self) -> usize {
        self.out.len()
    }

    /// Whether the driver should close the transport once the pending
    /// bytes are written: the close handshake is over, it timed out, or the
    /// connection failed.
    pub fn wants_close_transport(&self) -> bool {
        self.closed || self.failure.is_some()
    }

    /// Whether we have sent a Close (no more data can be sent).
    pub fn is_closing(&self) -> bool {
        self.close_sent || self.closed || self.failure.is_some()
    }

    /// Whether the connection is over (closed or failed).
    pub fn is_closed(&self) -> bool {
        self.closed || self.failure.is_some()
    }

    /// The failure, if the connection failed.
    pub fn failure(&self) -> Option<&ProtocolError> {
        self.failure.as_ref()
    }

    // ---- time ----

    /// Run the timers: keepalive ping and pong deadline, idle timeout,
    /// close-handshake timeout. Call it after `receive` and when the
    /// instant from [`poll_timeout`](Engine::poll_timeout) passes.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        if self.rx_activity || self.last_rx.is_none() {
            self.last_rx = Some(now);
            self.rx_activity = false;
        }
        if self.closed || self.failure.is_some() {
            return;
        }
        if self.close_sent {
            let deadline = *self
                .close_deadline
                .get_or_insert(now + self.config.close_timeout);
            if now >= deadline {
                self.finish(ABNORMAL, "close handshake timed out".into());
            }
            return;
        }
        if self.pong_wait.is_some_and(|(deadline, _)| now >= deadline) {
            self.fail(ProtocolError::PongTimeout);
            return;
        }
        if let (Some(idle), Some(last)) = (self.config.idle_timeout, self.last_rx) {
            if now >= last + idle {
                let _ = self.close(1001, "idle timeout");
                return;
            }
        }
        if let Some(interval) = self.config.ping_interval {
            let due = *self.next_ping.get_or_insert(now + interval);
            if now >= due && self.pong_wait.is_none() {
                self.pings_sent += 1;
                let payload = self.pings_sent.to_be_bytes();
                self.queue_frame(OpCode::Ping, true, &payload);
                self.pong_wait = Some((now + self.config.pong_timeout, payload));
                self.next_ping = Some(now + interval);
            }
        }
    }

    /// When [`handle_timeout`](Engine::handle_timeout) next needs to run,
    /// if any timer is armed. `None` before the first `handle_timeout`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let now = self.now?;
        if self.closed || self.failure.is_some() {
            return None;
        }
        if self.close_sent {
            return Some(self.close_deadline.unwrap_or(now));
        }
        let idle = match (self.config.idle_timeout, self.last_rx) {
            (Some(idle), Some(last)) => Some(last + idle),
            _ => None,
        };
        let ping = if self.pong_wait.is_none() {
            self.next_ping
        } else {
            None
        };
        [idle, ping, self.pong_wait.map(|(d, _)| d)]
            .into_iter()
            .flatten()
            .min()
    }
}

fn opcode_for(kind: MessageKind) -> OpCode {
    match kind {
        MessageKind::Text => OpCode::Text,
        MessageKind::Binary => OpCode::Binary,
    }
}

fn check_size(current: usize, more: u64, max: usize) -> Result<(), ProtocolError> {
    if current as u64 + more > max as u64 {
        Err(ProtocolError::MessageTooLarge { max })
    } else {
        Ok(())
    }
}
