//! The async client (`ClientBuilder::connect_async`,
//! `wsstack::tokio::connect_url`) against real peers, as
//! `tests/tls_client.rs` checks the blocking one: `wss://` echo with our
//! own TLS servers (every server kind, with and without
//! permessage-deflate, a 1 MiB message, the close code the server saw),
//! `wss://` to Python `websockets` and Node `ws`, `connect_url` to them
//! over `ws://` (deflate offered by default, nothing offered without it),
//! each certificate failure named (unknown issuer, wrong host, expired,
//! client certificate required), `wss://` to a plain server refused as
//! not TLS; and a message sent in the same write as the 101, not lost.
//!
//! The network paths (proxies, redirects, handshake timeouts, request
//! settings) are in `tests/tokio_client_net.rs`; the helpers both use are
//! in `tests/support_async/mod.rs`.
//!
//! Every wait is bounded with `tokio::time::timeout`; a missing peer
//! (Python, Node) fails the test. Peer programs:
//! `tests/peers/py_tls_server.py`, `tests/peers/node_tls_server.js`.
#![cfg(all(feature = "tokio", feature = "tls"))]

mod support;
mod support_async;
mod support_tls;
mod support_wss;

use std::time::Instant;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::timeout;

use support_async::{
    close_normally, connect, connect_err, echoes, info_field, next_message, payload, peer_exchange,
    raw_server, tls_args, trusting, within, QUICK, WAIT,
};
use support_tls::{spawn_peer, Pki, TlsPeer};
use support_wss::{tls_builder, EchoServer, Seen};
use wsstack::client::ClientError;
use wsstack::server::{ServerBuilder, ServerKind};
use wsstack::tls::{TlsClientConfig, TlsError, TlsServerConfig};
use wsstack::tokio::MaybeTlsStream;
use wsstack::{ClientBuilder, CloseCode, Error, Message};

/// Echo over `wss://` with our own servers, every kind, with and without
/// permessage-deflate: text and binary, 1 MiB of each, and the server's
/// handler sees our 1000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_echo_with_our_servers_with_and_without_deflate() {
    let pki = Pki::new();
    for kind in [
        ServerKind::EventLoop,
        ServerKind::Threaded,
        ServerKind::Tokio,
    ] {
        for deflate in [false, true] {
            let what = format!("{kind} deflate={deflate}");
            let server = EchoServer::start(kind, tls_builder(&pki, deflate));
            let url = format!("wss://localhost:{}/echo", server.port());
            // The client offers deflate by default; `deflate(false)` offers nothing.
            let mut builder = ClientBuilder::new(&url)
                .no_proxy()
                .tls(TlsClientConfig::new().with_ca_file(&pki.ca).unwrap());
            if !deflate {
                builder = builder.deflate(false);
            }
            let (mut ws, response) = connect(&builder, &what).await;
            assert_eq!(response.status, 101, "{what}");
            assert!(ws.get_ref().is_tls(), "{what}");
            assert_eq!(ws.response().map(|r| r.status), Some(101), "{what}");
            let agreed = response.header("Sec-WebSocket-Extensions");
            if deflate {
                assert!(
                    agreed.is_some_and(|a| a.starts_with("permessage-deflate")),
                    "{what}: {agreed:?}"
                );
                assert_eq!(
                    ws.engine().extension_names(),
                    ["permessage-deflate"],
                    "{what}"
                );
            } else {
                assert_eq!(agreed, None, "{what}");
                assert!(ws.engine().extension_names().is_empty(), "{what}");
            }
            let expected: Vec<String> = if deflate {
                vec!["permessage-deflate".into()]
            } else {
                Vec::new()
            };
            assert_eq!(
                server.next_seen(),
                Seen::Opened {
                    extensions: expected
                },
                "{what}"
            );

            echoes(&mut ws, Message::from("hello, wss")).await;
            echoes(&mut ws, Message::Binary(payload(1000))).await;
            let mib_text: String = "wsstack over tokio-rustls "
                .chars()
                .cycle()
                .take(1 << 20)
                .collect();
            echoes(&mut ws, Message::Text(mib_text)).await;
            echoes(&mut ws, Message::Binary(payload(1 << 20))).await;
            echoes(&mut ws, Message::from("")).await;
            close_normally(&mut ws, "done").await;
            assert_eq!(server.closes(1), [(1000, "done".to_owned())], "{what}");
            let stats = server.stop();
            assert_eq!(stats.refused, 0, "{what}: {stats:?}");
        }
    }
}

