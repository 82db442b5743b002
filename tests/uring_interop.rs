//! The io_uring server (feature `uring`, Linux) against third-party
//! clients: Python `websockets` and Node `ws` echo every size from 0 bytes
//! to 4 MiB, text and binary, with and without permessage-deflate, then
//! close with 1000; the server sees the extension each client agreed to.
//! Peers: `tests/peers/{py,node}_client` (a missing peer fails the test;
//! `scripts/setup-peers.sh`).
#![cfg(all(feature = "uring", target_os = "linux"))]

mod support;

use std::sync::mpsc::{self, Sender};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use support::{run_client, Peer};
use wsstack::extensions::PerMessageDeflate;
use wsstack::handshake::ServerConfig;
use wsstack::server::{Client, Handler, ServerBuilder};
use wsstack::{CloseCode, Message};

const SIZES_ARG: &str = "0,1,125,126,65535,65536,1048576,4194304";

/// Echoes, and reports each client's extensions at open and its close
/// code at the end.
struct Echo {
    events: Mutex<Sender<(Vec<String>, Option<CloseCode>)>>,
}

impl Handler for Echo {
    type Data = ();

    fn on_open(&self, client: &Client) {
        let _ = self
            .events
            .lock()
            .unwrap()
            .send((client.extensions().to_vec(), None));
    }

    fn on_message(&self, client: &Client, message: Message) {
        let _ = client.send(message);
    }

    fn on_close(&self, client: &Client, code: CloseCode, _reason: &str) {
        let _ = self
            .events
            .lock()
            .unwrap()
            .send((client.extensions().to_vec(), Some(code)));
    }
}

#[test]
fn their_clients_against_the_uring_server() {
    let (tx, rx) = mpsc::channel();
    let server = ServerBuilder::new()
        .address("127.0.0.1:0")
        .loops(2)
        .handshake(ServerConfig::new().with_extension(PerMessageDeflate::new()))
        .bind_uring()
        .unwrap();
    let (addr, handle) = (server.local_addr().unwrap(), server.handle());
    let running = thread::spawn(move || {
        server.run(Echo {
            events: Mutex::new(tx),
        })
    });
    let url = format!("ws://{addr}/");
    for peer in [Peer::Python, Peer::Node] {
        for deflate in [false, true] {
            let compression = if deflate { "deflate" } else { "none" };
            let args = [
                "--url",
                &url,
                "--sizes",
                SIZES_ARG,
                "--compression",
                compression,
            ];
            let report = run_client(peer, &args);
            assert!(report.ok, "{peer:?} deflate={deflate}: {}", report.raw);
            let wait = Duration::from_secs(20);
            let (extensions, _) = rx.recv_timeout(wait).expect("on_open");
            let want: &[&str] = if deflate {
                &["permessage-deflate"]
            } else {
                &[]
            };
            assert_eq!(extensions, want, "{peer:?} deflate={deflate}");
            let (_, code) = rx.recv_timeout(wait).expect("on_close");
            assert_eq!(code, Some(CloseCode::NORMAL), "{peer:?} deflate={deflate}");
        }
    }
    handle.shutdown();
    running.join().unwrap().unwrap();
    assert_eq!(handle.stats().accepted, 4);
}

/// `wss://` is not in the io_uring server's scope: a builder with TLS is
/// refused with a configuration error that says so.
#[cfg(feature = "tls")]
#[test]
fn tls_is_refused_with_a_clear_error() {
    let pki = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let tls = wsstack::tls::TlsServerConfig::from_pem(
        pki.cert.pem().as_bytes(),
        pki.key_pair.serialize_pem().as_bytes(),
    )
    .unwrap();
    let err = ServerBuilder::new()
        .address("127.0.0.1:0")
        .tls(tls)
        .bind_uring()
        .unwrap_err();
    assert!(
        matches!(err, wsstack::Error::Config(_)) && err.to_string().contains("TLS"),
        "{err}"
    );
}
