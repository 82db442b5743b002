//! The protocol engine through an in-memory client/server pair that can
//! alter bytes in flight: every failure of RFC 6455 §5.4-5.5 and §7 gets the
//! right close code, failure is sticky, splits do not change events, and
//! the close handshake and timers behave.

use std::time::{Duration, Instant};

use wsstack::connection::{Config, Engine, Event, MessageKind, ProtocolError, UsageError};
use wsstack::frame::{Decoded, FixedMask, Frame, FrameDecoder, OpCode};
use wsstack::{CloseCode, Limits, Message, Role};

const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

fn server() -> Engine {
    Engine::server(Config::default()).unwrap()
}

fn client() -> Engine {
    let mut c = Engine::client(Config::default()).unwrap();
    c.set_mask_source(Box::new(FixedMask(KEY)));
    c
}

/// Move everything `from` wants to transmit into `to`, through `tamper`.
fn transfer_altered(from: &mut Engine, to: &mut Engine, tamper: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = Vec::new();
    from.poll_transmit(&mut bytes);
    tamper(&mut bytes);
    to.receive(&bytes);
}

fn transfer(from: &mut Engine, to: &mut Engine) {
    transfer_altered(from, to, |_| {});
}

fn drain(engine: &mut Engine) -> Result<Vec<Event>, (Vec<Event>, ProtocolError)> {
    let mut events = Vec::new();
    loop {
        match engine.poll_event() {
            Ok(Some(e)) => events.push(e),
            Ok(None) => return Ok(events),
            Err(e) => return Err((events, e)),
        }
    }
}

