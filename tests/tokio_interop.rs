//! The tokio driver against third-party peers (Python `websockets`, Node
//! `ws`) in both roles, with and without permessage-deflate: our
//! `WebSocketStream` client against their echo servers, their clients
//! against a `wsstack::tokio::accept` echo server and against the tokio
//! server, close codes, and `next()` dropped again and again while a peer
//! sends a large message in fragments with pings between them.
//!
//! Peers: `tests/peers/{py,node}_{server,client}` (echo) and
//! `{py,node}_conn_server` (fragments and pings, closes); see their
//! headers. A missing peer fails the test (`scripts/setup-peers.sh`).
#![cfg(feature = "tokio")]

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::thread;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use support::{
    binary_payload, run_client, spawn_peer_server, spawn_server, text_payload, Peer, PEER_TIMEOUT,
};
use tokio::net::TcpListener;
use tokio::time::timeout;
use wsstack::connection::Config;
use wsstack::extensions::PerMessageDeflate;
use wsstack::handshake::{ClientRequest, ServerConfig};
use wsstack::server::{Client, Handler, ServerBuilder};
use wsstack::{CloseCode, Message};

const SIZES: [usize; 8] = [0, 1, 125, 126, 65535, 65536, 1 << 20, 4 << 20];
const SIZES_ARG: &str = "0,1,125,126,65535,65536,1048576,4194304";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn compression(deflate: bool) -> &'static str {
    if deflate {
        "deflate"
    } else {
        "none"
    }
}

// ---- our client, their server ----

fn client_against(peer: Peer, deflate: bool) {
    let server = spawn_server(peer, &["--compression", compression(deflate)]);
    let mut request = ClientRequest::new(&server.url("/tokio")).unwrap();
    if deflate {
        request = request.with_extension(PerMessageDeflate::new());
    }
    runtime().block_on(async {
        let connect = wsstack::tokio::connect_tcp(&request, Config::default());
        let mut ws = timeout(PEER_TIMEOUT, connect).await.unwrap().unwrap();
        let names = ws.engine().extension_names().join(",");
        assert_eq!(
            names,
            if deflate { "permessage-deflate" } else { "" },
            "{peer:?}"
        );
        for size in SIZES {
            for message in [
                Message::from(text_payload(size)),
                Message::from(binary_payload(size)),
            ] {
                ws.send(message.clone()).await.unwrap();
                let echo = timeout(PEER_TIMEOUT, ws.next()).await.unwrap();
                assert_eq!(echo.unwrap().unwrap(), message, "{peer:?} size {size}");
            }
        }
        let (code, _) = timeout(PEER_TIMEOUT, ws.close(1000, "done"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(code, CloseCode::NORMAL, "{peer:?}");
    });
}

#[test]
fn tokio_client_against_python() {
    client_against(Peer::Python, false);
}

#[test]
fn tokio_client_against_python_with_deflate() {
    client_against(Peer::Python, true);
}

#[test]
fn tokio_client_against_node() {
    client_against(Peer::Node, false);
}

#[test]
fn tokio_client_against_node_with_deflate() {
    client_against(Peer::Node, true);
}

/// Their server closes with a code and reason: our stream ends with
/// `None` and reports them.
#[test]
fn peer_close_codes_reach_the_stream() {
    for peer in [Peer::Python, Peer::Node] {
        let server = spawn_server(peer, &["--mode", "close"]);
        runtime().block_on(async {
            let mut ws = wsstack::tokio::connect_url(&server.url("/")).await.unwrap();
            ws.send("close:4003:going away now").await.unwrap();
            assert!(timeout(PEER_TIMEOUT, ws.next()).await.unwrap().is_none());
            assert_eq!(
                ws.close_status(),
                Some((CloseCode::new(4003), "going away now")),
                "{peer:?}"
            );
        });
    }
}

// ---- their client, our server ----

/// An echo server on `wsstack::tokio::accept`, on its own runtime thread.
fn accept_echo_server(deflate: bool) -> (std::net::SocketAddr, thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = thread::spawn(move || {
        runtime().block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            // One client per test run.
            let (tcp, _) = timeout(PEER_TIMEOUT, listener.accept())
                .await
                .unwrap()
                .unwrap();
            tcp.set_nodelay(true).unwrap();
            let mut handshake = ServerConfig::new();
            if deflate {
                handshake = handshake.with_extension(PerMessageDeflate::new());
            }
            let mut ws = wsstack::tokio::accept(tcp, &handshake, Config::default())
                .await
                .unwrap();
            while let Some(message) = timeout(PEER_TIMEOUT, ws.next()).await.unwrap() {
                ws.feed(message.unwrap()).await.unwrap();
                ws.flush().await.unwrap();
            }
            assert_eq!(ws.close_status().unwrap().0, CloseCode::NORMAL);
        });
    });
    (rx.recv_timeout(PEER_TIMEOUT).unwrap(), thread)
}

