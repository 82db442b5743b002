//! Bad input on our servers' ports (event-loop and threaded), each ending
//! in bounded time with no effect on other clients.
//!
//! With a 500 ms handshake timeout, on the `wss://` port: a plain-HTTP
//! upgrade request in cleartext (closed at once, answered with nothing or
//! a TLS alert, never with HTTP), random bytes instead of a ClientHello
//! and a handshake record of the right shape with random contents (both
//! closed at once), and the first half of a real ClientHello followed by
//! silence (closed by the handshake timeout: between 1× and 2× of it). On
//! the plain `ws://` port: our `ClientBuilder` with a `wss://` URL (a clear
//! TLS error, at once).
//!
//! Meanwhile a well-behaved client echoes without pause on its own thread
//! (connected before, echoing during, closing with 1000 after), and fresh
//! clients connect and echo during the stalled handshake and after
//! everything. The event-loop server runs one loop, so the bad
//! connections share it with the good ones.

mod support;
mod support_tls;
mod support_wss;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use support_tls::{Pki, IO_TIMEOUT};
use support_wss::EchoServer;
use wsstack::server::{ServerBuilder, ServerKind};
use wsstack::tls::rustls::pki_types::ServerName;
use wsstack::tls::rustls::ClientConnection;
use wsstack::tls::{TlsClientConfig, TlsError, TlsServerConfig};
use wsstack::{ClientBuilder, Error, Message};

/// The servers' handshake timeout (TLS and HTTP upgrade together).
const TIMEOUT: Duration = Duration::from_millis(500);
/// Bound on every probe: far past what any case may take.
const PROBE_BOUND: Duration = Duration::from_secs(5);
/// The longest the well-behaved client may wait for one echo: a server
/// blocked by a stalled handshake would make it wait about [`TIMEOUT`].
const MAX_ECHO_GAP: Duration = Duration::from_millis(400);

fn builder(pki: Option<&Pki>) -> ServerBuilder {
    let builder = ServerBuilder::new().handshake_timeout(TIMEOUT).loops(1);
    match pki {
        Some(pki) => {
            builder.tls(TlsServerConfig::from_pem_files(&pki.server.cert, &pki.server.key).unwrap())
        }
        None => builder,
    }
}

fn client(url: &str, pki: Option<&Pki>) -> ClientBuilder {
    let builder = ClientBuilder::new(url)
        .no_proxy()
        .read_timeout(Some(IO_TIMEOUT))
        .write_timeout(Some(IO_TIMEOUT));
    match pki {
        Some(pki) => builder.tls(TlsClientConfig::new().with_ca_file(&pki.ca).unwrap()),
        None => builder,
    }
}

/// Connect, echo `n` messages, close with 1000.
fn echo_a_few(url: &str, pki: Option<&Pki>, n: usize) {
    let (mut conn, _) = client(url, pki)
        .connect()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    for i in 0..n {
        let text = format!("fresh {i}");
        conn.send(text.as_str()).unwrap();
        assert_eq!(conn.recv().unwrap(), Some(Message::Text(text)));
    }
    let (code, _) = conn.close(1000, "done").unwrap();
    assert_eq!(code.as_u16(), 1000);
}

/// A well-behaved client echoing without pause on its own thread.
struct Steady {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Vec<Instant>, String>>,
}

impl Steady {
    /// Connect and echo once (before anything bad happens), then keep
    /// echoing on a thread.
    fn start(url: &str, pki: Option<&Pki>) -> Steady {
        let (mut conn, _) = client(url, pki)
            .connect()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        conn.send("before").unwrap();
        assert_eq!(conn.recv().unwrap(), Some(Message::Text("before".into())));
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            let mut echoed = vec![Instant::now()];
            let mut n = 0u64;
            while !stopping.load(Ordering::SeqCst) {
                let text = format!("steady {n}");
                conn.send(text.as_str()).map_err(|e| e.to_string())?;
                match conn.recv().map_err(|e| e.to_string())? {
                    Some(Message::Text(t)) if t == text.as_str() => echoed.push(Instant::now()),
                    other => return Err(format!("echo {n}: got {other:?}")),
                }
                n += 1;
            }
            let (code, _) = conn.close(1000, "done").map_err(|e| e.to_string())?;
            if code.as_u16() != 1000 {
                return Err(format!("closed with {code}"));
            }
            Ok(echoed)
        });
        Steady { stop, thread }
    }

    /// Stop, close with 1000, and return when each echo came back.
    fn finish(self) -> Vec<Instant> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.join() {
            Ok(Ok(echoed)) => echoed,
            Ok(Err(e)) => panic!("the well-behaved client failed: {e}"),
            Err(_) => panic!("the well-behaved client panicked"),
        }
    }
}

