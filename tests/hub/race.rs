//! Publishers on several threads racing clients that connect and
//! disconnect: the members that stay get every message exactly once and in
//! each publisher's order, nothing panics, and the registry and the
//! server's open count come back to what is really connected.

use std::sync::{Arc, Barrier};
use std::time::Instant;

use super::*;

const PUBLISHERS: usize = 4;
const PUBLISHES: usize = 200;
const STAYERS: usize = 10;
/// Connected and disconnected by `CHURN_THREADS` threads while the
/// publishers run: half close cleanly, half drop their socket.
const CHURNERS: usize = 50;
const CHURN_THREADS: usize = 5;

crate::both!(publishing_races_connects_and_disconnects);

fn publishing_races_connects_and_disconnects(kind: Kind) {
    let (handler, mut ev) = Rooms::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let hub = server.hub.clone();
    let mut stayers: Vec<Ws> = (0..STAYERS)
        .map(|_| connect(&server.url("/?rooms=race")))
        .collect();
    for _ in 0..STAYERS {
        ev.open();
    }
    let go = Arc::new(Barrier::new(PUBLISHERS + CHURN_THREADS));
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let (hub, go) = (hub.clone(), go.clone());
            thread::spawn(move || {
                go.wait();
                (0..PUBLISHES)
                    .map(|i| hub.publish("race", format!("{p}:{i}")))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let churn_url = server.url("/?rooms=race,side");
    let churners: Vec<_> = (0..CHURN_THREADS)
        .map(|t| {
            let (url, go) = (churn_url.clone(), go.clone());
            thread::spawn(move || {
                go.wait();
                for i in 0..CHURNERS / CHURN_THREADS {
                    let ws = connect(&url);
                    if (t + i) % 2 == 0 {
                        close(ws);
                    } else {
                        drop(ws);
                    }
                }
            })
        })
        .collect();

    for publisher in publishers {
        for d in publisher.join().expect("a publisher panicked") {
            assert!(d.delivered >= STAYERS, "every stayer takes it: {d:?}");
            assert_eq!(d.dropped, 0, "nobody is over its mark: {d:?}");
            assert!(d.delivered + d.closed <= STAYERS + CHURNERS, "{d:?}");
        }
    }
    for churner in churners {
        churner.join().expect("a churning client panicked");
    }
    // Every churner's on_close found it gone from the hub and its rooms.
    for _ in 0..CHURNERS {
        ev.open();
        ev.closed();
    }
    assert_eq!(hub.len(), STAYERS);
    assert_eq!(hub.members("race").len(), STAYERS);
    assert_eq!(hub.rooms(), ["race"], "the churners' side room is gone");

    assert_eq!(hub.broadcast("end"), all(STAYERS));
    for ws in &mut stayers {
        let mut next = [0usize; PUBLISHERS];
        for _ in 0..PUBLISHERS * PUBLISHES {
            let got = text(ws);
            let (p, i) = got.split_once(':').expect("p:i");
            let (p, i): (usize, usize) = (p.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[p], "publisher {p}'s messages in order, once each");
            next[p] += 1;
        }
        assert_eq!(text(ws), "end", "nothing more than the publications");
    }

    for ws in stayers {
        close(ws);
        ev.closed();
    }
    assert!(hub.is_empty() && hub.rooms().is_empty());
    // The open count drops right after on_close returns.
    let deadline = Instant::now() + WAIT;
    while server.handle.stats().open != 0 {
        assert!(Instant::now() < deadline, "{:?}", server.handle.stats());
        thread::yield_now();
    }
    let stats = server.handle.stats();
    assert_eq!(stats.accepted, (STAYERS + CHURNERS) as u64);
    assert_eq!(stats.handler_panics, 0);
    server.stop();
}
