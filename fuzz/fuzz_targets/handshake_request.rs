//! Fuzz the server side of the opening handshake: `parse_request`, every
//! `Request` accessor, `ServerConfig::accept` under two policies, and the
//! serialised 101 / rejection responses.
//!
//! Checked properties:
//!
//! - `used <= data.len()` and `used <= max_handshake_bytes`; sampled strict
//!   prefixes of the head parse as `Ok(None)`; parsing exactly `data[..used]`
//!   gives the same request (trailing bytes belong to the WebSocket stream);
//! - `Ok(None)` only while below the byte limit;
//! - parsing under smaller limits agrees with the default limits whenever
//!   the request fits the smaller ones;
//! - accessor consistency: `path` + `?` + `query` is the target, cookie names
//!   are non-empty, Basic user names contain no `:`;
//! - an accepted request satisfies the policy (allowed origin, right
//!   credentials, an offered subprotocol), and its 101 response parses back
//!   and passes `ClientRequest::validate_response` for the request's key;
//! - a rejection parses back with the status of its error, and its body is
//!   exactly `Content-Length` bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsstack::extensions::{parse_extensions, ExtensionOffer, PerMessageDeflate};
use wsstack::handshake::{
    accept_key, parse_request, parse_response, Accepted, BasicAuth, ClientRequest, Rejection,
    Request, ServerConfig,
};
use wsstack::Limits;

const ORIGINS: [&str; 2] = ["https://example.com", "http://localhost:8080"];
const USER: &str = "alice";
const PASSWORD: &str = "s3cret";
const PROTOCOLS: [&str; 2] = ["chat", "superchat"];

fn exercise_accessors(req: &Request) {
    let _ = req.method();
    let target = req.target();
    let path = req.path();
    match req.query() {
        Some(q) => assert_eq!(format!("{path}?{q}"), target),
        None => assert_eq!(path, target),
    }
    let pairs = req.query_pairs();
    if let Some((k, v)) = pairs.first() {
        // The first pair with a name is what query_param returns.
        let first = pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(req.query_param(k), first);
        let _ = v;
    }
    let _ = req.query_param("room");
    let _ = req.http_minor_version();
    for (name, value) in req.headers().iter() {
        assert!(req.header(name).is_some());
        let _ = value;
    }
    for (name, _) in req.cookies() {
        assert!(!name.is_empty());
        assert!(req.cookie(name).is_some());
    }
    let _ = req.cookie("session");
    let _ = (req.origin(), req.host(), req.key(), req.websocket_version());
    for p in req.subprotocols() {
        assert!(!p.is_empty() && !p.contains(','));
        assert_eq!(p, p.trim());
    }
    if let Ok(offers) = req.extensions() {
        // Display and parse are inverse on what the parser accepted.
        let text: Vec<String> = offers.iter().map(ToString::to_string).collect();
        let again = parse_extensions(&[text.join(", ")]).expect("re-parse of Display output");
        assert_eq!(again, offers);
    }
    if let Some(c) = req.basic_auth() {
        assert!(!c.user.contains(':'));
        let _ = format!("{c:?}");
    }
}

/// The response a server sends parses back as one complete head.
fn reparse(bytes: &[u8], body_len: usize) -> wsstack::handshake::Response {
    let (resp, used) = parse_response(bytes, &Limits::default())
        .unwrap_or_else(|e| panic!("own response does not parse: {e:?}: {bytes:?}"))
        .unwrap_or_else(|| panic!("own response is incomplete: {bytes:?}"));
    assert_eq!(used + body_len, bytes.len(), "head/body split is off");
    resp
}

fn check_accepted(req: &Request, acc: &Accepted, offers: &[ExtensionOffer]) {
    let bytes = acc.to_bytes();
    let resp = reparse(&bytes, 0);
    assert_eq!(resp.status, 101);
    let key = req.key().expect("accepted without a key");
    assert_eq!(resp.header("sec-websocket-accept"), Some(accept_key(key).as_str()));
    if let Some(p) = &acc.subprotocol {
        assert!(req.subprotocols().contains(&p.as_str()));
    }
    // What a client that sent this request would make of the response.
    let mut client = ClientRequest::new("ws://127.0.0.1:9001/x")
        .expect("constant URL")
        .with_key(key.trim())
        .with_subprotocols(req.subprotocols());
    if !acc.extensions.is_empty() {
        client = client.with_extension(PerMessageDeflate::new());
    }
    let _ = offers;
    match client.validate_response(&resp) {
        Ok(neg) => {
            assert_eq!(neg.subprotocol, acc.subprotocol);
            let responses: Vec<ExtensionOffer> = acc.extensions.iter().map(|(_, r)| r.clone()).collect();
            assert_eq!(neg.extensions, responses);
        }
        Err(e) => panic!("client rejects the server's 101 ({e:?}): {bytes:?}"),
    }
}