/// The longest wait between two echoes, and how many came back between
/// `from` and `to`.
fn gaps(echoed: &[Instant], from: Instant, to: Instant) -> (Duration, usize) {
    let longest = echoed
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let during = echoed.iter().filter(|&&t| t >= from && t <= to).count();
    (longest, during)
}

/// What one raw connection got back, and when it ended.
struct Probe {
    elapsed: Duration,
    reply: Vec<u8>,
    end: String,
}

impl Probe {
    /// Connect to `addr`, write `bytes`, then read until the server ends
    /// the connection (within [`PROBE_BOUND`]).
    fn run(addr: SocketAddr, bytes: &[u8]) -> Probe {
        let started = Instant::now();
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.write_all(bytes).unwrap();
        let deadline = started + PROBE_BOUND;
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        let end = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "still open after {PROBE_BOUND:?}");
            tcp.set_read_timeout(Some(left)).unwrap();
            match tcp.read(&mut buf) {
                Ok(0) => break "EOF".to_owned(),
                Ok(n) => reply.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    break "reset".to_owned()
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!(
                        "still open after {PROBE_BOUND:?} (read {} bytes)",
                        reply.len()
                    )
                }
                Err(e) => break format!("error: {e}"),
            }
        };
        Probe {
            elapsed: started.elapsed(),
            reply,
            end,
        }
    }

    /// Never an HTTP answer in plaintext: nothing, or TLS records.
    fn assert_no_plaintext(&self, what: &str) {
        assert!(
            !self.reply.windows(5).any(|w| w == b"HTTP/"),
            "{what}: plaintext HTTP came back: {:?}",
            String::from_utf8_lossy(&self.reply)
        );
        assert!(
            self.reply.is_empty() || self.reply.starts_with(&[0x15, 0x03]),
            "{what}: {:02x?}",
            &self.reply[..self.reply.len().min(16)]
        );
    }

    fn describe(&self) -> String {
        let reply = match self.reply.as_slice() {
            [] => "nothing".to_owned(),
            [0x15, 0x03, _, 0x00, 0x02, level, desc, ..] => format!(
                "a TLS alert ({}, {}), {} bytes in all",
                if *level == 2 { "fatal" } else { "warning" },
                alert_name(*desc),
                self.reply.len()
            ),
            other => format!("{:02x?}", &other[..other.len().min(16)]),
        };
        format!(
            "closed ({}) after {:.0?}, having sent back {reply}",
            self.end, self.elapsed
        )
    }
}

fn alert_name(code: u8) -> String {
    let name = match code {
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        47 => "illegal_parameter",
        50 => "decode_error",
        70 => "protocol_version",
        80 => "internal_error",
        109 => "missing_extension",
        _ => "another alert",
    };
    format!("{name} ({code})")
}

/// A real ClientHello for `localhost`, as rustls sends it.
fn client_hello(pki: &Pki) -> Vec<u8> {
    let config = TlsClientConfig::new()
        .with_ca_file(&pki.ca)
        .unwrap()
        .to_rustls()
        .unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(config, name).unwrap();
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).unwrap();
    }
    assert_eq!(hello[..2], [0x16, 0x03], "a handshake record");
    assert_eq!(hello[5], 0x01, "a ClientHello");
    hello
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes).unwrap();
    bytes
}

