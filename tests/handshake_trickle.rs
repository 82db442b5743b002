//! An upgrade request that arrives a byte at a time, on every server kind:
//! it is accepted at its blank line and the connection echoes; a head
//! that never ends is refused with 431 at the byte limit; bytes that are
//! not HTTP are refused with 400 on their first read, line break or not.
//!
//! The handshake driver decides on complete lines and on doublings of
//! what it has buffered, so a trickled head costs linear work; these
//! tests check that the servers still answer at the right byte.

mod support;
mod support_tls;
mod support_wss;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support_wss::{EchoServer, KINDS};
use wsstack::server::{ServerBuilder, ServerKind};

/// Bounds every read.
const WAIT: Duration = Duration::from_secs(20);

const REQUEST: &[u8] = b"GET /trickle HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

fn kinds() -> Vec<ServerKind> {
    let mut kinds = KINDS.to_vec();
    if cfg!(all(feature = "uring", target_os = "linux")) {
        kinds.push(ServerKind::Uring);
    }
    kinds
}

fn connect(server: &EchoServer) -> TcpStream {
    let tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp
}

/// Read until the end of a response head; returns the head.
fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tcp.read(&mut byte).expect("a response");
        assert_eq!(n, 1, "closed after {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Read until the server closes; returns everything it sent.
fn read_to_close(tcp: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            // A reset after the response still counts as closed.
            Err(e) if all.starts_with(b"HTTP/1.1") => {
                assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "no close");
                return all;
            }
            Err(e) => panic!("no response before {e}"),
        }
    }
}

#[test]
fn a_request_trickled_in_byte_by_byte_is_accepted_and_echoes() {
    for kind in kinds() {
        let server = EchoServer::start(kind, ServerBuilder::new());
        let mut tcp = connect(&server);
        for b in REQUEST {
            tcp.write_all(std::slice::from_ref(b)).unwrap();
        }
        let head = read_head(&mut tcp);
        assert!(head.starts_with("HTTP/1.1 101"), "{kind}: {head}");
        // A masked text frame "hi" (mask 1, 2, 3, 4), echoed unmasked.
        tcp.write_all(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2])
            .unwrap();
        let mut echo = [0u8; 4];
        tcp.read_exact(&mut echo).unwrap();
        assert_eq!(echo, [0x81, 2, b'h', b'i'], "{kind}");
        drop(tcp);
        server.stop();
    }
}

#[test]
fn a_head_that_never_ends_is_refused_with_431_at_the_limit() {
    for kind in kinds() {
        let builder = ServerBuilder::new().handshake_timeout(WAIT);
        let server = EchoServer::start(kind, builder);
        let mut tcp = connect(&server);
        tcp.write_all(b"GET / HTTP/1.1\r\nX-Long: ").unwrap();
        // Past the 16 KiB head limit, a few bytes per write; the server
        // may stop reading (and we stop writing) once it has refused.
        let mut sent = 0;
        while sent < 20 * 1024 {
            if tcp.write_all(b"abcd").is_err() {
                break;
            }
            sent += 4;
        }
        let reply = read_to_close(&mut tcp);
        let text = String::from_utf8_lossy(&reply);
        assert!(text.starts_with("HTTP/1.1 431"), "{kind}: {text}");
        server.stop();
    }
}

#[test]
fn bytes_that_are_not_http_are_refused_on_their_first_read() {
    for kind in kinds() {
        // A long handshake timeout: only the first read can end it in time.
        let builder = ServerBuilder::new().handshake_timeout(Duration::from_secs(60));
        let server = EchoServer::start(kind, builder);
        let mut tcp = connect(&server);
        // A TLS record header and a body without a line break.
        let mut hello = vec![0x16, 0x03, 0x01, 0x01, 0x00];
        hello.extend(std::iter::repeat_n(0x42, 256));
        tcp.write_all(&hello).unwrap();
        let reply = read_to_close(&mut tcp);
        let text = String::from_utf8_lossy(&reply);
        assert!(text.starts_with("HTTP/1.1 400"), "{kind}: {text}");
        server.stop();
    }
}
