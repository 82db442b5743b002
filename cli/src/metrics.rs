//! [`Metrics`]: the counters of `wsstack serve`, and their Prometheus
//! text form for `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use wsstack::server::{Delivery, ServerStats};

use crate::redis_broker::RedisStats;

/// Messages and payload bytes in and out, and messages dropped. Payload
/// bytes are counted (not frame headers); a message delivered to `n`
/// clients counts `n` times out.
#[derive(Debug, Default)]
pub struct Metrics {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_out: AtomicU64,
    dropped: AtomicU64,
}

/// A snapshot of [`Metrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Messages received from clients.
    pub messages_in: u64,
    /// Their payload bytes.
    pub bytes_in: u64,
    /// Messages queued for clients (one per recipient).
    pub messages_out: u64,
    /// Their payload bytes.
    pub bytes_out: u64,
    /// Messages a recipient did not take (its queue was full, or it was
    /// closing).
    pub dropped: u64,
}

impl Metrics {
    /// A message of `len` bytes arrived.
    pub fn received(&self, len: usize) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(len as u64, Ordering::Relaxed);
    }

    /// `count` messages of `len` bytes each went out.
    pub fn sent(&self, count: u64, len: usize) {
        self.messages_out.fetch_add(count, Ordering::Relaxed);
        self.bytes_out
            .fetch_add(count * len as u64, Ordering::Relaxed);
    }

    /// `count` messages were not taken by their recipient.
    pub fn dropped(&self, count: u64) {
        self.dropped.fetch_add(count, Ordering::Relaxed);
    }

    /// Count one publication of `len` bytes.
    pub fn delivered(&self, delivery: &Delivery, len: usize) {
        self.sent(delivery.delivered as u64, len);
        self.dropped((delivery.dropped + delivery.closed) as u64);
    }

    /// The counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            messages_in: self.messages_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// The Prometheus text exposition (format 0.0.4) of the server's counters,
/// the CLI's counters and, with `--redis`, the Redis link's.
pub fn render(
    server: &ServerStats,
    metrics: &MetricsSnapshot,
    redis: Option<&RedisStats>,
) -> String {
    let mut out = String::new();
    let m = &mut out;
    metric(
        m,
        "wsstack_connections_open",
        "gauge",
        "Clients connected now.",
        server.open,
    );
    metric(
        m,
        "wsstack_connections_accepted_total",
        "counter",
        "Clients accepted since start.",
        server.accepted,
    );
    metric(m, "wsstack_connections_refused_total", "counter", "Connections refused or answered with plain HTTP (over the limit, a failed handshake, the page, /healthz, /metrics).", server.refused);
    metric(
        m,
        "wsstack_messages_in_total",
        "counter",
        "Messages received from clients.",
        metrics.messages_in,
    );
    metric(
        m,
        "wsstack_bytes_in_total",
        "counter",
        "Payload bytes received from clients.",
        metrics.bytes_in,
    );
    metric(
        m,
        "wsstack_messages_out_total",
        "counter",
        "Messages queued for clients, one per recipient.",
        metrics.messages_out,
    );
    metric(
        m,
        "wsstack_bytes_out_total",
        "counter",
        "Payload bytes queued for clients, per recipient.",
        metrics.bytes_out,
    );
    metric(
        m,
        "wsstack_messages_dropped_total",
        "counter",
        "Messages a recipient did not take (queue full or closing).",
        metrics.dropped,
    );
    metric(
        m,
        "wsstack_handler_panics_total",
        "counter",
        "Filter callbacks that panicked.",
        server.handler_panics,
    );
    metric(
        m,
        "wsstack_redis_enabled",
        "gauge",
        "1 when the server runs with --redis.",
        u8::from(redis.is_some()),
    );
    let up = redis.is_some_and(|r| r.up);
    metric(
        m,
        "wsstack_redis_up",
        "gauge",
        "1 while the Redis subscription link is connected and subscribed, else 0.",
        u8::from(up),
    );
    if let Some(r) = redis {
        metric(
            m,
            "wsstack_redis_channels_subscribed",
            "gauge",
            "Redis channels this node is subscribed to.",
            r.channels,
        );
        metric(
            m,
            "wsstack_redis_published_total",
            "counter",
            "Messages published to Redis.",
            r.published,
        );
        metric(
            m,
            "wsstack_redis_publish_dropped_total",
            "counter",
            "Publications lost while Redis was unreachable or the queue was full.",
            r.publish_dropped,
        );
        metric(
            m,
            "wsstack_redis_received_total",
            "counter",
            "Messages received from other nodes and relayed channels.",
            r.received,
        );
        metric(
            m,
            "wsstack_redis_reconnects_total",
            "counter",
            "Times the Redis link was re-established after a loss.",
            r.reconnects,
        );
    }
    out
}
