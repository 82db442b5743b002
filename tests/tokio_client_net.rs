//! The async client's network paths (`ClientBuilder::connect_async`),
//! as `tests/proxy.rs` and `tests/tls_client.rs` check the blocking
//! client's: a real tinyproxy (`ws://` and `wss://` tunnels, a refused
//! port, proxy Basic auth) and raw proxies that never answer or answer
//! garbage; redirects from a raw server (refused, followed, looping,
//! credentials kept to the same host and port, no Location, `wss://` to
//! `ws://`); handshake timeouts naming their stage (a silent server, and
//! one silent after the TLS handshake) and a refused connection naming
//! its target; and the request settings (credentials from the URL,
//! origin, headers, subprotocols) as our server's request hook sees them.
//!
//! The echo, TLS and certificate tests are in `tests/tokio_client.rs`;
//! the helpers both use are in `tests/support_async/mod.rs`.
//!
//! Every wait is bounded with `tokio::time::timeout`; a missing peer
//! (Python, tinyproxy) fails the test. Peer program:
//! `tests/peers/py_tls_server.py`.
#![cfg(all(feature = "tokio", feature = "tls"))]

mod support;
mod support_async;
mod support_tls;
mod support_wss;

use std::sync::mpsc as std_mpsc;
use std::time::Instant;

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use support_async::{
    close_normally, connect, connect_err, echoes, has_header, info_field, next_head, payload,
    peer_exchange, raw_server, redirect_to, tls_args, trusting, within, QUICK, SHORT, WAIT,
};
use support_tls::{spawn_peer, spawn_tinyproxy, Pki, TempDir, TlsPeer};
use support_wss::{tls_builder, EchoServer, Seen};
use wsstack::client::ClientError;
use wsstack::handshake::{BasicAuth, HandshakeError, ServerConfig};
use wsstack::server::{ServerBuilder, ServerKind};
use wsstack::tls::{TlsClientConfig, TlsServerConfig};
use wsstack::{ClientBuilder, Error, Message};

/// Through a real tinyproxy: `ws://` (deflate agreed end to end) and
/// `wss://` (TLS inside the tunnel, verified for the target's name); a
/// port the proxy does not allow is its 403, named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_and_wss_through_tinyproxy() {
    let pki = Pki::new();
    let dir = TempDir::new("tokio-proxy");
    let plain = spawn_peer(TlsPeer::Python, &["--compression", "deflate"]);
    let secure = EchoServer::start(ServerKind::Tokio, tls_builder(&pki, true));
    let proxy = spawn_tinyproxy(&dir, &[plain.port, secure.port()], None);
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);

    let builder = ClientBuilder::new(format!("ws://127.0.0.1:{}/", plain.port)).proxy(&proxy_url);
    let (mut ws, response) = connect(&builder, "ws:// through tinyproxy").await;
    assert!(!ws.get_ref().is_tls());
    assert!(response
        .header("Sec-WebSocket-Extensions")
        .unwrap_or("")
        .contains("permessage-deflate"));
    proxy.wait_for_line(&format!("CONNECT 127.0.0.1:{}", plain.port));
    let info = peer_exchange(&mut ws).await;
    assert_eq!(info_field(&info, "tls").as_deref(), Some("false"), "{info}");

    let builder = ClientBuilder::new(format!("wss://localhost:{}/", secure.port()))
        .proxy(format!("127.0.0.1:{}", proxy.port))
        .tls(TlsClientConfig::new().with_ca_file(&pki.ca).unwrap());
    let (mut ws, response) = connect(&builder, "wss:// through tinyproxy").await;
    assert!(ws.get_ref().is_tls());
    assert!(response
        .header("Sec-WebSocket-Extensions")
        .unwrap_or("")
        .contains("permessage-deflate"));
    proxy.wait_for_line(&format!("CONNECT localhost:{}", secure.port()));
    echoes(&mut ws, Message::from("through the tunnel")).await;
    echoes(&mut ws, Message::Binary(payload(200_000))).await;
    close_normally(&mut ws, "tunnel done").await;
    assert_eq!(secure.closes(1), [(1000, "tunnel done".to_owned())]);

    // A port the proxy does not allow: its refusal is named.
    let builder = ClientBuilder::new(format!("ws://127.0.0.1:{}/", proxy.port)).proxy(&proxy_url);
    let err = connect_err(&builder, "a refused port").await;
    match &err {
        Error::Client(ClientError::ProxyRefused {
            proxy: p, status, ..
        }) => {
            assert_eq!(*status, 403);
            assert_eq!(p, &format!("127.0.0.1:{}", proxy.port));
        }
        other => panic!("expected ProxyRefused, got {other:?}"),
    }
    assert!(err.to_string().contains("refused the tunnel: 403"), "{err}");
}

