//! Headless Chromium (Debian's `chromium`, `/usr/bin/chromium`) against our
//! server.
//!
//! A plain `std` HTTP server on loopback serves one test page; the page
//! opens `new WebSocket("ws://127.0.0.1:PORT/")` to our blocking server
//! (`Connection::accept` on a thread, echoing every message), sends text and
//! binary (`ArrayBuffer`) messages of 0 B .. 1 MiB, checks every echo, reads
//! `ws.extensions`, reports its findings as a text message `RESULT:{json}`
//! and closes with 1000. Run once with permessage-deflate on (Chromium
//! offers `permessage-deflate; client_max_window_bits`) and once with a
//! server without extensions (`ws.extensions` must be ""). The same page
//! also runs against the event-loop and tokio servers, which serve the page
//! themselves.
//!
//! Chromium runs with a fresh profile in a temp dir, in its own process
//! group; the guard kills that group (by id) and removes the profile, also
//! when the test fails, and then prints the tail of Chromium's stderr log.
//! A missing Chromium fails the test: `scripts/setup-peers.sh` installs it.
#![cfg(feature = "deflate")]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wsstack::connection::Config;
use wsstack::extensions::PerMessageDeflate;
use wsstack::handshake::ServerConfig;
use wsstack::CloseCode;
use wsstack::{Connection, Message};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Everything of one browser run: start, page load, all echoes, close.
const DEADLINE: Duration = Duration::from_secs(60);
/// Safety bound on every blocking read and write of our servers.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Text and binary of each size: 12 echoes.
const SIZES: [usize; 6] = [0, 1, 125, 126, 65536, 1 << 20];

/// The test page; `%WS_URL%` is replaced by the WebSocket URL (or a path
/// on the page's own host) and `%SIZES%` by [`SIZES`].
const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8"><title>wsstack chromium test</title>
<script>
// A path alone means this page's own host.
const WS_URL = "%WS_URL%".startsWith("/") ? `ws://${location.host}%WS_URL%` : "%WS_URL%";
const SIZES = %SIZES%;
let ws = null;
function report(results) {
  const line = "RESULT:" + JSON.stringify(results);
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(line);
    ws.close(1000, "done");
  } else {
    const w = new WebSocket(WS_URL);
    w.onopen = () => { w.send(line); w.close(1000, "error"); };
  }
}
(async () => {
  const results = { echoes: 0, checked: [], mismatches: [], extensions: null, protocol: null, bytes: 0 };
  ws = new WebSocket(WS_URL);
  ws.binaryType = "arraybuffer";
  const inbox = [];
  let waiting = null;
  ws.onmessage = (e) => {
    if (waiting) { const w = waiting; waiting = null; w(e.data); } else inbox.push(e.data);
  };
  const next = () => inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => { waiting = r; });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("WebSocket error before open"));
  });
  results.extensions = ws.extensions;
  results.protocol = ws.protocol;
  // Text with 1-, 2- and 3-byte UTF-8 characters.
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789é✓";
  for (const n of SIZES) {
    let text = "";
    while (text.length < n) text += alphabet;
    text = text.slice(0, n);
    ws.send(text);
    const t = await next();
    if (t === text) results.echoes++; else results.mismatches.push(`text ${n}`);
    results.checked.push(`text ${n}`);
    results.bytes += new TextEncoder().encode(text).length;

    const bin = new Uint8Array(n);
    for (let i = 0; i < n; i++) bin[i] = (i * 31 + 7) & 255;
    ws.send(bin.buffer);
    const got = await next();
    let same = got instanceof ArrayBuffer && got.byteLength === n;
    const b = same ? new Uint8Array(got) : null;
    for (let i = 0; same && i < n; i++) same = b[i] === bin[i];
    if (same) results.echoes++; else results.mismatches.push(`binary ${n}`);
    results.checked.push(`binary ${n}`);
    results.bytes += n;
  }
  report(results);
})().catch((e) => report({ error: String(e) }));
</script>
"#;

fn page(ws_url: &str) -> String {
    let sizes: Vec<String> = SIZES.iter().map(|s| s.to_string()).collect();
    PAGE.replace("%WS_URL%", ws_url)
        .replace("%SIZES%", &format!("[{}]", sizes.join(",")))
}

/// One browser at a time: the machine has 2 cores.
fn one_browser_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn unique(tag: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    std::env::temp_dir().join(format!(
        "wsstack-chromium-{}-{tag}-{nanos}",
        std::process::id()
    ))
}

// ---------------------------------------------------------------------------
// The browser.

