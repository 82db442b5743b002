//! Fan-out through the hub (`docs/BENCHMARKS.md` §4 and §9).
//!
//! A wsstack server (`wsstack_bench::hub_server`: one event loop, or
//! threaded) runs alone on core 0. One load process on core 1 holds N
//! member connections, all in one room, plus one publisher connection
//! (fastwebsockets) whose every message of 20 B the server publishes to
//! the room. After 20 warm-up messages, two measured phases:
//!
//! - **paced**: M/10 messages, one at a time (the next goes out once every
//!   member has the last): the fan-out latency of one message;
//! - **window**: M messages with up to 32 in flight: what a busy room
//!   costs, when one write can carry several messages to a member.
//!
//! For each message, the time from its send until the last member has it
//! (p50, p99); for each phase, the deliveries (N × messages) per second of
//! the server's CPU (`/proc/PID/stat`). The same server process then
//! answers §2's echo load (100 connections × 20 B, fastwebsockets, one in
//! flight, 1 s warm-up, 5 s window, CPU over the window), so that the
//! ratios "deliveries per CPU-s / echoes per CPU-s" come from one run.
//!
//! The members read with a small frame reader of their own (tokio, and
//! flate2 to inflate), because permessage-deflate is one of the cases and
//! neither fastwebsockets nor tungstenite offers it.
//!
//! `cargo run --release -p wsstack-bench --bin fanout -- run` prints one
//! `key=value` line per case. `FANOUT_CASES` replaces the default cases
//! with a comma list of `KIND:CLIENTS:plain|deflate[:M]` (M by default:
//! 5,000 for 1,000 members on the event loop, 2,000 threaded, 1,000 for
//! 10,000 members).

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use fastwebsockets::{Frame, Payload};
use flate2::{Decompress, FlushDecompress};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use wsstack_bench::load::{cpu_ticks, echo_load, quantile, runtime, upgrade, EchoCase};

/// Published before the measured messages, not counted.
const WARMUP_MESSAGES: usize = 20;
const PAYLOAD: usize = 20;
/// Messages in flight in the second measured phase.
const IN_FLIGHT: usize = 32;
/// The first measured phase (one in flight) publishes this fraction of
/// the second's messages.
const PACED_SHARE: usize = 10;
/// One message must reach every member within this.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
const ECHO_CONNS: usize = 100;
const ECHO_SIZE: usize = 20;
const ECHO_WARMUP: Duration = Duration::from_secs(1);
const ECHO_WINDOW: Duration = Duration::from_secs(5);
const OFFER: &str =
    "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n";

// ---------------------------------------------------------------- members

/// What the members have seen, shared by their tasks (one thread).
struct Tally {
    members: usize,
    ready: Cell<usize>,
    /// Per message: members that have it, and when the last one got it.
    counts: RefCell<Vec<usize>>,
    done: RefCell<Vec<Option<Instant>>>,
    changed: Notify,
}

impl Tally {
    fn record(&self, message: &[u8]) {
        if message == b"ready" {
            self.ready.set(self.ready.get() + 1);
            if self.ready.get() == self.members {
                self.changed.notify_one();
            }
            return;
        }
        assert_eq!(message.len(), PAYLOAD, "a publication is {PAYLOAD} B");
        let seq: usize = std::str::from_utf8(message)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not a publication: {message:?}"));
        let mut counts = self.counts.borrow_mut();
        counts[seq] += 1;
        if counts[seq] == self.members {
            self.done.borrow_mut()[seq] = Some(Instant::now());
            self.changed.notify_one();
        }
    }

    /// Wait until `ready` says so.
    async fn wait(&self, what: &str, ready: impl Fn() -> bool) {
        while !ready() {
            tokio::time::timeout(DELIVERY_TIMEOUT, self.changed.notified())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
        }
    }
}

