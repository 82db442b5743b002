//! A chat room a browser can join: open http://127.0.0.1:9002/ (the page is
//! served on the WebSocket port) in a few tabs. Every message is broadcast
//! to everyone in the room; each client's nickname lives in its per-client
//! data.
//!
//! ```text
//! cargo run --example chat -- [--addr 127.0.0.1:9002] [--server event-loop|threaded]
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

use wsstack::handshake::{Response, ServerConfig};
use wsstack::server::{Client, Handler, ServerBuilder};
use wsstack::CloseCode;
use wsstack::Message;

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>wsstack chat</title>
<style>body{font:16px sans-serif;max-width:40em;margin:2em auto}#log{border:1px solid #ccc;height:20em;overflow:auto;padding:.5em}</style>
<h1>wsstack chat</h1>
<div id="log"></div>
<form id="f"><input id="m" autocomplete="off" size="50" autofocus> <button>Send</button></form>
<script>
const name = new URLSearchParams(location.search).get("name") || "";
const ws = new WebSocket(`ws://${location.host}/chat?name=${encodeURIComponent(name)}`);
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

/// The room: every connected client, by id.
#[derive(Default)]
struct Room {
    members: Mutex<HashMap<u64, Client<String>>>,
}

impl Room {
    fn broadcast(&self, text: &str) {
        let message = Message::Text(text.to_owned());
        for member in self.members.lock().unwrap().values() {
            let _ = member.send(message.clone());
        }
    }
}

impl Handler for Room {
    /// The nickname.
    type Data = String;

    fn on_open(&self, client: &Client<String>) {
        let name = client
            .request()
            .query_param("name")
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("guest-{}", client.id()));
        *client.data() = name.clone();
        self.members
            .lock()
            .unwrap()
            .insert(client.id(), client.clone());
        self.broadcast(&format!("* {name} joined"));
    }

    fn on_message(&self, client: &Client<String>, message: Message) {
        let Some(text) = message.as_text() else {
            return;
        };
        let name = client.data().clone();
        self.broadcast(&format!("[{name}] {text}"));
    }

    fn on_close(&self, client: &Client<String>, _code: CloseCode, _reason: &str) {
        self.members.lock().unwrap().remove(&client.id());
        let name = client.data().clone();
        self.broadcast(&format!("* {name} left"));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let mut addr = "127.0.0.1:9002".to_string();
    let mut threaded = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs a value")?,
            "--server" => threaded = args.next().as_deref() == Some("threaded"),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let handshake = ServerConfig::new().with_http_handler(|req| {
        (req.path() == "/").then(|| {
            let mut page = Response::new(200);
            page.headers
                .push("Content-Type", "text/html; charset=utf-8");
            page.body = PAGE.as_bytes().to_vec();
            page
        })
    });
    let builder = ServerBuilder::new()
        .address(addr)
        .handshake(handshake)
        .stop_on_signals(true);
    if threaded {
        let server = builder.bind_threaded()?;
        println!("chat on http://{}/", server.local_addr()?);
        server.run(Room::default())?;
    } else {
        let server = builder.bind_event_loop()?;
        println!("chat on http://{}/", server.local_addr()?);
        server.run(Room::default())?;
    }
    Ok(())
}
