//! [`App`]: the ops a server answers, its settings, and running it with
//! one call.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::args::{Args, Rejected, Spec};
use super::client::{AppHandle, ClientData, OpClient, Shared};
use super::error::{did_you_mean, quoted, ErrorKind, OpError};
use super::params::bind;
use super::web;
use crate::connection::Message;
use crate::error::Error;
use crate::frame::CloseCode;
use crate::handshake::ServerConfig;
use crate::server::{Client, Handler, ServerBuilder};

type Route = Box<dyn Fn(&str, &OpClient, &Value) -> Result<(), OpError> + Send + Sync>;

/// A function that can handle an op: `Fn(&OpClient)` for an op without
/// parameters, or `Fn(&OpClient, P)` where `P` derives
/// `Deserialize` to receive the parameters. Closures and plain `fn`s both
/// qualify; write the types of a closure's arguments
/// (`|client: &OpClient, p: Draw|`).
///
/// The type parameter only tells the two forms apart: `()` for the first,
/// `(P,)` for the second.
pub trait OpHandler<Params>: Send + Sync + 'static {
    /// Bind the parameters of `message` and run the handler.
    fn call(&self, op: &str, client: &OpClient, message: &Value) -> Result<(), OpError>;
}

impl<F> OpHandler<()> for F
where
    F: Fn(&OpClient) + Send + Sync + 'static,
{
    fn call(&self, op: &str, client: &OpClient, message: &Value) -> Result<(), OpError> {
        bind::<()>(op, message)?;
        self(client);
        Ok(())
    }
}

impl<F, P> OpHandler<(P,)> for F
where
    F: Fn(&OpClient, P) + Send + Sync + 'static,
    P: DeserializeOwned,
{
    fn call(&self, op: &str, client: &OpClient, message: &Value) -> Result<(), OpError> {
        let params = bind::<P>(op, message)?;
        self(client, params);
        Ok(())
    }
}

