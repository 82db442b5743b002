//! Helpers for the compression interop tests (`interop_deflate.rs` with
//! Python `websockets`, `interop_deflate_node.rs` with Node `ws` and
//! deflate-frame): sizes and payload kinds, a TCP stream that counts its
//! bytes (to prove the data went compressed), the peer programs, our
//! echo server and our client session, and the checks both files share.
//!
//! Needs `mod support;` next to `mod support_deflate;`.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::support::{binary_payload, first_line, text_payload, PEER_TIMEOUT};
use wsstack::connection::{Config, Event};
use wsstack::extensions::ExtensionFactory;
use wsstack::handshake::{ClientRequest, ServerConfig};
use wsstack::{Connection, Error, Message};

/// Safety bound on every blocking read and write of ours.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

pub const SIZES: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 1 << 20];
pub const SIZES_ARG: &str = "0,1,125,126,65535,65536,1048576";
pub const BIG: usize = 16 << 20;

/// Kinds of payload: text, binary, and "far" (see [`far_payload`]).
pub const KINDS_ARG: &str = "text,binary,far";
/// Messages per size in a peer client's run: 3 kinds, whole and fragmented.
pub const PER_SIZE: usize = 6;

/// Fragment size of our automatic fragmentation (`Config::fragment_size`).
pub const AUTO_FRAGMENT: usize = 16 * 1024;

/// A 3000-byte pseudo-random block repeated (the same as the peers'
/// "far" kind): it only compresses with back-references 3000 bytes away,
/// beyond a 9-, 10- or 11-bit window. A compressor that ignores the agreed
/// window sends such references, and the peer's small-window inflater fails
/// ("invalid distance too far back").
pub fn far_payload(size: usize) -> Vec<u8> {
    let mut x: u32 = 1;
    let block: Vec<u8> = (0..3000)
        .map(|_| {
            x = x.wrapping_mul(1103515245).wrapping_add(12345) & 0x7fff_ffff;
            (x >> 16) as u8
        })
        .collect();
    block.iter().copied().cycle().take(size).collect()
}

// ---------------------------------------------------------------------------
// Byte counting on our socket: proof that the payloads went compressed.

#[derive(Clone, Default)]
pub struct Wire {
    pub read: Arc<AtomicUsize>,
    pub written: Arc<AtomicUsize>,
}

impl Wire {
    pub fn read(&self) -> usize {
        self.read.load(Ordering::Relaxed)
    }
    pub fn written(&self) -> usize {
        self.written.load(Ordering::Relaxed)
    }
}

pub struct Counted {
    pub tcp: TcpStream,
    pub wire: Wire,
}

