//! One behavioural suite, run against every server kind (threaded, event
//! loop, io_uring with the `uring` feature, tokio with the `tokio`
//! feature): echo, per-client data, handshake decisions, sends from other
//! threads, panics, limits, timeouts, server-initiated close and graceful
//! shutdown; for the servers that queue sends, `on_sent`, the high-water
//! mark and control frames past a full queue. The clients are tungstenite
//! (a third-party implementation) and, where a test needs to misbehave on
//! purpose, raw frames. What only the tokio server does (its own runtime,
//! cutting clients at the shutdown timeout) is in `tokio_server.rs`.
#![cfg(feature = "mio")]

mod support_servers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use support_servers::*;
use tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
use tungstenite::Message as TMessage;
use wsstack::connection::Config;
use wsstack::frame::{Frame, OpCode};
use wsstack::server::ServerBuilder;
use wsstack::CloseCode;
use wsstack::Error;

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
                #[cfg(feature = "tokio")]
                #[test]
                fn tokio() {
                    super::$name(super::Kind::Tokio);
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
    assert_eq!(next(&rx), Seen::Error { io: false });
    assert!(matches!(next(&rx), Seen::Close(c, _) if c == 1007));
    server.stop();
}

// ---- the servers that queue sends (event loop, io_uring) ----

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
