//! The server suite's basics on the tokio server (`bind_tokio`), in the
//! pattern of `tests/servers.rs`: echo and per-client data, handshake
//! decisions, sends from other threads, panics, the connection limit,
//! slowloris, timers, close codes both ways, `on_sent`, the high-water
//! mark, I/O errors reaching `on_error`, graceful shutdown with 1001, and
//! `serve` inside a runtime the application owns. Clients are tungstenite
//! (a third-party implementation) and raw frames where a test needs to
//! misbehave.
#![cfg(feature = "tokio")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
use tungstenite::Message as TMessage;
use wsstack::connection::Config;
use wsstack::frame::{Frame, OpCode};
use wsstack::handshake::{ClientRequest, Rejection, Request};
use wsstack::server::{Backpressure, Client, Handler, SendError, ServerBuilder, ServerHandle};
use wsstack::{CloseCode, Error, FrameSocket, Message};

/// Bounds every wait in this file.
const WAIT: Duration = Duration::from_secs(20);

struct Running {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<Result<(), Error>>>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Shut down and wait for `run` to return.
    fn stop(mut self) {
        self.handle.shutdown();
        self.thread.take().unwrap().join().unwrap().unwrap();
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

fn start<H: Handler>(builder: ServerBuilder, handler: H) -> Running {
    let server = builder
        .address("127.0.0.1:0")
        .loops(2)
        .shutdown_timeout(Duration::from_secs(1))
        .bind_tokio()
        .unwrap();
    let (addr, handle) = (server.local_addr().unwrap(), server.handle());
    let thread = Some(thread::spawn(move || server.run(handler)));
    Running {
        addr,
        handle,
        thread,
    }
}

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

fn connect(url: &str) -> Ws {
    let (ws, _) = tungstenite::connect(url).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(WAIT)).unwrap();
    }
    ws
}

fn raw_client(server: &Running) -> FrameSocket<TcpStream> {
    let request = ClientRequest::new(&server.url("/")).unwrap();
    let tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    FrameSocket::connect(tcp, &request).unwrap().0
}

/// What the recording handler saw, in order.
#[derive(Debug, PartialEq, Eq, Clone)]
enum Seen {
    Open(String),
    Message(Message),
    Close(CloseCode, String),
    Error { io: bool },
    Sent(u64),
    Flooded(String),
}

type Clients = Arc<Mutex<Vec<Client<u32>>>>;

/// Echoes, counts messages per client in its data, records events and
/// keeps every client handle; "panic" panics, "count" answers the count,
/// "flood" sends 64 KiB messages until a send fails.
struct Recorder {
    events: Sender<Seen>,
    clients: Clients,
}

fn recorder() -> (Recorder, Receiver<Seen>, Clients) {
    let (tx, rx) = mpsc::channel();
    let clients = Clients::default();
    let handler = Recorder {
        events: tx,
        clients: clients.clone(),
    };
    (handler, rx, clients)
}

impl Handler for Recorder {
    type Data = u32;

    fn on_handshake(&self, request: &Request) -> Result<u32, Rejection> {
        match request.path() {
            "/forbidden" => Err(Rejection::status(403)),
            _ => Ok(0),
        }
    }

    fn on_open(&self, client: &Client<u32>) {
        self.clients.lock().unwrap().push(client.clone());
        let _ = self.events.send(Seen::Open(client.path().to_owned()));
    }

    fn on_message(&self, client: &Client<u32>, message: Message) {
        match message.as_text() {
            Some("panic") => panic!("the handler was asked to panic"),
            Some("count") => {
                let n = *client.data();
                let _ = client.send(format!("count={n}"));
                return;
            }
            Some("flood") => {
                let chunk = vec![0x5au8; 64 * 1024];
                let mut sent = 0;
                let outcome = loop {
                    match client.send(chunk.clone()) {
                        Ok(_) if sent < 4096 => sent += 1,
                        Ok(_) => break "256 MiB accepted".to_owned(),
                        Err(e) => break format!("send {} failed: {e}", sent + 1),
                    }
                };
                let _ = self.events.send(Seen::Flooded(outcome));
                return;
            }
            _ => {}
        }
        *client.data() += 1;
        let _ = self.events.send(Seen::Message(message.clone()));
        let _ = client.send(message);
    }

