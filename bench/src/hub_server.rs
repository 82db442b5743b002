//! The server side of the fan-out benchmark (`docs/BENCHMARKS.md` §4): a
//! wsstack server with one event loop (or threaded) whose clients say by
//! their path what they are:
//!
//! - `/member`: subscribed to the room `room` on open, then sent `ready`;
//! - `/control`: every message it sends is published to `room`
//!   (`Hub::publish`: framed, and compressed, once); the text `stats` is
//!   answered with `delivered=… dropped=… closed=…` summed over every
//!   publication so far;
//! - `/echo`: every message is echoed (the §2 echo, for the ratio).
//!
//! Run by `fanout` (`fanout serve KIND plain|deflate`) or on its own as
//! `hub_server`.

use std::sync::atomic::{AtomicU64, Ordering};

use wsstack::server::{Client, Handler, ServerBuilder};
use wsstack::Message;

/// The room every member is in.
pub const ROOM: &str = "room";

/// The handler: members, the publisher, echo clients.
#[derive(Default)]
pub struct FanOut {
    delivered: AtomicU64,
    dropped: AtomicU64,
    closed: AtomicU64,
}

impl Handler for FanOut {
    type Data = ();

    fn on_open(&self, client: &Client) {
        if client.path() == "/member" {
            client.subscribe(ROOM);
            let _ = client.send("ready");
        }
    }

    fn on_message(&self, client: &Client, message: Message) {
        match client.path() {
            "/echo" => {
                let _ = client.send(message);
            }
            "/control" if message.as_text() == Some("stats") => {
                let _ = client.send(format!(
                    "delivered={} dropped={} closed={}",
                    self.delivered.load(Ordering::Relaxed),
                    self.dropped.load(Ordering::Relaxed),
                    self.closed.load(Ordering::Relaxed)
                ));
            }
            "/control" => {
                let d = client.hub().publish(ROOM, message);
                self.delivered
                    .fetch_add(d.delivered as u64, Ordering::Relaxed);
                self.dropped.fetch_add(d.dropped as u64, Ordering::Relaxed);
                self.closed.fetch_add(d.closed as u64, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// Serve on 127.0.0.1, port 0, with `kind` (`event-loop`, one loop, or
/// `threaded`), and permessage-deflate without server context takeover
/// when `deflate`. Prints the address on the first line of stdout.
pub fn serve(kind: &str, deflate: bool) {
    let builder = ServerBuilder::new()
        .address("127.0.0.1:0")
        .loops(1)
        .max_connections(20_000)
        .permessage_deflate(deflate);
    match kind {
        "event-loop" => {
            let server = builder.bind_event_loop().unwrap();
            println!("{}", server.local_addr().unwrap());
            server.run(FanOut::default()).unwrap();
        }
        "threaded" => {
            let server = builder.bind_threaded().unwrap();
            println!("{}", server.local_addr().unwrap());
            server.run(FanOut::default()).unwrap();
        }
        other => panic!("unknown server kind {other:?}: event-loop or threaded"),
    }
}
