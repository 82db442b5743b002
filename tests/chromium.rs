//! Headless Chromium against our event-loop server: a page served on
//! loopback (by the server itself, through `with_http_handler`) opens a
//! WebSocket, exchanges text and binary messages of several sizes, and
//! reports back over the socket. Run once with permessage-deflate on
//! (Chromium offers it with `client_max_window_bits`) and once with
//! compression off.
#![cfg(all(feature = "deflate", feature = "mio"))]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use wsstack::extensions::PerMessageDeflate;
use wsstack::handshake::{Response, ServerConfig};
use wsstack::server::{Client, Handler, ServerBuilder};
use wsstack::Message;

const CHROMIUM: &str = "/usr/bin/chromium";
const DEADLINE: Duration = Duration::from_secs(90);

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8"><title>wsstack chromium test</title>
<script>
(async () => {
  const sizes = [0, 1, 125, 126, 65536, 1048576];
  const results = { echoes: 0, mismatches: [], extensions: null };
  const ws = new WebSocket(`ws://${location.host}/ws`);
  ws.binaryType = "arraybuffer";
  const inbox = [];
  let waiting = null;
  ws.onmessage = (e) => { if (waiting) { const w = waiting; waiting = null; w(e.data); } else inbox.push(e.data); };
  const next = () => inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => { waiting = r; });
  await new Promise((r, j) => { ws.onopen = r; ws.onerror = j; });
  results.extensions = ws.extensions;
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789é✓";
  for (const n of sizes) {
    let text = "";
    while (text.length < n) text += alphabet;
    text = text.slice(0, n);
    ws.send(text);
    const t = await next();
    if (t === text) results.echoes++; else results.mismatches.push(`text ${n}`);
    const bin = new Uint8Array(n);
    for (let i = 0; i < n; i++) bin[i] = (i * 31 + 7) & 255;
    ws.send(bin.buffer);
    const b = new Uint8Array(await next());
    let same = b.length === n;
    for (let i = 0; same && i < n; i++) same = b[i] === bin[i];
    if (same) results.echoes++; else results.mismatches.push(`binary ${n}`);
  }
  ws.send("RESULT:" + JSON.stringify(results));
  ws.close(1000, "done");
})().catch((e) => { try { new WebSocket(`ws://${location.host}/ws`).onopen = function () { this.send("RESULT:" + JSON.stringify({ error: String(e) })); }; } catch (_) {} });
</script>"#;

enum Report {
    Result(String),
    Closed(u16),
}

struct PageServer {
    reports: Mutex<Sender<Report>>,
}

impl Handler for PageServer {
    type Data = ();

    fn on_message(&self, client: &Client, message: Message) {
        match message.as_text().and_then(|t| t.strip_prefix("RESULT:")) {
            Some(result) => {
                let _ = self
                    .reports
                    .lock()
                    .unwrap()
                    .send(Report::Result(result.to_owned()));
            }
            None => {
                let _ = client.send(message);
            }
        }
    }

    fn on_close(&self, _client: &Client, code: u16, _reason: &str) {
        let _ = self.reports.lock().unwrap().send(Report::Closed(code));
    }
}

/// Chromium with a fresh profile; killed (and the profile removed) on drop.
struct Browser {
    child: Child,
    profile: PathBuf,
    log: PathBuf,
}

impl Browser {
    fn open(url: &str, tag: &str) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: run ./scripts/test.sh (or scripts/setup-peers.sh) to install Debian's chromium"
        );
        let profile =
            std::env::temp_dir().join(format!("wsstack-chromium-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let log = profile.with_extension("log");
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
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start chromium");
        Browser {
            child,
            profile,
            log,
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
        let _ = std::fs::remove_file(&self.log);
    }
}

fn run_page(handshake: ServerConfig, tag: &str) -> (String, u16) {
    let handshake = handshake.with_http_handler(|req| {
        (req.path() == "/").then(|| {
            let mut page = Response::new(200);
            page.headers
                .push("Content-Type", "text/html; charset=utf-8");
            page.body = PAGE.as_bytes().to_vec();
            page
        })
    });
    let (tx, rx): (Sender<Report>, Receiver<Report>) = mpsc::channel();
    let server = ServerBuilder::new()
        .address("127.0.0.1:0")
        .handshake(handshake)
        .loops(1)
        .bind_event_loop()
        .unwrap();
    let (addr, handle) = (server.local_addr().unwrap(), server.handle());
    let thread = thread::spawn(move || {
        server.run(PageServer {
            reports: Mutex::new(tx),
        })
    });
    let browser = Browser::open(&format!("http://{addr}/"), tag);
    let mut result = None;
    let mut code = None;
    while result.is_none() || code.is_none() {
        match rx.recv_timeout(DEADLINE) {
            Ok(Report::Result(r)) => result = Some(r),
            Ok(Report::Closed(c)) => code = Some(c),
            Err(_) => panic!(
                "no result from Chromium in time; its log:\n{}",
                browser.log_tail()
            ),
        }
    }
    drop(browser);
    handle.shutdown();
    thread.join().unwrap().unwrap();
    (result.unwrap(), code.unwrap())
}

#[test]
fn chromium_exchanges_messages_with_compression_on_and_off() {
    let (result, code) = run_page(
        ServerConfig::new().with_extension(PerMessageDeflate::new()),
        "deflate",
    );
    assert!(result.contains("\"echoes\":12"), "{result}");
    assert!(result.contains("\"mismatches\":[]"), "{result}");
    assert!(
        result.contains("\"extensions\":\"permessage-deflate"),
        "{result}"
    );
    assert_eq!(code, 1000);

    let (result, code) = run_page(ServerConfig::new(), "plain");
    assert!(result.contains("\"echoes\":12"), "{result}");
    assert!(result.contains("\"extensions\":\"\""), "{result}");
    assert_eq!(code, 1000);
}