fn their_client_against_accept(peer: Peer, deflate: bool) {
    let (addr, server) = accept_echo_server(deflate);
    let url = format!("ws://{addr}/echo");
    let report = run_client(
        peer,
        &[
            "--url",
            &url,
            "--sizes",
            SIZES_ARG,
            "--compression",
            compression(deflate),
        ],
    );
    assert!(report.ok, "{peer:?} client: {}", report.raw);
    server.join().unwrap();
}

#[test]
fn python_client_against_tokio_accept() {
    their_client_against_accept(Peer::Python, false);
}

#[test]
fn python_client_against_tokio_accept_with_deflate() {
    their_client_against_accept(Peer::Python, true);
}

#[test]
fn node_client_against_tokio_accept() {
    their_client_against_accept(Peer::Node, false);
}

#[test]
fn node_client_against_tokio_accept_with_deflate() {
    their_client_against_accept(Peer::Node, true);
}

struct Echo;

impl Handler for Echo {
    type Data = ();
    fn on_message(&self, client: &Client, message: Message) {
        let _ = client.send(message);
    }
}

/// Both peers' clients against the tokio server, with and without
/// permessage-deflate offered.
#[test]
fn their_clients_against_the_tokio_server() {
    let server = ServerBuilder::new()
        .address("127.0.0.1:0")
        .loops(2)
        .handshake(ServerConfig::new().with_extension(PerMessageDeflate::new()))
        .bind_tokio()
        .unwrap();
    let (addr, handle) = (server.local_addr().unwrap(), server.handle());
    let running = thread::spawn(move || server.run(Echo));
    let url = format!("ws://{addr}/");
    for peer in [Peer::Python, Peer::Node] {
        for deflate in [false, true] {
            let args = [
                "--url",
                &url,
                "--sizes",
                SIZES_ARG,
                "--compression",
                compression(deflate),
            ];
            let report = run_client(peer, &args);
            assert!(report.ok, "{peer:?} deflate={deflate}: {}", report.raw);
        }
    }
    handle.shutdown();
    running.join().unwrap().unwrap();
    assert_eq!(handle.stats().accepted, 4);
}

// ---- cancellation against a real peer ----

/// The peer sends a 4 MB message in 128 fragments with a ping after each;
/// we poll a `next()` future once and drop it, again and again,
/// mid-message. The message arrives whole, and every ping was answered
/// along the way (the peer reports the pongs it got).
fn dropped_next_against(peer: Peer) {
    const SIZE: usize = 4_000_000;
    let server = spawn_peer_server(peer, "conn_server", &[]);
    runtime().block_on(async {
        let mut ws = wsstack::tokio::connect_url(&server.url("/")).await.unwrap();
        ws.send(format!("fragments:text:{SIZE}:128")).await.unwrap();
        let mut dropped = 0u32;
        let deadline = tokio::time::Instant::now() + PEER_TIMEOUT;
        let message = loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{peer:?}: no message"
            );
            // One poll of a `next()` future: it reads what has arrived,
            // and is dropped if the message is not complete yet.
            let polled = std::future::poll_fn(|cx| {
                let mut next = ws.next();
                Poll::Ready(Pin::new(&mut next).poll(cx))
            })
            .await;
            match polled {
                Poll::Pending => dropped += 1,
                Poll::Ready(item) => break item.unwrap().unwrap(),
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        assert_eq!(message, Message::from(text_payload(SIZE)), "{peer:?}");
        // 4 MB cannot sit in the socket buffers at once: the peer had to
        // wait for our reads, so some of them were in dropped futures.
        assert!(dropped >= 2, "{peer:?}: only {dropped} futures dropped");
        let pongs = timeout(PEER_TIMEOUT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(pongs, Message::from("pongs:127"), "{peer:?}");
        SinkExt::close(&mut ws).await.unwrap();
        while let Some(item) = timeout(PEER_TIMEOUT, ws.next()).await.unwrap() {
            item.unwrap();
        }
    });
}

#[test]
fn dropped_next_loses_nothing_against_python() {
    dropped_next_against(Peer::Python);
}

#[test]
fn dropped_next_loses_nothing_against_node() {
    dropped_next_against(Peer::Node);
}
