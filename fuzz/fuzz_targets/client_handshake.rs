//! Fuzz the sans-I/O client handshake driver: `ClientHandshake::start` for
//! a fixed request, then `ClientHandshake::receive` fed arbitrary response
//! bytes in fuzzer-chosen splits, then the client engine built from what
//! was negotiated, fed the leftover bytes.
//!
//! The request: `ws://server.example.com/chat`, key
//! `dGhlIHNhbXBsZSBub25jZQ==` (RFC 6455 §1.3), subprotocols `chat`,
//! `superchat`, and a default `PerMessageDeflate` offer.
//!
//! Input layout:
//!
//! - bytes 0..3: three chunk sizes, used in turn and cycled (`b < 0xc0`:
//!   `(b & 0x3f) + 1` bytes, i.e. 1..=64; `b >= 0xc0`: `(b & 0x3f) * 64 + 1`
//!   bytes, i.e. 1..=4033);
//! - the rest: the bytes the server sends.
//!
//! Checked properties:
//!
//! - the request bytes `start` returns parse back as one head with the
//!   key, subprotocols and offer;
//! - split independence: feeding the chunks one `receive` at a time ends
//!   the same way as one `receive` of everything (the same response and
//!   negotiation, the same error, or `NeedMore` both times); `NeedMore`
//!   only below the byte limit, and never with a complete response or an
//!   error before the last line break;
//! - an `Upgraded` response is the one `parse_response` gives, a 101 with
//!   exactly one `Sec-WebSocket-Accept` equal to the key's accept value,
//!   the `websocket` / `upgrade` tokens, at most one subprotocol that was
//!   offered (and what the response names), and at most one extension, a
//!   permessage-deflate that the offer's factory accepts;
//! - `leftover` is exactly the bytes after the head: `stream[used..]` for
//!   the whole feed, `stream[used..fed]` for the split one;
//! - an error is what `parse_response` + `validate_response` give for the
//!   same bytes, and never a caller error;
//! - the client engine builds from the negotiation and takes the leftover
//!   bytes without panicking.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wsstack::connection::Config;
use wsstack::driver::{client_engine, ClientHandshake, ClientProgress};
use wsstack::extensions::PerMessageDeflate;
use wsstack::handshake::{
    parse_request, parse_response, ClientRequest, HandshakeError, Negotiated, Response,
};
use wsstack::Limits;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const PROTOCOLS: [&str; 2] = ["chat", "superchat"];

fn chunk_size(b: u8) -> usize {
    if b < 0xc0 {
        usize::from(b & 0x3f) + 1
    } else {
        usize::from(b & 0x3f) * 64 + 1
    }
}

/// The fixed request, and the bytes `start` returned for it (checked once).
fn request() -> &'static (ClientRequest, Vec<u8>) {
    static REQUEST: OnceLock<(ClientRequest, Vec<u8>)> = OnceLock::new();
    REQUEST.get_or_init(|| {
        let req = ClientRequest::new("ws://server.example.com/chat")
            .expect("constant URL")
            .with_key(KEY)
            .with_subprotocols(PROTOCOLS)
            .with_extension(PerMessageDeflate::new());
        let (_, bytes) = ClientHandshake::start(&req).expect("default limits are valid");
        let (parsed, used) = parse_request(&bytes, &Limits::default())
            .expect("own request parses")
            .expect("own request is complete");
        assert_eq!(used, bytes.len());
        assert_eq!(parsed.target(), "/chat");
        assert_eq!(parsed.key(), Some(KEY));
        assert_eq!(parsed.subprotocols(), PROTOCOLS);
        let offers = parsed.extensions().expect("own offer parses");
        assert!(!offers.is_empty() && offers.iter().all(|o| o.name == "permessage-deflate"));
        (req, bytes)
    })
}

/// How a feed ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    NeedMore,
    Upgraded(Box<Response>, Negotiated),
    Failed(HandshakeError),
}

fn feed_whole(req: &ClientRequest, stream: &[u8]) -> (Outcome, Vec<u8>) {
    let (mut hs, _) = ClientHandshake::start(req).expect("valid limits");
    match hs.receive(req, stream) {
        Ok(ClientProgress::NeedMore) => (Outcome::NeedMore, Vec::new()),
        Ok(ClientProgress::Upgraded {
            response,
            negotiated,
            leftover,
        }) => (Outcome::Upgraded(response, negotiated), leftover),
        Err(e) => (Outcome::Failed(e), Vec::new()),
    }
}

