//! The message-level [`wsstack::Connection`] against third-party peers
//! (Python `websockets`, Node `ws`), both as server and as client:
//! echo of every length class up to 16 MiB, fragmented messages with pings
//! between the fragments, close codes and reasons both ways, and the close
//! codes our server fails a broken raw-socket client with (1007, 1002).
//!
//! Peer programs: `tests/peers/{py,node}_{client,server}` (plain echo),
//! `{py,node}_conn_{client,server}` (fragments, pings, closes) and
//! `{py,node}_raw_client` (hand-made broken frames); see their headers.

mod support;

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use support::{binary_payload, run_client, spawn_server, text_payload, Peer, PEER_TIMEOUT};
use wsstack::connection::{Config, Event, MessageKind, ProtocolError};
use wsstack::frame::FrameError;
use wsstack::handshake::{ClientRequest, ServerConfig};
use wsstack::CloseCode;
use wsstack::{Connection, Error, Message};

/// Safety bound on every blocking read and write of ours.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

const SIZES: [usize; 8] = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20];
const SIZES_ARG: &str = "0,1,125,126,65535,65536,1048576,16777216";

/// Size and fragment count of the fragmented-message tests: 4 frames of
/// 25 000 bytes, 3 pings between them.
const FRAG_SIZE: usize = 100_000;
const FRAGMENTS: usize = 4;

const KINDS: [MessageKind; 2] = [MessageKind::Text, MessageKind::Binary];

// ---------------------------------------------------------------------------
// Peer processes (the new scripts; the plain echo ones go through `support`).

fn peer_command(peer: Peer, script: &str) -> Command {
    match peer {
        Peer::Python => {
            let mut c = Command::new(support::python());
            c.arg(
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/peers")
                    .join(format!("py_{script}.py")),
            );
            c
        }
        Peer::Node => {
            let dir = support::node_peers();
            let mut c = Command::new("node");
            c.arg(dir.join(format!("node_{script}.js")));
            c.current_dir(dir);
            c
        }
    }
}

/// A flat JSON value as the peers print them.
#[derive(Clone, Debug, PartialEq)]
enum Json {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

/// Parse one flat JSON object (`{"k": v, ...}` with string, number, bool
/// or null values), as printed by the peer programs.
fn parse_flat_json(line: &str) -> Option<HashMap<String, Json>> {
    fn string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
        if chars.next()? != '"' {
            return None;
        }
        let mut s = String::new();
        loop {
            match chars.next()? {
                '"' => return Some(s),
                '\\' => match chars.next()? {
                    'n' => s.push('\n'),
                    't' => s.push('\t'),
                    'r' => s.push('\r'),
                    'b' => s.push('\u{8}'),
                    'f' => s.push('\u{c}'),
                    'u' => {
                        let hex: String = (0..4).map(|_| chars.next()).collect::<Option<_>>()?;
                        let unit = u32::from_str_radix(&hex, 16).ok()?;
                        // Lone surrogates (never printed by our peers) become U+FFFD.
                        s.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
                    }
                    c => s.push(c),
                },
                c => s.push(c),
            }
        }
    }
    fn skip_ws(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
    }
    let mut chars = line.trim().chars().peekable();
    let mut map = HashMap::new();
    if chars.next()? != '{' {
        return None;
    }
    loop {
        skip_ws(&mut chars);
        if chars.peek() == Some(&'}') {
            return Some(map);
        }
        let key = string(&mut chars)?;
        skip_ws(&mut chars);
        if chars.next()? != ':' {
            return None;
        }
        skip_ws(&mut chars);
        let value = match chars.peek()? {
            '"' => Json::Str(string(&mut chars)?),
            _ => {
                let mut word = String::new();
                while chars.peek().is_some_and(|c| !matches!(c, ',' | '}')) {
                    word.push(chars.next()?);
                }
                match word.trim() {
                    "true" => Json::Bool(true),
                    "false" => Json::Bool(false),
                    "null" => Json::Null,
                    n => Json::Num(n.parse().ok()?),
                }
            }
        };
        map.insert(key, value);
        skip_ws(&mut chars);
        match chars.next()? {
            ',' => continue,
            '}' => return Some(map),
            _ => return None,
        }
    }
}

