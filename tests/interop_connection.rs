//! The message-level [`wsstack::Connection`] against third-party peers
//! (Python `websockets`, Node `ws`), both as server and as client: echo
//! of every length class up to 16 MiB, and fragmented messages with pings
//! between the fragments, both ways. Close codes and broken frames are in
//! `interop_connection_close.rs`; the helpers both use in
//! `tests/support_conn/`.
//!
//! Peer programs: `tests/peers/{py,node}_{client,server}` (plain echo) and
//! `{py,node}_conn_{client,server}` (fragments, pings); see their headers.

mod support;
mod support_conn;

use std::net::TcpStream;

use support::{run_client, spawn_server, Peer};
use support_conn::*;
use wsstack::connection::{Event, MessageKind};
use wsstack::CloseCode;
use wsstack::{Connection, Error, Message};

// ---------------------------------------------------------------------------
// 1. Echo of every length class, both directions.

/// What our echo server saw: each message's kind, length and whether it
/// was the deterministic payload, then the close status.
type EchoLog = (Vec<(MessageKind, usize, bool)>, Option<(CloseCode, String)>);

fn echo_server(mut conn: Connection<TcpStream>) -> Result<EchoLog, Error> {
    let mut seen = Vec::new();
    while let Some(message) = conn.recv()? {
        let intact = message == expected(message.kind(), message.len());
        seen.push((message.kind(), message.len(), intact));
        conn.send(message)?;
    }
    let status = conn.close_status().map(|(c, r)| (c, r.to_owned()));
    Ok((seen, status))
}

fn peer_client_echoes_through_our_server(peer: Peer) {
    let server = OurServer::start(echo_server);
    let report = run_client(peer, &["--url", &server.url, "--sizes", SIZES_ARG]);
    let result = server.finish();
    assert!(
        report.ok,
        "{peer:?} client: {} (our server: {result:?})",
        report.raw
    );
    let (seen, status) = result.expect("our echo server");
    let compact: String = report.raw.split_whitespace().collect();
    assert!(
        compact.contains(&format!("\"echoed\":{}", SIZES.len() * 2)),
        "{peer:?} client: {}",
        report.raw
    );
    let want: Vec<_> = KINDS
        .iter()
        .flat_map(|&k| SIZES.iter().map(move |&s| (k, s, true)))
        .collect();
    assert_eq!(seen, want, "messages our server received from {peer:?}");
    assert_eq!(
        status,
        Some((CloseCode::NORMAL, String::new())),
        "{peer:?} close"
    );
}

#[test]
fn python_client_echoes_all_sizes_through_our_server() {
    peer_client_echoes_through_our_server(Peer::Python);
}

#[test]
fn node_client_echoes_all_sizes_through_our_server() {
    peer_client_echoes_through_our_server(Peer::Node);
}

fn our_client_echoes_through_peer_server(peer: Peer) {
    let server = spawn_server(peer, &[]);
    let mut conn = our_client(&server.url("/echo"));
    for kind in KINDS {
        for size in SIZES {
            let message = expected(kind, size);
            conn.send(message.clone()).unwrap();
            let echo = conn
                .recv()
                .unwrap()
                .unwrap_or_else(|| panic!("{peer:?} closed instead of echoing {kind:?} {size}"));
            assert!(
                echo == message,
                "{peer:?}: echo of {kind:?} {size} came back as {}",
                describe(&echo)
            );
        }
    }
    let (code, _reason) = conn.close(1000, "done").unwrap();
    assert_eq!(code, 1000, "{peer:?} answered our Close with {code}");
    assert_eq!(conn.close_status().map(|(c, _)| c), Some(CloseCode::NORMAL));
}

#[test]
fn our_client_echoes_all_sizes_through_python_server() {
    our_client_echoes_through_peer_server(Peer::Python);
}

#[test]
fn our_client_echoes_all_sizes_through_node_server() {
    our_client_echoes_through_peer_server(Peer::Node);
}

// ---------------------------------------------------------------------------
// 2a. The peer sends a fragmented message with pings between the fragments.

/// Everything a connection delivered until it closed.
#[derive(Debug, Default)]
struct Seen {
    messages: Vec<Message>,
    pings: Vec<Vec<u8>>,
    pongs: Vec<Vec<u8>>,
    closed: Option<(CloseCode, String)>,
    /// The order of data and ping events: 'M' message, 'P' ping.
    order: String,
}

fn ping_payloads(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix}-{i}").into_bytes())
        .collect()
}

