//! The [`Filter`] trait, what a filter answers ([`Flow`]), what it is
//! handed ([`Cx`], [`Session`], [`Node`]) and the registry of filters by
//! name ([`FilterRegistry`]).

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use wsstack::handshake::Request;
use wsstack::server::{Client, Delivery, Hub};
use wsstack::{CloseCode, Message};

use crate::metrics::Metrics;
use crate::redis_broker::RedisBroker;

/// A connected client as filters see it: the library's
/// [`Client`] with this CLI's per-client [`Session`].
pub type Conn = Client<Session>;

/// What a filter decides for one event.
///
/// `T` is what flows through the chain: `()` for connect and disconnect,
/// the payload bytes for raw data (`Vec<u8>`), the [`Message`] for
/// messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flow<T> {
    /// Go on to the next filter with this value: the same one (pass) or
    /// another (change).
    Pass(T),
    /// Stop here: later filters do not see the event.
    Stop,
    /// Answer the client with this message and stop here.
    Reply(Message),
    /// Close the client with this code and reason and stop here.
    Close(CloseCode, String),
}

/// One named piece of server behaviour. Every method has a default that
/// passes the event on unchanged, so a filter implements only what it
/// needs.
///
/// For each event the server runs the filters in the order they were
/// given (`--filter a --filter b`: `a` first), and each one's [`Flow`]
/// decides whether the next one runs:
///
/// 1. **connect** ([`on_connect`](Filter::on_connect)): the client's
///    handshake is done.
/// 2. **raw data** ([`on_rawdata`](Filter::on_rawdata)), for every message:
///    its payload bytes as they arrived (after reassembly and
///    permessage-deflate, before anything else), whatever its kind. A
///    filter may change them; what leaves the last raw-data filter becomes
///    the message again (text if it was text and is still UTF-8, binary
///    otherwise).
/// 3. **message** ([`on_message`](Filter::on_message)): the whole
///    [`Message`], after every raw-data filter let it through.
/// 4. **disconnect** ([`on_disconnect`](Filter::on_disconnect)): the
///    client is gone (it is in no room any more, and
///    [`Flow::Reply`] or [`Flow::Close`] can no longer reach it: both
///    stop the chain like [`Flow::Stop`]).
///
/// A filter is shared by every client and runs on the server's threads:
/// keep per-client state in the [`Session`] (`client.data()`) and shared
/// state behind a lock or an atomic.
///
/// ```
/// use wsstack_cli::{Cx, Filter, Flow};
/// use wsstack::Message;
///
/// /// Upper-cases every text message before the filters after it.
/// struct Shout;
///
/// impl Filter for Shout {
///     fn on_message(&self, _cx: &Cx<'_>, message: Message) -> Flow<Message> {
///         match message.as_text() {
///             Some(text) => Flow::Pass(Message::from(text.to_uppercase())),
///             None => Flow::Pass(message),
///         }
///     }
/// }
/// ```
pub trait Filter: Send + Sync + 'static {
    /// Called once before the server accepts anyone: check the settings
    /// and start what the filter needs (e.g. relaying Redis channels). An
    /// `Err` stops the server from starting, with this message.
    fn start(&self, _node: &Node<'_>) -> Result<(), String> {
        Ok(())
    }

    /// A client completed its handshake.
    fn on_connect(&self, _cx: &Cx<'_>) -> Flow<()> {
        Flow::Pass(())
    }

    /// A message's payload bytes, before the message filters.
    fn on_rawdata(&self, _cx: &Cx<'_>, data: Vec<u8>) -> Flow<Vec<u8>> {
        Flow::Pass(data)
    }

    /// A whole message.
    fn on_message(&self, _cx: &Cx<'_>, message: Message) -> Flow<Message> {
        Flow::Pass(message)
    }

    /// The client is gone, with the close code and reason (1006 when the
    /// transport dropped).
    fn on_disconnect(&self, _cx: &Cx<'_>, _code: CloseCode, _reason: &str) -> Flow<()> {
        Flow::Pass(())
    }
}

/// The per-client data of `wsstack serve`: the token (from `?token=` or a
/// `token:` message, see `broadcast_messages_by_token`), the query of the
/// upgrade request, and typed slots for filters of your own.
#[derive(Default)]
pub struct Session {
    /// The client's token, if it set one.
    pub token: Option<String>,
    slots: HashMap<TypeId, Box<dyn Any + Send>>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("token", &self.token)
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl Session {
    /// The session of a new client: its token from the `token` query
    /// parameter, if any.
    pub fn from_request(request: &Request) -> Session {
        Session {
            token: request.query_param("token").filter(|t| !t.is_empty()),
            slots: HashMap::new(),
        }
    }

    /// The filter state of type `T` for this client, if set.
    pub fn get<T: Any + Send>(&self) -> Option<&T> {
        self.slots.get(&TypeId::of::<T>())?.downcast_ref()
    }

    /// The filter state of type `T`, created with `Default` if missing.
    pub fn get_mut<T: Any + Send + Default>(&mut self) -> &mut T {
        self.slots
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut()
            .expect("the slot of a TypeId holds that type")
    }

    /// Set the filter state of type `T` (returns the old one).
    pub fn insert<T: Any + Send>(&mut self, value: T) -> Option<T> {
        self.slots
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.downcast().ok().map(|b| *b))
    }
}

