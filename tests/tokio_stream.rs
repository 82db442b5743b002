//! The tokio `WebSocketStream` against itself and against raw peers:
//! echo with and without permessage-deflate, the close handshake, split
//! halves in two tasks, cancellation of `next()` mid-message, a send
//! racing a close, the engine's timers on tokio's clock, and backpressure
//! through `poll_ready`.
#![cfg(feature = "tokio")]

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use wsstack::connection::{Config, Engine, ProtocolError, UsageError};
use wsstack::extensions::PerMessageDeflate;
use wsstack::frame::{Frame, OpCode};
use wsstack::handshake::{ClientRequest, ServerConfig};
use wsstack::tokio::WebSocketStream;
use wsstack::{CloseCode, Error, FrameSocket, Message};

/// Bounds every wait in this file.
const WAIT: Duration = Duration::from_secs(20);

/// A connected client and server, both wsstack tokio streams over TCP.
async fn pair(
    handshake: ServerConfig,
    request: impl FnOnce(ClientRequest) -> ClientRequest,
    config: Config,
) -> (WebSocketStream<TcpStream>, WebSocketStream<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        wsstack::tokio::accept(tcp, &handshake, config)
            .await
            .unwrap()
    });
    let request = request(ClientRequest::new(&format!("ws://{addr}/pair")).unwrap());
    let client = wsstack::tokio::connect_tcp(&request, config).await.unwrap();
    let server = timeout(WAIT, server).await.unwrap().unwrap();
    (client, server)
}

/// Echo every message until the stream ends; returns how it ended.
async fn echo(mut ws: WebSocketStream<TcpStream>) -> Option<(CloseCode, String)> {
    while let Some(Ok(message)) = ws.next().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
    ws.close_status().map(|(c, r)| (c, r.to_owned()))
}

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 + 7) as u8).collect()
}

