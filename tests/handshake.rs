//! The opening handshake end to end over in-memory streams: every built-in
//! check answers with the right status, and the client rejects each kind
//! of bad response with a distinct error.

use std::io::{self, Cursor, Read, Write};

use wsstack::extensions::{ExtensionFactory, ExtensionOffer, NegotiationError};
use wsstack::handshake::{
    accept_key, parse_response, BasicAuth, ClientRequest, HandshakeError, Rejection, Response,
    ServerConfig,
};
use wsstack::{io as wsio, Error, Limits};

/// Reads from a fixed input (in small pieces), records what is written.
#[derive(Debug)]
struct Mem {
    input: Cursor<Vec<u8>>,
    output: Vec<u8>,
}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(7);
        self.input.read(&mut buf[..n])
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Delivers its whole input in a single read.
struct OneRead(Option<Vec<u8>>, Vec<u8>);

impl Read for OneRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(data) => {
                assert!(data.len() <= buf.len(), "test input fits one read");
                buf[..data.len()].copy_from_slice(&data);
                Ok(data.len())
            }
            None => Ok(0),
        }
    }
}

impl Write for OneRead {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.1.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn mem(input: &[u8]) -> Mem {
    Mem {
        input: Cursor::new(input.to_vec()),
        output: Vec::new(),
    }
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn request_with(lines: &[&str]) -> Vec<u8> {
    let mut r = String::from("GET /chat HTTP/1.1\r\n");
    for l in lines {
        r.push_str(l);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

fn good_lines() -> Vec<&'static str> {
    vec![
        "Host: example.com",
        "Upgrade: websocket",
        "Connection: keep-alive, Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
}

/// Run the server handshake and return (result, parsed response sent).
fn serve(
    input: &[u8],
    config: &ServerConfig,
) -> (Result<wsio::ServerUpgrade<Mem>, Error>, Response) {
    let mut stream = mem(input);
    // Keep a handle on the output by running accept on a reference.
    let result = wsio::accept(&mut stream, config).map(|up| wsio::ServerUpgrade {
        stream: mem(b""),
        request: up.request,
        subprotocol: up.subprotocol,
        extensions: up.extensions,
        buffered: up.buffered,
    });
    let (resp, _) = parse_response(&stream.output, &Limits::default())
        .expect("server wrote valid HTTP")
        .expect("server wrote a whole response");
    (result, resp)
}

fn status_for(lines: &[&str], config: &ServerConfig) -> (u16, Response) {
    let (_, resp) = serve(&request_with(lines), config);
    (resp.status, resp)
}

#[test]
fn valid_request_gets_101_with_the_rfc_accept_key_and_keeps_trailing_bytes() {
    let mut input = request_with(&good_lines());
    input.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]);
    let (result, resp) = serve(&input, &ServerConfig::new());
    assert_eq!(resp.status, 101);
    assert_eq!(
        resp.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    let up = result.unwrap();
    assert_eq!(up.request.path(), "/chat");
    // What was read past the request is handed on; the rest is still in
    // the stream. Together they are exactly the bytes after the request.
    assert!(!up.buffered.is_empty());
    assert!([0x81, 0x80, 1, 2, 3, 4].starts_with(&up.buffered));
    // Now a stream that delivers everything in one read.
    let mut one_read = OneRead(Some(input.clone()), Vec::new());
    let up = wsio::accept(&mut one_read, &ServerConfig::new()).unwrap();
    assert_eq!(up.buffered, [0x81, 0x80, 1, 2, 3, 4]);
}

#[test]
fn built_in_checks_answer_with_the_right_status() {
    let cfg = ServerConfig::new();
    let without = |name: &str| -> Vec<&'static str> {
        good_lines()
            .into_iter()
            .filter(|l| !l.starts_with(name))
            .collect()
    };
    let replace = |name: &str, line: &'static str| -> Vec<&'static str> {
        let mut v = without(name);
        v.push(line);
        v
    };
    let cases: Vec<(Vec<&str>, u16, &str)> = vec![
        (without("Upgrade"), 400, "no Upgrade"),
        (replace("Upgrade", "Upgrade: h2c"), 400, "wrong Upgrade"),
        (without("Connection"), 400, "no Connection"),
        (
            replace("Connection", "Connection: keep-alive"),
            400,
            "no upgrade token",
        ),
        (without("Sec-WebSocket-Key"), 400, "no key"),
        (
            replace("Sec-WebSocket-Key", "Sec-WebSocket-Key: c2hvcnQ="),
            400,
            "short key",
        ),
        (
            replace("Sec-WebSocket-Key", "Sec-WebSocket-Key: !!notbase64!!"),
            400,
            "bad key",
        ),
        (without("Host"), 400, "no Host"),
        (without("Sec-WebSocket-Version"), 400, "no version"),
        (
            replace("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"),
            426,
            "old version",
        ),
        (
            replace("Upgrade", "Upgrade: WebSocket"),
            101,
            "case-insensitive",
        ),
    ];
    for (lines, want, what) in cases {
        let (status, resp) = status_for(&lines, &cfg);
        assert_eq!(status, want, "{what}");
        if want == 426 {
            assert_eq!(resp.header("sec-websocket-version"), Some("13"));
        }
    }
    // Duplicate key.
    let mut lines = good_lines();
    lines.push("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
    assert_eq!(status_for(&lines, &cfg).0, 400);
    // Not GET, not HTTP/1.1, garbage.
    let post = request_with(&good_lines());
    let post = [b"POST".as_slice(), &post[3..]].concat();
    assert_eq!(serve(&post, &cfg).1.status, 405);
    let old = String::from_utf8(request_with(&good_lines()))
        .unwrap()
        .replace("HTTP/1.1", "HTTP/1.0");
    assert_eq!(serve(old.as_bytes(), &cfg).1.status, 400);
    assert_eq!(
        serve(b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n", &cfg)
            .1
            .status,
        400
    );
}

#[test]
fn oversized_requests_get_431_and_stop_reading() {
    let cfg = ServerConfig::new().with_limits(Limits::default().with_max_handshake_bytes(1024));
    let mut input = b"GET / HTTP/1.1\r\n".to_vec();
    input.extend(std::iter::repeat_n(b"X-Pad: 0123456789\r\n".as_slice(), 10_000).flatten());
    let (result, resp) = serve(&input, &cfg);
    assert_eq!(resp.status, 431);
    assert!(matches!(
        result,
        Err(Error::Handshake(HandshakeError::TooLarge { max: 1024 }))
    ));
    let cfg = ServerConfig::new().with_limits(Limits::default().with_max_headers(8));
    let mut lines = good_lines();
    lines.extend(["A: 1", "B: 2", "C: 3", "D: 4"]);
    assert_eq!(status_for(&lines, &cfg).0, 431);
}

#[test]
fn origin_allow_list() {
    let cfg = ServerConfig::new().with_allowed_origins(["https://good.example"]);
    let mut lines = good_lines();
    assert_eq!(status_for(&lines, &cfg).0, 403, "missing origin");
    lines.push("Origin: https://evil.example");
    assert_eq!(status_for(&lines, &cfg).0, 403);
    lines.pop();
    lines.push("Origin: https://GOOD.example");
    assert_eq!(status_for(&lines, &cfg).0, 101);
}

#[test]
fn basic_auth_challenges_and_checks() {
    let cfg =
        ServerConfig::new().with_basic_auth(BasicAuth::single_user("chat room", "alice", "s3cret"));
    let mut lines = good_lines();
    let (status, resp) = status_for(&lines, &cfg);
    assert_eq!(status, 401);
    assert_eq!(
        resp.header("www-authenticate"),
        Some("Basic realm=\"chat room\", charset=\"UTF-8\"")
    );
    let wrong = format!(
        "Authorization: {}",
        wsstack::handshake::basic_auth_header("alice", "nope")
    );
    let right = format!(
        "Authorization: {}",
        wsstack::handshake::basic_auth_header("alice", "s3cret")
    );
    lines.push(Box::leak(wrong.into_boxed_str()));
    assert_eq!(status_for(&lines, &cfg).0, 401);
    lines.pop();
    lines.push(Box::leak(right.into_boxed_str()));
    let (result, _) = serve(&request_with(&lines), &cfg);
    let up = result.unwrap();
    assert_eq!(up.request.basic_auth().unwrap().user, "alice");
}

#[test]
fn application_decides_and_subprotocols_are_chosen() {
    let cfg = ServerConfig::new()
        .with_subprotocols(["v2", "v1"])
        .with_request_hook(|req| {
            if req.cookie("session") == Some("ok") {
                Ok(())
            } else {
                Err(Rejection::status(403).with_header("X-Why", "no session"))
            }
        })
        .with_header("X-Server", "wsstack")
        .unwrap();
    let mut lines = good_lines();
    lines.push("Sec-WebSocket-Protocol: v1, v2");
    let (status, resp) = status_for(&lines, &cfg);
    assert_eq!((status, resp.header("x-why")), (403, Some("no session")));
    lines.push("Cookie: a=b; session=ok");
    let (status, resp) = status_for(&lines, &cfg);
    assert_eq!(status, 101);
    assert_eq!(
        resp.header("sec-websocket-protocol"),
        Some("v2"),
        "server preference wins"
    );
    assert_eq!(resp.header("x-server"), Some("wsstack"));
    // A hook choosing something the client did not offer is ignored.
    let cfg = ServerConfig::new().with_subprotocol_hook(|_, _| Some("nope".into()));
    assert_eq!(
        status_for(&lines, &cfg).1.header("sec-websocket-protocol"),
        None
    );
    assert!(ServerConfig::new().with_header("X-Bad", "a\r\nb").is_err());
}

/// A minimal extension for negotiation tests: accepts `x-test` offers,
/// echoing their parameters; refuses responses with a `bad` parameter.
#[derive(Debug)]
struct TestExt;

struct NoOp;

impl wsstack::extensions::Extension for NoOp {
    fn name(&self) -> &str {
        "x-test"
    }
    fn rsv_bits(&self) -> u8 {
        wsstack::extensions::RSV2
    }
    fn encode(
        &mut self,
        _: &[u8],
        _: wsstack::extensions::Outgoing,
        _: &mut Vec<u8>,
    ) -> Result<Option<u8>, wsstack::extensions::TransformError> {
        Ok(None)
    }
    fn decode_start(
        &mut self,
        _: &wsstack::frame::FrameHeader,
        _: bool,
    ) -> Result<bool, wsstack::extensions::TransformError> {
        Ok(false)
    }
    fn decode(
        &mut self,
        _: &[u8],
        _: &mut Vec<u8>,
        _: usize,
    ) -> Result<(), wsstack::extensions::TransformError> {
        Ok(())
    }
    fn decode_end(
        &mut self,
        _: bool,
        _: &mut Vec<u8>,
        _: usize,
    ) -> Result<(), wsstack::extensions::TransformError> {
        Ok(())
    }
}

impl ExtensionFactory for TestExt {
    fn names(&self) -> &[&str] {
        &["x-test"]
    }
    fn rsv_bits(&self) -> u8 {
        wsstack::extensions::RSV2
    }
    fn offers(&self) -> Vec<ExtensionOffer> {
        vec![ExtensionOffer::new("x-test").with_param("client_max_window_bits", None)]
    }
    fn check_response(&self, response: &ExtensionOffer) -> Result<(), NegotiationError> {
        wsstack::extensions::Params::parse(response, &["a", "client_max_window_bits"]).map(|_| ())
    }
    fn accept_offer(&self, offer: &ExtensionOffer) -> Option<ExtensionOffer> {
        Some(offer.clone())
    }
    fn build(
        &self,
        _: wsstack::Role,
        _: &ExtensionOffer,
        _: &ExtensionOffer,
    ) -> Box<dyn wsstack::extensions::Extension> {
        Box::new(NoOp)
    }
}

#[test]
fn extensions_are_negotiated_from_the_offers() {
    let cfg = ServerConfig::new().with_extension(TestExt);
    let mut lines = good_lines();
    lines.push("Sec-WebSocket-Extensions: x-other, x-test; a=\"1\", x-test; a=2");
    let (result, resp) = serve(&request_with(&lines), &cfg);
    assert_eq!(
        resp.header("sec-websocket-extensions"),
        Some("x-test; a=1"),
        "first acceptable offer wins, once"
    );
    let up = result.unwrap();
    assert_eq!(up.extensions.len(), 1);
    assert_eq!(cfg.build_extensions(&up.extensions).len(), 1);
    lines.push("Sec-WebSocket-Extensions: ;;bad");
    assert_eq!(status_for(&lines, &cfg).0, 400);
}

// ---- client side ----

fn good_response(req: &ClientRequest) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        accept_key(req.key())
    )
}

fn client_result(req: &ClientRequest, response: &str) -> Result<wsio::ClientUpgrade<Mem>, Error> {
    wsio::connect(mem(response.as_bytes()), req)
}

#[test]
fn client_sends_a_correct_request() {
    let req = ClientRequest::new("ws://bob:pa%3Ass@127.0.0.1:9001/path?q=1")
        .unwrap()
        .with_key(KEY)
        .with_origin("http://localhost")
        .with_subprotocols(["a", "b"])
        .with_extension(TestExt);
    let (parsed, _) = wsstack::handshake::parse_request(&req.to_bytes(), &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(parsed.target(), "/path?q=1");
    assert_eq!(parsed.host(), Some("127.0.0.1:9001"));
    assert_eq!(parsed.origin(), Some("http://localhost"));
    assert_eq!(parsed.subprotocols(), ["a", "b"]);
    assert_eq!(parsed.extensions().unwrap()[0].name, "x-test");
    let creds = parsed.basic_auth().unwrap();
    assert_eq!(
        (creds.user.as_str(), creds.password.as_str()),
        ("bob", "pa:ss")
    );
    // Our own server accepts what our client sends.
    assert!(ServerConfig::new().accept(&parsed).is_ok());
}

#[test]
fn client_validates_the_response_with_distinct_errors() {
    let req = ClientRequest::new("ws://h/")
        .unwrap()
        .with_subprotocols(["chat"])
        .with_extension(TestExt);
    let ok = good_response(&req);
    let mut wire = format!("{ok}Sec-WebSocket-Protocol: chat\r\n\r\n").into_bytes();
    wire.extend_from_slice(&[0x81, 0x00]);
    let up = wsio::connect(mem(&wire), &req).unwrap();
    assert_eq!(up.negotiated.subprotocol.as_deref(), Some("chat"));
    assert_eq!(
        up.buffered,
        [0x81, 0x00],
        "bytes after the response are kept"
    );

    let err = |resp: String| match client_result(&req, &resp) {
        Err(Error::Handshake(e)) => e,
        other => panic!("expected a handshake error, got {other:?}"),
    };
    assert_eq!(
        err("HTTP/1.1 403 Forbidden\r\n\r\n".into()),
        HandshakeError::UnexpectedStatus {
            status: 403,
            reason: "Forbidden".into(),
            location: None,
        }
    );
    assert_eq!(
        err(ok.replace("Upgrade: websocket", "Upgrade: h2c") + "\r\n"),
        HandshakeError::UpgradeHeader
    );
    assert_eq!(
        err(ok.replace("Connection: Upgrade", "Connection: close") + "\r\n"),
        HandshakeError::ConnectionHeader
    );
    let no_accept: String = ok
        .lines()
        .filter(|l| !l.starts_with("Sec-WebSocket-Accept"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    assert_eq!(
        err(no_accept.clone() + "\r\n"),
        HandshakeError::MissingAccept
    );
    assert_eq!(
        err(no_accept + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
        HandshakeError::AcceptMismatch
    );
    assert_eq!(
        err(format!("{ok}Sec-WebSocket-Protocol: other\r\n\r\n")),
        HandshakeError::UnofferedSubprotocol("other".into())
    );
    assert_eq!(
        err(format!("{ok}Sec-WebSocket-Protocol: chat, chat\r\n\r\n")),
        HandshakeError::UnofferedSubprotocol("chat, chat".into())
    );
    assert_eq!(
        err(format!(
            "{ok}Sec-WebSocket-Extensions: deflate-frame\r\n\r\n"
        )),
        HandshakeError::Extension(NegotiationError::Unoffered("deflate-frame".into()))
    );
    assert!(matches!(
        err(format!(
            "{ok}Sec-WebSocket-Extensions: permessage-deflate; =\r\n\r\n"
        )),
        HandshakeError::Extension(NegotiationError::Header(_))
    ));
    assert_eq!(
        err(format!(
            "{ok}Sec-WebSocket-Extensions: x-test, x-test\r\n\r\n"
        )),
        HandshakeError::Extension(NegotiationError::Duplicate("x-test".into()))
    );
    assert!(matches!(
        err(format!("{ok}Sec-WebSocket-Extensions: x-test; bad\r\n\r\n")),
        HandshakeError::Extension(NegotiationError::Param { .. })
    ));
    assert!(matches!(
        err(format!(
            "{ok}Sec-WebSocket-Extensions: x-test; a; a\r\n\r\n"
        )),
        HandshakeError::Extension(NegotiationError::Param { .. })
    ));
    assert!(matches!(
        err("HTTP/1.1 101\r\nBroken\r\n\r\n".into()),
        HandshakeError::Malformed(_)
    ));
    // The peer hangs up mid-response.
    assert!(
        matches!(client_result(&req, "HTTP/1.1 101 Sw"), Err(Error::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof)
    );
}

#[test]
fn wss_without_tls_is_a_clear_error() {
    let req = ClientRequest::new("wss://127.0.0.1:1/").unwrap();
    assert!(matches!(
        wsio::connect_tcp(&req),
        Err(Error::Handshake(HandshakeError::InvalidUrl(_)))
    ));
}
