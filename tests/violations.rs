//! Protocol violations and transport errors, against both servers: the
//! replies a server sent before a violation must reach the peer ahead of
//! the Close (then EOF, nothing after), and an I/O error must reach the
//! handler's `on_error` before `on_close(1006)`.
#![cfg(feature = "mio")]

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use wsstack::server::{Client, Handler, ServerBuilder, ServerHandle};
use wsstack::{Error, Message};

/// Bounds every read of the peer and every wait for the handler.
const WAIT: Duration = Duration::from_secs(5);

const CONT: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

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

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start<H: Handler>(kind: Kind, handler: H) -> Running {
    let builder = ServerBuilder::new()
        .address("127.0.0.1:0")
        .loops(2)
        .shutdown_timeout(Duration::from_secs(1));
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

// ---- raw client: handshake, masked frames, server frame parser ----

/// Connect and complete the opening handshake by hand (no extensions
/// offered, so every RSV bit is reserved).
fn raw_connect(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.set_nodelay(true).unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).unwrap();
    // Byte by byte, so nothing after the response head is consumed.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tcp.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "handshake: {other:?} after {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    let head = String::from_utf8_lossy(&head);
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "handshake refused: {head}"
    );
    assert!(
        head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "wrong accept key: {head}"
    );
    tcp
}

/// A masked client frame. `rsv` is the 3-bit RSV field (RSV1 = 4).
fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
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

fn text(s: &str) -> Vec<u8> {
    frame(true, 0, TEXT, s.as_bytes())
}

fn ping(s: &str) -> Vec<u8> {
    frame(true, 0, PING, s.as_bytes())
}

/// A frame from the server, as received.
struct Got {
    fin: bool,
    rsv: u8,
    masked: bool,
    opcode: u8,
    payload: Vec<u8>,
}

impl fmt::Debug for Got {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.opcode {
            CONT => "Continuation".to_string(),
            TEXT => "Text".to_string(),
            BINARY => "Binary".to_string(),
            CLOSE => "Close".to_string(),
            PING => "Ping".to_string(),
            PONG => "Pong".to_string(),
            op => format!("opcode 0x{op:X}"),
        };
        f.write_str(&name)?;
        if self.opcode == CLOSE && self.payload.len() >= 2 {
            let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
            write!(
                f,
                " {code} {:?}",
                String::from_utf8_lossy(&self.payload[2..])
            )?;
        } else if self.payload.len() <= 32 {
            write!(f, " {:?}", String::from_utf8_lossy(&self.payload))?;
        } else {
            write!(f, " ({} bytes)", self.payload.len())?;
        }
        if !self.fin || self.rsv != 0 || self.masked {
            write!(
                f,
                " [fin={} rsv={} masked={}]",
                self.fin, self.rsv, self.masked
            )?;
        }
        Ok(())
    }
}

/// How the byte stream from the server ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    Eof,
    /// No EOF within the read timeout.
    Timeout,
    /// A read error, e.g. a reset.
    Error(String),
}

/// Everything the peer received, in order.
struct Received {
    frames: Vec<Got>,
    /// Bytes at the end that do not form a whole frame.
    partial: usize,
    ending: Ending,
}

impl fmt::Debug for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        list.entries(&self.frames);
        if self.partial > 0 {
            list.entry(&format_args!(
                "{} bytes of an incomplete frame",
                self.partial
            ));
        }
        match &self.ending {
            Ending::Eof => list.entry(&format_args!("EOF")),
            Ending::Timeout => list.entry(&format_args!("no EOF within {WAIT:?}")),
            Ending::Error(e) => list.entry(&format_args!("read error: {e}")),
        };
        list.finish()
    }
}

/// Read until EOF, an error, or [`WAIT`] in all; split into frames.
fn read_all(tcp: &mut TcpStream) -> Received {
    let deadline = Instant::now() + WAIT;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let ending = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Ending::Timeout;
        }
        tcp.set_read_timeout(Some(left)).unwrap();
        match tcp.read(&mut chunk) {
            Ok(0) => break Ending::Eof,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break Ending::Timeout
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Ending::Error(e.to_string()),
        }
    };
    let (frames, partial) = parse(&bytes);
    Received {
        frames,
        partial,
        ending,
    }
}

/// Split server bytes into frames; returns the frames and how many bytes
/// are left over.
fn parse(mut bytes: &[u8]) -> (Vec<Got>, usize) {
    let mut frames = Vec::new();
    loop {
        if bytes.len() < 2 {
            return (frames, bytes.len());
        }
        let masked = bytes[1] & 0x80 != 0;
        let (len, mut at) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 if bytes.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&bytes[2..10]);
                (u64::from_be_bytes(n) as usize, 10)
            }
            126 | 127 => return (frames, bytes.len()),
            n => (n as usize, 2),
        };
        let key = if masked {
            if bytes.len() < at + 4 {
                return (frames, bytes.len());
            }
            at += 4;
            [bytes[at - 4], bytes[at - 3], bytes[at - 2], bytes[at - 1]]
        } else {
            [0; 4]
        };
        if bytes.len() - at < len {
            return (frames, bytes.len());
        }
        let payload = bytes[at..at + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        frames.push(Got {
            fin: bytes[0] & 0x80 != 0,
            rsv: (bytes[0] >> 4) & 0x7,
            masked,
            opcode: bytes[0] & 0x0f,
            payload,
        });
        bytes = &bytes[at + len..];
    }
}

