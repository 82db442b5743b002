//! Echo throughput, side by side (`docs/BENCHMARKS.md` §2).
//!
//! Each server runs alone on core 0 (`taskset -c 0`): wsstack's
//! event-loop server (one loop), wsstack's threaded server, a
//! tokio-tungstenite echo server and a fastwebsockets echo server (both on
//! a current-thread tokio runtime). The load generator runs on core 1 and
//! is a third-party client: fastwebsockets on a current-thread runtime.
//! Each connection keeps one message in flight: send, await the echo,
//! check it, record the round trip. 1 s warm-up, 5 s window, servers
//! rotated A B C D per round.
//!
//! `cargo run --release -p wsstack-bench --bin echo_bench -- run [ROUNDS]`
//! prints one `key=value` line per server and case (median over rounds,
//! min-max), ending with the ratio against fastwebsockets.
//!
//! `... --bin echo_bench -- tls [ROUNDS]` measures `wss://` next to
//! `ws://` in the same run: wsstack's event-loop and threaded servers,
//! each plain and with TLS (a certificate from a CA generated for the run
//! with rcgen), rotated per round, against the same fastwebsockets load
//! client over tokio-rustls (trusting that CA; rustls with the `ring`
//! provider, as the servers). Lines end with the ratio against the same
//! server without TLS.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload, Role, WebSocket};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;
use wsstack::server::{Client, Handler, ServerBuilder};
use wsstack::tls::{TlsClientConfig, TlsServerConfig};
use wsstack::Message;

const WARMUP: Duration = Duration::from_secs(1);
const WINDOW: Duration = Duration::from_secs(5);
const SERVERS: [&str; 4] = [
    "wsstack-event-loop",
    "wsstack-threaded",
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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Read an HTTP head (up to the blank line, or what came before the end of
/// the stream) from a stream.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut byte).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&byte[..n]);
    }
    Ok(head)
}

async fn fastwebsockets_conn(mut stream: TcpStream) {
    // The handshake is not what is measured; take the key from the request.
    let head = read_head(&mut stream).await.unwrap_or_default();
    let head = String::from_utf8_lossy(&head).into_owned();
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

/// Run server `kind`; with `tls` (certificate chain and key files), a
/// wsstack server serves `wss://`.
fn serve(kind: &str, tls: Option<(&str, &str)>) {
    match kind {
        "wsstack-event-loop" | "wsstack-threaded" => {
            let mut builder = ServerBuilder::new()
                .address("127.0.0.1:0")
                .loops(1)
                .max_connections(20_000);
            if let Some((cert, key)) = tls {
                builder = builder.tls(TlsServerConfig::from_pem_files(cert, key).unwrap());
            }
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

/// The WebSocket handshake over `stream` (plain or TLS).
async fn client<S: AsyncRead + AsyncWrite + Unpin>(
    addr: SocketAddr,
    mut stream: S,
) -> WebSocket<S> {
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // A TLS stream may hold the record until flushed (a no-op for TCP).
    stream.flush().await.unwrap();
    let head = read_head(&mut stream)
        .await
        .unwrap_or_else(|e| panic!("reading the upgrade response: {e}"));
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    WebSocket::after_handshake(stream, Role::Client)
}

async fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// What one load run measured: messages in the window, sorted round trips
/// in microseconds, and the load client's own CPU % over the window.
struct Measured {
    count: u64,
    lat: Vec<u32>,
    cpu: f64,
}

/// `conns` connections to `addr`, in batches of 100; over TLS trusting
/// the CA certificate in `ca`, if given.
fn load(addr: SocketAddr, conns: usize, size: usize, text: bool, ca: Option<&Path>) -> Measured {
    let tls = ca.map(|ca| {
        let config = TlsClientConfig::new().with_ca_file(ca).unwrap();
        TlsConnector::from(config.to_rustls().unwrap())
    });
    runtime().block_on(async move {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                let batches: Vec<usize> = (0..conns)
                    .step_by(100)
                    .map(|i| (conns - i).min(100))
                    .collect();
                match tls {
                    None => {
                        let mut sockets = Vec::with_capacity(conns);
                        for &n in &batches {
                            let opened = futures_util::future::join_all(
                                (0..n).map(|_| async { client(addr, tcp(addr).await).await }),
                            )
                            .await;
                            sockets.extend(opened);
                        }
                        drive(sockets, size, text).await
                    }
                    Some(connector) => {
                        let name = ServerName::try_from("localhost").unwrap();
                        let mut sockets = Vec::with_capacity(conns);
                        for &n in &batches {
                            let opened = futures_util::future::join_all((0..n).map(|_| async {
                                let stream = connector
                                    .connect(name.clone(), tcp(addr).await)
                                    .await
                                    .unwrap();
                                client(addr, stream).await
                            }))
                            .await;
                            sockets.extend(opened);
                        }
                        drive(sockets, size, text).await
                    }
                }
            })
            .await
    })
}

/// Each connection keeps one message in flight for the warm-up and the
/// window.
async fn drive<S: AsyncRead + AsyncWrite + Unpin + 'static>(
    sockets: Vec<WebSocket<S>>,
    size: usize,
    text: bool,
) -> Measured {
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
                ws.write_frame(Frame::new(
                    true,
                    opcode,
                    None,
                    Payload::Owned(payload.clone()),
                ))
                .await
                .unwrap();
                // Push a TLS record out now (a no-op for TCP).
                ws.flush().await.unwrap();
                let echo = ws.read_frame().await.unwrap();
                assert_eq!(echo.payload.len(), payload.len());
                assert_eq!(
                    &echo.payload[..payload.len().min(16)],
                    &payload[..payload.len().min(16)]
                );
                if measuring.get() {
                    count.set(count.get() + 1);
                    lat.borrow_mut().push(t0.elapsed().as_micros() as u32);
                }
            }
        }));
    }
    tokio::time::sleep(WARMUP).await;
    // The orchestrator samples the server's CPU on these two lines.
    println!("window start");
    measuring.set(true);
    let cpu_before = cpu_ticks(std::process::id());
    tokio::time::sleep(WINDOW).await;
    measuring.set(false);
    let cpu_after = cpu_ticks(std::process::id());
    println!("window end");
    stop.set(true);
    let n = count.get();
    let mut l = lat.borrow().clone();
    l.sort_unstable();
    for t in tasks {
        t.abort();
    }
    Measured {
        count: n,
        lat: l,
        cpu: (cpu_after - cpu_before) as f64 / WINDOW.as_secs_f64(),
    }
}

