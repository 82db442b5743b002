//! `examples/client.rs` run as a program against Python `websockets`.

mod support;

use std::process::Command;

use support::{example, spawn_server, Peer};

#[test]
fn the_one_call_client_example_talks_to_python() {
    let server = spawn_server(Peer::Python, &["--compression", "deflate"]);
    let out = Command::new(example("client"))
        .args([&server.url("/"), "hi there"])
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .expect("run the client example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        "reply: hi there\nclosed: 1000 (normal closure) done\n"
    );
}