/// A server that answers JSON messages `{"op": "...", ...params}` by
/// calling the handler registered for their op, and serves the browser
/// library and your web pages on the same port.
///
/// ```no_run
/// use wsstack::ops::{json, App, Deserialize, OpClient};
///
/// #[derive(Deserialize)]
/// struct Hello {
///     name: String,
/// }
///
/// App::new()
///     .on("hello", |client: &OpClient, p: Hello| {
///         client.send("greeting", json!({ "text": format!("Hello, {}!", p.name) }));
///     })
///     .run(8000);
/// ```
///
/// See the [module documentation](super) for everything it does.
pub struct App {
    routes: HashMap<String, Route>,
    shared: Arc<Shared>,
    static_dir: PathBuf,
    public: bool,
    origins: Vec<String>,
    configure: Option<Box<dyn FnOnce(ServerBuilder) -> ServerBuilder + Send>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ops: Vec<&String> = self.routes.keys().collect();
        ops.sort();
        f.debug_struct("App")
            .field("ops", &ops)
            .field("static_dir", &self.static_dir)
            .field("public", &self.public)
            .field(
                "allow_eval_js",
                &self.shared.allow_eval.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An app with no ops yet, serving the folder `./static`, on
    /// 127.0.0.1 only, with `eval_js` off.
    pub fn new() -> App {
        App {
            routes: HashMap::new(),
            shared: Arc::new(Shared::new()),
            static_dir: PathBuf::from("static"),
            public: false,
            origins: Vec::new(),
            configure: None,
        }
    }

    /// Call `handler` for every message whose op is `op`.
    ///
    /// The handler is `|client: &OpClient| ...` for an op without
    /// parameters, or `|client: &OpClient, params: P| ...` where `P` is a
    /// struct that derives `Deserialize`: its fields are the op's
    /// parameters (`#[serde(default)]` on a field makes it optional; a
    /// field of type `Option<T>` is optional too). A message with a
    /// parameter the struct does not have is refused.
    ///
    /// Two ops are special: `connect` runs when a browser connects, and
    /// `disconnect` when it has gone.
    ///
    /// # Panics
    ///
    /// If `op` already has a handler, or is empty.
    pub fn on<P>(mut self, op: &str, handler: impl OpHandler<P>) -> App {
        self.add(
            op,
            Box::new(move |op: &str, client: &OpClient, message: &Value| {
                handler.call(op, client, message)
            }),
        );
        self
    }

    /// Call `handler` for every message whose op is `op`, with its
    /// parameters by name: `params` lists them, `"name"` for one that must
    /// be given and `"name=value"` for one with a default (`"b=0"`,
    /// `"color=red"`, `"big=true"`). Read them from the [`Args`]:
    /// `args.int("b")`, `args.text("color")`, `args.bool("big")`.
    ///
    /// ```
    /// use wsstack::ops::{json, App, Args, OpClient};
    ///
    /// App::new().on_params("add", &["a", "b=0"], |client: &OpClient, args: Args| {
    ///     client.send("sum", json!({ "sum": args.int("a") + args.int("b") }));
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// If `op` already has a handler, or the list has an empty or repeated
    /// name.
    pub fn on_params(
        mut self,
        op: &str,
        params: &[&str],
        handler: impl Fn(&OpClient, Args) + Send + Sync + 'static,
    ) -> App {
        let spec = Spec::parse(op, params);
        self.add(
            op,
            Box::new(move |op: &str, client: &OpClient, message: &Value| {
                let empty = Map::new();
                let args = spec.bind(op, message.as_object().unwrap_or(&empty))?;
                handler(client, args);
                Ok(())
            }),
        );
        self
    }

    fn add(&mut self, op: &str, route: Route) {
        assert!(!op.is_empty(), "an op needs a name");
        assert!(
            self.routes.insert(op.to_owned(), route).is_none(),
            "op {} has two handlers; give each op one",
            quoted(op)
        );
    }

    /// Allow [`OpClient::eval_js`] (off by default). It sends JavaScript
    /// for the browser to run, which lets the server do anything in the
    /// page: turn it on only for code you trust.
    pub fn allow_eval_js(self, on: bool) -> App {
        self.shared.allow_eval.store(on, Ordering::Relaxed);
        self
    }

    /// The folder of web pages to serve (`./static` by default, relative
    /// to the folder the program runs in): `index.html` is the page at
    /// `/`. The browser library is always at `/wsstack.js` (and, as an ES
    /// module, `/wsstack.mjs`).
    pub fn static_dir(mut self, dir: impl Into<PathBuf>) -> App {
        self.static_dir = dir.into();
        self
    }

    /// With `true`, [`run`](App::run) listens on every network interface
    /// (0.0.0.0), so other computers can connect; by default only this
    /// computer can (127.0.0.1). [`run_at`](App::run_at) takes the address
    /// you give it instead.
    pub fn public(mut self, on: bool) -> App {
        self.public = on;
        self
    }

    /// Also accept WebSocket connections from pages of `origin` (such as
    /// `http://localhost:5173`, a React or Vue development server). By
    /// default only pages this server serves may connect (and programs
    /// that send no `Origin`).
    pub fn allow_origin(mut self, origin: &str) -> App {
        self.origins.push(origin.trim_end_matches('/').to_owned());
        self
    }

    /// Change the server's other settings (connection limit, timeouts,
    /// limits, ...) before it starts. The address, the hub and the
    /// handshake policy are set by the app.
    pub fn configure(
        mut self,
        f: impl FnOnce(ServerBuilder) -> ServerBuilder + Send + 'static,
    ) -> App {
        self.configure = Some(Box::new(f));
        self
    }

    /// A handle to broadcast from threads of your own, or to stop the
    /// server.
    pub fn handle(&self) -> AppHandle {
        AppHandle {
            shared: self.shared.clone(),
        }
    }

    /// Send to every connected browser; returns how many took it.
    pub fn broadcast(&self, op: &str, params: impl Serialize) -> usize {
        self.shared.broadcast(None, None, op, params)
    }

    /// Send to every member of `group`; returns how many took it.
    pub fn broadcast_to_group(&self, group: &str, op: &str, params: impl Serialize) -> usize {
        self.shared.broadcast(Some(group), None, op, params)
    }

    /// Run the server on `port` (127.0.0.1, or every interface with
    /// [`public`](App::public)) until it is stopped. It prints the address
    /// to open, and logs warnings to the terminal unless the program set
    /// up a logger of its own. If it cannot start (the port is taken, say)
    /// it says why and ends the program.
    pub fn run(self, port: u16) {
        let host = if self.public { "0.0.0.0" } else { "127.0.0.1" };
        self.run_at(&format!("{host}:{port}"));
    }

    /// [`run`](App::run) on `address` (`"127.0.0.1:8000"`,
    /// `"0.0.0.0:8000"`; port 0 picks a free port).
    pub fn run_at(self, address: &str) {
        web::install_logger();
        let dir = self.static_dir.clone();
        let running = match self.start_at(address) {
            Ok(running) => running,
            Err(e) => {
                eprintln!("wsstack: cannot start the server on {address}: {e}");
                std::process::exit(1);
            }
        };
        let addr = running.local_addr();
        println!("wsstack: listening on http://{addr}/");
        if addr.ip().is_unspecified() {
            println!(
                "wsstack: other computers can connect to this one's address, port {}",
                addr.port()
            );
        }
        if !dir.is_dir() {
            println!(
                "wsstack: there is no folder {} for your pages yet; /wsstack.js is served",
                dir.display()
            );
        }
        if let Err(e) = running.wait() {
            eprintln!("wsstack: the server stopped: {e}");
            std::process::exit(1);
        }
    }

    /// Start the server on `port` in the background (see
    /// [`start_at`](App::start_at)).
    pub fn start(self, port: u16) -> Result<Running, Error> {
        let host = if self.public { "0.0.0.0" } else { "127.0.0.1" };
        self.start_at(&format!("{host}:{port}"))
    }

    /// Start the server on `address` in a thread of its own and return
    /// at once: for tests, or a program with more to do. Nothing is
    /// printed and no logger installed.
    pub fn start_at(self, address: &str) -> Result<Running, Error> {
        let http = web::http_handler(self.static_dir.clone());
        let origins = self.origins.clone();
        let handshake = ServerConfig::new()
            .with_http_handler(http)
            .with_request_hook(move |req| web::check_origin(req, &origins));
        let mut builder = ServerBuilder::new();
        if let Some(configure) = self.configure {
            builder = configure(builder);
        }
        let builder = builder
            .address(address)
            .hub(self.shared.hub.clone())
            .handshake(handshake);
        #[cfg(feature = "deflate")]
        let builder = builder.permessage_deflate(true);
        #[cfg(feature = "mio")]
        let server = builder.bind_event_loop()?;
        #[cfg(not(feature = "mio"))]
        let server = builder.bind_threaded()?;
        let addr = server.local_addr()?;
        let _ = self.shared.server.set(server.handle());
        let handler = OpServer {
            routes: self.routes,
            shared: self.shared.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("wsstack-ops".into())
            .spawn(move || server.run(handler))?;
        Ok(Running {
            addr,
            handle: AppHandle {
                shared: self.shared,
            },
            thread: Some(thread),
        })
    }
}

/// Run `app` on `port`: the same as `app.run(port)`.
pub fn run_server(port: u16, app: App) {
    app.run(port)
}

/// A server started with [`App::start_at`]; dropping it stops the server.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    handle: AppHandle,
    thread: Option<JoinHandle<Result<(), Error>>>,
}

impl Running {
    /// The address it listens on (with the port the system chose for port
    /// 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle to broadcast or stop it.
    pub fn handle(&self) -> AppHandle {
        self.handle.clone()
    }

