//! The client through a real HTTP CONNECT proxy (Debian's tinyproxy, run
//! by each test with its own configuration on a free loopback port):
//! `ws://` and `wss://` tunnelled to Python `websockets` servers, a port
//! the proxy does not allow, and proxy Basic authentication (407 without
//! or with wrong credentials). The proxy from environment variables is
//! tested in `tests/proxy_env.rs`.

mod support;
mod support_tls;

use support_tls::{spawn_peer, spawn_tinyproxy, Pki, TempDir, TlsPeer, IO_TIMEOUT};
use wsstack::client::{ClientError, MaybeTlsStream};
use wsstack::tls::TlsClientConfig;
use wsstack::{ClientBuilder, Connection, Error, Message};

fn echo(conn: &mut Connection<MaybeTlsStream>) {
    conn.send("through the tunnel").unwrap();
    assert_eq!(
        conn.recv().unwrap(),
        Some(Message::Text("through the tunnel".into()))
    );
    assert_eq!(conn.close(1000, "").unwrap().0, 1000);
}

#[test]
fn ws_and_wss_through_tinyproxy() {
    let pki = Pki::new();
    let dir = TempDir::new("proxy");
    let plain = spawn_peer(TlsPeer::Python, &["--compression", "deflate"]);
    let secure = spawn_peer(
        TlsPeer::Python,
        &[
            "--cert",
            pki.server.cert.to_str().unwrap(),
            "--key",
            pki.server.key.to_str().unwrap(),
        ],
    );
    let proxy = spawn_tinyproxy(&dir, &[plain.port, secure.port], None);
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);

    let (mut conn, response) = ClientBuilder::new(format!("ws://127.0.0.1:{}/", plain.port))
        .proxy(&proxy_url)
        .read_timeout(Some(IO_TIMEOUT))
        .connect()
        .unwrap();
    assert!(response
        .header("Sec-WebSocket-Extensions")
        .unwrap_or("")
        .contains("permessage-deflate"));
    proxy.wait_for_line(&format!("CONNECT 127.0.0.1:{}", plain.port));
    echo(&mut conn);

    // TLS runs end to end inside the tunnel, verified for the target host.
    let (mut conn, _) = ClientBuilder::new(format!("wss://localhost:{}/", secure.port))
        .proxy(format!("127.0.0.1:{}", proxy.port))
        .tls(TlsClientConfig::new().with_ca_file(&pki.ca).unwrap())
        .read_timeout(Some(IO_TIMEOUT))
        .connect()
        .unwrap();
    assert!(conn.get_ref().is_tls());
    proxy.wait_for_line(&format!("CONNECT localhost:{}", secure.port));
    echo(&mut conn);

    // A port the proxy does not allow: its refusal is named.
    let err = ClientBuilder::new(format!("ws://127.0.0.1:{}/", proxy.port))
        .proxy(&proxy_url)
        .connect()
        .unwrap_err();
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

#[test]
fn proxy_basic_auth() {
    let dir = TempDir::new("proxy-auth");
    let server = spawn_peer(TlsPeer::Python, &[]);
    let proxy = spawn_tinyproxy(&dir, &[server.port], Some(("user", "pa.ss")));
    let url = format!("ws://127.0.0.1:{}/", server.port);

    let err = ClientBuilder::new(&url)
        .proxy(format!("http://127.0.0.1:{}", proxy.port))
        .connect()
        .unwrap_err();
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

    let err = ClientBuilder::new(&url)
        .proxy(format!("http://user:wrong@127.0.0.1:{}", proxy.port))
        .connect()
        .unwrap_err();
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

    // Percent-encoded credentials are decoded before they are sent.
    let (mut conn, _) = ClientBuilder::new(&url)
        .proxy(format!("http://user:pa%2Ess@127.0.0.1:{}", proxy.port))
        .read_timeout(Some(IO_TIMEOUT))
        .connect()
        .unwrap();
    echo(&mut conn);
}

#[test]
fn an_unusable_proxy_setting_is_named() {
    let err = ClientBuilder::new("ws://127.0.0.1:9/")
        .proxy("socks5://127.0.0.1:1080")
        .connect()
        .unwrap_err();
    assert!(
        matches!(err, Error::Client(ClientError::InvalidProxy(_))),
        "{err:?}"
    );
    assert!(err.to_string().contains("only http:// proxies"), "{err}");
}