/// `wss://` to Python `websockets` and Node `ws`, by IP and by name:
/// deflate agreed, and origin, header, subprotocol and TLS as the peer saw
/// them.
#[tokio::test]
async fn wss_to_python_and_node_peers() {
    let pki = Pki::new();
    for peer in [TlsPeer::Python, TlsPeer::Node] {
        let mut args = tls_args(&pki.server, true);
        if matches!(peer, TlsPeer::Python) {
            args.extend(["--subprotocol", "chat"]);
        }
        let server = spawn_peer(peer, &args);
        for host in ["127.0.0.1", "localhost"] {
            let what = format!("{peer:?} {host}");
            let url = format!("wss://{host}:{}/echo", server.port);
            let builder = trusting(&url, &pki)
                .subprotocol("chat")
                .origin("https://app.example")
                .header("X-Test", "42");
            let (mut ws, response) = connect(&builder, &what).await;
            assert!(ws.get_ref().is_tls(), "{what}");
            assert_eq!(ws.subprotocol(), Some("chat"), "{what}");
            let agreed = response.header("Sec-WebSocket-Extensions").unwrap_or("");
            assert!(agreed.contains("permessage-deflate"), "{what}: {agreed:?}");
            assert_eq!(ws.engine().extension_names(), ["permessage-deflate"]);
            let info = peer_exchange(&mut ws).await;
            assert!(
                info_field(&info, "extensions").is_some_and(|e| e.contains("permessage-deflate")),
                "{what}: {info}"
            );
            assert_eq!(
                info_field(&info, "origin").as_deref(),
                Some("https://app.example"),
                "{what}: {info}"
            );
            assert_eq!(info_field(&info, "x_test").as_deref(), Some("42"), "{info}");
            assert_eq!(info_field(&info, "tls").as_deref(), Some("true"), "{info}");
        }
    }
}

/// `connect_url` to plain `ws://` peers: deflate offered by default; and
/// `deflate(false)` offers nothing.
#[tokio::test]
async fn connect_url_to_python_and_node_over_ws() {
    for peer in [TlsPeer::Python, TlsPeer::Node] {
        let server = spawn_peer(peer, &["--compression", "deflate"]);
        let url = format!("ws://127.0.0.1:{}/", server.port);
        let mut ws = within("connect_url", wsstack::tokio::connect_url(&url))
            .await
            .unwrap_or_else(|e| panic!("{peer:?}: {e}"));
        assert!(!ws.get_ref().is_tls());
        let agreed = ws
            .response()
            .and_then(|r| r.header("Sec-WebSocket-Extensions"))
            .unwrap_or("");
        assert!(
            agreed.contains("permessage-deflate"),
            "{peer:?}: {agreed:?}"
        );
        let info = peer_exchange(&mut ws).await;
        assert!(
            info_field(&info, "offered_extensions")
                .is_some_and(|e| e.contains("permessage-deflate")),
            "{peer:?}: {info}"
        );

        let builder = ClientBuilder::new(&url).no_proxy().deflate(false);
        let (mut ws, response) = connect(&builder, "no deflate").await;
        assert_eq!(response.header("Sec-WebSocket-Extensions"), None);
        let info = peer_exchange(&mut ws).await;
        assert_eq!(
            info_field(&info, "offered_extensions"),
            None,
            "{peer:?}: {info}"
        );
    }
}

/// The default roots (Mozilla's) do not hold the test CA: `connect_url`
/// names the unknown issuer; the test CA added to them works; another CA
/// alone is still unknown.
#[tokio::test]
async fn unknown_issuer_is_named() {
    let pki = Pki::new();
    let server = EchoServer::start(ServerKind::Tokio, tls_builder(&pki, false));
    let url = format!("wss://127.0.0.1:{}/", server.port());
    let err = within("connect_url", wsstack::tokio::connect_url(&url))
        .await
        .unwrap_err();
    match &err {
        Error::Tls(TlsError::UnknownIssuer { host }) => assert_eq!(host, "127.0.0.1"),
        other => panic!("expected UnknownIssuer, got {other:?}"),
    }
    assert!(
        err.to_string().contains("unknown certificate authority"),
        "{err}"
    );

    let tls = TlsClientConfig::new()
        .add_ca_pem(pki.ca_pem.as_bytes())
        .unwrap();
    let builder = ClientBuilder::new(&url).no_proxy().tls(tls);
    let (mut ws, _) = connect(&builder, "default roots and the test CA").await;
    echoes(&mut ws, Message::from("trusted")).await;
    close_normally(&mut ws, "").await;

    let tls = TlsClientConfig::new()
        .with_ca_pem(pki.other_ca_pem.as_bytes())
        .unwrap();
    let err = connect_err(&ClientBuilder::new(&url).no_proxy().tls(tls), "another CA").await;
    assert!(
        matches!(&err, Error::Tls(TlsError::UnknownIssuer { host }) if host == "127.0.0.1"),
        "{err:?}"
    );
    assert!(
        matches!(&err, Error::Tls(tls) if tls.is_certificate_error()),
        "{err:?}"
    );
}

