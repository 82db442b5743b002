//! The tokio examples (`required-features = ["tokio"]`), run as programs
//! against real peers: `tokio_client` echoing with our threaded server
//! (what the server's callbacks saw, the close code) and reporting a
//! refused connection; `axum_upgrade` serving our async client and the
//! Python and Node clients (with and without permessage-deflate), its
//! plain HTTP page, and refusing `/ws` without an upgrade.
//!
//! The other examples are run in `tests/examples.rs`.
#![cfg(feature = "tokio")]

mod support;

use std::io::{Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use futures_util::StreamExt;
use wsstack::server::{Callbacks, ServerBuilder};
use wsstack::{ClientBuilder, Message};

use support::{example, PEER_TIMEOUT};

/// What our echo server's callbacks saw.
#[derive(Debug, PartialEq)]
enum Event {
    Connected {
        path: String,
        extensions: Vec<String>,
    },
    Message(String),
    Disconnected(u16, String),
}

/// Our threaded echo server (permessage-deflate offered) on
/// 127.0.0.1:0, reporting what its callbacks see; shut down (bounded)
/// on drop.
struct EchoServer {
    port: u16,
    handle: wsstack::server::ServerHandle,
    events: mpsc::Receiver<Event>,
    done: mpsc::Receiver<()>,
}

impl EchoServer {
    fn start() -> EchoServer {
        let server = ServerBuilder::new()
            .address("127.0.0.1:0")
            .permessage_deflate(true)
            .bind_threaded()
            .unwrap();
        let port = server.local_addr().unwrap().port();
        let handle = server.handle();
        let (tx, events) = mpsc::channel();
        let tx = Mutex::new(tx);
        let report = move |event| {
            let _ = tx.lock().unwrap_or_else(|e| e.into_inner()).send(event);
        };
        let report = std::sync::Arc::new(report);
        let (on_connect, on_message, on_disconnect) = (report.clone(), report.clone(), report);
        let callbacks = Callbacks::<()>::new()
            .on_connect(move |client| {
                on_connect(Event::Connected {
                    path: client.path().to_owned(),
                    extensions: client.extensions().to_vec(),
                })
            })
            .on_message(move |client, message| {
                on_message(Event::Message(format!("{message:?}")));
                let _ = client.send(message.clone());
            })
            .on_disconnect(move |_, code, reason| {
                on_disconnect(Event::Disconnected(code.as_u16(), reason.to_owned()))
            });
        let (done_tx, done) = mpsc::channel();
        thread::spawn(move || {
            server.run(callbacks).unwrap();
            let _ = done_tx.send(());
        });
        EchoServer {
            port,
            handle,
            events,
            done,
        }
    }

    fn next_event(&self) -> Event {
        self.events
            .recv_timeout(PEER_TIMEOUT)
            .expect("the echo server saw nothing in time")
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        let stopped = self.done.recv_timeout(Duration::from_secs(15)).is_ok();
        if !thread::panicking() {
            assert!(stopped, "the echo server did not stop");
        }
    }
}

/// Run `command` to its end within [`PEER_TIMEOUT`] (killed and a
/// failure past it); its output.
fn run_bounded(mut command: Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(PEER_TIMEOUT) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("the example did not finish within {PEER_TIMEOUT:?}");
        }
    }
}

#[test]
fn tokio_client_example_echoes_and_closes() {
    let server = EchoServer::start();
    let mut command = Command::new(example("tokio_client"));
    command.arg(format!("ws://127.0.0.1:{}/tokio", server.port));
    let out = run_bounded(command);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert_eq!(
        stdout, "echo: Text(\"Hello from tokio\")\nclosed: 1000 (normal closure) \"\"\n",
        "{stderr}"
    );
    // The example's client offers permessage-deflate (connect_url's
    // default), and closes with 1000 "bye".
    assert_eq!(
        server.next_event(),
        Event::Connected {
            path: "/tokio".into(),
            extensions: vec!["permessage-deflate".into()],
        }
    );
    assert_eq!(
        server.next_event(),
        Event::Message("Text(\"Hello from tokio\")".into())
    );
    assert_eq!(server.next_event(), Event::Disconnected(1000, "bye".into()));
}

#[test]
fn tokio_client_example_reports_a_refused_connection() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(example("tokio_client"));
    command.arg(format!("ws://127.0.0.1:{port}/"));
    let out = run_bounded(command);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    assert!(
        stderr.contains("Connect") && stderr.contains(&format!("127.0.0.1:{port}")),
        "{stderr}"
    );
}

/// The axum example as a child process; killed on drop.
struct Axum {
    child: Child,
    /// `ws://ADDR/ws`, as it printed.
    url: String,
    /// `ADDR`.
    addr: String,
}

impl Axum {
    fn start() -> Axum {
        let mut child = Command::new(example("axum_upgrade"))
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start axum_upgrade");
        let line = support::first_line(child.stdout.take().unwrap(), "axum_upgrade");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("axum_upgrade printed {line:?}"))
            .to_owned();
        let addr = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.strip_suffix("/ws"))
            .unwrap_or_else(|| panic!("not ws://ADDR/ws: {url:?}"))
            .to_owned();
        Axum { child, url, addr }
    }

    /// One plain HTTP/1.1 request (`Connection: close`); the whole
    /// answer.
    fn http(&self, head: &str) -> String {
        let mut tcp = std::net::TcpStream::connect(&self.addr).unwrap();
        tcp.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
        tcp.write_all(head.as_bytes()).unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).unwrap();
        answer
    }
}

impl Drop for Axum {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn axum_upgrade_example_serves_websocket_and_http() {
    let axum = Axum::start();

    // Our async client: deflate agreed, text and 1 MiB binary echoed,
    // the close answered.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (mut ws, response) = tokio::time::timeout(
            PEER_TIMEOUT,
            ClientBuilder::new(&axum.url).no_proxy().connect_async(),
        )
        .await
        .expect("connect: nothing in time")
        .unwrap_or_else(|e| panic!("connect to {}: {e}", axum.url));
        assert_eq!(response.status, 101);
        assert!(
            response
                .header("Sec-WebSocket-Extensions")
                .is_some_and(|e| e.starts_with("permessage-deflate")),
            "{response:?}"
        );
        let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        for message in [Message::from("through axum"), Message::Binary(big)] {
            ws.send(message.clone()).await.unwrap();
            let back = tokio::time::timeout(PEER_TIMEOUT, ws.next())
                .await
                .expect("echo: nothing in time")
                .expect("the stream ended")
                .unwrap();
            assert!(back == message, "sent {message:?}, got {back:?}");
        }
        let (code, _) = tokio::time::timeout(PEER_TIMEOUT, ws.close(1000, "done"))
            .await
            .expect("close: nothing in time")
            .unwrap();
        assert_eq!(code.as_u16(), 1000);
    });

    // Python and Node clients, with and without deflate.
    for peer in [support::Peer::Python, support::Peer::Node] {
        for compression in ["deflate", "none"] {
            let report = support::run_client(
                peer,
                &[
                    "--url",
                    &axum.url,
                    "--sizes",
                    "0,1,125,126,65536,1048576",
                    "--compression",
                    compression,
                ],
            );
            assert!(report.ok, "{peer:?} {compression}: {}", report.raw);
        }
    }

    // `/` is plain HTTP.
    let page = axum.http("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.ends_with("wsstack behind axum: connect to /ws\n"),
        "{page}"
    );
    // `/ws` without an upgrade is refused by wsstack's handshake layer.
    let refused = axum.http("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let status: u16 = refused
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {refused}"));
    assert!((400..500).contains(&status), "{refused}");
}
