//! Fuzz the sans-I/O server handshake driver: `ServerHandshake::receive`
//! fed in fuzzer-chosen splits, then `ServerHandshake::decide` under two
//! policies, then the server engine built from the agreement, fed the
//! leftover bytes.
//!
//! Input layout:
//!
//! - bytes 0..3: three chunk sizes, used in turn and cycled (`b < 0xc0`:
//!   `(b & 0x3f) + 1` bytes, i.e. 1..=64; `b >= 0xc0`: `(b & 0x3f) * 64 + 1`
//!   bytes, i.e. 1..=4033);
//! - the rest: the bytes the transport delivers.
//!
//! Each input runs twice, under the default limits and under small ones
//! (256 bytes, 4 headers).
//!
//! Checked properties:
//!
//! - split independence: feeding the chunks one `receive` at a time ends
//!   the same way as one `receive` of everything (the same `Request`, or
//!   the same `Rejection`, or `NeedMore` both times); `NeedMore` only below
//!   the byte limit, with `buffered()` equal to what was fed;
//! - `leftover` is exactly the bytes after the head: `stream[used..]` for
//!   the whole feed and `stream[used..fed]` for the split one, where `used`
//!   is what `parse_request` reports; the head ends with an empty line and
//!   parsing just the head gives the same request;
//! - a rejection serialises to a response that parses back with its status
//!   (>= 400) and a `Content-Length` equal to its body;
//! - `decide` with a no-op hook equals `ServerConfig::accept`; the hook
//!   runs only after the configuration accepted, and its rejection is the
//!   result;
//! - default policy: an accepted request gets no subprotocol or extension;
//!   strict policy (Origin allow-list, Basic auth, subprotocols,
//!   permessage-deflate): an accepted request has an allowed origin, the
//!   right credentials, an offered and supported subprotocol, and at most
//!   one permessage-deflate agreement, for an offer the client made;
//! - every 101 parses back with `parse_response` as exactly its bytes, and
//!   passes `ClientRequest::validate_response` for a client that sent the
//!   request's key, subprotocols and (if one was agreed) a
//!   permessage-deflate offer, negotiating the same thing;
//! - the server engine builds from the agreement and takes the leftover
//!   bytes without panicking.
#![no_main]

use std::cell::Cell;

use libfuzzer_sys::fuzz_target;
use wsstack::connection::Config;
use wsstack::driver::{server_engine, ServerHandshake, ServerProgress};
use wsstack::extensions::{ExtensionOffer, PerMessageDeflate};
use wsstack::handshake::{
    accept_key, parse_request, parse_response, Accepted, BasicAuth, ClientRequest, Rejection,
    Request, ServerConfig,
};
use wsstack::Limits;

const ORIGINS: [&str; 2] = ["https://example.com", "http://localhost:8080"];
const USER: &str = "alice";
const PASSWORD: &str = "s3cret";
const PROTOCOLS: [&str; 2] = ["chat", "superchat"];
/// Requests for this path are refused by the application hook.
const DENIED_PATH: &str = "/deny";

fn chunk_size(b: u8) -> usize {
    if b < 0xc0 {
        usize::from(b & 0x3f) + 1
    } else {
        usize::from(b & 0x3f) * 64 + 1
    }
}

/// How a feed ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    NeedMore,
    Request(Box<Request>),
    Reject(Rejection),
}

/// Feed everything at once.
fn feed_whole(limits: Limits, stream: &[u8]) -> (Outcome, Vec<u8>) {
    let mut hs = ServerHandshake::new(limits);
    match hs.receive(stream) {
        ServerProgress::NeedMore => {
            assert_eq!(hs.buffered(), stream.len());
            (Outcome::NeedMore, Vec::new())
        }
        ServerProgress::Request { request, leftover } => (Outcome::Request(request), leftover),
        ServerProgress::Reject(r) => (Outcome::Reject(r), Vec::new()),
    }
}

