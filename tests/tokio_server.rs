//! What only the tokio server (`bind_tokio`) does, beyond the behavioural
//! suite it shares with every server kind in `tests/servers.rs`: an I/O
//! error reaching `on_error` before `on_close(1006)`, cutting clients that
//! do not answer the shutdown's Close at the shutdown timeout, `serve`
//! inside a runtime the application owns, and hub broadcasts and rooms
//! reaching its clients. Clients are tungstenite (a third-party
//! implementation) and raw frames where a test needs to misbehave.
#![cfg(feature = "tokio")]

mod support_servers;

use std::thread;
use std::time::{Duration, Instant};

use support_servers::*;
use tungstenite::Message as TMessage;
use wsstack::frame::{Frame, OpCode};
use wsstack::server::ServerBuilder;
use wsstack::CloseCode;

/// The client floods itself with replies, then resets the connection
/// with them unread: the server's write fails, and the handler hears
/// `on_error(Error::Io)` once, then `on_close(1006)`.
#[test]
fn io_error_reaches_on_error() {
    let (handler, rx, _) = Recorder::new();
    let server = start(Kind::Tokio, ServerBuilder::new(), handler);
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

/// A client that never answers the shutdown's Close is cut once the
/// shutdown timeout passes, and reported (1006) before `run` returns.
#[test]
fn shutdown_cuts_clients_that_do_not_answer() {
    let (handler, rx, _) = Recorder::new();
    let server = start(Kind::Tokio, ServerBuilder::new(), handler);
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

/// `serve` runs on a runtime the application owns, next to its own tasks.
#[test]
fn serve_on_the_applications_runtime() {
    let (handler, rx, _) = Recorder::new();
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
    let (handler, rx, clients) = Recorder::new();
    let server = start(Kind::Tokio, ServerBuilder::new(), handler);
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
