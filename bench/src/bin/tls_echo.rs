//! `wss://` next to `ws://` in the same run (docs/BENCHMARKS.md §11): the
//! event-loop echo server (`examples/echo_server`, pinned to core 0) with
//! and without TLS, a blocking load of N connections each keeping one
//! message in flight (wsstack's own client, pinned to core 1, trusting a
//! CA generated for the run), servers alternated per round.
//!
//! `cargo build --release --example echo_server && cargo run --release -p
//! wsstack-bench --bin tls_echo -- [ROUNDS]` prints one key=value line per
//! case with the ratio of TLS to plain (msgs/s and echoes per server
//! CPU-second).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use wsstack::tls::TlsClientConfig;
use wsstack::{ClientBuilder, Message};
use wsstack_bench::load::cpu_ticks;

const WARMUP: Duration = Duration::from_secs(1);
const WINDOW: Duration = Duration::from_secs(4);
const CASES: [(usize, usize); 2] = [(100, 20), (100, 64 * 1024)];

/// A CA and a certificate for 127.0.0.1, written to a temporary folder.
fn pki() -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("wsstack-tls-echo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

fn echo_server() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let release = exe.parent().unwrap();
    release.join("examples/echo_server")
}

/// Run one case against one server; returns (msgs/s, server CPU %).
fn one(tls: Option<(&Path, &Path, &Path)>, conns: usize, size: usize) -> (f64, f64) {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"]).arg(echo_server());
    cmd.args(["--addr", "127.0.0.1:0", "--loops", "1"]);
    if let Some((_, cert, key)) = tls {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    let mut server = cmd
        .stdout(Stdio::piped())
        .spawn()
        .expect("examples/echo_server (build it first)");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.split_whitespace().last().unwrap().to_string();
    let exe = std::env::current_exe().unwrap();
    let mut load = Command::new("taskset");
    load.args(["-c", "1"])
        .arg(exe)
        .args(["load", &url, &conns.to_string(), &size.to_string()]);
    if let Some((ca, _, _)) = tls {
        load.arg(ca);
    }
    let mut child = load.stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut read = |what: &str| {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        assert!(l.starts_with(what), "{l}");
        l
    };
    read("window start");
    let before = cpu_ticks(server.id());
    let done = read("count=");
    let after = cpu_ticks(server.id());
    let _ = child.wait();
    let _ = server.kill();
    let _ = server.wait();
    let count: f64 = done.trim().trim_start_matches("count=").parse().unwrap();
    let cpu = (after - before) as f64 / WINDOW.as_secs_f64();
    (count / WINDOW.as_secs_f64(), cpu)
}

/// The load: `conns` threads, one connection and one message in flight
/// each.
fn load(url: &str, conns: usize, size: usize, ca: Option<&str>) {
    let running = Arc::new(AtomicBool::new(true));
    let measuring = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for _ in 0..conns {
        let mut builder = ClientBuilder::new(url).no_proxy().deflate(false);
        if let Some(ca) = ca {
            builder = builder.tls(TlsClientConfig::new().with_ca_file(ca).unwrap());
        }
        let (mut conn, _) = builder.connect().unwrap();
        let (running, measuring, count) = (running.clone(), measuring.clone(), count.clone());
        threads.push(thread::spawn(move || {
            let payload = Message::Binary(vec![7u8; size]);
            while running.load(Ordering::Relaxed) {
                conn.send(payload.clone()).unwrap();
                let echo = conn.recv().unwrap().unwrap();
                assert_eq!(echo.len(), size);
                if measuring.load(Ordering::Relaxed) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    thread::sleep(WARMUP);
    println!("window start");
    measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    thread::sleep(WINDOW.saturating_sub(start.elapsed()));
    measuring.store(false, Ordering::Relaxed);
    println!("count={}", count.load(Ordering::Relaxed));
    running.store(false, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("load") {
        let ca = args.get(4).map(String::as_str);
        return load(
            &args[1],
            args[2].parse().unwrap(),
            args[3].parse().unwrap(),
            ca,
        );
    }
    let rounds: usize = args.first().and_then(|r| r.parse().ok()).unwrap_or(3);
    let (ca, cert, key) = pki();
    for (conns, size) in CASES {
        let (mut plain, mut tls) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            plain.push(one(None, conns, size));
            tls.push(one(Some((&ca, &cert, &key)), conns, size));
        }
        let median = |v: &mut Vec<(f64, f64)>, i: usize| {
            let mut x: Vec<f64> = v.iter().map(|s| if i == 0 { s.0 } else { s.1 }).collect();
            x.sort_by(|a, b| a.partial_cmp(b).unwrap());
            x[x.len() / 2]
        };
        let (p_rate, p_cpu) = (median(&mut plain, 0), median(&mut plain, 1));
        let (t_rate, t_cpu) = (median(&mut tls, 0), median(&mut tls, 1));
        let per = |rate: f64, cpu: f64| if cpu > 0.0 { rate / (cpu / 100.0) } else { 0.0 };
        for (name, rate, cpu) in [("ws", p_rate, p_cpu), ("wss", t_rate, t_cpu)] {
            println!(
                "server=wsstack-event-loop transport={name} conns={conns} payload={size} msgs_per_s={rate:.0} \
                 server_cpu_pct={cpu:.0} echoes_per_cpu_s={:.0}{} ratio_vs_plain={:.2} cpu_ratio_vs_plain={:.2}",
                per(rate, cpu),
                if cpu < 90.0 { " client_bound=true" } else { "" },
                rate / p_rate,
                per(rate, cpu) / per(p_rate, p_cpu),
            );
        }
    }
}
