//! The examples, run as programs against real peers.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use support::PEER_TIMEOUT;

/// An example binary built by `cargo test` (examples are built before
/// integration tests run).
fn example(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop(); // deps
    dir.pop(); // debug
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "example {name} not built at {}",
        path.display()
    );
    path
}

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
        r#"{"cases_run": [1, 2, 3, 4], "ok": [1, 2, 3, 4], "agent": "wsstack-test"}"#
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
