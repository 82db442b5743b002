//! The servers that queue sends (event loop, io_uring, tokio), and the
//! threaded server that does not: `on_sent` with the message's id, a
//! slow reader bounded by the high-water mark under each backpressure
//! policy, pongs past a full queue, and the threaded server's write
//! timeout; the open-client count on every kind. The harness is
//! `tests/support_servers/`, shared with `servers.rs`.
#![cfg(feature = "mio")]

mod support_servers;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support_servers::*;
use tungstenite::Message as TMessage;
use wsstack::frame::{Frame, OpCode};
use wsstack::server::{Backpressure, ServerBuilder};
use wsstack::CloseCode;

fn reports_on_sent(kind: Kind) {
    let (handler, rx, clients) = Recorder::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let mut ws = connect(&server.url("/"));
    next(&rx);
    let client = clients.lock().unwrap()[0].clone();
    let id = client.send("hello").unwrap();
    assert_eq!(ws.read().unwrap(), TMessage::text("hello"));
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Seen::Sent(id));
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

#[cfg(feature = "tokio")]
#[test]
fn tokio_reports_on_sent() {
    reports_on_sent(Kind::Tokio);
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

#[cfg(feature = "tokio")]
#[test]
fn tokio_slow_reader_is_bounded_by_the_high_water_mark() {
    slow_reader_is_bounded_by_the_high_water_mark(Kind::Tokio);
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

#[cfg(feature = "tokio")]
#[test]
fn tokio_control_frames_bypass_the_queue() {
    control_frames_bypass_the_queue(Kind::Tokio);
}

#[test]
fn every_kind_counts_opened_clients() {
    for kind in [
        Kind::Threaded,
        Kind::EventLoop,
        #[cfg(all(feature = "uring", target_os = "linux"))]
        Kind::Uring,
        #[cfg(feature = "tokio")]
        Kind::Tokio,
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