/// Feed in chunks until something other than `NeedMore`; returns the
/// outcome, the leftover and how many bytes had been fed by then.
fn feed_split(limits: Limits, stream: &[u8], sizes: &[u8; 3]) -> (Outcome, Vec<u8>, usize) {
    let mut hs = ServerHandshake::new(limits);
    let mut pos = 0;
    let mut i = 0;
    while pos < stream.len() {
        let end = (pos + chunk_size(sizes[i % 3])).min(stream.len());
        i += 1;
        let progress = hs.receive(&stream[pos..end]);
        pos = end;
        match progress {
            ServerProgress::NeedMore => {
                assert_eq!(hs.buffered(), pos, "buffered() is not what was fed");
                assert!(pos < limits.max_handshake_bytes, "NeedMore at {pos} bytes");
            }
            ServerProgress::Request { request, leftover } => {
                return (Outcome::Request(request), leftover, pos)
            }
            ServerProgress::Reject(r) => return (Outcome::Reject(r), Vec::new(), pos),
        }
    }
    (Outcome::NeedMore, Vec::new(), pos)
}

fn check_rejection(rej: &Rejection) {
    let bytes = rej.to_bytes();
    let (resp, used) = parse_response(&bytes, &Limits::default())
        .unwrap_or_else(|e| panic!("own rejection does not parse: {e:?}: {bytes:?}"))
        .unwrap_or_else(|| panic!("own rejection is incomplete: {bytes:?}"));
    assert_eq!(used + rej.response.body.len(), bytes.len(), "head/body split is off");
    assert_eq!(resp.status, rej.response.status);
    assert!(resp.status >= 400, "rejection with status {}", resp.status);
    assert_eq!(
        resp.header("content-length"),
        Some(rej.response.body.len().to_string().as_str())
    );
    if resp.status == 401 {
        assert!(resp.header("www-authenticate").is_some());
    }
    let _ = rej.error.to_string();
}

/// The 101 parses back and a client that sent this request accepts it.
fn check_accepted(req: &Request, acc: &Accepted) {
    let bytes = acc.to_bytes();
    let (resp, used) = parse_response(&bytes, &Limits::default())
        .unwrap_or_else(|e| panic!("own 101 does not parse: {e:?}: {bytes:?}"))
        .unwrap_or_else(|| panic!("own 101 is incomplete: {bytes:?}"));
    assert_eq!(used, bytes.len(), "101 head ends early: {bytes:?}");
    assert_eq!(resp.status, 101);
    let key = req.key().expect("accepted without a key");
    assert_eq!(
        resp.header("sec-websocket-accept"),
        Some(accept_key(key).as_str())
    );
    if let Some(p) = &acc.subprotocol {
        assert!(req.subprotocols().contains(&p.as_str()));
    }
    let mut client = ClientRequest::new("ws://127.0.0.1:9001/x")
        .expect("constant URL")
        .with_key(key.trim())
        .with_subprotocols(req.subprotocols());
    if !acc.extensions.is_empty() {
        client = client.with_extension(PerMessageDeflate::new());
    }
    match client.validate_response(&resp) {
        Ok(neg) => {
            assert_eq!(neg.subprotocol, acc.subprotocol);
            let responses: Vec<ExtensionOffer> =
                acc.extensions.iter().map(|(_, r)| r.clone()).collect();
            assert_eq!(neg.extensions, responses);
        }
        Err(e) => panic!("client rejects the server's 101 ({e:?}): {bytes:?}"),
    }
}

/// `decide` under `config`, with and without a refusing application hook.
fn decide(config: &ServerConfig, req: &Request) -> Option<Accepted> {
    let direct = config.accept(req);
    let called = Cell::new(false);
    let decided = ServerHandshake::decide(config, req, |r| {
        called.set(true);
        assert_eq!(r, req);
        if r.path() == DENIED_PATH {
            Err(Rejection::status(404))
        } else {
            Ok(())
        }
    });
    assert_eq!(called.get(), direct.is_ok(), "hook ran after a refusal");
    match (&direct, &decided) {
        (Ok(_), Err(rej)) => {
            assert_eq!(req.path(), DENIED_PATH);
            assert_eq!(rej, &Rejection::status(404));
        }
        _ => assert_eq!(direct, decided, "decide differs from accept"),
    }
    match decided {
        Ok(acc) => {
            check_accepted(req, &acc);
            Some(acc)
        }
        Err(rej) => {
            check_rejection(&rej);
            None
        }
    }
}

