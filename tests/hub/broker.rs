//! The hub's seam to other nodes: what a [`Broker`] is told (publications,
//! rooms opening and closing), what it hands back through its [`Remote`]
//! (delivered here, never published again), and that a hub with a broker
//! is still freed once its last handle goes.

use std::sync::Arc;

use super::*;
use wsstack::server::{Broker, Remote};

/// What a broker was told, in order.
#[derive(Debug, PartialEq, Eq)]
enum Told {
    Publish(Option<String>, String),
    Opened(String),
    Closed(String),
}

#[derive(Default)]
struct Recording {
    told: Mutex<Vec<Told>>,
    remote: Mutex<Option<Remote>>,
}

impl Recording {
    fn take(&self) -> Vec<Told> {
        std::mem::take(&mut self.told.lock().unwrap())
    }

    /// Another node published `text` on `room`.
    fn published_elsewhere(&self, room: Option<&str>, text: &str) {
        let remote = self.remote.lock().unwrap().clone().expect("attached");
        remote.deliver(room, Message::from(text));
    }
}

impl Broker for Recording {
    fn attach(&self, remote: Remote) {
        *self.remote.lock().unwrap() = Some(remote);
    }
    fn publish(&self, room: Option<&str>, message: &Message) {
        let text = message.as_text().unwrap_or_default().to_owned();
        let told = Told::Publish(room.map(str::to_owned), text);
        self.told.lock().unwrap().push(told);
    }
    fn room_opened(&self, room: &str) {
        self.told
            .lock()
            .unwrap()
            .push(Told::Opened(room.to_owned()));
    }
    fn room_closed(&self, room: &str) {
        self.told
            .lock()
            .unwrap()
            .push(Told::Closed(room.to_owned()));
    }
}

fn publish(room: Option<&str>, text: &str) -> Told {
    Told::Publish(room.map(str::to_owned), text.to_owned())
}

crate::both!(a_broker_hears_rooms_and_publications);

fn a_broker_hears_rooms_and_publications(kind: Kind) {
    let (handler, mut ev) = Rooms::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let hub = server.hub.clone();
    let mut a = connect(&server.url("/?rooms=red"));
    let ca = ev.open();
    let broker = Arc::new(Recording::default());
    hub.set_broker(broker.clone());
    assert_eq!(broker.take(), [Told::Opened("red".into())], "rooms it has");

    let mut b = connect(&server.url("/"));
    ev.open();
    b.send(TMessage::text("join:red")).unwrap();
    assert_eq!(text(&mut b), "joined:red:true");
    b.send(TMessage::text("join:blue")).unwrap();
    assert_eq!(text(&mut b), "joined:blue:true");
    assert_eq!(
        broker.take(),
        [Told::Opened("blue".into())],
        "only a first member opens"
    );

    assert_eq!(hub.publish("red", "p"), all(2));
    assert_eq!(hub.publish_except("red", "px", &ca), all(1));
    assert_eq!(hub.broadcast("b"), all(2));
    assert_eq!(hub.broadcast_except("bx", &ca), all(1));
    assert_eq!(hub.publish("green", "nobody here"), all(0));
    assert_eq!(
        broker.take(),
        [
            publish(Some("red"), "p"),
            publish(Some("red"), "px"),
            publish(None, "b"),
            publish(None, "bx"),
            publish(Some("green"), "nobody here"),
        ],
        "every publication goes to the other nodes, whoever is here"
    );

    // From another node: delivered here, not published again.
    broker.published_elsewhere(Some("blue"), "remote blue");
    broker.published_elsewhere(None, "remote all");
    assert_eq!(hub.deliver_local(Some("red"), "local red"), all(2));
    assert!(broker.take().is_empty(), "no echo to the other nodes");
    for t in ["p", "b", "remote all", "local red"] {
        assert_eq!(text(&mut a), t);
    }
    for t in [
        "p",
        "px",
        "b",
        "bx",
        "remote blue",
        "remote all",
        "local red",
    ] {
        assert_eq!(text(&mut b), t);
    }

    b.send(TMessage::text("leave:blue")).unwrap();
    assert_eq!(text(&mut b), "left:blue:true");
    assert_eq!(broker.take(), [Told::Closed("blue".into())]);
    close(b);
    ev.closed();
    assert!(broker.take().is_empty(), "red still has a");
    close(a);
    ev.closed();
    assert_eq!(
        broker.take(),
        [Told::Closed("red".into())],
        "the last member left"
    );
    server.stop();
}

/// The broker holds its `Remote`, and the hub holds the broker: that must
/// not keep the hub alive once every handle of it is gone.
#[test]
fn a_hub_with_a_broker_is_freed_with_its_last_handle() {
    let broker = Arc::new(Recording::default());
    let hub: Hub = Hub::new();
    hub.set_broker(broker.clone());
    let other = hub.clone();
    drop(hub);
    assert_eq!(Arc::strong_count(&broker), 2, "a handle is left");
    drop(other);
    assert_eq!(
        Arc::strong_count(&broker),
        1,
        "the hub let go of the broker"
    );
    // What other nodes still publish goes nowhere, without a panic.
    broker.published_elsewhere(Some("red"), "late");
}
