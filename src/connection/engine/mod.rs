//! The sans-I/O protocol engine (RFC 6455 §5.4-5.5, §7).

mod input;
mod output;
mod prepared;
mod timers;

use std::collections::VecDeque;
use std::time::Instant;

use super::utf8::Utf8Validator;
use super::{Config, Message, ProtocolError, UsageError};
use crate::config::ConfigError;
use crate::extensions::{Extension, Outgoing, TransformError};
use crate::frame::{
    apply_mask, is_valid_close_code, CloseCode, FrameDecoder, FrameHeader, MaskSource, MessageKind,
    OpCode, RandomMask, Role,
};

/// Scratch buffers bigger than this are released after use, so one large
/// message does not pin memory for the life of the connection.
const SCRATCH_KEEP: usize = 64 * 1024;

/// What the engine reports to the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole message (text is valid UTF-8).
    Message(Message),
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
        code: CloseCode,
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
/// assert_eq!(server.poll_event(), Ok(Some(Event::Message("Hello".into()))));
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
            // Room for the rest of the frame these bytes belong to, if it
            // is known and within twice what came (never more than the
            // peer has sent, doubled): the frame's last bytes then join
            // without a reallocation that copies the first ones.
            // (Saturating: a 64-bit length need not fit a 32-bit usize.)
            let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
            let frame_left = match &self.frame {
                Some(frame) => Some(size(
                    frame.header.payload_len.saturating_sub(frame.received),
                )),
                None => match self.decoder.decode_header(data) {
                    Ok(Some((header, len))) => Some(len.saturating_add(size(header.payload_len))),
                    _ => None,
                },
            };
            if let Some(left) = frame_left {
                self.inbuf
                    .reserve_exact(left.min(data.len().saturating_mul(2)).max(data.len()));
            }
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
                    self.finish(CloseCode::ABNORMAL, String::new());
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

    /// The connection is over: report it once, drop buffered input.
    fn finish(&mut self, code: CloseCode, reason: String) {
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
            let mut body = error.close_code().as_u16().to_be_bytes().to_vec();
            if error.close_code() != CloseCode::INTERNAL_ERROR {
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

    // ---- output ----

    /// Move the bytes to transmit into `out` (appending). Returns how many.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.out.len();
        if n == 0 {
            // Keep our buffer's capacity for the next frame.
            return 0;
        }
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

    /// Whether the close has started: we sent a Close, or the connection
    /// is already closed or failed. No more data can be sent.
    pub fn close_started(&self) -> bool {
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
}
