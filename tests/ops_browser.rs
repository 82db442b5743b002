//! `wsstack::ops` in headless Chromium: pages using `/wsstack.js` (and
//! `/wsstack.mjs`) against real servers, driven over the DevTools protocol
//! by `tests/peers/ops_browser.js` (puppeteer-core on Debian's
//! `/usr/bin/chromium`).
//!
//! The servers are processes: the test app below (this test binary run
//! again with `WSSTACK_OPS_CHILD` set, once with `eval_js` allowed and once
//! without) and the `classroom` example. Each prints
//! `wsstack: listening on http://127.0.0.1:PORT/` (the example as its first
//! line), on port 0. The Node script covers routing with typed and named
//! parameters, every error case as the page sees it, groups and broadcast
//! across pages, `eval_js` on and off, the ES module, static files, the
//! classroom board with the mouse, and reconnecting after the app server
//! is killed and started again on the same port (messages queued while it
//! is down are delivered after).
//!
//! A missing Chromium, Node or puppeteer-core fails the test:
//! `scripts/setup-peers.sh` installs them. Loopback only, every wait
//! bounded.
#![cfg(feature = "ops")]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wsstack::ops::{json, App, Deserialize, OpClient, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHILD: &str = "WSSTACK_OPS_CHILD";
/// The whole browser run (the Node script bounds itself at 150 s).
const DEADLINE: Duration = Duration::from_secs(180);
/// A server process printing its address.
const START: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// The test app.

#[derive(Deserialize)]
struct Add {
    a: i64,
    #[serde(default)]
    b: i64,
}

#[derive(Deserialize)]
struct Group {
    group: String,
}

#[derive(Deserialize)]
struct Shout {
    text: String,
    group: Option<String>,
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

#[derive(Deserialize)]
struct Note {
    n: u32,
}

#[derive(Deserialize)]
struct Name {
    name: String,
}

static NOTES: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// A plain `fn` as a handler.
fn shout(client: &OpClient, p: Shout) {
    let msg = json!({ "text": p.text, "from": client.id() });
    match p.group {
        Some(group) => client.broadcast_to_group(&group, "shouted", msg),
        None => client.broadcast("shouted", msg),
    };
}

fn test_app(allow_eval: bool, static_dir: &str) -> App {
    App::new()
        .allow_eval_js(allow_eval)
        .static_dir(static_dir)
        .on("connect", |c: &OpClient| {
            c.send("hello", json!({ "id": c.id() }));
        })
        .on("disconnect", |c: &OpClient| {
            for group in c.groups() {
                c.broadcast_to_group(&group, "left", json!({ "id": c.id(), "group": group }));
            }
        })
        .on("add", |c: &OpClient, p: Add| {
            c.send("sum", json!({ "sum": p.a + p.b }));
        })
        .on_params("mul", &["a", "b=2"], |c, args| {
            c.send(
                "product",
                json!({ "product": args.int("a") * args.int("b") }),
            );
        })
        .on("set_name", |c: &OpClient, p: Name| c.set("name", p.name))
        .on("whoami", |c: &OpClient| {
            c.send("name", json!({ "name": c.get::<String>("name") }));
        })
        .on("join", |c: &OpClient, p: Group| {
            c.add_to_group(&p.group);
            c.send("groups", json!({ "groups": c.groups() }));
        })
        .on("leave", |c: &OpClient, p: Group| {
            c.remove_from_group(&p.group);
            c.send("groups", json!({ "groups": c.groups() }));
        })
        .on("shout", shout)
        .on("panic", |_: &OpClient| {
            panic!("this handler fails on purpose")
        })
        .on("run_js", |c: &OpClient, p: Code| match c.eval_js(&p.code) {
            Ok(()) => {
                c.send("eval_sent", ());
            }
            Err(e) => {
                c.send(
                    "eval_refused",
                    json!({ "error": e.to_string(), "kind": e.kind().as_str() }),
                );
            }
        })
        .on("note", |_: &OpClient, p: Note| {
            NOTES.lock().unwrap().push(p.n)
        })
        .on("notes", |c: &OpClient| {
            c.send("notes", json!({ "notes": *NOTES.lock().unwrap() }));
        })
}

/// Not a test by itself: the test app's server process, when this binary is
/// run again by [`AppProcess::start`]. Without `WSSTACK_OPS_CHILD` it does
/// nothing.
#[test]
fn app_server_child_process() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let dir = std::env::var("WSSTACK_OPS_STATIC").expect("WSSTACK_OPS_STATIC");
    let addr = std::env::var("WSSTACK_OPS_ADDR").expect("WSSTACK_OPS_ADDR");
    test_app(mode == "eval", &dir).run_at(&addr);
}

