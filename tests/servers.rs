//! One behavioural suite, run against both servers: echo, per-client data,
//! handshake decisions, sends from other threads, panics, limits,
//! timeouts, server-initiated close and graceful shutdown. The clients are
//! tungstenite (a third-party implementation) and, where a test needs to
//! misbehave on purpose, raw frames.
#![cfg(feature = "mio")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
use tungstenite::Message as TMessage;
use wsstack::connection::Config;
use wsstack::frame::{Frame, OpCode};
use wsstack::handshake::{ClientRequest, Rejection, Request};
use wsstack::server::{Backpressure, Client, Handler, ServerBuilder, ServerHandle};
use wsstack::CloseCode;
use wsstack::FrameSocket;
use wsstack::{Error, Message};

/// Bounds every wait in this file.
const WAIT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug)]
enum Kind {
    Threaded,
    EventLoop,
    #[cfg(all(feature = "uring", target_os = "linux"))]
    Uring,
}

struct Running {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<Result<(), wsstack::Error>>>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Shut down and wait for `run` to return.
    fn stop(mut self) {
        self.handle.shutdown();
        let t = self.thread.take().unwrap();
        t.join().unwrap().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.shutdown();
            let _ = t.join();
        }
    }
}

fn start<H: Handler>(kind: Kind, builder: ServerBuilder, handler: H) -> Running {
    let builder = builder
        .address("127.0.0.1:0")
        .loops(2)
        .shutdown_timeout(Duration::from_secs(1));
    match kind {
        Kind::Threaded => {
            let server = builder.bind_threaded().unwrap();
            let (addr, handle) = (server.local_addr().unwrap(), server.handle());
            let thread = Some(thread::spawn(move || server.run(handler)));
            Running {
                addr,
                handle,
                thread,
            }
        }
        Kind::EventLoop => {
            let server = builder.bind_event_loop().unwrap();
            let (addr, handle) = (server.local_addr().unwrap(), server.handle());
            let thread = Some(thread::spawn(move || server.run(handler)));
            Running {
                addr,
                handle,
                thread,
            }
        }
        #[cfg(all(feature = "uring", target_os = "linux"))]
        Kind::Uring => {
            let server = builder.bind_uring().unwrap();
            let (addr, handle) = (server.local_addr().unwrap(), server.handle());
            let thread = Some(thread::spawn(move || server.run(handler)));
            Running {
                addr,
                handle,
                thread,
            }
        }
    }
}

fn connect(url: &str) -> tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>> {
    let (ws, _) = tungstenite::connect(url).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(WAIT)).unwrap();
    }
    ws
}

/// What the recording handler saw, in order.
#[derive(Debug, PartialEq, Eq, Clone)]
enum Seen {
    Open(String),
    Message(Message),
    Close(CloseCode, String),
    Error,
    Sent,
}

type Clients = Arc<Mutex<Vec<Client<u32>>>>;

/// Echoes, counts messages per client in its data, records events and
/// keeps every client handle.
struct Recorder {
    events: Sender<Seen>,
    clients: Clients,
}

impl Recorder {
    fn new() -> (Recorder, Receiver<Seen>, Clients) {
        let (tx, rx) = mpsc::channel();
        let clients = Arc::default();
        (
            Recorder {
                events: tx,
                clients: Arc::clone(&clients),
            },
            rx,
            clients,
        )
    }
}

impl Handler for Recorder {
    type Data = u32;

    fn on_handshake(&self, request: &Request) -> Result<u32, Rejection> {
        match request.path() {
            "/forbidden" => Err(Rejection::status(403)),
            // The client's data starts from the request: `?start=N`.
            _ => Ok(request
                .query_param("start")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)),
        }
    }

    fn on_open(&self, client: &Client<u32>) {
        self.clients.lock().unwrap().push(client.clone());
        let _ = self.events.send(Seen::Open(client.path().to_owned()));
    }

    fn on_message(&self, client: &Client<u32>, message: Message) {
        if message.as_text() == Some("panic") {
            panic!("the handler was asked to panic");
        }
        if message.as_text() == Some("count") {
            let n = *client.data();
            let _ = client.send(format!("count={n}"));
            return;
        }
        *client.data() += 1;
        let _ = self.events.send(Seen::Message(message.clone()));
        let _ = client.send(message);
    }

    fn on_close(&self, _client: &Client<u32>, code: CloseCode, reason: &str) {
        let _ = self.events.send(Seen::Close(code, reason.to_owned()));
    }

    fn on_error(&self, _client: &Client<u32>, _error: &Error) {
        let _ = self.events.send(Seen::Error);
    }

    fn on_sent(&self, _client: &Client<u32>, _id: u64) {
        let _ = self.events.send(Seen::Sent);
    }
}