/// Our server: record events until the close; echo every message.
fn recording_echo_server(mut conn: Connection<TcpStream>) -> Result<Seen, Error> {
    let mut seen = Seen::default();
    loop {
        match conn.next_event()? {
            Event::Message(Message::Text(t)) => {
                conn.send_text(&t)?;
                seen.messages.push(Message::Text(t));
                seen.order.push('M');
            }
            Event::Message(Message::Binary(b)) => {
                conn.send_binary(&b)?;
                seen.messages.push(Message::Binary(b));
                seen.order.push('M');
            }
            Event::Ping(p) => {
                seen.pings.push(p);
                seen.order.push('P');
            }
            Event::Pong(p) => seen.pongs.push(p),
            Event::Chunk { .. } => panic!("chunk event without streaming"),
            Event::Closed { code, reason } => {
                seen.closed = Some((code, reason));
                return Ok(seen);
            }
        }
    }
}

fn peer_sends_fragments_with_pings_to_our_server(peer: Peer) {
    for kind in KINDS {
        let server = OurServer::start(recording_echo_server);
        let report = run_peer(
            peer,
            "conn_client",
            &[
                "--url",
                &server.url,
                "--mode",
                "send-fragments",
                "--kind",
                kind_arg(kind),
                "--size",
                &FRAG_SIZE.to_string(),
                "--fragments",
                &FRAGMENTS.to_string(),
            ],
        );
        let result = server.finish();
        assert!(
            report.ok(),
            "{peer:?} {kind:?}: {} (our server: {result:?})",
            report.raw
        );
        let seen = result.expect("our server");
        // The peer got a pong for every ping and the whole message back once.
        assert_eq!(
            report.int("pongs"),
            Some(FRAGMENTS as i64 - 1),
            "{}",
            report.raw
        );
        assert_eq!(report.int("echoed"), Some(1), "{}", report.raw);
        // We delivered exactly one whole message, and saw every ping.
        let got: Vec<_> = seen.messages.iter().map(describe).collect();
        assert_eq!(got, [describe(&expected(kind, FRAG_SIZE))], "{peer:?}");
        assert!(
            seen.messages[0] == expected(kind, FRAG_SIZE),
            "{peer:?}: payload differs"
        );
        assert_eq!(seen.pings, ping_payloads("ping", FRAGMENTS - 1), "{peer:?}");
        // The pings arrived inside the message (before its last fragment).
        assert_eq!(
            seen.order,
            format!("{}M", "P".repeat(FRAGMENTS - 1)),
            "{peer:?}: event order"
        );
        assert_eq!(
            seen.closed.map(|(c, _)| c),
            Some(CloseCode::NORMAL),
            "{peer:?}"
        );
    }
}

#[test]
fn python_client_fragments_with_pings_reach_our_server_whole() {
    peer_sends_fragments_with_pings_to_our_server(Peer::Python);
}

#[test]
fn node_client_fragments_with_pings_reach_our_server_whole() {
    peer_sends_fragments_with_pings_to_our_server(Peer::Node);
}

fn peer_server_sends_fragments_with_pings_to_our_client(peer: Peer) {
    let server = ConnServer::start(peer);
    let mut conn = our_client(&server.url());
    for kind in KINDS {
        let command = format!("fragments:{}:{FRAG_SIZE}:{FRAGMENTS}", kind_arg(kind));
        conn.send_text(&command).unwrap();
        let mut seen = Seen::default();
        // Until the peer's verdict on the pongs ("pongs:N"), which it sends
        // after the fragmented message.
        let verdict = loop {
            match conn.next_event().unwrap() {
                Event::Message(Message::Text(t)) if t.starts_with("pong") => break t,
                Event::Message(Message::Text(t)) => {
                    seen.messages.push(Message::Text(t));
                    seen.order.push('M');
                }
                Event::Message(Message::Binary(b)) => {
                    seen.messages.push(Message::Binary(b));
                    seen.order.push('M');
                }
                Event::Ping(p) => {
                    seen.pings.push(p);
                    seen.order.push('P');
                }
                other => panic!("{peer:?}: unexpected {other:?}"),
            }
        };
        let got: Vec<_> = seen.messages.iter().map(describe).collect();
        assert_eq!(got, [describe(&expected(kind, FRAG_SIZE))], "{peer:?}");
        assert!(
            seen.messages[0] == expected(kind, FRAG_SIZE),
            "{peer:?}: payload differs"
        );
        assert_eq!(seen.pings, ping_payloads("ping", FRAGMENTS - 1), "{peer:?}");
        // The pings arrived inside the message (before its last fragment).
        assert_eq!(
            seen.order,
            format!("{}M", "P".repeat(FRAGMENTS - 1)),
            "{peer:?}: event order"
        );
        assert_eq!(verdict, format!("pongs:{}", FRAGMENTS - 1), "{peer:?}");
    }
    let (code, _) = conn.close(1000, "").unwrap();
    assert_eq!(code, 1000);
}

#[test]
fn python_server_fragments_with_pings_reach_our_client_whole() {
    peer_server_sends_fragments_with_pings_to_our_client(Peer::Python);
}

#[test]
fn node_server_fragments_with_pings_reach_our_client_whole() {
    peer_server_sends_fragments_with_pings_to_our_client(Peer::Node);
}

