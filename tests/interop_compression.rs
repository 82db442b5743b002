//! permessage-deflate against real peers, both directions: Node `ws` with
//! each of the four RFC 7692 parameters (on its side and on ours, small
//! windows included), Python `websockets` with compression on (its
//! default), whole and fragmented messages from 0 B to 16 MiB.
#![cfg(all(feature = "deflate", feature = "mio"))]

mod support;

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use support::{binary_payload, run_client, text_payload, Peer};
use wsstack::connection::{Config, Event, MessageKind};
use wsstack::extensions::PerMessageDeflate;
use wsstack::handshake::{ClientRequest, ServerConfig};
use wsstack::server::{Client, Handler, ServerBuilder, ServerHandle};
use wsstack::{Connection, Limits, Message};

const SIZES: &str = "0,1,125,126,65535,65536,1048576";

struct Echo;

impl Handler for Echo {
    type Data = ();
    fn on_message(&self, client: &Client, message: Message) {
        let _ = client.send(message);
    }
}

/// Our event-loop server with `pmd`, echoing.
struct OurServer {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<Result<(), wsstack::Error>>>,
}

impl OurServer {
    fn start(pmd: PerMessageDeflate) -> OurServer {
        let limits = Limits::default()
            .with_max_message_size(64 << 20)
            .with_max_frame_size(64 << 20);
        let server = ServerBuilder::new()
            .address("127.0.0.1:0")
            .handshake(ServerConfig::new().with_limits(limits).with_extension(pmd))
            .connection(Config::default().with_limits(limits))
            .high_water_mark(128 << 20)
            .loops(1)
            .bind_event_loop()
            .unwrap();
        let (addr, handle) = (server.local_addr().unwrap(), server.handle());
        let thread = Some(thread::spawn(move || server.run(Echo)));
        OurServer {
            addr,
            handle,
            thread,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }
}

impl Drop for OurServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn node_pmd() -> Command {
    let dir = support::node_peers();
    let mut c = Command::new("node");
    c.arg(dir.join("node_pmd.js")).current_dir(dir);
    c
}

/// A Node `ws` echo server with the given `perMessageDeflate` options.
struct NodeServer {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
}

impl NodeServer {
    fn start(pmd_json: &str) -> NodeServer {
        let mut child = node_pmd()
            .args(["server", pmd_json])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start node_pmd.js");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let port = support::port_of(&support::first_line(stdout, "node server"), "node server");
        NodeServer {
            child,
            _stdin: stdin,
            port,
        }
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run the Node client against `url`; returns its JSON line.
fn node_client(url: &str, pmd_json: &str, sizes: &str) -> String {
    let mut child = node_pmd()
        .args(["client", url, pmd_json, sizes])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start node_pmd.js client");
    let stdout = child.stdout.take().unwrap();
    let line = support::first_line(stdout, "node client");
    let _ = child.kill();
    let _ = child.wait();
    line
}

#[test]
fn node_clients_with_each_parameter_against_our_server() {
    // (node client options, our server policy, what our response must say)
    let cases: Vec<(&str, PerMessageDeflate, &str)> = vec![
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new(),
            "permessage-deflate",
        ),
        (
            r#"{"threshold":0,"serverNoContextTakeover":true}"#,
            PerMessageDeflate::new(),
            "server_no_context_takeover",
        ),
        (
            r#"{"threshold":0,"clientNoContextTakeover":true}"#,
            PerMessageDeflate::new(),
            "client_no_context_takeover",
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            "server_max_window_bits=9",
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":10,"clientMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            "client_max_window_bits=9",
        ),
        (
            r#"{"threshold":0,"clientMaxWindowBits":true}"#,
            PerMessageDeflate::new().with_client_max_window_bits(Some(9)),
            "client_max_window_bits=9",
        ),
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new()
                .with_server_max_window_bits(Some(8))
                .with_server_no_context_takeover(true),
            "server_max_window_bits=8",
        ),
    ];
    for (node_opts, ours, expect) in cases {
        let server = OurServer::start(ours);
        let line = node_client(&server.url(), node_opts, SIZES);
        assert!(line.contains("\"ok\":true"), "node {node_opts}: {line}");
        assert!(
            line.contains(expect),
            "node {node_opts}: response should contain {expect}: {line}"
        );
    }
}

/// Our client: whole messages, automatic fragments and explicit fragments
/// with pings between them, all echoed intact.
fn our_client_round_trips(url: &str, pmd: PerMessageDeflate, sizes: &[usize]) -> String {
    let limits = Limits::default()
        .with_max_message_size(64 << 20)
        .with_max_frame_size(64 << 20);
    let request = ClientRequest::new(url)
        .unwrap()
        .with_limits(limits)
        .with_extension(pmd);
    let tcp = TcpStream::connect(request.address()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let config = Config::default()
        .with_limits(limits)
        .with_fragment_size(Some(300_000));
    let (mut conn, response) = Connection::connect(tcp, &request, config).unwrap();
    assert_eq!(conn.engine().extension_names(), ["permessage-deflate"]);
    for &size in sizes {
        for message in [
            Message::Text(text_payload(size)),
            Message::Binary(binary_payload(size)),
        ] {
            conn.send(message.clone()).unwrap();
            assert!(
                conn.recv().unwrap().as_ref() == Some(&message),
                "echo of {size} bytes"
            );
            // Explicit fragments with a ping between them.
            let bytes = message.as_bytes();
            let (a, b) = bytes.split_at(bytes.len() / 2);
            conn.send_fragment(message.kind(), a, false).unwrap();
            conn.ping(b"mid").unwrap();
            conn.send_fragment(MessageKind::Binary, b, true).unwrap();
            let mut got = None;
            while got.is_none() {
                match conn.next_event().unwrap() {
                    Event::Message(Message::Text(t)) => got = Some(Message::Text(t)),
                    Event::Message(Message::Binary(b)) => got = Some(Message::Binary(b)),
                    Event::Pong(p) => assert_eq!(p, b"mid"),
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert!(
                got.as_ref() == Some(&message),
                "fragmented echo of {size} bytes"
            );
        }
    }
    conn.close(1000, "").unwrap();
    response
        .header("sec-websocket-extensions")
        .unwrap_or_default()
        .to_string()
}

#[test]
fn our_client_with_node_servers_with_each_parameter() {
    let sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20];
    let cases: Vec<(&str, PerMessageDeflate, &str)> = vec![
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new(),
            "permessage-deflate",
        ),
        (
            r#"{"threshold":0,"serverNoContextTakeover":true}"#,
            PerMessageDeflate::new(),
            "server_no_context_takeover",
        ),
        (
            r#"{"threshold":0,"clientNoContextTakeover":true}"#,
            PerMessageDeflate::new(),
            "client_no_context_takeover",
        ),
        (
            r#"{"threshold":0,"serverMaxWindowBits":9}"#,
            PerMessageDeflate::new(),
            "server_max_window_bits=9",
        ),
        (
            r#"{"threshold":0,"clientMaxWindowBits":10}"#,
            PerMessageDeflate::new(),
            "client_max_window_bits=10",
        ),
        // Our side asking: a small server window, and no context either way.
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new().with_server_max_window_bits(Some(10)),
            "server_max_window_bits=10",
        ),
        (
            r#"{"threshold":0}"#,
            PerMessageDeflate::new()
                .with_server_no_context_takeover(true)
                .with_client_no_context_takeover(true)
                .with_client_max_window_bits(Some(9)),
            "server_no_context_takeover",
        ),
    ];
    for (node_opts, ours, expect) in cases {
        let server = NodeServer::start(node_opts);
        let url = format!("ws://127.0.0.1:{}/", server.port);
        let agreed = our_client_round_trips(&url, ours, &sizes);
        assert!(
            agreed.contains(expect),
            "node {node_opts}: agreed {agreed:?}, expected {expect}"
        );
    }
}

#[test]
fn python_with_compression_both_directions() {
    // Python client -> our server.
    let server = OurServer::start(PerMessageDeflate::new());
    let report = run_client(
        Peer::Python,
        &[
            "--url",
            &server.url(),
            "--sizes",
            SIZES,
            "--compression",
            "deflate",
        ],
    );
    assert!(report.ok, "{}", report.raw);
    // Our client -> Python server.
    let py = support::spawn_server(Peer::Python, &["--compression", "deflate"]);
    let agreed = our_client_round_trips(
        &py.url("/"),
        PerMessageDeflate::new(),
        &[0, 1, 125, 126, 65535, 65536, 1 << 20],
    );
    assert!(agreed.starts_with("permessage-deflate"), "{agreed}");
}

#[test]
fn sixteen_mib_compressed_both_directions_with_both_peers() {
    let server = OurServer::start(PerMessageDeflate::new());
    for peer in [Peer::Python, Peer::Node] {
        let report = run_client(
            peer,
            &[
                "--url",
                &server.url(),
                "--sizes",
                "16777216",
                "--compression",
                "deflate",
            ],
        );
        assert!(report.ok, "{peer:?}: {}", report.raw);
    }
    let py = support::spawn_server(Peer::Python, &["--compression", "deflate"]);
    our_client_round_trips(&py.url("/"), PerMessageDeflate::new(), &[16 << 20]);
    let node = NodeServer::start(r#"{"threshold":0}"#);
    our_client_round_trips(
        &format!("ws://127.0.0.1:{}/", node.port),
        PerMessageDeflate::new(),
        &[16 << 20],
    );
}