fn next(rx: &Receiver<Seen>) -> Seen {
    loop {
        match rx.recv_timeout(WAIT).expect("handler event") {
            Seen::Sent => continue,
            other => return other,
        }
    }
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
    echo_and_per_client_data,
    handshake_hook_rejects,
    sends_from_other_threads,
    handler_panic_closes_1011_and_server_lives,
    connection_limit_refuses_with_503,
    slowloris_is_dropped,
    idle_timeout_closes,
    unanswered_ping_fails_the_client,
    server_initiated_close,
    graceful_shutdown_flushes_then_closes_1001,
    protocol_errors_get_close_codes,
    unanswered_close_times_out,
);

fn echo_and_per_client_data(kind: Kind) {
    let (handler, rx, _) = Recorder::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let mut a = connect(&server.url("/a"));
    let mut b = connect(&server.url("/b"));
    for i in 0..5 {
        a.send(TMessage::text(format!("a{i}"))).unwrap();
        assert_eq!(a.read().unwrap(), TMessage::text(format!("a{i}")));
    }
    b.send(TMessage::binary(vec![1, 2, 3])).unwrap();
    assert_eq!(b.read().unwrap(), TMessage::binary(vec![1, 2, 3]));
    b.send(TMessage::binary(vec![0u8; 200_000])).unwrap();
    assert_eq!(b.read().unwrap(), TMessage::binary(vec![0u8; 200_000]));
    a.send(TMessage::text("count")).unwrap();
    assert_eq!(a.read().unwrap(), TMessage::text("count=5"));
    b.send(TMessage::text("count")).unwrap();
    assert_eq!(b.read().unwrap(), TMessage::text("count=2"));
    a.close(None).unwrap();
    while a.read().is_ok() {}
    let mut seen = Vec::new();
    // 2 opens, 7 echoed messages, a's close.
    while seen.len() < 10 {
        seen.push(next(&rx));
    }
    assert!(seen.contains(&Seen::Open("/a".into())) && seen.contains(&Seen::Open("/b".into())));
    assert!(
        seen.contains(&Seen::Close(CloseCode::NO_STATUS, String::new())),
        "{seen:?}"
    );
    assert_eq!(server.handle.stats().accepted, 2);
    drop(b);
    server.stop();
}

fn handshake_hook_rejects(kind: Kind) {
    let (handler, _rx, _) = Recorder::new();
    let server = start(kind, ServerBuilder::new(), handler);
    match tungstenite::connect(server.url("/forbidden")) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    // A plain HTTP request is refused with 400.
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut resp = String::new();
    let _ = tcp.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(server.handle.stats().refused >= 2);
    server.stop();
}

