//! The message-level [`wsstack::Connection`] against third-party peers
//! (Python `websockets`, Node `ws`): close codes and reasons both ways,
//! and the close codes our server fails a broken raw-socket client with
//! (1007, 1002). The helpers are in `tests/support_conn/`, shared with
//! `interop_connection.rs`.
//!
//! Peer programs: `tests/peers/{py,node}_conn_{client,server}` (closes)
//! and `{py,node}_raw_client` (hand-made broken frames); see their headers.

mod support;
mod support_conn;

use support::Peer;
use support_conn::*;
use wsstack::connection::ProtocolError;
use wsstack::frame::FrameError;
use wsstack::CloseCode;
use wsstack::{Error, Message};

// ---------------------------------------------------------------------------
// 3. Close codes and reasons, both ways.

fn our_server_close_code_reaches_peer(peer: Peer) {
    let server = OurServer::start(|mut conn| {
        conn.send_text("before the close").unwrap();
        let reply = conn.close(4001, "bye now");
        let status = conn.close_status().map(|(c, r)| (c, r.to_owned()));
        (reply.map_err(|e| e.to_string()), status)
    });
    let report = run_peer(
        peer,
        "conn_client",
        &["--url", &server.url, "--mode", "wait-close"],
    );
    let (reply, status) = server.finish();
    assert!(report.ok(), "{peer:?}: {}", report.raw);
    assert_eq!(report.int("messages"), Some(1), "{}", report.raw);
    assert_eq!(report.int("code"), Some(4001), "{}", report.raw);
    assert_eq!(report.str("reason"), Some("bye now"), "{}", report.raw);
    // The peer echoed our code (RFC 6455 §5.5.1).
    let (code, _) = reply.expect("our close");
    assert_eq!(code, 4001, "{peer:?}");
    assert_eq!(
        status.map(|(c, _)| c),
        Some(CloseCode::new(4001)),
        "{peer:?}"
    );
}

#[test]
fn our_server_close_4001_reaches_python_client() {
    our_server_close_code_reaches_peer(Peer::Python);
}

#[test]
fn our_server_close_4001_reaches_node_client() {
    our_server_close_code_reaches_peer(Peer::Node);
}

fn peer_client_close_code_reaches_our_server(peer: Peer) {
    let server = OurServer::start(|mut conn| {
        let recv = conn.recv().map_err(|e| e.to_string());
        let status = conn.close_status().map(|(c, r)| (c, r.to_owned()));
        (recv, status)
    });
    let report = run_peer(
        peer,
        "conn_client",
        &[
            "--url",
            &server.url,
            "--mode",
            "close",
            "--code",
            "4002",
            "--reason",
            "see you",
        ],
    );
    let (recv, status) = server.finish();
    assert!(
        report.ok(),
        "{peer:?}: {} (our server: {recv:?})",
        report.raw
    );
    assert_eq!(recv, Ok(None), "{peer:?}: recv after the peer's Close");
    assert_eq!(
        status,
        Some((CloseCode::new(4002), "see you".to_owned())),
        "{peer:?}"
    );
    // We echoed the code (RFC 6455 §5.5.1).
    assert_eq!(report.int("code"), Some(4002), "{}", report.raw);
}

#[test]
fn python_client_close_4002_reaches_our_server() {
    peer_client_close_code_reaches_our_server(Peer::Python);
}

#[test]
fn node_client_close_4002_reaches_our_server() {
    peer_client_close_code_reaches_our_server(Peer::Node);
}

