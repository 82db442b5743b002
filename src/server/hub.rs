//! The [`Hub`]: who is connected, rooms, and publishing to them from any
//! thread.

use std::any::Any;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::broker::{Broker, InProcessBroker, Remote};
use super::{Client, SendError};
use crate::connection::{Message, PreparedMessage};

/// What became of one publication on this node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Recipients that took the message (it is queued or written).
    pub delivered: usize,
    /// Recipients whose backpressure policy refused it (their queue was
    /// over its high-water mark).
    pub dropped: usize,
    /// Recipients that were closing by the time it reached them.
    pub closed: usize,
}

impl Delivery {
    fn count(&mut self, result: Result<super::MessageId, SendError>) {
        match result {
            Ok(_) => self.delivered += 1,
            Err(SendError::Closed) => self.closed += 1,
            Err(_) => self.dropped += 1,
        }
    }
}

#[derive(Default)]
struct Registry<D> {
    clients: HashMap<u64, Client<D>>,
    by_addr: HashMap<SocketAddr, u64>,
    rooms: HashMap<String, HashSet<u64>>,
    memberships: HashMap<u64, BTreeSet<String>>,
}

struct HubInner<D> {
    registry: RwLock<Registry<D>>,
    broker: RwLock<Arc<dyn Broker>>,
}

/// The registry of a server's connected clients, their rooms, and
/// publishing to rooms or to everyone.
///
/// A hub is cheap to clone and every method works from any thread: a
/// handler callback, a thread of your own, a timer. Reach it from a
/// callback with [`Client::hub`], from outside with the handle you gave
/// [`ServerBuilder::hub`](super::ServerBuilder::hub) (or
/// [`ServerHandle::hub`](super::ServerHandle::hub)).
///
/// A client is in the hub from just before `on_open` until just before
/// `on_close`: when `on_close` runs it is in no room and no publication
/// reaches it any more.
///
/// A published message is framed once (and, where every recipient's
/// permessage-deflate keeps no context between messages, compressed once)
/// and the same bytes are queued for every recipient; each recipient's
/// backpressure policy applies on its own, so a slow client never holds
/// up the others, and the returned [`Delivery`] says how many took it.
///
/// ```
/// use wsstack::server::{Client, Handler, Hub};
/// use wsstack::Message;
///
/// struct Chat;
///
/// impl Handler for Chat {
///     type Data = ();
///     fn on_message(&self, client: &Client, message: Message) {
///         match message.as_text() {
///             Some(room) if room.starts_with("join:") => {
///                 client.subscribe(&room[5..]);
///             }
///             _ => {
///                 for room in client.rooms() {
///                     client.hub().publish(&room, message.clone());
///                 }
///             }
///         }
///     }
/// }
///
/// let hub: Hub = Hub::new();
/// assert_eq!(hub.len(), 0);
/// assert_eq!(hub.publish("lobby", "nobody hears this").delivered, 0);
/// ```
pub struct Hub<D = ()> {
    inner: Arc<HubInner<D>>,
}

impl<D> Clone for Hub<D> {
    fn clone(&self) -> Self {
        Hub {
            inner: self.inner.clone(),
        }
    }
}

impl<D> Default for Hub<D> {
    fn default() -> Self {
        Hub::new()
    }
}

impl<D> fmt::Debug for Hub<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.read();
        f.debug_struct("Hub")
            .field("clients", &r.clients.len())
            .field("rooms", &r.rooms.len())
            .finish()
    }
}

