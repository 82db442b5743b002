//! The built-in filters: `broadcast_messages`, `stdout_messages`,
//! `stdout_rawdata`, `broadcast_messages_by_token`, `broadcast_pubsub` and
//! `echo`.

use std::io::Write;

use wsstack::Message;

use crate::filter::{Cx, Filter, FilterRegistry, Flow, Node};

/// The Redis channel `broadcast_pubsub` relays when no `--channel` is
/// given.
pub const DEFAULT_CHANNEL: &str = "global";

/// The prefix of the message that sets a client's token.
pub const TOKEN_PREFIX: &str = "token:";

pub(crate) fn register(registry: FilterRegistry) -> FilterRegistry {
    registry
        .with(
            "broadcast_messages",
            "send every message to every client (the sender included), on every node",
            || BroadcastMessages,
        )
        .with(
            "stdout_messages",
            "print every message on stdout: `client ID: TEXT`",
            || StdoutMessages,
        )
        .with(
            "stdout_rawdata",
            "print every message's payload bytes on stdout, escaped: `client ID rawdata (N bytes): ...`",
            || StdoutRawdata,
        )
        .with(
            "broadcast_messages_by_token",
            "send a message to the clients with the sender's token (set with ?token=XYZ or the message token:XYZ), on every node",
            || BroadcastByToken,
        )
        .with(
            "broadcast_pubsub",
            "send what is published on the Redis channels of --channel (default: global) to every client (needs --redis)",
            || BroadcastPubsub,
        )
        .with(
            "echo",
            "send every message back to its sender (and stop the chain)",
            || Echo,
        )
}

/// `broadcast_messages`: every message to every client of every node,
/// through the hub (framed once), then on down the chain.
#[derive(Clone, Copy, Debug, Default)]
pub struct BroadcastMessages;

impl Filter for BroadcastMessages {
    fn on_message(&self, cx: &Cx<'_>, message: Message) -> Flow<Message> {
        cx.broadcast(message.clone());
        Flow::Pass(message)
    }
}

/// Write one line to stdout; a closed stdout is not the server's problem.
fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// `stdout_messages`: print every message, `client ID: TEXT` (binary as
/// `client ID: <binary N bytes>`).
#[derive(Clone, Copy, Debug, Default)]
pub struct StdoutMessages;

impl Filter for StdoutMessages {
    fn on_message(&self, cx: &Cx<'_>, message: Message) -> Flow<Message> {
        let id = cx.client().id();
        match message.as_text() {
            Some(text) => print_line(&format!("client {id}: {text}")),
            None => print_line(&format!("client {id}: <binary {} bytes>", message.len())),
        }
        Flow::Pass(message)
    }
}

/// `stdout_rawdata`: print every message's payload bytes, escaped as
/// ASCII (`\xNN` for other bytes), before the message filters run.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdoutRawdata;

impl Filter for StdoutRawdata {
    fn on_rawdata(&self, cx: &Cx<'_>, data: Vec<u8>) -> Flow<Vec<u8>> {
        print_line(&format!(
            "client {} rawdata ({} bytes): {}",
            cx.client().id(),
            data.len(),
            data.escape_ascii()
        ));
        Flow::Pass(data)
    }
}

/// The hub room of the clients with `token`.
pub fn token_room(token: &str) -> String {
    format!("{TOKEN_PREFIX}{token}")
}

/// `broadcast_messages_by_token`: a client with a token is in the room
/// `token:TOKEN`; its messages go to that room on every node. The token
/// comes from `?token=XYZ` at connect time, or the text message
/// `token:XYZ` (answered with `token set: XYZ` and not passed on).
/// Messages of a client without a token are passed on, not sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct BroadcastByToken;

impl Filter for BroadcastByToken {
    fn on_connect(&self, cx: &Cx<'_>) -> Flow<()> {
        let token = cx.client().data().token.clone();
        if let Some(token) = token {
            cx.client().subscribe(&token_room(&token));
        }
        Flow::Pass(())
    }

    fn on_message(&self, cx: &Cx<'_>, message: Message) -> Flow<Message> {
        let client = cx.client();
        if let Some(token) = message.as_text().and_then(|t| t.strip_prefix(TOKEN_PREFIX)) {
            let token = token.trim().to_owned();
            if token.is_empty() {
                return Flow::Reply(Message::from("token: the token is empty"));
            }
            let old = client.data().token.replace(token.clone());
            if let Some(old) = old {
                client.unsubscribe(&token_room(&old));
            }
            client.subscribe(&token_room(&token));
            return Flow::Reply(Message::from(format!("token set: {token}")));
        }
        let token = client.data().token.clone();
        if let Some(token) = token {
            cx.publish(&token_room(&token), message.clone());
        }
        Flow::Pass(message)
    }
}

/// `broadcast_pubsub`: relay the Redis channels of `--channel` (default
/// `global`) to every client of this node; `redis-cli PUBLISH global hi`
/// reaches them all. Needs `--redis`.
#[derive(Clone, Copy, Debug, Default)]
pub struct BroadcastPubsub;

impl Filter for BroadcastPubsub {
    fn start(&self, node: &Node<'_>) -> Result<(), String> {
        let redis = node.redis().ok_or(
            "the filter broadcast_pubsub relays Redis channels: it needs --redis URL \
             (e.g. --redis redis://127.0.0.1:6379/)",
        )?;
        let channels: Vec<String> = if node.channels().is_empty() {
            vec![DEFAULT_CHANNEL.to_owned()]
        } else {
            node.channels().to_vec()
        };
        log::info!("relaying Redis channels {channels:?} to every client");
        redis.relay(channels);
        Ok(())
    }
}

/// `echo`: answer every message with itself; later filters do not see it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl Filter for Echo {
    fn on_message(&self, _cx: &Cx<'_>, message: Message) -> Flow<Message> {
        Flow::Reply(message)
    }
}
