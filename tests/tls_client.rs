//! The one-call client (`wsstack::connect`, `ClientBuilder`) against real
//! third-party servers, plain and TLS: Python `websockets` (ssl context
//! from generated PEM files) and Node `ws` (https.createServer); deflate
//! offered and agreed; Basic auth from the URL; redirects; and each
//! certificate failure named (wrong host, unknown CA, expired), against
//! the peers or our own `TlsServerConfig`.
//!
//! Certificates are generated at test time (`support_tls::Pki`). Peer
//! programs: `tests/peers/py_tls_server.py`, `tests/peers/node_tls_server.js`.

mod support;
mod support_tls;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use support_tls::{spawn_peer, Pki, TlsPeer, IO_TIMEOUT};
use wsstack::client::{ClientError, MaybeTlsStream};
use wsstack::connection::Config;
use wsstack::handshake::{HandshakeError, ServerConfig};
use wsstack::tls::{TlsClientConfig, TlsError, TlsServerConfig};
use wsstack::{ClientBuilder, Connection, Error, Message};

/// Trusts the test CA only; never uses a proxy from the environment.
fn client(url: &str, pki: &Pki) -> ClientBuilder {
    ClientBuilder::new(url)
        .no_proxy()
        .tls(TlsClientConfig::new().with_ca_file(&pki.ca).unwrap())
        .read_timeout(Some(IO_TIMEOUT))
        .write_timeout(Some(IO_TIMEOUT))
}