/// Decode frames a server sent (unmasked) or a client sent (masked).
fn frames_sent(engine: &mut Engine) -> Vec<Frame> {
    let mut bytes = Vec::new();
    engine.poll_transmit(&mut bytes);
    let peer_role = match engine.role() {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let dec = FrameDecoder::new(peer_role, usize::MAX);
    let mut out = Vec::new();
    let mut pos = 0;
    while let Decoded::Frame { frame, consumed } = dec.decode(&bytes[pos..]).unwrap() {
        pos += consumed;
        out.push(frame);
    }
    assert_eq!(pos, bytes.len(), "trailing garbage in output");
    out
}

fn masked(frame: Frame) -> Vec<u8> {
    let mut out = Vec::new();
    frame.with_mask(Some(KEY)).encode(&mut out);
    out
}

fn wire(frames: Vec<Frame>) -> Vec<u8> {
    frames.into_iter().flat_map(masked).collect()
}

/// Feed `input` to a fresh server and expect it to fail with `code`: one
/// Close with that code is sent, the error is sticky, later input is
/// ignored and nothing more can be sent.
fn expect_failure(input: &[u8], code: u16, limits: Limits) -> ProtocolError {
    let mut s = Engine::server(Config::default().with_limits(limits)).unwrap();
    s.receive(input);
    let (_, err) = drain(&mut s).expect_err("input must fail the connection");
    assert_eq!(err.close_code(), code, "{err}");
    let sent = frames_sent(&mut s);
    let closes: Vec<&Frame> = sent.iter().filter(|f| f.opcode == OpCode::Close).collect();
    assert_eq!(closes.len(), 1, "exactly one Close is sent");
    assert_eq!(closes[0].close_code_and_reason().unwrap().0, code);
    assert_eq!(
        sent.last().unwrap().opcode,
        OpCode::Close,
        "nothing after our Close"
    );
    // Sticky, and what follows is discarded.
    s.receive(&masked(Frame::ping("after")));
    assert_eq!(s.poll_event(), Err(err.clone()));
    assert_eq!(s.poll_event(), Err(err.clone()));
    assert_eq!(s.send_text("x"), Err(UsageError::Closed));
    assert_eq!(s.ping(b""), Err(UsageError::Closed));
    assert_eq!(s.pending_transmit(), 0, "no pong, nothing after our Close");
    assert!(s.wants_close_transport());
    err
}

#[test]
fn failure_table() {
    let d = Limits::default();
    let small = Limits::default()
        .with_max_message_size(1000)
        .with_max_frame_size(500);
    let cases: Vec<(&str, Vec<u8>, u16, Limits)> = vec![
        (
            "reserved data opcode",
            wire(vec![Frame::new(OpCode::Reserved(3), "x")]),
            1002,
            d,
        ),
        (
            "reserved control opcode",
            wire(vec![Frame::new(OpCode::Reserved(0xB), "")]),
            1002,
            d,
        ),
        (
            "rsv1 unclaimed",
            wire(vec![Frame::text("x").with_rsv(true, false, false)]),
            1002,
            d,
        ),
        (
            "rsv2 unclaimed",
            wire(vec![Frame::text("x").with_rsv(false, true, false)]),
            1002,
            d,
        ),
        (
            "rsv3 on a ping",
            wire(vec![Frame::ping("").with_rsv(false, false, true)]),
            1002,
            d,
        ),
        (
            "continuation with nothing to continue",
            wire(vec![Frame::continuation("x")]),
            1002,
            d,
        ),
        (
            "new data frame inside a fragmented message",
            wire(vec![Frame::text("a").with_fin(false), Frame::binary("b")]),
            1002,
            d,
        ),
        (
            "frame over the frame limit",
            wire(vec![Frame::binary(vec![0; 501])]),
            1009,
            small,
        ),
        (
            "fragmented message over the message limit",
            wire(vec![
                Frame::binary(vec![0; 500]).with_fin(false),
                Frame::continuation(vec![0; 500]).with_fin(false),
                Frame::continuation(vec![0; 1]),
            ]),
            1009,
            small,
        ),
        (
            "invalid UTF-8 in one frame",
            wire(vec![Frame::new(OpCode::Text, vec![b'a', 0xff])]),
            1007,
            d,
        ),
        (
            "invalid UTF-8 across fragments",
            wire(vec![
                Frame::new(OpCode::Text, vec![0xce]).with_fin(false),
                Frame::new(OpCode::Continuation, vec![0x20]),
            ]),
            1007,
            d,
        ),
        (
            "text ending inside a character",
            wire(vec![Frame::new(OpCode::Text, vec![b'a', 0xe2, 0x82])]),
            1007,
            d,
        ),
        (
            "close with 1-byte body",
            wire(vec![Frame::new(OpCode::Close, vec![3])]),
            1002,
            d,
        ),
        (
            "close reason not UTF-8",
            wire(vec![Frame::new(OpCode::Close, vec![3, 232, 0xff])]),
            1007,
            d,
        ),
        (
            "control frame over 125 bytes",
            wire(vec![Frame::ping(vec![0; 126])]),
            1002,
            d,
        ),
        (
            "fragmented control frame",
            wire(vec![Frame::ping("x").with_fin(false)]),
            1002,
            d,
        ),
        (
            "unmasked frame to a server",
            {
                let mut v = Vec::new();
                Frame::text("x").encode(&mut v);
                v
            },
            1002,
            d,
        ),
        (
            "64-bit length with top bit",
            {
                let mut v = vec![0x82, 0xFF];
                v.extend_from_slice(&u64::MAX.to_be_bytes());
                v.extend_from_slice(&KEY);
                v
            },
            1002,
            d,
        ),
    ];
    for (what, input, code, limits) in cases {
        eprintln!("case: {what}");
        expect_failure(&input, code, limits);
    }
    for bad_code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        expect_failure(&wire(vec![Frame::close(bad_code, "")]), 1002, d);
    }
}

#[test]
fn invalid_utf8_fails_as_soon_as_it_cannot_be_valid() {
    let mut s = server();
    // First fragment valid, second starts with a byte that can never
    // follow: fails before the message ends (no final fragment sent).
    s.receive(&wire(vec![Frame::text("κό").with_fin(false)]));
    assert_eq!(drain(&mut s), Ok(vec![]));
    s.receive(&masked(
        Frame::new(OpCode::Continuation, vec![0xf4, 0x90]).with_fin(false),
    ));
    assert_eq!(drain(&mut s).unwrap_err().1, ProtocolError::InvalidUtf8);
    // Within one frame that arrives in pieces.
    let mut s = server();
    let bytes = masked(Frame::new(
        OpCode::Text,
        [b"abc".as_slice(), &[0xed, 0xa0, 0x80], &[b'x'; 100]].concat(),
    ));
    s.receive(&bytes[..6 + 4]);
    assert_eq!(drain(&mut s), Ok(vec![]));
    s.receive(&bytes[10..12]);
    assert_eq!(drain(&mut s).unwrap_err().1, ProtocolError::InvalidUtf8);
}

