//! An echo connection: a `ConnectionHandler` that echoes every message,
//! run with `receive_forever` on each accepted client, one after another.
//!
//! ```text
//! cargo run --example echo_connection -- [ADDR] [--once]
//! ```
//! `ADDR` defaults to 127.0.0.1:8000; `--once` serves a single client and
//! exits (used by the tests).

use std::io::{Read, Write};
use std::net::TcpListener;

use wsstack::connection::Config;
use wsstack::handshake::ServerConfig;
use wsstack::CloseCode;
use wsstack::{Connection, ConnectionHandler, Message};

struct EchoConnection;

impl<S: Read + Write> ConnectionHandler<S> for EchoConnection {
    fn on_open(&mut self, _conn: &mut Connection<S>) {
        println!("Connection opened");
    }

    fn on_message(&mut self, conn: &mut Connection<S>, message: Message) {
        println!("Received message {message:?}");
        if let Err(e) = conn.send(message) {
            eprintln!("echo failed: {e}");
        }
    }

    fn on_close(&mut self, _conn: &mut Connection<S>, code: CloseCode, reason: &str) {
        println!("Connection closed ({code} {reason:?})");
    }

    fn on_error(&mut self, _conn: &mut Connection<S>, error: &wsstack::Error) {
        eprintln!("Connection failed: {error}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let once = args.iter().any(|a| a == "--once");
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or("127.0.0.1:8000", String::as_str);
    let server = TcpListener::bind(addr)?;
    println!("listening on ws://{}", server.local_addr()?);
    loop {
        let (client, peer) = server.accept()?;
        println!("client {peer}");
        match Connection::accept(client, &ServerConfig::new(), Config::default()) {
            Ok((mut conn, _request)) => conn.receive_forever(&mut EchoConnection),
            Err(e) => eprintln!("handshake failed: {e}"),
        }
        if once {
            return Ok(());
        }
    }
}
