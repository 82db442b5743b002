//! The README's main job: an echo server on ws://127.0.0.1:9001 that a
//! browser can talk to.
//!
//! ```text
//! cargo run --release --example echo_server -- [--addr 127.0.0.1:9001]
//!     [--server event-loop|threaded|tokio] [--deflate] [--loops N]
//!     [--max-connections N] [--max-frame BYTES] [--max-message BYTES]
//!     [--fragment-size BYTES]
//! ```
//!
//! `--server tokio` needs the `tokio` feature (`--features tokio`).
//!
//! Logs through `log` (set `RUST_LOG=info` or `debug`). Ctrl-C or SIGTERM
//! stops accepting, closes every client with 1001 after what was queued for
//! it, and exits with status 0.

use wsstack::connection::Config;
use wsstack::extensions::{DeflateFrame, PerMessageDeflate};
use wsstack::handshake::ServerConfig;
use wsstack::server::{Client, Handler, ServerBuilder};
use wsstack::CloseCode;
use wsstack::{Limits, Message};

struct Echo;

impl Handler for Echo {
    type Data = ();

    fn on_open(&self, client: &Client) {
        log::info!("{client} connected to {}", client.path());
    }

    fn on_message(&self, client: &Client, message: Message) {
        let _ = client.send(message);
    }

    fn on_close(&self, client: &Client, code: CloseCode, reason: &str) {
        log::info!("{client} disconnected: {code} {reason:?}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let mut addr = "127.0.0.1:9001".to_string();
    let mut kind = "event-loop".to_string();
    let mut deflate = false;
    let mut limits = Limits::default();
    let mut config = Config::default();
    let mut builder = ServerBuilder::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--addr" => addr = value()?,
            "--server" => match value()?.as_str() {
                k @ ("threaded" | "event-loop" | "tokio") => kind = k.to_string(),
                other => {
                    return Err(format!("--server threaded|event-loop|tokio, not {other}").into())
                }
            },
            "--deflate" => deflate = true,
            "--loops" => builder = builder.loops(value()?.parse()?),
            "--max-connections" => builder = builder.max_connections(value()?.parse()?),
            "--max-frame" => limits.max_frame_size = value()?.parse()?,
            "--max-message" => limits.max_message_size = value()?.parse()?,
            "--fragment-size" => config.fragment_size = Some(value()?.parse()?),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let mut handshake = ServerConfig::new().with_limits(limits);
    if deflate {
        handshake = handshake
            .with_extension(PerMessageDeflate::new())
            .with_extension(DeflateFrame::new());
    }
    let builder = builder
        .address(addr)
        .handshake(handshake)
        .connection(config.with_limits(limits))
        .stop_on_signals(true);
    match kind.as_str() {
        "threaded" => {
            let server = builder.bind_threaded()?;
            println!(
                "echo server ({kind}) listening on ws://{}",
                server.local_addr()?
            );
            server.run(Echo)?;
        }
        #[cfg(feature = "tokio")]
        "tokio" => {
            let server = builder.bind_tokio()?;
            println!(
                "echo server ({kind}) listening on ws://{}",
                server.local_addr()?
            );
            server.run(Echo)?;
        }
        #[cfg(not(feature = "tokio"))]
        "tokio" => return Err("--server tokio needs the `tokio` feature".into()),
        _ => {
            let server = builder.bind_event_loop()?;
            println!(
                "echo server ({kind}) listening on ws://{}",
                server.local_addr()?
            );
            server.run(Echo)?;
        }
    }
    println!("echo server stopped");
    Ok(())
}
