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
}

impl ServerHandshake {
    /// A handshake bounded by `limits` (head size and header count).
    pub fn new(limits: Limits) -> ServerHandshake {
        ServerHandshake {
            limits,
            buf: Vec::new(),
        }
    }

    /// Take bytes read from the transport.
    pub fn receive(&mut self, data: &[u8]) -> ServerProgress {
        self.buf.extend_from_slice(data);
        match parse_request(&self.buf, &self.limits) {
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
}

impl ClientHandshake {
    /// Start a handshake for `request`: returns the state and the bytes to
    /// write. Fails if the request's limits are invalid.
    pub fn start(request: &ClientRequest) -> Result<(ClientHandshake, Vec<u8>), HandshakeError> {
        let hs = ClientHandshake {
            limits: request.limits,
            buf: Vec::new(),
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
        let Some((response, used)) = parse_response(&self.buf, &self.limits)? else {
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
}
