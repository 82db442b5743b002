//! Shared helpers for wsstack's benchmarks. See `docs/BENCHMARKS.md`
//! for the method; every figure is a ratio against a peer measured in the
//! same run.

pub mod hub_server;
pub mod load;

use std::sync::Arc;

use wsstack::connection::{Config, Engine};
use wsstack::extensions::{
    build_client, build_server, negotiate_server, ExtensionFactory, SharedFactory,
};

/// A client and a server engine that negotiated `factory` with itself.
pub fn deflate_pair(factory: impl ExtensionFactory + 'static, config: Config) -> (Engine, Engine) {
    let f: SharedFactory = Arc::new(factory);
    let agreed = negotiate_server(std::slice::from_ref(&f), &f.offers());
    let responses: Vec<_> = agreed.iter().map(|(_, r)| r.clone()).collect();
    let client = Engine::client(config)
        .expect("valid config")
        .with_extensions(build_client(std::slice::from_ref(&f), &responses))
        .expect("one extension");
    let server = Engine::server(config)
        .expect("valid config")
        .with_extensions(build_server(&[f], &agreed))
        .expect("one extension");
    (client, server)
}

/// JSON-like text of about `len` bytes.
pub fn json_like(len: usize) -> String {
    let mut s = String::with_capacity(len + 64);
    let mut i = 0u32;
    while s.len() < len {
        s.push_str(&format!(
            "{{\"id\":{i},\"user\":\"user{}\",\"score\":{},\"active\":{}}},",
            i * 7919 % 1000,
            i * 31 % 977,
            i.is_multiple_of(3)
        ));
        i += 1;
    }
    s.truncate(len);
    s
}

/// This process's resident set size in bytes (Linux `/proc/self/status`).
pub fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}