fn sends_from_other_threads(kind: Kind) {
    let (handler, rx, clients) = Recorder::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let mut sockets: Vec<_> = (0..5).map(|_| connect(&server.url("/"))).collect();
    for _ in 0..5 {
        assert!(matches!(next(&rx), Seen::Open(_)));
    }
    let all = clients.lock().unwrap().clone();
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let all = all.clone();
            thread::spawn(move || {
                for i in 0..25 {
                    for c in &all {
                        c.send(format!("t{t}-{i}")).unwrap();
                    }
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    for ws in &mut sockets {
        let mut per_thread = [0usize; 4];
        for _ in 0..100 {
            let TMessage::Text(t) = ws.read().unwrap() else {
                panic!("text expected")
            };
            let (t, i) = t[1..].split_once('-').unwrap();
            let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
            assert_eq!(per_thread[t], i, "each thread's messages arrive in order");
            per_thread[t] += 1;
        }
    }
    server.stop();
}

fn handler_panic_closes_1011_and_server_lives(kind: Kind) {
    let (handler, _rx, _) = Recorder::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let mut ws = connect(&server.url("/"));
    ws.send(TMessage::text("panic")).unwrap();
    loop {
        match ws.read() {
            Ok(TMessage::Close(Some(frame))) => {
                assert_eq!(frame.code, TCloseCode::Error);
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("expected a 1011 close, got {e}"),
        }
    }
    let mut other = connect(&server.url("/"));
    other.send(TMessage::text("still here")).unwrap();
    assert_eq!(other.read().unwrap(), TMessage::text("still here"));
    assert_eq!(server.handle.stats().handler_panics, 1);
    server.stop();
}

fn connection_limit_refuses_with_503(kind: Kind) {
    let (handler, rx, _) = Recorder::new();
    let server = start(kind, ServerBuilder::new().max_connections(2), handler);
    let _a = connect(&server.url("/"));
    let _b = connect(&server.url("/"));
    next(&rx);
    next(&rx);
    match tungstenite::connect(server.url("/")) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
        other => panic!("expected 503, got {other:?}"),
    }
    server.stop();
}

fn slowloris_is_dropped(kind: Kind) {
    let (handler, _rx, _) = Recorder::new();
    let builder = ServerBuilder::new().handshake_timeout(Duration::from_millis(400));
    let server = start(kind, builder, handler);
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let started = std::time::Instant::now();
    // One header byte, then nothing: the server gives up by itself.
    tcp.write_all(b"G").unwrap();
    let mut buf = [0u8; 64];
    let n = tcp.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "connection closed without a response");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop();
}

fn idle_timeout_closes(kind: Kind) {
    let (handler, _rx, _) = Recorder::new();
    let config = Config::default().with_idle_timeout(Some(Duration::from_millis(300)));
    let server = start(kind, ServerBuilder::new().connection(config), handler);
    let mut ws = connect(&server.url("/"));
    match ws.read() {
        Ok(TMessage::Close(Some(frame))) => assert_eq!(frame.code, TCloseCode::Away),
        other => panic!("expected a 1001 close, got {other:?}"),
    }
    server.stop();
}

fn raw_client(server: &Running) -> FrameSocket<TcpStream> {
    let request = ClientRequest::new(&server.url("/")).unwrap();
    let tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    FrameSocket::connect(tcp, &request).unwrap().0
}

fn unanswered_ping_fails_the_client(kind: Kind) {
    let (handler, rx, _) = Recorder::new();
    let config =
        Config::default().with_ping(Some(Duration::from_millis(200)), Duration::from_millis(300));
    let server = start(kind, ServerBuilder::new().connection(config), handler);
    // Raw frames: this client never answers pings.
    let mut sock = raw_client(&server);
    let mut pings = 0;
    loop {
        let f = sock.recv().unwrap();
        match f.opcode {
            OpCode::Ping => pings += 1,
            OpCode::Close => {
                assert_eq!(f.close_code_and_reason().unwrap().0, 1011);
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(pings, 1);
    loop {
        if let Seen::Close(code, _) = next(&rx) {
            assert_eq!(code, 1011);
            break;
        }
    }
    server.stop();
}

fn server_initiated_close(kind: Kind) {
    let (handler, rx, clients) = Recorder::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let mut ws = connect(&server.url("/"));
    next(&rx);
    let client = clients.lock().unwrap()[0].clone();
    client.send("last words").unwrap();
    client.close(4000, "bye");
    assert_eq!(
        client.send("too late"),
        Err(wsstack::server::SendError::Closed)
    );
    assert_eq!(ws.read().unwrap(), TMessage::text("last words"));
    match ws.read() {
        Ok(TMessage::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 4000);
            assert_eq!(&*frame.reason, "bye");
        }
        other => panic!("expected close 4000, got {other:?}"),
    }
    while ws.read().is_ok() {}
    loop {
        if let Seen::Close(code, _) = next(&rx) {
            assert_eq!(code, 4000);
            break;
        }
    }
    server.stop();
}

fn graceful_shutdown_flushes_then_closes_1001(kind: Kind) {
    let (handler, rx, clients) = Recorder::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let mut ws = connect(&server.url("/"));
    next(&rx);
    let client = clients.lock().unwrap()[0].clone();
    for i in 0..50 {
        client.send(format!("queued {i}")).unwrap();
    }
    let handle = server.handle.clone();
    handle.shutdown();
    for i in 0..50 {
        assert_eq!(
            ws.read().unwrap(),
            TMessage::text(format!("queued {i}")),
            "nothing accepted is lost"
        );
    }
    match ws.read() {
        Ok(TMessage::Close(Some(frame))) => assert_eq!(frame.code, TCloseCode::Away),
        other => panic!("expected 1001, got {other:?}"),
    }
    while ws.read().is_ok() {}
    let addr = server.addr;
    server.stop();
    assert!(handle.is_shutting_down());
    // The server's own listener is gone: its address refuses connections.
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    assert!(refused.is_err(), "{addr} still accepts after shutdown");
}

fn protocol_errors_get_close_codes(kind: Kind) {
    let (handler, rx, _) = Recorder::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let mut sock = raw_client(&server);
    next(&rx);
    sock.send(&Frame::new(OpCode::Text, vec![0xff, 0xfe]))
        .unwrap();
    let f = sock.recv().unwrap();
    assert_eq!(f.close_code_and_reason().unwrap().0, 1007);
    assert_eq!(next(&rx), Seen::Error);
    assert!(matches!(next(&rx), Seen::Close(c, _) if c == 1007));
    server.stop();
}

// ---- the servers that queue sends (event loop, io_uring) ----

fn reports_on_sent(kind: Kind) {
    let (handler, rx, clients) = Recorder::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let mut ws = connect(&server.url("/"));
    next(&rx);
    let client = clients.lock().unwrap()[0].clone();
    let id = client.send("hello").unwrap();
    assert_eq!(ws.read().unwrap(), TMessage::text("hello"));
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Seen::Sent,
        "on_sent for message {id}"
    );
    server.stop();
}

#[test]
fn event_loop_reports_on_sent() {
    reports_on_sent(Kind::EventLoop);
}

#[cfg(all(feature = "uring", target_os = "linux"))]
#[test]
fn uring_reports_on_sent() {
    reports_on_sent(Kind::Uring);
}

/// A client that stops reading while another thread keeps sending to it:
/// the server never holds more than the high-water mark for it.
fn slow_reader_is_bounded_by_the_high_water_mark(kind: Kind) {
    const HWM: usize = 256 * 1024;
    for policy in [
        Backpressure::Drop,
        Backpressure::Retry,
        Backpressure::Close(CloseCode::new(1013)),
    ] {
        let (handler, rx, clients) = Recorder::new();
        let builder = ServerBuilder::new()
            .high_water_mark(HWM)
            .backpressure(policy);
        let server = start(kind, builder, handler);
        let ws = connect(&server.url("/"));
        next(&rx);
        let client = clients.lock().unwrap()[0].clone();
        let chunk = vec![7u8; 16 * 1024];
        let mut refused = 0;
        let mut max_buffered = 0;
        let mut closed = false;
        for _ in 0..2000 {
            match client.send(chunk.clone()) {
                Ok(_) => {}
                Err(wsstack::server::SendError::Closed) => {
                    closed = true;
                    break;
                }
                Err(_) => refused += 1,
            }
            max_buffered = max_buffered.max(client.buffered_amount());
        }
        // Once encoded, a message also counts its frame header (at most
        // 14 bytes), so the bound is the mark plus one framed message.
        assert!(
            max_buffered <= HWM + chunk.len() + wsstack::frame::MAX_HEADER_LEN,
            "{policy:?}: {max_buffered} buffered"
        );
        match policy {
            Backpressure::Drop => {
                assert!(refused > 0);
                assert_eq!(server.handle.stats().dropped_messages, refused);
            }
            Backpressure::Retry => assert!(refused > 0),
            Backpressure::Close(_) => assert!(closed, "the slow client is closed"),
        }
        drop(ws);
        server.stop();
    }
}

#[test]
fn event_loop_slow_reader_is_bounded_by_the_high_water_mark() {
    slow_reader_is_bounded_by_the_high_water_mark(Kind::EventLoop);
}

#[cfg(all(feature = "uring", target_os = "linux"))]
#[test]
fn uring_slow_reader_is_bounded_by_the_high_water_mark() {
    slow_reader_is_bounded_by_the_high_water_mark(Kind::Uring);
}

/// Pongs and closes are never dropped or stuck behind a full queue.
fn control_frames_bypass_the_queue(kind: Kind) {
    let (handler, rx, clients) = Recorder::new();
    let builder = ServerBuilder::new()
        .high_water_mark(64 * 1024)
        .backpressure(Backpressure::Drop);
    let server = start(kind, builder, handler);
    let mut sock = raw_client(&server);
    next(&rx);
    let client = clients.lock().unwrap()[0].clone();
    for _ in 0..100 {
        let _ = client.send(vec![1u8; 8 * 1024]);
    }
    sock.send(&Frame::ping("are you there")).unwrap();
    let mut got_pong = false;
    for _ in 0..200 {
        let f = sock.recv().unwrap();
        if f.opcode == OpCode::Pong {
            assert_eq!(f.payload, b"are you there");
            got_pong = true;
            break;
        }
    }
    assert!(got_pong);
    server.stop();
}

#[test]
fn event_loop_control_frames_bypass_the_queue() {
    control_frames_bypass_the_queue(Kind::EventLoop);
}

#[cfg(all(feature = "uring", target_os = "linux"))]
#[test]
fn uring_control_frames_bypass_the_queue() {
    control_frames_bypass_the_queue(Kind::Uring);
}

#[test]
fn two_kinds_count_opened_clients() {
    for kind in [
        Kind::Threaded,
        Kind::EventLoop,
        #[cfg(all(feature = "uring", target_os = "linux"))]
        Kind::Uring,
    ] {
        let (handler, rx, _) = Recorder::new();
        let server = start(kind, ServerBuilder::new(), handler);
        let sockets: Vec<_> = (0..3).map(|_| connect(&server.url("/"))).collect();
        for _ in 0..3 {
            next(&rx);
        }
        assert_eq!(server.handle.stats().open, 3);
        drop(sockets);
        let counter = AtomicUsize::new(0);
        while counter.load(Ordering::Relaxed) < 3 {
            if let Seen::Close(code, _) = next(&rx) {
                assert_eq!(code, 1006);
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        server.stop();
    }
}

/// Threaded server: a send to a client that stopped reading blocks the
/// sender (nothing piles up in the server), and the write timeout ends it.
#[test]
fn threaded_slow_reader_is_cut_off_by_the_write_timeout() {
    let (handler, rx, clients) = Recorder::new();
    let builder = ServerBuilder::new().write_timeout(Duration::from_millis(500));
    let server = start(Kind::Threaded, builder, handler);
    let _ws = connect(&server.url("/")); // never reads
    next(&rx);
    let client = clients.lock().unwrap()[0].clone();
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0;
    let outcome = loop {
        assert!(
            client.buffered_amount() <= chunk.len() + 14,
            "the threaded server buffers at most one frame"
        );
        match client.send(chunk.clone()) {
            Ok(_) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 100_000, "the socket buffers cannot hold this much");
    };
    assert_eq!(outcome, wsstack::server::SendError::Closed);
    loop {
        if let Seen::Close(code, _) = next(&rx) {
            assert_eq!(code, 1006);
            break;
        }
    }
    server.stop();
}

/// A client that never answers our Close is dropped after the close
/// timeout, and reported as 1006.
fn unanswered_close_times_out(kind: Kind) {
    let (handler, rx, clients) = Recorder::new();
    let config = Config::default().with_close_timeout(Duration::from_millis(300));
    let server = start(kind, ServerBuilder::new().connection(config), handler);
    let mut sock = raw_client(&server);
    next(&rx);
    clients.lock().unwrap()[0].close(4001, "go");
    let f = sock.recv().unwrap();
    assert_eq!(f.close_code_and_reason().unwrap().0, 4001);
    // We never reply; the server hangs up by itself.
    let started = std::time::Instant::now();
    assert!(matches!(
        sock.recv(),
        Err(Error::ConnectionClosed) | Err(Error::Io(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
    loop {
        if let Seen::Close(code, _) = next(&rx) {
            assert_eq!(code, 1006);
            break;
        }
    }
    server.stop();
}
