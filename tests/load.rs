//! Load: the event-loop server holds 10,000 concurrent connections on
//! loopback, each echoing a message; the threaded server and the io_uring
//! server (feature `uring`, Linux) hold 1,000. The
//! server runs as its own process (the echo_server example) so that client
//! and server sockets do not share one file-descriptor limit.
#![cfg(feature = "mio")]

mod support;

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wsstack::frame::{Frame, OpCode};
use wsstack::handshake::ClientRequest;
use wsstack::FrameSocket;

const WAIT: Duration = Duration::from_secs(120);

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(kind: &str, max: usize) -> (Server, String) {
    let mut child = Command::new(support::example("echo_server"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--server",
            kind,
            "--max-connections",
            &max.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = support::first_line(stdout, "echo_server");
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    (Server(child), url)
}

/// The file-descriptor limit of this process.
fn fd_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1024)
}

fn hold_and_echo(kind: &str, n: usize) {
    assert!(
        fd_limit() >= n + 100,
        "need {n} file descriptors; `ulimit -n` is {}",
        fd_limit()
    );
    let (_server, url) = start(kind, n + 10);
    let request = ClientRequest::new(&url).unwrap();
    let started = Instant::now();
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let tcp =
            TcpStream::connect(request.address()).unwrap_or_else(|e| panic!("connect #{i}: {e}"));
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let (ws, _) =
            FrameSocket::connect(tcp, &request).unwrap_or_else(|e| panic!("handshake #{i}: {e}"));
        clients.push(ws);
    }
    let connected = started.elapsed();
    // All of them are open at once; now each echoes a message.
    for (i, ws) in clients.iter_mut().enumerate() {
        ws.send(&Frame::text(format!("message from client {i}")))
            .unwrap();
    }
    for (i, ws) in clients.iter_mut().enumerate() {
        let echo = ws.recv().unwrap_or_else(|e| panic!("echo #{i}: {e}"));
        assert_eq!(echo.opcode, OpCode::Text);
        assert_eq!(echo.payload, format!("message from client {i}").as_bytes());
    }
    eprintln!(
        "{kind}: {n} concurrent connections opened in {connected:?}, all echoed after {:?}",
        started.elapsed()
    );
    for ws in &mut clients {
        let _ = ws.send(&Frame::close(1000, ""));
    }
}

#[test]
fn event_loop_server_holds_10000_echoing_connections() {
    hold_and_echo("event-loop", 10_000);
}

#[test]
fn threaded_server_holds_1000_echoing_connections() {
    hold_and_echo("threaded", 1_000);
}

#[cfg(all(feature = "uring", target_os = "linux"))]
#[test]
fn uring_server_holds_1000_echoing_connections() {
    hold_and_echo("uring", 1_000);
}