/// A certificate for other.example, reached as `localhost` and as
/// 127.0.0.1 (our server and the peers): the host and the names it is
/// for are named; turning verification off connects.
#[tokio::test]
async fn wrong_host_name_is_named() {
    let pki = Pki::new();
    let tls = TlsServerConfig::from_pem_files(&pki.wrong_host.cert, &pki.wrong_host.key).unwrap();
    let ours = EchoServer::start(ServerKind::Tokio, ServerBuilder::new().tls(tls));
    let python = spawn_peer(TlsPeer::Python, &tls_args(&pki.wrong_host, false));
    let node = spawn_peer(TlsPeer::Node, &tls_args(&pki.wrong_host, false));
    for (what, port, host) in [
        ("ours", ours.port(), "localhost"),
        ("ours", ours.port(), "127.0.0.1"),
        ("python", python.port, "localhost"),
        ("node", node.port, "127.0.0.1"),
    ] {
        let url = format!("wss://{host}:{port}/");
        let err = connect_err(&trusting(&url, &pki), what).await;
        match &err {
            Error::Tls(TlsError::WrongHostName { host: h, presented }) => {
                assert_eq!(h, host, "{what}");
                assert_eq!(presented, &["other.example".to_owned()], "{what}");
            }
            other => panic!("{what} {host}: expected WrongHostName, got {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains(&format!("not valid for {host}")) && text.contains("other.example"),
            "{text}"
        );

        let tls = TlsClientConfig::new().dangerous_disable_certificate_verification();
        let builder = ClientBuilder::new(&url).no_proxy().tls(tls);
        let (mut ws, _) = connect(&builder, "verification off").await;
        echoes(&mut ws, Message::from("anyway")).await;
        close_normally(&mut ws, "").await;
    }
}

/// An expired certificate is named with its date.
#[tokio::test]
async fn expired_certificate_is_named() {
    let pki = Pki::new();
    let tls = TlsServerConfig::from_pem_files(&pki.expired.cert, &pki.expired.key).unwrap();
    let server = EchoServer::start(ServerKind::EventLoop, ServerBuilder::new().tls(tls));
    let url = format!("wss://127.0.0.1:{}/", server.port());
    let err = connect_err(&trusting(&url, &pki), "expired").await;
    match &err {
        Error::Tls(TlsError::CertificateExpired { host, detail }) => {
            assert_eq!(host, "127.0.0.1");
            assert!(
                detail.as_deref().unwrap_or("").contains("2021-01-01"),
                "{detail:?}"
            );
        }
        other => panic!("expected CertificateExpired, got {other:?}"),
    }
    assert!(err.to_string().contains("has expired"), "{err}");
}

/// A server requiring client certificates: ours (from files) is accepted;
/// without one, the server's alert is a TLS error naming it (TLS 1.3
/// delivers it after the client's handshake, during the upgrade).
#[tokio::test]
async fn client_certificates() {
    let pki = Pki::new();
    let tls = TlsServerConfig::from_pem(
        pki.server.cert_pem.as_bytes(),
        pki.server.key_pem.as_bytes(),
    )
    .unwrap()
    .with_client_auth_ca_file(&pki.ca)
    .unwrap();
    let server = EchoServer::start(ServerKind::Tokio, ServerBuilder::new().tls(tls));
    let url = format!("wss://localhost:{}/", server.port());

    let with_cert = TlsClientConfig::new()
        .with_ca_file(&pki.ca)
        .unwrap()
        .with_client_cert_files(&pki.client.cert, &pki.client.key)
        .unwrap();
    let builder = ClientBuilder::new(&url).no_proxy().tls(with_cert);
    let (mut ws, _) = connect(&builder, "with a client certificate").await;
    match ws.get_ref() {
        MaybeTlsStream::Tls(tls) => {
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]))
        }
        other => panic!("not TLS: {other:?}"),
    }
    echoes(&mut ws, Message::from("with a certificate")).await;
    close_normally(&mut ws, "").await;
    assert_eq!(server.closes(1), [(1000, String::new())]);

    let err = connect_err(&trusting(&url, &pki), "without a client certificate").await;
    assert!(
        matches!(err, Error::Tls(TlsError::AlertReceived(_))),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("requires a client certificate"),
        "{err}"
    );
}

