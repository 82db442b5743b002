//! The proxy named by environment variables (`http_proxy`, `https_proxy`,
//! `all_proxy`, `no_proxy`, and their upper-case forms), through a real
//! tinyproxy. A separate test binary with a single test, because it sets
//! process-wide environment variables.

mod support;
mod support_tls;

use support_tls::{free_port, spawn_peer, spawn_tinyproxy, Pki, TempDir, TlsPeer, IO_TIMEOUT};
use wsstack::client::ClientError;
use wsstack::tls::TlsClientConfig;
use wsstack::{ClientBuilder, Error, Message};

const VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

fn set_only(vars: &[(&str, &str)]) {
    for name in VARS {
        std::env::remove_var(name);
    }
    for (name, value) in vars {
        std::env::set_var(name, value);
    }
}

fn round_trip(builder: ClientBuilder) {
    let (mut conn, _) = builder
        .read_timeout(Some(IO_TIMEOUT))
        .connect()
        .unwrap_or_else(|e| panic!("connect: {e}"));
    conn.send("env").unwrap();
    assert_eq!(conn.recv().unwrap(), Some(Message::Text("env".into())));
    conn.close(1000, "").unwrap();
}

#[test]
fn proxy_from_the_environment() {
    let pki = Pki::new();
    let dir = TempDir::new("proxy-env");
    let plain = spawn_peer(TlsPeer::Python, &[]);
    let secure = spawn_peer(
        TlsPeer::Python,
        &[
            "--cert",
            pki.server.cert.to_str().unwrap(),
            "--key",
            pki.server.key.to_str().unwrap(),
        ],
    );
    let proxy = spawn_tinyproxy(
        &dir,
        &[plain.port, secure.port],
        Some(("envuser", "envpass")),
    );
    let with_auth = format!("http://envuser:envpass@127.0.0.1:{}", proxy.port);
    let nothing_there = format!("http://127.0.0.1:{}", free_port());
    let ws_url = format!("ws://127.0.0.1:{}/", plain.port);
    let wss_url = format!("wss://127.0.0.1:{}/", secure.port);
    let tls = || TlsClientConfig::new().with_ca_file(&pki.ca).unwrap();

    // ws:// uses http_proxy, with the credentials from its URL.
    set_only(&[("http_proxy", &with_auth), ("https_proxy", &nothing_there)]);
    round_trip(ClientBuilder::new(&ws_url));
    proxy.wait_for_line(&format!("CONNECT 127.0.0.1:{}", plain.port));
    // One call does the same.
    let (mut conn, _) = wsstack::connect(&ws_url).unwrap();
    conn.close(1000, "").unwrap();

    // wss:// uses HTTPS_PROXY (upper case), not http_proxy.
    set_only(&[("HTTPS_PROXY", &with_auth), ("http_proxy", &nothing_there)]);
    round_trip(ClientBuilder::new(&wss_url).tls(tls()));
    proxy.wait_for_line(&format!("CONNECT 127.0.0.1:{}", secure.port));

    // all_proxy when the scheme's own variable is unset.
    set_only(&[("all_proxy", &with_auth)]);
    round_trip(ClientBuilder::new(&wss_url).tls(tls()));

    // The proxy named is really used: one with nothing listening fails,
    // naming the proxy's address.
    set_only(&[("http_proxy", &nothing_there)]);
    let err = ClientBuilder::new(&ws_url).connect().unwrap_err();
    assert!(
        matches!(err, Error::Client(ClientError::Connect { ref target, .. }) if nothing_there.ends_with(target.as_str())),
        "{err:?}"
    );

    // no_proxy / NO_PROXY bypass it; so does .no_proxy().
    set_only(&[
        ("http_proxy", &nothing_there),
        ("no_proxy", "example.com,127.0.0.1"),
    ]);
    round_trip(ClientBuilder::new(&ws_url));
    set_only(&[("HTTPS_PROXY", &nothing_there), ("NO_PROXY", "127.0.0.0/8")]);
    round_trip(ClientBuilder::new(&wss_url).tls(tls()));
    set_only(&[
        ("http_proxy", &nothing_there),
        ("all_proxy", &nothing_there),
    ]);
    round_trip(ClientBuilder::new(&ws_url).no_proxy());

    // Without credentials in the variable, the proxy's 407 is named.
    set_only(&[("http_proxy", &format!("127.0.0.1:{}", proxy.port))]);
    let err = ClientBuilder::new(&ws_url).connect().unwrap_err();
    assert!(
        matches!(err, Error::Client(ClientError::ProxyAuthRequired { .. })),
        "{err:?}"
    );
    set_only(&[]);
}
