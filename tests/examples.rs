//! The examples, run as programs against real peers.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use support::PEER_TIMEOUT;

use support::example;

#[test]
fn autobahn_client_follows_the_testee_convention() {
    let mut server = Command::new(support::python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/peers/py_mock_fuzzingserver.py"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the mock fuzzing server");
    let stdout = server.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let port_line = rx.recv_timeout(PEER_TIMEOUT).expect("mock server port");
    let port = port_line.strip_prefix("PORT ").expect("PORT line");
    let status = Command::new(example("autobahn_client"))
        .args([
            "--url",
            &format!("ws://127.0.0.1:{port}"),
            "--agent",
            "wsstack-test",
        ])
        .status()
        .expect("run autobahn_client");
    assert!(status.success());
    let report = rx.recv_timeout(PEER_TIMEOUT).expect("mock server report");
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        report,
        r#"{"cases_run": [1, 2, 3, 4], "ok": [1, 2, 3, 4], "agent": "wsstack-test", "deflate": [1, 2, 3, 4]}"#
    );
}

#[test]
fn echo_connection_example_serves_a_python_client() {
    let mut server = Command::new(example("echo_connection"))
        .args(["127.0.0.1:0", "--once"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start echo_connection");
    let stdout = server.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_string();
    let report = support::run_client(
        support::Peer::Python,
        &["--url", &url, "--sizes", "0,10,70000"],
    );
    assert!(report.ok, "{}", report.raw);
    assert!(
        server.wait().unwrap().success(),
        "--once exits after one client"
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter()
            .any(|l| l.starts_with("Connection closed (1000")),
        "{rest:?}"
    );
}

#[test]
fn custom_extension_example_negotiates_and_transforms() {
    let out = Command::new(example("custom_extension"))
        .output()
        .expect("run custom_extension");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("response: Some(\"x-xor; key=32\")"),
        "{stdout}"
    );
    assert!(stdout.contains("server negotiated [\"x-xor\"]"), "{stdout}");
    assert!(stdout.contains("custom extension ok"), "{stdout}");
}

/// A server example running as a child process; SIGINT on drop.
struct ServerProcess {
    child: std::process::Child,
    addr: String,
}

impl ServerProcess {
    fn start(name: &str, args: &[&str]) -> ServerProcess {
        let mut child = Command::new(example(name))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the example");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let line = rx
            .recv_timeout(PEER_TIMEOUT)
            .expect("the example prints its address");
        let addr = line
            .rsplit("://")
            .next()
            .unwrap()
            .trim_end_matches('/')
            .to_string();
        ServerProcess { child, addr }
    }

    /// Ctrl-C, and the exit status.
    fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(sent.success());
        let (tx, rx) = mpsc::channel();
        let mut child = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap());
        thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        rx.recv_timeout(PEER_TIMEOUT)
            .expect("the example exits after Ctrl-C")
            .unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn echo_server_example_serves_both_kinds_and_stops_on_ctrl_c() {
    for (kind, deflate) in [
        ("event-loop", false),
        ("threaded", false),
        ("event-loop", true),
        ("threaded", true),
    ] {
        let mut args = vec!["--addr", "127.0.0.1:0", "--server", kind];
        if deflate {
            args.push("--deflate");
        }
        let server = ServerProcess::start("echo_server", &args);
        let url = format!("ws://{}/", server.addr);
        let compression = if deflate { "deflate" } else { "none" };
        for peer in [support::Peer::Python, support::Peer::Node] {
            let report = support::run_client(
                peer,
                &[
                    "--url",
                    &url,
                    "--sizes",
                    "0,1,125,126,65536,1048576",
                    "--compression",
                    compression,
                ],
            );
            assert!(
                report.ok,
                "{kind} deflate={deflate} {peer:?}: {}",
                report.raw
            );
        }
        // A client that stays connected sees the graceful 1001.
        let (mut ws, _) = tungstenite::connect(url.as_str()).unwrap();
        ws.send(tungstenite::Message::text("hi")).unwrap();
        assert_eq!(ws.read().unwrap(), tungstenite::Message::text("hi"));
        let status = server.interrupt();
        assert!(status.success(), "{kind}: exit status {status}");
        match ws.read() {
            Ok(tungstenite::Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1001),
            other => panic!("{kind}: expected a 1001 close, got {other:?}"),
        }
    }
}

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// A rooms client named `name`; reads are bounded in time.
fn rooms_client(addr: &str, name: &str) -> Ws {
    let url = format!("ws://{addr}/rooms?name={name}");
    let (mut ws, _) = tungstenite::connect(url.as_str()).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
    }
    // Its messages are handled after its `on_open`, so once this is
    // answered the server counts it (the 101 may arrive before that).
    ask(&mut ws, "leave:nowhere", "not in nowhere");
    ws
}

