//! A publication is framed (and compressed) once for every recipient that
//! frames it the same way. First on engines alone (`Engine::send_prepared`
//! and `PreparedMessage::encodings`), then through both servers with
//! Python `websockets` members offering permessage-deflate beside
//! tungstenite members that do not.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use super::*;
use wsstack::connection::{Config, Engine, Event, PreparedMessage};
use wsstack::extensions::{
    build_client, build_server, negotiate_server, PerMessageDeflate, SharedFactory,
};
use wsstack::handshake::ServerConfig;

// ---------------------------------------------------------------- engines

/// A client and a server engine that negotiated `pmd` (or nothing).
fn pair(pmd: Option<PerMessageDeflate>, config: Config) -> (Engine, Engine) {
    let client = Engine::client(config).unwrap();
    let server = Engine::server(config).unwrap();
    let Some(pmd) = pmd else {
        return (client, server);
    };
    let f: SharedFactory = Arc::new(pmd);
    let agreed = negotiate_server(std::slice::from_ref(&f), &f.offers());
    assert_eq!(agreed.len(), 1, "permessage-deflate agreed");
    let responses: Vec<_> = agreed.iter().map(|(_, r)| r.clone()).collect();
    let client = client
        .with_extensions(build_client(std::slice::from_ref(&f), &responses))
        .unwrap();
    let server = server.with_extensions(build_server(&[f], &agreed)).unwrap();
    (client, server)
}

fn pairs(n: usize, pmd: impl Fn() -> Option<PerMessageDeflate>) -> Vec<(Engine, Engine)> {
    (0..n).map(|_| pair(pmd(), Config::default())).collect()
}

fn no_context_takeover() -> Option<PerMessageDeflate> {
    Some(PerMessageDeflate::new().with_server_no_context_takeover(true))
}

/// What `client` makes of `wire`: exactly one message.
fn decode(client: &mut Engine, wire: &[u8]) -> Message {
    client.receive(wire);
    let message = match client.poll_event() {
        Ok(Some(Event::Message(m))) => m,
        other => panic!("expected a message, got {other:?}"),
    };
    assert!(matches!(client.poll_event(), Ok(None)));
    message
}

/// Compressible, as a chat line repeated would be.
fn news(n: usize) -> String {
    format!("{n}: ") + &"the hub frames a publication once. ".repeat(40)
}

/// Every engine sends `prepared`; returns the bytes each one got.
fn send_all(engines: &mut [(Engine, Engine)], prepared: &PreparedMessage) -> Vec<Arc<[u8]>> {
    engines
        .iter_mut()
        .map(|(_, server)| server.send_prepared(prepared).unwrap())
        .collect()
}

#[test]
fn plain_server_engines_share_one_encoding() {
    let mut engines = pairs(5, || None);
    let prepared = PreparedMessage::new(news(0));
    let wires = send_all(&mut engines, &prepared);
    assert_eq!(prepared.encodings(), 1);
    for wire in &wires {
        assert!(Arc::ptr_eq(wire, &wires[0]), "the very same bytes");
    }
    for (client, _) in &mut engines {
        assert_eq!(decode(client, &wires[0]), Message::Text(news(0)));
    }
}

#[test]
fn no_context_takeover_compresses_once() {
    let mut engines = pairs(5, no_context_takeover);
    for n in 0..3 {
        let prepared = PreparedMessage::new(news(n));
        let wires = send_all(&mut engines, &prepared);
        assert_eq!(prepared.encodings(), 1, "message {n}");
        for wire in &wires {
            assert!(Arc::ptr_eq(wire, &wires[0]));
        }
        assert_eq!(wires[0][0] & 0x40, 0x40, "RSV1: compressed");
        assert!(
            wires[0].len() < news(n).len() / 4,
            "{} bytes",
            wires[0].len()
        );
        for (client, _) in &mut engines {
            assert_eq!(decode(client, &wires[0]), Message::Text(news(n)));
        }
    }
}

/// With context takeover each compressor's output depends on what it sent
/// before, so every engine compresses for itself: nothing is shared, and
/// `encodings()` (which counts the shared encodings) stays 0.
#[test]
fn context_takeover_compresses_for_each() {
    let mut engines = pairs(4, || Some(PerMessageDeflate::new()));
    let mut first_len = 0;
    for n in 0..3 {
        let prepared = PreparedMessage::new(news(n));
        let wires = send_all(&mut engines, &prepared);
        assert_eq!(prepared.encodings(), 0, "message {n}: none shared");
        for (i, a) in wires.iter().enumerate() {
            for b in &wires[i + 1..] {
                assert!(!Arc::ptr_eq(a, b));
            }
        }
        for ((client, _), wire) in engines.iter_mut().zip(&wires) {
            assert_eq!(decode(client, wire), Message::Text(news(n)));
        }
        if n == 0 {
            first_len = wires[0].len();
        }
    }
    // Each engine's history shows: a repeat compresses to much less.
    let again = PreparedMessage::new(news(0));
    let wires = send_all(&mut engines, &again);
    let (first, _) = engines.split_first_mut().unwrap();
    assert_eq!(decode(&mut first.0, &wires[0]), Message::Text(news(0)));
    assert!(wires[0].len() * 2 < first_len, "{} bytes", wires[0].len());
}

