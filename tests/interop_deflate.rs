//! Compression extensions against real peers, in both directions, through
//! the blocking [`wsstack::Connection`] (`Connection::accept` on our side as
//! server, `Connection::connect` as client):
//!
//! - permessage-deflate with Python `websockets` (its default
//!   `compression="deflate"`, and a factory with every RFC 7692 parameter):
//!   text and binary of 0 B .. 1 MiB whole and fragmented (the peer's
//!   fragments; ours with `send_fragment` and with `Config::fragment_size`),
//!   and 16 MiB of each kind each way;
//! - permessage-deflate with Node `ws`, with each of its `perMessageDeflate`
//!   options (no context takeover either way, server windows 8/9/10/15,
//!   client windows 8/9/12/`true`, `threshold: 0`) and with each parameter
//!   set on our side instead;
//! - deflate-frame (and its `x-webkit-deflate-frame` name): neither
//!   `websockets` nor `ws` implements it (both support permessage-deflate
//!   only), so it is tested between our own client and server over TCP.
//!
//! Every case checks that the extension was negotiated on both sides (our
//! `Engine::extension_names()`, the peer's own report: Python
//! `ws.protocol.extensions`, Node `ws.extensions` plus the accepted `params`)
//! with the parameters expected, that every payload arrives intact, that the
//! close handshake ends with 1000, and — by counting the bytes on our TCP
//! socket — that the data really went compressed both ways. Besides text
//! and binary, a "far" binary payload (a 3000-byte random block repeated)
//! checks that each compressor keeps to the agreed window: with 9-11-bit
//! windows an inflater fails on a back-reference 3000 bytes away.
//!
//! Peer programs: `tests/peers/py_deflate.py` and `tests/peers/node_deflate.js`
//! (see their headers).
#![cfg(feature = "deflate")]

mod support;

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

use support::{binary_payload, text_payload, PEER_TIMEOUT};
use wsstack::connection::{Config, Event};
use wsstack::extensions::{DeflateFrame, ExtensionFactory, PerMessageDeflate};
use wsstack::handshake::{ClientRequest, ServerConfig};
use wsstack::{Connection, Error, Message};

/// Safety bound on every blocking read and write of ours.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

const SIZES: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 1 << 20];
const SIZES_ARG: &str = "0,1,125,126,65535,65536,1048576";
const BIG: usize = 16 << 20;

/// Kinds of payload: text, binary, and "far" (see [`far_payload`]).
const KINDS_ARG: &str = "text,binary,far";
/// Messages per size in a peer client's run: 3 kinds, whole and fragmented.
const PER_SIZE: usize = 6;

/// Fragment size of our automatic fragmentation (`Config::fragment_size`).
const AUTO_FRAGMENT: usize = 16 * 1024;

