//! The command line: `wsstack serve` and `wsstack connect`, with clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The default address of `wsstack serve`.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8000";
/// The default Redis channel prefix.
pub const DEFAULT_PREFIX: &str = "wsstack";

/// `wsstack`: a ready WebSocket server composed from filters, and a
/// WebSocket client for the terminal.
#[derive(Debug, Parser)]
#[command(
    name = "wsstack",
    version,
    about = "A ready WebSocket server composed from filters, and a WebSocket client for the terminal",
    propagate_version = true
)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a WebSocket server made of filters (by default a chat, with its
    /// page at http://ADDR/)
    Serve(ServeArgs),
    /// Connect to a WebSocket server: stdin lines become messages,
    /// messages go to stdout
    Connect(ConnectArgs),
}

/// `wsstack serve`. Every option may also come from the config file
/// (`-c`), under its long name; the command line wins.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free one [default: 127.0.0.1:8000]
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,

    /// Apply this filter; repeat for more, applied in the order given
    /// [default: broadcast_messages, stdout_messages]
    #[arg(short = 'f', long = "filter", value_name = "NAME")]
    pub filters: Vec<String>,

    /// Read options from this JSON file: its keys are the long option
    /// names ("filters" a list); options given on the command line win
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Offer permessage-deflate (RFC 7692) to clients
    #[arg(long)]
    pub deflate: bool,

    /// The server driver [default: event-loop]
    #[arg(long, value_name = "KIND", value_parser = ["threaded", "event-loop"])]
    pub server: Option<String>,

    /// Serve wss:// (and the page over https) with this PEM certificate chain (with --key)
    #[arg(long, value_name = "PEM")]
    pub cert: Option<String>,

    /// The PEM private key of --cert
    #[arg(long, value_name = "PEM")]
    pub key: Option<String>,

    /// Log level: off, error, warn, info, debug or trace [default: info, or RUST_LOG]
    #[arg(long, value_name = "LEVEL", value_parser = ["off", "error", "warn", "info", "debug", "trace"])]
    pub log_level: Option<String>,

    /// Largest message accepted, in bytes [default: 67108864 (64 MiB)]
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    pub max_message: Option<usize>,

    /// Largest frame accepted, in bytes [default: 16777216 (16 MiB)]
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    pub max_frame: Option<usize>,

    /// Most clients at once; more are answered 503 [default: 10000]
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub max_connections: Option<usize>,

    /// Join the nodes on this Redis (a redis:// URL, e.g. redis://127.0.0.1:6379/):
    /// rooms and broadcasts reach the clients of every node; retried with a
    /// backoff while unreachable
    #[arg(long, value_name = "URL", help_heading = "Redis")]
    pub redis: Option<String>,

    /// A Redis channel for broadcast_pubsub to relay to every client; repeat
    /// for more [default: global]
    #[arg(long = "channel", value_name = "NAME", help_heading = "Redis")]
    pub channels: Vec<String>,

    /// The prefix of the Redis channels the nodes talk on [default: wsstack]
    #[arg(long, value_name = "PREFIX", help_heading = "Redis")]
    pub redis_prefix: Option<String>,
}

/// `wsstack connect URL`.
#[derive(Debug, Default, Args)]
#[command(after_help = crate::connect::EXIT_STATUS_HELP)]
pub struct ConnectArgs {
    /// ws:// or wss:// URL (credentials in it, user:pass@, are sent with Basic auth)
    #[arg(value_name = "URL")]
    pub url: String,

    /// Send stdin lines as binary messages (default: text)
    #[arg(long)]
    pub binary: bool,

    /// Send this request header ("Name: value"); repeat for more
    #[arg(short = 'H', long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,

    /// Offer this subprotocol; repeat for more, in order of preference
    #[arg(long = "subprotocol", value_name = "NAME")]
    pub subprotocols: Vec<String>,

    /// HTTP Basic credentials (instead of user:pass@ in the URL)
    #[arg(long, value_name = "USER:PASS")]
    pub user: Option<String>,

    /// Send this Origin header
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,

    /// After stdin ends, wait this long for more messages before closing
    /// (a server's close ends it sooner)
    #[arg(long, value_name = "SECONDS", default_value = "1")]
    pub wait: f64,

    /// Do not offer permessage-deflate
    #[arg(long)]
    pub no_deflate: bool,

    /// wss://: accept any certificate, unverified. DANGEROUS: anyone on the
    /// path can read and change the traffic; for testing only
    #[arg(long = "insecure-dangerous-skip-verify")]
    pub insecure_dangerous_skip_verify: bool,

    /// Log level: off, error, warn, info, debug or trace [default: warn, or RUST_LOG]
    #[arg(long, value_name = "LEVEL", value_parser = ["off", "error", "warn", "info", "debug", "trace"])]
    pub log_level: Option<String>,
}
