//! Headless Chromium (Debian's `/usr/bin/chromium`) talking to our
//! `wss://` event-loop and threaded servers.
//!
//! A plain-HTTP server on loopback serves the page; the page opens
//! `wss://127.0.0.1:PORT/` to our server (permessage-deflate on), echoes
//! text and binary of 0 B .. 1 MiB, sends `RESULT:{json}` over the
//! WebSocket, closes with 1000, and POSTs what it saw of the close (or
//! any error) back to the HTTP server. Chromium trusts the test server
//! certificate only by its key's SPKI hash
//! (`--ignore-certificate-errors-spki-list=base64(sha256(SPKI DER))`,
//! computed here from the rcgen key); without that flag it must refuse
//! the certificate, and our server must count a failed handshake and open
//! no client.
//!
//! Chromium runs with a fresh profile in a temp dir, in its own process
//! group, killed by its id on drop. A missing Chromium fails the test:
//! `scripts/setup-peers.sh` installs it.

mod support;
mod support_tls;
mod support_wss;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use support_tls::{Pki, IO_TIMEOUT};
use support_wss::{json_value, sizes_arg, tls_builder, EchoServer, Seen, KINDS};
use wsstack::server::ServerKind;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Everything of one browser run: start, page load, all echoes, close.
const BROWSER_DEADLINE: Duration = Duration::from_secs(60);

/// The page: `%WS_URL%` and `%SIZES%` are filled in. It echoes text and
/// binary at every size over the `wss://` URL, sends `RESULT:{json}` over
/// the WebSocket, closes with 1000, and POSTs how the close went (or any
/// error) to `/report` on the page's own plain-HTTP server.
const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8"><title>wsstack wss test</title>
<script>
const SIZES = %SIZES%;
function post(report) {
  return fetch("/report", { method: "POST", body: JSON.stringify(report) });
}
(async () => {
  const results = { echoes: 0, mismatches: [], extensions: null };
  const ws = new WebSocket("%WS_URL%");
  ws.binaryType = "arraybuffer";
  const inbox = [];
  let waiting = null;
  ws.onmessage = (e) => {
    if (waiting) { const w = waiting; waiting = null; w(e.data); } else inbox.push(e.data);
  };
  const next = () => inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => { waiting = r; });
  const closed = new Promise((r) => { ws.onclose = (e) => r(e); });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("WebSocket error before open"));
  });
  results.extensions = ws.extensions;
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789é✓";
  for (const n of SIZES) {
    let text = "";
    while (text.length < n) text += alphabet;
    text = text.slice(0, n);
    ws.send(text);
    if (await next() === text) results.echoes++; else results.mismatches.push(`text ${n}`);

    const bin = new Uint8Array(n);
    for (let i = 0; i < n; i++) bin[i] = (i * 31 + 7) & 255;
    ws.send(bin.buffer);
    const got = await next();
    let same = got instanceof ArrayBuffer && got.byteLength === n;
    const b = same ? new Uint8Array(got) : null;
    for (let i = 0; same && i < n; i++) same = b[i] === bin[i];
    if (same) results.echoes++; else results.mismatches.push(`binary ${n}`);
  }
  ws.send("RESULT:" + JSON.stringify(results));
  ws.close(1000, "done");
  const e = await closed;
  await post({ close_code: e.code, close_reason: e.reason, clean: e.wasClean });
})().catch((e) => post({ error: String(e) }));
</script>
"#;

/// base64(SHA-256(SubjectPublicKeyInfo DER)) of the key in `key_pem`:
/// what `--ignore-certificate-errors-spki-list` takes.
fn spki_hash(key_pem: &str) -> String {
    let key = rcgen::KeyPair::from_pem(key_pem).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &key.public_key_der());
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// Chromium with a fresh, empty profile, in its own process group; the
/// group (by Chromium's pid) is killed and the profile removed on drop.
/// The tail of Chromium's stderr is printed when the test fails.
struct Browser {
    child: Option<Child>,
    pid: u32,
    profile: support_tls::TempDir,
    log: PathBuf,
}

impl Browser {
    fn open(url: &str, extra: &[String]) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: this test needs Debian's chromium package. \
             Run scripts/setup-peers.sh (or ./scripts/test.sh), which installs it with apt-get."
        );
        let profile = support_tls::TempDir::new("chromium-profile");
        let log = profile.path().with_extension("stderr.log");
        let stderr = std::fs::File::create(&log).unwrap();
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
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(url)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}"));
        Browser {
            pid: child.id(),
            child: Some(child),
            profile,
            log,
        }
    }

    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.pid)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
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
        if thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- tail of Chromium's stderr (profile {}) ---\n{}\n---",
                self.profile.path().display(),
                lines[lines.len().saturating_sub(30)..].join("\n")
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A plain-HTTP server for the page: `GET /` is the page, `POST /report`
/// sends its body to the channel, anything else is 404. Stops on drop.
struct PageServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    reports: Receiver<String>,
}

