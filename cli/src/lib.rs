//! `wsstack`, the command line of the wsstack WebSocket library, as a
//! library: `wsstack serve` (a WebSocket server composed from named
//! [`Filter`]s, configured by flags or a JSON file, scaled across
//! processes through Redis pub/sub) and `wsstack connect` (an interactive
//! client for the terminal and for shell pipelines).
//!
//! Add a filter of your own by name and run the very same command line:
//!
//! ```no_run
//! use wsstack::Message;
//! use wsstack_cli::{Cx, Filter, FilterRegistry, Flow};
//!
//! struct Shout;
//!
//! impl Filter for Shout {
//!     fn on_message(&self, _cx: &Cx<'_>, message: Message) -> Flow<Message> {
//!         match message.as_text() {
//!             Some(text) => Flow::Pass(Message::from(text.to_uppercase())),
//!             None => Flow::Pass(message),
//!         }
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     // wsstack serve --filter shout --filter broadcast_messages
//!     wsstack_cli::run_main(FilterRegistry::builtin().with("shout", "upper-case text", || Shout))
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod args;
pub mod builtin;
pub mod config;
pub mod connect;
mod filter;
mod http;
pub mod metrics;
mod redis_broker;
pub mod serve;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

pub use filter::{Conn, Cx, Filter, FilterRegistry, Flow, Node, Session};
pub use http::PAGE;
pub use metrics::Metrics;
pub use redis_broker::{RedisBroker, RedisStats};

use args::{Cli, Command};

/// Run the command line of the process with these filters available to
/// `--filter`; returns the exit status for `main` to return.
pub fn run_main(filters: FilterRegistry) -> ExitCode {
    run(std::env::args_os(), &filters)
}

/// Run the command line `args` (the program name first) with these
/// filters available to `--filter`.
pub fn run<I, T>(args: I, filters: &FilterRegistry) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let command = Cli::command().mut_subcommand("serve", |c| c.after_help(filters.help()));
    let parsed = command
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0, mistakes to stderr with 2.
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    match cli.command {
        Command::Serve(args) => serve::serve(args, filters),
        Command::Connect(args) => connect::connect(args),
    }
}
