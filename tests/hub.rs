//! The hub against both servers: who is connected (by id and by address),
//! rooms (joins, leaves, idempotence), publishing from handlers and from
//! threads the server did not start, `*_except` skipping the sender, and a
//! client leaving the hub before its `on_close`. The clients are
//! tungstenite; `hub/race.rs` races publishers against connects and
//! disconnects, `hub/backpressure.rs` puts a slow member in a room under
//! each policy, `hub/prepared.rs` checks that a message is framed (and
//! compressed) once, and `hub/broker.rs` what a `Broker` is told.
#![cfg(feature = "mio")]

mod support;

#[path = "hub/backpressure.rs"]
mod backpressure;
#[path = "hub/broker.rs"]
mod broker;
#[path = "hub/prepared.rs"]
mod prepared;
#[path = "hub/race.rs"]
mod race;

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tungstenite::stream::MaybeTlsStream;
use tungstenite::Message as TMessage;
use wsstack::server::{Client, Delivery, Handler, Hub, ServerBuilder, ServerHandle};
use wsstack::{CloseCode, Message};

/// Bounds every wait in this file.
pub const WAIT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Threaded,
    EventLoop,
    #[cfg(all(feature = "uring", target_os = "linux"))]
    Uring,
}

/// A server running on a thread of its own, with the hub it was given.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub hub: Hub,
    thread: Option<JoinHandle<Result<(), wsstack::Error>>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Shut down and wait for `run` to return.
    pub fn stop(mut self) {
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

/// Start `kind` on port 0 with a fresh hub handed over through
/// `ServerBuilder::hub`, so the test holds it before any client comes.
pub fn start<H: Handler<Data = ()>>(kind: Kind, builder: ServerBuilder, handler: H) -> Running {
    let hub = Hub::new();
    let builder = builder
        .address("127.0.0.1:0")
        .loops(2)
        .shutdown_timeout(Duration::from_secs(1))
        .hub(hub.clone());
    let (addr, handle, thread) = match kind {
        Kind::Threaded => {
            let server = builder.bind_threaded().unwrap();
            let (addr, handle) = (server.local_addr().unwrap(), server.handle());
            (addr, handle, thread::spawn(move || server.run(handler)))
        }
        Kind::EventLoop => {
            let server = builder.bind_event_loop().unwrap();
            let (addr, handle) = (server.local_addr().unwrap(), server.handle());
            (addr, handle, thread::spawn(move || server.run(handler)))
        }
        #[cfg(all(feature = "uring", target_os = "linux"))]
        Kind::Uring => {
            let server = builder.bind_uring().unwrap();
            let (addr, handle) = (server.local_addr().unwrap(), server.handle());
            (addr, handle, thread::spawn(move || server.run(handler)))
        }
    };
    Running {
        addr,
        handle,
        hub,
        thread: Some(thread),
    }
}

pub type Ws = tungstenite::WebSocket<MaybeTlsStream<TcpStream>>;

pub fn connect(url: &str) -> Ws {
    let (ws, _) = tungstenite::connect(url).unwrap();
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(WAIT)).unwrap();
    }
    ws
}

/// The client side's address: the server's peer address for it.
pub fn local_addr(ws: &Ws) -> SocketAddr {
    match ws.get_ref() {
        MaybeTlsStream::Plain(s) => s.local_addr().unwrap(),
        _ => unreachable!("plain TCP only"),
    }
}