/// tinyproxy with Basic auth: no credentials and wrong ones are named
/// apart; percent-encoded right ones open the tunnel.
#[tokio::test]
async fn proxy_basic_auth_with_tinyproxy() {
    let dir = TempDir::new("tokio-proxy-auth");
    let server = spawn_peer(TlsPeer::Python, &[]);
    let proxy = spawn_tinyproxy(&dir, &[server.port], Some(("user", "pa.ss")));
    let url = format!("ws://127.0.0.1:{}/", server.port);

    let builder = ClientBuilder::new(&url).proxy(format!("http://127.0.0.1:{}", proxy.port));
    let err = connect_err(&builder, "no proxy credentials").await;
    assert!(
        matches!(
            err,
            Error::Client(ClientError::ProxyAuthRequired {
                credentials_sent: false,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("requires authentication (407)"),
        "{err}"
    );

    let builder =
        ClientBuilder::new(&url).proxy(format!("http://user:wrong@127.0.0.1:{}", proxy.port));
    let err = connect_err(&builder, "wrong proxy credentials").await;
    assert!(
        matches!(
            err,
            Error::Client(ClientError::ProxyAuthRequired {
                credentials_sent: true,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("refused the credentials"), "{err}");

    let builder =
        ClientBuilder::new(&url).proxy(format!("http://user:pa%2Ess@127.0.0.1:{}", proxy.port));
    let (mut ws, _) = connect(&builder, "right proxy credentials").await;
    peer_exchange(&mut ws).await;
}

/// Raw proxies: one that answers garbage is named malformed; one that
/// never answers is the "proxy CONNECT" timeout; a 407 from a raw proxy
/// is ProxyAuthRequired, and the CONNECT it saw carried our credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_proxies_misbehaving() {
    let (garbage, mut heads) = raw_server(|_| Some("SSH-2.0-OpenSSH_9.2\r\n\r\n".into())).await;
    let builder = ClientBuilder::new("ws://127.0.0.1:9/").proxy(format!("127.0.0.1:{garbage}"));
    let err = connect_err(&builder, "a garbage proxy").await;
    assert!(
        matches!(&err, Error::Client(ClientError::ProxyMalformed { proxy, .. }) if proxy == &format!("127.0.0.1:{garbage}")),
        "{err:?}"
    );
    assert!(err.to_string().contains("malformed HTTP"), "{err}");
    let head = next_head(&mut heads).await;
    assert!(
        head.starts_with("CONNECT 127.0.0.1:9 HTTP/1.1\r\n"),
        "{head}"
    );

    let (silent, _silent_heads) = raw_server(|_| None).await;
    let started = Instant::now();
    let builder = ClientBuilder::new("ws://127.0.0.1:9/")
        .proxy(format!("127.0.0.1:{silent}"))
        .handshake_timeout(Some(SHORT));
    let err = connect_err(&builder, "a silent proxy").await;
    assert!(
        started.elapsed() >= SHORT && started.elapsed() < QUICK,
        "{:?}",
        started.elapsed()
    );
    match &err {
        Error::Client(ClientError::Timeout { stage, after }) => {
            assert_eq!(*stage, "proxy CONNECT");
            assert_eq!(*after, SHORT);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }

    let (auth, mut heads) = raw_server(|_| {
        Some("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n".into())
    })
    .await;
    let builder = ClientBuilder::new("wss://localhost:9/")
        .proxy(format!("http://al%20ice:p%40ss@127.0.0.1:{auth}"));
    let err = connect_err(&builder, "a 407 proxy").await;
    assert!(
        matches!(
            err,
            Error::Client(ClientError::ProxyAuthRequired {
                status: 407,
                credentials_sent: true,
                ..
            })
        ),
        "{err:?}"
    );
    let head = next_head(&mut heads).await;
    assert!(
        head.starts_with("CONNECT localhost:9 HTTP/1.1\r\n"),
        "{head}"
    );
    // base64("al ice:p@ss")
    assert!(
        has_header(&head, "Proxy-Authorization", "Basic YWwgaWNlOnBAc3M="),
        "{head}"
    );
}

/// A raw server answering 302 to our echo server: an error naming the
/// location unless followed; followed, the echo works; a loop ends at the
/// bound; from `wss://` to `ws://` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects() {
    let target = EchoServer::start(ServerKind::Tokio, ServerBuilder::new());
    let location = format!("ws://127.0.0.1:{}/landed", target.port());
    let answer = redirect_to(&location);
    let (port, mut heads) = raw_server(move |_| Some(answer.clone())).await;
    let url = format!("ws://127.0.0.1:{port}/start");

    let err = connect_err(&ClientBuilder::new(&url).no_proxy(), "not followed").await;
    match &err {
        Error::Client(ClientError::Redirect {
            status: 302,
            location: Some(l),
        }) => assert_eq!(l, &location),
        other => panic!("expected a redirect error, got {other:?}"),
    }
    assert!(err.to_string().contains(&location), "{err}");
    assert!(next_head(&mut heads)
        .await
        .starts_with("GET /start HTTP/1.1\r\n"));

    let builder = ClientBuilder::new(&url).no_proxy().follow_redirects(1);
    let (mut ws, response) = connect(&builder, "followed").await;
    assert_eq!(response.status, 101);
    assert!(next_head(&mut heads)
        .await
        .starts_with("GET /start HTTP/1.1\r\n"));
    echoes(&mut ws, Message::from("after a redirect")).await;
    close_normally(&mut ws, "").await;
    assert!(matches!(target.next_seen(), Seen::Opened { .. }));
    assert_eq!(target.closes(1), [(1000, String::new())]);

    // A redirect to itself, with a relative location, ends at the bound.
    let (looper, mut loop_heads) = raw_server(|_| Some(redirect_to("/again"))).await;
    let builder = ClientBuilder::new(format!("ws://127.0.0.1:{looper}/"))
        .no_proxy()
        .follow_redirects(2);
    let err = connect_err(&builder, "a loop").await;
    assert!(
        matches!(&err, Error::Client(ClientError::TooManyRedirects { max: 2, location }) if location.ends_with("/again")),
        "{err:?}"
    );
    for path in ["/", "/again", "/again"] {
        let head = next_head(&mut loop_heads).await;
        assert!(
            head.starts_with(&format!("GET {path} HTTP/1.1\r\n")),
            "{head}"
        );
    }

    // Credentials go on to the same host and port only; an http://
    // location is followed as ws://.
    let (elsewhere, mut elsewhere_heads) =
        raw_server(|_| Some("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".into())).await;
    let away = redirect_to(&format!("http://127.0.0.1:{elsewhere}/elsewhere"));
    let (first, mut first_heads) = raw_server(move |head| {
        Some(if head.starts_with("GET /start ") {
            redirect_to("/same-host")
        } else {
            away.clone()
        })
    })
    .await;
    let builder = ClientBuilder::new(format!("ws://alice:pw@127.0.0.1:{first}/start"))
        .no_proxy()
        .follow_redirects(2);
    let err = connect_err(&builder, "redirected elsewhere").await;
    assert!(
        matches!(
            err,
            Error::Handshake(HandshakeError::UnexpectedStatus { status: 403, .. })
        ),
        "{err:?}"
    );
    // base64("alice:pw")
    for path in ["/start", "/same-host"] {
        let head = next_head(&mut first_heads).await;
        assert!(
            head.starts_with(&format!("GET {path} HTTP/1.1\r\n")),
            "{head}"
        );
        assert!(
            has_header(&head, "Authorization", "Basic YWxpY2U6cHc="),
            "{head}"
        );
    }
    let head = next_head(&mut elsewhere_heads).await;
    assert!(head.starts_with("GET /elsewhere HTTP/1.1\r\n"), "{head}");
    assert!(has_header(&head, "Upgrade", "websocket"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("authorization"),
        "credentials sent to another port: {head}"
    );

    // A redirect without a Location cannot be followed.
    let (nowhere, _) =
        raw_server(|_| Some("HTTP/1.1 301 Moved Permanently\r\nContent-Length: 0\r\n\r\n".into()))
            .await;
    let builder = ClientBuilder::new(format!("ws://127.0.0.1:{nowhere}/"))
        .no_proxy()
        .follow_redirects(3);
    let err = connect_err(&builder, "no Location").await;
    assert!(
        matches!(
            err,
            Error::Client(ClientError::Redirect {
                status: 301,
                location: None
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("without a Location"), "{err}");

    // From wss:// (Python, redirecting) to ws:// is never followed.
    let pki = Pki::new();
    let mut args = tls_args(&pki.server, false);
    args.extend(["--redirect", &location]);
    let downgrader = spawn_peer(TlsPeer::Python, &args);
    let builder =
        trusting(&format!("wss://127.0.0.1:{}/", downgrader.port), &pki).follow_redirects(5);
    let err = connect_err(&builder, "wss to ws").await;
    assert!(
        matches!(err, Error::Client(ClientError::BadRedirect { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("plaintext"), "{err}");
    // ... while without following it is the plain redirect error.
    let builder = trusting(&format!("wss://127.0.0.1:{}/", downgrader.port), &pki);
    let err = connect_err(&builder, "wss redirect not followed").await;
    assert!(
        matches!(&err, Error::Client(ClientError::Redirect { status: 302, location: Some(l) }) if l == &location),
        "{err:?}"
    );
}

/// A listener that the kernel completes TCP handshakes for and that never
/// answers: the handshake timeout ends each attempt quickly, naming the
/// stage.
#[tokio::test]
async fn handshake_timeouts_name_the_stage() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    for (scheme, stage) in [("ws", "WebSocket handshake"), ("wss", "TLS handshake")] {
        let started = Instant::now();
        let builder = ClientBuilder::new(format!("{scheme}://127.0.0.1:{port}/"))
            .no_proxy()
            .handshake_timeout(Some(SHORT));
        let err = connect_err(&builder, scheme).await;
        let took = started.elapsed();
        assert!(took >= SHORT && took < QUICK, "{scheme}: took {took:?}");
        match &err {
            Error::Client(ClientError::Timeout { stage: s, after }) => {
                assert_eq!(*s, stage);
                assert_eq!(*after, SHORT);
            }
            other => panic!("{scheme}: expected a timeout, got {other:?}"),
        }
        assert!(
            err.to_string()
                .contains(&format!("{stage} timed out after 200ms")),
            "{err}"
        );
    }
    drop(silent);

    // Nobody listening: the refusal names the target.
    let port = support_tls::free_port();
    let builder = ClientBuilder::new(format!("ws://127.0.0.1:{port}/")).no_proxy();
    let err = connect_err(&builder, "refused").await;
    assert!(
        matches!(err, Error::Client(ClientError::Connect { .. })),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

/// What our server's request hook saw of one request.
#[derive(Debug, Default, PartialEq)]
struct Saw {
    authorization: Option<String>,
    origin: Option<String>,
    x_test: Option<String>,
    protocols: Option<String>,
}

/// Our server requiring Basic auth, its request hook reporting the
/// headers; `wss` with the test certificate when `pki` is given.
fn auth_server(pki: Option<&Pki>) -> (EchoServer, std_mpsc::Receiver<Saw>) {
    let (tx, rx) = std_mpsc::channel();
    let handshake = ServerConfig::new()
        .with_basic_auth(BasicAuth::single_user("test", "alice", "s3cr:et"))
        .with_subprotocols(["chat.v2"])
        .with_request_hook(move |request| {
            let get = |name: &str| request.header(name).map(str::to_owned);
            let _ = tx.send(Saw {
                authorization: get("Authorization"),
                origin: get("Origin"),
                x_test: get("X-Test"),
                protocols: get("Sec-WebSocket-Protocol"),
            });
            Ok(())
        });
    let mut builder = ServerBuilder::new().handshake(handshake);
    if let Some(pki) = pki {
        builder = builder
            .tls(TlsServerConfig::from_pem_files(&pki.server.cert, &pki.server.key).unwrap());
    }
    (EchoServer::start(ServerKind::Tokio, builder), rx)
}

fn saw(rx: &std_mpsc::Receiver<Saw>) -> Saw {
    rx.recv_timeout(WAIT).expect("the request hook saw nothing")
}

/// Credentials from `ws://user:pass@host/` (percent-decoded), from
/// `basic_auth`, and over `wss://`, with the origin, an extra header and
/// subprotocols, as our server's request hook sees them; wrong ones are
/// the server's 401.
#[tokio::test]
async fn basic_auth_and_request_settings_reach_the_server() {
    // base64("alice:s3cr:et")
    const GOOD: &str = "Basic YWxpY2U6czNjcjpldA==";
    let (server, seen) = auth_server(None);
    let url = format!("ws://alice:s3cr%3Aet@127.0.0.1:{}/", server.port());
    let builder = ClientBuilder::new(&url)
        .no_proxy()
        .origin("https://app.example")
        .header("X-Test", "42")
        .subprotocols(["chat.v3", "chat.v2"]);
    let (mut ws, response) = connect(&builder, "credentials in the URL").await;
    assert_eq!(
        saw(&seen),
        Saw {
            authorization: Some(GOOD.into()),
            origin: Some("https://app.example".into()),
            x_test: Some("42".into()),
            protocols: Some("chat.v3, chat.v2".into()),
        }
    );
    assert_eq!(response.header("Sec-WebSocket-Protocol"), Some("chat.v2"));
    assert_eq!(ws.subprotocol(), Some("chat.v2"));
    echoes(&mut ws, Message::from("authenticated")).await;
    close_normally(&mut ws, "").await;

    // Wrong credentials: the 401 (the hook runs after the built-in auth
    // check, so it sees nothing).
    let wrong = format!("ws://alice:nope@127.0.0.1:{}/", server.port());
    let err = connect_err(&ClientBuilder::new(&wrong).no_proxy(), "wrong credentials").await;
    assert!(
        matches!(
            err,
            Error::Handshake(HandshakeError::UnexpectedStatus { status: 401, .. })
        ),
        "{err:?}"
    );
    let err = connect_err(
        &ClientBuilder::new(format!("ws://127.0.0.1:{}/", server.port())).no_proxy(),
        "no credentials",
    )
    .await;
    assert!(
        matches!(
            err,
            Error::Handshake(HandshakeError::UnexpectedStatus { status: 401, .. })
        ),
        "{err:?}"
    );

    // Explicit credentials win over the URL's.
    let builder = ClientBuilder::new(&wrong)
        .no_proxy()
        .basic_auth("alice", "s3cr:et");
    let (mut ws, _) = connect(&builder, "basic_auth()").await;
    assert_eq!(saw(&seen).authorization.as_deref(), Some(GOOD));
    close_normally(&mut ws, "").await;
    assert!(seen.try_recv().is_err(), "one request per connection");

    // The same over wss://.
    let pki = Pki::new();
    let (secure, seen) = auth_server(Some(&pki));
    let url = format!("wss://alice:s3cr%3Aet@localhost:{}/", secure.port());
    let (mut ws, _) = connect(&trusting(&url, &pki), "wss:// with credentials").await;
    assert!(ws.get_ref().is_tls());
    assert_eq!(saw(&seen).authorization.as_deref(), Some(GOOD));
    echoes(&mut ws, Message::from("authenticated over TLS")).await;
    close_normally(&mut ws, "").await;
}
/// A TLS server (tokio-rustls, the test certificate) that completes the
/// TLS handshake and then never answers the upgrade: over `wss://` the
/// timeout names the WebSocket handshake, after the TLS one succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_timeout_after_tls_names_the_websocket_handshake() {
    let pki = Pki::new();
    let tls = TlsServerConfig::from_pem_files(&pki.server.cert, &pki.server.key).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.to_rustls());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let _ = done_tx.send(());
        // Read the upgrade request and never answer it.
        let mut buf = [0u8; 4096];
        while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let started = Instant::now();
    let builder =
        trusting(&format!("wss://localhost:{port}/"), &pki).handshake_timeout(Some(SHORT));
    let err = connect_err(&builder, "silent after TLS").await;
    let took = started.elapsed();
    assert!(took >= SHORT && took < QUICK, "took {took:?}");
    within("the TLS handshake at the server", done.recv())
        .await
        .expect("the server's TLS handshake did not complete");
    match &err {
        Error::Client(ClientError::Timeout { stage, after }) => {
            assert_eq!(*stage, "WebSocket handshake");
            assert_eq!(*after, SHORT);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}
