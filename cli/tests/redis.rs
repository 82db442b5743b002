//! `wsstack serve --redis`: two server processes on one private
//! `redis-server` form one chat (every client gets a message exactly once,
//! whichever node it came from), token rooms span the nodes, `redis-cli
//! PUBLISH` reaches the clients of both through `broadcast_pubsub`, and
//! Redis killed and restarted mid-test is survived: local delivery goes on
//! and cross-node delivery resumes within a bound.
//!
//! A missing `redis-server` fails these tests (scripts/setup-peers.sh
//! installs it).

mod support;

use std::time::{Duration, Instant};

use support::{wait_until, Redis, Server, Ws, STEP};

/// How long the nodes may take to get back to Redis after it restarts.
const RESUME: Duration = Duration::from_secs(10);
/// A short wait for something that must not happen.
const QUIET: Duration = Duration::from_millis(300);

/// Two nodes on `redis`, with these arguments, both linked and subscribed
/// to `channels` channels each.
fn two_nodes(redis: &Redis, args: &[&str], channels: f64) -> (Server, Server) {
    let url = redis.url();
    let mut all = vec!["--redis", url.as_str()];
    all.extend_from_slice(args);
    let a = Server::start(&all);
    let b = Server::start(&all);
    for node in [&a, &b] {
        wait_until(STEP, "a node's Redis link to come up", || {
            node.metric("wsstack_redis_up") == 1.0
                && node.metric("wsstack_redis_channels_subscribed") == channels
        });
    }
    (a, b)
}

#[test]
fn two_nodes_form_one_chat_exactly_once() {
    let redis = Redis::start();
    // Channels: P:all and the node's own.
    let (node_a, node_b) = two_nodes(&redis, &["--filter", "broadcast_messages"], 2.0);
    let mut a1 = Ws::connect(&node_a.url("/"));
    let mut a2 = Ws::connect(&node_a.url("/"));
    let mut b1 = Ws::connect(&node_b.url("/"));

    b1.send("from b");
    assert_eq!(a1.recv_text(), "from b");
    assert_eq!(a2.recv_text(), "from b");
    assert_eq!(b1.recv_text(), "from b");
    a1.send("from a");
    assert_eq!(a1.recv_text(), "from a");
    assert_eq!(a2.recv_text(), "from a");
    // b1 has it: node A's publication went through Redis, before what b1
    // sends next. A duplicate of it (node A receiving its own publication
    // back) would reach a1 before the sentinel.
    assert_eq!(b1.recv_text(), "from a");
    b1.send("sentinel");
    assert_eq!(a1.recv_until("sentinel"), Vec::<String>::new());
    assert_eq!(a2.recv_until("sentinel"), Vec::<String>::new());
    assert_eq!(b1.recv_until("sentinel"), Vec::<String>::new());
    assert!(a1.recv_within(QUIET).is_none());

    assert_eq!(node_a.metric("wsstack_redis_published_total"), 1.0);
    assert_eq!(
        node_a.metric("wsstack_redis_received_total"),
        2.0,
        "B's two, not A's own"
    );
    assert_eq!(node_b.metric("wsstack_redis_published_total"), 2.0);
    assert_eq!(node_b.metric("wsstack_redis_received_total"), 1.0);
    // Messages out count the deliveries of remote messages too: A's three
    // messages reached its two clients each.
    assert_eq!(node_a.metric("wsstack_messages_out_total"), 6.0);
}

#[test]
fn token_rooms_span_the_nodes() {
    let redis = Redis::start();
    let (node_a, node_b) = two_nodes(&redis, &["--filter", "broadcast_messages_by_token"], 2.0);
    let mut a_red = Ws::connect(&node_a.url("/?token=red"));
    let mut b_red = Ws::connect(&node_b.url("/?token=red"));
    let mut b_blue = Ws::connect(&node_b.url("/?token=blue"));
    // Each node subscribes to the rooms it has members in.
    wait_until(STEP, "node A on token:red", || {
        node_a.metric("wsstack_redis_channels_subscribed") == 3.0
    });
    wait_until(STEP, "node B on token:red and token:blue", || {
        node_b.metric("wsstack_redis_channels_subscribed") == 4.0
    });
    a_red.send("red across nodes");
    assert_eq!(a_red.recv_text(), "red across nodes");
    assert_eq!(b_red.recv_text(), "red across nodes");
    b_blue.send("blue only");
    assert_eq!(b_blue.recv_text(), "blue only");
    b_red.send("sentinel");
    assert_eq!(a_red.recv_until("sentinel"), Vec::<String>::new());
    assert_eq!(b_red.recv_until("sentinel"), Vec::<String>::new());
    assert!(
        b_blue.recv_within(QUIET).is_none(),
        "blue got red's messages"
    );
    // The last member of blue leaves: node B unsubscribes.
    drop(b_blue);
    wait_until(STEP, "node B to leave token:blue", || {
        node_b.metric("wsstack_redis_channels_subscribed") == 3.0
    });
}