#[test]
fn events_complete_before_a_failure_are_not_lost() {
    let mut s = server();
    let mut input = wire(vec![Frame::text("first"), Frame::binary(vec![1, 2])]);
    input.extend(wire(vec![Frame::continuation("bad")]));
    s.receive(&input);
    let (events, err) = drain(&mut s).unwrap_err();
    assert_eq!(
        events,
        [
            Event::Message(Message::Text("first".into())),
            Event::Message(Message::Binary(vec![1, 2]))
        ]
    );
    assert_eq!(err, ProtocolError::UnexpectedContinuation);
}

fn sample_stream() -> (Vec<u8>, Vec<Event>) {
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let text = "héllo wörld — ✓ 😀".repeat(50);
    let tb = text.as_bytes();
    let frames = vec![
        Frame::text(""),
        Frame::binary(big.clone()),
        // Fragmented text split inside multi-byte characters, with control
        // frames between the fragments.
        Frame::new(OpCode::Text, tb[..1].to_vec()).with_fin(false),
        Frame::ping("p1"),
        Frame::new(OpCode::Continuation, tb[1..tb.len() - 2].to_vec()).with_fin(false),
        Frame::pong("unsolicited"),
        Frame::new(OpCode::Continuation, Vec::new()).with_fin(false),
        Frame::new(OpCode::Continuation, tb[tb.len() - 2..].to_vec()),
        Frame::binary(Vec::new()).with_fin(false),
        Frame::continuation(vec![9; 3]),
        Frame::close(4000, "done"),
    ];
    let events = vec![
        Event::Message(Message::Text(String::new())),
        Event::Message(Message::Binary(big)),
        Event::Ping(b"p1".to_vec()),
        Event::Pong(b"unsolicited".to_vec()),
        Event::Message(Message::Text(text)),
        Event::Message(Message::Binary(vec![9; 3])),
        Event::Closed {
            code: CloseCode::new(4000),
            reason: "done".into(),
        },
    ];
    (wire(frames), events)
}

#[test]
fn byte_at_a_time_and_random_splits_give_the_same_events() {
    let (input, expected) = sample_stream();
    let mut whole = server();
    whole.receive(&input);
    assert_eq!(drain(&mut whole).unwrap(), expected);
    let reference_out = frames_sent(&mut whole);
    assert_eq!(reference_out.len(), 2, "a pong and the close reply");
    assert_eq!(
        (reference_out[0].opcode, &reference_out[0].payload[..]),
        (OpCode::Pong, &b"p1"[..])
    );
    assert_eq!(
        reference_out[1].close_code_and_reason(),
        Some((4000, &b""[..]))
    );

    let mut one = server();
    let mut got = Vec::new();
    for b in &input {
        one.receive(std::slice::from_ref(b));
        got.extend(drain(&mut one).unwrap());
    }
    assert_eq!(got, expected);
    assert_eq!(frames_sent(&mut one), reference_out);

    // Deterministic pseudo-random splits.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20 {
        let mut s = server();
        let mut got = Vec::new();
        let mut pos = 0;
        while pos < input.len() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = (seed % 3000) as usize + 1;
            let end = (pos + n).min(input.len());
            s.receive(&input[pos..end]);
            pos = end;
            got.extend(drain(&mut s).unwrap());
        }
        assert_eq!(got, expected);
    }
}

