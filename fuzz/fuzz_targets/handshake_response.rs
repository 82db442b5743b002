//! Fuzz the client side of the opening handshake: `parse_response` and
//! `ClientRequest::validate_response`; and, from the same input, the URL
//! parser (`WsUrl::parse`, `ClientRequest::new`) and `parse_extensions`.
//!
//! Checked properties:
//!
//! - `used <= data.len()`, sampled strict prefixes parse as `Ok(None)`,
//!   trailing bytes do not change the response; `Ok(None)` only below the
//!   byte limit;
//! - a response that validates is a 101 with the right accept key, one of
//!   the offered subprotocols (or none), and only offered extensions;
//! - a URL that parses has a non-empty host and a resource starting with
//!   `/`, its `Host` form parses back to the same host and port, and the
//!   request a `ClientRequest` builds from it is one well-formed HTTP head
//!   (no header injection) carrying that resource and host;
//! - `parse_extensions` output is made of tokens and survives a
//!   Display -> parse round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsstack::extensions::{parse_extensions, ExtensionOffer, PerMessageDeflate};
use wsstack::handshake::{parse_request, parse_response, ClientRequest, WsUrl};
use wsstack::Limits;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn check_offers(offers: &[ExtensionOffer]) {
    for o in offers {
        assert!(is_token(&o.name), "extension name {:?}", o.name);
        for (k, v) in &o.params {
            assert!(is_token(k), "parameter name {k:?}");
            if let Some(v) = v {
                assert!(is_token(v), "parameter value {v:?}");
            }
        }
    }
    let text: Vec<String> = offers.iter().map(ToString::to_string).collect();
    let again = parse_extensions(&[text.join(", ")]).expect("re-parse of Display output");
    assert_eq!(again, offers);
}

fn fuzz_response(data: &[u8]) {
    let limits = Limits::default();
    let (resp, used) = match parse_response(data, &limits) {
        Ok(Some(x)) => x,
        Ok(None) => {
            assert!(data.len() < limits.max_handshake_bytes);
            return;
        }
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(used <= data.len(), "used {used} > {}", data.len());
    assert!(used <= limits.max_handshake_bytes);
    let mut cuts = vec![0, used / 2, used / 3, used * 3 / 4];
    cuts.extend((1..=4).filter_map(|d| used.checked_sub(d)));
    for cut in cuts.into_iter().filter(|&c| c < used) {
        assert_eq!(
            parse_response(&data[..cut], &limits),
            Ok(None),
            "prefix {cut} of a {used}-byte head"
        );
    }
    assert_eq!(
        parse_response(&data[..used], &limits),
        Ok(Some((resp.clone(), used)))
    );
    let _ = resp.header("sec-websocket-accept");

    let client = ClientRequest::new("ws://127.0.0.1:9001/x")
        .expect("constant URL")
        .with_key(KEY)
        .with_subprotocols(["a", "b"])
        .with_extension(PerMessageDeflate::new());
    match client.validate_response(&resp) {
        Ok(neg) => {
            assert_eq!(resp.status, 101);
            assert_eq!(resp.headers.count("sec-websocket-accept"), 1);
            assert_eq!(resp.header("sec-websocket-accept").map(str::trim), Some(ACCEPT));
            if let Some(p) = &neg.subprotocol {
                assert!(p == "a" || p == "b", "unoffered subprotocol {p:?} accepted");
            }
            for e in &neg.extensions {
                assert!(
                    e.name.eq_ignore_ascii_case("permessage-deflate"),
                    "unoffered extension {:?} accepted",
                    e.name
                );
            }
            check_offers(&neg.extensions);
        }
        Err(e) => {
            let _ = (e.to_string(), e.status(), e.is_caller_error());
        }
    }
}

fn fuzz_url(text: &str) {
    let Ok(url) = WsUrl::parse(text) else {
        return;
    };
    assert!(!url.host.is_empty());
    assert!(url.resource.starts_with('/'), "resource {:?}", url.resource);
    let host_header = url.host_header();

    // A client request built from the URL is one well-formed head.
    let req = ClientRequest::new(text).expect("WsUrl::parse accepted it");
    assert_eq!(req.url(), &url);
    assert_eq!(req.address(), (url.host.as_str(), url.port));
    let bytes = req.to_bytes();
    match parse_request(&bytes, &Limits::default()) {
        Ok(Some((parsed, used))) => {
            assert_eq!(used, bytes.len(), "request head ends early: {bytes:?}");
            assert_eq!(parsed.target(), url.resource);
            assert_eq!(parsed.host(), Some(host_header.as_str()));
            assert_eq!(parsed.key(), Some(req.key()));
        }
        // Over the default 16 KiB limit is not the URL's fault.
        Err(wsstack::handshake::HandshakeError::TooLarge { .. }) => {}
        other => panic!("request built from {text:?} parses as {other:?}: {bytes:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    fuzz_response(data);

    let text = String::from_utf8_lossy(data);
    fuzz_url(&text);

    if let Ok(offers) = parse_extensions(&[text.as_ref()]) {
        check_offers(&offers);
    }
    let lines: Vec<&str> = text.split('\n').collect();
    if let Ok(offers) = parse_extensions(&lines) {
        check_offers(&offers);
    }
});