fn feed_split(req: &ClientRequest, stream: &[u8], sizes: &[u8; 3]) -> (Outcome, Vec<u8>, usize) {
    let (mut hs, _) = ClientHandshake::start(req).expect("valid limits");
    let mut pos = 0;
    let mut i = 0;
    while pos < stream.len() {
        let end = (pos + chunk_size(sizes[i % 3])).min(stream.len());
        i += 1;
        let progress = hs.receive(req, &stream[pos..end]);
        pos = end;
        match progress {
            Ok(ClientProgress::NeedMore) => {
                assert!(pos < req.limits.max_handshake_bytes, "NeedMore at {pos} bytes");
            }
            Ok(ClientProgress::Upgraded {
                response,
                negotiated,
                leftover,
            }) => return (Outcome::Upgraded(response, negotiated), leftover, pos),
            Err(e) => return (Outcome::Failed(e), Vec::new(), pos),
        }
    }
    (Outcome::NeedMore, Vec::new(), pos)
}

fn check_upgraded(req: &ClientRequest, resp: &Response, neg: &Negotiated) {
    assert_eq!(resp.status, 101);
    assert_eq!(resp.headers.count("sec-websocket-accept"), 1);
    assert_eq!(resp.header("sec-websocket-accept").map(str::trim), Some(ACCEPT));
    assert!(resp.headers.has_token("upgrade", "websocket"));
    assert!(resp.headers.has_token("connection", "upgrade"));
    let named: Vec<&str> = resp.headers.tokens("sec-websocket-protocol").collect();
    match &neg.subprotocol {
        Some(p) => {
            assert!(PROTOCOLS.contains(&p.as_str()), "unoffered subprotocol {p:?}");
            assert_eq!(named, [p.as_str()]);
        }
        None => assert!(named.is_empty(), "subprotocols {named:?} named but none agreed"),
    }
    assert!(neg.extensions.len() <= 1, "extensions {:?}", neg.extensions);
    for e in &neg.extensions {
        assert!(
            e.name.eq_ignore_ascii_case("permessage-deflate"),
            "unoffered extension {:?} accepted",
            e.name
        );
    }
    assert_eq!(req.key(), KEY);
}

fuzz_target!(|data: &[u8]| {
    let (req, _) = request();
    if data.len() < 3 {
        return;
    }
    let sizes = [data[0], data[1], data[2]];
    let stream = &data[3..];
    let limits = req.limits;

    let (whole, whole_left) = feed_whole(req, stream);
    let (split, split_left, fed) = feed_split(req, stream, &sizes);
    assert_eq!(whole, split, "split feed ends differently");

    let parsed = parse_response(stream, &limits);
    match whole {
        Outcome::NeedMore => {
            // Still waiting: no complete response is missed, and an error
            // the parser would see lies in the unfinished last line.
            assert!(!matches!(parsed, Ok(Some(_))), "complete response missed");
            if parsed.is_err() {
                let lines = stream.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                assert_eq!(parse_response(&stream[..lines], &limits), Ok(None));
            }
            assert!(stream.len() < limits.max_handshake_bytes);
        }
        Outcome::Failed(e) => {
            assert!(!e.is_caller_error(), "caller error for a response: {e:?}");
            let expected = parsed.and_then(|p| {
                let (resp, _) = p.expect("driver failed on an incomplete head");
                req.validate_response(&resp)
            });
            assert_eq!(expected, Err(e));
        }
        Outcome::Upgraded(resp, neg) => {
            let (parsed_resp, used) = parsed
                .expect("parse_response fails on what the driver accepted")
                .expect("parse_response incomplete on what the driver accepted");
            assert_eq!(*resp, parsed_resp);
            assert_eq!(req.validate_response(&resp).as_ref(), Ok(&neg));
            assert!(used <= fed && fed <= stream.len());
            assert!(used <= limits.max_handshake_bytes);
            let head = &stream[..used];
            assert!(
                head.ends_with(b"\n\r\n") || head.ends_with(b"\n\n"),
                "head does not end with an empty line: {head:?}"
            );
            assert_eq!(whole_left, &stream[used..], "whole-feed leftover");
            assert_eq!(split_left, &stream[used..fed], "split-feed leftover");
            check_upgraded(req, &resp, &neg);

            let mut engine =
                client_engine(Config::default(), req, &neg).expect("default engine config");
            engine.receive(&whole_left);
            for _ in 0..64 {
                match engine.poll_event() {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            let mut out = Vec::new();
            engine.poll_transmit(&mut out);
        }
    }
});
