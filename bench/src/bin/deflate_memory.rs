//! Memory per connection with permessage-deflate, measured on 1,000
//! server engines in one process after one message each way (untouched
//! pages do not count in RSS), as `VmRSS` after minus before, divided by
//! the count. No sockets: this is the library's own state (zlib, buffers).
//!
//! `cargo run --release -p wsstack-bench --bin deflate_memory [N]`
//! Prints one `key=value` line per variant.

use wsstack::connection::{Config, Engine, Event, Message};
use wsstack::extensions::PerMessageDeflate;
use wsstack_bench::{deflate_pair, json_like, rss_bytes};

fn measure(name: &str, pmd: Option<PerMessageDeflate>, n: usize) {
    let msg = json_like(1024);
    let before = rss_bytes();
    let mut held: Vec<(Engine, Engine)> = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut c, mut s) = match &pmd {
            Some(p) => deflate_pair(p.clone(), Config::default()),
            None => (
                Engine::client(Config::default()).unwrap(),
                Engine::server(Config::default()).unwrap(),
            ),
        };
        // One message each way through the server engine.
        c.send_text(&msg).unwrap();
        let mut wire = Vec::new();
        c.poll_transmit(&mut wire);
        s.receive(&wire);
        assert!(matches!(
            s.poll_event(),
            Ok(Some(Event::Message(Message::Text(_))))
        ));
        s.send_text(&msg).unwrap();
        wire.clear();
        s.poll_transmit(&mut wire);
        // Drop the client side's state from the count: keep only the server.
        held.push((Engine::client(Config::default()).unwrap(), s));
        drop(c);
    }
    let after = rss_bytes();
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    println!("variant={name} connections={n} rss_before={before} rss_after={after} bytes_per_connection={per:.0}");
    drop(held);
}

fn variant(name: &str) -> Option<Option<PerMessageDeflate>> {
    Some(match name {
        "no_deflate" => None,
        "pmd_context_takeover_15bits" => Some(PerMessageDeflate::new()),
        "pmd_context_takeover_10bits" => Some(
            PerMessageDeflate::new()
                .with_server_max_window_bits(Some(10))
                .with_client_max_window_bits(Some(10)),
        ),
        "pmd_server_no_context_takeover" => {
            Some(PerMessageDeflate::new().with_server_no_context_takeover(true))
        }
        "pmd_no_context_takeover_pooled" => Some(
            PerMessageDeflate::new()
                .with_server_no_context_takeover(true)
                .with_client_no_context_takeover(true),
        ),
        _ => return None,
    })
}

const VARIANTS: [&str; 5] = [
    "no_deflate",
    "pmd_context_takeover_15bits",
    "pmd_context_takeover_10bits",
    "pmd_server_no_context_takeover",
    "pmd_no_context_takeover_pooled",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    match args.get(1) {
        // One variant per process, so freed memory of one cannot flatter
        // the next.
        Some(name) => measure(name, variant(name).expect("known variant"), n),
        None => {
            for name in VARIANTS {
                let status = std::process::Command::new(std::env::current_exe().unwrap())
                    .args([n.to_string(), name.to_string()])
                    .status()
                    .expect("run variant");
                assert!(status.success());
            }
        }
    }
}
