//! Messages per second and latency through `wsstack serve`, on one node and
//! across two nodes joined by Redis: what the Redis hop costs.
//!
//! ```sh
//! cargo bench -p wsstack-cli --bench redis_nodes
//! ```
//!
//! Starts a private `redis-server` on a free loopback port and three
//! `wsstack serve --filter broadcast_messages` processes (release build):
//! nodes A and B with `--redis`, and C without. A publisher client sends
//! 64-byte text messages; a receiver client takes them:
//!
//! | case | publisher | receiver |
//! |---|---|---|
//! | `local_no_redis` | C | C |
//! | `local` | A | A (A also publishes each message to Redis) |
//! | `two_nodes` | A | B (through Redis) |
//!
//! For each case, latency: 2,000 messages paced 1 ms apart, the time from
//! the publisher's send to the receiver's read (one clock, one process),
//! p50 and p99; throughput: 50,000 messages with at most 500 in flight
//! (sent and not yet received), messages per second from the first send to
//! the last receive. Then the latency the Redis hop adds: `two_nodes`
//! minus `local`. One JSON line per case on stdout.
//!
//! Each client is a raw frame socket ([`FrameSocket`]) on both halves of a
//! cloned `TcpStream`, so the publisher's own copies of its broadcasts are
//! drained by a thread of their own.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wsstack::frame::{Frame, OpCode, Role};
use wsstack::handshake::ClientRequest;
use wsstack::{FrameSocket, Limits};

const SIZE: usize = 64;
const LATENCY_MESSAGES: u64 = 2_000;
const PACE: Duration = Duration::from_millis(1);
const THROUGHPUT_MESSAGES: u64 = 50_000;
const WINDOW: u64 = 500;
/// A case gives up when no message arrives for this long.
const STALL: Duration = Duration::from_secs(10);

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn redis(port: u16) -> Proc {
    let child = Command::new("redis-server")
        .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
        .args(["--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (Debian's package; scripts/setup-peers.sh installs it)");
    let end = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "redis-server did not start");
        thread::sleep(Duration::from_millis(20));
    }
    Proc(child)
}

/// `wsstack serve` with `args`; its process and address.
fn node(args: &[&str]) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsstack"))
        .args(["serve", "--addr", "127.0.0.1:0", "--log-level", "warn"])
        .args(["--filter", "broadcast_messages"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the wsstack binary");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ws://"))
        .expect("an address on the first line")
        .trim_end_matches('/')
        .to_owned();
    (Proc(child), addr)
}