/// Send `text`, and expect `answer` as the next message.
fn ask(ws: &mut Ws, text: &str, answer: &str) {
    ws.send(tungstenite::Message::text(text)).unwrap();
    expect(ws, answer);
}

/// Close, wait for the server's Close, and let the socket go (the server
/// lingers until our FIN).
fn hang_up(mut ws: Ws) {
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
}

fn expect(ws: &mut Ws, text: &str) {
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text(text));
}

#[test]
fn rooms_example_serves_its_page_and_routes_by_room() {
    for (kind, deflate) in [("event-loop", false), ("threaded", true)] {
        let mut args = vec!["--addr", "127.0.0.1:0", "--server", kind];
        if deflate {
            args.push("--deflate");
        }
        let server = ServerProcess::start("rooms", &args);
        // The page, over plain HTTP on the same port.
        let mut tcp = std::net::TcpStream::connect(&server.addr).unwrap();
        tcp.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
        std::io::Write::write_all(&mut tcp, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut page = String::new();
        std::io::Read::read_to_string(&mut tcp, &mut page).unwrap();
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("new WebSocket") && page.contains("join:NAME"));
        drop(tcp); // the server lingers until our FIN

        let mut ann = rooms_client(&server.addr, "ann");
        let mut bob = rooms_client(&server.addr, "bob");
        ask(&mut ann, "who", "2 connected");
        // In no room: to everyone, the sender included.
        ann.send(tungstenite::Message::text("hi all")).unwrap();
        expect(&mut ann, "[ann] hi all");
        expect(&mut bob, "[ann] hi all");
        // Two rooms shared: each member gets a message once.
        ask(&mut ann, "join:red", "joined red");
        ask(&mut ann, "join:blue", "joined blue");
        ask(&mut bob, "join:red", "joined red");
        ask(&mut bob, "join:blue", "joined blue");
        ask(&mut bob, "join:blue", "already in blue");
        let mut cat = rooms_client(&server.addr, "cat");
        ann.send(tungstenite::Message::text("hello rooms")).unwrap();
        expect(&mut ann, "[ann] hello rooms");
        expect(&mut bob, "[ann] hello rooms");
        // Nothing more came before the answers: no second copies, and
        // nothing for cat, who is in no room.
        ask(&mut ann, "who", "3 connected");
        ask(&mut bob, "who", "3 connected");
        ask(&mut cat, "who", "3 connected");
        // Out of one room, still in the other.
        ask(&mut bob, "leave:red", "left red");
        ask(&mut bob, "leave:red", "not in red");
        ann.send(tungstenite::Message::text("still blue")).unwrap();
        expect(&mut ann, "[ann] still blue");
        expect(&mut bob, "[ann] still blue");
        ask(&mut bob, "leave:blue", "left blue");
        ann.send(tungstenite::Message::text("just me")).unwrap();
        expect(&mut ann, "[ann] just me");
        // bob, in no room now, talks to everyone.
        bob.send(tungstenite::Message::text("anyone?")).unwrap();
        for ws in [&mut ann, &mut bob, &mut cat] {
            expect(ws, "[bob] anyone?");
        }
        // A client that leaves is forgotten.
        hang_up(cat);
        ask(&mut ann, "who", "2 connected");
        hang_up(ann);
        hang_up(bob);
        assert!(server.interrupt().success(), "{kind}");
    }
}

#[test]
fn rooms_example_explains_its_options_and_errors() {
    let run = |args: &[&str]| {
        let out = Command::new(example("rooms"))
            .args(args)
            .output()
            .expect("run rooms");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (ok, help) = run(&["--help"]);
    assert!(ok, "{help}");
    for option in [
        "--addr HOST:PORT",
        "--server",
        "--deflate",
        "--help",
        "127.0.0.1:9002",
    ] {
        assert!(help.contains(option), "--help lists {option}: {help}");
    }
    let (ok, err) = run(&["--addr", "no-such-host.invalid:1"]);
    assert!(!ok);
    assert!(
        err.contains("--addr") && err.contains("no-such-host.invalid:1"),
        "{err}"
    );
    let (ok, err) = run(&["--addr"]);
    assert!(!ok && err.contains("--addr needs a value"), "{err}");
    let (ok, err) = run(&["--server", "fibers"]);
    assert!(
        !ok && err.contains("--server") && err.contains("fibers"),
        "{err}"
    );
    let (ok, err) = run(&["--verbose"]);
    assert!(
        !ok && err.contains("--verbose") && err.contains("--help"),
        "{err}"
    );
}