// ---------------------------------------------------------------------------
// Server processes.

/// A server process: its port, its stdout lines, its stderr (the log).
/// Killed (by its id) on drop.
struct ServerProcess {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Start `command` and read its address; `first` says it must be the
    /// first line it prints.
    fn spawn(mut command: Command, what: &str, first: bool) -> ServerProcess {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let log = stderr.clone();
        let mut err = child.stderr.take().unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err.read(&mut buf) {
                log.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let lines = lines_of(child.stdout.take().unwrap());
        let deadline = Instant::now() + START;
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("{what} printed no address in time"));
            // (After the harness's "test NAME ... " for the test app.)
            if let Some((_, url)) = line.split_once("wsstack: listening on http://") {
                let port = url.trim_end_matches('/').rsplit(':').next().unwrap();
                break port.parse().unwrap();
            }
            assert!(!first, "{what} printed {line:?} before its address");
        };
        ServerProcess {
            child,
            port,
            stderr,
        }
    }

    /// The test app, with or without eval, on `addr`.
    fn app(mode: &str, addr: &str, static_dir: &Path) -> ServerProcess {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "app_server_child_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, mode)
            .env("WSSTACK_OPS_ADDR", addr)
            .env("WSSTACK_OPS_STATIC", static_dir);
        // The test harness prints its own lines first.
        ServerProcess::spawn(command, &format!("the {mode} app server"), false)
    }

    /// The classroom example; its first line names the port.
    fn classroom() -> ServerProcess {
        let mut command = Command::new(support::example("classroom"));
        command.args(["--addr", "127.0.0.1:0"]);
        ServerProcess::spawn(command, "the classroom example", true)
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn lines_of(stream: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

// ---------------------------------------------------------------------------
// The static folder, and plain HTTP.

const INDEX: &str = r#"<!doctype html>
<meta charset="utf-8"><title>ops test</title>
<link rel="stylesheet" href="/style.css">
<script>
// Every message of the ops below lands in inbox; nth(op, n, ms) waits for
// the n-th one of an op. (tick() comes from the test script.)
window.inbox = [];
const waiters = [];
function record(msg) { inbox.push(msg); for (const w of waiters.splice(0)) w(); tick(); }
window.count = (op) => inbox.filter((m) => m.op === op).length;
window.nth = (op, n, ms) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`no ${op} #${n} within ${ms} ms`)), ms);
  const check = () => {
    const got = inbox.filter((m) => m.op === op);
    if (got.length >= n) { clearTimeout(timer); resolve(got[n - 1]); } else waiters.push(check);
  };
  check();
});
window.HANDLERS = {};
for (const op of ["hello", "sum", "product", "name", "groups", "shouted", "left", "error",
                  "eval_sent", "eval_refused", "notes"]) HANDLERS[op] = record;
window.states = [];
</script>
<script src="/wsstack.js"></script>
<script>wsstack.onstate = (s) => { states.push(s); tick(); };</script>
"#;

const MODULE: &str = r#"<!doctype html>
<meta charset="utf-8"><title>ops module test</title>
<script type="module">
import { connect, send_message, HANDLERS } from "/wsstack.mjs";
window.moduleStates = [];
HANDLERS.sum = (m) => { window.moduleSum = m.sum; tick(); };
HANDLERS.hello = () => {};
connect({ onstate: (s) => moduleStates.push(s), badge: false });
send_message({ op: "add", a: 2, b: 3 }); // queued until connected
</script>
"#;

/// A page that declares its handlers with `const`, after the library.
const CONST_PAGE: &str = r#"<!doctype html>
<meta charset="utf-8"><title>ops const test</title>
<script src="/wsstack.js"></script>
<script>
const HANDLERS = { hello: (m) => { window.constHello = m.id; tick(); } };
</script>
"#;

/// A temp folder with `static/` (the pages) and a secret beside it.
struct Folder(PathBuf);