async fn echo_sizes(deflate: bool) {
    let mut handshake = ServerConfig::new();
    if deflate {
        handshake = handshake.with_extension(PerMessageDeflate::new());
    }
    let (mut client, server) = pair(
        handshake,
        |r| {
            if deflate {
                r.with_extension(PerMessageDeflate::new())
            } else {
                r
            }
        },
        Config::default(),
    )
    .await;
    let names = client.engine().extension_names().join(",");
    assert_eq!(names, if deflate { "permessage-deflate" } else { "" });
    assert_eq!(server.request().unwrap().path(), "/pair");
    assert_eq!(client.response().unwrap().status, 101);
    let server = tokio::spawn(echo(server));
    for size in [0, 1, 125, 126, 65535, 65536, 1 << 20] {
        let text: String = "wsstack ".chars().cycle().take(size).collect();
        client.send(text.as_str()).await.unwrap();
        let echoed = timeout(WAIT, client.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(echoed, Message::from(text));
        client.send(payload(size)).await.unwrap();
        let echoed = timeout(WAIT, client.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(echoed, Message::Binary(payload(size)));
    }
    let (code, reason) = timeout(WAIT, client.close(4000, "bye"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((code, reason.as_str()), (CloseCode::new(4000), ""));
    let ended = timeout(WAIT, server).await.unwrap().unwrap();
    assert_eq!(ended, Some((CloseCode::new(4000), "bye".to_owned())));
    assert!(client.next().await.is_none(), "a closed stream stays ended");
}

#[tokio::test]
async fn echo_every_length_class() {
    echo_sizes(false).await;
}

#[tokio::test]
async fn echo_every_length_class_with_permessage_deflate() {
    echo_sizes(true).await;
}

/// `SinkExt::close` sends 1000 and leaves the rest of the stream to read:
/// messages that were on their way are not lost.
#[tokio::test]
async fn sink_close_then_read_to_the_end() {
    let (mut client, mut server) = pair(ServerConfig::new(), |r| r, Config::default()).await;
    for i in 0..10 {
        server.send(format!("before close {i}")).await.unwrap();
    }
    // The server reads (and answers our Close) meanwhile.
    let server = tokio::spawn(async move {
        assert!(server.next().await.is_none());
        server
    });
    SinkExt::close(&mut client).await.unwrap();
    let mut got = Vec::new();
    while let Some(item) = timeout(WAIT, client.next()).await.unwrap() {
        got.push(item.unwrap());
    }
    assert_eq!(got.len(), 10);
    assert_eq!(got[9], Message::from("before close 9"));
    let server = timeout(WAIT, server).await.unwrap().unwrap();
    assert_eq!(server.close_status(), Some((CloseCode::NORMAL, "")));
    assert_eq!(client.close_status(), Some((CloseCode::NORMAL, "")));
}

/// The halves work from two tasks at once: one sends 2,000 messages while
/// the other reads the echoes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_in_two_tasks() {
    const N: usize = 2000;
    let (client, server) = pair(ServerConfig::new(), |r| r, Config::default()).await;
    let server = tokio::spawn(echo(server));
    let (mut read, mut write) = client.split();
    let writer = tokio::spawn(async move {
        for i in 0..N {
            write.send(format!("message {i}")).await.unwrap();
        }
        write
    });
    let reader = tokio::spawn(async move {
        for i in 0..N {
            let m = read.next().await.unwrap().unwrap();
            assert_eq!(m, Message::from(format!("message {i}")));
        }
        read
    });
    let mut write = timeout(WAIT, writer).await.unwrap().unwrap();
    let mut read = timeout(WAIT, reader).await.unwrap().unwrap();
    write.close(1000, "done").await.unwrap();
    assert!(timeout(WAIT, read.next()).await.unwrap().is_none());
    assert_eq!(
        read.close_status(),
        Some((CloseCode::NORMAL, String::new()))
    );
    let ws = read.reunite(write).unwrap();
    assert!(ws.close_status().is_some());
    timeout(WAIT, server).await.unwrap().unwrap();
}

/// A client stream over an in-memory pipe, and the raw server end.
fn duplex_client(config: Config, capacity: usize) -> (WebSocketStream<DuplexStream>, DuplexStream) {
    let (ours, theirs) = tokio::io::duplex(capacity);
    let engine = Engine::client(config).unwrap();
    (WebSocketStream::from_engine(ours, engine, &[]), theirs)
}

/// A 300 KB message in 7 fragments, written in pieces cut at every kind
/// of place (inside headers too); a `next()` is started and dropped after
/// every piece. The message still arrives whole.
#[tokio::test]
async fn dropped_next_mid_message_loses_nothing_in_memory() {
    let (mut ws, mut peer) = duplex_client(Config::default(), 1 << 20);
    let message = payload(300_000);
    let mut wire = Vec::new();
    let parts: Vec<&[u8]> = message.chunks(50_000).collect();
    for (i, part) in parts.iter().enumerate() {
        let frame = if i == 0 {
            Frame::binary(part.to_vec())
        } else {
            Frame::continuation(part.to_vec())
        };
        frame.with_fin(i == parts.len() - 1).encode(&mut wire);
        if i == 3 {
            Frame::ping("between fragments").encode(&mut wire);
        }
    }
    let mut dropped = 0;
    let mut whole = None;
    for piece in wire.chunks(7919) {
        assert!(
            whole.is_none(),
            "the message completed before its last byte"
        );
        peer.write_all(piece).await.unwrap();
        // The future reads what is there, finds the message incomplete,
        // and is dropped.
        match timeout(Duration::from_millis(2), ws.next()).await {
            Err(_) => dropped += 1,
            Ok(item) => whole = Some(item.unwrap().unwrap()),
        }
    }
    let whole = match whole {
        Some(message) => message,
        None => timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap(),
    };
    assert!(dropped > 30, "{dropped} futures dropped mid-message");
    assert_eq!(whole, Message::Binary(message));
    // The ping between fragments was answered.
    let mut pong = [0u8; 64];
    let n = peer.read(&mut pong).await.unwrap();
    assert_eq!(pong[0], 0x8a, "a pong frame");
    assert!(n > 2);
}

/// The same over TCP with a third peer program's pace: a blocking
/// wsstack `FrameSocket` server sends a 1 MB text message in 16 fragments,
/// one at a time when the test asks; the test runs `next()` under a short
/// `timeout` after each. The message arrives whole and valid.
#[tokio::test]
async fn dropped_next_mid_message_loses_nothing_over_tcp() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let text: String = "ünïcödé fragments ".chars().cycle().take(400_000).collect();
    let expected = text.clone();
    let peer = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let (mut socket, _) = FrameSocket::accept(tcp, &ServerConfig::new()).unwrap();
        let bytes = text.as_bytes();
        // Cut at byte offsets that split characters.
        let parts: Vec<&[u8]> = bytes.chunks(bytes.len() / 15 + 1).collect();
        for (i, part) in parts.iter().enumerate() {
            go_rx.recv().unwrap();
            let opcode = if i == 0 {
                OpCode::Text
            } else {
                OpCode::Continuation
            };
            let frame = Frame::new(opcode, part.to_vec()).with_fin(i == parts.len() - 1);
            socket.send(&frame).unwrap();
            sent_tx.send(()).unwrap();
        }
        // Wait for the client's Close and answer it.
        while socket
            .recv()
            .map(|f| f.opcode != OpCode::Close)
            .unwrap_or(false)
        {}
        let _ = socket.send(&Frame::close(1000, ""));
    });
    let mut ws = wsstack::tokio::connect_url(&format!("ws://{addr}/"))
        .await
        .unwrap();
    let mut dropped = 0;
    let message = loop {
        if go_tx.send(()).is_ok() {
            timeout(WAIT, sent_rx.recv()).await.unwrap();
        }
        match timeout(Duration::from_millis(20), ws.next()).await {
            Err(_) => dropped += 1,
            Ok(item) => break item.unwrap().unwrap(),
        }
    };
    assert!(
        dropped >= 10,
        "only {dropped} futures were dropped mid-message"
    );
    assert_eq!(message, Message::from(expected));
    timeout(WAIT, ws.close(1000, "")).await.unwrap().unwrap();
    peer.join().unwrap();
}

