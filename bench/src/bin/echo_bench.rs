//! Echo throughput, side by side (`docs/BENCHMARKS.md` §2).
//!
//! Each server runs alone on core 0 (`taskset -c 0`): wsstack's
//! event-loop server (one loop), wsstack's io_uring server (one ring,
//! Linux), wsstack's threaded server, wsstack's
//! tokio driver twice (a `WebSocketStream` echo loop per connection, and
//! the `Handler` on the tokio server), a tokio-tungstenite echo server and
//! a fastwebsockets echo server (all four tokio ones on a current-thread
//! runtime). The load generator runs on core 1 and
//! is a third-party client: fastwebsockets on a current-thread runtime.
//! Each connection keeps one message in flight: send, await the echo,
//! check it, record the round trip. 3 s warm-up, 5 s window, servers
//! rotated A B C D E F per round. The server's CPU time is read at the
//! window's start and end, so connection set-up and warm-up do not count.
//!
//! `cargo run --release -p wsstack-bench --bin echo_bench -- run [ROUNDS]`
//! prints one `key=value` line per server and case (median over rounds,
//! min-max), with the system calls per echo (counted with `perf stat` on
//! `raw_syscalls:sys_enter` over 2 s of the warm-up, so the tracing does
//! not slow the measured window; `na` without perf),
//! ending with the ratios of echoes per server CPU-second against
//! fastwebsockets and tokio-tungstenite.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fastwebsockets::{FragmentCollector, Frame, OpCode, Role, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use wsstack::server::{Client, Handler, ServerBuilder};
use wsstack::Message;
use wsstack_bench::load::{echo_load, read_head, runtime, EchoCase};

/// Long enough for the system-call count (`SYSCALL_WINDOW`) to fit in it.
const WARMUP: Duration = Duration::from_secs(3);
const WINDOW: Duration = Duration::from_secs(5);
const SERVERS: [&str; 8] = [
    "wsstack-event-loop",
    "wsstack-event-loop-pmd",
    "wsstack-uring",
    "wsstack-threaded",
    "wsstack-tokio-stream",
    "wsstack-tokio-server",
    "tokio-tungstenite",
    "fastwebsockets",
];

// ---------------------------------------------------------------- servers

struct Echo;

impl Handler for Echo {
    type Data = ();
    fn on_message(&self, client: &Client, message: Message) {
        let _ = client.send(message);
    }
}

async fn fastwebsockets_conn(mut stream: TcpStream) {
    // The handshake is not what is measured; take the key from the request.
    let head = String::from_utf8_lossy(&read_head(&mut stream).await).into_owned();
    let key = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("Sec-WebSocket-Key: ")
                .or_else(|| l.strip_prefix("sec-websocket-key: "))
        })
        .unwrap_or_default()
        .trim()
        .to_owned();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        wsstack::handshake::accept_key(&key)
    );
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let mut ws = FragmentCollector::new(WebSocket::after_handshake(stream, Role::Server));
    while let Ok(frame) = ws.read_frame().await {
        match frame.opcode {
            OpCode::Text | OpCode::Binary => {
                let echo = Frame::new(true, frame.opcode, None, frame.payload);
                if ws.write_frame(echo).await.is_err() {
                    return;
                }
            }
            OpCode::Close => return,
            _ => {}
        }
    }
}

/// What the load offers to a `-pmd` server: permessage-deflate without
/// context takeover. The server's threshold (64 bytes) leaves the
/// benchmark's small messages uncompressed, so the load client (which
/// does not inflate) reads them as they are.
const PMD_OFFER: &str =
    "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n";
const PMD_THRESHOLD: usize = 64;