    fn on_close(&self, _client: &Client<u32>, code: CloseCode, reason: &str) {
        let _ = self.events.send(Seen::Close(code, reason.to_owned()));
    }

    fn on_error(&self, _client: &Client<u32>, error: &Error) {
        let io = matches!(error, Error::Io(_));
        let _ = self.events.send(Seen::Error { io });
    }

    fn on_sent(&self, _client: &Client<u32>, id: u64) {
        let _ = self.events.send(Seen::Sent(id));
    }
}

/// The next event other than `on_sent`.
fn next(rx: &Receiver<Seen>) -> Seen {
    loop {
        match rx.recv_timeout(WAIT).expect("handler event") {
            Seen::Sent(_) => continue,
            other => return other,
        }
    }
}

/// The next `on_close`.
fn next_close(rx: &Receiver<Seen>) -> (CloseCode, String) {
    loop {
        if let Seen::Close(code, reason) = next(rx) {
            return (code, reason);
        }
    }
}

#[test]
fn echo_and_per_client_data() {
    let (handler, rx, _) = recorder();
    let server = start(ServerBuilder::new(), handler);
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

#[test]
fn handshake_hook_rejects() {
    let (handler, _rx, _) = recorder();
    let server = start(ServerBuilder::new(), handler);
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

#[test]
fn sends_from_other_threads_arrive_in_order() {
    let (handler, rx, clients) = recorder();
    let server = start(ServerBuilder::new(), handler);
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

#[test]
fn handler_panic_closes_1011_and_the_server_lives() {
    let (handler, _rx, _) = recorder();
    let server = start(ServerBuilder::new(), handler);
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

#[test]
fn connection_limit_refuses_with_503() {
    let (handler, rx, _) = recorder();
    let server = start(ServerBuilder::new().max_connections(2), handler);
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

#[test]
fn slowloris_is_dropped() {
    let (handler, _rx, _) = recorder();
    let builder = ServerBuilder::new().handshake_timeout(Duration::from_millis(400));
    let server = start(builder, handler);
    let mut tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let started = Instant::now();
    tcp.write_all(b"G").unwrap();
    let mut buf = [0u8; 64];
    let n = tcp.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "connection closed without a response");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop();
}

#[test]
fn idle_timeout_closes_1001() {
    let (handler, _rx, _) = recorder();
    let config = Config::default().with_idle_timeout(Some(Duration::from_millis(300)));
    let server = start(ServerBuilder::new().connection(config), handler);
    let mut ws = connect(&server.url("/"));
    match ws.read() {
        Ok(TMessage::Close(Some(frame))) => assert_eq!(frame.code, TCloseCode::Away),
        other => panic!("expected a 1001 close, got {other:?}"),
    }
    server.stop();
}

#[test]
fn unanswered_ping_fails_the_client_with_1011() {
    let (handler, rx, _) = recorder();
    let config =
        Config::default().with_ping(Some(Duration::from_millis(200)), Duration::from_millis(300));
    let server = start(ServerBuilder::new().connection(config), handler);
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
    assert_eq!(next_close(&rx).0, 1011);
    server.stop();
}

#[test]
fn server_initiated_close_after_queued_messages() {
    let (handler, rx, clients) = recorder();
    let server = start(ServerBuilder::new(), handler);
    let mut ws = connect(&server.url("/"));
    next(&rx);
    let client = clients.lock().unwrap()[0].clone();
    client.send("last words").unwrap();
    client.close(4000, "bye");
    assert_eq!(client.send("too late"), Err(SendError::Closed));
    assert_eq!(ws.read().unwrap(), TMessage::text("last words"));
    match ws.read() {
        Ok(TMessage::Close(Some(frame))) => {
            assert_eq!(u16::from(frame.code), 4000);
            assert_eq!(&*frame.reason, "bye");
        }
        other => panic!("expected close 4000, got {other:?}"),
    }
    while ws.read().is_ok() {}
    assert_eq!(next_close(&rx).0, 4000);
    server.stop();
}

#[test]
fn protocol_errors_get_close_codes() {
    let (handler, rx, _) = recorder();
    let server = start(ServerBuilder::new(), handler);
    let mut sock = raw_client(&server);
    next(&rx);
    sock.send(&Frame::new(OpCode::Text, vec![0xff, 0xfe]))
        .unwrap();
    let f = sock.recv().unwrap();
    assert_eq!(f.close_code_and_reason().unwrap().0, 1007);
    assert_eq!(next(&rx), Seen::Error { io: false });
    assert!(matches!(next(&rx), Seen::Close(c, _) if c == 1007));
    server.stop();
}

#[test]
fn reports_on_sent() {
    let (handler, rx, clients) = recorder();
    let server = start(ServerBuilder::new(), handler);
    let mut ws = connect(&server.url("/"));
    next(&rx);
    let client = clients.lock().unwrap()[0].clone();
    let id = client.send("hello").unwrap();
    assert_eq!(ws.read().unwrap(), TMessage::text("hello"));
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Seen::Sent(id));
    server.stop();
}

/// A client that stops reading while another thread keeps sending to it:
/// the server never holds more than the high-water mark for it, and each
/// policy does what it says.
#[test]
fn slow_reader_is_bounded_by_the_high_water_mark() {
    const HWM: usize = 256 * 1024;
    for policy in [
        Backpressure::Drop,
        Backpressure::Retry,
        Backpressure::Close(CloseCode::new(1013)),
    ] {
        let (handler, rx, clients) = recorder();
        let builder = ServerBuilder::new()
            .high_water_mark(HWM)
            .backpressure(policy);
        let server = start(builder, handler);
        let ws = connect(&server.url("/"));
        next(&rx);
        let client = clients.lock().unwrap()[0].clone();
        let chunk = vec![7u8; 16 * 1024];
        let (mut refused, mut max_buffered, mut closed) = (0, 0, false);
        for _ in 0..2000 {
            match client.send(chunk.clone()) {
                Ok(_) => {}
                Err(SendError::Closed) => {
                    closed = true;
                    break;
                }
                Err(_) => refused += 1,
            }
            max_buffered = max_buffered.max(client.buffered_amount());
        }
        assert!(
            max_buffered <= HWM + chunk.len(),
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

/// The client floods itself with replies, then resets the connection
/// with them unread: the server's write fails, and the handler hears
/// `on_error(Error::Io)` once, then `on_close(1006)`.
#[test]
fn io_error_reaches_on_error() {
    let (handler, rx, _) = recorder();
    let server = start(ServerBuilder::new(), handler);
    let mut sock = raw_client(&server);
    next(&rx);
    sock.send(&Frame::text("flood")).unwrap();
    assert!(matches!(next(&rx), Seen::Flooded(_)));
    // Replies are on their way; leave them unread so the kernel resets.
    let first = sock.recv().unwrap();
    assert_eq!(first.opcode, OpCode::Binary);
    drop(sock);
    let mut heard = Vec::new();
    loop {
        let seen = next(&rx);
        let end = matches!(seen, Seen::Close(..));
        heard.push(seen);
        if end {
            break;
        }
    }
    assert!(
        matches!(
            heard[..],
            [
                Seen::Error { io: true },
                Seen::Close(CloseCode::ABNORMAL, _)
            ]
        ),
        "expected on_error(Error::Io) once, then on_close(1006); heard {heard:?}"
    );
    server.stop();
}

#[test]
fn graceful_shutdown_flushes_then_closes_1001() {
    let (handler, rx, clients) = recorder();
    let server = start(ServerBuilder::new(), handler);
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
    assert_eq!(next_close(&rx).0, CloseCode::GOING_AWAY);
    let addr = server.addr;
    server.stop();
    assert!(handle.is_shutting_down());
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
    assert!(refused.is_err(), "{addr} still accepts after shutdown");
}

/// A client that never answers the shutdown's Close is cut once the
/// shutdown timeout passes, and reported (1006) before `run` returns.
#[test]
fn shutdown_cuts_clients_that_do_not_answer() {
    let (handler, rx, _) = recorder();
    let server = start(ServerBuilder::new(), handler);
    let mut sock = raw_client(&server);
    next(&rx);
    let started = Instant::now();
    let handle = server.handle.clone();
    let stopper = thread::spawn(move || server.stop());
    let f = sock.recv().unwrap();
    assert_eq!(f.close_code_and_reason().unwrap().0, 1001);
    // We never answer.
    stopper.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(next_close(&rx).0, CloseCode::ABNORMAL);
    assert_eq!(handle.stats().open, 0);
}

/// A client that never answers our Close is dropped after the close
/// timeout, and reported as 1006.
#[test]
fn unanswered_close_times_out() {
    let (handler, rx, clients) = recorder();
    let config = Config::default().with_close_timeout(Duration::from_millis(300));
    let server = start(ServerBuilder::new().connection(config), handler);
    let mut sock = raw_client(&server);
    next(&rx);
    clients.lock().unwrap()[0].close(4001, "go");
    let f = sock.recv().unwrap();
    assert_eq!(f.close_code_and_reason().unwrap().0, 4001);
    let started = Instant::now();
    assert!(matches!(
        sock.recv(),
        Err(Error::ConnectionClosed) | Err(Error::Io(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(next_close(&rx).0, 1006);
    server.stop();
}

/// `serve` runs on a runtime the application owns, next to its own tasks.
#[test]
fn serve_on_the_applications_runtime() {
    let (handler, rx, _) = recorder();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = ServerBuilder::new()
        .address("127.0.0.1:0")
        .bind_tokio()
        .unwrap();
    let (addr, handle) = (server.local_addr().unwrap(), server.handle());
    let thread = thread::spawn(move || runtime.block_on(server.serve(handler)));
    let mut ws = connect(&format!("ws://{addr}/own"));
    assert_eq!(next(&rx), Seen::Open("/own".into()));
    ws.send(TMessage::text("hi")).unwrap();
    assert_eq!(ws.read().unwrap(), TMessage::text("hi"));
    handle.shutdown();
    thread.join().unwrap().unwrap();
}

/// Hub deliveries (framed once, `send_prepared`) reach the tokio server's
/// clients in order with their own sends, and rooms work.
#[test]
fn hub_broadcast_and_rooms_reach_tokio_clients() {
    let (handler, rx, clients) = recorder();
    let server = start(ServerBuilder::new(), handler);
    let mut a = connect(&server.url("/a"));
    let mut b = connect(&server.url("/b"));
    next(&rx);
    next(&rx);
    let hub = server.handle.hub::<u32>().expect("the server's hub");
    assert_eq!(hub.len(), 2);
    let all = clients.lock().unwrap().clone();
    let in_room = all.iter().find(|c| c.path() == "/a").unwrap();
    assert!(in_room.subscribe("room"));
    in_room.send("direct first").unwrap();
    let delivery = hub.broadcast("to everyone");
    assert_eq!(delivery.delivered, 2);
    assert_eq!(hub.publish("room", "to the room").delivered, 1);
    assert_eq!(a.read().unwrap(), TMessage::text("direct first"));
    assert_eq!(a.read().unwrap(), TMessage::text("to everyone"));
    assert_eq!(a.read().unwrap(), TMessage::text("to the room"));
    assert_eq!(b.read().unwrap(), TMessage::text("to everyone"));
    drop(a);
    next_close(&rx);
    assert_eq!(hub.len(), 1, "a closed client leaves the hub");
    server.stop();
}