#[test]
fn streaming_delivers_chunks_without_buffering_the_message() {
    let mut s = Engine::server(Config::default().with_streaming(true)).unwrap();
    let payload: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let bytes = wire(vec![
        Frame::binary(payload[..60_000].to_vec()).with_fin(false),
        Frame::continuation(payload[60_000..].to_vec()),
    ]);
    let mut got = Vec::new();
    let mut chunks = 0;
    let mut last_seen = false;
    for piece in bytes.chunks(4096) {
        s.receive(piece);
        for e in drain(&mut s).unwrap() {
            match e {
                Event::Chunk {
                    kind,
                    data,
                    first,
                    last,
                } => {
                    assert_eq!(kind, MessageKind::Binary);
                    assert_eq!(first, chunks == 0);
                    assert!(data.len() <= 4096);
                    got.extend(data);
                    chunks += 1;
                    last_seen = last;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(last_seen);
    assert_eq!(got, payload);
    assert!(chunks > 20);
    // Back to whole messages.
    s.set_streaming(false);
    s.receive(&wire(vec![Frame::text("whole")]));
    assert_eq!(
        drain(&mut s).unwrap(),
        [Event::Message(Message::Text("whole".into()))]
    );
}

#[test]
fn client_and_server_talk_through_the_pair_with_fragmentation() {
    let config = Config::default().with_fragment_size(Some(1000));
    let mut c = Engine::client(config).unwrap();
    let mut s = Engine::server(Config::default()).unwrap();
    let text = "x".repeat(10_500);
    c.send(&Message::Text(text.clone())).unwrap();
    c.send_fragment(MessageKind::Binary, b"ab", false).unwrap();
    assert_eq!(c.send_text("no"), Err(UsageError::MessageInProgress));
    c.ping(b"between").unwrap();
    c.send_fragment(MessageKind::Binary, b"cd", true).unwrap();
    transfer(&mut c, &mut s);
    assert_eq!(
        drain(&mut s).unwrap(),
        [
            Event::Message(Message::Text(text)),
            Event::Ping(b"between".to_vec()),
            Event::Message(Message::Binary(b"abcd".to_vec()))
        ]
    );
    transfer(&mut s, &mut c);
    assert_eq!(drain(&mut c).unwrap(), [Event::Pong(b"between".to_vec())]);
}

#[test]
fn close_handshake_initiated_by_either_side() {
    // Client initiates; server echoes the code; both report Closed.
    let mut c = client();
    let mut s = server();
    c.close(4001, "bye now").unwrap();
    assert_eq!(c.send_text("late"), Err(UsageError::Closed));
    assert_eq!(c.close(1000, ""), Ok(()), "closing twice is harmless");
    transfer(&mut c, &mut s);
    assert_eq!(
        drain(&mut s).unwrap(),
        [Event::Closed {
            code: CloseCode::new(4001),
            reason: "bye now".into()
        }]
    );
    assert!(
        s.wants_close_transport(),
        "the server closes TCP first (§7.1.1)"
    );
    transfer(&mut s, &mut c);
    assert_eq!(
        drain(&mut c).unwrap(),
        [Event::Closed {
            code: CloseCode::new(4001),
            reason: String::new()
        }]
    );
    // Data after the peer's Close is discarded.
    c.receive(b"\x81\x01x");
    assert_eq!(drain(&mut c).unwrap(), []);

    // Server initiates; a ping arriving after our Close is not answered.
    let mut c = client();
    let mut s = server();
    s.close(1001, "going away").unwrap();
    s.receive(&masked(Frame::ping("late")));
    assert_eq!(drain(&mut s).unwrap(), [Event::Ping(b"late".to_vec())]);
    let sent = frames_sent(&mut s);
    assert_eq!(sent.len(), 1, "no pong after our Close");
    let mut bytes = Vec::new();
    sent[0].encode(&mut bytes);
    c.receive(&bytes);
    assert_eq!(
        drain(&mut c).unwrap(),
        [Event::Closed {
            code: CloseCode::new(1001),
            reason: "going away".into()
        }]
    );
    let reply = frames_sent(&mut c);
    assert_eq!(reply[0].close_code_and_reason().unwrap().0, 1001);

    // An empty Close is answered with an empty Close and reported as 1005.
    let mut s = server();
    s.receive(&masked(Frame::close_empty()));
    assert_eq!(
        drain(&mut s).unwrap(),
        [Event::Closed {
            code: CloseCode::new(1005),
            reason: String::new()
        }]
    );
    assert_eq!(frames_sent(&mut s)[0].payload, b"");
}

#[test]
fn caller_errors_are_usage_errors() {
    let mut s = server();
    assert_eq!(s.close(1005, ""), Err(UsageError::InvalidCloseCode(1005)));
    assert_eq!(
        s.close(1000, &"r".repeat(124)),
        Err(UsageError::ReasonTooLong)
    );
    assert_eq!(s.ping(&[0; 126]), Err(UsageError::ControlPayloadTooLong));
    assert_eq!(s.pending_transmit(), 0);
    assert!(Engine::server(Config::default().with_fragment_size(Some(0))).is_err());
    assert!(Engine::server(
        Config::default().with_limits(Limits::default().with_max_frame_size(3))
    )
    .is_err());
}

#[test]
fn eof_without_close_is_1006() {
    let mut s = server();
    s.receive(&wire(vec![Frame::text("half").with_fin(false)]));
    s.receive_eof();
    assert_eq!(
        drain(&mut s).unwrap(),
        [Event::Closed {
            code: CloseCode::new(1006),
            reason: String::new()
        }]
    );
}

#[test]
fn keepalive_ping_and_pong_timeout() {
    let t0 = Instant::now();
    let sec = Duration::from_secs(1);
    let config = Config::default().with_ping(Some(10 * sec), 5 * sec);
    let mut s = Engine::server(config).unwrap();
    let mut c = client();
    s.handle_timeout(t0);
    assert_eq!(s.poll_timeout(), Some(t0 + 10 * sec));
    s.handle_timeout(t0 + 10 * sec);
    let sent = frames_sent(&mut s);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].opcode, OpCode::Ping);
    assert_eq!(s.poll_timeout(), Some(t0 + 15 * sec), "pong deadline");
    // The client answers; the deadline is cleared and the next ping planned.
    let mut bytes = Vec::new();
    sent[0].encode(&mut bytes);
    c.receive(&bytes);
    drain(&mut c).unwrap();
    transfer(&mut c, &mut s);
    drain(&mut s).unwrap();
    s.handle_timeout(t0 + 11 * sec);
    assert_eq!(s.poll_timeout(), Some(t0 + 20 * sec));
    // The next ping goes unanswered: 1011.
    s.handle_timeout(t0 + 20 * sec);
    assert_eq!(frames_sent(&mut s)[0].opcode, OpCode::Ping);
    s.handle_timeout(t0 + 25 * sec);
    assert_eq!(drain(&mut s).unwrap_err().1, ProtocolError::PongTimeout);
    assert_eq!(
        frames_sent(&mut s)[0].close_code_and_reason().unwrap().0,
        1011
    );
    assert!(s.wants_close_transport());
}

#[test]
fn idle_timeout_closes_and_close_timeout_gives_up() {
    let t0 = Instant::now();
    let sec = Duration::from_secs(1);
    let config = Config::default()
        .with_idle_timeout(Some(30 * sec))
        .with_close_timeout(5 * sec);
    let mut s = Engine::server(config).unwrap();
    s.handle_timeout(t0);
    s.receive(&masked(Frame::text("activity")));
    s.handle_timeout(t0 + 20 * sec);
    drain(&mut s).unwrap();
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + 50 * sec),
        "activity pushes the idle deadline"
    );
    s.handle_timeout(t0 + 50 * sec);
    let sent = frames_sent(&mut s);
    assert_eq!(
        sent[0].close_code_and_reason(),
        Some((1001, &b"idle timeout"[..]))
    );
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + 55 * sec),
        "close-handshake deadline"
    );
    s.handle_timeout(t0 + 55 * sec);
    assert_eq!(
        drain(&mut s).unwrap(),
        [Event::Closed {
            code: CloseCode::new(1006),
            reason: "close handshake timed out".into()
        }]
    );
    assert!(s.wants_close_transport());
    assert_eq!(s.poll_timeout(), None);
}
