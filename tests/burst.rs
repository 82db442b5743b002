//! A burst of sends queued from another thread all arrives, on every
//! server kind that queues sends (event loop, tokio, io_uring; the
//! threaded server writes on the sender's thread, bounded by its write
//! timeout): 4,000 messages of 4 KiB (16 MiB, far more than a socket
//! buffer holds) queued at once, then read by a tungstenite client.
//!
//! The event loop once wrote such a burst only a part (64 KiB) per 100 ms
//! timer tick: a pump that wrote everything it had encoded stopped there,
//! and an edge-triggered socket that took everything raises no new event.
//! Each read here is bounded, so a stall fails the test.
#![cfg(feature = "mio")]

use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::Duration;

use tungstenite::stream::MaybeTlsStream;
use wsstack::server::{Client, Handler, ServerBuilder, ServerKind};
use wsstack::Message;

/// Bounds every read: a stalled queue fails, a slow machine does not.
const WAIT: Duration = Duration::from_secs(10);
const MESSAGES: usize = 4000;
const SIZE: usize = 4096;

/// Hands each opened client to the test.
struct Opened(Mutex<mpsc::Sender<Client>>);

impl Handler for Opened {
    type Data = ();
    fn on_open(&self, client: &Client) {
        let _ = self.0.lock().unwrap().send(client.clone());
    }
}

fn kinds() -> Vec<ServerKind> {
    let mut kinds = vec![ServerKind::EventLoop];
    if cfg!(feature = "tokio") {
        kinds.push(ServerKind::Tokio);
    }
    if cfg!(all(feature = "uring", target_os = "linux")) {
        kinds.push(ServerKind::Uring);
    }
    kinds
}

#[test]
fn a_burst_queued_from_another_thread_all_arrives_in_order() {
    for kind in kinds() {
        let (tx, rx) = mpsc::channel();
        let server = ServerBuilder::new()
            .address("127.0.0.1:0")
            .high_water_mark(1 << 30)
            .bind(kind)
            .unwrap();
        let addr = server.local_addr().unwrap();
        let handle = server.handle();
        let running = thread::spawn(move || server.run(Opened(Mutex::new(tx))));
        let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/")).unwrap();
        if let MaybeTlsStream::Plain(tcp) = ws.get_ref() {
            tcp.set_read_timeout(Some(WAIT)).unwrap();
        }
        let client = rx.recv_timeout(WAIT).expect("on_open");
        // Queued from this thread, not the server's, all before any read.
        for i in 0..MESSAGES {
            let payload = vec![(i % 251) as u8; SIZE];
            client.send(Message::Binary(payload)).unwrap();
        }
        for i in 0..MESSAGES {
            match ws.read() {
                Ok(message) => {
                    let data = message.into_data();
                    assert_eq!(data.len(), SIZE, "{kind}: message {i}");
                    assert_eq!(data[0], (i % 251) as u8, "{kind}: message {i} out of order");
                }
                Err(e) => panic!("{kind}: message {i} of {MESSAGES} did not come: {e}"),
            }
        }
        drop(ws);
        handle.shutdown();
        running.join().unwrap().unwrap();
    }
}