fn tls_args(issued: &support_tls::Issued, deflate: bool) -> Vec<&str> {
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

/// The string value of `key` in a flat JSON object (`None` for null).
fn json_field(json: &str, key: &str) -> Option<String> {
    let at = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    let body = rest.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

/// Echo text and binary (large enough to span TLS records), then ask
/// the peer what it saw; close; return the peer's "info" answer.
fn exchange(conn: &mut Connection<MaybeTlsStream>) -> String {
    conn.send("hello over the wire").unwrap();
    assert_eq!(
        conn.recv().unwrap(),
        Some(Message::Text("hello over the wire".into()))
    );
    let blob: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    conn.send(blob.clone()).unwrap();
    assert_eq!(conn.recv().unwrap(), Some(Message::Binary(blob)));
    conn.send("info").unwrap();
    let info = match conn.recv().unwrap() {
        Some(Message::Text(t)) => t,
        other => panic!("expected the info text, got {other:?}"),
    };
    let (code, _) = conn.close(1000, "done").unwrap();
    assert_eq!(code, 1000);
    info
}

#[test]
fn wss_to_python_and_node_with_deflate_agreed() {
    let pki = Pki::new();
    for peer in [TlsPeer::Python, TlsPeer::Node] {
        let server = spawn_peer(peer, &tls_args(&pki.server, true));
        for host in ["127.0.0.1", "localhost"] {
            let url = format!("wss://{host}:{}/echo", server.port);
            let (mut conn, response) = client(&url, &pki)
                .subprotocol("chat")
                .origin("https://app.example")
                .header("X-Test", "42")
                .connect()
                .unwrap_or_else(|e| panic!("{peer:?} {url}: {e}"));
            assert!(conn.get_ref().is_tls());
            let agreed = response.header("Sec-WebSocket-Extensions").unwrap_or("");
            assert!(
                agreed.contains("permessage-deflate"),
                "{peer:?}: {agreed:?}"
            );
            let info = exchange(&mut conn);
            assert_eq!(
                json_field(&info, "extensions")
                    .as_deref()
                    .map(|e| e.contains("permessage-deflate")),
                Some(true),
                "{peer:?}: {info}"
            );
            assert_eq!(
                json_field(&info, "origin").as_deref(),
                Some("https://app.example")
            );
            assert_eq!(json_field(&info, "x_test").as_deref(), Some("42"), "{info}");
            assert!(
                info.contains("\"tls\": true") || info.contains("\"tls\":true"),
                "{info}"
            );
        }
    }
}

#[test]
fn ws_one_call_connect_to_python_and_node() {
    for peer in [TlsPeer::Python, TlsPeer::Node] {
        let server = spawn_peer(peer, &["--compression", "deflate"]);
        let url = format!("ws://127.0.0.1:{}/", server.port);
        let (mut conn, response) = wsstack::connect(&url).unwrap();
        assert!(!conn.get_ref().is_tls());
        let agreed = response.header("Sec-WebSocket-Extensions").unwrap_or("");
        assert!(
            agreed.contains("permessage-deflate"),
            "{peer:?}: {agreed:?}"
        );
        conn.get_ref().set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let info = exchange(&mut conn);
        assert!(json_field(&info, "offered_extensions").is_some(), "{info}");

        // The deflate switch: nothing offered, nothing agreed.
        let (mut conn, response) = ClientBuilder::new(&url)
            .no_proxy()
            .deflate(false)
            .read_timeout(Some(IO_TIMEOUT))
            .connect()
            .unwrap();
        assert_eq!(response.header("Sec-WebSocket-Extensions"), None);
        let info = exchange(&mut conn);
        assert_eq!(json_field(&info, "offered_extensions"), None, "{info}");
    }
}

#[test]
fn wss_one_call_connect_names_the_unknown_issuer() {
    // The default roots (Mozilla's) do not include the test CA.
    let pki = Pki::new();
    let server = spawn_peer(TlsPeer::Python, &tls_args(&pki.server, false));
    let err = wsstack::connect(&format!("wss://127.0.0.1:{}/", server.port)).unwrap_err();
    match &err {
        Error::Tls(TlsError::UnknownIssuer { host }) => assert_eq!(host, "127.0.0.1"),
        other => panic!("expected UnknownIssuer, got {other:?}"),
    }
    assert!(
        err.to_string().contains("unknown certificate authority"),
        "{err}"
    );
    // Trusting the CA in addition to the default roots works.
    let tls = TlsClientConfig::new()
        .add_ca_pem(pki.ca_pem.as_bytes())
        .unwrap();
    let (mut conn, _) = ClientBuilder::new(format!("wss://127.0.0.1:{}/", server.port))
        .no_proxy()
        .tls(tls)
        .read_timeout(Some(IO_TIMEOUT))
        .connect()
        .unwrap();
    exchange(&mut conn);
    // Another CA only: still unknown.
    let tls = TlsClientConfig::new()
        .with_ca_pem(pki.other_ca_pem.as_bytes())
        .unwrap();
    let err = ClientBuilder::new(format!("wss://127.0.0.1:{}/", server.port))
        .no_proxy()
        .tls(tls)
        .connect()
        .unwrap_err();
    assert!(
        matches!(err, Error::Tls(TlsError::UnknownIssuer { .. })),
        "{err:?}"
    );
}

#[test]
fn wrong_host_name_is_named_and_dangerous_switch_accepts_it() {
    let pki = Pki::new();
    for peer in [TlsPeer::Python, TlsPeer::Node] {
        let server = spawn_peer(peer, &tls_args(&pki.wrong_host, false));
        let url = format!("wss://127.0.0.1:{}/", server.port);
        let err = client(&url, &pki).connect().unwrap_err();
        match &err {
            Error::Tls(TlsError::WrongHostName { host, presented }) => {
                assert_eq!(host, "127.0.0.1");
                assert_eq!(presented, &["other.example".to_owned()]);
            }
            other => panic!("{peer:?}: expected WrongHostName, got {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("not valid for 127.0.0.1") && text.contains("other.example"),
            "{text}"
        );
        let tls = TlsClientConfig::new().dangerous_disable_certificate_verification();
        let (mut conn, _) = ClientBuilder::new(&url)
            .no_proxy()
            .tls(tls)
            .read_timeout(Some(IO_TIMEOUT))
            .connect()
            .unwrap();
        exchange(&mut conn);
    }
}

#[test]
fn basic_auth_from_the_url() {
    let pki = Pki::new();
    let mut args = tls_args(&pki.server, false);
    args.extend(["--auth", "alice:s3cr:et"]);
    let server = spawn_peer(TlsPeer::Python, &args);
    let url = format!("wss://alice:s3cr%3Aet@127.0.0.1:{}/", server.port);
    let (mut conn, _) = client(&url, &pki).connect().unwrap();
    let info = exchange(&mut conn);
    // base64("alice:s3cr:et")
    assert_eq!(
        json_field(&info, "authorization").as_deref(),
        Some("Basic YWxpY2U6czNjcjpldA==")
    );
    let wrong = format!("wss://alice:nope@127.0.0.1:{}/", server.port);
    let err = client(&wrong, &pki).connect().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Handshake(HandshakeError::UnexpectedStatus { status: 401, .. })
        ),
        "{err:?}"
    );
    // Explicit credentials work as well as the URL's.
    let bare = format!("wss://127.0.0.1:{}/", server.port);
    let (mut conn, _) = client(&bare, &pki)
        .basic_auth("alice", "s3cr:et")
        .connect()
        .unwrap();
    exchange(&mut conn);
}

#[test]
fn a_redirect_is_a_clear_error_unless_followed() {
    let pki = Pki::new();
    let target = spawn_peer(TlsPeer::Python, &tls_args(&pki.server, false));
    let location = format!("wss://localhost:{}/landed", target.port);
    let mut args = tls_args(&pki.server, false);
    args.extend(["--redirect", &location]);
    let redirector = spawn_peer(TlsPeer::Python, &args);
    let url = format!("wss://127.0.0.1:{}/start", redirector.port);

    let err = client(&url, &pki).connect().unwrap_err();
    match &err {
        Error::Client(ClientError::Redirect {
            status: 302,
            location: Some(l),
        }) => assert_eq!(l, &location),
        other => panic!("expected a redirect error, got {other:?}"),
    }
    assert!(err.to_string().contains(&location), "{err}");

    let (mut conn, _) = client(&url, &pki).follow_redirects(2).connect().unwrap();
    exchange(&mut conn);

    // From wss:// to ws:// is never followed.
    let mut args = tls_args(&pki.server, false);
    let plain = format!("ws://127.0.0.1:{}/", target.port);
    args.extend(["--redirect", &plain]);
    let downgrader = spawn_peer(TlsPeer::Python, &args);
    let err = client(&format!("wss://127.0.0.1:{}/", downgrader.port), &pki)
        .follow_redirects(5)
        .connect()
        .unwrap_err();
    assert!(
        matches!(err, Error::Client(ClientError::BadRedirect { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("plaintext"), "{err}");

    // A loop ends at the bound.
    let mut args = tls_args(&pki.server, false);
    let self_url = "/again".to_owned();
    args.extend(["--redirect", &self_url]);
    let looper = spawn_peer(TlsPeer::Python, &args);
    let err = client(&format!("wss://127.0.0.1:{}/", looper.port), &pki)
        .follow_redirects(3)
        .connect()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Client(ClientError::TooManyRedirects { max: 3, .. })
        ),
        "{err:?}"
    );
}

/// Our own TLS server for one connection: TLS with `tls`, then echo one
/// message. Returns the port and the server's outcome.
fn our_server(tls: TlsServerConfig) -> (u16, JoinHandle<Result<(), String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let stream = tls
            .accept_until(tcp, Instant::now() + IO_TIMEOUT)
            .map_err(|e| e.to_string())?;
        let (mut conn, _) = Connection::accept(stream, &ServerConfig::new(), Config::default())
            .map_err(|e| e.to_string())?;
        while let Some(message) = conn.recv().map_err(|e| e.to_string())? {
            conn.send(message).map_err(|e| e.to_string())?;
        }
        Ok(())
    });
    (port, handle)
}

