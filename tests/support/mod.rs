//! Helpers for interop tests: find and spawn third-party peers (Python
//! `websockets`, Node `ws`), read their output with deadlines, and kill
//! them when the test ends.
//!
//! A missing peer is a test failure with a clear message, never a skip:
//! `scripts/test.sh` installs the peers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long any peer may take to start or to finish a client run.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(90);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python interpreter that has `websockets` installed.
pub fn python() -> PathBuf {
    let path = std::env::var_os("WSSTACK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "Python peer missing: {} does not exist. Run ./scripts/test.sh (or scripts/setup-peers.sh) to install it.",
        path.display()
    );
    path
}

/// The folder holding the Node peer scripts and their `node_modules`.
pub fn node_peers() -> PathBuf {
    let dir = std::env::var_os("WSSTACK_NODE_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("tests/peers"));
    assert!(
        dir.join("node_modules/ws").exists(),
        "Node peer missing: {}/node_modules/ws does not exist. Run ./scripts/test.sh (or scripts/setup-peers.sh) to install it.",
        dir.display()
    );
    dir
}

fn peer_script(name: &str) -> PathBuf {
    repo().join("tests/peers").join(name)
}

/// Which third-party implementation to run.
#[derive(Clone, Copy, Debug)]
pub enum Peer {
    Python,
    Node,
}

impl Peer {
    fn command(self, script: &str) -> Command {
        match self {
            Peer::Python => {
                let mut c = Command::new(python());
                c.arg(peer_script(&format!("py_{script}.py")));
                c
            }
            Peer::Node => {
                let dir = node_peers();
                let mut c = Command::new("node");
                c.arg(dir.join(format!("node_{script}.js")));
                c.current_dir(dir);
                c
            }
        }
    }
}

/// The first line `stdout` produces, within [`PEER_TIMEOUT`]; panics
/// naming `what` if none comes in time.
pub fn first_line(stdout: impl Read + Send + 'static, what: &str) -> String {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(PEER_TIMEOUT)
        .unwrap_or_else(|_| panic!("{what}: no output in time"))
}

/// The port from a `PORT <n>` line.
pub fn port_of(line: &str, what: &str) -> u16 {
    line.trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{what} printed {line:?} instead of PORT <n>"))
}

/// An example binary, built by a plain `cargo test` before the
/// integration tests run.
pub fn example(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // deps
    dir.pop(); // debug
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "example {name} not built at {} (plain `cargo test` builds the examples; with --test, run `cargo build --examples` first)",
        path.display()
    );
    path
}

/// A running peer server; killed on drop.
pub struct PeerServer {
    child: Child,
    _stdin: ChildStdin,
    pub port: u16,
}

impl PeerServer {
    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{}", self.port, path)
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start a peer echo server with extra arguments and wait for its port.
pub fn spawn_server(peer: Peer, args: &[&str]) -> PeerServer {
    spawn_peer_server(peer, "server", args)
}

/// Start the peer server program `{py,node}_<script>` with extra
/// arguments and wait for its port.
pub fn spawn_peer_server(peer: Peer, script: &str, args: &[&str]) -> PeerServer {
    let mut child = peer
        .command(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {peer:?} peer {script}: {e}"));
    let stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let what = format!("{peer:?} {script}");
    let port = port_of(&first_line(stdout, &what), &what);
    PeerServer {
        child,
        _stdin: stdin,
        port,
    }
}

/// What a peer client reported.
#[derive(Debug)]
pub struct ClientReport {
    pub raw: String,
    pub ok: bool,
    pub status: Option<u16>,
}

/// Run a peer client to completion (bounded by [`PEER_TIMEOUT`]) and parse
/// its one JSON line.
pub fn run_client(peer: Peer, args: &[&str]) -> ClientReport {
    let mut child = peer
        .command("client")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {peer:?} peer client: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let raw = first_line(stdout, &format!("{peer:?} client"));
    let _ = child.kill();
    let _ = child.wait();
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let status = compact
        .split("\"status\":")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok());
    ClientReport {
        ok: compact.contains("\"ok\":true"),
        status,
        raw,
    }
}

/// The deterministic message contents the peer clients use.
pub fn text_payload(size: usize) -> String {
    "abcdefghijklmnopqrstuvwxyz0123456789"
        .chars()
        .cycle()
        .take(size)
        .collect()
}

/// Binary payload of `size` bytes.
pub fn binary_payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 + 7) as u8).collect()
}
