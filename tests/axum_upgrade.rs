//! The axum route of `examples/axum_upgrade.rs`, end to end: served by
//! `axum::serve`, upgraded by wsstack's handshake layer, driven by real
//! clients (tungstenite, Python `websockets` with and without
//! permessage-deflate, Node `ws`, and wsstack's own tokio client), and
//! refusing what the handshake layer refuses with its status.
#![cfg(feature = "tokio")]

mod support;

#[allow(dead_code)] // its `main` is not used here
#[path = "../examples/axum_upgrade.rs"]
mod example;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use futures_util::StreamExt;
use support::{run_client, Peer};
use tungstenite::Message as TMessage;
use wsstack::extensions::PerMessageDeflate;
use wsstack::handshake::{ServerConfig, WsUrl};
use wsstack::Message;

/// Bounds every wait in this file.
const WAIT: Duration = Duration::from_secs(20);

/// The example's app on 127.0.0.1:0, on its own runtime thread; the
/// server lives until the test process ends.
fn serve(handshake: ServerConfig) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, example::app(handshake))
                .await
                .unwrap();
        });
    });
    rx.recv_timeout(WAIT).expect("the axum server started")
}

#[test]
fn tungstenite_client_echoes_through_the_axum_route() {
    let addr = serve(ServerConfig::new());
    let (mut ws, response) = tungstenite::connect(format!("ws://{addr}/ws")).unwrap();
    assert_eq!(response.status(), 101);
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(WAIT)).unwrap();
    }
    for i in 0..10 {
        ws.send(TMessage::text(format!("hello {i}"))).unwrap();
        assert_eq!(ws.read().unwrap(), TMessage::text(format!("hello {i}")));
    }
    ws.send(TMessage::binary(vec![9u8; 300_000])).unwrap();
    assert_eq!(ws.read().unwrap(), TMessage::binary(vec![9u8; 300_000]));
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("close handshake: {e}"),
        }
    }
}

#[test]
fn python_and_node_clients_with_and_without_deflate() {
    let addr = serve(ServerConfig::new().with_extension(PerMessageDeflate::new()));
    let url = format!("ws://{addr}/ws");
    for peer in [Peer::Python, Peer::Node] {
        for compression in ["none", "deflate"] {
            let report = run_client(
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
            assert!(report.ok, "{peer:?} {compression}: {}", report.raw);
        }
    }
}

#[test]
fn wsstack_tokio_client_negotiates_deflate_through_axum() {
    let addr = serve(ServerConfig::new().with_extension(PerMessageDeflate::new()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let request = wsstack::handshake::ClientRequest::new(&format!("ws://{addr}/ws?room=1"))
            .unwrap()
            .with_extension(PerMessageDeflate::new());
        let connect = wsstack::tokio::connect_tcp(&request, Default::default());
        let mut ws = tokio::time::timeout(WAIT, connect).await.unwrap().unwrap();
        assert_eq!(ws.engine().extension_names(), ["permessage-deflate"]);
        let text = "compressible ".repeat(10_000);
        ws.send(text.as_str()).await.unwrap();
        let echo = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
        assert_eq!(echo.unwrap().unwrap(), Message::from(text));
        let (code, _) = ws.close(1000, "").await.unwrap();
        assert_eq!(code, 1000);
    });
}

/// Send a raw request head and read the whole response.
fn raw_exchange(addr: SocketAddr, head: &str) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.write_all(head.as_bytes()).unwrap();
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    // The server may keep the connection open: stop at the end of the body.
    while let Ok(n) = tcp.read(&mut chunk) {
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
        if String::from_utf8_lossy(&response).contains("connection.\n") {
            break;
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn refusals_come_from_the_handshake_layer() {
    let handshake = ServerConfig::new().with_allowed_origins(["https://ok.example"]);
    let addr = serve(handshake);
    let host = WsUrl::parse(&format!("ws://{addr}/"))
        .unwrap()
        .host_header();
    // A plain GET on the route: no upgrade.
    let plain = raw_exchange(addr, &format!("GET /ws HTTP/1.1\r\nHost: {host}\r\n\r\n"));
    assert!(plain.starts_with("HTTP/1.1 400"), "{plain}");
    assert!(
        plain.contains("Failed to open a WebSocket connection"),
        "{plain}"
    );
    // An old protocol version: 426 with the version we speak.
    let old = raw_exchange(
        addr,
        &format!(
            "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\
             Origin: https://ok.example\r\n\r\n"
        ),
    );
    assert!(old.starts_with("HTTP/1.1 426"), "{old}");
    assert!(
        old.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{old}"
    );
    // An origin the policy does not allow: 403, through tungstenite.
    let mut request =
        tungstenite::client::IntoClientRequest::into_client_request(format!("ws://{addr}/ws"))
            .unwrap();
    request
        .headers_mut()
        .insert("Origin", "https://evil.example".parse().unwrap());
    match tungstenite::connect(request) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
}
