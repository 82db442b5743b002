//! [`RedisBroker`]: a [`Broker`] that bridges a hub's rooms and broadcasts
//! across processes through Redis pub/sub, and relays plain Redis channels
//! to every client.
//!
//! Channels, for the prefix `P` (`--redis-prefix`, default `wsstack`):
//!
//! | channel | carries |
//! |---|---|
//! | `P:all` | broadcasts (to every client of every node) |
//! | `P:room:NAME` | publications on room `NAME`; a node subscribes while it has a member there |
//! | `P:node:ID` | nothing but wake-ups of node `ID`'s own subscriber |
//! | any `--channel` | anything anyone publishes (e.g. `redis-cli PUBLISH global hello`), relayed to every client |
//!
//! A node's publications on `P:all` and `P:room:*` carry a one-line
//! envelope, `ws1 NODE_ID t` (or `b` for binary) and a newline, before the
//! payload. A node skips what it published itself, since the hub has
//! already delivered it locally: every client gets a message once. A
//! payload without the envelope (published by something else) is delivered
//! as it is.
//!
//! Two threads and two Redis connections per node: a publisher, fed by a
//! bounded queue so that publishing never blocks a server thread, and a
//! subscriber. When Redis goes away both keep retrying with a backoff
//! (100 ms doubling up to 2 s); local delivery never stops, publications
//! made while the link is down are dropped (and counted), and the
//! subscriptions are restored on reconnect.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod threads;

use wsstack::server::{Broker, Delivery, Remote};
use wsstack::Message;

/// The first wait after a failed attempt to reach Redis.
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Publications queued for the publisher at most; more are dropped.
pub const QUEUE: usize = 16_384;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the subscriber waits for a message before checking its
/// subscriptions again (a wake-up on its node channel cuts it short).
const POLL: Duration = Duration::from_millis(250);
/// Publications sent to Redis in one pipeline at most.
const BATCH: usize = 256;

/// Counters of a Redis link, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedisStats {
    /// Whether the subscriber is connected and subscribed.
    pub up: bool,
    /// Channels subscribed to now.
    pub channels: u64,
    /// Messages published.
    pub published: u64,
    /// Publications lost (Redis unreachable, or the queue full).
    pub publish_dropped: u64,
    /// Messages received and delivered (other nodes', relayed channels').
    pub received: u64,
    /// Times the subscriber's link came back after a loss.
    pub reconnects: u64,
}

type Observer = Arc<dyn Fn(&Message, Delivery) + Send + Sync>;

#[derive(Default)]
struct Wanted {
    rooms: BTreeSet<String>,
    relayed: BTreeSet<String>,
}

struct Shared {
    client: redis::Client,
    url: String,
    prefix: String,
    node: String,
    remote: Mutex<Option<Remote>>,
    observer: Mutex<Option<Observer>>,
    wanted: Mutex<Wanted>,
    stop: AtomicBool,
    up: AtomicBool,
    ever_up: AtomicBool,
    channels: AtomicU64,
    published: AtomicU64,
    publish_dropped: AtomicU64,
    received: AtomicU64,
    reconnects: AtomicU64,
}

enum Outgoing {
    Publish { channel: String, payload: Vec<u8> },
    Wake,
}

/// A [`Broker`] on Redis pub/sub (see the module documentation for the
/// channels and the envelope). Give it to a hub with
/// [`Hub::set_broker`](wsstack::server::Hub::set_broker).
///
/// ```no_run
/// use std::sync::Arc;
/// use wsstack::server::Hub;
/// use wsstack_cli::RedisBroker;
///
/// let hub: Hub = Hub::new();
/// let redis = Arc::new(RedisBroker::new("redis://127.0.0.1:6379/", "wsstack")?);
/// hub.set_broker(redis.clone());
/// redis.relay(["global"]); // PUBLISH global hi reaches every client
/// # Ok::<(), String>(())
/// ```
pub struct RedisBroker {
    shared: Arc<Shared>,
    queue: SyncSender<Outgoing>,
}

impl fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBroker")
            .field("url", &self.shared.url)
            .field("node", &self.shared.node)
            .field("stats", &self.stats())
            .finish()
    }
}