fn serve(kind: &str) {
    match kind {
        "wsstack-event-loop-pmd" => {
            let pmd = wsstack::extensions::PerMessageDeflate::new()
                .with_server_no_context_takeover(true)
                .with_threshold(PMD_THRESHOLD);
            let server = ServerBuilder::new()
                .address("127.0.0.1:0")
                .loops(1)
                .max_connections(20_000)
                .handshake(wsstack::handshake::ServerConfig::new().with_extension(pmd))
                .bind_event_loop()
                .unwrap();
            println!("{}", server.local_addr().unwrap());
            server.run(Echo).unwrap();
        }
        "wsstack-event-loop" | "wsstack-threaded" => {
            let builder = ServerBuilder::new()
                .address("127.0.0.1:0")
                .loops(1)
                .max_connections(20_000);
            if kind == "wsstack-event-loop" {
                let server = builder.bind_event_loop().unwrap();
                println!("{}", server.local_addr().unwrap());
                server.run(Echo).unwrap();
            } else {
                let server = builder.bind_threaded().unwrap();
                println!("{}", server.local_addr().unwrap());
                server.run(Echo).unwrap();
            }
        }
        #[cfg(target_os = "linux")]
        "wsstack-uring" => {
            let server = ServerBuilder::new()
                .address("127.0.0.1:0")
                .loops(1)
                .max_connections(20_000)
                .bind_uring()
                .unwrap();
            println!("{}", server.local_addr().unwrap());
            server.run(Echo).unwrap();
        }
        "wsstack-tokio-stream" => runtime().block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("{}", listener.local_addr().unwrap());
            let handshake = std::sync::Arc::new(wsstack::handshake::ServerConfig::new());
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let _ = stream.set_nodelay(true);
                let handshake = handshake.clone();
                tokio::spawn(async move {
                    let config = wsstack::connection::Config::default();
                    let Ok(mut ws) = wsstack::tokio::accept(stream, &handshake, config).await
                    else {
                        return;
                    };
                    while let Some(Ok(message)) = ws.next().await {
                        if ws.send(message).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }),
        "wsstack-tokio-server" => {
            let server = ServerBuilder::new()
                .address("127.0.0.1:0")
                .max_connections(20_000)
                .bind_tokio()
                .unwrap();
            println!("{}", server.local_addr().unwrap());
            runtime().block_on(server.serve(Echo)).unwrap();
        }
        "tokio-tungstenite" => runtime().block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("{}", listener.local_addr().unwrap());
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                        return;
                    };
                    while let Some(Ok(msg)) = ws.next().await {
                        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }),
        "fastwebsockets" => runtime().block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("{}", listener.local_addr().unwrap());
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let _ = stream.set_nodelay(true);
                tokio::spawn(fastwebsockets_conn(stream));
            }
        }),
        other => panic!("unknown server {other}"),
    }
}

// ---------------------------------------------------------------- load

/// Returns (messages in window, sorted round trips in microseconds).
/// The load generator's side: prints `warming` once connected, then
/// returns the echoes, round trips and the server's CPU ticks in the
/// window.
fn load(
    addr: SocketAddr,
    (conns, size, text): (usize, usize, bool),
    pmd: bool,
    server_pid: u32,
) -> (u64, Vec<u32>, u64) {
    runtime().block_on(async move {
        let local = tokio::task::LocalSet::new();
        let case = EchoCase {
            path: "/",
            offer: if pmd { PMD_OFFER } else { "" },
            conns,
            size,
            text,
        };
        let warm = || {
            use std::io::Write;
            println!("warming");
            let _ = std::io::stdout().flush();
        };
        let run = echo_load(addr, case, (WARMUP, WINDOW), Some(server_pid), warm);
        let measured = local.run_until(run).await;
        let ticks = measured.server_ticks.unwrap_or_default();
        (measured.echoes, measured.round_trips, ticks)
    })
}

// ---------------------------------------------------------------- orchestration

struct Sample {
    rate: f64,
    p50: u32,
    p99: u32,
    cpu: f64,
    /// System calls the server made per echo (`None` without `perf`).
    syscalls: Option<f64>,
}

/// How long the system calls of a server are counted, inside the warm-up.
const SYSCALL_WINDOW: Duration = Duration::from_secs(2);

/// Count the system calls `pid` makes over `SYSCALL_WINDOW`, with `perf
/// stat` on the `raw_syscalls:sys_enter` tracepoint (counting, unlike
/// `strace`, barely slows the server down).
fn count_syscalls(pid: u32) -> Option<u64> {
    let out = Command::new("perf")
        .args(["stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p"])
        .arg(pid.to_string())
        .args(["--", "sleep"])
        .arg(SYSCALL_WINDOW.as_secs_f64().to_string())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .find(|l| l.contains("raw_syscalls:sys_enter"))
        .and_then(|l| l.split(',').next())
        .and_then(|n| n.trim().parse().ok())
}

