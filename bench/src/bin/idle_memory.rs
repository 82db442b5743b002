//! Memory per connection on wsstack's servers, as in
//! `docs/BENCHMARKS.md` §3: open N idle connections, read the server
//! process's `VmRSS` before and after and divide by N; repeat after one
//! echoed message per connection. Kernel socket memory (both ends, from
//! `/proc/net/sockstat`) is reported separately, and so is the server's
//! CPU while every connection sits idle for 5 s after its message (the
//! cost of timers and ticks with nothing to do).
//!
//! `cargo run --release -p wsstack-bench --bin idle_memory -- [N]`
//! runs every variant, each server in its own process, and prints one
//! `key=value` line per variant.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use wsstack::extensions::PerMessageDeflate;
use wsstack::frame::Frame;
use wsstack::handshake::{ClientRequest, ServerConfig};
use wsstack::server::{Client, Handler, ServerBuilder};
use wsstack::FrameSocket;
use wsstack::Message;
use wsstack_bench::load::cpu_ticks;

/// How long every connection sits idle while the server's CPU is read.
const IDLE: Duration = Duration::from_secs(5);

struct Echo;

impl Handler for Echo {
    type Data = ();
    fn on_message(&self, client: &Client, message: Message) {
        let _ = client.send(message);
    }
}

fn deflate(policy: &str) -> Option<PerMessageDeflate> {
    match policy {
        "none" => None,
        "takeover" => Some(PerMessageDeflate::new()),
        "no-takeover" => Some(
            PerMessageDeflate::new()
                .with_server_no_context_takeover(true)
                .with_client_no_context_takeover(true),
        ),
        other => panic!("unknown deflate policy {other}"),
    }
}

fn serve(kind: &str, policy: &str) {
    let mut handshake = ServerConfig::new();
    if let Some(pmd) = deflate(policy) {
        handshake = handshake.with_extension(pmd);
    }
    let builder = ServerBuilder::new()
        .address("127.0.0.1:0")
        .handshake(handshake)
        .max_connections(20_000)
        .loops(1);
    match kind {
        "event-loop" => {
            let server = builder.bind_event_loop().unwrap();
            println!("{}", server.local_addr().unwrap());
            server.run(Echo).unwrap();
        }
        _ => {
            let server = builder.bind_threaded().unwrap();
            println!("{}", server.local_addr().unwrap());
            server.run(Echo).unwrap();
        }
    }
}

fn status_kb(pid: u32, key: &str) -> usize {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Kernel TCP memory in bytes (`mem` is in pages).
fn tcp_kernel_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("TCP:"))
        .and_then(|l| l.split_whitespace().skip_while(|w| *w != "mem").nth(1))
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn measure(n: usize, kind: &str, policy: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["serve", kind, policy])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = format!("ws://{}/", line.trim());
    std::thread::sleep(Duration::from_millis(200)); // let the server settle before the baseline
    let rss0 = status_kb(pid, "VmRSS:");
    let kernel0 = tcp_kernel_bytes();
    let mut request = ClientRequest::new(&url).unwrap();
    if let Some(pmd) = deflate(policy) {
        request = request.with_extension(pmd);
    }
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let tcp = TcpStream::connect(request.address()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        clients.push(FrameSocket::connect(tcp, &request).unwrap().0);
    }
    // One round trip on the last connection: the server has handled every
    // handshake before it.
    let last = clients.last_mut().unwrap();
    last.send(&Frame::text("sync")).unwrap();
    last.recv().unwrap();
    let rss1 = status_kb(pid, "VmRSS:");
    let kernel1 = tcp_kernel_bytes();
    let text = "x".repeat(100);
    for c in &mut clients {
        c.send(&Frame::text(text.clone())).unwrap();
    }
    for c in &mut clients {
        c.recv().unwrap();
    }
    let rss2 = status_kb(pid, "VmRSS:");
    let ticks = cpu_ticks(pid);
    std::thread::sleep(IDLE);
    let idle_cpu = (cpu_ticks(pid) - ticks) as f64 / IDLE.as_secs_f64();
    let per_idle = (rss1.saturating_sub(rss0)) as f64 * 1024.0 / n as f64;
    let per_after = (rss2.saturating_sub(rss0)) as f64 * 1024.0 / n as f64;
    let kernel = (kernel1.saturating_sub(kernel0)) as f64 / n as f64;
    println!(
        "server={kind} deflate={policy} connections={n} rss_before_kb={rss0} rss_idle_kb={rss1} rss_after_message_kb={rss2} \
         bytes_per_idle_connection={per_idle:.0} bytes_per_connection_after_one_message={per_after:.0} \
         kernel_tcp_bytes_per_connection_both_ends={kernel:.0} idle_server_cpu_pct={idle_cpu:.1}"
    );
    drop(clients);
    let _ = child.kill();
    let _ = child.wait();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        serve(&args[1], &args[2]);
        return;
    }
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let small = n.min(1_000);
    measure(n, "event-loop", "none");
    measure(small, "event-loop", "takeover");
    measure(n, "event-loop", "no-takeover");
    measure(small, "threaded", "none");
}