#[test]
fn expired_certificate_is_named_with_its_dates() {
    let pki = Pki::new();
    let tls = TlsServerConfig::from_pem_files(&pki.expired.cert, &pki.expired.key).unwrap();
    let (port, server) = our_server(tls);
    let err = client(&format!("wss://127.0.0.1:{port}/"), &pki)
        .connect()
        .unwrap_err();
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
    // Our server fails too (with our client's alert, or a reset when the
    // client closed before reading the server's whole flight).
    assert!(server.join().unwrap().is_err());
}

#[test]
fn our_tls_server_with_client_certificates() {
    let pki = Pki::new();
    let tls = TlsServerConfig::from_pem(
        pki.server.cert_pem.as_bytes(),
        pki.server.key_pem.as_bytes(),
    )
    .unwrap()
    .with_client_auth_ca_file(&pki.ca)
    .unwrap();

    // With a client certificate: accepted, and ALPN agreed http/1.1.
    let (port, server) = our_server(tls.clone());
    let with_cert = TlsClientConfig::new()
        .with_ca_file(&pki.ca)
        .unwrap()
        .with_client_cert_files(&pki.client.cert, &pki.client.key)
        .unwrap();
    let (mut conn, _) = ClientBuilder::new(format!("wss://localhost:{port}/"))
        .no_proxy()
        .tls(with_cert)
        .read_timeout(Some(IO_TIMEOUT))
        .connect()
        .unwrap();
    assert_eq!(
        conn.get_ref().tls().unwrap().alpn_protocol(),
        Some(&b"http/1.1"[..])
    );
    conn.send("with a certificate").unwrap();
    assert_eq!(
        conn.recv().unwrap(),
        Some(Message::Text("with a certificate".into()))
    );
    conn.close(1000, "").unwrap();
    server.join().unwrap().unwrap();

    // Without one: the server's refusal is a TLS error naming the alert.
    let (port, server) = our_server(tls);
    let err = client(&format!("wss://127.0.0.1:{port}/"), &pki)
        .connect()
        .unwrap_err();
    assert!(
        matches!(err, Error::Tls(TlsError::AlertReceived(_))),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("requires a client certificate"),
        "{err}"
    );
    let server_err = server.join().unwrap().unwrap_err();
    assert!(server_err.contains("no certificate"), "{server_err}");
}

