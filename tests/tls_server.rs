//! Our servers (event-loop, threaded and tokio) serving `wss://`: Python
//! `websockets` and Node `ws` clients trusting the test CA, with and
//! without permessage-deflate; our own client with large and pipelined
//! messages; and the `echo_server` example with `--cert/--key`.
//!
//! Every case runs against both servers. Certificates come from
//! `support_tls::Pki` (rcgen, at test time). Peer programs:
//! `tests/peers/py_tls_client.py`, `tests/peers/node_tls_client.js`. A
//! missing peer fails the test; see `scripts/setup-peers.sh`. Chromium is
//! in `tests/tls_server_chromium.rs`, bad input on the ports in
//! `tests/tls_server_bad_input.rs`.

mod support;
mod support_tls;
mod support_wss;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use support_tls::{Pki, IO_TIMEOUT};
use support_wss::{json_value, sizes_arg, tls_builder, EchoServer, Seen, KINDS};
use wsstack::server::ServerKind;
use wsstack::tls::TlsClientConfig;
use wsstack::{ClientBuilder, Message};

// ---------------------------------------------------------------------------
// 1. Python `websockets` and Node `ws` clients over wss://.

#[derive(Clone, Copy, Debug)]
enum Peer {
    Python,
    Node,
}

/// Run `py_tls_client.py` or `node_tls_client.js` to completion (bounded by
/// the peer timeout) and return its JSON line.
fn run_tls_client(peer: Peer, url: &str, ca: &Path, deflate: bool) -> String {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut command = match peer {
        Peer::Python => {
            let mut c = Command::new(support::python());
            c.arg(repo.join("tests/peers/py_tls_client.py"));
            c
        }
        Peer::Node => {
            let dir = support::node_peers();
            let mut c = Command::new("node");
            c.arg(dir.join("node_tls_client.js")).current_dir(dir);
            c
        }
    };
    let mut child = command
        .args(["--url", url, "--ca", ca.to_str().unwrap()])
        .args(["--sizes", &sizes_arg()])
        .args(["--compression", if deflate { "deflate" } else { "none" }])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {peer:?} TLS client: {e}"));
    let line = support::first_line(
        child.stdout.take().unwrap(),
        &format!("{peer:?} TLS client"),
    );
    let _ = child.kill();
    let _ = child.wait();
    line.trim().to_owned()
}

fn interop(kind: ServerKind) {
    let pki = Pki::new();
    for deflate in [false, true] {
        let server = EchoServer::start(kind, tls_builder(&pki, deflate));
        let url = format!("wss://127.0.0.1:{}/echo", server.port());
        for peer in [Peer::Python, Peer::Node] {
            let what = format!("{kind} server, {peer:?} client, deflate {deflate}");
            let report = run_tls_client(peer, &url, &pki.ca, deflate);
            assert_eq!(
                json_value(&report, "ok").as_deref(),
                Some("true"),
                "{what}: {report}"
            );
            assert_eq!(
                json_value(&report, "echoed").as_deref(),
                Some("12"),
                "{what}: {report}"
            );
            // The client saw our Close answering its own: 1000.
            assert_eq!(
                json_value(&report, "close_code").as_deref(),
                Some("1000"),
                "{what}: {report}"
            );
            let tls = json_value(&report, "tls").unwrap_or_default();
            assert_eq!(tls, "TLSv1.3", "{what}: {report}");
            let agreed = json_value(&report, "extensions").unwrap_or_default();
            assert_eq!(
                agreed.contains("permessage-deflate"),
                deflate,
                "{what}: {report}"
            );

            // Our side: opened with the same extensions, closed with 1000.
            let mut opened = None;
            let mut closed = None;
            while closed.is_none() {
                match server.next_seen() {
                    Seen::Opened { extensions } => opened = Some(extensions),
                    Seen::Closed { code, reason } => closed = Some((code, reason)),
                    other => panic!("{what}: unexpected {other:?}"),
                }
            }
            let names = opened.unwrap_or_else(|| panic!("{what}: closed before opened"));
            let expected: &[&str] = if deflate {
                &["permessage-deflate"]
            } else {
                &[]
            };
            assert_eq!(names, expected, "{what}");
            assert_eq!(closed, Some((1000, "done".to_owned())), "{what}");
            eprintln!("{what}: {report}");
        }
        server.stop();
    }
}

#[test]
fn wss_event_loop_server_with_python_and_node_clients() {
    interop(ServerKind::EventLoop);
}

#[test]
fn wss_threaded_server_with_python_and_node_clients() {
    interop(ServerKind::Threaded);
}

#[test]
fn wss_tokio_server_with_python_and_node_clients() {
    interop(ServerKind::Tokio);
}

