//! [`OpClient`]: one connected browser, as an op handler sees it: send it
//! ops, put it in groups, keep values for it, and broadcast.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::{quoted, ErrorKind, OpError};
use crate::server::{Client, Hub, ServerHandle};

/// What the server keeps for each client: the values set with
/// [`OpClient::set`] and the groups it is in.
#[derive(Debug, Default)]
pub struct ClientData {
    values: Map<String, Value>,
    groups: BTreeSet<String>,
}

/// What the app, its handles and every client share.
pub(crate) struct Shared {
    pub(crate) hub: Hub<ClientData>,
    pub(crate) allow_eval: AtomicBool,
    pub(crate) server: OnceLock<ServerHandle>,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        Shared {
            hub: Hub::new(),
            allow_eval: AtomicBool::new(false),
            server: OnceLock::new(),
        }
    }

    /// The text of the message `{"op": op, ...params}`.
    pub(crate) fn encode(&self, op: &str, params: impl Serialize) -> Result<String, OpError> {
        if op == "eval" && !self.allow_eval.load(Ordering::Relaxed) {
            return Err(eval_refused());
        }
        let problem = |what: String| {
            OpError::new(
                ErrorKind::BadParams,
                format!(
                    "the parameters sent with op {} should be an object such as \
                     json!({{\"x\": 1}}) or a struct, but {what}",
                    quoted(op)
                ),
            )
            .with_op(op)
        };
        let map = match serde_json::to_value(params) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => Map::new(),
            Ok(Value::Array(_)) => return Err(problem("they are a list".into())),
            Ok(other) => return Err(problem(format!("they are {other}"))),
            Err(e) => return Err(problem(format!("they cannot be made into JSON: {e}"))),
        };
        if map.contains_key("op") {
            return Err(problem("they have an \"op\" of their own".into()));
        }
        let op = quoted(op);
        Ok(if map.is_empty() {
            format!("{{\"op\":{op}}}")
        } else {
            let body = Value::Object(map).to_string();
            format!("{{\"op\":{op},{}", &body[1..])
        })
    }

    /// Send to every client (`group: None`) or a group's members, but not
    /// `except`; the number of clients that took it.
    pub(crate) fn broadcast(
        &self,
        group: Option<&str>,
        except: Option<&Client<ClientData>>,
        op: &str,
        params: impl Serialize,
    ) -> usize {
        let text = match self.encode(op, params) {
            Ok(text) => text,
            Err(e) => {
                log::warn!("broadcast not sent: {e}");
                return 0;
            }
        };
        let delivery = match (group, except) {
            (None, None) => self.hub.broadcast(text),
            (None, Some(c)) => self.hub.broadcast_except(text, c),
            (Some(g), None) => self.hub.publish(g, text),
            (Some(g), Some(c)) => self.hub.publish_except(g, text, c),
        };
        delivery.delivered
    }
}

fn eval_refused() -> OpError {
    OpError::new(
        ErrorKind::EvalNotAllowed,
        "eval_js is turned off, because it runs the server's code in the browser; \
         turn it on with App::new().allow_eval_js(true)",
    )
    .with_op("eval")
}

/// One connected browser, handed to every op handler. Cheap to clone; keep
/// a clone to send to it later, from any thread.
///
/// ```
/// use wsstack::ops::{json, App, OpClient};
///
/// App::new()
///     .on("connect", |client: &OpClient| {
///         client.set("score", 0);
///         client.add_to_group("players");
///         client.send("welcome", json!({ "id": client.id() }));
///     })
///     .on("point", |client: &OpClient| {
///         let score = client.get_or("score", 0) + 1;
///         client.set("score", score);
///         client.broadcast_to_group("players", "score", json!({ "id": client.id(), "score": score }));
///     });
/// ```
#[derive(Clone)]
pub struct OpClient {
    client: Client<ClientData>,
    shared: Arc<Shared>,
}

impl fmt::Debug for OpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpClient")
            .field("id", &self.id())
            .field("peer", &self.peer_addr())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for OpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.client.fmt(f)
    }
}

impl OpClient {
    pub(crate) fn new(client: Client<ClientData>, shared: Arc<Shared>) -> OpClient {
        OpClient { client, shared }
    }

    /// A number no other client of this server has.
    pub fn id(&self) -> u64 {
        self.client.id()
    }