/// One task sends as fast as it can while the peer closes the connection:
/// every send completes or reports the close, none hangs, and every
/// message whose send succeeded reaches the peer (which reads until our
/// Close).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_racing_the_peers_close_completes_or_reports() {
    let (client, mut server) = pair(ServerConfig::new(), |r| r, Config::default()).await;
    let (mut read, mut write) = client.split();
    let writer = tokio::spawn(async move {
        let mut ok = 0usize;
        loop {
            match write.send(format!("{ok}")).await {
                Ok(()) => ok += 1,
                Err(e) => return (ok, e),
            }
        }
    });
    let reader = tokio::spawn(async move { while read.next().await.is_some() {} });
    let mut received = 0usize;
    while received < 200 {
        let m = timeout(WAIT, server.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(m, Message::from(received.to_string()));
        received += 1;
    }
    SinkExt::close(&mut server).await.unwrap();
    while let Some(item) = timeout(WAIT, server.next()).await.unwrap() {
        assert_eq!(item.unwrap(), Message::from(received.to_string()));
        received += 1;
    }
    let (ok, error) = timeout(WAIT, writer)
        .await
        .expect("the sender never hangs")
        .unwrap();
    assert!(
        matches!(error, Error::Usage(UsageError::Closed) | Error::Io(_)),
        "{error:?}"
    );
    assert_eq!(ok, received, "every message whose send succeeded arrived");
    timeout(WAIT, reader).await.unwrap().unwrap();
}

/// A peer that vanishes (its socket dropped with data unread, so the
/// kernel resets it) while we send: the sender gets an error, never hangs.
#[tokio::test]
async fn send_to_a_vanished_peer_reports_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let (mut socket, _) = FrameSocket::accept(tcp, &ServerConfig::new()).unwrap();
        for _ in 0..10 {
            socket.recv().unwrap();
        }
        drop(socket);
    });
    let mut ws = wsstack::tokio::connect_url(&format!("ws://{addr}/"))
        .await
        .unwrap();
    let started = Instant::now();
    let error = loop {
        if let Err(e) = timeout(WAIT, ws.send(vec![0u8; 16 * 1024])).await.unwrap() {
            break e;
        }
    };
    assert!(matches!(error, Error::Io(_)), "{error:?}");
    assert!(started.elapsed() < WAIT);
    peer.join().unwrap();
    // The stream reports the loss once, then ends.
    match timeout(WAIT, ws.next()).await.unwrap() {
        Some(Err(Error::Io(_))) | None => {}
        other => panic!("{other:?}"),
    }
}