/// The next message, which must be text.
pub fn text(ws: &mut Ws) -> String {
    match ws.read() {
        Ok(TMessage::Text(t)) => t.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Close cleanly and read until the server's Close ends the connection.
pub fn close(mut ws: Ws) {
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
}

/// What a client's `on_close` found in the hub.
#[derive(Debug)]
pub struct Gone {
    pub id: u64,
    pub code: CloseCode,
    /// `hub.get(id)` still found it.
    pub by_id: bool,
    /// `hub.by_addr(peer)` still found it.
    pub by_addr: bool,
    /// Among `hub.clients()`.
    pub listed: bool,
    /// `client.rooms()`.
    pub rooms: Vec<String>,
    /// Rooms whose members (or `is_member`) still include it.
    pub member_of: Vec<String>,
}

impl Gone {
    pub fn assert_left(&self) {
        assert!(
            !self.by_id && !self.by_addr && !self.listed,
            "still registered in on_close: {self:?}"
        );
        assert!(
            self.rooms.is_empty() && self.member_of.is_empty(),
            "still in a room in on_close: {self:?}"
        );
    }
}

/// What the handler reports.
#[derive(Debug)]
pub enum Ev {
    Open(Client),
    Delivery(Delivery),
    Closed(Gone),
}

/// Clients join the rooms of `?rooms=a,b` when they open, and send text
/// commands: `join:R` and `leave:R` (answered `joined:R:<bool>` and
/// `left:R:<bool>`), `rooms` (answered with `client.rooms()` joined by
/// commas), `pub:R:TEXT`, `pubx:R:TEXT` (publish_except) and `bcx:TEXT`
/// (broadcast_except), whose `Delivery` goes to the events.
pub struct Rooms {
    events: Mutex<Sender<Ev>>,
}

impl Rooms {
    pub fn new() -> (Rooms, Events) {
        let (tx, rx) = mpsc::channel();
        (
            Rooms {
                events: Mutex::new(tx),
            },
            Events {
                rx,
                held: VecDeque::new(),
            },
        )
    }

    fn report(&self, ev: Ev) {
        let _ = self.events.lock().unwrap().send(ev);
    }
}

impl Handler for Rooms {
    type Data = ();

    fn on_open(&self, client: &Client) {
        if let Some(rooms) = client.request().query_param("rooms") {
            for room in rooms.split(',') {
                client.subscribe(room);
            }
        }
        self.report(Ev::Open(client.clone()));
    }

    fn on_message(&self, client: &Client, message: Message) {
        let Some(text) = message.as_text() else {
            return;
        };
        let hub = client.hub();
        if let Some(room) = text.strip_prefix("join:") {
            let _ = client.send(format!("joined:{room}:{}", client.subscribe(room)));
        } else if let Some(room) = text.strip_prefix("leave:") {
            let _ = client.send(format!("left:{room}:{}", client.unsubscribe(room)));
        } else if text == "rooms" {
            let _ = client.send(client.rooms().join(","));
        } else if let Some(rest) = text.strip_prefix("pub:") {
            let (room, body) = rest.split_once(':').unwrap();
            self.report(Ev::Delivery(hub.publish(room, body)));
        } else if let Some(rest) = text.strip_prefix("pubx:") {
            let (room, body) = rest.split_once(':').unwrap();
            self.report(Ev::Delivery(hub.publish_except(room, body, client)));
        } else if let Some(body) = text.strip_prefix("bcx:") {
            self.report(Ev::Delivery(hub.broadcast_except(body, client)));
        }
    }

    fn on_close(&self, client: &Client, code: CloseCode, _reason: &str) {
        let hub = client.hub();
        let id = client.id();
        let member_of = hub
            .rooms()
            .into_iter()
            .filter(|r| hub.is_member(client, r) || hub.members(r).iter().any(|m| m.id() == id))
            .collect();
        self.report(Ev::Closed(Gone {
            id,
            code,
            by_id: hub.get(id).is_some(),
            by_addr: hub.by_addr(client.peer_addr()).is_some(),
            listed: hub.clients().iter().any(|c| c.id() == id),
            rooms: client.rooms(),
            member_of,
        }));
    }
}

/// The handler's reports, taken by kind (others are held for later).
pub struct Events {
    rx: Receiver<Ev>,
    held: VecDeque<Ev>,
}

impl Events {
    fn take<T>(&mut self, what: &str, pick: impl Fn(&Ev) -> bool, into: impl Fn(Ev) -> T) -> T {
        if let Some(i) = self.held.iter().position(&pick) {
            return into(self.held.remove(i).unwrap());
        }
        loop {
            let ev = self
                .rx
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no {what} in time (held: {:?})", self.held));
            if pick(&ev) {
                return into(ev);
            }
            self.held.push_back(ev);
        }
    }

    pub fn open(&mut self) -> Client {
        self.take(
            "open",
            |e| matches!(e, Ev::Open(_)),
            |e| match e {
                Ev::Open(c) => c,
                _ => unreachable!(),
            },
        )
    }

    pub fn delivery(&mut self) -> Delivery {
        self.take(
            "delivery",
            |e| matches!(e, Ev::Delivery(_)),
            |e| match e {
                Ev::Delivery(d) => d,
                _ => unreachable!(),
            },
        )
    }

    /// The next `on_close` report, checked: the client had left the hub.
    pub fn closed(&mut self) -> Gone {
        let gone = self.take(
            "close",
            |e| matches!(e, Ev::Closed(_)),
            |e| match e {
                Ev::Closed(g) => g,
                _ => unreachable!(),
            },
        );
        gone.assert_left();
        gone
    }
}

/// A delivery of `n` with nothing dropped or closed.
pub fn all(n: usize) -> Delivery {
    Delivery {
        delivered: n,
        dropped: 0,
        closed: 0,
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
pub(crate) use both;

both!(
    joins_and_leaves,
    subscribe_is_idempotent,
    registry_by_id_and_address,
    publish_from_a_foreign_thread,
    except_skips_the_sender,
    a_client_leaves_the_hub_before_on_close,
);

fn joins_and_leaves(kind: Kind) {
    let (handler, mut ev) = Rooms::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let hub = server.hub.clone();
    let mut a = connect(&server.url("/"));
    let ca = ev.open();
    let mut b = connect(&server.url("/"));
    let cb = ev.open();
    assert!(hub.rooms().is_empty() && ca.rooms().is_empty());
    for (ws, room) in [(0, "red"), (0, "blue"), (1, "red")] {
        let ws = if ws == 0 { &mut a } else { &mut b };
        ws.send(TMessage::text(format!("join:{room}"))).unwrap();
        assert_eq!(text(ws), format!("joined:{room}:true"));
    }
    assert_eq!(hub.rooms(), ["blue", "red"]);
    assert_eq!(ca.rooms(), ["blue", "red"], "client.rooms() is sorted");
    assert_eq!(cb.rooms(), ["red"]);
    assert_eq!(hub.rooms_of(&ca), ca.rooms());
    let mut red: Vec<u64> = hub.members("red").iter().map(Client::id).collect();
    red.sort();
    let mut both = vec![ca.id(), cb.id()];
    both.sort();
    assert_eq!(red, both);
    assert!(hub.is_member(&ca, "blue") && !hub.is_member(&cb, "blue"));
    a.send(TMessage::text("rooms")).unwrap();
    assert_eq!(text(&mut a), "blue,red");

    // Leaving: the last member takes the room with it.
    a.send(TMessage::text("leave:blue")).unwrap();
    assert_eq!(text(&mut a), "left:blue:true");
    assert_eq!(hub.rooms(), ["red"]);
    assert_eq!(ca.rooms(), ["red"]);
    assert!(hub.members("blue").is_empty());
    b.send(TMessage::text("leave:red")).unwrap();
    assert_eq!(text(&mut b), "left:red:true");
    assert!(cb.rooms().is_empty());
    assert_eq!(hub.members("red").len(), 1);
    // Leaving a room one is not in, or that does not exist.
    b.send(TMessage::text("leave:red")).unwrap();
    assert_eq!(text(&mut b), "left:red:false");
    b.send(TMessage::text("leave:nowhere")).unwrap();
    assert_eq!(text(&mut b), "left:nowhere:false");
    // The same from a thread of the test's own, through the client handles.
    assert!(cb.subscribe("green") && !cb.subscribe("green"));
    assert!(cb.unsubscribe("green") && !cb.unsubscribe("green"));
    assert_eq!(hub.rooms(), ["red"]);
    close(a);
    ev.closed();
    assert!(hub.rooms().is_empty(), "a's leaving emptied red");
    close(b);
    ev.closed();
    server.stop();
}

fn subscribe_is_idempotent(kind: Kind) {
    let (handler, mut ev) = Rooms::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let hub = server.hub.clone();
    let mut a = connect(&server.url("/?rooms=red,red"));
    let ca = ev.open();
    assert_eq!(ca.rooms(), ["red"], "?rooms=red,red joins once");
    a.send(TMessage::text("join:red")).unwrap();
    assert_eq!(text(&mut a), "joined:red:false");
    assert!(!hub.subscribe(&ca, "red"));
    assert_eq!(hub.members("red").len(), 1);
    // One delivery per member however often it subscribed.
    assert_eq!(hub.publish("red", "once"), all(1));
    assert_eq!(hub.broadcast("end"), all(1));
    assert_eq!(text(&mut a), "once");
    assert_eq!(text(&mut a), "end", "no second copy");
    // One unsubscribe undoes them all.
    assert!(ca.unsubscribe("red"));
    assert_eq!(hub.publish("red", "nobody"), all(0));
    assert!(hub.rooms().is_empty());
    close(a);
    ev.closed();
    server.stop();
}

fn registry_by_id_and_address(kind: Kind) {
    let (handler, mut ev) = Rooms::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let hub = server.hub.clone();
    assert!(hub.is_empty());
    let a = connect(&server.url("/a"));
    let ca = ev.open();
    let b = connect(&server.url("/b"));
    let cb = ev.open();
    assert_eq!(hub.len(), 2);
    assert_ne!(ca.id(), cb.id());
    for (ws, client) in [(&a, &ca), (&b, &cb)] {
        let addr = local_addr(ws);
        assert_eq!(client.peer_addr(), addr);
        let found = hub.by_addr(addr).expect("found by address");
        assert!(found.same_client(client), "{found:?} is {client:?}");
        assert!(hub.get(client.id()).unwrap().same_client(client));
        assert!(client.hub().same_hub(&hub));
    }
    assert_eq!(ca.path(), "/a");
    assert!(hub.clients().iter().any(|c| c.same_client(&cb)));
    let unknown: SocketAddr = "127.0.0.1:1".parse().unwrap();
    assert!(hub.by_addr(unknown).is_none());
    let a_addr = local_addr(&a);
    drop(a); // abruptly
    let gone = ev.closed();
    assert_eq!(gone.id, ca.id());
    assert_eq!(gone.code, CloseCode::ABNORMAL);
    assert!(hub.by_addr(a_addr).is_none() && hub.get(ca.id()).is_none());
    assert_eq!(hub.len(), 1);
    assert!(hub.by_addr(local_addr(&b)).is_some());
    close(b);
    ev.closed();
    assert!(hub.is_empty());
    server.stop();
}

/// The hub given to `ServerBuilder::hub`, used from a thread the server
/// did not start: each member gets the message once, nobody else does, and
/// the `Delivery` says so.
fn publish_from_a_foreign_thread(kind: Kind) {
    let (handler, mut ev) = Rooms::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let mut members: Vec<Ws> = (0..5)
        .map(|_| connect(&server.url("/?rooms=news")))
        .collect();
    let mut others: Vec<Ws> = (0..2).map(|_| connect(&server.url("/"))).collect();
    for _ in 0..7 {
        ev.open();
    }
    let from_handle = server.handle.hub::<()>().expect("the running server's hub");
    assert!(from_handle.same_hub(&server.hub));
    assert!(server.handle.hub::<u32>().is_none(), "another data type");
    let hub = server.hub.clone();
    let publisher = thread::spawn(move || {
        let news = hub.publish("news", "flash");
        let end = hub.broadcast("end");
        (news, end)
    });
    let (news, end) = publisher.join().unwrap();
    assert_eq!(news, all(5));
    assert_eq!(end, all(7));
    for ws in &mut members {
        assert_eq!(text(ws), "flash");
        assert_eq!(text(ws), "end");
    }
    for ws in &mut others {
        assert_eq!(text(ws), "end", "not a member: no news");
    }
    // A room nobody is in.
    assert_eq!(server.hub.publish("sports", "goal"), all(0));
    for ws in members.into_iter().chain(others) {
        close(ws);
        ev.closed();
    }
    assert!(server.hub.is_empty());
    server.stop();
}

fn except_skips_the_sender(kind: Kind) {
    let (handler, mut ev) = Rooms::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let mut room: Vec<Ws> = (0..3)
        .map(|_| connect(&server.url("/?rooms=lobby")))
        .collect();
    let mut outsider = connect(&server.url("/"));
    for _ in 0..4 {
        ev.open();
    }
    room[0].send(TMessage::text("pubx:lobby:hi")).unwrap();
    assert_eq!(ev.delivery(), all(2));
    room[0].send(TMessage::text("bcx:hello")).unwrap();
    assert_eq!(ev.delivery(), all(3));
    room[0].send(TMessage::text("pub:lobby:all of us")).unwrap();
    assert_eq!(ev.delivery(), all(3));
    assert_eq!(server.hub.broadcast("end"), all(4));
    for ws in &mut room[1..] {
        assert_eq!(text(ws), "hi");
        assert_eq!(text(ws), "hello");
        assert_eq!(text(ws), "all of us");
        assert_eq!(text(ws), "end");
    }
    assert_eq!(text(&mut room[0]), "all of us", "the sender got only pub");
    assert_eq!(text(&mut room[0]), "end");
    assert_eq!(text(&mut outsider), "hello");
    assert_eq!(text(&mut outsider), "end");
    for ws in room.into_iter().chain([outsider]) {
        close(ws);
        ev.closed();
    }
    server.stop();
}

/// However a client goes (its close, ours, a dropped socket), its
/// `on_close` already finds it out of the registry and every room.
fn a_client_leaves_the_hub_before_on_close(kind: Kind) {
    let (handler, mut ev) = Rooms::new();
    let server = start(kind, ServerBuilder::new(), handler);
    let hub = server.hub.clone();
    let url = server.url("/?rooms=red,blue,green");
    let (a, b, mut c) = (connect(&url), connect(&url), connect(&url));
    let ids: Vec<u64> = (0..3).map(|_| ev.open().id()).collect();
    let stay = connect(&server.url("/?rooms=red"));
    ev.open();
    assert_eq!(hub.len(), 4);
    assert_eq!(hub.members("red").len(), 4);

    close(a); // the client closes
    let gone = ev.closed();
    assert_eq!(gone.code, CloseCode::NO_STATUS);
    drop(b); // the socket goes
    ev.closed();
    hub.members("green")[0].close(4000, "bye"); // the server closes
    match c.read() {
        Ok(TMessage::Close(Some(f))) => assert_eq!(u16::from(f.code), 4000),
        other => panic!("expected close 4000, got {other:?}"),
    }
    while c.read().is_ok() {}
    let gone = ev.closed();
    assert_eq!(gone.code, 4000);

    assert!(ids.iter().all(|id| hub.get(*id).is_none()));
    assert_eq!(hub.len(), 1);
    assert_eq!(hub.rooms(), ["red"]);
    assert_eq!(hub.publish("blue", "anyone?"), all(0));
    close(stay);
    ev.closed();
    assert!(hub.is_empty() && hub.rooms().is_empty());
    server.stop();
}