/// What a peer client reported (one JSON line).
#[derive(Debug)]
struct Report {
    raw: String,
    fields: HashMap<String, Json>,
}

impl Report {
    fn ok(&self) -> bool {
        self.fields.get("ok") == Some(&Json::Bool(true))
    }

    fn int(&self, key: &str) -> Option<i64> {
        match self.fields.get(key)? {
            Json::Num(n) => Some(*n as i64),
            _ => None,
        }
    }

    fn str(&self, key: &str) -> Option<&str> {
        match self.fields.get(key)? {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Run `{py,node}_<script>` to completion (killed after [`PEER_TIMEOUT`])
/// and parse its JSON line.
fn run_peer(peer: Peer, script: &str, args: &[&str]) -> Report {
    let mut child = peer_command(peer, script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {peer:?} {script}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let raw = support::first_line(stdout, &format!("{peer:?} {script}"));
    let _ = child.kill();
    let _ = child.wait();
    let fields = parse_flat_json(&raw)
        .unwrap_or_else(|| panic!("{peer:?} {script} printed {raw:?}, not a JSON object"));
    Report { raw, fields }
}

/// A running `{py,node}_conn_server`; killed on drop.
struct ConnServer {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
}

impl ConnServer {
    fn start(peer: Peer) -> ConnServer {
        let mut child = peer_command(peer, "conn_server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {peer:?} conn_server: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let what = format!("{peer:?} conn_server");
        let port = support::port_of(&support::first_line(stdout, &what), &what);
        ConnServer {
            child,
            _stdin: stdin,
            port,
        }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/conn", self.port)
    }
}

impl Drop for ConnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Our side.

/// Our server: one connection accepted on a port-0 listener and handed to
/// `serve` in a thread.
struct OurServer<T> {
    url: String,
    rx: mpsc::Receiver<T>,
    handle: JoinHandle<()>,
}

impl<T: Send + 'static> OurServer<T> {
    fn start(serve: impl FnOnce(Connection<TcpStream>) -> T + Send + 'static) -> OurServer<T> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ws://{}/conn", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        let handle = thread::spawn(move || {
            let (tcp, _) = listener.accept().expect("accept");
            tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
            let (conn, _request) = Connection::accept(tcp, &ServerConfig::new(), Config::default())
                .expect("our server: handshake");
            let _ = tx.send(serve(conn));
        });
        OurServer { url, rx, handle }
    }

    /// The server's result (bounded by [`PEER_TIMEOUT`]); a panic in the
    /// server thread is re-raised here.
    fn finish(self) -> T {
        match self.rx.recv_timeout(PEER_TIMEOUT) {
            Ok(value) => value,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("our server did not finish in time"),
            Err(mpsc::RecvTimeoutError::Disconnected) => match self.handle.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!("server thread ended without a result"),
            },
        }
    }
}

/// Our client connected to `url`.
fn our_client(url: &str) -> Connection<TcpStream> {
    let request = ClientRequest::new(url).unwrap();
    let tcp = TcpStream::connect(request.address()).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let (conn, _response) = Connection::connect(tcp, &request, Config::default())
        .unwrap_or_else(|e| panic!("our client: handshake with {url}: {e}"));
    conn
}

fn expected(kind: MessageKind, size: usize) -> Message {
    match kind {
        MessageKind::Text => Message::Text(text_payload(size)),
        MessageKind::Binary => Message::Binary(binary_payload(size)),
    }
}

fn kind_arg(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Text => "text",
        MessageKind::Binary => "binary",
    }
}

/// `data` cut into `n` pieces the way the peers cut it (ceil(len / n)
/// each, the last one shorter).
fn split(data: &[u8], n: usize) -> Vec<&[u8]> {
    let step = data.len().div_ceil(n).max(1);
    let mut parts: Vec<&[u8]> = data.chunks(step).collect();
    parts.resize(n, &[]);
    parts
}

/// Short description of a message for assertion output.
fn describe(m: &Message) -> String {
    format!("{:?} of {} bytes", m.kind(), m.len())
}

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