/// Our own client, sending more than one socket read at a time: a 1 MiB
/// message, then 8 × 100 KB back to back before reading any echo.
/// (Regression: the threaded server fed rustls a 16 KiB socket read in one
/// `read_tls` call, which takes about 4 KiB, and lost the rest: the next
/// record failed its MAC check.)
#[test]
fn large_and_pipelined_messages_from_our_client() {
    let pki = Pki::new();
    for kind in KINDS {
        let server = EchoServer::start(kind, tls_builder(&pki, false));
        let (mut conn, _) = ClientBuilder::new(format!("wss://localhost:{}/", server.port()))
            .no_proxy()
            .deflate(false)
            .tls(TlsClientConfig::new().with_ca_file(&pki.ca).unwrap())
            .read_timeout(Some(IO_TIMEOUT))
            .write_timeout(Some(IO_TIMEOUT))
            .connect()
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let big: Vec<u8> = (0..1u32 << 20).map(|i| (i * 31 + 7) as u8).collect();
        conn.send(big.clone()).unwrap();
        assert_eq!(conn.recv().unwrap(), Some(Message::Binary(big)), "{kind}");
        let batch: Vec<Vec<u8>> = (0..8u8).map(|n| vec![n; 100_000]).collect();
        for m in &batch {
            conn.send(m.clone()).unwrap();
        }
        for m in batch {
            assert_eq!(conn.recv().unwrap(), Some(Message::Binary(m)), "{kind}");
        }
        let (code, _) = conn.close(1000, "done").unwrap();
        assert_eq!(code.as_u16(), 1000, "{kind}");
        drop(conn);
        assert_eq!(server.closes(1), [(1000, "done".to_owned())], "{kind}");
        server.stop();
    }
}

// ---------------------------------------------------------------------------
// 3. The echo_server example over wss://.

/// The example, killed (by its pid) on drop if it is still running.
struct Example {
    child: Child,
    lines: Receiver<String>,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Example {
    fn start(args: &[&str]) -> Example {
        let mut child = Command::new(support::example("echo_server"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start echo_server");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Example { child, lines }
    }

    fn line(&self) -> Option<String> {
        self.lines.recv_timeout(support::PEER_TIMEOUT).ok()
    }
}

#[test]
fn echo_server_example_over_wss() {
    let pki = Pki::new();
    for (kind, deflate) in [
        (ServerKind::EventLoop, false),
        (ServerKind::Threaded, true),
        (ServerKind::Tokio, true),
    ] {
        let mut args = vec![
            "--cert",
            pki.server.cert.to_str().unwrap(),
            "--key",
            pki.server.key.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--server",
            kind.name(),
        ];
        if deflate {
            args.push("--deflate");
        }
        let mut example = Example::start(&args);
        let first = example.line().expect("echo_server printed nothing");
        let prefix = format!("echo server ({kind}) listening on wss://");
        let addr = first
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("first line {first:?}, expected {prefix:?}ADDR"));
        let url = format!("wss://{addr}/");
        let (mut conn, response) = ClientBuilder::new(&url)
            .no_proxy()
            .tls(TlsClientConfig::new().with_ca_file(&pki.ca).unwrap())
            .read_timeout(Some(IO_TIMEOUT))
            .write_timeout(Some(IO_TIMEOUT))
            .connect()
            .unwrap_or_else(|e| panic!("{kind}: connect to {url}: {e}"));
        assert!(conn.get_ref().is_tls());
        let agreed = response.header("Sec-WebSocket-Extensions").unwrap_or("");
        assert_eq!(
            agreed.contains("permessage-deflate"),
            deflate,
            "{kind}: {agreed:?}"
        );
        conn.send("hello over wss").unwrap();
        assert_eq!(
            conn.recv().unwrap(),
            Some(Message::Text("hello over wss".into()))
        );
        let blob: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        conn.send(blob.clone()).unwrap();
        assert_eq!(conn.recv().unwrap(), Some(Message::Binary(blob)));
        // The server's Close answers ours with the same code.
        let (code, _) = conn.close(1000, "bye").unwrap();
        assert_eq!(code.as_u16(), 1000, "{kind}");
        // Our FIN ends the server's lingering close at once.
        drop(conn);

        // SIGTERM (by pid): a graceful stop, status 0.
        let pid = example.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let started = Instant::now();
        assert_eq!(
            example.line().as_deref(),
            Some("echo server stopped"),
            "{kind}"
        );
        assert!(
            example.line().is_none(),
            "{kind}: more output after the stop line"
        );
        let exit = example.child.wait().unwrap();
        assert!(exit.success(), "{kind}: {exit}");
        assert!(started.elapsed() < Duration::from_secs(10), "{kind}");
    }
}
