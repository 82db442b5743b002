//! The opening handshake as a sans-I/O state machine for drivers: bytes
//! in, a request, rejection or response out, leftover bytes handed on.

use crate::config::Limits;
use crate::handshake::{
    parse_request, parse_response, Accepted, ClientRequest, HandshakeError, Negotiated, Rejection,
    Request, Response, ServerConfig,
};

/// What [`ServerHandshake::receive`] found.
#[derive(Debug)]
pub enum ServerProgress {
    /// The request head is not complete yet: read more.
    NeedMore,
    /// A complete request. `leftover` holds the bytes that followed it:
    /// the start of the WebSocket stream, to feed the engine first.
    Request {
        /// The parsed request (not yet decided on).
        request: Box<Request>,
        /// Bytes read past the request head.
        leftover: Vec<u8>,
    },
    /// The request is malformed or over the limits: write the rejection
    /// and close.
    Reject(Rejection),
}

/// The server side of the opening handshake, fed with whatever the
/// transport delivers.
///
/// ```
/// use wsstack::driver::{ServerHandshake, ServerProgress};
/// use wsstack::handshake::ServerConfig;
///
/// let config = ServerConfig::new();
/// let mut hs = ServerHandshake::new(config.limits);
/// let wire = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81";
/// assert!(matches!(hs.receive(&wire[..10]), ServerProgress::NeedMore));
/// let ServerProgress::Request { request, leftover } = hs.receive(&wire[10..]) else { panic!() };
/// assert_eq!(leftover, [0x81]);
/// let accepted = ServerHandshake::decide(&config, &request, |_| Ok(())).expect("valid");
/// assert!(accepted.to_bytes().starts_with(b"HTTP/1.1 101"));
/// ```
#[derive(Debug)]
pub struct ServerHandshake {
    limits: Limits,
    buf: Vec<u8>,
    cut: HeadCut,
}

/// Which prefix of a buffered head to hand the parser, so that a head
/// trickled in byte by byte costs linear work, not one whole parse per
/// byte.
///
/// The parser sees every complete line, and at least the largest power of
/// two of bytes buffered (so garbage without a line break, such as a TLS
/// hello sent to a plain port, is refused on its first read). The prefix
/// depends only on the bytes buffered, never on how they were split, and
/// the parser decides a prefix the same way as any longer buffer holding
/// it, so a split feed ends exactly as a whole one. A prefix that was
/// parsed and found incomplete is not parsed again: after one read the
/// parser runs at most once per line and once per doubling.
#[derive(Debug, Default)]
struct HeadCut {
    /// End of the last complete line buffered (just past its `\n`).
    lines: usize,
    /// The prefix parsed last time, found incomplete.
    parsed: usize,
}

impl HeadCut {
    /// Note `data`, just appended to `buf`, and return the prefix length
    /// to parse now, or `None` when it is the one already found
    /// incomplete. At or past `max` bytes the whole buffer is parsed.
    fn advance(&mut self, buf: &[u8], data: &[u8], max: usize) -> Option<usize> {
        if let Some(i) = data.iter().rposition(|&b| b == b'\n') {
            self.lines = buf.len() - data.len() + i + 1;
        }
        let cut = if buf.len() >= max {
            buf.len()
        } else {
            let doubling = buf.len().checked_ilog2().map_or(0, |log| 1 << log);
            self.lines.max(doubling)
        };
        if cut == self.parsed {
            return None;
        }
        self.parsed = cut;
        Some(cut)
    }
}

impl ServerHandshake {
    /// A handshake bounded by `limits` (head size and header count).
    pub fn new(limits: Limits) -> ServerHandshake {
        ServerHandshake {
            limits,
            buf: Vec::new(),
            cut: HeadCut::default(),
        }
    }

    /// Take bytes read from the transport.
    ///
    /// However the bytes are split across calls, the handshake ends the
    /// same way as if they had come in one call.
    pub fn receive(&mut self, data: &[u8]) -> ServerProgress {
        self.buf.extend_from_slice(data);
        let Some(cut) = self
            .cut
            .advance(&self.buf, data, self.limits.max_handshake_bytes)
        else {
            return ServerProgress::NeedMore;
        };
        match parse_request(&self.buf[..cut], &self.limits) {
            Ok(None) => ServerProgress::NeedMore,
            Ok(Some((request, used))) => {
                let leftover = self.buf.split_off(used);
                self.buf = Vec::new();
                ServerProgress::Request {
                    request: Box::new(request),
                    leftover,
                }
            }
            Err(e) => ServerProgress::Reject(Rejection::from_error(e)),
        }
    }

    /// Bytes buffered so far (a driver may stop reading past the limit).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Decide on a complete request: the configuration's built-in checks
    /// and hook first, then the application's `hook`. The `Ok` response
    /// goes on the wire before any WebSocket frame.
    pub fn decide(
        config: &ServerConfig,
        request: &Request,
        hook: impl FnOnce(&Request) -> Result<(), Rejection>,
    ) -> Result<Accepted, Rejection> {
        let accepted = config.accept(request)?;
        hook(request)?;
        Ok(accepted)
    }
}

/// What [`ClientHandshake::receive`] found.
#[derive(Debug)]
pub enum ClientProgress {
    /// The response head is not complete yet: read more.
    NeedMore,
    /// A valid 101 response.
    Upgraded {
        /// The server's response.
        response: Box<Response>,
        /// The subprotocol and extensions agreed.
        negotiated: Negotiated,
        /// Bytes read past the response head: the start of the WebSocket
        /// stream, to feed the engine first.
        leftover: Vec<u8>,
    },
}

/// The client side of the opening handshake: the request bytes to write,
/// then the response, fed with whatever the transport delivers.
#[derive(Debug)]
pub struct ClientHandshake {
    limits: Limits,
    buf: Vec<u8>,
    cut: HeadCut,
}