/// What a filter is handed for one event: the client, and sends that are
/// counted in `/metrics`.
pub struct Cx<'a> {
    client: &'a Conn,
    metrics: &'a Metrics,
}

impl fmt::Debug for Cx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cx").field("client", self.client).finish()
    }
}

impl<'a> Cx<'a> {
    pub(crate) fn new(client: &'a Conn, metrics: &'a Metrics) -> Cx<'a> {
        Cx { client, metrics }
    }

    /// The client this event is about.
    pub fn client(&self) -> &'a Conn {
        self.client
    }

    /// The server's hub (every client, rooms).
    pub fn hub(&self) -> &'a Hub<Session> {
        self.client.hub()
    }

    /// Send `message` to this client; `false` if it was not taken (closing,
    /// or its queue is full and the message was dropped).
    pub fn send(&self, message: impl Into<Message>) -> bool {
        let message = message.into();
        let len = message.len();
        match self.client.send(message) {
            Ok(_) => {
                self.metrics.sent(1, len);
                true
            }
            Err(_) => {
                self.metrics.dropped(1);
                false
            }
        }
    }

    /// Send `message` to every client on every node (through the hub:
    /// framed once).
    pub fn broadcast(&self, message: Message) -> Delivery {
        let len = message.len();
        let delivery = self.hub().broadcast(message);
        self.metrics.delivered(&delivery, len);
        delivery
    }

    /// Send `message` to every member of `room` on every node.
    pub fn publish(&self, room: &str, message: Message) -> Delivery {
        let len = message.len();
        let delivery = self.hub().publish(room, message);
        self.metrics.delivered(&delivery, len);
        delivery
    }
}

/// What [`Filter::start`] is handed: the server's hub and settings.
pub struct Node<'a> {
    pub(crate) hub: &'a Hub<Session>,
    pub(crate) redis: Option<&'a Arc<RedisBroker>>,
    pub(crate) channels: &'a [String],
    pub(crate) metrics: &'a Arc<Metrics>,
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("redis", &self.redis.is_some())
            .field("channels", &self.channels)
            .finish()
    }
}

impl<'a> Node<'a> {
    /// The server's hub: publish to its clients from threads of your own.
    pub fn hub(&self) -> &'a Hub<Session> {
        self.hub
    }

    /// The Redis link, with `--redis`.
    pub fn redis(&self) -> Option<&'a Arc<RedisBroker>> {
        self.redis
    }

    /// The Redis channels given with `--channel` (or the config file).
    pub fn channels(&self) -> &'a [String] {
        self.channels
    }

    /// The server's counters (what `/metrics` shows).
    pub fn metrics(&self) -> &'a Arc<Metrics> {
        self.metrics
    }
}

type Factory = Arc<dyn Fn() -> Box<dyn Filter> + Send + Sync>;

/// The filters `--filter NAME` can name: the built-ins, and any you add
/// with [`with`](FilterRegistry::with).
#[derive(Clone)]
pub struct FilterRegistry {
    filters: BTreeMap<String, (String, Factory)>,
}

impl fmt::Debug for FilterRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.filters.keys()).finish()
    }
}

impl Default for FilterRegistry {
    fn default() -> Self {
        FilterRegistry::builtin()
    }
}

impl FilterRegistry {
    /// No filters at all.
    pub fn empty() -> FilterRegistry {
        FilterRegistry {
            filters: BTreeMap::new(),
        }
    }

    /// The built-in filters: `broadcast_messages`, `stdout_messages`,
    /// `stdout_rawdata`, `broadcast_messages_by_token`, `broadcast_pubsub`,
    /// `echo`.
    pub fn builtin() -> FilterRegistry {
        crate::builtin::register(FilterRegistry::empty())
    }

    /// Add (or replace) the filter `name`, described in `--help` by
    /// `description`; `make` builds it when a server names it.
    pub fn with<F: Filter>(
        mut self,
        name: &str,
        description: &str,
        make: impl Fn() -> F + Send + Sync + 'static,
    ) -> FilterRegistry {
        let factory: Factory = Arc::new(move || Box::new(make()));
        self.filters
            .insert(name.to_owned(), (description.to_owned(), factory));
        self
    }

    /// The names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.filters.keys().map(String::as_str).collect()
    }

    /// Build the filter `name`; the error names the filters there are.
    pub fn build(&self, name: &str) -> Result<Box<dyn Filter>, String> {
        match self.filters.get(name) {
            Some((_, make)) => Ok(make()),
            None => Err(format!(
                "unknown filter {name:?}; the filters are: {}",
                self.names().join(", ")
            )),
        }
    }

    /// One line per filter, for `--help`.
    pub fn help(&self) -> String {
        let width = self.filters.keys().map(String::len).max().unwrap_or(0);
        let mut text = String::from(
            "Filters (--filter NAME, in order; default: broadcast_messages, stdout_messages):\n",
        );
        for (name, (description, _)) in &self.filters {
            text.push_str(&format!("  {name:width$}  {description}\n"));
        }
        text
    }
}