impl PageServer {
    fn start(page: String) -> PageServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, reports) = mpsc::channel();
        let stopping = stop.clone();
        let page = Arc::new(page);
        thread::spawn(move || {
            for tcp in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(tcp) = tcp else { continue };
                let (page, tx) = (page.clone(), tx.clone());
                thread::spawn(move || serve_http(tcp, &page, &tx));
            }
        });
        PageServer {
            addr,
            stop,
            reports,
        }
    }

    /// The page's next report, within the browser deadline.
    fn report(&self) -> String {
        self.reports
            .recv_timeout(BROWSER_DEADLINE)
            .unwrap_or_else(|_| panic!("no report from the page within {BROWSER_DEADLINE:?}"))
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_http(mut tcp: TcpStream, page: &str, reports: &Sender<String>) {
    let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while data.len() < head_end + length {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    let request_line = head.lines().next().unwrap_or("");
    let (status, body) = if request_line.starts_with("GET / ") {
        ("200 OK", page.as_bytes())
    } else if request_line.starts_with("POST /report ") {
        let body = &data[head_end..head_end + length];
        let _ = reports.send(String::from_utf8_lossy(body).into_owned());
        ("200 OK", &b""[..])
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
}

fn page(ws_url: &str) -> String {
    PAGE.replace("%WS_URL%", ws_url)
        .replace("%SIZES%", &format!("[{}]", sizes_arg()))
}

/// Chromium, told to trust the server key's SPKI hash, runs the page
/// against our `wss://` server of `kind` (permessage-deflate on).
fn chromium_trusting_the_spki(kind: ServerKind, pki: &Pki) {
    let server = EchoServer::start(kind, tls_builder(pki, true));
    let http = PageServer::start(page(&format!("wss://127.0.0.1:{}/", server.port())));
    let pin = format!(
        "--ignore-certificate-errors-spki-list={}",
        spki_hash(&pki.server.key_pem)
    );
    let browser = Browser::open(&format!("http://{}/", http.addr), &[pin]);
    // What the page saw of the close (or its error) ...
    let report = http.report();
    assert!(
        !report.contains("\"error\""),
        "{kind}: the page failed: {report}"
    );
    assert_eq!(
        json_value(&report, "close_code").as_deref(),
        Some("1000"),
        "{kind}: {report}"
    );
    assert_eq!(
        json_value(&report, "clean").as_deref(),
        Some("true"),
        "{kind}: {report}"
    );
    // ... and what our server saw.
    let (mut opened, mut result, mut closed) = (None, None, None);
    while closed.is_none() {
        match server.next_seen() {
            Seen::Opened { extensions } => opened = Some(extensions),
            Seen::Result(r) => result = Some(r),
            Seen::Closed { code, reason } => closed = Some((code, reason)),
            Seen::SendFailed(e) => panic!("{kind}: an echo failed: {e}"),
        }
    }
    drop(browser);
    assert_eq!(
        opened,
        Some(vec!["permessage-deflate".to_owned()]),
        "{kind}"
    );
    let result = result.unwrap_or_else(|| panic!("{kind}: no RESULT message"));
    assert!(result.contains("\"echoes\":12,"), "{kind}: {result}");
    assert!(result.contains("\"mismatches\":[]"), "{kind}: {result}");
    assert!(
        result.contains("\"extensions\":\"permessage-deflate"),
        "{kind}: {result}"
    );
    assert_eq!(closed, Some((1000, "done".to_owned())), "{kind}");
    eprintln!("{kind}: Chromium over wss: page {report}, server saw {result}");
    server.stop();
}

/// Without the SPKI pin, Chromium refuses the certificate (an unknown CA):
/// the page reports the error, our server never opens a client and counts
/// a failed handshake.
fn chromium_without_the_pin(kind: ServerKind, pki: &Pki) {
    let server = EchoServer::start(kind, tls_builder(pki, false));
    let http = PageServer::start(page(&format!("wss://127.0.0.1:{}/", server.port())));
    let browser = Browser::open(&format!("http://{}/", http.addr), &[]);
    let report = http.report();
    drop(browser);
    assert!(report.contains("\"error\""), "{kind}: {report}");
    let seen = server.drain();
    let stats = server.stop();
    assert!(seen.is_empty(), "{kind}: {seen:?}");
    assert!(stats.refused >= 1, "{kind}: no failed handshake counted");
    assert_eq!(stats.accepted, 0, "{kind}");
    eprintln!(
        "{kind}: Chromium without the pin: page {report}, {} handshake(s) refused",
        stats.refused
    );
}

#[test]
fn chromium_over_wss_to_every_server() {
    let pki = Pki::new();
    for kind in KINDS {
        chromium_trusting_the_spki(kind, &pki);
        chromium_without_the_pin(kind, &pki);
    }
}