/// A peer that never answers our keepalive pings: `next()` ends with the
/// pong-timeout error within the pong deadline, and our Close carries 1011.
#[tokio::test]
async fn unanswered_ping_ends_next_within_the_pong_deadline() {
    let ping = Duration::from_millis(100);
    let pong = Duration::from_millis(300);
    let config = Config::default().with_ping(Some(ping), pong);
    let (mut ws, mut peer) = duplex_client(config, 1 << 16);
    let started = Instant::now();
    let item = timeout(WAIT, ws.next()).await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        matches!(item, Some(Err(Error::Protocol(ProtocolError::PongTimeout)))),
        "{item:?}"
    );
    assert!(elapsed >= ping + pong, "{elapsed:?}");
    assert!(
        elapsed < ping + pong + Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert_eq!(ws.close_status().unwrap().0, CloseCode::INTERNAL_ERROR);
    // What reached the peer: a ping, then a Close with 1011. The peer
    // hangs up, which ends our lingering close.
    drop(peer.shutdown().await);
    let mut wire = Vec::new();
    let reading = async {
        let mut chunk = [0u8; 256];
        while let Ok(n) = peer.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            wire.extend_from_slice(&chunk[..n]);
        }
    };
    let (_, end) = tokio::join!(reading, timeout(WAIT, ws.next()));
    assert!(end.unwrap().is_none(), "the stream ends after its error");
    // Masked client frames, each short: opcode, 0x80 | length, key, payload.
    let mut frames = Vec::new();
    let mut at = 0;
    while at + 6 <= wire.len() {
        let len = (wire[at + 1] & 0x7f) as usize;
        let key = [wire[at + 2], wire[at + 3], wire[at + 4], wire[at + 5]];
        let body: Vec<u8> = wire[at + 6..at + 6 + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        frames.push((wire[at] & 0x0f, body));
        at += 6 + len;
    }
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(frames[0].0, 0x9, "a ping first");
    assert_eq!(
        frames[1],
        (0x8, 1011u16.to_be_bytes().to_vec()),
        "then a Close 1011"
    );
}

/// Our Close that the peer never answers: `close()` gives up after the
/// close timeout.
#[tokio::test]
async fn unanswered_close_times_out() {
    let config = Config::default().with_close_timeout(Duration::from_millis(300));
    let (mut ws, _peer) = duplex_client(config, 1 << 16);
    let started = Instant::now();
    let result = timeout(WAIT, ws.close(1000, "bye")).await.unwrap();
    assert!(
        matches!(&result, Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut),
        "{result:?}"
    );
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(5));
}

