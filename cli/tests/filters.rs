//! Every built-in filter, and a filter of one's own, in real `wsstack
//! serve` processes with real WebSocket clients: what clients receive and
//! what the server prints.

mod support;

use std::time::Duration;

use support::{example, Server, Ws};
use wsstack::Message;

/// A short wait for something that must not happen.
const QUIET: Duration = Duration::from_millis(300);

#[test]
fn the_defaults_broadcast_and_print() {
    let server = Server::start(&[]);
    let mut a = Ws::connect(&server.url("/"));
    let mut b = Ws::connect(&server.url("/"));
    a.send("hello from a");
    // Everyone gets it, the sender included, once.
    assert_eq!(a.recv_text(), "hello from a");
    assert_eq!(b.recv_text(), "hello from a");
    let (line, _) = server.line_containing("hello from a");
    assert!(
        line.starts_with("client ") && line.ends_with(": hello from a"),
        "{line}"
    );
    b.send(vec![1u8, 2, 3]);
    assert_eq!(a.recv(), Message::Binary(vec![1, 2, 3]));
    assert_eq!(b.recv(), Message::Binary(vec![1, 2, 3]));
    let (line, _) = server.line_containing("<binary 3 bytes>");
    assert!(line.starts_with("client "), "{line}");
    assert!(a.recv_within(QUIET).is_none(), "nothing more");
}

#[test]
fn echo_answers_the_sender_only_and_stops_the_chain() {
    let server = Server::start(&[
        "--filter",
        "stdout_rawdata",
        "--filter",
        "echo",
        "--filter",
        "stdout_messages",
    ]);
    let mut a = Ws::connect(&server.url("/"));
    let mut b = Ws::connect(&server.url("/"));
    a.send("one");
    assert_eq!(a.recv_text(), "one");
    a.send("two");
    assert_eq!(a.recv_text(), "two");
    assert!(b.recv_within(QUIET).is_none(), "echo is not a broadcast");
    // The raw-data filter before echo printed both; stdout_messages after
    // it never ran.
    let (first, _) = server.line_containing("rawdata (3 bytes): one");
    let (_, between) = server.line_containing("rawdata (3 bytes): two");
    assert!(first.starts_with("client "), "{first}");
    assert!(
        between.is_empty(),
        "stdout_messages ran after echo: {between:?}"
    );
}

#[test]
fn stdout_rawdata_prints_the_payload_bytes_escaped() {
    let server = Server::start(&["--filter", "stdout_rawdata"]);
    let mut a = Ws::connect(&server.url("/"));
    a.send(vec![b'h', b'i', 0, 0xff, b'\n']);
    let (line, _) = server.line_containing("rawdata");
    assert!(
        line.ends_with("rawdata (5 bytes): hi\\x00\\xff\\n"),
        "{line}"
    );
    a.send("é");
    let (line, _) = server.line_containing("rawdata (2 bytes)");
    assert!(line.ends_with("\\xc3\\xa9"), "{line}");
}

#[test]
fn broadcast_by_token_reaches_the_same_token_only() {
    let server = Server::start(&[
        "--filter",
        "broadcast_messages_by_token",
        "--filter",
        "stdout_messages",
    ]);
    let mut red1 = Ws::connect(&server.url("/?token=red"));
    let mut red2 = Ws::connect(&server.url("/chat?token=red"));
    let mut blue = Ws::connect(&server.url("/?token=blue"));
    let mut none = Ws::connect(&server.url("/"));
    // Each one's own message comes back: it is in its room.
    red2.send("red2 here");
    assert_eq!(red2.recv_text(), "red2 here");
    blue.send("blue here");
    assert_eq!(blue.recv_text(), "blue here");
    assert_eq!(red1.recv_text(), "red2 here");
    red1.send("for red");
    assert_eq!(red1.recv_text(), "for red");
    assert_eq!(red2.recv_text(), "for red");
    // A client without a token sends to no one (but it is printed).
    none.send("from nowhere");
    let _ = server.line_containing("from nowhere");
    // The token message: answered, not broadcast, not printed.
    none.send("token:blue");
    assert_eq!(none.recv_text(), "token set: blue");
    none.send("now blue");
    assert_eq!(none.recv_text(), "now blue");
    assert_eq!(blue.recv_text(), "now blue");
    // Changing the token leaves the old room.
    blue.send("token:red");
    assert_eq!(blue.recv_text(), "token set: red");
    none.send("blue again");
    assert_eq!(none.recv_text(), "blue again");
    red1.send("red again");
    assert_eq!(
        blue.recv_text(),
        "red again",
        "blue left blue and joined red"
    );
    assert_eq!(red1.recv_text(), "red again");
    assert!(
        red1.recv_within(QUIET).is_none(),
        "red1 got nothing of blue's"
    );
    let (_, lines) = server.line_containing("red again");
    assert!(!lines.iter().any(|l| l.contains("token:")), "{lines:?}");
}

#[test]
fn a_filter_of_ones_own_by_name() {
    let server = Server::start_program(
        &example("custom_filter"),
        &["--filter", "shout", "--filter", "echo"],
    );
    let mut a = Ws::connect(&server.url("/"));
    a.send("quiet please");
    assert_eq!(a.recv_text(), "QUIET PLEASE");
    a.send(vec![b'a']);
    assert_eq!(a.recv(), Message::Binary(vec![b'a']));
    // Its --help lists it with the built-ins.
    let out = support::run(&example("custom_filter"), &["serve", "--help"], b"");
    assert!(
        out.stdout.contains("  shout ") && out.stdout.contains("  echo "),
        "{}",
        out.stdout
    );
}

#[test]
fn threaded_server_and_deflate() {
    let server = Server::start(&["--server", "threaded", "--deflate", "--filter", "echo"]);
    let (mut conn, response) = wsstack::ClientBuilder::new(server.url("/"))
        .no_proxy()
        .connect()
        .unwrap();
    assert_eq!(
        response.header("Sec-WebSocket-Extensions"),
        Some("permessage-deflate; server_no_context_takeover")
    );
    conn.send("z".repeat(10_000)).unwrap();
    assert_eq!(
        conn.recv().unwrap(),
        Some(Message::from("z".repeat(10_000)))
    );
}
