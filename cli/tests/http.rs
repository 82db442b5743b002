//! The plain-HTTP side of `wsstack serve`, on the WebSocket's port: the
//! chat page at `/`, `/healthz`, `/metrics` (Prometheus text) and 404s.

mod support;

use support::{http, Server, Ws};

#[test]
fn page_healthz_and_not_found() {
    let server = Server::start(&[]);
    let (status, body) = http(server.addr, "GET", "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, page) = http(server.addr, "GET", "/");
    assert_eq!(status, 200);
    assert!(page.contains("<title>wsstack chat</title>"), "{page}");
    assert!(
        page.contains("new WebSocket(url)") && page.contains("id=\"input\""),
        "{page}"
    );
    let (status, body) = http(server.addr, "HEAD", "/");
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(http(server.addr, "GET", "/nothing-here").0, 404);
    assert_eq!(http(server.addr, "POST", "/").0, 405);
}

#[test]
fn metrics_count_connections_messages_and_bytes() {
    let server = Server::start(&["--filter", "broadcast_messages"]);
    let (status, text) = http(server.addr, "GET", "/metrics");
    assert_eq!(status, 200);
    for name in [
        "wsstack_connections_open 0",
        "wsstack_connections_accepted_total 0",
        "wsstack_messages_in_total 0",
        "wsstack_redis_enabled 0",
        "wsstack_redis_up 0",
        "# TYPE wsstack_messages_out_total counter",
        "# TYPE wsstack_connections_open gauge",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    let mut a = Ws::connect(&server.url("/"));
    let mut b = Ws::connect(&server.url("/"));
    a.send("12345");
    assert_eq!(a.recv_text(), "12345");
    assert_eq!(b.recv_text(), "12345");
    assert_eq!(server.metric("wsstack_connections_open"), 2.0);
    assert_eq!(server.metric("wsstack_connections_accepted_total"), 2.0);
    assert_eq!(server.metric("wsstack_messages_in_total"), 1.0);
    assert_eq!(server.metric("wsstack_bytes_in_total"), 5.0);
    assert_eq!(server.metric("wsstack_messages_out_total"), 2.0);
    assert_eq!(server.metric("wsstack_bytes_out_total"), 10.0);
    assert_eq!(server.metric("wsstack_messages_dropped_total"), 0.0);
    drop(a);
    support::wait_until(support::STEP, "the open count to drop to 1", || {
        server.metric("wsstack_connections_open") == 1.0
    });
}
