//! Helpers for the `wsstack` command's tests: run `wsstack serve` as a
//! child process and read its address from its first stdout line, run a
//! private `redis-server` on a free loopback port, WebSocket and HTTP
//! clients with deadlines, and waiting on conditions in bounded time.
//!
//! Every child is killed (by its own pid) when its guard is dropped. A
//! missing `redis-server` fails the test: `scripts/setup-peers.sh`
//! installs it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wsstack::client::MaybeTlsStream;
use wsstack::{ClientBuilder, Connection, Message};

/// The longest any one step may take (start, a message, a process run).
pub const STEP: Duration = Duration::from_secs(20);

/// The `wsstack` binary of this package.
pub fn wsstack() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wsstack"))
}

/// An example of this package, built by a plain `cargo test`.
pub fn example(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // deps
    let path = dir.parent().unwrap().join("examples").join(name);
    assert!(
        path.exists(),
        "example {name} not built at {} (a plain `cargo test` builds the examples; \
         with --test, run `cargo build -p wsstack-cli --examples` first)",
        path.display()
    );
    path
}

/// A free port on 127.0.0.1: bind port 0, note the port, release it.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll `check` every 20 ms until it holds; panic naming `what` after
/// `within`.
pub fn wait_until(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while !check() {
        assert!(
            Instant::now() < end,
            "timed out after {within:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A temporary folder, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("wsstack-cli-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// Processes.

/// What a finished run of a command gave.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
}

/// Run `program args`, feeding `stdin`, to its end within [`STEP`].
pub fn run(program: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let feeder = thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let stdout = reader(child.stdout.take().unwrap());
    let stderr = reader(child.stderr.take().unwrap());
    let end = Instant::now() + STEP;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} {args:?} did not end within {STEP:?}", program.display());
        }
        thread::sleep(Duration::from_millis(10));
    };
    let _ = feeder.join();
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// `wsstack args` with `stdin`, to its end.
pub fn wsstack_run(args: &[&str], stdin: &[u8]) -> Output {
    run(&wsstack(), args, stdin)
}

fn reader(mut from: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A running `wsstack serve` (or an example built on the CLI); killed on
/// drop, printing its stderr if the test is failing.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// `wsstack serve --addr 127.0.0.1:0 ARGS`.
    pub fn start(args: &[&str]) -> Server {
        Server::start_program(&wsstack(), args)
    }

    /// `program serve --addr 127.0.0.1:0 ARGS`, waiting for its first
    /// line, `... listening on ws://ADDR/ ...`.
    pub fn start_program(program: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(program)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { return };
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let first = match lines.recv_timeout(STEP) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} serve {args:?} printed no address; stderr:\n{}",
                    program.display(),
                    stderr.lock().unwrap()
                );
            }
        };
        let addr = first
            .split_whitespace()
            .find_map(|w| w.strip_prefix("ws://").or_else(|| w.strip_prefix("wss://")))
            .and_then(|a| a.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("no ws://ADDR in the first line {first:?}"));
        Server {
            child,
            addr,
            lines,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// The next stdout line, within `within`.
    pub fn next_line(&self, within: Duration) -> Option<String> {
        self.lines.recv_timeout(within).ok()
    }

    /// Skip stdout lines until one contains `needle`; returns it and the
    /// lines skipped.
    pub fn line_containing(&self, needle: &str) -> (String, Vec<String>) {
        let end = Instant::now() + STEP;
        let mut skipped = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return (line, skipped),
                Ok(line) => skipped.push(line),
                Err(_) => panic!(
                    "no stdout line with {needle:?} within {STEP:?} (got {skipped:?}); stderr:\n{}",
                    self.stderr()
                ),
            }
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The value of a metric from `GET /metrics`.
    pub fn metric(&self, name: &str) -> f64 {
        metric(self.addr, name)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- stderr of the server on {} ---\n{}---",
                self.addr,
                self.stderr()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Redis.

/// A private `redis-server` on a free loopback port, no persistence;
/// killed on drop.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Redis {
        let mut redis = Redis {
            child: None,
            port: free_port(),
        };
        redis.launch();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn launch(&mut self) {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .args(["--port", &port])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server: {e}. These tests need Debian's redis-server \
                     package: run scripts/setup-peers.sh (or ./scripts/test.sh), which installs it"
                )
            });
        self.child = Some(child);
        wait_until(STEP, "redis-server to answer PING", || self.ping());
    }

    /// Whether Redis answers PING now.
    pub fn ping(&self) -> bool {
        let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
        if tcp.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        tcp.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// Kill it (SIGKILL, by its pid) and wait for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// `redis-cli -p PORT ARGS`, to its end; its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let port = self.port.to_string();
        let mut all = vec!["-h", "127.0.0.1", "-p", &port];
        all.extend_from_slice(args);
        let out = run(Path::new("redis-cli"), &all, b"");
        assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
        out.stdout
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------
// Clients.

/// A WebSocket client with deadlines.
pub struct Ws {
    pub conn: Connection<MaybeTlsStream>,
}

impl Ws {
    pub fn connect(url: &str) -> Ws {
        let (conn, _) = ClientBuilder::new(url)
            .no_proxy()
            .connect()
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        Ws { conn }
    }

    pub fn send(&mut self, message: impl Into<Message>) {
        self.conn.send(message).expect("send");
    }

    /// The next message within `within`, or `None`.
    pub fn recv_within(&mut self, within: Duration) -> Option<Message> {
        self.conn.set_read_timeout(Some(within));
        match self.conn.recv() {
            Ok(m) => m,
            Err(wsstack::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                None
            }
            Err(e) => panic!("recv: {e}"),
        }
    }

    /// The next message, which must come within [`STEP`].
    pub fn recv(&mut self) -> Message {
        self.recv_within(STEP)
            .unwrap_or_else(|| panic!("no message within {STEP:?}"))
    }

    /// The next text message, which must come within [`STEP`].
    pub fn recv_text(&mut self) -> String {
        match self.recv() {
            Message::Text(t) => t,
            other => panic!("expected text, got {other:?}"),
        }
    }

    /// Read messages until `text` comes (within [`STEP`]); returns the ones
    /// before it.
    pub fn recv_until(&mut self, text: &str) -> Vec<String> {
        let end = Instant::now() + STEP;
        let mut before = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.recv_within(left.max(Duration::from_millis(1))) {
                Some(Message::Text(t)) if t == text => return before,
                Some(m) => before.push(m.as_text().unwrap_or("<binary>").to_owned()),
                None => panic!("{text:?} did not come within {STEP:?}; got {before:?}"),
            }
        }
    }
}

/// `GET path` (or another method) over plain HTTP/1.1: the status and the
/// body (read to its `Content-Length`, or to the end of the stream).
pub fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(STEP)).unwrap();
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "the response ended in its head: {bytes:?}");
        bytes.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let length = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    let no_body = method == "HEAD";
    loop {
        let body = bytes.len() - head_end;
        if no_body || length.is_some_and(|l| body >= l) {
            break;
        }
        let n = tcp.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
    }
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {head:?}"));
    let end = if no_body { head_end } else { bytes.len() };
    (
        status,
        String::from_utf8_lossy(&bytes[head_end..end]).into_owned(),
    )
}

/// A metric's value from `GET /metrics` (panics if missing).
pub fn metric(addr: SocketAddr, name: &str) -> f64 {
    let (status, body) = http(addr, "GET", "/metrics");
    assert_eq!(status, 200);
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{body}"))
}
