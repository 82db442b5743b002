//! The plain-HTTP side of `wsstack serve`, on the WebSocket's port: the
//! chat page at `/`, `/healthz` and `/metrics`.

use std::sync::{Arc, OnceLock};

use wsstack::handshake::{Request, Response};
use wsstack::server::ServerHandle;

use crate::metrics::{self, Metrics};
use crate::redis_broker::RedisBroker;

/// The chat page served at `/`: it connects to the WebSocket on its own
/// host (passing its query, e.g. `?token=room1`), shows every message in a
/// log and sends what is typed in its input box.
pub const PAGE: &str = include_str!("page.html");

/// What the routes read.
#[derive(Clone)]
pub(crate) struct Routes {
    pub(crate) handle: Arc<OnceLock<ServerHandle>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) redis: Option<Arc<RedisBroker>>,
}

impl Routes {
    /// The answer to a plain HTTP request; `None` for a path not served
    /// (answered 404 by the library).
    pub(crate) fn answer(&self, request: &Request) -> Option<Response> {
        let method = request.method();
        if !method.eq_ignore_ascii_case("GET") && !method.eq_ignore_ascii_case("HEAD") {
            let mut r =
                Response::with_body(405, "text/plain; charset=utf-8", "Method Not Allowed\n");
            r.headers.push("Allow", "GET, HEAD");
            return Some(r);
        }
        let mut response = match request.path() {
            "/" | "/index.html" => Response::with_body(200, "text/html; charset=utf-8", PAGE),
            "/healthz" => Response::with_body(200, "text/plain; charset=utf-8", "ok\n"),
            "/metrics" => {
                let stats = self
                    .handle
                    .get()
                    .map(ServerHandle::stats)
                    .unwrap_or_default();
                let redis = self.redis.as_ref().map(|r| r.stats());
                let text = metrics::render(&stats, &self.metrics.snapshot(), redis.as_ref());
                Response::with_body(200, "text/plain; version=0.0.4; charset=utf-8", text)
            }
            _ => return None,
        };
        response.headers.push("Cache-Control", "no-store");
        Some(response)
    }
}