/// A peer that does not read: `poll_ready` waits once the output passes
/// the high-water mark, and resumes when the peer reads.
#[tokio::test]
async fn poll_ready_waits_above_the_high_water_mark() {
    const HWM: usize = 256 * 1024;
    let (mut ws, mut peer) = duplex_client(Config::default(), 64 * 1024);
    ws.set_high_water_mark(HWM);
    let chunk = vec![7u8; 16 * 1024];
    let mut fed = 0;
    loop {
        match timeout(
            Duration::from_millis(50),
            ws.feed(Message::Binary(chunk.clone())),
        )
        .await
        {
            Ok(result) => {
                result.unwrap();
                fed += 1;
                assert!(fed < 1000, "poll_ready never pushed back");
            }
            Err(_) => break,
        }
        assert!(ws.buffered_amount() <= HWM + chunk.len() + 14);
    }
    assert!(ws.buffered_amount() >= HWM - chunk.len());
    // The peer reads everything: the flush completes.
    let drain = tokio::spawn(async move {
        let mut sink = [0u8; 64 * 1024];
        let mut total = 0;
        while let Ok(n) = peer.read(&mut sink).await {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    });
    timeout(WAIT, ws.flush()).await.unwrap().unwrap();
    assert_eq!(ws.buffered_amount(), 0);
    drop(ws);
    let total = timeout(WAIT, drain).await.unwrap().unwrap();
    assert!(total >= fed * chunk.len());
}

/// A peer's protocol violation is yielded once, with the Close (1007)
/// sent for it, then the stream ends.
#[tokio::test]
async fn protocol_error_is_yielded_once_then_the_stream_ends() {
    let (mut ws, mut peer) = duplex_client(Config::default(), 1 << 16);
    let mut wire = Vec::new();
    Frame::new(OpCode::Text, vec![0xff, 0xfe]).encode(&mut wire);
    peer.write_all(&wire).await.unwrap();
    let item = timeout(WAIT, ws.next()).await.unwrap();
    match item {
        Some(Err(e)) => assert_eq!(e.close_code(), Some(CloseCode::INVALID_PAYLOAD)),
        other => panic!("{other:?}"),
    }
    assert_eq!(ws.close_status().unwrap().0, CloseCode::INVALID_PAYLOAD);
    peer.shutdown().await.unwrap();
    assert!(timeout(WAIT, ws.next()).await.unwrap().is_none());
    let mut close = [0u8; 2];
    peer.read_exact(&mut close).await.unwrap();
    assert_eq!(close[0], 0x88);
}

/// The handshake refuses what the server's policy refuses, with the
/// status on the wire.
#[tokio::test]
async fn refused_handshake_is_answered_and_reported() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let handshake = ServerConfig::new().with_allowed_origins(["https://ok.example"]);
        wsstack::tokio::accept(tcp, &handshake, Config::default()).await
    });
    let request = ClientRequest::new(&format!("ws://{addr}/"))
        .unwrap()
        .with_origin("https://evil.example");
    let result = wsstack::tokio::connect_tcp(&request, Config::default()).await;
    assert!(matches!(result, Err(Error::Handshake(_))), "{result:?}");
    let server = timeout(WAIT, server).await.unwrap().unwrap();
    assert!(matches!(server, Err(Error::Handshake(_))));
    // connect_tcp refuses wss:// with a clear error rather than sending
    // it in clear.
    let request = ClientRequest::new("wss://127.0.0.1:1/").unwrap();
    let wss = wsstack::tokio::connect_tcp(&request, Config::default()).await;
    assert!(matches!(wss, Err(Error::Handshake(_))));
}

/// Long payloads leave without a copy (`Engine::send_owned`): messages
/// fed back to back, short and long, with pings and a split-half writer
/// between them, still reach the peer whole and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_payloads_fed_back_to_back_arrive_in_order() {
    let (mut client, server) = pair(ServerConfig::new(), |r| r, Config::default()).await;
    let echoed = tokio::spawn(echo(server));
    let sizes = [100_000, 10, 70_000, 5000, 4096, 3, 1 << 20, 64 * 1024];
    for (i, &size) in sizes.iter().enumerate() {
        client
            .feed(Message::Binary(payload(size + i)))
            .await
            .unwrap();
        if i % 3 == 1 {
            client.ping(b"between").await.unwrap();
        }
    }
    client.flush().await.unwrap();
    for (i, &size) in sizes.iter().enumerate() {
        let got = timeout(WAIT, client.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got, Message::Binary(payload(size + i)), "message {i}");
    }
    // The same through a split writer, while the reader reads.
    let (mut reader, mut writer) = client.split();
    let read = tokio::spawn(async move {
        let mut seen = Vec::new();
        while seen.len() < sizes.len() {
            match timeout(WAIT, reader.next()).await.unwrap() {
                Some(Ok(m)) => seen.push(m),
                other => panic!("{other:?}"),
            }
        }
        seen
    });
    for (i, &size) in sizes.iter().enumerate() {
        writer
            .feed(Message::Binary(payload(size * 2 + i)))
            .await
            .unwrap();
    }
    writer.flush().await.unwrap();
    let seen = timeout(WAIT, read).await.unwrap().unwrap();
    for (i, &size) in sizes.iter().enumerate() {
        assert_eq!(seen[i], Message::Binary(payload(size * 2 + i)), "split {i}");
    }
    writer.close(1000, "done").await.unwrap();
    assert_eq!(
        timeout(WAIT, echoed).await.unwrap().unwrap(),
        Some((CloseCode::NORMAL, "done".to_owned()))
    );
}
