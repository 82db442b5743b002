//! Helpers for the async client tests (`tests/tokio_client.rs`,
//! `tests/tokio_client_net.rs`): every wait bounded by [`WAIT`], with a
//! panic naming what was awaited; connecting with `connect_async` (the
//! stream, or the error it ends with), echoing, reading the next message
//! and closing with 1000; a `wss://` client trusting the test CA only;
//! `--cert`/`--key` arguments for the TLS peers and their "info" answer,
//! read after an echo exchange; and a raw TCP server that reports each
//! request head and writes a canned answer, with helpers for redirect
//! answers and header checks.
//!
//! Needs `mod support; mod support_tls; mod support_wss;` next to
//! `mod support_async;`.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::timeout;

use wsstack::handshake::Response;
use wsstack::tls::TlsClientConfig;
use wsstack::tokio::{MaybeTlsStream, WebSocketStream};
use wsstack::{ClientBuilder, CloseCode, Error, Message};

use crate::support_tls::{Issued, Pki};

/// Bounds every wait on the network in the async client tests.
pub const WAIT: Duration = Duration::from_secs(30);

/// The handshake timeout of the timeout tests, and how long past it
/// they may take at most.
pub const SHORT: Duration = Duration::from_millis(200);
pub const QUICK: Duration = Duration::from_secs(5);

/// The async client's stream, plain or TLS.
pub type Ws = WebSocketStream<MaybeTlsStream>;

/// `work`, or a panic naming `what` once [`WAIT`] has passed.
pub async fn within<T>(what: &str, work: impl Future<Output = T>) -> T {
    timeout(WAIT, work)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {WAIT:?}"))
}

/// Connect (bounded), panicking with the error's text on failure.
pub async fn connect(builder: &ClientBuilder, what: &str) -> (Ws, Response) {
    within(what, builder.connect_async())
        .await
        .unwrap_or_else(|e| panic!("{what}: {e} ({e:?})"))
}

/// The error a connection attempt ends with (bounded).
pub async fn connect_err(builder: &ClientBuilder, what: &str) -> Error {
    match within(what, builder.connect_async()).await {
        Ok((_, response)) => panic!("{what}: connected ({}) instead of failing", response.status),
        Err(e) => e,
    }
}

/// A `wss://` client trusting the test CA only, with no proxy.
pub fn trusting(url: &str, pki: &Pki) -> ClientBuilder {
    ClientBuilder::new(url).no_proxy().tls(
        TlsClientConfig::new()
            .with_ca_pem(pki.ca_pem.as_bytes())
            .unwrap(),
    )
}

/// The next message (bounded); panics if the stream ends or fails.
pub async fn next_message(ws: &mut Ws) -> Message {
    match within("the next message", ws.next()).await {
        Some(Ok(message)) => message,
        Some(Err(e)) => panic!("receiving failed: {e} ({e:?})"),
        None => panic!("the stream ended: {:?}", ws.close_status()),
    }
}

/// Send `message` and expect it back (compared without printing a
/// megabyte on failure).
pub async fn echoes(ws: &mut Ws, message: Message) {
    within("send", ws.send(message.clone())).await.unwrap();
    let back = next_message(ws).await;
    assert!(back == message, "sent {message:?}, got back {back:?}");
}

/// Close with 1000 (bounded) and check the server answered 1000.
pub async fn close_normally(ws: &mut Ws, reason: &str) {
    let (code, _) = within("the close handshake", ws.close(1000, reason))
        .await
        .unwrap();
    assert_eq!(code, CloseCode::NORMAL);
    assert!(ws.next().await.is_none(), "a closed stream stays ended");
}

/// `size` bytes of a repeating, non-constant pattern.
pub fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 + 7) as u8).collect()
}

/// `--cert`/`--key` (and deflate) for the TLS peers.
pub fn tls_args(issued: &Issued, deflate: bool) -> Vec<&str> {
    let mut args = vec![
        "--cert",
        issued.cert.to_str().unwrap(),
        "--key",
        issued.key.to_str().unwrap(),
    ];
    if deflate {
        args.extend(["--compression", "deflate"]);
    }
    args
}

/// The string value of `key` in a peer's flat JSON "info" answer.
pub fn info_field(json: &str, key: &str) -> Option<String> {
    crate::support_wss::json_value(json, key).filter(|v| v != "null")
}

/// Echo text and binary with a peer, ask it for "info", close; returns
/// the info JSON.
pub async fn peer_exchange(ws: &mut Ws) -> String {
    echoes(ws, Message::from("hello over the wire")).await;
    echoes(ws, Message::Binary(payload(300_000))).await;
    within("send", ws.send("info")).await.unwrap();
    let info = match next_message(ws).await {
        Message::Text(t) => t,
        other => panic!("expected the info text, got {other:?}"),
    };
    close_normally(ws, "done").await;
    info
}

/// A raw TCP server on 127.0.0.1:0: for every connection it reads the
/// request head (up to the blank line), reports it on the channel, and
/// writes `answer(head)`, then closes; `None` holds the connection open
/// and silent until the test ends.
pub async fn raw_server(
    answer: impl Fn(&str) -> Option<Vec<u8>> + Send + Sync + 'static,
) -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let (tx, answer) = (tx.clone(), answer.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let reply = answer(&head);
                let _ = tx.send(head);
                match reply {
                    Some(reply) => {
                        let _ = tcp.write_all(&reply).await;
                        let _ = tcp.shutdown().await;
                        // Read to the client's FIN so that our close is not a reset.
                        let _ = timeout(WAIT, async {
                            while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
                        })
                        .await;
                    }
                    None => std::future::pending::<()>().await,
                }
            });
        }
    });
    (port, rx)
}

/// The next request head a raw server saw (bounded).
pub async fn next_head(heads: &mut mpsc::UnboundedReceiver<String>) -> String {
    within("a request at the raw server", heads.recv())
        .await
        .expect("the raw server ended")
}

/// A 302 answer to `location`, closing the connection.
pub fn redirect_to(location: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// The request head, with header names lower-cased, has `name: value`.
pub fn has_header(head: &str, name: &str, value: &str) -> bool {
    head.lines().any(|line| {
        line.split_once(':')
            .is_some_and(|(n, v)| n.trim().eq_ignore_ascii_case(name) && v.trim() == value)
    })
}
