//! Our server handshake + FrameSocket against third-party clients, and our
//! client against third-party servers: Python `websockets`, Node `ws` and
//! tungstenite.

mod support;

use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use support::{binary_payload, run_client, spawn_server, text_payload, Peer};
use wsstack::frame::{Frame, OpCode};
use wsstack::handshake::{BasicAuth, ClientRequest, ServerConfig};
use wsstack::Error;
use wsstack::FrameSocket;

const SIZES: [usize; 6] = [0, 125, 126, 65535, 65536, 1 << 20];
const SIZES_ARG: &str = "0,125,126,65535,65536,1048576";

/// Frame-level echo of one connection: data frames back as they came,
/// pings answered, a close echoed. Returns how many data frames it echoed.
fn echo_frames(tcp: TcpStream, config: &ServerConfig) -> Result<usize, Error> {
    tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
    let (mut ws, _req) = FrameSocket::accept(tcp, config)?;
    let mut echoed = 0;
    loop {
        let frame = ws.recv()?;
        match frame.opcode {
            OpCode::Ping => ws.send(&Frame::pong(frame.payload))?,
            OpCode::Pong => {}
            OpCode::Close => {
                let code = frame.close_code_and_reason().map_or(1000, |(c, _)| c);
                ws.send(&Frame::close(code, ""))?;
                return Ok(echoed);
            }
            _ => {
                ws.send(&Frame {
                    mask: None,
                    ..frame
                })?;
                echoed += 1;
            }
        }
    }
}

/// Serve `connections` connections, one after another, on a port-0
/// listener; the join handle yields each connection's result.
fn our_server(
    config: ServerConfig,
    connections: usize,
) -> (String, JoinHandle<Vec<Result<usize, Error>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/echo", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        (0..connections)
            .map(|_| {
                let (tcp, _) = listener.accept()?;
                echo_frames(tcp, &config)
            })
            .collect()
    });
    (url, handle)
}

fn peer_client_against_our_server(peer: Peer) {
    let (url, server) = our_server(ServerConfig::new(), 1);
    let report = run_client(peer, &["--url", &url, "--sizes", SIZES_ARG]);
    assert!(report.ok, "{peer:?} client: {}", report.raw);
    let results = server.join().unwrap();
    assert_eq!(results[0].as_ref().unwrap(), &(SIZES.len() * 2));
}

#[test]
fn python_client_round_trips_through_our_server() {
    peer_client_against_our_server(Peer::Python);
}

#[test]
fn node_client_round_trips_through_our_server() {
    peer_client_against_our_server(Peer::Node);
}

/// Our client: send each size as text and binary, expect identical echoes.
fn our_client_round_trips(url: &str) {
    let request = ClientRequest::new(url).unwrap();
    let tcp = TcpStream::connect(request.address()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let (mut ws, _) = FrameSocket::connect(tcp, &request).unwrap();
    for size in SIZES {
        let text = text_payload(size);
        ws.send(&Frame::text(text.clone())).unwrap();
        let echo = ws.recv().unwrap();
        assert_eq!((echo.opcode, echo.fin), (OpCode::Text, true));
        assert!(
            echo.payload == text.as_bytes(),
            "text echo of {size} bytes differs"
        );

        let bin = binary_payload(size);
        ws.send(&Frame::binary(bin.clone())).unwrap();
        let echo = ws.recv().unwrap();
        assert_eq!(echo.opcode, OpCode::Binary);
        assert!(echo.payload == bin, "binary echo of {size} bytes differs");
    }
    ws.send(&Frame::close(1000, "done")).unwrap();
    let reply = ws.recv().unwrap();
    assert_eq!(reply.opcode, OpCode::Close);
    assert_eq!(reply.close_code_and_reason().map(|(c, _)| c), Some(1000));
}

#[test]
fn our_client_round_trips_through_python_server() {
    let server = spawn_server(Peer::Python, &[]);
    our_client_round_trips(&server.url("/x?y=1"));
}

#[test]
fn our_client_round_trips_through_node_server() {
    let server = spawn_server(Peer::Node, &[]);
    our_client_round_trips(&server.url("/"));
}

#[test]
fn rejected_origin_is_seen_by_peers_as_403() {
    for peer in [Peer::Python, Peer::Node] {
        let config = ServerConfig::new().with_allowed_origins(["http://good.example"]);
        let (url, server) = our_server(config, 2);
        let bad = run_client(
            peer,
            &[
                "--url",
                &url,
                "--sizes",
                "5",
                "--origin",
                "http://evil.example",
            ],
        );
        assert_eq!(
            (bad.ok, bad.status),
            (false, Some(403)),
            "{peer:?}: {}",
            bad.raw
        );
        let good = run_client(
            peer,
            &[
                "--url",
                &url,
                "--sizes",
                "5",
                "--origin",
                "http://good.example",
            ],
        );
        assert!(good.ok, "{peer:?}: {}", good.raw);
        let results = server.join().unwrap();
        assert!(matches!(results[0], Err(Error::Handshake(_))));
        assert_eq!(results[1].as_ref().unwrap(), &2);
    }
}

#[test]
fn failed_basic_auth_is_seen_by_peers_as_401() {
    for peer in [Peer::Python, Peer::Node] {
        let config =
            ServerConfig::new().with_basic_auth(BasicAuth::single_user("test", "alice", "s3cret"));
        let (url, server) = our_server(config, 3);
        let none = run_client(peer, &["--url", &url, "--sizes", "1"]);
        assert_eq!(
            (none.ok, none.status),
            (false, Some(401)),
            "{peer:?}: {}",
            none.raw
        );
        let wrong = run_client(
            peer,
            &[
                "--url",
                &url,
                "--sizes",
                "1",
                "--user",
                "alice",
                "--password",
                "guess",
            ],
        );
        assert_eq!(
            (wrong.ok, wrong.status),
            (false, Some(401)),
            "{peer:?}: {}",
            wrong.raw
        );
        let right = run_client(
            peer,
            &[
                "--url",
                &url,
                "--sizes",
                "1",
                "--user",
                "alice",
                "--password",
                "s3cret",
            ],
        );
        assert!(right.ok, "{peer:?}: {}", right.raw);
        server.join().unwrap();
    }
}

#[test]
fn tungstenite_client_and_server_interoperate() {
    use tungstenite::Message;
    // tungstenite client -> our server.
    let (url, server) = our_server(ServerConfig::new(), 1);
    let (mut client, _) = tungstenite::connect(url.as_str()).unwrap();
    for size in SIZES {
        client.send(Message::text(text_payload(size))).unwrap();
        assert_eq!(client.read().unwrap(), Message::text(text_payload(size)));
        client.send(Message::binary(binary_payload(size))).unwrap();
        assert_eq!(
            client.read().unwrap(),
            Message::binary(binary_payload(size))
        );
    }
    client.close(None).unwrap();
    while client.read().is_ok() {}
    assert_eq!(
        server.join().unwrap()[0].as_ref().unwrap(),
        &(SIZES.len() * 2)
    );

    // Our client -> tungstenite echo server.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = tungstenite::accept(tcp).unwrap();
        loop {
            match ws.read() {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => ws.send(m).unwrap(),
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => return,
                Err(e) => panic!("tungstenite server: {e}"),
            }
        }
    });
    our_client_round_trips(&url);
    server.join().unwrap();
}