/// `wss://` to servers that do not speak TLS ends at once with a TLS
/// error, never a hang: a raw server answering HTTP, our plain server,
/// Python's plain server. A TLS configuration for `ws://` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_to_plain_servers_is_a_tls_error() {
    // A listener that answers HTTP as soon as the first bytes arrive.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let peek = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut first = [0u8; 3];
        tcp.read_exact(&mut first).await.unwrap();
        tcp.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await
            .unwrap();
        // Keep the connection until the client has read the answer.
        let mut rest = [0u8; 1024];
        let _ = timeout(WAIT, async {
            while matches!(tcp.read(&mut rest).await, Ok(n) if n > 0) {}
        })
        .await;
        first
    });
    let started = Instant::now();
    let builder = ClientBuilder::new(format!("wss://127.0.0.1:{port}/")).no_proxy();
    let err = connect_err(&builder, "wss:// to an HTTP answer").await;
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    let first = within("the raw listener", peek).await.unwrap();
    assert_eq!(first, [0x16, 0x03, first[2]], "a TLS handshake record");
    assert!(matches!(err, Error::Tls(TlsError::NotTls(_))), "{err:?}");
    assert!(err.to_string().contains("plain ws://"), "{err}");

    // Our own plain servers and Python's.
    let python = spawn_peer(TlsPeer::Python, &[]);
    let ours = EchoServer::start(ServerKind::EventLoop, ServerBuilder::new());
    let threaded = EchoServer::start(ServerKind::Threaded, ServerBuilder::new());
    let tokio_server = EchoServer::start(ServerKind::Tokio, ServerBuilder::new());
    for (what, port) in [
        ("python", python.port),
        ("event-loop", ours.port()),
        ("threaded", threaded.port()),
        ("tokio", tokio_server.port()),
    ] {
        let started = Instant::now();
        let builder = ClientBuilder::new(format!("wss://127.0.0.1:{port}/")).no_proxy();
        let err = connect_err(&builder, what).await;
        assert!(
            started.elapsed() < QUICK,
            "{what}: took {:?} ({err})",
            started.elapsed()
        );
        assert!(
            matches!(
                err,
                Error::Tls(TlsError::HandshakeClosed | TlsError::NotTls(_))
            ),
            "{what}: {err:?}"
        );
        assert!(err.to_string().contains("TLS"), "{what}: {err}");
    }

    let builder = ClientBuilder::new(format!("ws://127.0.0.1:{}/", ours.port()))
        .no_proxy()
        .tls(TlsClientConfig::new());
    let err = connect_err(&builder, "tls for ws://").await;
    assert!(
        matches!(err, Error::Client(ClientError::TlsForPlainUrl)),
        "{err:?}"
    );
}
/// A server that answers the 101 and a first message in one write: the
/// message, read with the response, is the stream's first item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_with_the_101_is_not_lost() {
    let (port, _heads) = raw_server(|head| {
        let key = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("Sec-WebSocket-Key")
                .then(|| value.trim().to_owned())
        })?;
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            wsstack::handshake::accept_key(&key)
        );
        // An unmasked text frame, "early", then a Close 1000.
        let mut answer = answer.into_bytes();
        answer.extend_from_slice(b"\x81\x05early\x88\x02\x03\xe8");
        Some(answer)
    })
    .await;
    let builder = ClientBuilder::new(format!("ws://127.0.0.1:{port}/")).no_proxy();
    let (mut ws, response) = connect(&builder, "101 with a frame").await;
    assert_eq!(response.status, 101);
    assert_eq!(next_message(&mut ws).await, Message::from("early"));
    assert!(within("the end", ws.next()).await.is_none());
    assert_eq!(ws.close_status(), Some((CloseCode::NORMAL, "")));
}