impl RedisBroker {
    /// A broker on the Redis at `url` (`redis://[user:pass@]host[:port][/db]`)
    /// with channel names starting `prefix:`. Fails only for a URL that
    /// cannot be used; an unreachable Redis is retried in the background.
    pub fn new(url: &str, prefix: &str) -> Result<RedisBroker, String> {
        let client = redis::Client::open(url).map_err(|e| format!("bad Redis URL {url:?}: {e}"))?;
        let shared = Arc::new(Shared {
            client,
            url: redact(url),
            prefix: prefix.to_owned(),
            node: node_id(),
            remote: Mutex::new(None),
            observer: Mutex::new(None),
            wanted: Mutex::new(Wanted::default()),
            stop: AtomicBool::new(false),
            up: AtomicBool::new(false),
            ever_up: AtomicBool::new(false),
            channels: AtomicU64::new(0),
            published: AtomicU64::new(0),
            publish_dropped: AtomicU64::new(0),
            received: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        });
        let (queue, outgoing) = mpsc::sync_channel(QUEUE);
        let publisher = shared.clone();
        thread::Builder::new()
            .name("redis-publish".into())
            .spawn(move || threads::publish_loop(&publisher, outgoing))
            .map_err(|e| format!("cannot start the Redis publisher thread: {e}"))?;
        let subscriber = shared.clone();
        thread::Builder::new()
            .name("redis-subscribe".into())
            .spawn(move || threads::subscribe_loop(&subscriber))
            .map_err(|e| format!("cannot start the Redis subscriber thread: {e}"))?;
        Ok(RedisBroker { shared, queue })
    }

    /// This node's id (16 hex digits), as it appears in envelopes.
    pub fn node_id(&self) -> &str {
        &self.shared.node
    }

    /// The Redis URL, its password hidden.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// Relay these Redis channels to every client of this node: whatever
    /// is published there (by anything) is sent to all of them.
    pub fn relay<I, S>(&self, channels: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        {
            let mut wanted = self.shared.lock_wanted();
            wanted.relayed.extend(channels.into_iter().map(Into::into));
        }
        self.wake();
    }

