//! A frame header must not reserve memory for a payload that never
//! arrives: 1,000 clients each send only the header of a 16 MiB binary
//! frame to the event-loop echo server (examples/echo_server.rs, in a child
//! process so /proc/PID/status shows its memory), and its VmSize and VmRSS
//! must stay within 64 MiB of where they started while a well-behaved
//! client still gets its echo.
#![cfg(feature = "mio")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::Message as TMessage;

/// Clients that send a header and nothing more.
const CLIENTS: usize = 1_000;
/// The payload length each header announces (the server's frame and
/// message limits allow exactly this).
const ANNOUNCED: u64 = 16 << 20;
/// Most either figure may grow by.
const BUDGET_MIB: f64 = 64.0;
/// Bounds each wait.
const WAIT: Duration = Duration::from_secs(5);

/// The echo server example; killed on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let limit = ANNOUNCED.to_string();
    let mut child = Command::new(support::example("echo_server"))
        // One malloc arena: glibc otherwise reserves 64 MiB of address
        // space per arena it adds when threads contend, at moments of its
        // choosing, which would blur what the headers themselves claim.
        .env("MALLOC_ARENA_MAX", "1")
        .args(["--addr", "127.0.0.1:0", "--server", "event-loop"])
        .args(["--max-frame", &limit, "--max-message", &limit])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start examples/echo_server");
    let stdout = child.stdout.take().unwrap();
    let line = support::first_line(stdout, "echo_server");
    let addr = line
        .trim()
        .rsplit("ws://")
        .next()
        .filter(|a| a.contains(':'))
        .unwrap_or_else(|| panic!("echo_server printed {line:?} instead of its address"))
        .trim_end_matches('/')
        .to_string();
    Server { child, addr }
}

/// VmSize and VmRSS of `pid`, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status:\n{status}"))
    };
    (field("VmSize:"), field("VmRSS:"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Connect and complete the opening handshake by hand.
fn handshake(addr: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut chunk = [0u8; 512];
    while !head.ends_with(b"\r\n\r\n") {
        match tcp.read(&mut chunk) {
            Ok(n) if n > 0 => head.extend_from_slice(&chunk[..n]),
            other => panic!(
                "handshake: {other:?} after {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "handshake refused: {}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

/// The whole header of a masked binary frame announcing `len` bytes: the
/// 10 bytes of the unmasked form (FIN + opcode, 127, 64-bit length) and the
/// 4-byte masking key a client frame must carry.
fn header(len: u64) -> Vec<u8> {
    let mut h = vec![0x82, 0x80 | 127];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]);
    h
}

/// Echo round trips on a few fresh clients (likely spread over both event
/// loops); each proves its loop has processed what came in before.
fn echo_round_trips(addr: &str, what: &str) {
    for i in 0..4 {
        let url = format!("ws://{addr}/");
        let (mut ws, _) = tungstenite::connect(url.as_str())
            .unwrap_or_else(|e| panic!("{what}: a well-behaved client cannot connect: {e}"));
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(WAIT)).unwrap();
        }
        let text = format!("{what} {i}");
        ws.send(TMessage::text(text.clone())).unwrap();
        match ws.read() {
            Ok(reply) => assert_eq!(
                reply,
                TMessage::text(text),
                "{what}: a well-behaved client got the wrong echo"
            ),
            Err(e) => panic!("{what}: a well-behaved client got no echo within {WAIT:?}: {e}"),
        }
        let _ = ws.close(None);
    }
}

#[test]
fn headers_announcing_16_mib_reserve_nothing() {
    let server = start_server();
    let pid = server.child.id();
    echo_round_trips(&server.addr, "before the headers");
    let before = memory(pid);
    println!(
        "before: VmSize {:.1} MiB, VmRSS {:.1} MiB",
        mib(before.0),
        mib(before.1)
    );

    let header = header(ANNOUNCED);
    let mut idle = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let mut tcp = handshake(&server.addr);
        tcp.write_all(&header).unwrap();
        idle.push(tcp);
    }
    // The loops have read every header once each has answered a client
    // that connected after them; then let the figures settle.
    echo_round_trips(&server.addr, "after the headers");
    let deadline = Instant::now() + WAIT;
    let mut after = memory(pid);
    while Instant::now() < deadline {
        thread::sleep(Duration::from_millis(250));
        let now = memory(pid);
        if now == after {
            break;
        }
        after = now;
    }
    let grew = (
        mib(after.0.saturating_sub(before.0)),
        mib(after.1.saturating_sub(before.1)),
    );
    println!(
        "after {CLIENTS} headers announcing {} MiB each: VmSize {:.1} MiB (+{:.1} MiB), \
         VmRSS {:.1} MiB (+{:.1} MiB)",
        ANNOUNCED >> 20,
        mib(after.0),
        grew.0,
        mib(after.1),
        grew.1
    );
    assert!(
        grew.0 < BUDGET_MIB && grew.1 < BUDGET_MIB,
        "{CLIENTS} clients each sent only the header of a {} MiB frame: the server's VmSize \
         went from {:.1} to {:.1} MiB (+{:.1} MiB) and its VmRSS from {:.1} to {:.1} MiB \
         (+{:.1} MiB); expected each to grow by less than {BUDGET_MIB} MiB",
        ANNOUNCED >> 20,
        mib(before.0),
        mib(after.0),
        grew.0,
        mib(before.1),
        mib(after.1),
        grew.1
    );
    // Still serving, with every header-only client connected.
    echo_round_trips(&server.addr, "at the end");
    drop(idle);
}