fn strict_config() -> ServerConfig {
    ServerConfig::new()
        .with_allowed_origins(ORIGINS)
        .with_basic_auth(BasicAuth::single_user("fuzz", USER, PASSWORD))
        .with_subprotocols(PROTOCOLS)
        .with_extension(PerMessageDeflate::new())
}

/// Build the server engine for an agreement and hand it the leftover.
fn run_engine(config: &ServerConfig, acc: &Accepted, leftover: &[u8]) {
    let mut engine = server_engine(Config::default(), config, &acc.extensions)
        .expect("default engine config is valid");
    engine.receive(leftover);
    for _ in 0..64 {
        match engine.poll_event() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let mut out = Vec::new();
    engine.poll_transmit(&mut out);
}

fn run(limits: Limits, sizes: &[u8; 3], stream: &[u8]) {
    let (whole, whole_left) = feed_whole(limits, stream);
    let (split, split_left, fed) = feed_split(limits, stream, sizes);
    assert_eq!(whole, split, "split feed ends differently (limits {limits:?})");

    let parsed = parse_request(stream, &limits);
    let req = match whole {
        Outcome::NeedMore => {
            // Still waiting: no complete request is missed, and an error
            // the parser would see lies in the unfinished last line (the
            // driver decides on complete lines, or on the first read).
            assert!(!matches!(parsed, Ok(Some(_))), "complete request missed");
            if parsed.is_err() {
                let lines = stream.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                assert_eq!(parse_request(&stream[..lines], &limits), Ok(None));
            }
            assert!(stream.len() < limits.max_handshake_bytes);
            return;
        }
        Outcome::Reject(rej) => {
            let err = parsed.expect_err("parse_request accepts what the driver rejected");
            assert_eq!(rej, Rejection::from_error(err));
            check_rejection(&rej);
            return;
        }
        Outcome::Request(req) => req,
    };
    let (parsed_req, used) = parsed
        .expect("parse_request fails on what the driver accepted")
        .expect("parse_request incomplete on what the driver accepted");
    assert_eq!(*req, parsed_req);
    assert!(used <= fed && fed <= stream.len());
    assert!(used <= limits.max_handshake_bytes);
    let head = &stream[..used];
    assert!(
        head.ends_with(b"\n\r\n") || head.ends_with(b"\n\n"),
        "head does not end with an empty line: {head:?}"
    );
    assert_eq!(parse_request(head, &limits), Ok(Some((parsed_req, used))));
    assert_eq!(whole_left, &stream[used..], "whole-feed leftover");
    assert_eq!(split_left, &stream[used..fed], "split-feed leftover");

    let default = ServerConfig::new().with_limits(limits);
    if let Some(acc) = decide(&default, &req) {
        assert!(acc.subprotocol.is_none() && acc.extensions.is_empty());
        run_engine(&default, &acc, &whole_left);
    }

    let strict = strict_config().with_limits(limits);
    if let Some(acc) = decide(&strict, &req) {
        let origin = req.origin().expect("accepted without an Origin");
        assert!(ORIGINS.iter().any(|o| o.eq_ignore_ascii_case(origin.trim())));
        let creds = req.basic_auth().expect("accepted without credentials");
        assert_eq!((creds.user.as_str(), creds.password.as_str()), (USER, PASSWORD));
        if let Some(p) = &acc.subprotocol {
            assert!(PROTOCOLS.contains(&p.as_str()));
        }
        let offers = req.extensions().expect("accepted with a malformed extensions header");
        assert!(acc.extensions.len() <= 1);
        for (offer, response) in &acc.extensions {
            assert!(offers.contains(offer), "agreement for an offer not made");
            assert_eq!(response.name, "permessage-deflate");
        }
        run_engine(&strict, &acc, &split_left);
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let sizes = [data[0], data[1], data[2]];
    let stream = &data[3..];
    run(Limits::default(), &sizes, stream);
    run(
        Limits::default().with_max_handshake_bytes(256).with_max_headers(4),
        &sizes,
        stream,
    );
});