impl<D> Hub<D> {
    /// An empty hub with the in-process broker.
    pub fn new() -> Hub<D> {
        Hub {
            inner: Arc::new(HubInner {
                registry: RwLock::new(Registry {
                    clients: HashMap::new(),
                    by_addr: HashMap::new(),
                    rooms: HashMap::new(),
                    memberships: HashMap::new(),
                }),
                broker: RwLock::new(Arc::new(InProcessBroker)),
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Registry<D>> {
        self.inner
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Registry<D>> {
        self.inner
            .registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn broker(&self) -> Arc<dyn Broker> {
        self.inner
            .broker
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether two handles are the same hub.
    pub fn same_hub(&self, other: &Hub<D>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The number of connected clients.
    pub fn len(&self) -> usize {
        self.read().clients.len()
    }

    /// Whether no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The client with this id, if connected.
    pub fn get(&self, id: u64) -> Option<Client<D>> {
        self.read().clients.get(&id).cloned()
    }

    /// The client connected from this address, if any.
    pub fn by_addr(&self, addr: SocketAddr) -> Option<Client<D>> {
        let r = self.read();
        r.by_addr
            .get(&addr)
            .and_then(|id| r.clients.get(id))
            .cloned()
    }

    /// Every connected client, in no particular order (a snapshot).
    pub fn clients(&self) -> Vec<Client<D>> {
        self.read().clients.values().cloned().collect()
    }

    /// Every room with at least one member, sorted.
    pub fn rooms(&self) -> Vec<String> {
        let mut rooms: Vec<String> = self.read().rooms.keys().cloned().collect();
        rooms.sort();
        rooms
    }

    /// The members of `room` (a snapshot).
    pub fn members(&self, room: &str) -> Vec<Client<D>> {
        let r = self.read();
        r.rooms.get(room).map_or_else(Vec::new, |ids| {
            ids.iter()
                .filter_map(|id| r.clients.get(id).cloned())
                .collect()
        })
    }

    /// The rooms `client` is in, sorted.
    pub fn rooms_of(&self, client: &Client<D>) -> Vec<String> {
        self.read()
            .memberships
            .get(&client.id())
            .map_or_else(Vec::new, |rooms| rooms.iter().cloned().collect())
    }

    /// Whether `client` is in `room`.
    pub fn is_member(&self, client: &Client<D>, room: &str) -> bool {
        self.read()
            .rooms
            .get(room)
            .is_some_and(|ids| ids.contains(&client.id()))
    }

    /// Put `client` in `room`. Idempotent: returns `false` if it was
    /// already there, or is no longer connected.
    pub fn subscribe(&self, client: &Client<D>, room: &str) -> bool {
        let opened = {
            let mut r = self.write();
            let id = client.id();
            if !r.clients.contains_key(&id) {
                return false;
            }
            let members = r.rooms.entry(room.to_owned()).or_default();
            if !members.insert(id) {
                return false;
            }
            let opened = members.len() == 1;
            r.memberships.entry(id).or_default().insert(room.to_owned());
            opened
        };
        if opened {
            self.broker().room_opened(room);
        }
        true
    }

    /// Take `client` out of `room`. Idempotent: returns `false` if it was
    /// not there.
    pub fn unsubscribe(&self, client: &Client<D>, room: &str) -> bool {
        let closed = {
            let mut r = self.write();
            let id = client.id();
            let Some(members) = r.rooms.get_mut(room) else {
                return false;
            };
            if !members.remove(&id) {
                return false;
            }
            let closed = members.is_empty();
            if closed {
                r.rooms.remove(room);
            }
            if let Some(rooms) = r.memberships.get_mut(&id) {
                rooms.remove(room);
            }
            closed
        };
        if closed {
            self.broker().room_closed(room);
        }
        true
    }

    /// Send `message` to every member of `room`, on this node and (through
    /// the broker) on every other node.
    pub fn publish(&self, room: &str, message: impl Into<Message>) -> Delivery {
        let prepared = PreparedMessage::new(message);
        self.broker().publish(Some(room), prepared.message());
        self.deliver(Some(room), &prepared, None)
    }

    /// [`publish`](Hub::publish) to every member of `room` but `sender`.
    pub fn publish_except(
        &self,
        room: &str,
        message: impl Into<Message>,
        sender: &Client<D>,
    ) -> Delivery {
        let prepared = PreparedMessage::new(message);
        self.broker().publish(Some(room), prepared.message());
        self.deliver(Some(room), &prepared, Some(sender.id()))
    }

    /// Send `message` to every connected client, on this node and (through
    /// the broker) on every other node.
    pub fn broadcast(&self, message: impl Into<Message>) -> Delivery {
        let prepared = PreparedMessage::new(message);
        self.broker().publish(None, prepared.message());
        self.deliver(None, &prepared, None)
    }

    /// [`broadcast`](Hub::broadcast) to everyone but `sender`.
    pub fn broadcast_except(&self, message: impl Into<Message>, sender: &Client<D>) -> Delivery {
        let prepared = PreparedMessage::new(message);
        self.broker().publish(None, prepared.message());
        self.deliver(None, &prepared, Some(sender.id()))
    }

    /// Deliver to this node's members of `room` (everyone for `None`),
    /// without involving the broker: what a broker calls for a message
    /// that another node published.
    pub fn deliver_local(&self, room: Option<&str>, message: impl Into<Message>) -> Delivery {
        self.deliver(room, &PreparedMessage::new(message), None)
    }

    fn deliver(
        &self,
        room: Option<&str>,
        prepared: &Arc<PreparedMessage>,
        except: Option<u64>,
    ) -> Delivery {
        // Snapshot the recipients, then send outside the lock: a send may
        // close a client, which takes the write lock to leave.
        let recipients: Vec<Client<D>> = {
            let r = self.read();
            match room {
                Some(room) => r.rooms.get(room).map_or_else(Vec::new, |ids| {
                    ids.iter()
                        .filter(|id| Some(**id) != except)
                        .filter_map(|id| r.clients.get(id).cloned())
                        .collect()
                }),
                None => r
                    .clients
                    .values()
                    .filter(|c| Some(c.id()) != except)
                    .cloned()
                    .collect(),
            }
        };
        let mut delivery = Delivery::default();
        for client in &recipients {
            delivery.count(client.send_prepared(prepared));
        }
        delivery
    }

    /// Use `broker` to reach the other nodes (the default,
    /// [`InProcessBroker`], reaches none). The broker is handed a
    /// [`Remote`] through which it delivers what other nodes publish, and
    /// is told about every room this node already has.
    pub fn set_broker(&self, broker: Arc<dyn Broker>)
    where
        D: Send + 'static,
    {
        // The broker keeps its `Remote`: a strong handle there would make
        // the hub own itself through the broker, and never be freed.
        let hub = Arc::downgrade(&self.inner);
        let remote = Remote::new(
            move |room: Option<&str>, message: Message| match hub.upgrade() {
                Some(inner) => Hub { inner }.deliver_local(room, message),
                None => Delivery::default(),
            },
        );
        broker.attach(remote);
        for room in self.rooms() {
            broker.room_opened(&room);
        }
        *self.inner.broker.write().unwrap_or_else(|e| e.into_inner()) = broker;
    }

    /// A client joined: it is reachable from now on.
    pub(crate) fn register(&self, client: &Client<D>) {
        let mut r = self.write();
        r.clients.insert(client.id(), client.clone());
        r.by_addr.insert(client.peer_addr(), client.id());
    }

    /// A client left: out of the registry and every room.
    pub(crate) fn unregister(&self, client: &Client<D>) {
        let emptied: Vec<String> = {
            let mut r = self.write();
            let id = client.id();
            r.clients.remove(&id);
            if r.by_addr.get(&client.peer_addr()) == Some(&id) {
                r.by_addr.remove(&client.peer_addr());
            }
            let rooms = r.memberships.remove(&id).unwrap_or_default();
            let mut emptied = Vec::new();
            for room in rooms {
                if let Some(members) = r.rooms.get_mut(&room) {
                    members.remove(&id);
                    if members.is_empty() {
                        r.rooms.remove(&room);
                        emptied.push(room);
                    }
                }
            }
            emptied
        };
        let broker = self.broker();
        for room in emptied {
            broker.room_closed(&room);
        }
    }

    /// The hub as a type-erased value, for a server's handle.
    pub(crate) fn erased(&self) -> Arc<dyn Any + Send + Sync>
    where
        D: Send + 'static,
    {
        Arc::new(self.clone())
    }
}
