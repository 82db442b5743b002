//! The chat page that `wsstack serve` serves at `/`, in headless Chromium
//! (Debian's `/usr/bin/chromium`): the page connects by itself, shows a
//! message a test client sends, and sends what is typed in its input box
//! to everyone.
//!
//! The test drives the page through the DevTools protocol, over a
//! WebSocket of this library's own client: Chromium runs with
//! `--remote-debugging-port=0` and a fresh profile, writes the port it
//! chose to `DevToolsActivePort` in the profile, lists its page at
//! `/json/list`, and answers `Runtime.evaluate`. Chromium runs in its own
//! process group, killed (by its id) when the test ends. A missing
//! Chromium fails the test: `scripts/setup-peers.sh` installs it.

mod support;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};
use support::{http, wait_until, Server, TempDir, Ws, STEP};
use wsstack::Message;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium on `url`, headless, in its own process group.
struct Browser {
    child: Child,
    profile: TempDir,
}

impl Browser {
    fn open(url: &str) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: this test needs Debian's chromium package. \
             Run scripts/setup-peers.sh (or ./scripts/test.sh), which installs it with apt-get."
        );
        let profile = TempDir::new("chromium");
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}"));
        Browser { child, profile }
    }

    /// The DevTools port, from the profile's `DevToolsActivePort`.
    fn devtools_port(&self) -> u16 {
        let file: PathBuf = self.profile.path().join("DevToolsActivePort");
        let mut port = None;
        wait_until(STEP, "Chromium's DevToolsActivePort", || {
            port = std::fs::read_to_string(&file)
                .ok()
                .and_then(|text| text.lines().next()?.trim().parse().ok());
            port.is_some()
        });
        port.unwrap()
    }

    /// A DevTools session on the page whose URL starts with `prefix`.
    fn page(&self, prefix: &str) -> DevTools {
        let port = self.devtools_port();
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut target = None;
        wait_until(STEP, "the page among Chromium's targets", || {
            let (_, body) = http(addr, "GET", "/json/list");
            let list: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            target = list.as_array().and_then(|targets| {
                targets.iter().find_map(|t| {
                    let url = t["url"].as_str()?;
                    (t["type"] == "page" && url.starts_with(prefix))
                        .then(|| t["webSocketDebuggerUrl"].as_str().map(str::to_owned))?
                })
            });
            target.is_some()
        });
        DevTools {
            ws: Ws::connect(&target.unwrap()),
            next_id: 1,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The group's id is Chromium's pid: this kills Chromium and its
        // helpers, nothing else.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// The DevTools protocol over a WebSocket.
struct DevTools {
    ws: Ws,
    next_id: u64,
}

impl DevTools {
    /// Evaluate `expression` in the page; its value.
    fn eval(&mut self, expression: &str) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let call = json!({
            "id": id,
            "method": "Runtime.evaluate",
            "params": { "expression": expression, "returnByValue": true },
        });
        self.ws.send(call.to_string());
        loop {
            let Message::Text(text) = self.ws.recv() else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text).unwrap();
            if answer["id"] == id {
                assert!(answer.get("error").is_none(), "{expression}: {answer}");
                return answer["result"]["result"]["value"].clone();
            }
        }
    }

    /// The texts of the messages the page shows.
    fn shown(&mut self) -> Vec<String> {
        let value = self
            .eval("[...document.querySelectorAll('#log li.message')].map(li => li.textContent)");
        value
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[test]
fn the_served_page_is_a_working_chat() {
    let server = Server::start(&[]);
    let page = format!("http://{}/", server.addr);
    let browser = Browser::open(&page);
    let mut tab = browser.page(&page);
    wait_until(STEP, "the page's WebSocket to open", || {
        tab.eval("document.getElementById('status').textContent") == "connected"
    });
    wait_until(STEP, "the server to count the page", || {
        server.metric("wsstack_connections_open") == 1.0
    });

    // A message from another client shows in the page.
    let mut other = Ws::connect(&server.url("/"));
    other.send("hello from the test <b>not bold</b>");
    assert_eq!(other.recv_text(), "hello from the test <b>not bold</b>");
    wait_until(STEP, "the page to show the message", || {
        tab.shown()
            .contains(&"hello from the test <b>not bold</b>".to_owned())
    });
    assert_eq!(
        tab.eval("document.querySelectorAll('#log b').length"),
        0,
        "shown as text, not HTML"
    );

    // What is typed in the page reaches everyone, the page included.
    tab.eval(
        "document.getElementById('input').value = 'hello from chromium'; \
         document.getElementById('button').click(); true",
    );
    assert_eq!(other.recv_text(), "hello from chromium");
    let (line, _) = server.line_containing("hello from chromium");
    assert!(line.starts_with("client "), "{line}");
    wait_until(STEP, "the page to show its own message", || {
        tab.shown().last().map(String::as_str) == Some("hello from chromium")
    });
    assert_eq!(tab.eval("document.getElementById('input').value"), "");
    drop(other);
}