fn check_rejection(rej: &Rejection) {
    let bytes = rej.to_bytes();
    let resp = reparse(&bytes, rej.response.body.len());
    assert_eq!(resp.status, rej.response.status);
    assert!(resp.status >= 400, "rejection with status {}", resp.status);
    assert_eq!(
        resp.header("content-length"),
        Some(rej.response.body.len().to_string().as_str())
    );
    let _ = rej.error.to_string();
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let parsed = parse_request(data, &limits);

    // Smaller limits agree whenever the request fits them.
    let small = Limits::default()
        .with_max_handshake_bytes(256)
        .with_max_headers(4);
    let parsed_small = parse_request(data, &small);
    if let Ok(Some((req, used))) = &parsed {
        if *used <= small.max_handshake_bytes && req.headers().len() <= small.max_headers {
            assert_eq!(&parsed_small, &parsed, "small limits disagree");
        }
    }
    if let Ok(Some(_)) = &parsed_small {
        assert_eq!(&parsed_small, &parsed, "default limits disagree");
    }

    let (req, used) = match parsed {
        Ok(Some(x)) => x,
        Ok(None) => {
            assert!(data.len() < limits.max_handshake_bytes);
            return;
        }
        Err(e) => {
            assert!(e.status().is_some(), "parse error without a status: {e:?}");
            check_rejection(&Rejection::from_error(e));
            return;
        }
    };

    assert!(used <= data.len(), "used {used} > {}", data.len());
    assert!(used <= limits.max_handshake_bytes);
    assert!(req.headers().len() <= limits.max_headers);
    // Sampled strict prefixes are incomplete, never errors.
    let mut cuts = vec![0, used / 2, used / 3, used * 3 / 4];
    cuts.extend((1..=4).filter_map(|d| used.checked_sub(d)));
    if let Some(&b) = data.first() {
        cuts.push(usize::from(b) % used.max(1));
    }
    for cut in cuts.into_iter().filter(|&c| c < used) {
        assert_eq!(
            parse_request(&data[..cut], &limits),
            Ok(None),
            "prefix {cut} of a {used}-byte head"
        );
    }
    // Trailing bytes do not change the request.
    assert_eq!(
        parse_request(&data[..used], &limits),
        Ok(Some((req.clone(), used)))
    );

    exercise_accessors(&req);
    let offers = req.extensions().unwrap_or_default();

    // Default policy.
    match ServerConfig::new().accept(&req) {
        Ok(acc) => {
            assert!(acc.subprotocol.is_none() && acc.extensions.is_empty());
            check_accepted(&req, &acc, &offers);
        }
        Err(rej) => check_rejection(&rej),
    }

    // Origin allow-list, Basic auth, subprotocols, echoing extension hook.
    let strict = ServerConfig::new()
        .with_allowed_origins(ORIGINS)
        .with_basic_auth(BasicAuth::single_user("fuzz", USER, PASSWORD))
        .with_subprotocols(PROTOCOLS)
        .with_extension(PerMessageDeflate::new());
    match strict.accept(&req) {
        Ok(acc) => {
            let origin = req.origin().expect("accepted without an Origin");
            assert!(ORIGINS
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin.trim())));
            let creds = req.basic_auth().expect("accepted without credentials");
            assert_eq!((creds.user.as_str(), creds.password.as_str()), (USER, PASSWORD));
            // At most one permessage-deflate agreement, for an offer the
            // client made.
            assert!(acc.extensions.len() <= 1);
            for (offer, response) in &acc.extensions {
                assert!(offers.contains(offer));
                assert_eq!(response.name, "permessage-deflate");
            }
            if let Some(p) = &acc.subprotocol {
                assert!(PROTOCOLS.contains(&p.as_str()));
            }
            check_accepted(&req, &acc, &offers);
        }
        Err(rej) => {
            if rej.response.status == 401 {
                assert!(rej.response.header("www-authenticate").is_some());
            }
            check_rejection(&rej);
        }
    }
});