impl ClientHandshake {
    /// Start a handshake for `request`: returns the state and the bytes to
    /// write. Fails if the request's limits are invalid.
    pub fn start(request: &ClientRequest) -> Result<(ClientHandshake, Vec<u8>), HandshakeError> {
        let hs = ClientHandshake {
            limits: request.limits,
            buf: Vec::new(),
            cut: HeadCut::default(),
        };
        Ok((hs, request.to_bytes()))
    }

    /// Take bytes read from the transport; `request` is the one the
    /// handshake was started with. A response that is malformed, not 101,
    /// or does not fit the request is an error.
    pub fn receive(
        &mut self,
        request: &ClientRequest,
        data: &[u8],
    ) -> Result<ClientProgress, HandshakeError> {
        self.buf.extend_from_slice(data);
        let Some(cut) = self
            .cut
            .advance(&self.buf, data, self.limits.max_handshake_bytes)
        else {
            return Ok(ClientProgress::NeedMore);
        };
        let Some((response, used)) = parse_response(&self.buf[..cut], &self.limits)? else {
            return Ok(ClientProgress::NeedMore);
        };
        let negotiated = request.validate_response(&response)?;
        let leftover = self.buf.split_off(used);
        self.buf = Vec::new();
        Ok(ClientProgress::Upgraded {
            response: Box::new(response),
            negotiated,
            leftover,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\nrest";

    #[test]
    fn byte_by_byte_gives_the_same_request_as_whole() {
        let mut hs = ServerHandshake::new(Limits::default());
        let mut done = None;
        for (i, b) in REQUEST.iter().enumerate() {
            match hs.receive(std::slice::from_ref(b)) {
                ServerProgress::NeedMore => {}
                ServerProgress::Request { request, leftover } => {
                    done = Some((i, request.path().to_owned(), leftover));
                }
                ServerProgress::Reject(r) => panic!("{}", r.error),
            }
            if done.is_some() {
                break;
            }
        }
        let (at, path, leftover) = done.expect("a request");
        assert_eq!(path, "/chat");
        assert_eq!(at, REQUEST.len() - 5, "complete at the blank line");
        assert!(leftover.is_empty());
    }

    #[test]
    fn an_endless_head_is_refused_at_the_limit() {
        let limits = Limits::default();
        let mut hs = ServerHandshake::new(limits);
        let mut fed = 0;
        loop {
            fed += 100;
            match hs.receive(&[b'a'; 100]) {
                ServerProgress::NeedMore => assert!(fed <= limits.max_handshake_bytes + 100),
                ServerProgress::Reject(r) => {
                    assert_eq!(r.response.status, 431);
                    break;
                }
                ServerProgress::Request { .. } => panic!("not a request"),
            }
        }
    }

    #[test]
    fn a_trickled_head_is_parsed_once_per_line_and_doubling() {
        let limits = Limits::default();
        let max = limits.max_handshake_bytes;
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        head.extend(std::iter::repeat_n(b'x', max));
        let mut buf = Vec::new();
        let mut cut = HeadCut::default();
        let mut parses = 0;
        for b in &head[..max] {
            buf.push(*b);
            if let Some(at) = cut.advance(&buf, std::slice::from_ref(b), max) {
                parses += 1;
                assert!(at <= buf.len());
            }
        }
        // One parse at the line break, one per power of two, one at the limit.
        assert!(parses <= 2 + max.ilog2() as usize, "{parses} parses");
    }

    #[test]
    fn garbage_without_a_line_break_is_refused_on_its_first_read() {
        let mut hello = vec![0x16, 0x03, 0x01, 0x02, 0x00];
        hello.extend(std::iter::repeat_n(0x41, 300));
        let mut hs = ServerHandshake::new(Limits::default());
        assert!(
            matches!(hs.receive(&hello), ServerProgress::Reject(r) if r.response.status == 400)
        );
    }

    #[test]
    fn an_error_in_an_unfinished_line_ends_split_and_whole_feeds_alike() {
        let wire = b"GET / HTTP/1.1\r\nHost: a\r\nBad\x00Name: x";
        let whole = ServerHandshake::new(Limits::default()).receive(wire);
        let mut hs = ServerHandshake::new(Limits::default());
        let mut split = ServerProgress::NeedMore;
        for b in wire {
            split = hs.receive(std::slice::from_ref(b));
            if !matches!(split, ServerProgress::NeedMore) {
                break;
            }
        }
        match (whole, split) {
            (ServerProgress::NeedMore, ServerProgress::NeedMore) => {}
            (ServerProgress::Reject(a), ServerProgress::Reject(b)) => assert_eq!(a, b),
            (a, b) => panic!("whole {a:?}, split {b:?}"),
        }
        // The line break after the bad name decides it either way.
        assert!(matches!(hs.receive(b"\r\n"), ServerProgress::Reject(_)));
    }

    #[test]
    fn a_response_trickled_in_is_the_same_as_whole() {
        let request = ClientRequest::new("ws://a/chat")
            .expect("url")
            .with_key("dGhlIHNhbXBsZSBub25jZQ==");
        let (mut hs, _) = ClientHandshake::start(&request).expect("start");
        let wire = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81";
        for (i, b) in wire.iter().enumerate() {
            match hs
                .receive(&request, std::slice::from_ref(b))
                .expect("valid")
            {
                ClientProgress::NeedMore => assert!(i < wire.len() - 2),
                ClientProgress::Upgraded { leftover, .. } => {
                    assert_eq!(i, wire.len() - 2, "upgraded at the blank line");
                    assert!(leftover.is_empty());
                    return;
                }
            }
        }
        panic!("never upgraded");
    }
}