    /// The browser's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.client.peer_addr()
    }

    /// The server's handle on this client, for what this module does not
    /// cover (the upgrade request and its cookies, closing it, ...).
    pub fn inner(&self) -> &Client<ClientData> {
        &self.client
    }

    /// Send the op `op` to this browser, with `params` (an object: a
    /// [`json!`](super::json) object or a struct that derives
    /// `Serialize`; `()` for none). The browser's `HANDLERS[op]` gets
    /// `{op, ...params}`.
    ///
    /// Returns whether it was queued; if not, the reason is logged (see
    /// [`try_send`](OpClient::try_send) to get it).
    pub fn send(&self, op: &str, params: impl Serialize) -> bool {
        match self.try_send(op, params) {
            Ok(()) => true,
            Err(e) => {
                log::warn!("{self}: op {} not sent: {e}", quoted(op));
                false
            }
        }
    }

    /// [`send`](OpClient::send), telling why a message was not queued.
    pub fn try_send(&self, op: &str, params: impl Serialize) -> Result<(), OpError> {
        let text = self.shared.encode(op, params)?;
        self.client.send(text).map(drop).map_err(|e| {
            OpError::new(
                ErrorKind::NotSent,
                format!("op {} not sent: {e}", quoted(op)),
            )
            .with_op(op)
        })
    }

    /// Send an error message (`{"op": "error", ...}`) to this browser.
    pub(crate) fn send_error(&self, error: &OpError) {
        let _ = self.client.send(error.to_message());
    }

    /// Run `script` (JavaScript) in this browser: sends
    /// `{"op": "eval", "code": script}`, which the browser library runs.
    ///
    /// Refused with [`ErrorKind::EvalNotAllowed`] unless the app allowed it
    /// with [`App::allow_eval_js`](super::App::allow_eval_js): the server
    /// (or whoever controls what it sends) can then do anything in the
    /// page.
    pub fn eval_js(&self, script: &str) -> Result<(), OpError> {
        self.try_send("eval", serde_json::json!({ "code": script }))
    }

    /// Send to every connected browser, this one included. Returns how
    /// many took it.
    pub fn broadcast(&self, op: &str, params: impl Serialize) -> usize {
        self.shared.broadcast(None, None, op, params)
    }

    /// Send to every connected browser but this one.
    pub fn broadcast_to_others(&self, op: &str, params: impl Serialize) -> usize {
        self.shared.broadcast(None, Some(&self.client), op, params)
    }

    /// Send to every member of `group` (this browser too, if it is one).
    pub fn broadcast_to_group(&self, group: &str, op: &str, params: impl Serialize) -> usize {
        self.shared.broadcast(Some(group), None, op, params)
    }

    /// Send to every member of `group` but this browser.
    pub fn broadcast_to_group_others(
        &self,
        group: &str,
        op: &str,
        params: impl Serialize,
    ) -> usize {
        self.shared
            .broadcast(Some(group), Some(&self.client), op, params)
    }

    /// Put this browser in `group` (created when its first member joins).
    /// Does nothing if it is already a member. Returns whether it joined
    /// now.
    pub fn add_to_group(&self, group: &str) -> bool {
        let joined = self.shared.hub.subscribe(&self.client, group);
        if joined {
            self.client.data().groups.insert(group.to_owned());
        }
        joined
    }

    /// Take this browser out of `group`. Does nothing if it is not a
    /// member. Returns whether it left now.
    pub fn remove_from_group(&self, group: &str) -> bool {
        self.client.data().groups.remove(group);
        self.shared.hub.unsubscribe(&self.client, group)
    }

    /// The groups this browser is in, sorted. In the `disconnect` handler
    /// these are the groups it was in.
    pub fn groups(&self) -> Vec<String> {
        self.client.data().groups.iter().cloned().collect()
    }

    /// Whether this browser is in `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.client.data().groups.contains(group)
    }

    /// Keep `value` under `key` for this browser (a number, text, a list, a
    /// struct: anything serde can turn into JSON).
    pub fn set(&self, key: &str, value: impl Serialize) {
        match serde_json::to_value(value) {
            Ok(value) => {
                self.client.data().values.insert(key.to_owned(), value);
            }
            Err(e) => log::warn!("{self}: cannot keep {}: {e}", quoted(key)),
        }
    }

    /// The value kept under `key`, as `T`; `None` if there is none or it
    /// is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let value = self.client.data().values.get(key)?.clone();
        serde_json::from_value(value).ok()
    }

    /// The value kept under `key`, or `default`.
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, default: T) -> T {
        self.get(key).unwrap_or(default)
    }

    /// Forget the value kept under `key`; returns whether there was one.
    pub fn remove(&self, key: &str) -> bool {
        self.client.data().values.remove(key).is_some()
    }
}

/// A handle on a running (or not yet running) app, for threads of your own
/// (a timer, a game loop): broadcast, count clients, stop the server.
/// Get one with [`App::handle`](super::App::handle).
#[derive(Clone)]
pub struct AppHandle {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for AppHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppHandle")
            .field("clients", &self.client_count())
            .finish()
    }
}

impl AppHandle {
    /// Send to every connected browser; returns how many took it.
    pub fn broadcast(&self, op: &str, params: impl Serialize) -> usize {
        self.shared.broadcast(None, None, op, params)
    }

    /// Send to every member of `group`.
    pub fn broadcast_to_group(&self, group: &str, op: &str, params: impl Serialize) -> usize {
        self.shared.broadcast(Some(group), None, op, params)
    }

    /// Every connected browser.
    pub fn clients(&self) -> Vec<OpClient> {
        self.shared
            .hub
            .clients()
            .into_iter()
            .map(|c| OpClient::new(c, self.shared.clone()))
            .collect()
    }

    /// The members of `group`.
    pub fn group_members(&self, group: &str) -> Vec<OpClient> {
        self.shared
            .hub
            .members(group)
            .into_iter()
            .map(|c| OpClient::new(c, self.shared.clone()))
            .collect()
    }

    /// How many browsers are connected.
    pub fn client_count(&self) -> usize {
        self.shared.hub.len()
    }

    /// Stop the server, if it runs: every browser is told the server is
    /// going away, and `run` returns.
    pub fn stop(&self) {
        if let Some(server) = self.shared.server.get() {
            server.shutdown();
        }
    }
}