fn one(kind: &str, conns: usize, size: usize, text: bool) -> Sample {
    let exe = std::env::current_exe().unwrap();
    let mut server: Child = Command::new("taskset")
        .args(["-c", "0"])
        .arg(&exe)
        .args(["serve", kind])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().to_string();
    let mut load = Command::new("taskset")
        .args(["-c", "1"])
        .arg(&exe)
        .args([
            "load",
            &addr,
            &conns.to_string(),
            &size.to_string(),
            if text { "text" } else { "binary" },
            if kind.ends_with("-pmd") {
                "pmd"
            } else {
                "plain"
            },
            &server.id().to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(load.stdout.take().unwrap());
    let mut warming = String::new();
    out.read_line(&mut warming).unwrap();
    assert_eq!(warming.trim(), "warming", "load generator: {warming}");
    // Count system calls during the warm-up, at the same load.
    let syscalls = count_syscalls(server.id());
    let mut report = String::new();
    out.read_line(&mut report).unwrap();
    let _ = load.wait();
    let _ = server.kill();
    let _ = server.wait();
    let get = |k: &str| -> f64 {
        report
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    // Ticks are 1/100 s, read at the window's start and end.
    let cpu = get("server_ticks=") / WINDOW.as_secs_f64();
    let rate = get("msgs_per_s=");
    Sample {
        rate,
        p50: get("p50_us=") as u32,
        p99: get("p99_us=") as u32,
        cpu,
        syscalls: syscalls
            .filter(|_| rate > 0.0)
            .map(|n| n as f64 / (rate * SYSCALL_WINDOW.as_secs_f64())),
    }
}

/// Whether `kind` runs with messages of `size`: the `-pmd` server only
/// below its threshold (above it, it would compress what the load client
/// cannot inflate).
fn measured(kind: &str, size: usize) -> bool {
    !kind.ends_with("-pmd") || size <= PMD_THRESHOLD
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The cases: all of BENCHMARKS.md §2, or `ECHO_CASES` as a comma list
/// of `conns:size[:text]`, e.g. `ECHO_CASES=100:20,100:1024:text`.
fn cases() -> Vec<(usize, usize, bool)> {
    if let Ok(list) = std::env::var("ECHO_CASES") {
        return list
            .split(',')
            .map(|c| {
                let parts: Vec<&str> = c.split(':').collect();
                (
                    parts[0].parse().unwrap(),
                    parts[1].parse().unwrap(),
                    parts.get(2) == Some(&"text"),
                )
            })
            .collect();
    }
    vec![
        (100, 20, false),
        (100, 1024, false),
        (100, 64 * 1024, false),
        (100, 1024, true),
        (1000, 20, false),
        (1000, 1024, false),
    ]
}

/// Echoes per second of server CPU: the median rate over the median CPU
/// share.
fn per_cpu_second(samples: &[Sample]) -> f64 {
    let rate = median(samples.iter().map(|s| s.rate).collect());
    let cpu = median(samples.iter().map(|s| s.cpu).collect());
    if cpu > 0.0 {
        rate / (cpu / 100.0)
    } else {
        0.0
    }
}

fn run(rounds: usize) {
    for (conns, size, text) in cases() {
        let mut samples: Vec<Vec<Sample>> = SERVERS.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for (i, kind) in SERVERS.iter().enumerate() {
                if measured(kind, size) {
                    samples[i].push(one(kind, conns, size, text));
                }
            }
        }
        let peer = |name: &str| {
            SERVERS
                .iter()
                .position(|s| *s == name)
                .map_or(0.0, |i| per_cpu_second(&samples[i]))
        };
        let (fast, tung) = (peer("fastwebsockets"), peer("tokio-tungstenite"));
        let plain = peer("wsstack-event-loop");
        for (i, kind) in SERVERS.iter().enumerate() {
            if !measured(kind, size) {
                continue;
            }
            let rates: Vec<f64> = samples[i].iter().map(|s| s.rate).collect();
            let min = rates.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = rates.iter().cloned().fold(0.0, f64::max);
            let med = median(rates);
            let cpu = median(samples[i].iter().map(|s| s.cpu).collect());
            let p50 = median(samples[i].iter().map(|s| s.p50 as f64).collect());
            let p99 = median(samples[i].iter().map(|s| s.p99 as f64).collect());
            let per_cpu_s = per_cpu_second(&samples[i]);
            let calls: Vec<f64> = samples[i].iter().filter_map(|s| s.syscalls).collect();
            let syscalls = if calls.is_empty() {
                "na".to_string()
            } else {
                format!("{:.2}", median(calls))
            };
            let flag = if cpu < 90.0 { " client_bound=true" } else { "" };
            let ratio = |peer: f64| if peer > 0.0 { per_cpu_s / peer } else { 0.0 };
            // permessage-deflate against the same server without it.
            let vs_plain = if kind.ends_with("-pmd") {
                format!(" ratio_vs_uncompressed={:.2}", ratio(plain))
            } else {
                String::new()
            };
            println!(
                "server={kind} conns={conns} payload={size} kind={} msgs_per_s={med:.0} min={min:.0} max={max:.0} \
                 p50_us={p50:.0} p99_us={p99:.0} server_cpu_pct={cpu:.0} echoes_per_cpu_s={per_cpu_s:.0} \
                 syscalls_per_echo={syscalls}{flag} \
                 ratio_vs_fastwebsockets={:.2} ratio_vs_tokio_tungstenite={:.2}{vs_plain}",
                if text { "text" } else { "binary" },
                ratio(fast),
                ratio(tung),
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1]),
        Some("load") => {
            let addr: SocketAddr = args[1].parse().unwrap();
            let (conns, size) = (args[2].parse().unwrap(), args[3].parse().unwrap());
            let pmd = args.get(5).is_some_and(|a| a == "pmd");
            let pid = args[6].parse().unwrap();
            let (n, lat, ticks) = load(addr, (conns, size, args[4] == "text"), pmd, pid);
            let pct = |p: f64| {
                lat.get(((lat.len() as f64 - 1.0) * p) as usize)
                    .copied()
                    .unwrap_or(0)
            };
            println!(
                "msgs_per_s={:.0} p50_us={} p99_us={} server_ticks={ticks}",
                n as f64 / WINDOW.as_secs_f64(),
                pct(0.5),
                pct(0.99)
            );
        }
        _ => run(args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3)),
    }
}