// ---------------------------------------------------------------------------
// 2b. We send a fragmented message with pings between the fragments.

/// Send `message` as [`FRAGMENTS`] fragments with a ping ("ours-0", ...)
/// after each but the last; then read until the echo and every pong are
/// in. Returns what was seen.
fn send_fragments_with_pings(
    conn: &mut Connection<TcpStream>,
    message: &Message,
) -> Result<Seen, String> {
    let parts = split(message.as_bytes(), FRAGMENTS);
    for (i, part) in parts.iter().enumerate() {
        let fin = i == parts.len() - 1;
        conn.send_fragment(message.kind(), part, fin)
            .map_err(|e| format!("send_fragment {i}: {e}"))?;
        if !fin {
            conn.ping(format!("ours-{i}").as_bytes())
                .map_err(|e| format!("ping {i}: {e}"))?;
        }
    }
    let mut seen = Seen::default();
    while seen.messages.is_empty() || seen.pongs.len() < FRAGMENTS - 1 {
        match conn.next_event() {
            Ok(Event::Message(Message::Text(t))) => seen.messages.push(Message::Text(t)),
            Ok(Event::Message(Message::Binary(b))) => seen.messages.push(Message::Binary(b)),
            Ok(Event::Ping(p)) => seen.pings.push(p),
            Ok(Event::Pong(p)) => seen.pongs.push(p),
            other => {
                return Err(format!(
                    "{other:?} while waiting for the echo and pongs (so far {seen:?})"
                ))
            }
        }
    }
    Ok(seen)
}

fn our_server_sends_fragments_with_pings_to_peer(peer: Peer) {
    for kind in KINDS {
        let server = OurServer::start(move |mut conn| {
            let seen = send_fragments_with_pings(&mut conn, &expected(kind, FRAG_SIZE))?;
            let reply = conn.close(1000, "done").map_err(|e| e.to_string())?;
            Ok::<_, String>((seen, reply))
        });
        let report = run_peer(
            peer,
            "conn_client",
            &[
                "--url",
                &server.url,
                "--mode",
                "recv-fragments",
                "--kind",
                kind_arg(kind),
                "--size",
                &FRAG_SIZE.to_string(),
            ],
        );
        let result = server.finish();
        // The peer received one whole, intact message and nothing else.
        assert!(
            report.ok(),
            "{peer:?} {kind:?}: {} (our server: {result:?})",
            report.raw
        );
        let (seen, reply) = result.expect("our server");
        assert_eq!(report.int("received"), Some(1), "{}", report.raw);
        assert_eq!(report.int("extra"), Some(0), "{}", report.raw);
        assert_eq!(report.int("code"), Some(1000), "{}", report.raw);
        assert_eq!(report.str("reason"), Some("done"), "{}", report.raw);
        // It answered every ping, in order, and echoed the message intact.
        assert_eq!(seen.pongs, ping_payloads("ours", FRAGMENTS - 1), "{peer:?}");
        assert_eq!(seen.messages.len(), 1, "{peer:?}");
        assert!(
            seen.messages[0] == expected(kind, FRAG_SIZE),
            "{peer:?}: echo differs"
        );
        assert_eq!(reply.0, 1000, "{peer:?} answered our Close with {reply:?}");
    }
}

#[test]
fn our_server_fragments_with_pings_reach_python_client_whole() {
    our_server_sends_fragments_with_pings_to_peer(Peer::Python);
}

#[test]
fn our_server_fragments_with_pings_reach_node_client_whole() {
    our_server_sends_fragments_with_pings_to_peer(Peer::Node);
}

fn our_client_sends_fragments_with_pings_to_peer(peer: Peer) {
    // The plain echo server: a message echoed once, whole, proves the peer
    // reassembled it.
    let server = spawn_server(peer, &[]);
    let mut conn = our_client(&server.url("/"));
    for kind in KINDS {
        let message = expected(kind, FRAG_SIZE);
        let seen = send_fragments_with_pings(&mut conn, &message)
            .unwrap_or_else(|e| panic!("{peer:?} {kind:?}: {e}"));
        assert_eq!(seen.pongs, ping_payloads("ours", FRAGMENTS - 1), "{peer:?}");
        let got: Vec<_> = seen.messages.iter().map(describe).collect();
        assert_eq!(got, [describe(&message)], "{peer:?}");
        assert!(seen.messages[0] == message, "{peer:?}: echo differs");
    }
    let (code, _) = conn.close(1000, "").unwrap();
    assert_eq!(code, 1000);
}

#[test]
fn our_client_fragments_with_pings_reach_python_server_whole() {
    our_client_sends_fragments_with_pings_to_peer(Peer::Python);
}

#[test]
fn our_client_fragments_with_pings_reach_node_server_whole() {
    our_client_sends_fragments_with_pings_to_peer(Peer::Node);
}
