//! The one-call client drives its own timers: a server that never answers
//! pings, and one that stops in the middle of a message, each end the
//! client's `recv()` within its deadline with a clear error.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use wsstack::connection::{Config, ProtocolError};
use wsstack::handshake::accept_key;
use wsstack::{ClientBuilder, Error};

/// A server that answers the upgrade, sends `after` (raw frame bytes),
/// then reads and discards everything and answers nothing (no pong, no
/// Close), until the client goes away.
fn silent_server(after: Vec<u8>) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if tcp.read(&mut byte).unwrap_or(0) == 0 {
                return;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_string();
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap_or_default()
            .trim()
            .to_owned();
        let reply = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(&key)
        );
        tcp.write_all(reply.as_bytes()).unwrap();
        tcp.write_all(&after).unwrap();
        let mut sink = [0u8; 4096];
        while matches!(tcp.read(&mut sink), Ok(n) if n > 0) {}
    });
    (url, handle)
}

fn close(
    handle: thread::JoinHandle<()>,
    conn: wsstack::Connection<wsstack::client::MaybeTlsStream>,
) {
    drop(conn);
    handle.join().unwrap();
}

#[test]
fn a_server_that_never_answers_pings_fails_recv_with_a_pong_timeout() {
    let (url, server) = silent_server(Vec::new());
    let config =
        Config::default().with_ping(Some(Duration::from_millis(100)), Duration::from_millis(200));
    let (mut conn, _) = ClientBuilder::new(&url)
        .no_proxy()
        .config(config)
        .connect()
        .unwrap();
    let start = Instant::now();
    let result = conn.recv();
    let took = start.elapsed();
    assert!(
        matches!(result, Err(Error::Protocol(ProtocolError::PongTimeout))),
        "expected the keepalive to fail, got {result:?}"
    );
    assert!(
        took < Duration::from_secs(2),
        "recv() took {took:?}; the ping is due at 100 ms and its pong by 300 ms"
    );
    let (code, _) = conn.close_status().expect("a close status");
    assert_eq!(code, 1011);
    close(server, conn);
}

#[test]
fn a_server_that_stops_mid_message_times_out_recv() {
    // The first fragment of a text message, then silence.
    let mut fragment = vec![0x01, 5];
    fragment.extend_from_slice(b"hello");
    let (url, server) = silent_server(fragment);
    let (mut conn, _) = ClientBuilder::new(&url)
        .no_proxy()
        .read_timeout(Some(Duration::from_millis(300)))
        .connect()
        .unwrap();
    let start = Instant::now();
    let result = conn.recv();
    let took = start.elapsed();
    match &result {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}"),
        other => panic!("expected a read timeout, got {other:?}"),
    }
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "recv() took {took:?} with a 300 ms read timeout"
    );
    close(server, conn);
}

#[test]
fn an_unanswered_close_ends_within_the_close_timeout() {
    let (url, server) = silent_server(Vec::new());
    let config = Config::default().with_close_timeout(Duration::from_millis(300));
    let (mut conn, _) = ClientBuilder::new(&url)
        .no_proxy()
        .config(config)
        .connect()
        .unwrap();
    let start = Instant::now();
    let (code, _) = conn.close(1000, "bye").unwrap();
    let took = start.elapsed();
    assert_eq!(code, 1006, "the server never answered the Close");
    assert!(
        took < Duration::from_secs(2),
        "close() took {took:?} with a 300 ms close timeout"
    );
    close(server, conn);
}