impl Counted {
    pub fn new(tcp: TcpStream) -> (Counted, Wire) {
        tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        // A fragment, a ping and the next fragment are separate writes: no
        // Nagle delay between them.
        tcp.set_nodelay(true).unwrap();
        let wire = Wire::default();
        (
            Counted {
                tcp,
                wire: wire.clone(),
            },
            wire,
        )
    }
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.tcp.read(buf)?;
        self.wire.read.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.tcp.write(buf)?;
        self.wire.written.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// `wire` bytes carried `payload` bytes of our test messages, a third
/// each text, binary and "far": with compression they must be well under
/// the payload, without it they are over. (The text repeats every 36 bytes
/// and shrinks ~100:1 with any window; the binary pattern repeats every 256
/// bytes, beyond the 250-byte reach of a 9-bit zlib window; "far" repeats
/// every 3000 bytes, beyond 9-11-bit windows. So with 9-bit windows only
/// the text shrinks: ~67% overall.)
pub fn assert_compressed(what: &str, wire: usize, payload: usize) {
    assert!(
        payload > 1 << 20 && wire * 5 < payload * 4,
        "{what}: {wire} bytes on the wire for {payload} bytes of payload: not compressed"
    );
}

// ---------------------------------------------------------------------------
// Extension header parameters, as a set ("name", "flag", "param=value").

pub fn header_params(header: &str) -> BTreeSet<String> {
    header
        .split(';')
        .map(|p| p.trim().replace(' ', ""))
        .filter(|p| !p.is_empty())
        .collect()
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The string value of `"key":"..."` in a compact JSON line.
pub fn json_str(raw: &str, key: &str) -> Option<String> {
    let start = raw.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let end = raw[start..].find('"')? + start;
    Some(raw[start..end].to_owned())
}

/// ws's accepted `params` object (`{"k":v,...}`, flat) as header params
/// (`true` flags as the bare name), plus the extension name.
pub fn node_params(raw: &str) -> BTreeSet<String> {
    let start = raw.find("\"params\":{").expect("params object") + "\"params\":{".len();
    let end = raw[start..].find('}').unwrap() + start;
    let mut out = set(&["permessage-deflate"]);
    for pair in raw[start..end].split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once(':').unwrap();
        let k = k.trim_matches('"');
        out.insert(if v == "true" {
            k.to_owned()
        } else {
            format!("{k}={v}")
        });
    }
    out
}

/// Python's view of its negotiated permessage-deflate, as printed by
/// py_deflate.py (`local` is the peer's own compressor).
pub fn py_extension(local_nct: bool, remote_nct: bool, local_bits: u8, remote_bits: u8) -> String {
    format!(
        "\"extensions\":[{{\"name\":\"permessage-deflate\",\"local_no_context_takeover\":{local_nct},\"remote_no_context_takeover\":{remote_nct},\"local_max_window_bits\":{local_bits},\"remote_max_window_bits\":{remote_bits}}}]"
    )
}

// ---------------------------------------------------------------------------
// Peer processes.

pub fn peer_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

pub fn python(args: &[&str]) -> Command {
    let mut c = Command::new(crate::support::python());
    c.arg(peer_script("py_deflate.py")).args(args);
    c
}

pub fn node(args: &[&str]) -> Command {
    let dir = crate::support::node_peers();
    let mut c = Command::new("node");
    c.arg(dir.join("node_deflate.js"))
        .args(args)
        .current_dir(dir);
    c
}

/// A peer server process; killed on drop.
pub struct PeerServer {
    pub child: Child,
    pub _stdin: ChildStdin,
    pub port: u16,
}

impl PeerServer {
    pub fn start(mut cmd: Command, what: &str) -> PeerServer {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdin = child.stdin.take().unwrap();
        // The guard exists before we wait, so a failure below kills it too.
        let mut server = PeerServer {
            child,
            _stdin: stdin,
            port: 0,
        };
        let line = first_line(server.child.stdout.take().unwrap(), what);
        server.port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{what} printed {line:?} instead of PORT <n>"));
        server
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a peer client against our server to its one JSON line (the client
/// is killed afterwards, always), and collect our server's report of the
/// connection. A failing client fails the test with both sides' views.
pub fn run_peer_client(
    mut cmd: Command,
    server: &Receiver<ServerReport>,
    what: &str,
) -> (String, ServerReport) {
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Kill(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}")),
    );
    let line = first_line(child.0.stdout.take().unwrap(), what);
    if !line.starts_with("{\"ok\":true") {
        let ours = server.recv_timeout(Duration::from_secs(5));
        panic!("{what}: the peer client failed: {line:?}\nour server: {ours:?}");
    }
    (line, server_report(server))
}

// ---------------------------------------------------------------------------
// Our server: `Connection::accept` on a thread, echoing.

/// How our server sends its echo.
#[derive(Clone, Copy, Debug)]
pub enum Echo {
    /// `send`: one frame.
    Whole,
    /// `send_fragment` in 3 parts (cut at any byte) with a ping between.
    Fragments,
    /// `send` with `Config::fragment_size` = [`AUTO_FRAGMENT`].
    Auto,
}

/// What one connection to our server saw.
#[derive(Debug)]
pub struct ServerReport {
    pub names: Vec<String>,
    pub offer: String,
    pub response: String,
    pub echoed: usize,
    pub payload: usize,
    pub wire: (usize, usize),
    pub close: Option<(u16, String)>,
    pub error: Option<String>,
}

/// Serve `conns` connections, one after the other, on 127.0.0.1:0.
pub fn our_server(
    handshake: ServerConfig,
    echo: Echo,
    conns: usize,
) -> (SocketAddr, Receiver<ServerReport>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for _ in 0..conns {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            if tx.send(serve_one(tcp, &handshake, echo)).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

pub fn serve_one(tcp: TcpStream, handshake: &ServerConfig, echo: Echo) -> ServerReport {
    let (stream, wire) = Counted::new(tcp);
    let config = match echo {
        Echo::Auto => Config::default().with_fragment_size(Some(AUTO_FRAGMENT)),
        _ => Config::default(),
    };
    let mut report = ServerReport {
        names: Vec::new(),
        offer: String::new(),
        response: String::new(),
        echoed: 0,
        payload: 0,
        wire: (0, 0),
        close: None,
        error: None,
    };
    let (mut conn, request) = match Connection::accept(stream, handshake, config) {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(format!("handshake: {e}"));
            return report;
        }
    };
    report.names = conn
        .engine()
        .extension_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    report.offer = request
        .header("sec-websocket-extensions")
        .unwrap_or_default()
        .to_owned();
    // The same decision again, to see the response header we sent.
    report.response = handshake
        .accept(&request)
        .ok()
        .and_then(|a| {
            a.response
                .header("sec-websocket-extensions")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let result = (|| -> Result<(), Error> {
        while let Some(message) = conn.recv()? {
            report.payload += message.len();
            match echo {
                Echo::Whole | Echo::Auto => conn.send(message)?,
                Echo::Fragments => {
                    let bytes = message.as_bytes();
                    let (a, b) = (bytes.len() / 3, bytes.len() * 2 / 3);
                    conn.send_fragment(message.kind(), &bytes[..a], false)?;
                    conn.ping(b"between")?;
                    conn.send_fragment(message.kind(), &bytes[a..b], false)?;
                    conn.send_fragment(message.kind(), &bytes[b..], true)?;
                }
            }
            report.echoed += 1;
        }
        Ok(())
    })();
    report.error = result.err().map(|e| e.to_string());
    report.close = conn.close_status().map(|(c, r)| (c.as_u16(), r.to_owned()));
    report.wire = (wire.read(), wire.written());
    report
}

pub fn server_report(rx: &Receiver<ServerReport>) -> ServerReport {
    rx.recv_timeout(PEER_TIMEOUT)
        .expect("our server finished the connection in time")
}

/// The report of a clean permessage-deflate connection that echoed
/// `echoed` compressible messages.
pub fn check_server_report(r: &ServerReport, name: &str, echoed: usize, case: &str) {
    assert_eq!(r.error, None, "{case}: our server failed: {r:?}");
    assert_eq!(r.names, [name], "{case}: negotiated on our side");
    assert_eq!(r.echoed, echoed, "{case}: messages echoed by our server");
    assert_eq!(
        r.close.as_ref().map(|c| c.0),
        Some(1000),
        "{case}: close code seen by our server"
    );
    assert_compressed(&format!("{case}: into our server"), r.wire.0, r.payload);
}

// ---------------------------------------------------------------------------
// Our client: `Connection::connect`, round trips through a peer echo server.

pub struct OurClient {
    pub conn: Connection<Counted>,
    pub wire: Wire,
    /// The server's Sec-WebSocket-Extensions.
    pub response: String,
    /// Payload bytes we sent and received.
    pub sent: usize,
    pub received: usize,
}

impl OurClient {
    pub fn connect(url: &str, ext: impl ExtensionFactory + 'static, config: Config) -> OurClient {
        let request = ClientRequest::new(url).unwrap().with_extension(ext);
        let (stream, wire) = Counted::new(TcpStream::connect(request.address()).unwrap());
        let (conn, response) = Connection::connect(stream, &request, config)
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        OurClient {
            conn,
            wire,
            response: response
                .header("sec-websocket-extensions")
                .unwrap_or_default()
                .to_owned(),
            sent: 0,
            received: 0,
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.conn.engine().extension_names()
    }

    /// The next message, counting the pongs before it.
    pub fn next_message(&mut self) -> (Message, usize) {
        let mut pongs = 0;
        loop {
            match self.conn.next_event() {
                Ok(Event::Message(Message::Text(t))) => break (Message::Text(t), pongs),
                Ok(Event::Message(Message::Binary(b))) => break (Message::Binary(b), pongs),
                Ok(Event::Pong(_)) => pongs += 1,
                Ok(Event::Ping(_)) => {}
                other => panic!("waiting for a message: {other:?}"),
            }
        }
    }

    pub fn expect(&mut self, want: &Message, what: &str) -> usize {
        let (got, pongs) = self.next_message();
        self.received += got.len();
        assert!(
            got.kind() == want.kind() && got.as_bytes() == want.as_bytes(),
            "{what}: got a {:?} message of {} bytes",
            got.kind(),
            got.len()
        );
        pongs
    }

    /// Send whole (auto-fragmented if the config says so); check the echo.
    pub fn echo_whole(&mut self, message: &Message, what: &str) {
        self.conn.send(message.clone()).unwrap();
        self.sent += message.len();
        self.expect(message, &format!("{what}, sent whole"));
    }

    /// Send with `send_fragment` cut at `cuts`, a ping after each fragment
    /// but the last; check the echo and the pongs.
    pub fn echo_fragments(&mut self, message: &Message, cuts: &[usize], what: &str) {
        let bytes = message.as_bytes();
        let mut start = 0;
        for &cut in cuts {
            self.conn
                .send_fragment(message.kind(), &bytes[start..cut], false)
                .unwrap();
            self.conn.ping(b"between").unwrap();
            start = cut;
        }
        self.conn
            .send_fragment(message.kind(), &bytes[start..], true)
            .unwrap();
        self.sent += bytes.len();
        let pongs = self.expect(message, &format!("{what}, sent in fragments"));
        assert_eq!(pongs, cuts.len(), "{what}: pongs between the fragments");
    }

    /// Every size, each kind: whole, then in 3 fragments with pings.
    pub fn round_trips(&mut self, sizes: &[usize], fragments: bool, what: &str) {
        for &size in sizes {
            for message in [
                Message::Text(text_payload(size)),
                Message::Binary(binary_payload(size)),
                Message::Binary(far_payload(size)),
            ] {
                let what = format!("{what}: {:?} of {size} bytes", message.kind());
                self.echo_whole(&message, &what);
                if fragments {
                    self.echo_fragments(&message, &[size / 3, size * 2 / 3], &what);
                }
            }
        }
    }

    /// A text message cut inside UTF-8 characters.
    pub fn split_characters(&mut self, what: &str) {
        let text: String = "héllo wörld ✓ 🦀 ".repeat(5000);
        let cut = |from: usize| (from..).find(|&i| !text.is_char_boundary(i)).unwrap();
        let cuts = [cut(1), cut(text.len() / 2), cut(text.len() - 8)];
        self.echo_fragments(
            &Message::Text(text.clone()),
            &cuts,
            &format!("{what}: text cut inside characters"),
        );
    }

    /// Ask a peer server for its view of the negotiation.
    pub fn command(&mut self, cmd: &str) -> String {
        self.conn.send(cmd).unwrap();
        match self.next_message().0 {
            Message::Text(t) => t,
            other => panic!("{cmd}: got {other:?}"),
        }
    }

    /// The peer server sends each message in fragments.
    pub fn peer_fragments(&mut self, sizes: &[usize], what: &str) {
        for &size in sizes {
            for (kind, message) in [
                ("text", Message::Text(text_payload(size))),
                ("binary", Message::Binary(binary_payload(size))),
                ("far", Message::Binary(far_payload(size))),
            ] {
                self.conn
                    .send(format!("cmd:fragments:{kind}:{size}:4"))
                    .unwrap();
                self.expect(
                    &message,
                    &format!("{what}: peer's fragmented {kind} {size}"),
                );
            }
        }
    }

    /// Close with 1000 and check the peer's answer; check that both
    /// directions went compressed (when `ours_compressed`).
    pub fn finish(mut self, ours_compressed: bool, what: &str) {
        let (code, _) = self.conn.close(1000, "").unwrap();
        assert_eq!(code, 1000, "{what}: the peer's close code");
        if ours_compressed {
            assert_compressed(&format!("{what}: out"), self.wire.written(), self.sent);
        }
        assert_compressed(&format!("{what}: in"), self.wire.read(), self.received);
    }
}

/// The full exchange of our client with a peer echo server: whole,
/// `send_fragment` and characters split across fragments on one
/// connection, the peer's own fragments, then automatic fragmentation on a
/// second connection. Returns the peer's `cmd:extensions` report.
pub fn our_client_session(
    url: &str,
    ext: impl ExtensionFactory + Clone + 'static,
    expect: &BTreeSet<String>,
    ours_compressed: bool,
    what: &str,
) -> String {
    let mut client = OurClient::connect(url, ext.clone(), Config::default());
    assert_eq!(client.names(), ["permessage-deflate"], "{what}");
    assert_eq!(
        &header_params(&client.response),
        expect,
        "{what}: the server's response {:?}",
        client.response
    );
    client.round_trips(&SIZES, true, what);
    client.split_characters(what);
    let peer = client.command("cmd:extensions");
    client.peer_fragments(&[0, 125, 65536, 1 << 20], what);
    client.finish(ours_compressed, what);

    let auto = Config::default().with_fragment_size(Some(AUTO_FRAGMENT));
    let mut client = OurClient::connect(url, ext, auto);
    assert_eq!(client.names(), ["permessage-deflate"], "{what}");
    client.round_trips(&SIZES, false, &format!("{what} (auto fragments)"));
    client.finish(ours_compressed, &format!("{what} (auto fragments)"));
    peer
}
