//! Chat rooms on the hub: open http://127.0.0.1:9002/ (the page is served
//! on the WebSocket port) in a few tabs, optionally with `?name=ann`.
//!
//! ```text
//! cargo run --example rooms -- [--addr HOST:PORT] [--server event-loop|threaded] [--deflate]
//! ```
//!
//! What a client sends:
//!
//! - `join:NAME` joins room NAME (answered `joined NAME`, or `already in
//!   NAME`);
//! - `leave:NAME` leaves it (answered `left NAME`, or `not in NAME`);
//! - `who` is answered with the number of connected clients (`3
//!   connected`);
//! - any other text goes out as `[nickname] text` to every member of every
//!   room the sender is in, the sender included, or to every connected
//!   client when the sender is in no room. A member who shares several
//!   rooms with the sender gets it once, not once per room: the recipients
//!   are the union of the rooms' members, and the message is framed once
//!   for all of them (`PreparedMessage`).
//!
//! No registry of our own: the server's `Hub` knows who is connected and
//! who is in which room, and forgets a client before its `on_close`.
//! Ctrl-C or SIGTERM closes every client with 1001 and exits.

use std::collections::HashSet;
use std::process::ExitCode;

use wsstack::connection::PreparedMessage;
use wsstack::handshake::{Response, ServerConfig};
use wsstack::server::{Client, Handler, ServerBuilder};
use wsstack::Message;

const DEFAULT_ADDR: &str = "127.0.0.1:9002";

const HELP: &str = "\
rooms: chat rooms on wsstack's hub, with a browser page on the same port

usage: rooms [--addr HOST:PORT] [--server event-loop|threaded] [--deflate]

options:
  --addr HOST:PORT    where to listen (default 127.0.0.1:9002; port 0 picks one)
  --server KIND       event-loop (default) or threaded
  --deflate           offer permessage-deflate (no server context takeover,
                      so a message is compressed once for a whole room)
  --help              print this and exit

messages: join:NAME, leave:NAME, who, and any other text to your rooms
(or to everyone when you are in none)";

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>wsstack rooms</title>
<style>body{font:16px sans-serif;max-width:40em;margin:2em auto}#log{border:1px solid #ccc;height:20em;overflow:auto;padding:.5em}</style>
<h1>wsstack rooms</h1>
<p>Type <code>join:NAME</code>, <code>leave:NAME</code>, <code>who</code>, or a message for your rooms (everyone, while you are in none).</p>
<div id="log"></div>
<form id="f"><input id="m" autocomplete="off" size="50" autofocus> <button>Send</button></form>
<script>
const name = new URLSearchParams(location.search).get("name") || "";
const ws = new WebSocket(`ws://${location.host}/rooms?name=${encodeURIComponent(name)}`);
const log = document.getElementById("log");
const add = (t) => { const p = document.createElement("div"); p.textContent = t; log.append(p); log.scrollTop = log.scrollHeight; };
ws.onopen = () => add("(connected)");
ws.onmessage = (e) => add(e.data);
ws.onclose = (e) => add(`(closed ${e.code} ${e.reason})`);
document.getElementById("f").onsubmit = (e) => {
  e.preventDefault();
  const m = document.getElementById("m");
  if (m.value) ws.send(m.value);
  m.value = "";
};
</script>
"#;

struct Rooms;

impl Handler for Rooms {
    /// The nickname.
    type Data = String;

    fn on_open(&self, client: &Client<String>) {
        *client.data() = client
            .request()
            .query_param("name")
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("guest-{}", client.id()));
    }

    fn on_message(&self, client: &Client<String>, message: Message) {
        let Some(text) = message.as_text() else {
            return;
        };
        let reply = if let Some(room) = text.strip_prefix("join:") {
            match (room.is_empty(), client.subscribe(room)) {
                (true, _) => "a room needs a name: join:NAME".to_string(),
                (false, true) => format!("joined {room}"),
                (false, false) => format!("already in {room}"),
            }
        } else if let Some(room) = text.strip_prefix("leave:") {
            if client.unsubscribe(room) {
                format!("left {room}")
            } else {
                format!("not in {room}")
            }
        } else if text == "who" {
            format!("{} connected", client.hub().len())
        } else {
            let line = format!("[{}] {text}", client.data());
            say_to_rooms(client, line);
            return;
        };
        let _ = client.send(reply);
    }
}

/// `line` to every member of the sender's rooms, once each, or to everyone
/// when the sender is in no room.
fn say_to_rooms(sender: &Client<String>, line: String) {
    let hub = sender.hub();
    let rooms = sender.rooms();
    if rooms.is_empty() {
        hub.broadcast(line);
        return;
    }
    let prepared = PreparedMessage::new(line);
    let mut seen = HashSet::new();
    for room in &rooms {
        for member in hub.members(room) {
            if seen.insert(member.id()) {
                // A member that is gone or over its mark just misses it.
                let _ = member.send_prepared(&prepared);
            }
        }
    }
}

/// What the command line asked for.
struct Options {
    addr: String,
    threaded: bool,
    deflate: bool,
}

/// `Ok(None)`: `--help` was printed.
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        addr: DEFAULT_ADDR.to_string(),
        threaded: false,
        deflate: false,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => {
                options.addr = args
                    .next()
                    .ok_or("--addr needs a value: --addr HOST:PORT")?;
            }
            "--server" => match args.next().as_deref() {
                Some("event-loop") => options.threaded = false,
                Some("threaded") => options.threaded = true,
                Some(other) => {
                    return Err(format!(
                        "--server takes event-loop or threaded, not {other:?}"
                    ))
                }
                None => return Err("--server needs a value: event-loop or threaded".into()),
            },
            "--deflate" => options.deflate = true,
            "--help" | "-h" => {
                println!("{HELP}");
                return Ok(None);
            }
            other => return Err(format!("unknown option {other:?} (see --help)")),
        }
    }
    Ok(Some(options))
}

fn serve(options: Options) -> Result<(), String> {
    let handshake = ServerConfig::new().with_http_handler(|req| {
        (req.path() == "/").then(|| {
            let mut page = Response::new(200);
            page.headers
                .push("Content-Type", "text/html; charset=utf-8");
            page.body = PAGE.as_bytes().to_vec();
            page
        })
    });
    let addr = options.addr;
    // The server's errors name the address; say which flag it came from.
    let at_fault = |e: wsstack::Error| format!("--addr {addr}: {e}");
    let builder = ServerBuilder::new()
        .address(addr.as_str())
        .handshake(handshake)
        .permessage_deflate(options.deflate)
        .stop_on_signals(true);
    if options.threaded {
        let server = builder.bind_threaded().map_err(at_fault)?;
        println!("rooms on http://{}/", server.local_addr().unwrap());
        server.run(Rooms).map_err(|e| e.to_string())
    } else {
        let server = builder.bind_event_loop().map_err(at_fault)?;
        println!("rooms on http://{}/", server.local_addr().unwrap());
        server.run(Rooms).map_err(|e| e.to_string())
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let result = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => serve(options),
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rooms: {e}");
            ExitCode::from(2)
        }
    }
}