// ---------------------------------------------------------------- orchestration

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15; after ") " the first is field 3.
    fields
        .get(11)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
}

struct Sample {
    rate: f64,
    p50: u32,
    p99: u32,
    /// Server CPU % over the window.
    cpu: f64,
    /// Load client CPU % over the window.
    client_cpu: f64,
}

/// The files a `wss://` run needs.
struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

/// One run of server `kind` (over TLS with `tls`) under the load client.
fn one(kind: &str, conns: usize, size: usize, text: bool, tls: Option<&TlsFiles>) -> Sample {
    let exe = std::env::current_exe().unwrap();
    let mut serve = Command::new("taskset");
    serve.args(["-c", "0"]).arg(&exe).args(["serve", kind]);
    if let Some(tls) = tls {
        serve.arg(&tls.cert).arg(&tls.key);
    }
    let mut server: Child = serve.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().to_string();
    let mut load = Command::new("taskset");
    load.args(["-c", "1"]).arg(&exe).args([
        "load",
        &addr,
        &conns.to_string(),
        &size.to_string(),
        if text { "text" } else { "binary" },
    ]);
    if let Some(tls) = tls {
        load.arg(&tls.ca);
    }
    let mut client = load.stdout(Stdio::piped()).spawn().unwrap();
    let (mut before, mut after, mut report) = (0, 0, String::new());
    for line in BufReader::new(client.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        match line.as_str() {
            "window start" => before = cpu_ticks(server.id()),
            "window end" => after = cpu_ticks(server.id()),
            _ => report = line,
        }
    }
    let _ = client.wait();
    let _ = server.kill();
    let _ = server.wait();
    let get = |k: &str| -> f64 {
        report
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    // Ticks are 1/100 s: ticks per second of window are CPU %.
    let cpu = after.saturating_sub(before) as f64 / WINDOW.as_secs_f64();
    Sample {
        rate: get("msgs_per_s="),
        p50: get("p50_us=") as u32,
        p99: get("p99_us=") as u32,
        cpu,
        client_cpu: get("client_cpu_pct="),
    }
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
    ]
}