fn bad_input_on_the_tls_port(kind: ServerKind, pki: &Pki) {
    let server = EchoServer::start(kind, builder(Some(pki)));
    let (addr, url) = (server.addr, format!("wss://127.0.0.1:{}/", server.port()));
    let steady = Steady::start(&url, Some(pki));

    // A plain-HTTP upgrade request, in cleartext.
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let http = Probe::run(addr, request.as_bytes());
    http.assert_no_plaintext("plain HTTP");
    eprintln!("{kind}: plain HTTP on the TLS port: {}", http.describe());
    assert!(http.elapsed < TIMEOUT, "{kind}: {}", http.describe());

    // Random bytes that are not a TLS record.
    let mut junk = random_bytes(1024);
    if (0x14..=0x18).contains(&junk[0]) {
        junk[0] ^= 0x80;
    }
    let garbage = Probe::run(addr, &junk);
    garbage.assert_no_plaintext("garbage");
    eprintln!("{kind}: random bytes: {}", garbage.describe());
    assert!(garbage.elapsed < TIMEOUT, "{kind}: {}", garbage.describe());

    // A handshake record holding a "ClientHello" of random bytes.
    let body = random_bytes(508);
    let mut record = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc];
    record.extend_from_slice(&body);
    let shaped = Probe::run(addr, &record);
    shaped.assert_no_plaintext("random ClientHello");
    eprintln!(
        "{kind}: a ClientHello of random bytes: {}",
        shaped.describe()
    );
    assert!(shaped.elapsed < TIMEOUT, "{kind}: {}", shaped.describe());

    // Half a real ClientHello, then silence; meanwhile a fresh client
    // connects and echoes.
    let hello = client_hello(pki);
    let half = hello[..hello.len() / 2].to_vec();
    let stall_started = Instant::now();
    let stalled = thread::spawn(move || Probe::run(addr, &half));
    echo_a_few(&url, Some(pki), 3);
    let fresh_done = stall_started.elapsed();
    let stall = stalled.join().unwrap();
    let stall_ended = stall_started + stall.elapsed;
    stall.assert_no_plaintext("stalled ClientHello");
    eprintln!(
        "{kind}: half a ClientHello ({} of {} bytes), then nothing: {}; a fresh client \
         connected, echoed and closed within {fresh_done:.0?} meanwhile",
        hello.len() / 2,
        hello.len(),
        stall.describe()
    );
    assert!(
        stall.elapsed >= TIMEOUT && stall.elapsed <= 2 * TIMEOUT,
        "{kind}: the stalled handshake ended after {:?}, not within 1-2 × {TIMEOUT:?}",
        stall.elapsed
    );
    assert!(fresh_done < stall.elapsed, "{kind}: {fresh_done:?}");

    // After: a fresh client, then the steady one closes.
    echo_a_few(&url, Some(pki), 3);
    let echoed = steady.finish();
    let (longest, during_stall) = gaps(&echoed, stall_started, stall_ended);
    eprintln!(
        "{kind}: the well-behaved client echoed {} times, {during_stall} during the stall; \
         longest wait {longest:.1?}",
        echoed.len()
    );
    assert!(longest < MAX_ECHO_GAP, "{kind}: an echo waited {longest:?}");
    assert!(during_stall > 0, "{kind}: no echo during the stall");
    let closes = server.closes(3);
    assert!(closes.iter().all(|(code, _)| *code == 1000), "{closes:?}");
    let stats = server.stop();
    assert_eq!((stats.accepted, stats.refused), (3, 4), "{kind}: {stats:?}");
}

fn tls_client_on_the_plain_port(kind: ServerKind) {
    let server = EchoServer::start(kind, builder(None));
    let steady = Steady::start(&format!("ws://127.0.0.1:{}/", server.port()), None);
    let started = Instant::now();
    let err = ClientBuilder::new(format!("wss://127.0.0.1:{}/", server.port()))
        .no_proxy()
        .handshake_timeout(Some(PROBE_BOUND))
        .connect()
        .unwrap_err();
    let elapsed = started.elapsed();
    eprintln!("{kind}: wss:// to the plain port failed after {elapsed:.0?}: {err} ({err:?})");
    assert!(
        matches!(
            err,
            Error::Tls(TlsError::NotTls(_) | TlsError::HandshakeClosed)
        ),
        "{kind}: {err:?}"
    );
    assert!(err.to_string().contains("TLS"), "{kind}: {err}");
    assert!(elapsed < TIMEOUT, "{kind}: {elapsed:?}");
    let echoed = steady.finish();
    let (longest, _) = gaps(&echoed, started, started + elapsed);
    assert!(longest < MAX_ECHO_GAP, "{kind}: an echo waited {longest:?}");
    assert_eq!(server.closes(1), [(1000, "done".to_owned())], "{kind}");
    let stats = server.stop();
    assert_eq!((stats.accepted, stats.refused), (1, 1), "{kind}: {stats:?}");
}

#[test]
fn bad_input_on_the_event_loop_server() {
    let pki = Pki::new();
    bad_input_on_the_tls_port(ServerKind::EventLoop, &pki);
    tls_client_on_the_plain_port(ServerKind::EventLoop);
}

#[test]
fn bad_input_on_the_threaded_server() {
    let pki = Pki::new();
    bad_input_on_the_tls_port(ServerKind::Threaded, &pki);
    tls_client_on_the_plain_port(ServerKind::Threaded);
}

#[test]
fn bad_input_on_the_tokio_server() {
    let pki = Pki::new();
    bad_input_on_the_tls_port(ServerKind::Tokio, &pki);
    tls_client_on_the_plain_port(ServerKind::Tokio);
}
