//! JSON ops: a server and a browser library simple enough for a classroom
//! (feature `ops`, on by default).
//!
//! Browser and server talk in small JSON messages. Each one is an object
//! with an `"op"` that says what it is, and its parameters:
//!
//! ```json
//! {"op": "draw", "x1": 10, "y1": 20, "x2": 30, "y2": 40, "color": "red"}
//! ```
//!
//! # The server
//!
//! Register a handler per op, then run. A handler is a closure or a plain
//! `fn` that takes the [`OpClient`] that sent the message and, if the op
//! has parameters, a struct that derives [`Deserialize`] with one field
//! per parameter:
//!
//! ```no_run
//! use wsstack::ops::{json, App, Deserialize, OpClient, Serialize};
//!
//! #[derive(Deserialize, Serialize)]
//! struct Line {
//!     x1: f64,
//!     y1: f64,
//!     x2: f64,
//!     y2: f64,
//!     #[serde(default)] // optional: "" when the message has no color
//!     color: String,
//! }
//!
//! fn draw(client: &OpClient, line: Line) {
//!     client.broadcast_to_others("draw", line);
//! }
//!
//! App::new()
//!     .on("connect", |client: &OpClient| {
//!         client.send("welcome", json!({ "id": client.id() }));
//!     })
//!     .on("draw", draw)
//!     .run(8000); // open http://127.0.0.1:8000/
//! ```
//!
//! For a quick op with a few parameters, name them instead of writing a
//! struct: [`App::on_params`] with `&["a", "b=0"]` (`b` is optional and
//! `0` when missing), read with `args.int("a")`.
//!
//! `connect` and `disconnect` are special ops: the server runs them when a
//! browser connects and when it has gone.
//!
//! [`App::run`] serves everything on one port: the WebSocket (at `/ws`),
//! the browser library at `/wsstack.js` (and `/wsstack.mjs`), and your
//! pages from the folder `./static` ([`App::static_dir`] to change it;
//! `index.html` is the page at `/`). It listens on 127.0.0.1, so only this
//! computer can connect; `.public(true)` opens it to the network (a
//! classroom).
//!
//! An [`OpClient`] can [`send`](OpClient::send) ops to its browser,
//! [`broadcast`](OpClient::broadcast) to everyone, join
//! [groups](OpClient::add_to_group) and
//! [broadcast to a group](OpClient::broadcast_to_group), keep values with
//! [`set`](OpClient::set) / [`get`](OpClient::get), and run JavaScript in
//! its browser with [`eval_js`](OpClient::eval_js) once the app allowed it
//! ([`App::allow_eval_js`]).
//!
//! To use `#[derive(Deserialize)]` in your own crate, add
//! `serde = { version = "1", features = ["derive"] }` to its
//! `Cargo.toml` (or write `#[serde(crate = "wsstack::ops::serde")]` on
//! the struct).
//!
//! # The browser
//!
//! ```html
//! <script src="/wsstack.js"></script>
//! <script>
//!   HANDLERS.welcome = function (msg) { console.log("I am number", msg.id); };
//!   send_message({op: "draw", x1: 0, y1: 0, x2: 50, y2: 50});
//! </script>
//! ```
//!
//! The library reconnects by itself when the connection drops, holding
//! up to 100 messages sent meanwhile and delivering them once back. A
//! badge in the corner shows the state, which is also
//! `wsstack.state` (`"connecting"`, `"connected"`, `"offline"`), with
//! `wsstack.onstate = function (state) { ... }` to follow it. For React or
//! Vue, import `connect`, `send_message` and `HANDLERS` from
//! `/wsstack.mjs`.
//!
//! # Mistakes
//!
//! A message the server cannot use never crashes it or disconnects the
//! browser. The browser gets an error message, which the library prints
//! in the console (or hands to `HANDLERS.error`), and the server logs a
//! warning:
//!
//! ```json
//! {"op": "error", "kind": "wrong_type", "failed_op": "draw", "param": "x1",
//!  "error": "op \"draw\": the parameter \"x1\" should be a number, but it is the text \"ten\""}
//! ```
//!
//! The kinds: `not_json`, `not_object`, `no_op`, `bad_op` (`"op"` is not
//! text), `unknown_op` (with a "did you mean"), `reserved_op`,
//! `missing_param`, `extra_param`, `wrong_type` and `handler_failed` (the
//! handler panicked; the server carries on). See [`ErrorKind`].
//!
//! # Safety
//!
//! Files are served from the static folder only: `..`, hidden files and
//! links out of the folder are refused. WebSocket connections are accepted
//! from this server's own pages (and from programs, which send no
//! `Origin`); [`App::allow_origin`] adds a development server.
//! [`OpClient::eval_js`] is off unless turned on.

mod app;
mod args;
mod client;
mod error;
mod params;
mod web;

#[cfg(test)]
mod tests;

pub use app::{run_server, App, OpHandler, Running};
pub use args::Args;
pub use client::{AppHandle, ClientData, OpClient};
pub use error::{ErrorKind, OpError};
pub use web::{WSSTACK_JS, WSSTACK_MJS};

pub use serde;
pub use serde::{Deserialize, Serialize};
pub use serde_json;
pub use serde_json::{json, Value};
