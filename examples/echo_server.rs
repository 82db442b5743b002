//! The README's main job: an echo server on ws://127.0.0.1:9001 (or
//! wss:// with `--cert` and `--key`) that a browser can talk to. Run it with
//! `--help` for every option. `--server tokio` needs the `tokio` feature
//! (`cargo run --features tokio --example echo_server -- --server tokio`),
//! `--server uring` the `uring` feature (Linux; no `--cert`).
//!
//! Logs through `log` (set `RUST_LOG=info` or `debug`). Ctrl-C or SIGTERM
//! stops accepting, closes every client with 1001 after what was queued for
//! it, and exits with status 0.

use std::process::ExitCode;

use wsstack::connection::Config;
use wsstack::extensions::{DeflateFrame, PerMessageDeflate};
use wsstack::handshake::ServerConfig;
use wsstack::server::{Client, Handler, ServerBuilder, ServerKind};
use wsstack::{CloseCode, Limits, Message};

const HELP: &str = "\
echo_server: echo every WebSocket message back to its sender

USAGE: echo_server [OPTIONS]

OPTIONS:
  --addr HOST:PORT        address to listen on (default 127.0.0.1:9001; port 0 picks one)
  --server KIND           event-loop (default), threaded, tokio (feature `tokio`)
                          or uring (feature `uring`, Linux, no TLS)
  --cert PEM --key PEM    serve wss:// with this certificate chain and private key
  --deflate               offer permessage-deflate and deflate-frame
  --loops N               event loops (default: one per core)
  --max-connections N     most clients at once (default 10000; more get 503)
  --max-frame BYTES       largest frame accepted (default 16 MiB)
  --max-message BYTES     largest message accepted (default 64 MiB)
  --fragment-size BYTES   split outgoing messages into frames of this size
  -h, --help              print this help
";

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

/// The command line, parsed.
struct Options {
    addr: String,
    kind: ServerKind,
    cert: Option<String>,
    key: Option<String>,
    deflate: bool,
    loops: Option<usize>,
    max_connections: Option<usize>,
    limits: Limits,
    fragment_size: Option<usize>,
}

fn number(flag: &str, value: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} expects a whole number, not {value:?}"))
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut o = Options {
        addr: "127.0.0.1:9001".into(),
        kind: ServerKind::EventLoop,
        cert: None,
        key: None,
        deflate: false,
        loops: None,
        max_connections: None,
        limits: Limits::default(),
        fragment_size: None,
    };
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if flag == "--deflate" {
            o.deflate = true;
            continue;
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value (see --help)"))?;
        match flag.as_str() {
            "--addr" => o.addr = value,
            "--server" => o.kind = value.parse().map_err(|e| format!("--server: {e}"))?,
            "--cert" => o.cert = Some(value),
            "--key" => o.key = Some(value),
            "--loops" => o.loops = Some(number(&flag, &value)?),
            "--max-connections" => o.max_connections = Some(number(&flag, &value)?),
            "--max-frame" => o.limits.max_frame_size = number(&flag, &value)?,
            "--max-message" => o.limits.max_message_size = number(&flag, &value)?,
            "--fragment-size" => o.fragment_size = Some(number(&flag, &value)?),
            _ => return Err(format!("unknown option {flag} (see --help)")),
        }
    }
    Ok(Some(o))
}

fn builder(o: &Options) -> Result<ServerBuilder, String> {
    let mut handshake = ServerConfig::new();
    if o.deflate {
        handshake = handshake
            .with_extension(PerMessageDeflate::new())
            .with_extension(DeflateFrame::new());
    }
    let mut builder = ServerBuilder::new()
        .address(o.addr.clone())
        .limits(o.limits)
        .handshake(handshake)
        .connection(Config::default().with_fragment_size(o.fragment_size))
        .stop_on_signals(true);
    if let Some(n) = o.loops {
        builder = builder.loops(n);
    }
    if let Some(n) = o.max_connections {
        builder = builder.max_connections(n);
    }
    match (&o.cert, &o.key) {
        (Some(cert), Some(key)) => {
            let tls = wsstack::tls::TlsServerConfig::from_pem_files(cert, key)
                .map_err(|e| format!("--cert {cert} --key {key}: {e}"))?;
            builder = builder.tls(tls);
        }
        (None, None) => {}
        _ => return Err("--cert and --key go together".into()),
    }
    Ok(builder)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("echo_server: {e}");
            return ExitCode::from(2);
        }
    };
    let server =
        match builder(&options).and_then(|b| b.bind(options.kind).map_err(|e| e.to_string())) {
            Ok(server) => server,
            Err(e) => {
                eprintln!("echo_server: {e}");
                return ExitCode::FAILURE;
            }
        };
    let scheme = if options.cert.is_some() { "wss" } else { "ws" };
    match server.local_addr() {
        Ok(addr) => println!(
            "echo server ({}) listening on {scheme}://{addr}",
            options.kind
        ),
        Err(e) => {
            eprintln!("echo_server: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = server.run(Echo) {
        eprintln!("echo_server: {e}");
        return ExitCode::FAILURE;
    }
    println!("echo server stopped");
    ExitCode::SUCCESS
}
