//! `wsstack connect`: in shell pipelines against `wsstack serve --filter
//! echo`, binary lines, headers, subprotocols and Basic auth against a
//! server of the library's that reports what it got, wss:// with a
//! self-signed certificate, and the exit status for each way a connection
//! ends (0 normal, 1 error, 2 usage, 3 closed by the server with another
//! code than 1000).

mod support;

use std::thread;
use std::time::{Duration, Instant};

use support::{free_port, wsstack_run, Server, TempDir};
use wsstack::handshake::{BasicAuth, ServerConfig};
use wsstack::server::{Client, Handler, ServerBuilder, ServerHandle};
use wsstack::Message;

#[test]
fn a_pipeline_against_echo() {
    let server = Server::start(&["--filter", "echo"]);
    let url = server.url("/");
    let started = Instant::now();
    let out = wsstack_run(
        &["connect", &url],
        b"hi\nthere\r\n\nlast line without newline",
    );
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout, "hi\nthere\n\nlast line without newline\n");
    // The default --wait is 1 s after stdin ends.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let out = wsstack_run(
        &["connect", "--wait", "0.2", "--no-deflate", &url],
        "é ✓\n".as_bytes(),
    );
    assert_eq!((out.code(), out.stdout.as_str()), (0, "é ✓\n"), "{out:?}");
    // Nothing on stdin: connect, wait, close normally.
    let out = wsstack_run(&["connect", "--wait", "0", &url], b"");
    assert_eq!((out.code(), out.stdout.as_str()), (0, ""), "{out:?}");
}

#[test]
fn binary_lines() {
    let server = Server::start(&["--filter", "stdout_messages", "--filter", "echo"]);
    let out = wsstack_run(
        &["connect", "--binary", "--wait", "0.5", &server.url("/")],
        b"ab\n",
    );
    assert_eq!((out.code(), out.stdout.as_str()), (0, "ab\n"), "{out:?}");
    let (line, _) = server.line_containing("<binary 2 bytes>");
    assert!(line.starts_with("client "), "{line}");
}