/// A 3000-byte pseudo-random block repeated (the same as the peers'
/// "far" kind): it only compresses with back-references 3000 bytes away,
/// beyond a 9-, 10- or 11-bit window. A compressor that ignores the agreed
/// window sends such references, and the peer's small-window inflater fails
/// ("invalid distance too far back").
fn far_payload(size: usize) -> Vec<u8> {
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
struct Wire {
    read: Arc<AtomicUsize>,
    written: Arc<AtomicUsize>,
}

impl Wire {
    fn read(&self) -> usize {
        self.read.load(Ordering::Relaxed)
    }
    fn written(&self) -> usize {
        self.written.load(Ordering::Relaxed)
    }
}

struct Counted {
    tcp: TcpStream,
    wire: Wire,
}

impl Counted {
    fn new(tcp: TcpStream) -> (Counted, Wire) {
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
fn assert_compressed(what: &str, wire: usize, payload: usize) {
    assert!(
        payload > 1 << 20 && wire * 5 < payload * 4,
        "{what}: {wire} bytes on the wire for {payload} bytes of payload: not compressed"
    );
}

// ---------------------------------------------------------------------------
// Extension header parameters, as a set ("name", "flag", "param=value").

fn header_params(header: &str) -> BTreeSet<String> {
    header
        .split(';')
        .map(|p| p.trim().replace(' ', ""))
        .filter(|p| !p.is_empty())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The string value of `"key":"..."` in a compact JSON line.
fn json_str(raw: &str, key: &str) -> Option<String> {
    let start = raw.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let end = raw[start..].find('"')? + start;
    Some(raw[start..end].to_owned())
}

/// ws's accepted `params` object (`{"k":v,...}`, flat) as header params
/// (`true` flags as the bare name), plus the extension name.
fn node_params(raw: &str) -> BTreeSet<String> {
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
fn py_extension(local_nct: bool, remote_nct: bool, local_bits: u8, remote_bits: u8) -> String {
    format!(
        "\"extensions\":[{{\"name\":\"permessage-deflate\",\"local_no_context_takeover\":{local_nct},\"remote_no_context_takeover\":{remote_nct},\"local_max_window_bits\":{local_bits},\"remote_max_window_bits\":{remote_bits}}}]"
    )
}

// ---------------------------------------------------------------------------
// Peer processes.

fn peer_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

fn python(args: &[&str]) -> Command {
    let mut c = Command::new(support::python());
    c.arg(peer_script("py_deflate.py")).args(args);
    c
}

fn node(args: &[&str]) -> Command {
    let dir = support::node_peers();
    let mut c = Command::new("node");
    c.arg(dir.join("node_deflate.js"))
        .args(args)
        .current_dir(dir);
    c
}

use support::first_line;

/// A peer server process; killed on drop.
struct PeerServer {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
}

impl PeerServer {
    fn start(mut cmd: Command, what: &str) -> PeerServer {
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

    fn url(&self) -> String {
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
fn run_peer_client(
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
enum Echo {
    /// `send`: one frame.
    Whole,
    /// `send_fragment` in 3 parts (cut at any byte) with a ping between.
    Fragments,
    /// `send` with `Config::fragment_size` = [`AUTO_FRAGMENT`].
    Auto,
}

/// What one connection to our server saw.
#[derive(Debug)]
struct ServerReport {
    names: Vec<String>,
    offer: String,
    response: String,
    echoed: usize,
    payload: usize,
    wire: (usize, usize),
    close: Option<(u16, String)>,
    error: Option<String>,
}

/// Serve `conns` connections, one after the other, on 127.0.0.1:0.
fn our_server(
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

fn serve_one(tcp: TcpStream, handshake: &ServerConfig, echo: Echo) -> ServerReport {
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

fn server_report(rx: &Receiver<ServerReport>) -> ServerReport {
    rx.recv_timeout(PEER_TIMEOUT)
        .expect("our server finished the connection in time")
}

/// The report of a clean permessage-deflate connection that echoed
/// `echoed` compressible messages.
fn check_server_report(r: &ServerReport, name: &str, echoed: usize, case: &str) {
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

struct OurClient {
    conn: Connection<Counted>,
    wire: Wire,
    /// The server's Sec-WebSocket-Extensions.
    response: String,
    /// Payload bytes we sent and received.
    sent: usize,
    received: usize,
}

impl OurClient {
    fn connect(url: &str, ext: impl ExtensionFactory + 'static, config: Config) -> OurClient {
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

    fn names(&self) -> Vec<&str> {
        self.conn.engine().extension_names()
    }

    /// The next message, counting the pongs before it.
    fn next_message(&mut self) -> (Message, usize) {
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

    fn expect(&mut self, want: &Message, what: &str) -> usize {
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
    fn echo_whole(&mut self, message: &Message, what: &str) {
        self.conn.send(message.clone()).unwrap();
        self.sent += message.len();
        self.expect(message, &format!("{what}, sent whole"));
    }

    /// Send with `send_fragment` cut at `cuts`, a ping after each fragment
    /// but the last; check the echo and the pongs.
    fn echo_fragments(&mut self, message: &Message, cuts: &[usize], what: &str) {
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
    fn round_trips(&mut self, sizes: &[usize], fragments: bool, what: &str) {
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
    fn split_characters(&mut self, what: &str) {
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
    fn command(&mut self, cmd: &str) -> String {
        self.conn.send(cmd).unwrap();
        match self.next_message().0 {
            Message::Text(t) => t,
            other => panic!("{cmd}: got {other:?}"),
        }
    }

    /// The peer server sends each message in fragments.
    fn peer_fragments(&mut self, sizes: &[usize], what: &str) {
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
    fn finish(mut self, ours_compressed: bool, what: &str) {
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
fn our_client_session(
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

// ---------------------------------------------------------------------------
// Python `websockets`.

#[test]
fn python_clients_against_our_server() {
    // (py_deflate.py --pmd, how we echo, the response we must send, what
    // Python must report)
    let all_params = r#"{"server_no_context_takeover":true,"client_no_context_takeover":true,"server_max_window_bits":10,"client_max_window_bits":9}"#;
    let cases = [
        // compression="deflate": Python offers `client_max_window_bits`
        // only, so both sides keep 15-bit windows and their context.
        (
            "",
            Echo::Whole,
            "permessage-deflate",
            py_extension(false, false, 15, 15),
        ),
        (
            "",
            Echo::Fragments,
            "permessage-deflate",
            py_extension(false, false, 15, 15),
        ),
        (
            "",
            Echo::Auto,
            "permessage-deflate",
            py_extension(false, false, 15, 15),
        ),
        // Every parameter asked for by Python; we grant them all.
        (
            all_params,
            Echo::Fragments,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9",
            py_extension(true, true, 9, 10),
        ),
    ];
    for (pmd, echo, response, py_view) in cases {
        let case = format!("python client --pmd '{pmd}', we echo {echo:?}");
        let (addr, rx) = our_server(
            ServerConfig::new().with_extension(PerMessageDeflate::new()),
            echo,
            1,
        );
        let url = format!("ws://{addr}/");
        let mut args = vec!["client", "--url", &url, "--sizes", SIZES_ARG];
        args.extend(["--fragments", "4", "--kinds", KINDS_ARG]);
        if !pmd.is_empty() {
            args.extend(["--pmd", pmd]);
        }
        let (line, r) = run_peer_client(python(&args), &rx, &case);
        assert!(line.contains(&py_view), "{case}: Python reports {line}");
        assert_eq!(
            json_str(&line, "response").as_deref(),
            Some(response),
            "{case}"
        );
        let echoed = SIZES.len() * PER_SIZE;
        assert!(
            line.contains(&format!("\"echoed\":{echoed},")),
            "{case}: {line}"
        );
        assert!(line.contains("\"close\":1000,"), "{case}: {line}");
        check_server_report(&r, "permessage-deflate", echoed, &case);
        assert_eq!(r.response, response, "{case}");
        let offer = if pmd.is_empty() {
            "permessage-deflate; client_max_window_bits"
        } else {
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9"
        };
        assert_eq!(r.offer, offer, "{case}: Python's offer");
        assert_compressed(&format!("{case}: out of our server"), r.wire.1, r.payload);
    }
}

#[test]
fn our_client_against_python_servers() {
    // Python's server defaults: 12-bit windows both ways.
    let server = PeerServer::start(python(&["server"]), "py_deflate.py server");
    let peer = our_client_session(
        &server.url(),
        PerMessageDeflate::new(),
        &set(&[
            "permessage-deflate",
            "server_max_window_bits=12",
            "client_max_window_bits=12",
        ]),
        true,
        "our client -> python server",
    );
    assert!(peer.contains(&py_extension(false, false, 12, 12)), "{peer}");
    assert!(
        peer.contains("\"offer\":\"permessage-deflate; client_max_window_bits\""),
        "{peer}"
    );

    // Every parameter asked for by us, of Python's default server.
    let ours = PerMessageDeflate::new()
        .with_server_no_context_takeover(true)
        .with_client_no_context_takeover(true)
        .with_server_max_window_bits(Some(10))
        .with_client_max_window_bits(Some(9));
    let peer = our_client_session(
        &server.url(),
        ours,
        &set(&[
            "permessage-deflate",
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits=10",
            "client_max_window_bits=9",
        ]),
        true,
        "our client (all parameters) -> python server",
    );
    assert!(peer.contains(&py_extension(true, true, 10, 9)), "{peer}");

    // A Python server that requires every parameter of us.
    let strict = PeerServer::start(
        python(&[
            "server",
            "--pmd",
            r#"{"server_no_context_takeover":true,"client_no_context_takeover":true,"server_max_window_bits":9,"client_max_window_bits":11}"#,
        ]),
        "py_deflate.py server (strict)",
    );
    let peer = our_client_session(
        &strict.url(),
        PerMessageDeflate::new(),
        &set(&[
            "permessage-deflate",
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits=9",
            "client_max_window_bits=11",
        ]),
        true,
        "our client -> strict python server",
    );
    assert!(peer.contains(&py_extension(true, true, 9, 11)), "{peer}");
}

#[test]
fn sixteen_mib_each_kind_both_ways_with_python() {
    let big = BIG.to_string();
    // Python client -> our server (and back).
    let (addr, rx) = our_server(
        ServerConfig::new().with_extension(PerMessageDeflate::new()),
        Echo::Whole,
        1,
    );
    let url = format!("ws://{addr}/");
    let (line, r) = run_peer_client(
        python(&["client", "--url", &url, "--sizes", &big]),
        &rx,
        "python 16 MiB client",
    );
    assert!(line.contains("\"echoed\":2,"), "{line}");
    check_server_report(&r, "permessage-deflate", 2, "16 MiB");

    // Our client -> Python server (and back).
    let server = PeerServer::start(python(&["server"]), "py_deflate.py server");
    let mut client = OurClient::connect(&server.url(), PerMessageDeflate::new(), Config::default());
    assert_eq!(client.names(), ["permessage-deflate"]);
    client.round_trips(&[BIG], false, "our client 16 MiB");
    client.finish(true, "our client 16 MiB");
}

// ---------------------------------------------------------------------------
// Node `ws`, each parameter on its side and on ours.

#[test]
fn node_clients_with_each_parameter_against_our_server() {
    // (node client perMessageDeflate, our server's policy, the agreed
    // parameters, our outgoing data compressed)
    let cases: Vec<(&str, PerMessageDeflate, &[&str], bool)> = vec![
        (r#"{"threshold":0}"#, PerMessageDeflate::new(), &[], true),
        (
            r#"{"threshold":0,"serverNoContextTakeover":true}"#,
            PerMessageDeflate::new(),
            &["server_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0,"clientNoContextTakeover":true}"#,
            PerMessageDeflate::new(),
            &["client_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            &["server_max_window_bits=9"],
            true,
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":10}"#,
            PerMessageDeflate::new(),
            &["server_max_window_bits=10"],
            true,
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":15}"#,
            PerMessageDeflate::new(),
            &["server_max_window_bits=15"],
            true,
        ),
        (
            r#"{"threshold":0,"clientMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            &["client_max_window_bits=9"],
            true,
        ),
        (
            r#"{"threshold":0,"clientMaxWindowBits":12}"#,
            PerMessageDeflate::new(),
            &["client_max_window_bits=12"],
            true,
        ),
        // `true` only says the client supports the parameter.
        (
            r#"{"threshold":0,"clientMaxWindowBits":true}"#,
            PerMessageDeflate::new(),
            &[],
            true,
        ),
        // 8 bits for ws's compressor (zlib silently uses 9 for raw deflate;
        // we inflate with 9, a superset).
        (
            r#"{"threshold":0,"clientMaxWindowBits":8}"#,
            PerMessageDeflate::new(),
            &["client_max_window_bits=8"],
            true,
        ),
        // The smallest windows and no context either way.
        (
            r#"{"threshold":0,"serverNoContextTakeover":true,"clientNoContextTakeover":true,"serverMaxWindowBits":9,"clientMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            &[
                "server_no_context_takeover",
                "client_no_context_takeover",
                "server_max_window_bits=9",
                "client_max_window_bits=9",
            ],
            true,
        ),
        // Our server imposing each parameter on a default ws client.
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_server_no_context_takeover(true),
            &["server_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_client_no_context_takeover(true),
            &["client_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_server_max_window_bits(Some(10)),
            &["server_max_window_bits=10"],
            true,
        ),
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_client_max_window_bits(Some(9)),
            &["client_max_window_bits=9"],
            true,
        ),
        // 8 bits for our compressor: we send stored blocks (uncompressed).
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_server_max_window_bits(Some(8)),
            &["server_max_window_bits=8"],
            false,
        ),
    ];
    let echoes = [Echo::Whole, Echo::Fragments, Echo::Auto];
    for (i, (node_opts, ours, agreed, ours_compressed)) in cases.into_iter().enumerate() {
        let echo = echoes[i % echoes.len()];
        let case = format!(
            "node client {node_opts}, our server's policy [{}], we echo {echo:?}",
            ours.offers()[0]
        );
        let mut expect = set(agreed);
        expect.insert("permessage-deflate".into());
        let (addr, rx) = our_server(ServerConfig::new().with_extension(ours), echo, 1);
        let url = format!("ws://{addr}/");
        let (line, r) = run_peer_client(
            node(&["client", &url, node_opts, SIZES_ARG, "3", KINDS_ARG]),
            &rx,
            &case,
        );
        assert!(
            line.contains("\"extensions\":\"permessage-deflate\""),
            "{case}: {line}"
        );
        assert_eq!(node_params(&line), expect, "{case}: ws's params: {line}");
        let response = json_str(&line, "response").unwrap();
        assert_eq!(header_params(&response), expect, "{case}: {line}");
        // 3 kinds x 7 sizes, whole and in 3 fragments (2 pings each).
        let echoed = SIZES.len() * PER_SIZE;
        assert!(
            line.contains(&format!("\"echoed\":{echoed},")),
            "{case}: {line}"
        );
        assert!(
            line.contains(&format!("\"pongs\":{echoed},")),
            "{case}: {line}"
        );
        check_server_report(&r, "permessage-deflate", echoed, &case);
        assert_eq!(r.response, response, "{case}");
        if ours_compressed {
            assert_compressed(&format!("{case}: out of our server"), r.wire.1, r.payload);
        } else {
            assert!(r.wire.1 > r.payload, "{case}: stored blocks");
        }
    }
}

#[test]
fn our_client_with_each_parameter_against_node_servers() {
    // (node server perMessageDeflate, our client's offer, the agreed
    // parameters, our outgoing data compressed)
    let cases: Vec<(&str, PerMessageDeflate, &[&str], bool)> = vec![
        (r#"{"threshold":0}"#, PerMessageDeflate::new(), &[], true),
        (
            r#"{"threshold":0,"serverNoContextTakeover":true}"#,
            PerMessageDeflate::new(),
            &["server_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0,"clientNoContextTakeover":true}"#,
            PerMessageDeflate::new(),
            &["client_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            &["server_max_window_bits=9"],
            true,
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":10}"#,
            PerMessageDeflate::new(),
            &["server_max_window_bits=10"],
            true,
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":15}"#,
            PerMessageDeflate::new(),
            &["server_max_window_bits=15"],
            true,
        ),
        // 8 bits for ws's compressor (zlib silently uses 9; we inflate with
        // 9, a superset).
        (
            r#"{"threshold":0,"serverMaxWindowBits":8}"#,
            PerMessageDeflate::new(),
            &["server_max_window_bits=8"],
            true,
        ),
        (
            r#"{"threshold":0,"clientMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            &["client_max_window_bits=9"],
            true,
        ),
        (
            r#"{"threshold":0,"clientMaxWindowBits":12}"#,
            PerMessageDeflate::new(),
            &["client_max_window_bits=12"],
            true,
        ),
        // `true` on a server: no limit, and the parameter is left out.
        (
            r#"{"threshold":0,"clientMaxWindowBits":true}"#,
            PerMessageDeflate::new(),
            &[],
            true,
        ),
        (
            r#"{"threshold":0,"serverNoContextTakeover":true,"clientNoContextTakeover":true,"serverMaxWindowBits":9,"clientMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            &[
                "server_no_context_takeover",
                "client_no_context_takeover",
                "server_max_window_bits=9",
                "client_max_window_bits=9",
            ],
            true,
        ),
        // Our client asking for each parameter of a default ws server.
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_server_no_context_takeover(true),
            &["server_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_client_no_context_takeover(true),
            &["client_no_context_takeover"],
            true,
        ),
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_server_max_window_bits(Some(10)),
            &["server_max_window_bits=10"],
            true,
        ),
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_client_max_window_bits(Some(9)),
            &["client_max_window_bits=9"],
            true,
        ),
        // 8 bits for our compressor: we send stored blocks.
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_client_max_window_bits(Some(8)),
            &["client_max_window_bits=8"],
            false,
        ),
        // Both sides limiting the server window: the smaller one wins.
        (
            r#"{"threshold":0,"serverMaxWindowBits":9}"#,
            PerMessageDeflate::new().with_server_max_window_bits(Some(10)),
            &["server_max_window_bits=9"],
            true,
        ),
    ];
    for (node_opts, ours, agreed, ours_compressed) in cases {
        let case = format!(
            "our client offering [{}] -> node server {node_opts}",
            ours.offers()[0]
        );
        let mut expect = set(agreed);
        expect.insert("permessage-deflate".into());
        let server = PeerServer::start(node(&["server", node_opts]), &case);
        let peer = our_client_session(&server.url(), ours, &expect, ours_compressed, &case);
        assert!(
            peer.contains("\"extensions\":\"permessage-deflate\""),
            "{case}: {peer}"
        );
        assert_eq!(node_params(&peer), expect, "{case}: ws's params: {peer}");
    }
}

// ---------------------------------------------------------------------------
// deflate-frame: no peer implements it (Python `websockets` and Node `ws`
// only have permessage-deflate), so our client against our server.

#[test]
fn deflate_frame_between_our_client_and_server() {
    // (client factory, the name negotiated, the server's response)
    let cases = [
        (DeflateFrame::new(), "deflate-frame", "deflate-frame"),
        (
            DeflateFrame::new().with_webkit_name(true),
            "x-webkit-deflate-frame",
            "x-webkit-deflate-frame",
        ),
        (
            DeflateFrame::new()
                .with_max_window_bits(Some(10))
                .with_no_context_takeover(true),
            "deflate-frame",
            "deflate-frame",
        ),
        (
            DeflateFrame::new()
                .with_webkit_name(true)
                .with_max_window_bits(Some(9)),
            "x-webkit-deflate-frame",
            "x-webkit-deflate-frame",
        ),
    ];
    let echoes = [Echo::Fragments, Echo::Whole, Echo::Auto, Echo::Fragments];
    for (i, (client_ext, name, response)) in cases.into_iter().enumerate() {
        let echo = echoes[i];
        let case = format!(
            "deflate-frame client offering [{}], we echo {echo:?}",
            client_ext.offers()[0]
        );
        let (addr, rx) = our_server(
            ServerConfig::new().with_extension(DeflateFrame::new()),
            echo,
            2,
        );
        let url = format!("ws://{addr}/");
        let mut client = OurClient::connect(&url, client_ext.clone(), Config::default());
        assert_eq!(client.names(), [name], "{case}");
        assert_eq!(client.response, response, "{case}");
        client.round_trips(&SIZES, true, &case);
        client.split_characters(&case);
        if i == 0 {
            client.round_trips(&[BIG], false, &case);
        }
        client.finish(true, &case);
        let r = server_report(&rx);
        let per_size = if i == 0 { 3 } else { 0 };
        check_server_report(&r, name, SIZES.len() * PER_SIZE + 1 + per_size, &case);
        assert_eq!(r.response, response, "{case}");
        assert_eq!(r.offer, client_ext.offers()[0].to_string(), "{case}");

        // Automatic fragmentation on our client: every frame compressed on
        // its own.
        let auto = Config::default().with_fragment_size(Some(AUTO_FRAGMENT));
        let mut client = OurClient::connect(&url, client_ext, auto);
        assert_eq!(client.names(), [name], "{case}");
        client.round_trips(&SIZES, false, &format!("{case} (auto fragments)"));
        client.finish(true, &format!("{case} (auto fragments)"));
        let r = server_report(&rx);
        check_server_report(&r, name, SIZES.len() * 3, &case);
    }

    // A server with both: a client offering both (same RSV1 bit) gets only
    // its first choice.
    let (addr, rx) = our_server(
        ServerConfig::new()
            .with_extension(DeflateFrame::new())
            .with_extension(PerMessageDeflate::new()),
        Echo::Whole,
        1,
    );
    let request = ClientRequest::new(&format!("ws://{addr}/"))
        .unwrap()
        .with_extension(PerMessageDeflate::new())
        .with_extension(DeflateFrame::new());
    let (stream, _) = Counted::new(TcpStream::connect(addr).unwrap());
    let (mut conn, response) = Connection::connect(stream, &request, Config::default()).unwrap();
    assert_eq!(conn.engine().extension_names(), ["permessage-deflate"]);
    assert_eq!(
        response.header("sec-websocket-extensions"),
        Some("permessage-deflate")
    );
    let message = Message::Text(text_payload(1 << 20));
    conn.send(message.clone()).unwrap();
    assert!(conn.recv().unwrap() == Some(message));
    assert_eq!(conn.close(1000, "").unwrap().0, 1000);
    let r = server_report(&rx);
    assert_eq!(r.names, ["permessage-deflate"]);
    assert_eq!(
        r.offer,
        "permessage-deflate; client_max_window_bits, deflate-frame"
    );
}