// ---- replies sent before a violation ----

/// A frame the peer must receive.
#[derive(Clone, Debug)]
enum Want {
    Text(&'static str),
    Pong(&'static str),
    Close(u16),
}

impl Want {
    fn matches(&self, got: &Got) -> bool {
        let plain = got.fin && got.rsv == 0 && !got.masked;
        plain
            && match self {
                Want::Text(t) => got.opcode == TEXT && got.payload == t.as_bytes(),
                Want::Pong(p) => got.opcode == PONG && got.payload == p.as_bytes(),
                Want::Close(code) => {
                    got.opcode == CLOSE && got.payload.get(..2) == Some(&code.to_be_bytes()[..])
                }
            }
    }
}

/// Echoes every message.
struct Echo;

impl Handler for Echo {
    type Data = ();
    fn on_message(&self, client: &Client, message: Message) {
        let _ = client.send(message);
    }
}

/// Write `input` in one `write_all` and check the peer receives exactly
/// `want`, then EOF.
fn check(kind: Kind, case: &str, input: Vec<u8>, want: &[Want]) {
    let server = start(kind, Echo);
    let mut tcp = raw_connect(server.addr);
    tcp.write_all(&input).unwrap();
    let got = read_all(&mut tcp);
    let ok = got.frames.len() == want.len()
        && want.iter().zip(&got.frames).all(|(w, g)| w.matches(g))
        && got.partial == 0
        && got.ending == Ending::Eof;
    assert!(
        ok,
        "{kind:?} server, {case}: expected the peer to receive {want:?} then EOF, \
         nothing after the Close; it received {got:?}"
    );
}

/// "hello", a frame that breaks the protocol, then a ping the server must
/// ignore (it comes after the violation).
fn hello_then(violation: Vec<u8>) -> Vec<u8> {
    let mut input = text("hello");
    input.extend(violation);
    input.extend(ping("after the violation"));
    input
}

fn rsv(kind: Kind, bits: u8) {
    let input = hello_then(frame(true, bits, TEXT, b"bad"));
    check(
        kind,
        &format!("text then a text frame with RSV field {bits:03b} then ping"),
        input,
        &[Want::Text("hello"), Want::Close(1002)],
    );
}

fn reserved_opcode(kind: Kind, opcode: u8) {
    let input = hello_then(frame(true, 0, opcode, b"x"));
    check(
        kind,
        &format!("text then reserved opcode 0x{opcode:X} then ping"),
        input,
        &[Want::Text("hello"), Want::Close(1002)],
    );
}

fn invalid_utf8(kind: Kind) {
    let input = hello_then(frame(true, 0, TEXT, &[b'o', b'k', 0xff, 0xfe]));
    check(
        kind,
        "text then a text frame with invalid UTF-8 then ping",
        input,
        &[Want::Text("hello"), Want::Close(1007)],
    );
}

/// "fra" (FIN=0), a ping, then `bad`: the handler sees no message, but
/// the pong was due before the violation.
fn fragmented(kind: Kind, case: &str, bad: Vec<u8>) {
    let mut input = frame(false, 0, TEXT, b"fra");
    input.extend(ping("mid"));
    input.extend(bad);
    input.extend(ping("after the violation"));
    check(kind, case, input, &[Want::Pong("mid"), Want::Close(1002)]);
}

macro_rules! both {
    ($($name:ident => $body:expr;)*) => {
        $(
            mod $name {
                #[test]
                fn threaded() {
                    ($body)(super::Kind::Threaded);
                }
                #[test]
                fn event_loop() {
                    ($body)(super::Kind::EventLoop);
                }
                #[cfg(all(feature = "uring", target_os = "linux"))]
                #[test]
                fn uring() {
                    ($body)(super::Kind::Uring);
                }
            }
        )*
    };
}

both! {
    rsv_field_001_rsv3 => |k| super::rsv(k, 0b001);
    rsv_field_010_rsv2 => |k| super::rsv(k, 0b010);
    rsv_field_011 => |k| super::rsv(k, 0b011);
    rsv_field_100_rsv1_without_deflate => |k| super::rsv(k, 0b100);
    rsv_field_101 => |k| super::rsv(k, 0b101);
    rsv_field_110 => |k| super::rsv(k, 0b110);
    rsv_field_111 => |k| super::rsv(k, 0b111);
    reserved_data_opcode_3 => |k| super::reserved_opcode(k, 0x3);
    reserved_data_opcode_4 => |k| super::reserved_opcode(k, 0x4);
    reserved_data_opcode_5 => |k| super::reserved_opcode(k, 0x5);
    reserved_data_opcode_6 => |k| super::reserved_opcode(k, 0x6);
    reserved_data_opcode_7 => |k| super::reserved_opcode(k, 0x7);
    reserved_control_opcode_b => |k| super::reserved_opcode(k, 0xB);
    reserved_control_opcode_c => |k| super::reserved_opcode(k, 0xC);
    reserved_control_opcode_d => |k| super::reserved_opcode(k, 0xD);
    reserved_control_opcode_e => |k| super::reserved_opcode(k, 0xE);
    reserved_control_opcode_f => |k| super::reserved_opcode(k, 0xF);
    invalid_utf8_after_a_good_message => super::invalid_utf8;
    fragment_ping_then_new_text => |k| super::fragmented(
        k,
        "text \"fra\" (FIN=0), ping, then a new text frame instead of a continuation",
        super::text("oops"),
    );
    fragment_ping_then_continuation_with_rsv2 => |k| super::fragmented(
        k,
        "text \"fra\" (FIN=0), ping, then a continuation with RSV2 set",
        super::frame(true, 0b010, super::CONT, b"gment"),
    );
}

// ---- errors the handler never hears ----

/// What the recording handler heard.
#[derive(Debug)]
#[allow(dead_code)] // the texts are read through Debug, in failure messages
enum Heard {
    Open,
    /// `on_error`, whether it was an `Error::Io`, and its text.
    Error {
        io: bool,
        text: String,
    },
    Close(u16, String),
    /// How the flood of sends in `on_message` ended.
    FloodEnded(String),
}

/// On "flood", sends 64 KiB messages until `send` fails (or 256 MiB).
struct Flooder {
    events: Sender<Heard>,
}

impl Handler for Flooder {
    type Data = ();

    fn on_open(&self, _client: &Client) {
        let _ = self.events.send(Heard::Open);
    }

    fn on_message(&self, client: &Client, message: Message) {
        if message.as_text() != Some("flood") {
            return;
        }
        let chunk = vec![0x5au8; 64 * 1024];
        let mut sent = 0usize;
        let outcome = loop {
            if sent >= 4096 {
                break "256 MiB accepted without an error".to_string();
            }
            match client.send(chunk.clone()) {
                Ok(_) => sent += 1,
                Err(e) => break format!("send {} failed: {e}", sent + 1),
            }
        };
        let _ = self.events.send(Heard::FloodEnded(outcome));
    }

    fn on_error(&self, _client: &Client, error: &Error) {
        let _ = self.events.send(Heard::Error {
            io: matches!(error, Error::Io(_)),
            text: format!("{error:?}"),
        });
    }

    fn on_close(&self, _client: &Client, code: wsstack::CloseCode, reason: &str) {
        let _ = self
            .events
            .send(Heard::Close(code.as_u16(), reason.to_owned()));
    }
}

/// The client asks for a flood, waits until replies are arriving, lets
/// the buffers fill, then closes its socket with the replies unread, so
/// Linux answers the server with a reset: the server's writes (and
/// reads) fail with an I/O error the handler must hear about.
fn reset_while_the_server_writes(kind: Kind) {
    let (tx, rx): (Sender<Heard>, Receiver<Heard>) = mpsc::channel();
    let server = start(kind, Flooder { events: tx });
    let mut tcp = raw_connect(server.addr);
    tcp.write_all(&text("flood")).unwrap();
    let mut byte = [0u8; 1];
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(
        tcp.peek(&mut byte).unwrap(),
        1,
        "{kind:?}: the flood never started"
    );
    thread::sleep(Duration::from_millis(300));
    drop(tcp); // unread data: the kernel sends RST
    let mut heard = Vec::new();
    let deadline = Instant::now() + 2 * WAIT;
    while !heard.iter().any(|h| matches!(h, Heard::Close(..))) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(h) => heard.push(h),
            Err(_) => panic!(
                "{kind:?}: no on_close within {:?}; heard {heard:?}",
                2 * WAIT
            ),
        }
    }
    // Anything late (a second on_error, a second on_close) counts too.
    while let Ok(h) = rx.recv_timeout(Duration::from_millis(300)) {
        heard.push(h);
    }
    let callbacks: Vec<&Heard> = heard
        .iter()
        .filter(|h| matches!(h, Heard::Error { .. } | Heard::Close(..)))
        .collect();
    let ok = matches!(
        callbacks[..],
        [Heard::Error { io: true, .. }, Heard::Close(1006, _)]
    );
    assert!(
        ok,
        "{kind:?} server: after the peer reset the connection mid-flood, expected the handler \
         to hear on_error(Error::Io) once then on_close(1006); it heard {heard:?}"
    );
}

#[test]
fn io_error_reaches_on_error_threaded() {
    reset_while_the_server_writes(Kind::Threaded);
}

#[test]
fn io_error_reaches_on_error_event_loop() {
    reset_while_the_server_writes(Kind::EventLoop);
}

#[cfg(all(feature = "uring", target_os = "linux"))]
#[test]
fn io_error_reaches_on_error_uring() {
    reset_while_the_server_writes(Kind::Uring);
}