#[test]
fn usage_mistakes_exit_2_and_errors_exit_1() {
    let cases: &[(&[&str], &str)] = &[
        (&["connect"], "required arguments were not provided"),
        (&["connect", "http://127.0.0.1/"], "http://127.0.0.1/"),
        (
            &["connect", "-H", "no colon", "ws://127.0.0.1:1/"],
            "--header expects NAME:VALUE",
        ),
        (
            &["connect", "--user", "alice", "ws://127.0.0.1:1/"],
            "--user expects USER:PASS",
        ),
        (
            &["connect", "--wait", "soon", "ws://127.0.0.1:1/"],
            "invalid value 'soon' for '--wait <SECONDS>'",
        ),
        (
            &["connect", "--wait=-1", "ws://127.0.0.1:1/"],
            "--wait expects a number of seconds >= 0",
        ),
    ];
    for (args, needle) in cases {
        let out = wsstack_run(args, b"");
        assert_eq!(out.code(), 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    let port = free_port();
    let out = wsstack_run(&["connect", &format!("ws://127.0.0.1:{port}/")], b"");
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{}",
        out.stderr
    );
}

#[test]
fn a_server_close_with_another_code_exits_3() {
    let server = Server::start(&["--filter", "echo", "--max-message", "200"]);
    let long = format!("{}\n", "x".repeat(300));
    let out = wsstack_run(
        &["connect", "--wait", "10", &server.url("/")],
        long.as_bytes(),
    );
    assert_eq!(out.code(), 3, "{out:?}");
    assert!(
        out.stderr
            .contains("the server closed the connection: 1009"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------
// A server of the library's that tells what it got and closes on request.

struct Reporter;

impl Handler for Reporter {
    type Data = ();

    fn on_open(&self, client: &Client) {
        let report = format!(
            "protocol={} trace={} user={}",
            client.subprotocol().unwrap_or("-"),
            client.request().header("x-trace").unwrap_or("-"),
            client
                .request()
                .basic_auth()
                .map_or("-".to_owned(), |c| c.user),
        );
        let _ = client.send(report);
    }

    fn on_message(&self, client: &Client, message: Message) {
        match message.as_text().and_then(|t| t.strip_prefix("close ")) {
            Some(code) => client.close(code.parse::<u16>().unwrap(), "as asked"),
            None => {
                let _ = client.send(message);
            }
        }
    }
}

struct Library {
    url: String,
    handle: ServerHandle,
    thread: Option<thread::JoinHandle<()>>,
}

impl Library {
    fn start(handshake: ServerConfig) -> Library {
        let server = ServerBuilder::new()
            .address("127.0.0.1:0")
            .handshake(handshake)
            .bind_threaded()
            .unwrap();
        let url = format!("ws://{}/", server.local_addr().unwrap());
        let handle = server.handle();
        let thread = Some(thread::spawn(move || server.run(Reporter).unwrap()));
        Library {
            url,
            handle,
            thread,
        }
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn close_codes_decide_the_exit_status() {
    let server = Library::start(ServerConfig::new());
    let started = Instant::now();
    let out = wsstack_run(&["connect", "--wait", "10", &server.url], b"close 1000\n");
    assert_eq!(out.code(), 0, "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the server's close ends it before --wait"
    );
    let out = wsstack_run(&["connect", "--wait", "10", &server.url], b"close 4000\n");
    assert_eq!(out.code(), 3, "{out:?}");
    assert!(
        out.stderr.contains("4000") && out.stderr.contains("as asked"),
        "{}",
        out.stderr
    );
    let out = wsstack_run(&["connect", "--wait", "10", &server.url], b"close 1001\n");
    assert_eq!(out.code(), 3, "{out:?}");
}

#[test]
fn headers_subprotocols_and_basic_auth() {
    let handshake = ServerConfig::new()
        .with_subprotocols(["chat.v2", "chat.v1"])
        .with_basic_auth(BasicAuth::single_user("test", "alice", "s3cret"));
    let server = Library::start(handshake);
    let authority = server.url.trim_start_matches("ws://").to_owned();
    let out = wsstack_run(
        &[
            "connect",
            "--wait",
            "0.3",
            "--user",
            "alice:s3cret",
            "-H",
            "X-Trace: 42",
            "--subprotocol",
            "chat.v1",
            "--subprotocol",
            "chat.v2",
            &server.url,
        ],
        b"",
    );
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout, "protocol=chat.v2 trace=42 user=alice\n");
    // Credentials in the URL.
    let url = format!("ws://alice:s3cret@{authority}");
    let out = wsstack_run(&["connect", "--wait", "0.3", &url], b"echoed\n");
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout, "protocol=- trace=- user=alice\nechoed\n");
    assert!(!out.stderr.contains("s3cret"));
    // Wrong ones: refused, exit 1, the password not shown.
    let url = format!("ws://alice:wrong@{authority}");
    let out = wsstack_run(&["connect", &url], b"");
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    assert!(!out.stderr.contains("wrong"), "{}", out.stderr);
}

#[test]
fn wss_with_a_self_signed_certificate() {
    let dir = TempDir::new("tls");
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert = dir.write("cert.pem", &certified.cert.pem());
    let key = dir.write("key.pem", &certified.key_pair.serialize_pem());
    let server = Server::start(&[
        "--filter",
        "echo",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    let url = format!("wss://{}/", server.addr);
    let out = wsstack_run(&["connect", &url], b"secret\n");
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(
        out.stderr.contains("unknown certificate authority"),
        "{}",
        out.stderr
    );
    let out = wsstack_run(
        &[
            "connect",
            "--insecure-dangerous-skip-verify",
            "--wait",
            "0.3",
            &url,
        ],
        b"secret\n",
    );
    assert_eq!(
        (out.code(), out.stdout.as_str()),
        (0, "secret\n"),
        "{out:?}"
    );
    assert!(out.stderr.contains("NOT verified"), "{}", out.stderr);
}