fn close_codes_between_our_client_and_peer_server(peer: Peer) {
    let server = ConnServer::start(peer);

    // We close with 4001 "bye now"; a second connection asks the server
    // what Close it received on the first.
    let mut conn = our_client(&server.url());
    let (code, _) = conn.close(4001, "bye now").unwrap();
    assert_eq!(code, 4001, "{peer:?} answered our Close with {code}");
    drop(conn);
    let mut query = our_client(&server.url());
    query.send_text("last-close").unwrap();
    let answer = query.recv().unwrap();
    assert_eq!(
        answer,
        Some(Message::Text("4001:bye now".into())),
        "the Close the {peer:?} server received"
    );

    // The server closes with 4002 "see you".
    query.send_text("close:4002:see you").unwrap();
    assert_eq!(
        query.recv().unwrap(),
        None,
        "{peer:?}: recv after its Close"
    );
    assert_eq!(
        query.close_status(),
        Some((CloseCode::new(4002), "see you")),
        "{peer:?}"
    );
}

#[test]
fn close_codes_between_our_client_and_python_server() {
    close_codes_between_our_client_and_peer_server(Peer::Python);
}

#[test]
fn close_codes_between_our_client_and_node_server() {
    close_codes_between_our_client_and_peer_server(Peer::Node);
}

// ---------------------------------------------------------------------------
// 4 and 5. Broken frames from a raw-socket client.

/// Our server receiving one message from a raw client: the error and the
/// close status.
/// What our server's `recv` returned, and the close status after it.
type RecvOutcome = (Result<Option<Message>, Error>, Option<(CloseCode, String)>);

fn failing_server() -> OurServer<RecvOutcome> {
    OurServer::start(|mut conn| {
        let recv = conn.recv();
        let status = conn.close_status().map(|(c, r)| (c, r.to_owned()));
        (recv, status)
    })
}

fn raw_client_gets_close_code(peer: Peer, case: &str, code: u16, error: fn(&Error) -> bool) {
    let server = failing_server();
    let report = run_peer(peer, "raw_client", &["--url", &server.url, "--case", case]);
    let (recv, status) = server.finish();
    assert!(
        matches!(&recv, Err(e) if error(e)),
        "{peer:?} {case}: our recv returned {recv:?}"
    );
    assert_eq!(
        status.map(|(c, _)| c.as_u16()),
        Some(code),
        "{peer:?} {case}"
    );
    assert!(report.ok(), "{peer:?} {case}: {}", report.raw);
    assert_eq!(
        report.int("code"),
        Some(i64::from(code)),
        "{peer:?} {case}: {}",
        report.raw
    );
    assert_eq!(report.int("frames_before_close"), Some(0), "{}", report.raw);
}

fn is_invalid_utf8(e: &Error) -> bool {
    matches!(e, Error::Protocol(ProtocolError::InvalidUtf8))
}

fn is_unmasked(e: &Error) -> bool {
    matches!(
        e,
        Error::Protocol(ProtocolError::Frame(FrameError::UnmaskedFrameFromClient))
    )
}

const UTF8_CASES: [&str; 3] = ["invalid-utf8", "truncated-utf8", "fragmented-utf8"];

#[test]
fn python_raw_client_invalid_utf8_gets_1007() {
    for case in UTF8_CASES {
        raw_client_gets_close_code(Peer::Python, case, 1007, is_invalid_utf8);
    }
}

#[test]
fn node_raw_client_invalid_utf8_gets_1007() {
    for case in UTF8_CASES {
        raw_client_gets_close_code(Peer::Node, case, 1007, is_invalid_utf8);
    }
}

#[test]
fn python_raw_client_unmasked_frame_gets_1002() {
    raw_client_gets_close_code(Peer::Python, "unmasked", 1002, is_unmasked);
}

#[test]
fn node_raw_client_unmasked_frame_gets_1002() {
    raw_client_gets_close_code(Peer::Node, "unmasked", 1002, is_unmasked);
}

#[test]
fn flat_json_parser() {
    let m =
        parse_flat_json(r#"{"ok": true, "code": 4001, "reason": "bye \"now\"\u00e9", "x": null}"#)
            .unwrap();
    assert_eq!(m["ok"], Json::Bool(true));
    assert_eq!(m["code"], Json::Num(4001.0));
    assert_eq!(m["reason"], Json::Str("bye \"now\"é".into()));
    assert_eq!(m["x"], Json::Null);
    assert!(parse_flat_json("PORT 1").is_none());
}