impl Folder {
    fn new() -> Folder {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!("wsstack-ops-{}-{nanos}", std::process::id()));
        let s = dir.join("static");
        std::fs::create_dir_all(&s).unwrap();
        std::fs::write(dir.join("secret.txt"), "TOP SECRET").unwrap();
        std::fs::write(s.join("index.html"), INDEX).unwrap();
        std::fs::write(s.join("module.html"), MODULE).unwrap();
        std::fs::write(s.join("const.html"), CONST_PAGE).unwrap();
        std::fs::write(s.join("style.css"), "body { margin: 1em; }").unwrap();
        std::fs::write(s.join("data.json"), "{\"a\": 1}").unwrap();
        std::fs::write(
            s.join("pic.svg"),
            "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        )
        .unwrap();
        std::fs::write(s.join("img.png"), b"\x89PNG\r\n\x1a\n").unwrap();
        std::fs::write(s.join(".hidden"), "TOP SECRET").unwrap();
        Folder(dir)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One raw HTTP/1.1 request (the target is sent as it is, never
/// normalised); the response head and body.
fn http(port: u16, target: &str, headers: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        tcp,
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => return text,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
    }
}

// ---------------------------------------------------------------------------
// The run.

fn check_peers() -> PathBuf {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/setup-peers.sh (or ./scripts/test.sh)"
    );
    let peers = support::node_peers();
    assert!(
        peers
            .join("node_modules/puppeteer-core/package.json")
            .exists(),
        "puppeteer-core is missing from {}/node_modules: run scripts/setup-peers.sh",
        peers.display()
    );
    peers
}

/// Run the Node script; stop and start the app server when it asks.
/// Returns what the script saw, and the log of the app server it stopped.
fn drive(
    peers: &Path,
    config: &Value,
    app: &mut ServerProcess,
    restart: impl Fn(u16) -> ServerProcess,
) -> (Value, String) {
    let mut node = Command::new("node")
        .arg(peers.join("ops_browser.js"))
        .arg(config.to_string())
        .current_dir(peers)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot run node: this test needs Node (scripts/setup-peers.sh)");
    /// Give the script time to quit Chromium by itself (it does before
    /// its last line), then end it.
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let lines = lines_of(node.stdout.take().unwrap());
    let mut stdin: ChildStdin = node.stdin.take().unwrap();
    let _node = Kill(node);
    let deadline = Instant::now() + DEADLINE;
    let port = app.port;
    let mut first_log = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the browser run gave no result within {DEADLINE:?}"));
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            eprintln!("node: {line}");
            continue;
        };
        match msg["need"].as_str() {
            Some("stop") => {
                app.kill();
                first_log = app.log();
                writeln!(stdin, "stopped").unwrap();
            }
            Some("start") => {
                *app = restart(port);
                assert_eq!(app.port, port);
                writeln!(stdin, "started").unwrap();
            }
            _ => {
                if let Some(error) = msg.get("error") {
                    panic!(
                        "the browser run failed: {}\nwhat it saw: {:#}",
                        error.as_str().unwrap_or_default(),
                        msg["result"]
                    );
                }
                return (msg["result"].clone(), first_log);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The test.

/// `result[path...]` as text, for messages.
fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

#[test]
fn pages_drive_ops_servers_in_chromium() {
    let peers = check_peers();
    let folder = Folder::new();
    let static_dir = folder.0.join("static");
    let mut app = ServerProcess::app("eval", "127.0.0.1:0", &static_dir);
    let noeval = ServerProcess::app("noeval", "127.0.0.1:0", &static_dir);
    let classroom = ServerProcess::classroom();

    // Plain HTTP, with targets no browser would send: nothing outside the
    // folder, and no WebSocket from another site's page.
    for target in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/x/../../secret.txt",
        "/..\\secret.txt",
        "/.hidden",
    ] {
        let r = http(app.port, target, "");
        assert!(r.starts_with("HTTP/1.1 404"), "{target}: {r}");
        assert!(!r.contains("TOP SECRET"), "{target}: {r}");
    }
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let r = http(
        app.port,
        "/ws",
        &format!("{upgrade}Origin: http://evil.example\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 403"), "{r}");
    let own = format!("{upgrade}Origin: http://127.0.0.1:{}\r\n", app.port);
    assert!(http(app.port, "/ws", &own).starts_with("HTTP/1.1 101"));

    let config = json!({
        "chromium": CHROMIUM,
        "app": format!("http://127.0.0.1:{}/", app.port),
        "noeval": format!("http://127.0.0.1:{}/", noeval.port),
        "classroom": format!("http://127.0.0.1:{}/", classroom.port),
    });
    let started = Instant::now();
    let (r, log) = drive(&peers, &config, &mut app, |port| {
        ServerProcess::app("eval", &format!("127.0.0.1:{port}"), &static_dir)
    });
    eprintln!(
        "browser run: {:?}, ms per part: {}",
        started.elapsed(),
        r["ms"]
    );
    assert_eq!(r["page_errors"], json!([]), "{r:#}");

    // Routing, typed and named parameters, per-client values.
    let routing = &r["routing"];
    assert!(routing["hello"]["id"].is_u64(), "{routing}");
    assert_eq!(routing["sum"], 5);
    assert_eq!(routing["sum_default"], 2);
    assert_eq!(routing["product_default"], 6);
    assert_eq!(routing["product"], 12);
    assert_eq!(routing["name"], "Ann");

    // Every mistake: an error message naming the op and the parameter.
    let errors = &r["errors"];
    /// The case, the kind, the op and parameter named, words of the text.
    type Expected<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a str);
    let expected: [Expected<'_>; 14] = [
        (
            "unknown_op",
            "unknown_op",
            Some("ad"),
            None,
            "there is no op \"ad\" (did you mean \"add\"?)",
        ),
        (
            "missing_param",
            "missing_param",
            Some("add"),
            Some("a"),
            "op \"add\" is missing the parameter \"a\" (it takes: a, b)",
        ),
        (
            "extra_param",
            "extra_param",
            Some("add"),
            Some("c"),
            "op \"add\" has no parameter \"c\"; it takes: a, b",
        ),
        (
            "wrong_type",
            "wrong_type",
            Some("add"),
            Some("a"),
            "the parameter \"a\" should be a whole number, but it is the text \"one\"",
        ),
        (
            "named_missing",
            "missing_param",
            Some("mul"),
            Some("a"),
            "op \"mul\" is missing the parameter \"a\" (it takes: a, b)",
        ),
        (
            "named_extra",
            "extra_param",
            Some("mul"),
            Some("z"),
            "op \"mul\" has no parameter \"z\"",
        ),
        (
            "named_wrong_type",
            "wrong_type",
            Some("mul"),
            Some("a"),
            "should be a whole number, but it is the text \"x\"",
        ),
        (
            "not_json",
            "not_json",
            None,
            None,
            "the message \"hello there\" is not JSON",
        ),
        ("binary", "not_json", None, None, "the message is binary"),
        (
            "not_object",
            "not_object",
            None,
            None,
            "the message is a list, not an object",
        ),
        ("no_op", "no_op", None, None, "the message has no \"op\""),
        (
            "bad_op",
            "bad_op",
            None,
            None,
            "\"op\" should be text such as \"draw\", but it is 5",
        ),
        (
            "reserved_op",
            "reserved_op",
            Some("connect"),
            None,
            "a page cannot send it",
        ),
        (
            "handler_failed",
            "handler_failed",
            Some("panic"),
            None,
            "the server's handler for op \"panic\" failed: this handler fails on purpose",
        ),
    ];
    for (label, kind, op, param, words) in expected {
        let e = &errors[label];
        assert_eq!(e["op"], "error", "{label}: {e}");
        assert_eq!(e["kind"], kind, "{label}: {e}");
        assert_eq!(e["failed_op"].as_str(), op, "{label}: {e}");
        assert_eq!(e["param"].as_str(), param, "{label}: {e}");
        let message = text(&e["error"]);
        assert!(
            message.contains(words),
            "{label}: {message:?} lacks {words:?}"
        );
        // Logged once by the server.
        assert_eq!(
            log.matches(message.as_str()).count(),
            1,
            "{label}: {message:?} in the log:\n{log}"
        );
    }
    assert_eq!(errors["after_sum"], 42, "the server still answers");
    assert_eq!(errors["states"], json!(["connected"]), "never disconnected");
    assert_eq!(errors["hellos"], 1, "never reconnected");

    // Groups and broadcast across pages.
    let g = &r["groups"];
    assert_eq!(g["p1_join"], json!(["red"]));
    assert_eq!(g["p2_join"], json!(["blue"]));
    assert_eq!(g["first"]["text"], "red only");
    assert_eq!(g["p2_join_twice"], json!(["blue", "red"]), "idempotent");
    assert_eq!(g["p2_second"]["text"], "red again");
    assert_eq!(g["p2_leave"], json!(["blue"]));
    assert_eq!(g["p2_leave_again"], json!(["blue"]), "idempotent");
    assert_eq!(g["p1_everyone"]["text"], "everyone");
    assert_eq!(g["p2_shouts"], json!(["red again", "everyone"]));
    assert_eq!(g["p1_shouts"], json!(["red only", "red again", "everyone"]));
    assert_eq!(g["left"]["id"], g["p8_id"], "{g}");
    assert_eq!(g["left"]["group"], "blue");

    // eval_js on and off.
    let e = &r["eval"];
    assert_eq!(e["on_ran"], 42, "{e}");
    assert_eq!(e["off"]["kind"], "eval_not_allowed", "{e}");
    assert!(
        text(&e["off"]["error"]).contains("allow_eval_js(true)"),
        "{e}"
    );
    assert_eq!(e["off_ran"], true, "{e}");

    // Static files with their types, and the ES module.
    let s = &r["static"];
    for (path, status, ty) in [
        ("/", 200, "text/html; charset=utf-8"),
        ("/style.css", 200, "text/css; charset=utf-8"),
        ("/data.json", 200, "application/json"),
        ("/pic.svg", 200, "image/svg+xml"),
        ("/img.png", 200, "image/png"),
        ("/wsstack.js", 200, "text/javascript; charset=utf-8"),
        ("/wsstack.mjs", 200, "text/javascript; charset=utf-8"),
        ("/missing.txt", 404, "text/plain; charset=utf-8"),
        ("/.hidden", 404, "text/plain; charset=utf-8"),
    ] {
        assert_eq!(s[path]["status"], status, "{path}: {s}");
        assert_eq!(s[path]["type"], ty, "{path}: {s}");
    }
    let m = &r["module"];
    assert_eq!(m["sum"], 5, "{m}");
    assert!(
        m["states"]
            .as_array()
            .unwrap()
            .contains(&json!("connected")),
        "{m}"
    );
    assert_eq!(m["badge"], false, "badge: false leaves no badge");
    assert!(m["const_hello"].is_u64(), "const HANDLERS is found: {m}");

    // The classroom board: drawn with the mouse on one page, seen on the
    // other page of the board only.
    let c = &r["classroom"];
    assert!(c["p6_draws"].as_u64().unwrap() >= 12, "{c}");
    assert!(
        c["p6_pixel"][3].as_u64().unwrap() > 0,
        "the line is on p6's canvas: {c}"
    );
    assert_eq!(c["p5_draws"], 0, "the drawer gets its own lines back: {c}");
    assert_eq!(c["p7_draws"], 0, "another board got the lines: {c}");
    assert!(text(&c["badge"]).contains("connected"), "{c}");

    // Reconnecting after the server process restarts on the same port.
    let re = &r["reconnect"];
    assert_eq!(re["stopped"], "stopped");
    assert_eq!(re["offline_badge"], "offline", "{re}");
    assert_eq!(
        re["queued"],
        json!({"accepted": 100, "refused_last": true, "queue": 100})
    );
    assert_eq!(re["started"], "started");
    let all: Vec<u32> = (1..=100).collect();
    assert_eq!(
        re["notes"],
        json!(all),
        "queued messages delivered in order after the restart"
    );
    assert_eq!(re["queue_after"], 0);
    let states: Vec<String> = re["states"].as_array().unwrap().iter().map(text).collect();
    assert_eq!(
        states.first().map(String::as_str),
        Some("connected"),
        "{states:?}"
    );
    assert_eq!(
        states.last().map(String::as_str),
        Some("connected"),
        "{states:?}"
    );
    assert!(states.iter().any(|s| s == "offline"), "{states:?}");
    assert_eq!(re["badge"], "connected");
    assert_eq!(re["p2_state"], "connected");
}
