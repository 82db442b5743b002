//! Helpers for the message-level interop tests (`interop_connection.rs`,
//! `interop_connection_close.rs`): the peer programs and their reports,
//! our server and client sides, payloads and descriptions.
//!
//! Needs `mod support;` next to `mod support_conn;`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::support::{binary_payload, text_payload, Peer, PEER_TIMEOUT};
use wsstack::connection::{Config, MessageKind};
use wsstack::handshake::{ClientRequest, ServerConfig};
use wsstack::{Connection, Message};

/// Safety bound on every blocking read and write of ours.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

pub const SIZES: [usize; 8] = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20];
pub const SIZES_ARG: &str = "0,1,125,126,65535,65536,1048576,16777216";

/// Size and fragment count of the fragmented-message tests: 4 frames of
/// 25 000 bytes, 3 pings between them.
pub const FRAG_SIZE: usize = 100_000;
pub const FRAGMENTS: usize = 4;

pub const KINDS: [MessageKind; 2] = [MessageKind::Text, MessageKind::Binary];

// ---------------------------------------------------------------------------
// Peer processes (the new scripts; the plain echo ones go through `support`).

pub fn peer_command(peer: Peer, script: &str) -> Command {
    match peer {
        Peer::Python => {
            let mut c = Command::new(crate::support::python());
            c.arg(
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/peers")
                    .join(format!("py_{script}.py")),
            );
            c
        }
        Peer::Node => {
            let dir = crate::support::node_peers();
            let mut c = Command::new("node");
            c.arg(dir.join(format!("node_{script}.js")));
            c.current_dir(dir);
            c
        }
    }
}

/// A flat JSON value as the peers print them.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

/// Parse one flat JSON object (`{"k": v, ...}` with string, number, bool
/// or null values), as printed by the peer programs.
pub fn parse_flat_json(line: &str) -> Option<HashMap<String, Json>> {
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
pub struct Report {
    pub raw: String,
    pub fields: HashMap<String, Json>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.fields.get("ok") == Some(&Json::Bool(true))
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        match self.fields.get(key)? {
            Json::Num(n) => Some(*n as i64),
            _ => None,
        }
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        match self.fields.get(key)? {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Run `{py,node}_<script>` to completion (killed after [`PEER_TIMEOUT`])
/// and parse its JSON line.
pub fn run_peer(peer: Peer, script: &str, args: &[&str]) -> Report {
    let mut child = peer_command(peer, script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {peer:?} {script}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let raw = crate::support::first_line(stdout, &format!("{peer:?} {script}"));
    let _ = child.kill();
    let _ = child.wait();
    let fields = parse_flat_json(&raw)
        .unwrap_or_else(|| panic!("{peer:?} {script} printed {raw:?}, not a JSON object"));
    Report { raw, fields }
}

/// A running `{py,node}_conn_server`; killed on drop.
pub struct ConnServer {
    pub child: Child,
    pub _stdin: ChildStdin,
    pub port: u16,
}

impl ConnServer {
    pub fn start(peer: Peer) -> ConnServer {
        let mut child = peer_command(peer, "conn_server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {peer:?} conn_server: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let what = format!("{peer:?} conn_server");
        let port = crate::support::port_of(&crate::support::first_line(stdout, &what), &what);
        ConnServer {
            child,
            _stdin: stdin,
            port,
        }
    }

    pub fn url(&self) -> String {
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
pub struct OurServer<T> {
    pub url: String,
    pub rx: mpsc::Receiver<T>,
    pub handle: JoinHandle<()>,
}

impl<T: Send + 'static> OurServer<T> {
    pub fn start(serve: impl FnOnce(Connection<TcpStream>) -> T + Send + 'static) -> OurServer<T> {
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
    pub fn finish(self) -> T {
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
pub fn our_client(url: &str) -> Connection<TcpStream> {
    let request = ClientRequest::new(url).unwrap();
    let tcp = TcpStream::connect(request.address()).unwrap();
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let (conn, _response) = Connection::connect(tcp, &request, Config::default())
        .unwrap_or_else(|e| panic!("our client: handshake with {url}: {e}"));
    conn
}

pub fn expected(kind: MessageKind, size: usize) -> Message {
    match kind {
        MessageKind::Text => Message::Text(text_payload(size)),
        MessageKind::Binary => Message::Binary(binary_payload(size)),
    }
}

pub fn kind_arg(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Text => "text",
        MessageKind::Binary => "binary",
    }
}

/// `data` cut into `n` pieces the way the peers cut it (ceil(len / n)
/// each, the last one shorter).
pub fn split(data: &[u8], n: usize) -> Vec<&[u8]> {
    let step = data.len().div_ceil(n).max(1);
    let mut parts: Vec<&[u8]> = data.chunks(step).collect();
    parts.resize(n, &[]);
    parts
}

/// Short description of a message for assertion output.
pub fn describe(m: &Message) -> String {
    format!("{:?} of {} bytes", m.kind(), m.len())
}