/// A metric from the node's `/metrics`.
fn metric(addr: &str, name: &str) -> f64 {
    use std::io::{Read, Write};
    let mut tcp = TcpStream::connect(addr).unwrap();
    write!(
        tcp,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    tcp.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(-1.0)
}

/// A client's two halves: one sends, one receives.
fn client(addr: &str) -> (FrameSocket<TcpStream>, FrameSocket<TcpStream>) {
    let request = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    let (socket, _) = FrameSocket::connect(tcp, &request).unwrap();
    let (tcp, leftover) = socket.into_parts();
    let limits = Limits::default();
    let writer = FrameSocket::new(tcp.try_clone().unwrap(), Role::Client, &limits);
    let reader = FrameSocket::with_buffered(tcp, Role::Client, &limits, leftover);
    (writer, reader)
}

/// `seq` and the send time in ns since `origin`, padded to [`SIZE`].
fn payload(seq: u64, origin: Instant) -> String {
    let mut text = format!("{seq} {}", origin.elapsed().as_nanos());
    text.push(' ');
    while text.len() < SIZE {
        text.push('x');
    }
    text
}

/// Read frames until the connection ends, calling `each` with every text
/// payload.
fn read_all(mut reader: FrameSocket<TcpStream>, mut each: impl FnMut(&[u8])) {
    while let Ok(frame) = reader.recv() {
        match frame.opcode {
            OpCode::Text => each(&frame.payload),
            OpCode::Close => return,
            _ => {}
        }
    }
}

struct Outcome {
    latency_p50_us: f64,
    latency_p99_us: f64,
    msgs_per_sec: f64,
    received: u64,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// One case: the publisher on `from`, the receiver on `to`.
fn run_case(from: &str, to: &str) -> Outcome {
    let origin = Instant::now();
    let (mut publisher, echoes) = client(from);
    let (mut receiver_writer, receiver) = client(to);
    // The publisher's own copies: drained and dropped.
    let drain = thread::spawn(move || read_all(echoes, |_| {}));
    let received = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(LATENCY_MESSAGES as usize)));
    let recording = Arc::new(AtomicBool::new(true));
    let last_at = Arc::new(AtomicU64::new(0));
    let reader = {
        let (received, latencies, recording, last_at) = (
            received.clone(),
            latencies.clone(),
            recording.clone(),
            last_at.clone(),
        );
        thread::spawn(move || {
            read_all(receiver, |bytes| {
                let now = origin.elapsed().as_nanos() as u64;
                if recording.load(Ordering::Relaxed) {
                    let text = std::str::from_utf8(bytes).unwrap_or("");
                    if let Some(sent) = text.split(' ').nth(1).and_then(|n| n.parse::<u64>().ok()) {
                        latencies.lock().unwrap().push(now.saturating_sub(sent));
                    }
                }
                last_at.store(now, Ordering::Relaxed);
                received.fetch_add(1, Ordering::Release);
            })
        })
    };
    let wait_for = |count: u64| {
        let mut seen = received.load(Ordering::Acquire);
        let mut progress = Instant::now();
        while seen < count {
            thread::sleep(Duration::from_micros(50));
            let now = received.load(Ordering::Acquire);
            if now != seen {
                seen = now;
                progress = Instant::now();
            } else if progress.elapsed() > STALL {
                return false;
            }
        }
        true
    };

    // Warm-up, then latency: paced, one at a time.
    for seq in 0..100 {
        publisher.send(&Frame::text(payload(seq, origin))).unwrap();
    }
    wait_for(100);
    latencies.lock().unwrap().clear();
    let base = received.load(Ordering::Acquire);
    for seq in 0..LATENCY_MESSAGES {
        publisher.send(&Frame::text(payload(seq, origin))).unwrap();
        thread::sleep(PACE);
    }
    wait_for(base + LATENCY_MESSAGES);
    recording.store(false, Ordering::Relaxed);
    let mut lat = std::mem::take(&mut *latencies.lock().unwrap());
    lat.sort_unstable();

    // Throughput: as fast as the window allows.
    let base = received.load(Ordering::Acquire);
    let start = origin.elapsed().as_nanos() as u64;
    let mut complete = true;
    for seq in 0..THROUGHPUT_MESSAGES {
        while seq - (received.load(Ordering::Acquire) - base) >= WINDOW {
            if !wait_for(base + seq - WINDOW + 1) {
                complete = false;
                break;
            }
        }
        if !complete {
            break;
        }
        publisher.send(&Frame::text(payload(seq, origin))).unwrap();
    }
    if complete {
        wait_for(base + THROUGHPUT_MESSAGES);
    }
    let got = received.load(Ordering::Acquire) - base;
    let elapsed = (last_at.load(Ordering::Relaxed).saturating_sub(start)) as f64 / 1e9;
    // Close both: the server's Close ends each reading thread.
    let _ = publisher.send(&Frame::close(1000, ""));
    let _ = receiver_writer.send(&Frame::close(1000, ""));
    let _ = drain.join();
    let _ = reader.join();
    Outcome {
        latency_p50_us: percentile(&lat, 0.50),
        latency_p99_us: percentile(&lat, 0.99),
        msgs_per_sec: got as f64 / elapsed.max(1e-9),
        received: got,
    }
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is ignored.
    let redis_port = free_port();
    let _redis = redis(redis_port);
    let url = format!("redis://127.0.0.1:{redis_port}/");
    let (_a, a) = node(&["--redis", &url]);
    let (_b, b) = node(&["--redis", &url]);
    let (_c, c) = node(&[]);
    for addr in [&a, &b] {
        let end = Instant::now() + Duration::from_secs(20);
        while metric(addr, "wsstack_redis_up") != 1.0 {
            assert!(Instant::now() < end, "node {addr} did not link to Redis");
            thread::sleep(Duration::from_millis(20));
        }
    }
    let mut results = Vec::new();
    for (case, from, to) in [
        ("local_no_redis", &c, &c),
        ("local", &a, &a),
        ("two_nodes", &a, &b),
    ] {
        let o = run_case(from, to);
        println!(
            "{{\"bench\":\"redis_nodes\",\"case\":\"{case}\",\"size\":{SIZE},\"messages\":{THROUGHPUT_MESSAGES},\
             \"received\":{},\"msgs_per_sec\":{:.0},\"latency_p50_us\":{:.1},\"latency_p99_us\":{:.1}}}",
            o.received, o.msgs_per_sec, o.latency_p50_us, o.latency_p99_us
        );
        results.push((case, o));
    }
    let local = &results[1].1;
    let two = &results[2].1;
    println!(
        "{{\"bench\":\"redis_nodes\",\"case\":\"added_by_redis\",\"latency_p50_us\":{:.1},\"latency_p99_us\":{:.1},\
         \"throughput_ratio\":{:.2}}}",
        two.latency_p50_us - local.latency_p50_us,
        two.latency_p99_us - local.latency_p99_us,
        two.msgs_per_sec / local.msgs_per_sec
    );
    println!(
        "{{\"bench\":\"redis_nodes\",\"case\":\"redis_link\",\"published_a\":{},\"publish_dropped_a\":{},\"received_b\":{}}}",
        metric(&a, "wsstack_redis_published_total"),
        metric(&a, "wsstack_redis_publish_dropped_total"),
        metric(&b, "wsstack_redis_received_total")
    );
}