#[test]
fn redis_cli_publish_reaches_every_client_of_both_nodes() {
    let redis = Redis::start();
    let args = [
        "--filter",
        "broadcast_messages",
        "--filter",
        "broadcast_pubsub",
        "--channel",
        "global",
        "--channel",
        "news",
    ];
    let (node_a, node_b) = two_nodes(&redis, &args, 4.0);
    let mut a = Ws::connect(&node_a.url("/"));
    let mut b = Ws::connect(&node_b.url("/"));
    // Both nodes are subscribed: redis-cli says 2 receivers.
    assert_eq!(
        redis
            .cli(&["PUBLISH", "global", "hello from redis-cli"])
            .trim(),
        "2"
    );
    assert_eq!(a.recv_text(), "hello from redis-cli");
    assert_eq!(b.recv_text(), "hello from redis-cli");
    redis.cli(&["PUBLISH", "news", "extra"]);
    assert_eq!(a.recv_text(), "extra");
    assert_eq!(b.recv_text(), "extra");
    // Other channels are not relayed.
    assert_eq!(redis.cli(&["PUBLISH", "elsewhere", "no"]).trim(), "0");
    // The clients still chat across the nodes, once each.
    a.send("chat");
    assert_eq!(a.recv_text(), "chat");
    assert_eq!(b.recv_text(), "chat");
    redis.cli(&["PUBLISH", "global", "sentinel"]);
    assert_eq!(a.recv_until("sentinel"), Vec::<String>::new());
    assert_eq!(b.recv_until("sentinel"), Vec::<String>::new());
}

#[test]
fn redis_killed_and_restarted_is_survived() {
    let mut redis = Redis::start();
    let (node_a, node_b) = two_nodes(&redis, &["--filter", "broadcast_messages"], 2.0);
    let mut a1 = Ws::connect(&node_a.url("/"));
    let mut a2 = Ws::connect(&node_a.url("/"));
    let mut b = Ws::connect(&node_b.url("/"));
    b.send("before");
    for ws in [&mut a1, &mut a2, &mut b] {
        assert_eq!(ws.recv_text(), "before");
    }

    redis.kill();
    for node in [&node_a, &node_b] {
        wait_until(STEP, "the nodes to see Redis gone", || {
            node.metric("wsstack_redis_up") == 0.0
        });
    }
    // Local delivery never stops.
    a1.send("while redis is down");
    assert_eq!(a1.recv_text(), "while redis is down");
    assert_eq!(a2.recv_text(), "while redis is down");
    assert!(
        b.recv_within(QUIET).is_none(),
        "nothing crosses without Redis"
    );
    assert!(
        node_a.stderr().contains("Redis link to"),
        "the loss is logged"
    );
    assert!(node_a.stderr().contains("down"), "{}", node_a.stderr());

    redis.restart();
    let restarted = Instant::now();
    for node in [&node_a, &node_b] {
        wait_until(RESUME, "the nodes to relink to Redis", || {
            node.metric("wsstack_redis_up") == 1.0
        });
    }
    b.send("after the restart");
    assert_eq!(a1.recv_text(), "after the restart");
    assert_eq!(a2.recv_text(), "after the restart");
    assert_eq!(b.recv_text(), "after the restart");
    let took = restarted.elapsed();
    assert!(took < RESUME, "delivery resumed only after {took:?}");
    a2.send("and back");
    for ws in [&mut a1, &mut a2, &mut b] {
        assert_eq!(ws.recv_text(), "and back");
    }
    a1.send("sentinel");
    for ws in [&mut a1, &mut a2, &mut b] {
        assert_eq!(ws.recv_until("sentinel"), Vec::<String>::new());
    }
    assert!(node_a.metric("wsstack_redis_reconnects_total") >= 1.0);
    assert!(
        node_a.metric("wsstack_redis_publish_dropped_total") >= 1.0,
        "the message sent while down"
    );
    eprintln!("cross-node delivery resumed {took:?} after Redis restarted");
}