/// One member: read frames (unmasked, whole, from the server), inflate
/// the compressed ones, and tally each message.
async fn member(mut stream: TcpStream, mut buf: Vec<u8>, tally: Rc<Tally>) {
    let mut inflater = Decompress::new(false);
    let mut compressed = Vec::with_capacity(64);
    let mut plain = Vec::with_capacity(256);
    let mut chunk = vec![0u8; 4096];
    loop {
        let mut at = 0;
        while let Some((header, len)) = frame_at(&buf[at..]) {
            let (b0, payload) = (buf[at], &buf[at + header..at + header + len]);
            assert_eq!(b0 & 0x80, 0x80, "whole messages only");
            match b0 & 0x0f {
                1 | 2 if b0 & 0x40 != 0 => {
                    // RFC 7692 §7.2.2: append the empty block's tail.
                    compressed.clear();
                    compressed.extend_from_slice(payload);
                    compressed.extend_from_slice(&[0, 0, 0xff, 0xff]);
                    plain.clear();
                    inflater.reset(false);
                    inflater
                        .decompress_vec(&compressed, &mut plain, FlushDecompress::Sync)
                        .expect("valid deflate data");
                    tally.record(&plain);
                }
                1 | 2 => tally.record(payload),
                8 => return,
                _ => {}
            }
            at += header + len;
        }
        buf.drain(..at);
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The header length and payload length of the complete frame at the
/// start of `buf`, if there is one.
fn frame_at(buf: &[u8]) -> Option<(usize, usize)> {
    let b1 = *buf.get(1)?;
    assert_eq!(b1 & 0x80, 0, "server frames are not masked");
    let (header, len) = match b1 & 0x7f {
        126 => (
            4,
            u16::from_be_bytes(buf.get(2..4)?.try_into().unwrap()) as usize,
        ),
        127 => (
            10,
            u64::from_be_bytes(buf.get(2..10)?.try_into().unwrap()) as usize,
        ),
        n => (2, n as usize),
    };
    (buf.len() >= header + len).then_some((header, len))
}

// ---------------------------------------------------------------- load

fn load(addr: SocketAddr, pid: u32, members: usize, messages: usize, deflate: bool) {
    runtime().block_on(tokio::task::LocalSet::new().run_until(async move {
        let paced = messages / PACED_SHARE;
        let total = WARMUP_MESSAGES + paced + messages;
        let tally = Rc::new(Tally {
            members,
            ready: Cell::new(0),
            counts: RefCell::new(vec![0; total]),
            done: RefCell::new(vec![None; total]),
            changed: Notify::new(),
        });
        let offer = if deflate { OFFER } else { "" };
        let mut opened = 0;
        while opened < members {
            let batch = (members - opened).min(100);
            let upgrades = (0..batch).map(|_| upgrade(addr, "/member", offer));
            for (stream, head, leftover) in futures_util::future::join_all(upgrades).await {
                assert_eq!(head.contains("permessage-deflate"), deflate, "{head}");
                tokio::task::spawn_local(member(stream, leftover, tally.clone()));
            }
            opened += batch;
        }
        tally.wait("every member", || tally.ready.get() == members).await;

        let mut publisher = wsstack_bench::load::client(addr, "/control").await;
        let publication =
            |seq: usize| Frame::text(Payload::Owned(format!("{seq:020}").into_bytes()));
        // Warm-up, then one message at a time, then up to IN_FLIGHT.
        let mut phases = Vec::new();
        let mut next = 0;
        for (count, in_flight) in [(WARMUP_MESSAGES, 1), (paced, 1), (messages, IN_FLIGHT)] {
            let (first, end) = (next, next + count);
            let (ticks, started) = (cpu_ticks(pid), Instant::now());
            let mut sent_at = Vec::with_capacity(count);
            let mut latencies = Vec::with_capacity(count);
            for seq in first..end {
                if seq - first >= in_flight {
                    let oldest = seq - in_flight;
                    let what = format!("message {oldest} at every member");
                    tally.wait(&what, || tally.done.borrow()[oldest].is_some()).await;
                }
                sent_at.push(Instant::now());
                publisher.write_frame(publication(seq)).await.unwrap();
            }
            tally.wait("the last message", || tally.done.borrow()[end - 1].is_some()).await;
            let (ticks, wall) = (cpu_ticks(pid) - ticks, started.elapsed());
            for (seq, sent) in (first..end).zip(sent_at) {
                let last = tally.done.borrow()[seq].unwrap();
                latencies.push(last.saturating_duration_since(sent).as_micros() as u32);
            }
            latencies.sort_unstable();
            phases.push((latencies, ticks, wall));
            next = end;
        }
        let stats = Frame::text(Payload::Owned(b"stats".to_vec()));
        publisher.write_frame(stats).await.unwrap();
        let stats = publisher.read_frame().await.unwrap();
        let stats = String::from_utf8_lossy(&stats.payload).into_owned();

        let window = (ECHO_WARMUP, ECHO_WINDOW);
        let case = EchoCase {
            path: "/echo",
            offer: "",
            conns: ECHO_CONNS,
            size: ECHO_SIZE,
            text: false,
        };
        let echo = echo_load(addr, case, window, Some(pid), || {}).await;
        let mut report = stats;
        for (name, (latencies, ticks, wall)) in ["paced", "window"].iter().zip(&phases[1..]) {
            report += &format!(
                " {name}_messages={} {name}_p50_us={} {name}_p99_us={} {name}_ticks={ticks} {name}_wall_s={:.3}",
                latencies.len(),
                quantile(latencies, 0.5),
                quantile(latencies, 0.99),
                wall.as_secs_f64()
            );
        }
        let ticks = echo.server_ticks.unwrap_or(0);
        println!("{report} echoes={} echo_ticks={ticks}", echo.echoes);
    }));
}

// ---------------------------------------------------------------- orchestration

/// One case: a server on core 0, the load on core 1; the load's report.
fn one(kind: &str, members: usize, deflate: bool, messages: usize) -> String {
    let exe = std::env::current_exe().unwrap();
    let mode = if deflate { "deflate" } else { "plain" };
    let mut server = Command::new("taskset")
        .args(["-c", "0"])
        .arg(&exe)
        .args(["serve", kind, mode])
        .stdout(Stdio::piped())
        .spawn()
        .expect("taskset (util-linux) runs the server");
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let out = Command::new("taskset")
        .args(["-c", "1"])
        .arg(&exe)
        .args(["load", line.trim(), &server.id().to_string()])
        .args([members.to_string(), messages.to_string(), mode.to_string()])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{kind} {members} {mode}: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

/// The cases: the event loop with 1,000 and 10,000 members and the
/// threaded server with 1,000, each without and with permessage-deflate.
fn cases() -> Vec<(String, usize, bool, usize)> {
    let default_messages = |kind: &str, members: usize| match (kind, members) {
        (_, 10_000..) => 1000,
        ("threaded", _) => 2000,
        _ => 5000,
    };
    let list = std::env::var("FANOUT_CASES").unwrap_or_else(|_| {
        "event-loop:1000:plain,event-loop:1000:deflate,event-loop:10000:plain,\
         event-loop:10000:deflate,threaded:1000:plain,threaded:1000:deflate"
            .into()
    });
    list.split(',')
        .map(|case| {
            let parts: Vec<&str> = case.split(':').collect();
            let members: usize = parts[1].parse().expect("CLIENTS");
            let messages = parts
                .get(3)
                .map_or(default_messages(parts[0], members), |m| {
                    m.parse().expect("MESSAGES")
                });
            (
                parts[0].to_string(),
                members,
                parts[2] == "deflate",
                messages,
            )
        })
        .collect()
}

fn run() {
    for (kind, members, deflate, messages) in cases() {
        let report = one(&kind, members, deflate, messages);
        let get = |k: &str| -> f64 {
            report
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        let echo_cpu_s = get("echo_ticks") / 100.0;
        let echo_cpu_pct = echo_cpu_s / ECHO_WINDOW.as_secs_f64() * 100.0;
        let echoes_per_cpu_s = get("echoes") / echo_cpu_s.max(0.01);
        let mut line = format!(
            "server={kind} clients={members} deflate={deflate} payload={PAYLOAD} \
             delivered={} dropped={} closed={}",
            get("delivered"),
            get("dropped"),
            get("closed")
        );
        let mut ratios = String::new();
        for (phase, in_flight) in [("paced", 1), ("window", IN_FLIGHT)] {
            let cpu_s = get(&format!("{phase}_ticks")) / 100.0;
            let wall = get(&format!("{phase}_wall_s")).max(1e-9);
            let deliveries = get(&format!("{phase}_messages")) * members as f64;
            let per_cpu_s = deliveries / cpu_s.max(0.01);
            line += &format!(
                " {phase}_in_flight={in_flight} {phase}_messages={} {phase}_p50_us={} {phase}_p99_us={} \
                 {phase}_deliveries_per_s={:.0} {phase}_server_cpu_pct={:.0} \
                 {phase}_deliveries_per_cpu_s={per_cpu_s:.0}",
                get(&format!("{phase}_messages")),
                get(&format!("{phase}_p50_us")),
                get(&format!("{phase}_p99_us")),
                deliveries / wall,
                cpu_s / wall * 100.0,
            );
            ratios += &format!(
                " ratio_{phase}_deliveries_to_echoes_per_cpu_s={:.2}",
                per_cpu_s / echoes_per_cpu_s.max(1e-9)
            );
        }
        let flag = if echo_cpu_pct < 90.0 {
            " echo_client_bound=true"
        } else {
            ""
        };
        println!(
            "{line} echo_conns={ECHO_CONNS} echo_payload={ECHO_SIZE} echoes_per_s={:.0} \
             echo_server_cpu_pct={echo_cpu_pct:.0} echoes_per_cpu_s={echoes_per_cpu_s:.0}{flag}{ratios}",
            get("echoes") / ECHO_WINDOW.as_secs_f64(),
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => wsstack_bench::hub_server::serve(&args[1], args[2] == "deflate"),
        Some("load") => load(
            args[1].parse().expect("ADDR"),
            args[2].parse().expect("PID"),
            args[3].parse().expect("CLIENTS"),
            args[4].parse().expect("MESSAGES"),
            args[5] == "deflate",
        ),
        Some("run") | None => run(),
        Some(other) => {
            eprintln!("fanout: unknown command {other:?}; usage: fanout [run]");
            std::process::exit(2);
        }
    }
}