/// One encoding per distinct framing: plain, compressed without context,
/// fragmented; a client (which masks) and a compressor with context get
/// their own, outside the count.
#[test]
fn each_framing_gets_one_encoding() {
    let mut engines = pairs(2, || None);
    engines.extend(pairs(2, no_context_takeover));
    let fragmenting = Config::default().with_fragment_size(Some(100));
    engines.push(pair(None, fragmenting));
    engines.push(pair(None, fragmenting));
    engines.push(pair(Some(PerMessageDeflate::new()), Config::default()));
    let prepared = PreparedMessage::new(news(7));
    let wires = send_all(&mut engines, &prepared);
    assert_eq!(prepared.encodings(), 3);
    assert!(Arc::ptr_eq(&wires[0], &wires[1]));
    assert!(Arc::ptr_eq(&wires[2], &wires[3]));
    assert!(Arc::ptr_eq(&wires[4], &wires[5]));
    assert!(!Arc::ptr_eq(&wires[0], &wires[2]) && !Arc::ptr_eq(&wires[0], &wires[4]));
    for ((client, _), wire) in engines.iter_mut().zip(&wires) {
        assert_eq!(decode(client, wire), Message::Text(news(7)));
    }
    // A client's frames are masked, each with its own key.
    let (mut client, _) = pair(None, Config::default());
    let own = client.send_prepared(&prepared).unwrap();
    assert_eq!(prepared.encodings(), 3);
    assert_eq!(own[1] & 0x80, 0x80, "masked");
}

// ---------------------------------------------------------------- servers

/// Python `websockets` members (tests/peers/py_hub_client.py); killed on
/// drop.
struct PyMembers {
    child: Child,
    lines: Receiver<String>,
}

impl PyMembers {
    fn spawn(url: &str, clients: usize, messages: usize) -> PyMembers {
        let mut child = Command::new(support::python())
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/peers/py_hub_client.py"
            ))
            .args(["--url", url, "--compression", "deflate"])
            .args(["--clients", &clients.to_string()])
            .args(["--messages", &messages.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start py_hub_client.py");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        PyMembers { child, lines }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(support::PEER_TIMEOUT)
            .expect("a line from py_hub_client.py")
    }
}

impl Drop for PyMembers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What py_hub_client.py prints when each of `clients` got `messages`.
fn received(clients: usize, messages: &[String]) -> String {
    let one = format!("[\"{}\"]", messages.join("\",\""));
    format!(
        "{{\"ok\":true,\"received\":[{}]}}",
        vec![one; clients].join(",")
    )
}

crate::both!(
    deflate_members_share_one_compression,
    context_takeover_members_each_compress
);

/// `.permessage_deflate(true)`: three Python members compress, two
/// tungstenite members do not; a publication reaches all five, and one
/// prepared message is encoded twice, compressed once and plain once.
fn deflate_members_share_one_compression(kind: Kind) {
    let (handler, mut ev) = Rooms::new();
    let server = start(kind, ServerBuilder::new().permessage_deflate(true), handler);
    let url = server.url("/?rooms=room");
    let py = PyMembers::spawn(&url, 3, 3);
    let ready = py.line();
    assert!(ready.starts_with("{\"ready\":3,"), "{ready}");
    assert_eq!(ready.matches("permessage-deflate").count(), 3, "{ready}");
    assert_eq!(ready.matches("server_no_context_takeover").count(), 3);
    let mut plain: Vec<Ws> = (0..2).map(|_| connect(&url)).collect();
    let members: Vec<Client> = (0..5).map(|_| ev.open()).collect();
    let deflating = members
        .iter()
        .filter(|c| c.extensions() == ["permessage-deflate"])
        .count();
    assert_eq!(deflating, 3);

    let messages = [news(1), news(2), "hi".to_string()];
    assert_eq!(server.hub.publish("room", messages[0].as_str()), all(5));
    let prepared = PreparedMessage::new(messages[1].as_str());
    for member in server.hub.members("room") {
        member.send_prepared(&prepared).unwrap();
    }
    assert_eq!(server.hub.publish("room", messages[2].as_str()), all(5));
    assert_eq!(py.line(), received(3, &messages));
    for ws in &mut plain {
        for m in &messages {
            assert_eq!(&text(ws), m);
        }
    }
    assert_eq!(
        prepared.encodings(),
        2,
        "one compression for the three deflate members, one plain framing for the others"
    );
    for ws in plain {
        close(ws);
    }
    for _ in 0..5 {
        ev.closed();
    }
    server.stop();
}

/// A server whose permessage-deflate keeps context: each member's
/// compressor encodes for itself, and every member still decodes.
fn context_takeover_members_each_compress(kind: Kind) {
    let (handler, mut ev) = Rooms::new();
    let handshake = ServerConfig::new().with_extension(PerMessageDeflate::new());
    let server = start(kind, ServerBuilder::new().handshake(handshake), handler);
    let py = PyMembers::spawn(&server.url("/?rooms=room"), 3, 3);
    let ready = py.line();
    assert_eq!(ready.matches("permessage-deflate").count(), 3, "{ready}");
    assert!(!ready.contains("server_no_context_takeover"), "{ready}");
    for _ in 0..3 {
        ev.open();
    }
    let messages = [news(1), news(2), news(1)];
    assert_eq!(server.hub.publish("room", messages[0].as_str()), all(3));
    let prepared = PreparedMessage::new(messages[1].as_str());
    for member in server.hub.members("room") {
        member.send_prepared(&prepared).unwrap();
    }
    assert_eq!(server.hub.publish("room", messages[2].as_str()), all(3));
    assert_eq!(py.line(), received(3, &messages));
    assert_eq!(prepared.encodings(), 0, "nothing shared");
    for _ in 0..3 {
        ev.closed();
    }
    server.stop();
}