    /// Stop the server and wait until it has closed every connection.
    pub fn stop(self) -> Result<(), Error> {
        self.handle.stop();
        self.wait()
    }

    /// Wait until the server stops.
    pub fn wait(mut self) -> Result<(), Error> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::Io(std::io::Error::other(
                "the server thread panicked",
            ))),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.handle.stop();
        }
    }
}

/// The server's [`Handler`]: parse, route, bind, call, and answer every
/// mistake with an error message.
struct OpServer {
    routes: HashMap<String, Route>,
    shared: Arc<Shared>,
}

impl OpServer {
    fn client(&self, client: &Client<ClientData>) -> OpClient {
        OpClient::new(client.clone(), self.shared.clone())
    }

    /// Log a mistake once and tell the browser.
    fn report(&self, client: &OpClient, error: &OpError) {
        log::warn!("{client}: {error}");
        client.send_error(error);
    }

    fn dispatch(&self, client: &OpClient, message: &Message) -> Result<(), OpError> {
        let (op, value) = parse(message)?;
        if !self.routes.contains_key(&op) {
            return Err(self.unknown(&op));
        }
        self.call(&op, client, &value)
    }

    fn unknown(&self, op: &str) -> OpError {
        unknown_op(op, self.routes.keys().map(String::as_str))
    }

