//! The server's Close must reach a peer that is still sending: a message
//! over the limit (1009), a handler's `close` (1008), a shutdown (1001) and
//! a backpressure close (1013), each with 20 Python `websockets` clients
//! streaming at once (tests/peers/py_flood_client.py), on both servers.
#![cfg(feature = "mio")]

mod support;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use wsstack::connection::Config;
use wsstack::handshake::ServerConfig;
use wsstack::server::{Backpressure, Client, Handler, ServerBuilder, ServerHandle};
use wsstack::{Limits, Message};

/// Clients per scenario, all connected at once.
const TRIALS: usize = 20;
/// The server's message limit in the 1009 scenario.
const LIMIT: usize = 1 << 20;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Threaded,
    EventLoop,
    #[cfg(all(feature = "uring", target_os = "linux"))]
    Uring,
}

/// A server running on its own thread; shut down on drop.
struct Running {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<Result<(), wsstack::Error>>>,
}

impl Running {
    fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start<H: Handler>(kind: Kind, builder: ServerBuilder, handler: H) -> Running {
    let builder = builder
        .address("127.0.0.1:0")
        .loops(2)
        .shutdown_timeout(Duration::from_secs(5));
    let (addr, handle, thread) = match kind {
        Kind::Threaded => {
            let server = builder.bind_threaded().unwrap();
            let (addr, handle) = (server.local_addr().unwrap(), server.handle());
            (addr, handle, thread::spawn(move || server.run(handler)))
        }
        Kind::EventLoop => {
            let server = builder.bind_event_loop().unwrap();
            let (addr, handle) = (server.local_addr().unwrap(), server.handle());
            (addr, handle, thread::spawn(move || server.run(handler)))
        }
        #[cfg(all(feature = "uring", target_os = "linux"))]
        Kind::Uring => {
            let server = builder.bind_uring().unwrap();
            let (addr, handle) = (server.local_addr().unwrap(), server.handle());
            (addr, handle, thread::spawn(move || server.run(handler)))
        }
    };
    Running {
        addr,
        handle,
        thread: Some(thread),
    }
}

/// Start `TRIALS` flood clients in one Python process; returns the receiver
/// of their JSON lines (one per trial).
fn spawn_flood(url: &str, mode: &str, size: usize, chunk: usize) -> FloodRun {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/peers/py_flood_client.py"
    );
    let mut child = Command::new(support::python())
        .arg(script)
        .args(["--url", url, "--mode", mode, "--trials"])
        .arg(TRIALS.to_string())
        .arg("--size")
        .arg(size.to_string())
        .arg("--chunk")
        .arg(chunk.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start tests/peers/py_flood_client.py (run ./scripts/setup-peers.sh)");
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    FloodRun { child, lines }
}

struct FloodRun {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl FloodRun {
    /// Every trial's report (a missing one is a failure, reported as such).
    fn reports(mut self) -> Vec<String> {
        let deadline = Instant::now() + support::PEER_TIMEOUT;
        let mut out = Vec::new();
        while out.len() < TRIALS {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => out.push(line),
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        out
    }
}

/// The code of the Close the trial received, if any.
fn close_code(report: &str) -> Option<u16> {
    let compact: String = report.chars().filter(|c| !c.is_whitespace()).collect();
    let rest = compact.split("\"close\":{\"code\":").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// All `TRIALS` reports show a Close with `want`; the failure lists every
/// trial that saw something else.
fn assert_all_closed_with(kind: Kind, scenario: &str, want: u16, reports: &[String]) {
    let bad: Vec<&String> = reports
        .iter()
        .filter(|r| close_code(r) != Some(want))
        .collect();
    let good = reports.len() - bad.len();
    eprintln!("{kind:?} server, {scenario}:\n  {}", reports.join("\n  "));
    assert!(
        bad.is_empty() && reports.len() == TRIALS,
        "{kind:?} server, {scenario}: {good} of {TRIALS} peers received a Close {want}; \
         {} reported nothing; the others received instead:\n{}",
        TRIALS - reports.len(),
        bad.iter()
            .map(|r| format!("  {r}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Tells the test about each client's first message; never replies.
struct Sink {
    first: Sender<u64>,
}

impl Handler for Sink {
    type Data = bool;
    fn on_message(&self, client: &Client<bool>, _message: Message) {
        let mut seen = client.data();
        if !*seen {
            *seen = true;
            let _ = self.first.send(client.id());
        }
    }
}

fn sink() -> (Sink, mpsc::Receiver<u64>) {
    let (first, rx) = mpsc::channel();
    (Sink { first }, rx)
}

/// Closes each client with 1008 after its first message.
struct PolicyCloser;

impl Handler for PolicyCloser {
    type Data = ();
    fn on_message(&self, client: &Client, _message: Message) {
        client.close(1008, "policy");
    }
}

/// Answers every 16 KiB message with a 64 KiB one.
struct Amplifier;

impl Handler for Amplifier {
    type Data = ();
    fn on_message(&self, client: &Client, _message: Message) {
        let _ = client.send(vec![0xa5u8; 64 * 1024]);
    }
}

/// A 64 MiB message sent in 64 KiB fragments to a server whose limit is
/// 1 MiB: the server fails the message with 1009 while the peer is
/// mid-message (the kernel buffers cannot take the rest, so every peer is
/// still sending when the Close comes).
fn message_too_big(kind: Kind) {
    let limits = Limits::default().with_max_message_size(LIMIT);
    let builder = ServerBuilder::new()
        .handshake(ServerConfig::new().with_limits(limits))
        .connection(Config::default().with_limits(limits));
    let (handler, _first) = sink();
    let server = start(kind, builder, handler);
    let reports = spawn_flood(&server.url(), "fragments", 64 * LIMIT, 64 * 1024).reports();
    assert_all_closed_with(
        kind,
        "a 64 MiB message in 64 KiB fragments over a 1 MiB limit",
        1009,
        &reports,
    );
}

/// A masked client frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    const KEY: [u8; 4] = [0x0f, 0xa1, 0x5c, 0x72];
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&KEY);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    out
}

/// The first whole unmasked frame in `bytes`: (opcode, payload, length).
fn server_frame(bytes: &[u8]) -> Option<(u8, &[u8], usize)> {
    let (len, at) = match *bytes.get(1)? & 0x7f {
        126 => (
            u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = bytes.get(at..at + len)?;
    Some((bytes[0] & 0x0f, payload, at + len))
}

/// A raw client sends 2 MiB of one message (in 64 KiB fragments) to a
/// server with a 1 MiB limit, pauses 300 ms without reading (the server
/// fails the message with 1009 meanwhile), sends 256 KiB more, then reads,
/// answers the Close and reads to EOF. A server that fails a connection
/// must not reset it while the peer is still sending: after a reset the
/// peer's next write fails, and clients that stop at a write error (such
/// as asyncio's transport under Python `websockets`) never read the Close
/// waiting in their socket. Expected: every write succeeds, then exactly
/// a Close 1009, then EOF.
fn raw_peer_still_sending_is_not_reset(kind: Kind) {
    let limits = Limits::default().with_max_message_size(LIMIT);
    let builder = ServerBuilder::new()
        .handshake(ServerConfig::new().with_limits(limits))
        .connection(Config::default().with_limits(limits));
    let (handler, _first) = sink();
    let server = start(kind, builder, handler);
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    tcp.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(tcp.read(&mut byte).unwrap(), 1, "handshake cut short");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "handshake refused");
    let fragment = vec![0x42u8; 64 * 1024];
    // The first failed write (the client stops writing there).
    let mut write_error: Option<String> = None;
    let mut send = |tcp: &mut TcpStream, bytes: &[u8], what: &str| {
        if write_error.is_none() {
            if let Err(e) = tcp.write_all(bytes) {
                write_error = Some(format!("{what}: {e}"));
            }
        }
    };
    send(&mut tcp, &frame(false, 0x2, &fragment), "first fragment");
    for _ in 1..32 {
        send(
            &mut tcp,
            &frame(false, 0x0, &fragment),
            "fragment before the pause",
        );
    }
    thread::sleep(Duration::from_millis(300));
    for _ in 0..4 {
        send(
            &mut tcp,
            &frame(false, 0x0, &fragment),
            "fragment after the pause",
        );
    }
    let mut bytes = Vec::new();
    let mut frames = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let ending = loop {
        match tcp.read(&mut chunk) {
            Ok(0) => break "EOF".to_string(),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break "no EOF within 5 s".to_string()
            }
            Err(e) => break format!("read error: {e}"),
        }
        while let Some((opcode, payload, used)) = server_frame(&bytes) {
            let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            frames.push(format!("opcode 0x{opcode:X} code {code:?}"));
            if opcode == 0x8 {
                let reply = frame(true, 0x8, &1009u16.to_be_bytes());
                send(&mut tcp, &reply, "Close reply");
            }
            bytes.drain(..used);
        }
    };
    let ok = write_error.is_none()
        && frames == ["opcode 0x8 code Some(1009)"]
        && bytes.is_empty()
        && ending == "EOF";
    assert!(
        ok,
        "{kind:?} server: a peer still sending after the server failed its message with 1009 \
         should see every write succeed, then a Close 1009, then EOF; first failed write: \
         {write_error:?}; received frames {frames:?}, {} stray bytes, then {ending}",
        bytes.len()
    );
}

/// The handler closes with 1008 after the first of a stream of messages.
fn handler_close_while_streaming(kind: Kind) {
    let server = start(kind, ServerBuilder::new(), PolicyCloser);
    let reports = spawn_flood(&server.url(), "stream", 256 << 20, 64 * 1024).reports();
    assert_all_closed_with(
        kind,
        "client.close(1008) after the first message while the peer streams 64 KiB messages",
        1008,
        &reports,
    );
}

/// `shutdown()` once every peer is streaming.
fn shutdown_while_streaming(kind: Kind) {
    let (handler, first) = sink();
    let server = start(kind, ServerBuilder::new(), handler);
    let flood = spawn_flood(&server.url(), "stream", 256 << 20, 64 * 1024);
    for n in 0..TRIALS {
        first
            .recv_timeout(support::PEER_TIMEOUT)
            .unwrap_or_else(|_| panic!("{kind:?}: only {n} of {TRIALS} peers started streaming"));
    }
    server.handle.shutdown();
    let reports = flood.reports();
    assert_all_closed_with(
        kind,
        "ServerHandle::shutdown() while every peer streams 64 KiB messages",
        1001,
        &reports,
    );
}

/// The close-handshake timeout with a peer that reads but never answers
/// the Close and keeps sending 16 KiB messages for 600 ms (the server's
/// close timeout is 200 ms): when the timeout ends the connection, the
/// lingering close must still let the peer read the Close 1008 and then
/// an orderly EOF, and none of its writes may fail with a reset.
fn close_timeout_while_streaming(kind: Kind) {
    let builder = ServerBuilder::new()
        .connection(Config::default().with_close_timeout(Duration::from_millis(200)));
    let server = start(kind, builder, PolicyCloser);
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    tcp.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(tcp.read(&mut byte).unwrap(), 1, "handshake cut short");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "handshake refused");
    tcp.write_all(&frame(true, 0x1, b"go")).unwrap();
    let message = frame(true, 0x2, &[0x5a; 16 * 1024]);
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut write_error = None;
    let mut read_error = None;
    let start = Instant::now();
    // Keep sending, reading between writes (10 ms at most each), never
    // answering the Close.
    tcp.set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let mut eof = false;
    for i in 0..60u32 {
        if write_error.is_some() {
            break;
        }
        if let Err(e) = tcp.write_all(&message) {
            write_error = Some(e.to_string());
        }
        // Pace the writes at one per 10 ms (about 1.6 MB/s); until the
        // server's FIN, the pause is spent reading.
        let slot = start + Duration::from_millis(10) * (i + 1);
        while !eof && Instant::now() < slot {
            match tcp.read(&mut chunk) {
                Ok(0) => eof = true,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => {
                    read_error = Some(e.to_string());
                    eof = true;
                }
            }
        }
        thread::sleep(slot.saturating_duration_since(Instant::now()));
    }
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let ending = loop {
        if eof {
            break "EOF".to_string();
        }
        match tcp.read(&mut chunk) {
            Ok(0) => break "EOF".to_string(),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) => break format!("read error: {e}"),
        }
    };
    let mut frames = Vec::new();
    while let Some((opcode, payload, used)) = server_frame(&bytes) {
        let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
        frames.push(format!("opcode 0x{opcode:X} code {code:?}"));
        bytes.drain(..used);
    }
    assert!(
        write_error.is_none()
            && read_error.is_none()
            && frames == ["opcode 0x8 code Some(1008)"]
            && ending == "EOF",
        "{kind:?} server, close timeout while the peer streams: write error {write_error:?}, \
         read error {read_error:?}, frames {frames:?}, then {ending}"
    );
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn threaded() {
                    super::$name(super::Kind::Threaded);
                }
                #[test]
                fn event_loop() {
                    super::$name(super::Kind::EventLoop);
                }
                #[cfg(all(feature = "uring", target_os = "linux"))]
                #[test]
                fn uring() {
                    super::$name(super::Kind::Uring);
                }
            }
        )*
    };
}

both!(
    message_too_big,
    raw_peer_still_sending_is_not_reset,
    handler_close_while_streaming,
    shutdown_while_streaming,
    close_timeout_while_streaming,
);

/// Event loop, `Backpressure::Close(1013.into())` with a 256 KiB high-water mark:
/// each 16 KiB peer message is answered with 64 KiB, and the peer does not
/// read at all, so once the kernel buffers are full the queue crosses the
/// mark and the server closes with 1013 while the peer is still sending.
/// The peer keeps sending until a send blocks for 0.5 s (the server
/// stopped reading it) or 16 MiB are out, then reads everything: the Close
/// must be there, after the data queued ahead of it. The server's close
/// timeout (10 s) is far longer than the peer's sending phase.
fn backpressure_close_while_streaming(kind: Kind) {
    let builder = ServerBuilder::new()
        .high_water_mark(256 * 1024)
        .backpressure(Backpressure::Close(1013.into()))
        .connection(Config::default().with_close_timeout(Duration::from_secs(10)));
    let server = start(kind, builder, Amplifier);
    let reports = spawn_flood(&server.url(), "stall", 16 << 20, 16 * 1024).reports();
    assert_all_closed_with(
        kind,
        "Backpressure::Close(1013.into()) over a 256 KiB mark while the peer streams 16 KiB messages \
         without reading, then reads",
        1013,
        &reports,
    );
}

#[test]
fn backpressure_close_while_streaming_event_loop() {
    backpressure_close_while_streaming(Kind::EventLoop);
}

#[cfg(all(feature = "uring", target_os = "linux"))]
#[test]
fn backpressure_close_while_streaming_uring() {
    backpressure_close_while_streaming(Kind::Uring);
}
