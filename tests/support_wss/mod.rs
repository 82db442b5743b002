//! Helpers for the `wss://` server tests: our event-loop or threaded
//! server with an echo handler on 127.0.0.1:0, what the handler saw sent
//! over a channel, and a bounded stop on drop; a `wss://` builder with the
//! test certificate; a flat-JSON field reader for peer reports.
//!
//! The handler echoes every message, except text starting with
//! `RESULT:` (a browser page's report), which it reports instead.
//!
//! Needs `mod support; mod support_tls;` next to `mod support_wss;`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use wsstack::server::{Client, Handler, ServerBuilder, ServerHandle, ServerKind, ServerStats};
use wsstack::tls::TlsServerConfig;
use wsstack::{CloseCode, Message};

use crate::support_tls::Pki;

/// Every server kind, in the order the tests run them.
pub const KINDS: [ServerKind; 3] = [
    ServerKind::EventLoop,
    ServerKind::Threaded,
    ServerKind::Tokio,
];

/// Bound on waiting for the handler to report something.
pub const SEEN_TIMEOUT: Duration = Duration::from_secs(60);

/// Message sizes of the interop runs: text and binary at each, 12
/// echoes per client run.
pub const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 1 << 20];

/// [`SIZES`] as a comma list.
pub fn sizes_arg() -> String {
    SIZES.map(|s| s.to_string()).join(",")
}

/// A `wss://` server builder with the test server certificate.
pub fn tls_builder(pki: &Pki, deflate: bool) -> ServerBuilder {
    let tls = TlsServerConfig::from_pem_files(&pki.server.cert, &pki.server.key).unwrap();
    ServerBuilder::new().tls(tls).permessage_deflate(deflate)
}

/// The raw value of `key` in a flat JSON object: a string's contents
/// (unescaped only for `\"` and `\\`), or a number, `true`, `false`,
/// `null` as written.
pub fn json_value(json: &str, key: &str) -> Option<String> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = json[at..].trim_start();
    if let Some(body) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => out.push(chars.next()?),
                c => out.push(c),
            }
        }
        return None;
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim().to_owned())
}

/// What the server's handler saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// A client connected, with these negotiated extension names.
    Opened { extensions: Vec<String> },
    /// A page's `RESULT:` message (the text after the prefix).
    Result(String),
    /// A client ended with this code and reason.
    Closed { code: u16, reason: String },
    /// An echo could not be queued.
    SendFailed(String),
}

struct Echo {
    seen: Mutex<Sender<Seen>>,
}

impl Echo {
    fn report(&self, seen: Seen) {
        let _ = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(seen);
    }
}

impl Handler for Echo {
    type Data = ();

    fn on_open(&self, client: &Client) {
        self.report(Seen::Opened {
            extensions: client.extensions().to_vec(),
        });
    }

    fn on_message(&self, client: &Client, message: Message) {
        if let Some(result) = message.as_text().and_then(|t| t.strip_prefix("RESULT:")) {
            return self.report(Seen::Result(result.to_owned()));
        }
        if let Err(e) = client.send(message) {
            self.report(Seen::SendFailed(format!("{e:?}")));
        }
    }

    fn on_close(&self, _client: &Client, code: CloseCode, reason: &str) {
        self.report(Seen::Closed {
            code: code.as_u16(),
            reason: reason.to_owned(),
        });
    }
}

/// A running echo server; shut down (and its `run` awaited, bounded) on
/// drop.
pub struct EchoServer {
    pub addr: SocketAddr,
    pub kind: ServerKind,
    handle: ServerHandle,
    done: Receiver<Result<(), String>>,
    seen: Receiver<Seen>,
}

impl EchoServer {
    /// Bind `builder` on 127.0.0.1:0 as a `kind` server and run it on a
    /// thread of its own.
    pub fn start(kind: ServerKind, builder: ServerBuilder) -> EchoServer {
        let server = builder
            .address("127.0.0.1:0")
            .bind(kind)
            .unwrap_or_else(|e| panic!("bind the {kind} server: {e}"));
        let addr = server.local_addr().unwrap();
        let handle = server.handle();
        let (seen_tx, seen) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        thread::Builder::new()
            .name(format!("{kind}-server"))
            .spawn(move || {
                let result = server.run(Echo {
                    seen: Mutex::new(seen_tx),
                });
                let _ = done_tx.send(result.map_err(|e| e.to_string()));
            })
            .unwrap();
        EchoServer {
            addr,
            kind,
            handle,
            done,
            seen,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The next thing the handler saw, within [`SEEN_TIMEOUT`].
    pub fn next_seen(&self) -> Seen {
        match self.seen.recv_timeout(SEEN_TIMEOUT) {
            Ok(seen) => seen,
            Err(RecvTimeoutError::Timeout) => {
                panic!(
                    "{}: the handler saw nothing within {SEEN_TIMEOUT:?}",
                    self.kind
                )
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!(
                    "{}: the server stopped: {:?}",
                    self.kind,
                    self.done.try_recv()
                )
            }
        }
    }

    /// The next `n` ends (`on_close`), skipping other reports, each within
    /// [`SEEN_TIMEOUT`].
    pub fn closes(&self, n: usize) -> Vec<(u16, String)> {
        let mut closes = Vec::new();
        while closes.len() < n {
            match self.next_seen() {
                Seen::Closed { code, reason } => closes.push((code, reason)),
                Seen::SendFailed(e) => panic!("{}: an echo failed: {e}", self.kind),
                _ => {}
            }
        }
        closes
    }

    /// Everything reported so far, without waiting.
    pub fn drain(&self) -> Vec<Seen> {
        self.seen.try_iter().collect()
    }

    /// Connections refused so far (failed or timed-out handshakes).
    pub fn refused(&self) -> u64 {
        self.handle.stats().refused
    }

    /// Shut down, check that `run` returned `Ok` within 15 s, and return
    /// the final counters (every connection's thread has ended by then).
    pub fn stop(self) -> ServerStats {
        self.handle.shutdown();
        match self.done.recv_timeout(Duration::from_secs(15)) {
            Ok(result) => result.unwrap_or_else(|e| panic!("{}: run failed: {e}", self.kind)),
            Err(_) => panic!("{}: run did not return within 15 s of shutdown", self.kind),
        }
        self.handle.stats()
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        let started = Instant::now();
        // Disconnected: `stop` already saw `run` return.
        let ended = !matches!(
            self.done.recv_timeout(Duration::from_secs(15)),
            Err(RecvTimeoutError::Timeout)
        );
        if !ended && !thread::panicking() {
            panic!(
                "{}: run did not return within {:?} of shutdown",
                self.kind,
                started.elapsed()
            );
        }
    }
}
