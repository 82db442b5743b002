//! A member that stops reading, in a room with members that keep up, under
//! each backpressure policy, on both servers: what the publisher's
//! `Delivery` says, what the slow member ends up with, and that the others
//! get everything. The publisher is the test's own thread, in lockstep
//! with the fast members (each publication waits until both have it), so
//! only the slow member can fall behind.

use super::*;
use wsstack::connection::Config;
use wsstack::server::Backpressure;

/// The high-water mark, and the size of one publication.
const HWM: usize = 64 * 1024;
const SIZE: usize = 16 * 1024;
/// The kernel's socket buffers fill long before this many publications.
const MAX_PUBLISHES: u32 = 4000;
/// Publications refused to the slow member before the test stops.
const REFUSALS: usize = 5;

crate::both!(slow_member_drop, slow_member_retry);

mod slow_member_close_1013 {
    use super::*;

    #[test]
    fn event_loop() {
        slow_member(
            Kind::EventLoop,
            Backpressure::Close(CloseCode::TRY_AGAIN_LATER),
        );
    }

    #[test]
    fn threaded() {
        slow_member(
            Kind::Threaded,
            Backpressure::Close(CloseCode::TRY_AGAIN_LATER),
        );
    }

    #[cfg(all(feature = "uring", target_os = "linux"))]
    #[test]
    fn uring() {
        slow_member(Kind::Uring, Backpressure::Close(CloseCode::TRY_AGAIN_LATER));
    }
}

fn slow_member_drop(kind: Kind) {
    slow_member(kind, Backpressure::Drop);
}

fn slow_member_retry(kind: Kind) {
    slow_member(kind, Backpressure::Retry);
}

fn payload(seq: u32) -> Vec<u8> {
    let mut p = vec![(seq % 251) as u8; SIZE];
    p[..4].copy_from_slice(&seq.to_le_bytes());
    p
}

fn seq_of(message: TMessage) -> u32 {
    match message {
        TMessage::Binary(b) => {
            assert_eq!(b.len(), SIZE);
            assert!(b[4..].iter().all(|x| *x == b[4]), "payload intact");
            u32::from_le_bytes(b[..4].try_into().unwrap())
        }
        other => panic!("expected a publication, got {other:?}"),
    }
}

/// A member that keeps up: a thread reads every publication and reports
/// its number, until the text `end`.
fn fast_reader(mut ws: Ws) -> (Receiver<u32>, JoinHandle<Ws>) {
    let (tx, rx) = mpsc::channel();
    let thread = thread::spawn(move || loop {
        match ws.read().expect("a fast member reads") {
            TMessage::Text(t) if t.as_str() == "end" => return ws,
            message => {
                let _ = tx.send(seq_of(message));
            }
        }
    });
    (rx, thread)
}

fn slow_member(kind: Kind, policy: Backpressure) {
    let closing = matches!(policy, Backpressure::Close(_));
    let (handler, mut ev) = Rooms::new();
    let builder = ServerBuilder::new()
        .high_water_mark(HWM)
        .backpressure(policy)
        // The slow member stalls the threaded server's writer thread for
        // the whole test; only a broken peer should hit this.
        .write_timeout(Duration::from_secs(30));
    let server = start(kind, builder, handler);
    let hub = server.hub.clone();
    let url = server.url("/?rooms=room");
    let fast: Vec<_> = (0..2)
        .map(|_| {
            let ws = connect(&url);
            ev.open();
            fast_reader(ws)
        })
        .collect();
    let mut slow = connect(&url);
    let slow_id = ev.open().id();

    let mut slow_given = Vec::new();
    let mut refused = 0;
    let mut first_refusal = None;
    let mut dropped = 0;
    let mut seq = 0;
    while refused < REFUSALS {
        assert!(
            seq < MAX_PUBLISHES,
            "{policy:?}: the slow member never filled up"
        );
        let d = hub.publish("room", payload(seq));
        if closing {
            assert_eq!((d.delivered, d.dropped), (3 - d.closed, 0), "{d:?}");
        } else {
            assert_eq!((d.delivered, d.closed), (3 - d.dropped, 0), "{d:?}");
        }
        assert!(d.delivered >= 2, "the fast members always take it: {d:?}");
        if d.delivered == 3 {
            assert!(
                !closing || first_refusal.is_none(),
                "a closed member takes nothing more"
            );
            slow_given.push(seq);
        } else {
            refused += 1;
            dropped += d.dropped;
            first_refusal.get_or_insert(seq);
        }
        for (rx, _) in &fast {
            assert_eq!(rx.recv_timeout(WAIT).expect("a fast member"), seq);
        }
        seq += 1;
    }
    let first_refusal = first_refusal.unwrap();
    assert!(first_refusal > 0, "an empty queue always takes one message");
    let stats = server.handle.stats();
    match policy {
        // Retry (and Close) are refusals, not drops, for the server's count.
        Backpressure::Drop => assert_eq!(stats.dropped_messages, dropped as u64),
        _ => assert_eq!(stats.dropped_messages, 0),
    }

    // The slow member catches up: exactly what it was given, in order.
    for &want in &slow_given {
        assert_eq!(seq_of(slow.read().unwrap()), want, "{policy:?}");
    }
    if closing {
        match slow.read() {
            Ok(TMessage::Close(Some(f))) => assert_eq!(u16::from(f.code), 1013),
            other => panic!("expected close 1013, got {other:?}"),
        }
        while slow.read().is_ok() {}
        let gone = ev.closed();
        assert_eq!((gone.id, gone.code), (slow_id, CloseCode::TRY_AGAIN_LATER));
        assert_eq!(hub.members("room").len(), 2, "it left the room");
        assert_eq!(hub.broadcast("end"), all(2));
    } else {
        assert_eq!(hub.broadcast("end"), all(3));
        assert_eq!(text(&mut slow), "end", "nothing it was refused");
        close(slow);
        ev.closed();
    }
    for (rx, reader) in fast {
        let ws = reader.join().expect("a fast member got everything");
        assert!(rx.try_recv().is_err());
        close(ws);
        ev.closed();
    }
    assert!(hub.is_empty());
    server.stop();
}

/// Event loop: a member closed by the policy that never reads again is
/// dropped at the close timeout, and leaves the room then.
fn slow_member_that_never_reads_leaves_at_the_close_timeout(kind: Kind) {
    let (handler, mut ev) = Rooms::new();
    let config = Config::default().with_close_timeout(Duration::from_millis(300));
    let builder = ServerBuilder::new()
        .high_water_mark(HWM)
        .backpressure(Backpressure::Close(CloseCode::TRY_AGAIN_LATER))
        .connection(config);
    let server = start(kind, builder, handler);
    let slow = connect(&server.url("/?rooms=room"));
    let id = ev.open().id();
    let mut seq = 0;
    while server.hub.publish("room", payload(seq)).closed == 0 {
        seq += 1;
        assert!(seq < MAX_PUBLISHES, "the slow member never filled up");
    }
    let gone = ev.closed();
    assert_eq!((gone.id, gone.code), (id, CloseCode::ABNORMAL));
    assert!(server.hub.members("room").is_empty());
    drop(slow);
    server.stop();
}

#[test]
fn event_loop_slow_member_that_never_reads_leaves_at_the_close_timeout() {
    slow_member_that_never_reads_leaves_at_the_close_timeout(Kind::EventLoop);
}

#[cfg(all(feature = "uring", target_os = "linux"))]
#[test]
fn uring_slow_member_that_never_reads_leaves_at_the_close_timeout() {
    slow_member_that_never_reads_leaves_at_the_close_timeout(Kind::Uring);
}