/// Chromium with a fresh, empty profile, in its own process group.
/// [`Browser::close`] (and drop) kills the group (by its id: Chromium's own
/// pid) and removes the profile; drop also removes the stderr log, printing
/// its tail first if the test is failing.
struct Browser {
    child: Option<Child>,
    pid: u32,
    profile: PathBuf,
    log: PathBuf,
}

impl Browser {
    fn open(url: &str, tag: &str) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: this test needs Debian's chromium package. \
             Run scripts/setup-peers.sh (or ./scripts/test.sh), which installs it with apt-get."
        );
        let profile = unique(tag);
        std::fs::create_dir(&profile).expect("create the temp profile dir");
        let log = profile.with_extension("stderr.log");
        let stderr = std::fs::File::create(&log).expect("create Chromium's log file");
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&profile);
                let _ = std::fs::remove_file(&log);
                panic!("cannot start {CHROMIUM}: {e}");
            }
        };
        Browser {
            pid: child.id(),
            child: Some(child),
            profile,
            log,
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Signal Chromium's process group (its pgid is its pid).
    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.pid)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Browser {
    /// Quit Chromium and remove its profile; the log stays until drop.
    fn close(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Ask the browser to quit (it takes its helpers down), give it a
            // few seconds, then kill whatever is left of the group.
            self.signal_group("-TERM");
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                let _ = child.wait();
                let _ = tx.send(());
            });
            let quit = rx.recv_timeout(Duration::from_secs(5)).is_ok();
            self.signal_group("-KILL");
            if !quit {
                let _ = rx.recv_timeout(Duration::from_secs(5));
            }
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.close();
        if thread::panicking() {
            eprintln!(
                "--- tail of Chromium's stderr ({}) ---\n{}\n---",
                self.log.display(),
                self.log_tail()
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

// ---------------------------------------------------------------------------
// Accept loops on 127.0.0.1:0, stopped on drop.

/// A listener thread handing each connection to `serve` on its own thread.
/// Dropping it stops the loop (a flag, then a connection to wake it up).
struct Listener {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Listener {
    fn spawn(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let serve = Arc::new(serve);
        thread::spawn(move || {
            for tcp in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(tcp) = tcp else { continue };
                let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
                let _ = tcp.set_write_timeout(Some(IO_TIMEOUT));
                let serve = serve.clone();
                thread::spawn(move || serve(tcp));
            }
        });
        Listener { addr, stop }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// The HTTP server: `GET /` is the page, anything else 404.
fn http_server(page: String) -> Listener {
    Listener::spawn(move |mut tcp| {
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
            match tcp.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&head);
        let mut request_line = head.lines().next().unwrap_or("").split(' ');
        let (method, target) = (request_line.next(), request_line.next());
        let (status, body) = if method == Some("GET") && target == Some("/") {
            ("200 OK", page.as_bytes())
        } else {
            ("404 Not Found", &b"not found\n"[..])
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = tcp.write_all(response.as_bytes());
        let _ = tcp.write_all(body);
        let _ = tcp.flush();
    })
}

// ---------------------------------------------------------------------------
// Our WebSocket server: `Connection::accept`, echoing.

/// Counts the bytes our server reads from Chromium.
struct Counted {
    tcp: TcpStream,
    read: Arc<AtomicUsize>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.tcp.read(buf)?;
        self.read.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

#[derive(Debug)]
enum Report {
    /// A WebSocket connection was accepted, with these extensions.
    Opened { names: Vec<String>, offer: String },
    /// The page's `RESULT:` message.
    Result(String),
    /// The connection ended: the peer's close code, payload bytes echoed,
    /// bytes read from the socket.
    Closed {
        code: u16,
        payload: usize,
        wire_read: usize,
    },
    /// The connection failed.
    Failed(String),
}

fn ws_server(handshake: ServerConfig, reports: Sender<Report>) -> Listener {
    let reports = Mutex::new(reports);
    Listener::spawn(move |tcp| {
        let tx = reports.lock().unwrap().clone();
        let read = Arc::new(AtomicUsize::new(0));
        let stream = Counted {
            tcp,
            read: read.clone(),
        };
        let (mut conn, request) = match Connection::accept(stream, &handshake, Config::default()) {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Report::Failed(format!("handshake: {e}")));
                return;
            }
        };
        let _ = tx.send(Report::Opened {
            names: conn
                .engine()
                .extension_names()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            offer: request
                .header("sec-websocket-extensions")
                .unwrap_or_default()
                .to_owned(),
        });
        let mut payload = 0;
        loop {
            match conn.recv() {
                Ok(Some(message)) => {
                    if let Some(result) = message.as_text().and_then(|t| t.strip_prefix("RESULT:"))
                    {
                        let _ = tx.send(Report::Result(result.to_owned()));
                        continue;
                    }
                    payload += message.len();
                    if let Err(e) = conn.send(message) {
                        let _ = tx.send(Report::Failed(format!("echo: {e}")));
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Report::Failed(format!("receive: {e}")));
                    return;
                }
            }
        }
        let _ = tx.send(Report::Closed {
            code: conn.close_status().map_or(1006, |(c, _)| c.as_u16()),
            payload,
            wire_read: read.load(Ordering::Relaxed),
        });
    })
}

/// What one browser run found.
struct Run {
    /// Our side's negotiated extension names and Chromium's offer.
    names: Vec<String>,
    offer: String,
    /// The page's JSON.
    result: String,
    close: u16,
    payload: usize,
    wire_read: usize,
    /// Closed already; kept so that a failing assertion prints its log.
    _browser: Browser,
}

/// Open the page in Chromium and collect the reports of the page's
/// connection, within [`DEADLINE`].
fn browse(page_url: &str, reports: &Receiver<Report>, tag: &str) -> Run {
    let deadline = Instant::now() + DEADLINE;
    let mut browser = Browser::open(page_url, tag);
    let (mut opened, mut result, mut closed) = (None, None, None);
    while opened.is_none() || result.is_none() || closed.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match reports.recv_timeout(left) {
            Ok(Report::Opened { names, offer }) => opened = Some((names, offer)),
            Ok(Report::Result(r)) => {
                assert!(!r.contains("\"error\""), "the page failed: {r}");
                result = Some(r);
            }
            Ok(Report::Closed {
                code,
                payload,
                wire_read,
            }) => closed = Some((code, payload, wire_read)),
            Ok(Report::Failed(e)) => panic!("our server's connection failed: {e}"),
            Err(_) => panic!(
                "{tag}: Chromium did not finish within {DEADLINE:?} \
                 (opened: {opened:?}, result: {result:?}, closed: {closed:?})"
            ),
        }
    }
    browser.close();
    let (names, offer) = opened.unwrap();
    let (close, payload, wire_read) = closed.unwrap();
    Run {
        names,
        offer,
        result: result.unwrap(),
        close,
        payload,
        wire_read,
        _browser: browser,
    }
}

/// Our HTTP server, our `Connection::accept` server with `handshake`, and
/// Chromium on the page.
fn run_blocking_server(handshake: ServerConfig, tag: &str) -> Run {
    let _one = one_browser_at_a_time();
    let (tx, rx) = mpsc::channel();
    let ws = ws_server(handshake, tx);
    let http = http_server(page(&format!("ws://127.0.0.1:{}/", ws.addr.port())));
    browse(&format!("http://127.0.0.1:{}/", http.addr.port()), &rx, tag)
}

/// The payload the page sends: 12 messages, text with 2- and 3-byte
/// characters counted in UTF-8 bytes.
fn page_payload_bytes() -> usize {
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789é✓".chars().collect();
    SIZES
        .iter()
        .map(|&n| {
            let text: usize = (0..n)
                .map(|i| alphabet[i % alphabet.len()].len_utf8())
                .sum();
            text + n
        })
        .sum()
}

fn assert_all_echoes(run: &Run) {
    let result = &run.result;
    assert!(result.contains("\"echoes\":12,"), "{result}");
    assert!(result.contains("\"mismatches\":[]"), "{result}");
    for n in SIZES {
        assert!(result.contains(&format!("\"text {n}\"")), "{result}");
        assert!(result.contains(&format!("\"binary {n}\"")), "{result}");
    }
    assert!(
        result.contains(&format!("\"bytes\":{}", page_payload_bytes())),
        "{result}"
    );
    assert_eq!(
        run.payload,
        page_payload_bytes(),
        "bytes echoed by our server"
    );
    assert_eq!(run.close, 1000, "Chromium's close code");
}

#[test]
fn chromium_with_permessage_deflate_and_without() {
    // permessage-deflate on.
    let run = run_blocking_server(
        ServerConfig::new().with_extension(PerMessageDeflate::new()),
        "deflate",
    );
    assert_all_echoes(&run);
    assert_eq!(run.offer, "permessage-deflate; client_max_window_bits");
    assert_eq!(run.names, ["permessage-deflate"]);
    assert!(
        run.result.contains("\"extensions\":\"permessage-deflate\""),
        "{}",
        run.result
    );
    // Chromium really compressed what it sent (the payloads repeat).
    assert!(
        run.wire_read * 4 < run.payload,
        "{} bytes on the wire for {} bytes of payload",
        run.wire_read,
        run.payload
    );

    // No extensions on our side.
    let run = run_blocking_server(ServerConfig::new(), "plain");
    assert_all_echoes(&run);
    assert_eq!(run.offer, "permessage-deflate; client_max_window_bits");
    assert!(run.names.is_empty(), "{:?}", run.names);
    assert!(run.result.contains("\"extensions\":\"\""), "{}", run.result);
    assert!(run.wire_read > run.payload, "sent uncompressed");
}

// ---------------------------------------------------------------------------
// The same page against the event-loop and the tokio servers, which serve
// the page themselves (`with_http_handler`).

#[cfg(feature = "mio")]
mod event_loop {
    use super::*;
    use wsstack::handshake::Response;
    use wsstack::server::{Client, Handler, ServerBuilder, ServerHandle, ServerKind};

    struct PageServer {
        reports: Mutex<Sender<Report>>,
        payload: AtomicUsize,
    }

    impl PageServer {
        fn report(&self, report: Report) {
            let _ = self.reports.lock().unwrap().send(report);
        }
    }

    impl Handler for PageServer {
        type Data = ();

        fn on_open(&self, client: &Client) {
            // The event-loop server does not expose the negotiated names;
            // the page's ws.extensions tells.
            self.report(Report::Opened {
                names: Vec::new(),
                offer: client
                    .request()
                    .header("sec-websocket-extensions")
                    .unwrap_or_default()
                    .to_owned(),
            });
        }

        fn on_message(&self, client: &Client, message: Message) {
            match message.as_text().and_then(|t| t.strip_prefix("RESULT:")) {
                Some(result) => self.report(Report::Result(result.to_owned())),
                None => {
                    self.payload.fetch_add(message.len(), Ordering::Relaxed);
                    if let Err(e) = client.send(message) {
                        self.report(Report::Failed(format!("echo: {e:?}")));
                    }
                }
            }
        }

        fn on_close(&self, _client: &Client, code: CloseCode, _reason: &str) {
            self.report(Report::Closed {
                code: code.as_u16(),
                payload: self.payload.load(Ordering::Relaxed),
                wire_read: 0,
            });
        }
    }

    /// A `kind` server serving both the page (`/`) and the WebSocket
    /// (`/ws`), and Chromium on the page.
    fn run_server(kind: ServerKind, handshake: ServerConfig, tag: &str) -> Run {
        let _one = one_browser_at_a_time();
        let html = page("/ws");
        let handshake = handshake.with_http_handler(move |req| {
            (req.path() == "/").then(|| {
                let mut response = Response::new(200);
                response
                    .headers
                    .push("Content-Type", "text/html; charset=utf-8");
                response.body = html.as_bytes().to_vec();
                response
            })
        });
        let server = ServerBuilder::new()
            .address("127.0.0.1:0")
            .handshake(handshake)
            .loops(1)
            .bind(kind)
            .unwrap();
        let addr = server.local_addr().unwrap();
        struct Stop(ServerHandle);
        impl Drop for Stop {
            fn drop(&mut self) {
                self.0.shutdown();
            }
        }
        let stop = Stop(server.handle());
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            server.run(PageServer {
                reports: Mutex::new(tx),
                payload: AtomicUsize::new(0),
            })
        });
        let run = browse(&format!("http://{addr}/"), &rx, tag);
        drop(stop);
        thread.join().unwrap().unwrap();
        run
    }

    fn chromium_against(kind: ServerKind) {
        let run = run_server(
            kind,
            ServerConfig::new().with_extension(PerMessageDeflate::new()),
            &format!("{kind}-deflate"),
        );
        assert_all_echoes(&run);
        assert_eq!(run.offer, "permessage-deflate; client_max_window_bits");
        assert!(
            run.result.contains("\"extensions\":\"permessage-deflate\""),
            "{kind}: {}",
            run.result
        );
        let run = run_server(kind, ServerConfig::new(), &format!("{kind}-plain"));
        assert_all_echoes(&run);
        assert!(
            run.result.contains("\"extensions\":\"\""),
            "{kind}: {}",
            run.result
        );
    }

    #[test]
    fn chromium_against_the_event_loop_server() {
        chromium_against(ServerKind::EventLoop);
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn chromium_against_the_tokio_server() {
        chromium_against(ServerKind::Tokio);
    }
}