    /// Run the handler of `op`, containing a panic.
    fn call(&self, op: &str, client: &OpClient, message: &Value) -> Result<(), OpError> {
        let Some(route) = self.routes.get(op) else {
            return Ok(());
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| route(op, client, message)))
        {
            Ok(result) => result,
            Err(payload) => Err(match payload.downcast::<Rejected>() {
                Ok(rejected) => rejected.0,
                Err(payload) => {
                    let why = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "it panicked".into());
                    OpError::new(
                        ErrorKind::HandlerFailed,
                        format!("the server's handler for op {} failed: {why}", quoted(op)),
                    )
                    .with_op(op)
                }
            }),
        }
    }
}

impl Handler for OpServer {
    type Data = ClientData;

    fn on_open(&self, client: &Client<ClientData>) {
        let client = self.client(client);
        if let Err(e) = self.call("connect", &client, &Value::Object(Map::new())) {
            self.report(&client, &e);
        }
    }

    fn on_message(&self, client: &Client<ClientData>, message: Message) {
        let client = self.client(client);
        if let Err(e) = self.dispatch(&client, &message) {
            self.report(&client, &e);
        }
    }

    fn on_close(&self, client: &Client<ClientData>, _code: CloseCode, _reason: &str) {
        let client = self.client(client);
        if let Err(e) = self.call("disconnect", &client, &Value::Object(Map::new())) {
            log::warn!("{client}: {e}");
        }
    }
}

/// Read a message: JSON text, an object, with an `"op"` that is text and
/// not one the server sends itself. Returns the op and the whole object.
pub(crate) fn parse(message: &Message) -> Result<(String, Value), OpError> {
    let example = "send an object such as {\"op\": \"draw\", \"x\": 10}";
    let Some(text) = message.as_text() else {
        return Err(OpError::new(
            ErrorKind::NotJson,
            format!("the message is binary, not JSON text; {example}"),
        ));
    };
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let start: String = text.chars().take(30).collect();
        OpError::new(
            ErrorKind::NotJson,
            format!(
                "the message {} is not JSON ({e}); {example}",
                quoted(&start)
            ),
        )
    })?;
    let Value::Object(map) = &value else {
        let what = match value {
            Value::Array(_) => "a list",
            Value::String(_) => "text",
            Value::Number(_) => "a number",
            _ => "true, false or null",
        };
        return Err(OpError::new(
            ErrorKind::NotObject,
            format!("the message is {what}, not an object; {example}"),
        ));
    };
    let op = match map.get("op") {
        Some(Value::String(op)) => op.as_str(),
        Some(other) => {
            return Err(OpError::new(
                ErrorKind::BadOp,
                format!("\"op\" should be text such as \"draw\", but it is {other}"),
            ))
        }
        None => {
            return Err(OpError::new(
                ErrorKind::NoOp,
                format!("the message has no \"op\" to say what it is; {example}"),
            ))
        }
    };
    if op == "connect" || op == "disconnect" {
        return Err(OpError::new(
            ErrorKind::ReservedOp,
            format!(
                "op {} is sent by the server itself when a browser comes or goes; \
                 a page cannot send it",
                quoted(op)
            ),
        )
        .with_op(op));
    }
    let op = op.to_owned();
    Ok((op, value))
}

/// The error for an op nobody handles, listing the ops there are (and the
/// one probably meant).
pub(crate) fn unknown_op<'a>(op: &str, ops: impl Iterator<Item = &'a str>) -> OpError {
    let mut known: Vec<&str> = ops
        .filter(|k| *k != "connect" && *k != "disconnect")
        .collect();
    known.sort_unstable();
    let hint = did_you_mean(op, known.iter().copied())
        .map(|k| format!(" (did you mean {}?)", quoted(k)))
        .unwrap_or_default();
    let list = if known.is_empty() {
        "none yet".to_owned()
    } else {
        known.join(", ")
    };
    OpError::new(
        ErrorKind::UnknownOp,
        format!(
            "there is no op {}{hint}; the server knows: {list}",
            quoted(op)
        ),
    )
    .with_op(op)
}