    /// Call `observer` with every message this broker delivered to local
    /// clients and what became of it (for counters).
    pub fn on_delivery(&self, observer: impl Fn(&Message, Delivery) + Send + Sync + 'static) {
        *self
            .shared
            .observer
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(observer));
    }

    /// The link's counters.
    pub fn stats(&self) -> RedisStats {
        let s = &self.shared;
        RedisStats {
            up: s.up.load(Ordering::Relaxed),
            channels: s.channels.load(Ordering::Relaxed),
            published: s.published.load(Ordering::Relaxed),
            publish_dropped: s.publish_dropped.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            reconnects: s.reconnects.load(Ordering::Relaxed),
        }
    }

    /// Stop both threads (they finish their current wait first).
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.queue.try_send(Outgoing::Wake);
    }

    fn wake(&self) {
        // A full queue will wake the subscriber soon enough anyway.
        let _ = self.queue.try_send(Outgoing::Wake);
    }

    fn enqueue(&self, channel: String, payload: Vec<u8>) {
        match self.queue.try_send(Outgoing::Publish { channel, payload }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.publish_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for RedisBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Broker for RedisBroker {
    fn attach(&self, remote: Remote) {
        *self.shared.remote.lock().unwrap_or_else(|e| e.into_inner()) = Some(remote);
    }

    fn publish(&self, room: Option<&str>, message: &Message) {
        let channel = match room {
            Some(room) => self.shared.room_channel(room),
            None => self.shared.all_channel(),
        };
        let kind = if message.as_text().is_some() {
            't'
        } else {
            'b'
        };
        let head = format!("ws1 {} {kind}\n", self.shared.node);
        let mut payload = Vec::with_capacity(head.len() + message.len());
        payload.extend_from_slice(head.as_bytes());
        payload.extend_from_slice(message.as_bytes());
        self.enqueue(channel, payload);
    }

    fn room_opened(&self, room: &str) {
        self.shared.lock_wanted().rooms.insert(room.to_owned());
        self.wake();
    }

    fn room_closed(&self, room: &str) {
        self.shared.lock_wanted().rooms.remove(room);
        self.wake();
    }
}

impl Shared {
    fn lock_wanted(&self) -> std::sync::MutexGuard<'_, Wanted> {
        self.wanted.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn all_channel(&self) -> String {
        format!("{}:all", self.prefix)
    }

    fn room_channel(&self, room: &str) -> String {
        format!("{}:room:{room}", self.prefix)
    }

    fn node_channel(&self) -> String {
        format!("{}:node:{}", self.prefix, self.node)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Every channel the subscriber should be on.
    fn wanted_channels(&self) -> BTreeSet<String> {
        let wanted = self.lock_wanted();
        let mut channels: BTreeSet<String> = wanted
            .rooms
            .iter()
            .map(|room| self.room_channel(room))
            .collect();
        channels.extend(wanted.relayed.iter().cloned());
        channels.insert(self.all_channel());
        channels.insert(self.node_channel());
        channels
    }

    /// A message from Redis: deliver it to this node's clients unless this
    /// node published it.
    fn receive(&self, channel: &str, payload: &[u8]) {
        if channel == self.node_channel() {
            return; // a wake-up
        }
        let relayed = self.lock_wanted().relayed.contains(channel);
        let room_prefix = format!("{}:room:", self.prefix);
        let room = if relayed || channel == self.all_channel() {
            None
        } else if let Some(room) = channel.strip_prefix(&room_prefix) {
            Some(room)
        } else {
            log::debug!("message on unexpected Redis channel {channel:?} ignored");
            return;
        };
        let message = if relayed {
            to_message(payload.to_vec(), true)
        } else {
            match parse_envelope(payload) {
                Some((node, _, _)) if node == self.node.as_bytes() => return,
                Some((_, text, data)) => to_message(data.to_vec(), text),
                None => to_message(payload.to_vec(), true),
            }
        };
        let remote = self
            .remote
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(remote) = remote else { return };
        self.received.fetch_add(1, Ordering::Relaxed);
        let observer = self
            .observer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match observer {
            Some(observe) => {
                let copy = message.clone();
                let delivery = remote.deliver(room, message);
                observe(&copy, delivery);
            }
            None => {
                remote.deliver(room, message);
            }
        }
    }
}

/// `ws1 NODE KIND\n` then the data: the node id, whether it is text, and
/// the data.
fn parse_envelope(payload: &[u8]) -> Option<(&[u8], bool, &[u8])> {
    let rest = payload.strip_prefix(b"ws1 ")?;
    let newline = rest.iter().position(|&b| b == b'\n')?;
    let (head, data) = (&rest[..newline], &rest[newline + 1..]);
    let space = head.iter().position(|&b| b == b' ')?;
    let (node, kind) = (&head[..space], &head[space + 1..]);
    match kind {
        b"t" => Some((node, true, data)),
        b"b" => Some((node, false, data)),
        _ => None,
    }
}

/// Text when it should be and is UTF-8, else binary.
fn to_message(data: Vec<u8>, text: bool) -> Message {
    if text {
        match String::from_utf8(data) {
            Ok(s) => Message::Text(s),
            Err(e) => Message::Binary(e.into_bytes()),
        }
    } else {
        Message::Binary(data)
    }
}

/// 16 hex digits, different for every process.
fn node_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}

/// The URL with its password, if any, shown as `***`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes() {
        assert_eq!(
            parse_envelope(b"ws1 abc t\nhello"),
            Some((&b"abc"[..], true, &b"hello"[..]))
        );
        assert_eq!(
            parse_envelope(b"ws1 abc b\n\x00\x01"),
            Some((&b"abc"[..], false, &b"\x00\x01"[..]))
        );
        assert_eq!(parse_envelope(b"hello"), None);
        assert_eq!(parse_envelope(b"ws1 abc x\nhello"), None);
        assert_eq!(node_id().len(), 16);
        assert_ne!(node_id(), node_id());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("redis://u:pw@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(redact("redis://h:1/"), "redis://h:1/");
    }
}