#[test]
fn wss_is_never_sent_in_plaintext_and_ws_over_tls_is_refused() {
    // A plain TCP listener sees a TLS ClientHello, never an HTTP request;
    // its HTTP answer is named as not TLS.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peek = thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut first = [0u8; 3];
        tcp.read_exact(&mut first).unwrap();
        tcp.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        first
    });
    let err = ClientBuilder::new(format!("wss://127.0.0.1:{port}/"))
        .no_proxy()
        .connect()
        .unwrap_err();
    let first = peek.join().unwrap();
    assert_eq!(first[0], 0x16, "a TLS handshake record");
    assert_eq!(first[1], 0x03);
    assert!(matches!(err, Error::Tls(TlsError::NotTls(_))), "{err:?}");
    assert!(err.to_string().contains("plain ws://"), "{err}");

    // wss:// to Python's plain ws:// server, which hangs up on a TLS hello.
    let server = spawn_peer(TlsPeer::Python, &[]);
    let err = ClientBuilder::new(format!("wss://127.0.0.1:{}/", server.port))
        .no_proxy()
        .connect()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tls(TlsError::HandshakeClosed | TlsError::NotTls(_))
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("TLS"), "{err}");

    // A TLS configuration for a ws:// URL is refused before connecting.
    let err = ClientBuilder::new(format!("ws://127.0.0.1:{}/", server.port))
        .no_proxy()
        .tls(TlsClientConfig::new())
        .connect()
        .unwrap_err();
    assert!(
        matches!(err, Error::Client(ClientError::TlsForPlainUrl)),
        "{err:?}"
    );
}

#[test]
fn handshake_timeouts_name_the_stage() {
    // The kernel completes the TCP handshake; nobody ever answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    for (scheme, stage) in [("wss", "TLS handshake"), ("ws", "WebSocket handshake")] {
        let started = Instant::now();
        let err = ClientBuilder::new(format!("{scheme}://127.0.0.1:{port}/"))
            .no_proxy()
            .handshake_timeout(Some(Duration::from_millis(300)))
            .connect()
            .unwrap_err();
        match &err {
            Error::Client(ClientError::Timeout { stage: s, .. }) => assert_eq!(*s, stage),
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(err.to_string().contains("timed out"), "{err}");
    }
    drop(silent);
}

#[test]
fn connection_refused_names_the_target() {
    let port = support_tls::free_port();
    let err = ClientBuilder::new(format!("ws://127.0.0.1:{port}/"))
        .no_proxy()
        .connect()
        .unwrap_err();
    assert!(
        matches!(err, Error::Client(ClientError::Connect { .. })),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}