fn run(rounds: usize) {
    for (conns, size, text) in cases() {
        let mut samples: Vec<Vec<Sample>> = SERVERS.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for (i, kind) in SERVERS.iter().enumerate() {
                samples[i].push(one(kind, conns, size, text, None));
            }
        }
        let fast = median(samples[3].iter().map(|s| s.rate).collect());
        for (i, kind) in SERVERS.iter().enumerate() {
            let rates: Vec<f64> = samples[i].iter().map(|s| s.rate).collect();
            let min = rates.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = rates.iter().cloned().fold(0.0, f64::max);
            let med = median(rates);
            let cpu = median(samples[i].iter().map(|s| s.cpu).collect());
            let p50 = median(samples[i].iter().map(|s| s.p50 as f64).collect());
            let p99 = median(samples[i].iter().map(|s| s.p99 as f64).collect());
            let per_cpu_s = if cpu > 0.0 { med / (cpu / 100.0) } else { 0.0 };
            let flag = if cpu < 90.0 { " client_bound=true" } else { "" };
            println!(
                "server={kind} conns={conns} payload={size} kind={} msgs_per_s={med:.0} min={min:.0} max={max:.0} \
                 p50_us={p50:.0} p99_us={p99:.0} server_cpu_pct={cpu:.0} echoes_per_cpu_s={per_cpu_s:.0}{flag} \
                 ratio_vs_fastwebsockets={:.2}",
                if text { "text" } else { "binary" },
                med / fast
            );
        }
    }
}

/// A CA and a server certificate for 127.0.0.1 and localhost, generated
/// with rcgen, written to a fresh folder under the system's temp dir.
fn tls_files() -> TlsFiles {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let dir = std::env::temp_dir().join(format!("wsstack-echo-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "echo_bench CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    let files = TlsFiles {
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
        ca: dir.join("ca.crt"),
    };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    std::fs::write(&files.ca, ca_cert.pem()).unwrap();
    files
}

/// `tls [ROUNDS]`: wsstack's servers with and without TLS, same run. The
/// cases: 100 × 20 B and 100 × 64 KiB binary, or `ECHO_CASES`.
fn run_tls(rounds: usize) {
    let files = tls_files();
    let cases = if std::env::var("ECHO_CASES").is_ok() {
        cases()
    } else {
        vec![(100, 20, false), (100, 64 * 1024, false)]
    };
    let variants: Vec<(&str, bool)> = ["wsstack-event-loop", "wsstack-threaded"]
        .iter()
        .flat_map(|&kind| [(kind, false), (kind, true)])
        .collect();
    for (conns, size, text) in cases {
        let mut samples: Vec<Vec<Sample>> = variants.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for (i, &(kind, tls)) in variants.iter().enumerate() {
                samples[i].push(one(kind, conns, size, text, tls.then_some(&files)));
            }
        }
        let mut plain_rate = 0.0;
        for (i, &(kind, tls)) in variants.iter().enumerate() {
            let rates: Vec<f64> = samples[i].iter().map(|s| s.rate).collect();
            let min = rates.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = rates.iter().cloned().fold(0.0, f64::max);
            let med = median(rates);
            if !tls {
                plain_rate = med;
            }
            let cpu = median(samples[i].iter().map(|s| s.cpu).collect());
            let client_cpu = median(samples[i].iter().map(|s| s.client_cpu).collect());
            let p50 = median(samples[i].iter().map(|s| s.p50 as f64).collect());
            let p99 = median(samples[i].iter().map(|s| s.p99 as f64).collect());
            let per_cpu_s = if cpu > 0.0 { med / (cpu / 100.0) } else { 0.0 };
            let flag = if cpu < 90.0 { " client_bound=true" } else { "" };
            println!(
                "server={kind} transport={} conns={conns} payload={size} kind={} msgs_per_s={med:.0} \
                 min={min:.0} max={max:.0} p50_us={p50:.0} p99_us={p99:.0} server_cpu_pct={cpu:.0} \
                 client_cpu_pct={client_cpu:.0} echoes_per_cpu_s={per_cpu_s:.0}{flag} ratio_vs_plain={:.2}",
                if tls { "tls" } else { "plain" },
                if text { "text" } else { "binary" },
                med / plain_rate
            );
        }
    }
    let _ = std::fs::remove_dir_all(files.ca.parent().unwrap());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => {
            let tls = args.get(2).zip(args.get(3));
            serve(&args[1], tls.map(|(c, k)| (c.as_str(), k.as_str())))
        }
        Some("load") => {
            let addr: SocketAddr = args[1].parse().unwrap();
            let (conns, size) = (args[2].parse().unwrap(), args[3].parse().unwrap());
            let ca = args.get(5).map(Path::new);
            let m = load(addr, conns, size, args[4] == "text", ca);
            let pct = |p: f64| {
                m.lat
                    .get(((m.lat.len() as f64 - 1.0) * p) as usize)
                    .copied()
                    .unwrap_or(0)
            };
            println!(
                "msgs_per_s={:.0} p50_us={} p99_us={} client_cpu_pct={:.0}",
                m.count as f64 / WINDOW.as_secs_f64(),
                pct(0.5),
                pct(0.99),
                m.cpu
            );
        }
        Some("tls") => run_tls(args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3)),
        _ => run(args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3)),
    }
}
