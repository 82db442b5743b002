//! The load side shared by `echo_bench` and `fanout`: a fastwebsockets
//! client (a third-party implementation, so that wsstack never judges
//! itself), the echo load of `docs/BENCHMARKS.md` §2, and a process's CPU
//! time from `/proc`.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A current-thread tokio runtime (what every load generator and peer
/// server here runs on).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Read an HTTP head (up to the blank line) from a stream. Bytes past the
/// head in the same read are returned with it.
pub async fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        head.extend_from_slice(&byte[..n]);
    }
    head
}

/// Open TCP (no Nagle) and send an upgrade request for `path` with
/// `extra` header lines (each ending in CRLF). Returns the stream, the
/// server's response head (which must be a 101) and the bytes that came
/// after it (the first frames).
pub async fn upgrade(addr: SocketAddr, path: &str, extra: &str) -> (TcpStream, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = read_head(&mut stream).await;
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(head.len(), |i| i + 4);
    let leftover = head.split_off(end);
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (stream, head, leftover)
}

/// A fastwebsockets client on `path` (of a server that sends nothing
/// first).
pub async fn client(addr: SocketAddr, path: &str) -> WebSocket<TcpStream> {
    client_offering(addr, path, "").await
}

/// [`client`], sending `extra` header lines (each ending in CRLF) with
/// the upgrade request, e.g. an extension offer. The client itself never
/// compresses: with permessage-deflate agreed, its frames go uncompressed
/// (RSV1 clear), which the extension allows.
pub async fn client_offering(addr: SocketAddr, path: &str, extra: &str) -> WebSocket<TcpStream> {
    let (stream, _, leftover) = upgrade(addr, path, extra).await;
    assert!(leftover.is_empty(), "the server spoke first on {path}");
    WebSocket::after_handshake(stream, Role::Client)
}

/// What an echo load measured.
pub struct EchoLoad {
    /// Echoes completed in the window.
    pub echoes: u64,
    /// Their round trips in microseconds, sorted.
    pub round_trips: Vec<u32>,
    /// The server's CPU ticks (1/100 s) within the window, if its PID was
    /// given.
    pub server_ticks: Option<u64>,
}

/// One echo load: where, what offer, how many connections, what message.
#[derive(Clone, Copy, Debug)]
pub struct EchoCase<'a> {
    /// The request target.
    pub path: &'a str,
    /// Extra upgrade header lines (each ending in CRLF), e.g. a
    /// permessage-deflate offer; "" for none.
    pub offer: &'a str,
    /// Connections, each with one message in flight.
    pub conns: usize,
    /// Payload bytes per message.
    pub size: usize,
    /// Text (ASCII) rather than binary messages.
    pub text: bool,
}

/// §2's echo load, inside a `LocalSet`: `conns` connections to `path`
/// (opened 100 at a time), each keeping one message of `size` bytes in
/// flight; `warmup`, then a `window` that is counted. `on_warm` runs once
/// every connection is open, as the warm-up starts (e.g. to tell another
/// process to start counting something outside the window).
pub async fn echo_load(
    addr: SocketAddr,
    case: EchoCase<'_>,
    (warmup, window): (Duration, Duration),
    server_pid: Option<u32>,
    on_warm: impl FnOnce(),
) -> EchoLoad {
    let EchoCase {
        path,
        offer,
        conns,
        size,
        text,
    } = case;
    let mut sockets = Vec::with_capacity(conns);
    while sockets.len() < conns {
        let batch = (conns - sockets.len()).min(100);
        let opened =
            futures_util::future::join_all((0..batch).map(|_| client_offering(addr, path, offer)))
                .await;
        sockets.extend(opened);
    }
    let payload: Vec<u8> = if text {
        vec![b'a'; size]
    } else {
        (0..size).map(|i| i as u8).collect()
    };
    let count = Rc::new(Cell::new(0u64));
    let lat = Rc::new(RefCell::new(Vec::new()));
    let measuring = Rc::new(Cell::new(false));
    let stop = Rc::new(Cell::new(false));
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let (count, lat, measuring, stop, payload) = (
            count.clone(),
            lat.clone(),
            measuring.clone(),
            stop.clone(),
            payload.clone(),
        );
        tasks.push(tokio::task::spawn_local(async move {
            let opcode = if text { OpCode::Text } else { OpCode::Binary };
            while !stop.get() {
                let t0 = Instant::now();
                let frame = Frame::new(true, opcode, None, Payload::Owned(payload.clone()));
                ws.write_frame(frame).await.unwrap();
                let echo = ws.read_frame().await.unwrap();
                assert_eq!(echo.payload.len(), payload.len());
                let head = payload.len().min(16);
                assert_eq!(&echo.payload[..head], &payload[..head]);
                if measuring.get() {
                    count.set(count.get() + 1);
                    lat.borrow_mut().push(t0.elapsed().as_micros() as u32);
                }
            }
        }));
    }
    on_warm();
    tokio::time::sleep(warmup).await;
    let ticks_before = server_pid.map(cpu_ticks);
    measuring.set(true);
    tokio::time::sleep(window).await;
    measuring.set(false);
    let server_ticks = server_pid
        .map(cpu_ticks)
        .zip(ticks_before)
        .map(|(a, b)| a - b);
    stop.set(true);
    for t in tasks {
        t.abort();
    }
    let mut round_trips = lat.borrow().clone();
    round_trips.sort_unstable();
    EchoLoad {
        echoes: count.get(),
        round_trips,
        server_ticks,
    }
}

/// The `p` quantile (0-1) of sorted values.
pub fn quantile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

/// User plus system CPU time of process `pid`, in ticks of 1/100 s
/// (`/proc/PID/stat` fields 14 and 15).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After ") " the first field is field 3.
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    field(11).unwrap_or(0) + field(12).unwrap_or(0)
}
