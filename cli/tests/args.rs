//! The command line and the config file of `wsstack serve`: `--help`,
//! mistakes in flags and in the file (a clear message on stderr naming the
//! flag or key, exit status 2, before any server starts), a good file, and
//! flags overriding it.

mod support;

use support::{wsstack_run, Server, TempDir, Ws};

fn assert_usage_error(args: &[&str], needles: &[&str]) {
    let out = wsstack_run(args, b"");
    assert_eq!(out.code(), 2, "{args:?}: {out:?}");
    assert!(out.stdout.is_empty(), "{args:?} printed on stdout: {out:?}");
    for needle in needles {
        assert!(
            out.stderr.contains(needle),
            "{args:?}: stderr lacks {needle:?}:\n{}",
            out.stderr
        );
    }
}

#[test]
fn help_lists_every_option_redis_included() {
    let out = wsstack_run(&["serve", "--help"], b"");
    assert_eq!(out.code(), 0, "{out:?}");
    for option in [
        "--addr",
        "--filter",
        "--config",
        "--deflate",
        "--server",
        "--cert",
        "--key",
        "--max-message",
        "--max-frame",
        "--max-connections",
        "--log-level",
        "Redis:",
        "--redis <URL>",
        "--channel <NAME>",
        "--redis-prefix",
    ] {
        assert!(
            out.stdout.contains(option),
            "serve --help lacks {option}:\n{}",
            out.stdout
        );
    }
    for filter in [
        "broadcast_messages",
        "stdout_messages",
        "stdout_rawdata",
        "broadcast_messages_by_token",
        "broadcast_pubsub",
        "echo",
    ] {
        assert!(
            out.stdout.contains(&format!("  {filter} ")),
            "no {filter}:\n{}",
            out.stdout
        );
    }
    let out = wsstack_run(&["-h"], b"");
    assert_eq!(out.code(), 0);
    assert!(
        out.stdout.contains("serve") && out.stdout.contains("connect"),
        "{}",
        out.stdout
    );
    let out = wsstack_run(&["connect", "--help"], b"");
    assert_eq!(out.code(), 0);
    for needle in [
        "--header",
        "--subprotocol",
        "--user",
        "--insecure-dangerous-skip-verify",
        "--binary",
        "--wait",
        "Exit status:",
    ] {
        assert!(
            out.stdout.contains(needle),
            "connect --help lacks {needle}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn bad_flags_are_usage_errors() {
    assert_usage_error(&["serve", "--bogus"], &["unexpected argument '--bogus'"]);
    assert_usage_error(
        &["serve", "--max-message", "big"],
        &["--max-message", "invalid digit"],
    );
    assert_usage_error(
        &["serve", "--server", "fast"],
        &["--server", "threaded", "event-loop"],
    );
    assert_usage_error(
        &["serve", "--filter", "nope"],
        &[
            "unknown filter \"nope\"",
            "broadcast_messages, broadcast_messages_by_token",
        ],
    );
    assert_usage_error(&["serve", "--cert", "c.pem"], &["--cert needs --key"]);
    assert_usage_error(
        &["serve", "--filter", "broadcast_pubsub"],
        &["broadcast_pubsub", "needs --redis"],
    );
    assert_usage_error(
        &["serve", "--redis", "http://x/"],
        &["bad Redis URL \"http://x/\""],
    );
    assert_usage_error(&["frobnicate"], &["unrecognized subcommand 'frobnicate'"]);
    assert_usage_error(
        &["serve", "--max-message", "10"],
        &["max-message must be at least 125 bytes"],
    );
}

#[test]
fn a_port_in_use_is_an_error_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = wsstack_run(&["serve", "--addr", &addr], b"");
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(
        out.stderr.contains(&format!("cannot listen on {addr}")),
        "{}",
        out.stderr
    );
}

#[test]
fn config_file_errors_name_the_key() {
    let dir = TempDir::new("config");
    let cases: &[(&str, &[&str])] = &[
        (
            r#"{"adr": "127.0.0.1:0"}"#,
            &[
                "unknown key \"adr\"",
                "did you mean \"addr\"",
                "the keys are",
            ],
        ),
        (
            r#"{"max-message": "big"}"#,
            &[
                "key \"max-message\" must be a whole number of bytes",
                "a string (\"big\")",
            ],
        ),
        (
            r#"{"filters": "echo"}"#,
            &["key \"filters\" must be a list of filter names"],
        ),
        (
            r#"{"deflate": "yes"}"#,
            &["key \"deflate\" must be true or false"],
        ),
        (
            r#"{"server": "fast"}"#,
            &["key \"server\": unknown server kind \"fast\""],
        ),
        (
            r#"{"log-level": "loud"}"#,
            &["key \"log-level\" must be one of", "not \"loud\""],
        ),
        (
            r#"{"filters": ["nope"]}"#,
            &["key \"filters\": unknown filter \"nope\""],
        ),
        (r#"{"addr": "127.0.0.1:0",}"#, &["not valid JSON", "line 1"]),
        (r#"["addr"]"#, &["expected a JSON object"]),
    ];
    for (i, (text, needles)) in cases.iter().enumerate() {
        let path = dir.write(&format!("bad{i}.json"), text);
        let path = path.to_str().unwrap();
        let mut all = vec![path];
        all.extend_from_slice(needles);
        assert_usage_error(&["serve", "-c", path], &all);
    }
    assert_usage_error(
        &["serve", "--config", "/nonexistent/wsstack.json"],
        &["cannot read the config file /nonexistent/wsstack.json"],
    );
}

#[test]
fn a_good_config_file_and_flags_over_it() {
    let dir = TempDir::new("config");
    let path = dir.write(
        "good.json",
        r#"{
            "addr": "127.0.0.1:1",
            "filters": ["stdout_rawdata", "echo"],
            "deflate": true,
            "server": "threaded",
            "max-message": 1000,
            "log-level": "warn"
        }"#,
    );
    let path = path.to_str().unwrap();
    // --addr (from the helper) overrides the file's port 1.
    let server = Server::start(&["-c", path]);
    let mut ws = Ws::connect(&server.url("/"));
    ws.send("from the config");
    assert_eq!(ws.recv_text(), "from the config");
    let (line, _) = server.line_containing("rawdata");
    assert!(
        line.ends_with("rawdata (15 bytes): from the config"),
        "{line}"
    );
    // max-message from the file: 1001 bytes is refused with 1009.
    ws.send("x".repeat(1001));
    assert!(ws.recv_within(support::STEP).is_none());
    assert_eq!(ws.conn.close_status().map(|(c, _)| c.as_u16()), Some(1009));
    drop(server);

    // Flags win: the filters given replace the file's.
    let server = Server::start(&["-c", path, "--filter", "broadcast_messages"]);
    let mut ws = Ws::connect(&server.url("/"));
    ws.send("flag filters");
    assert_eq!(ws.recv_text(), "flag filters");
    assert!(
        server
            .next_line(std::time::Duration::from_millis(300))
            .is_none(),
        "no stdout filter runs"
    );
}
