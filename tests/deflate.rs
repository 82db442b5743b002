//! permessage-deflate and deflate-frame through in-memory engine pairs:
//! every parameter combination round trips, the wire follows RFC 7692
//! (RSV1 on the first frame only, control frames never compressed, the
//! tail stripped), and bad compressed input fails with the right code.
#![cfg(feature = "deflate")]

use std::sync::Arc;

use wsstack::connection::{Config, Engine, Event, MessageKind, ProtocolError};
use wsstack::extensions::NegotiationError;
use wsstack::extensions::{
    build_client, build_server, check_server_response, negotiate_server, DeflateFrame,
    PerMessageDeflate, SharedFactory,
};
use wsstack::frame::{Decoded, Frame, FrameDecoder, OpCode};
use wsstack::handshake::HandshakeError;
use wsstack::{Limits, Message, Role};

/// Negotiate between `client` and `server` factories and build engines.
fn pair_with(
    client: SharedFactory,
    server: SharedFactory,
    config: Config,
) -> Result<(Engine, Engine, String), HandshakeError> {
    let offers = client.offers();
    let agreed = negotiate_server(std::slice::from_ref(&server), &offers);
    let responses: Vec<_> = agreed.iter().map(|(_, r)| r.clone()).collect();
    check_server_response(std::slice::from_ref(&client), &responses)?;
    let c = Engine::client(config)
        .unwrap()
        .with_extensions(build_client(&[client], &responses))
        .unwrap();
    let s = Engine::server(config)
        .unwrap()
        .with_extensions(build_server(&[server], &agreed))
        .unwrap();
    let text = responses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Ok((c, s, text))
}

fn pair(client: PerMessageDeflate, server: PerMessageDeflate) -> (Engine, Engine, String) {
    pair_with(Arc::new(client), Arc::new(server), Config::default()).unwrap()
}

fn wire(from: &mut Engine) -> Vec<u8> {
    let mut out = Vec::new();
    from.poll_transmit(&mut out);
    out
}

fn frames(bytes: &[u8], sender: Role) -> Vec<Frame> {
    let receiver = if sender == Role::Client {
        Role::Server
    } else {
        Role::Client
    };
    let dec = FrameDecoder::new(receiver, usize::MAX);
    let mut pos = 0;
    let mut out = Vec::new();
    while let Decoded::Frame { frame, consumed } = dec.decode(&bytes[pos..]).unwrap() {
        pos += consumed;
        out.push(frame);
    }
    assert_eq!(pos, bytes.len());
    out
}

fn drain(e: &mut Engine) -> Result<Vec<Event>, ProtocolError> {
    let mut v = Vec::new();
    while let Some(ev) = e.poll_event()? {
        v.push(ev);
    }
    Ok(v)
}

fn messages() -> Vec<Message> {
    let json: String = (0..400)
        .map(|i| format!("{{\"id\":{i},\"name\":\"user{i}\",\"ok\":true}},"))
        .collect();
    let noisy: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    vec![
        Message::Text(String::new()),
        Message::Text("a".into()),
        Message::Text("héllo ✓ 😀".repeat(20)),
        Message::Text(json.clone()),
        Message::Text(json),
        Message::Binary(vec![0; 1 << 20]),
        Message::Binary(noisy),
        Message::Binary(vec![7]),
    ]
}

/// Send every message both ways through the pair and check it arrives.
fn round_trip(c: &mut Engine, s: &mut Engine) {
    for m in messages() {
        c.send(&m).unwrap();
        let bytes = wire(c);
        s.receive(&bytes);
        assert_eq!(drain(s).unwrap(), [to_event(&m)], "client -> server");
        s.send(&m).unwrap();
        let bytes = wire(s);
        c.receive(&bytes);
        assert_eq!(drain(c).unwrap(), [to_event(&m)], "server -> client");
    }
}

fn to_event(m: &Message) -> Event {
    match m {
        Message::Text(t) => Event::Message(Message::Text(t.clone())),
        Message::Binary(b) => Event::Message(Message::Binary(b.clone())),
    }
}

#[test]
fn every_parameter_combination_round_trips() {
    let mut seen = Vec::new();
    for snct in [false, true] {
        for cnct in [false, true] {
            for sbits in [None, Some(8), Some(9), Some(12), Some(15)] {
                for cbits in [None, Some(8), Some(10), Some(15)] {
                    let client = PerMessageDeflate::new()
                        .with_server_no_context_takeover(snct)
                        .with_client_no_context_takeover(cnct)
                        .with_server_max_window_bits(sbits)
                        .with_client_max_window_bits(cbits);
                    let (mut c, mut s, agreed) = pair(client, PerMessageDeflate::new());
                    assert_eq!(c.extension_names(), ["permessage-deflate"]);
                    assert_eq!(s.extension_names(), ["permessage-deflate"]);
                    round_trip(&mut c, &mut s);
                    seen.push(agreed);
                }
            }
        }
    }
    assert!(seen.contains(&"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=8".to_string()));
    // Server-side policy too.
    let server = PerMessageDeflate::new()
        .with_server_no_context_takeover(true)
        .with_client_no_context_takeover(true)
        .with_server_max_window_bits(Some(9))
        .with_client_max_window_bits(Some(9));
    let (mut c, mut s, agreed) = pair(PerMessageDeflate::new(), server);
    assert_eq!(
        agreed,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9"
    );
    round_trip(&mut c, &mut s);
}

#[test]
fn rsv1_only_on_the_first_frame_and_never_on_control_frames() {
    let config = Config::default().with_fragment_size(Some(1000));
    let (mut c, mut s, _) = pair_with(
        Arc::new(PerMessageDeflate::new()),
        Arc::new(PerMessageDeflate::new()),
        config,
    )
    .unwrap();
    let text: String = (0..5000)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    // Explicit fragments with a ping between them, and automatic ones.
    c.send_fragment(MessageKind::Text, &text.as_bytes()[..2000], false)
        .unwrap();
    c.ping(b"between").unwrap();
    c.send_fragment(MessageKind::Text, &text.as_bytes()[2000..], true)
        .unwrap();
    c.send_text(&text.repeat(10)).unwrap();
    let bytes = wire(&mut c);
    let sent = frames(&bytes, Role::Client);
    assert!(sent.len() >= 4);
    let mut first_of_message = true;
    for f in &sent {
        if f.opcode.is_control() {
            assert!(!f.rsv1, "control frames are never compressed");
            continue;
        }
        assert_eq!(
            f.rsv1, first_of_message,
            "RSV1 exactly on the first frame: {:?}",
            f.opcode
        );
        first_of_message = f.fin;
    }
    s.receive(&bytes);
    assert_eq!(
        drain(&mut s).unwrap(),
        [
            Event::Ping(b"between".to_vec()),
            Event::Message(Message::Text(text.clone())),
            Event::Message(Message::Text(text.repeat(10)))
        ]
    );
    // The empty message compresses to the single byte RFC 7692 §7.2.3.6 shows.
    s.send_text("").unwrap();
    let f = frames(&wire(&mut s), Role::Server);
    assert_eq!(
        f[0].opcode,
        OpCode::Pong,
        "the ping was answered, uncompressed"
    );
    assert!(!f[0].rsv1);
    assert_eq!((f[1].rsv1, &f[1].payload[..]), (true, &[0x00][..]));
}

#[test]
fn rfc_7692_example_hello() {
    // §7.2.3.1: "Hello" compressed, no context takeover.
    let (_c, mut s, _) = pair(PerMessageDeflate::new(), PerMessageDeflate::new());
    let compressed = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let mut masked = Vec::new();
    let mut f = Frame::new(OpCode::Text, compressed[2..].to_vec()).with_rsv(true, false, false);
    f.mask = Some([1, 2, 3, 4]);
    f.encode(&mut masked);
    s.receive(&masked);
    assert_eq!(
        drain(&mut s).unwrap(),
        [Event::Message(Message::Text("Hello".into()))]
    );
    // §7.2.3.2: the same message sent twice with context takeover; the
    // second reuses the first's bytes.
    s.receive(&masked);
    let mut second = Vec::new();
    let mut f =
        Frame::new(OpCode::Text, vec![0xf2, 0x00, 0x11, 0x00, 0x00]).with_rsv(true, false, false);
    f.mask = Some([5, 6, 7, 8]);
    f.encode(&mut second);
    let (_c, mut s2, _) = pair(PerMessageDeflate::new(), PerMessageDeflate::new());
    s2.receive(&masked);
    s2.receive(&second);
    assert_eq!(
        drain(&mut s2).unwrap(),
        [
            Event::Message(Message::Text("Hello".into())),
            Event::Message(Message::Text("Hello".into()))
        ]
    );
    drain(&mut s).unwrap();
}

#[test]
fn context_takeover_shrinks_repeats_and_no_context_takeover_does_not() {
    // Words in a pseudo-random order: compresses alone, but far better
    // when the previous copy is in the window.
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    ];
    let mut x = 12345u32;
    let msg: String = (0..400)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            words[(x >> 16) as usize % words.len()]
        })
        .collect::<Vec<_>>()
        .join(" ");
    let sizes = |server: PerMessageDeflate| {
        let (_c, mut s, _) = pair(PerMessageDeflate::new(), server);
        s.send_text(&msg).unwrap();
        let a = wire(&mut s).len();
        s.send_text(&msg).unwrap();
        let b = wire(&mut s).len();
        (a, b)
    };
    let (a, b) = sizes(PerMessageDeflate::new().with_level(6));
    assert!(b * 3 < a, "takeover: {a} then {b}");
    let (a, b) = sizes(
        PerMessageDeflate::new()
            .with_level(6)
            .with_server_no_context_takeover(true),
    );
    assert_eq!(a, b, "no takeover: every message compresses alone");
}

#[test]
fn threshold_untransformed_sends_and_level() {
    let (_c, mut s, _) = pair(
        PerMessageDeflate::new(),
        PerMessageDeflate::new().with_threshold(100),
    );
    s.send_text(&"x".repeat(99)).unwrap();
    s.send_text(&"x".repeat(100)).unwrap();
    s.send_untransformed(&Message::Text("y".repeat(1000)))
        .unwrap();
    let f = frames(&wire(&mut s), Role::Server);
    assert_eq!(
        f.iter().map(|f| f.rsv1).collect::<Vec<_>>(),
        [false, true, false]
    );
    assert_eq!(f[0].payload.len(), 99);
    assert_eq!(f[2].payload.len(), 1000);
}

#[test]
fn window_bits_8_sends_stored_blocks_any_peer_can_inflate() {
    let client = PerMessageDeflate::new().with_server_max_window_bits(Some(8));
    let (mut c, mut s, agreed) = pair(client, PerMessageDeflate::new());
    assert!(agreed.contains("server_max_window_bits=8"));
    let msg = "abcabcabc".repeat(1000);
    s.send_text(&msg).unwrap();
    let bytes = wire(&mut s);
    let f = frames(&bytes, Role::Server);
    assert!(f[0].rsv1);
    assert!(
        f[0].payload.len() >= msg.len(),
        "stored blocks do not shrink"
    );
    c.receive(&bytes);
    assert_eq!(drain(&mut c).unwrap(), [Event::Message(Message::Text(msg))]);
}

fn compressed_frame(payload: Vec<u8>, rsv1: bool, opcode: OpCode, fin: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut f = Frame::new(opcode, payload)
        .with_rsv(rsv1, false, false)
        .with_fin(fin);
    f.mask = Some([9, 9, 9, 9]);
    f.encode(&mut out);
    out
}

#[test]
fn bad_compressed_input_fails_with_the_right_code() {
    // RSV1 on a continuation frame: 1002.
    let (_c, mut s, _) = pair(PerMessageDeflate::new(), PerMessageDeflate::new());
    s.receive(&compressed_frame(
        vec![0xf2, 0x48],
        true,
        OpCode::Text,
        false,
    ));
    s.receive(&compressed_frame(
        vec![0xcd],
        true,
        OpCode::Continuation,
        true,
    ));
    assert_eq!(drain(&mut s).unwrap_err().close_code(), 1002);
    // RSV1 on a ping: 1002.
    let (_c, mut s, _) = pair(PerMessageDeflate::new(), PerMessageDeflate::new());
    s.receive(&compressed_frame(vec![], true, OpCode::Ping, true));
    assert_eq!(drain(&mut s).unwrap_err().close_code(), 1002);
    // Garbage that is not DEFLATE: 1007.
    let (_c, mut s, _) = pair(PerMessageDeflate::new(), PerMessageDeflate::new());
    s.receive(&compressed_frame(
        vec![0xff; 20],
        true,
        OpCode::Binary,
        true,
    ));
    assert_eq!(drain(&mut s).unwrap_err().close_code(), 1007);
    // Inflated text that is not UTF-8: 1007.
    let (mut c, mut s, _) = pair(PerMessageDeflate::new(), PerMessageDeflate::new());
    c.send_binary(&[0xff, 0xfe, 0xfd]).unwrap();
    let mut bytes = wire(&mut c);
    bytes[0] = (bytes[0] & 0xF0) | 0x1; // relabel binary as text
    s.receive(&bytes);
    assert_eq!(drain(&mut s).unwrap_err(), ProtocolError::InvalidUtf8);
    // RSV1 without the extension: 1002.
    let mut plain = Engine::server(Config::default()).unwrap();
    plain.receive(&compressed_frame(vec![0x00], true, OpCode::Text, true));
    assert_eq!(
        drain(&mut plain).unwrap_err(),
        ProtocolError::ReservedBits(0b100)
    );
}

#[test]
fn inflating_past_the_message_limit_is_1009() {
    let limits = Limits::default().with_max_message_size(100_000);
    let config = Config::default().with_limits(limits);
    let (mut c, _, _) = pair(
        PerMessageDeflate::new().with_level(9),
        PerMessageDeflate::new(),
    );
    c.send_binary(&vec![0u8; 5_000_000]).unwrap();
    let bytes = wire(&mut c);
    assert!(bytes.len() < 10_000, "{} compressed bytes", bytes.len());
    let (_c2, mut s, _) = pair_with(
        Arc::new(PerMessageDeflate::new()),
        Arc::new(PerMessageDeflate::new()),
        config,
    )
    .unwrap();
    s.receive(&bytes);
    let err = drain(&mut s).unwrap_err();
    assert_eq!(err, ProtocolError::MessageTooLarge { max: 100_000 });
    assert_eq!(err.close_code(), 1009);
    let f = frames(&wire(&mut s), Role::Server);
    assert_eq!(f[0].close_code_and_reason().unwrap().0, 1009);
}

#[test]
fn no_context_takeover_returns_state_to_the_shared_pool() {
    let server = PerMessageDeflate::new()
        .with_server_no_context_takeover(true)
        .with_client_no_context_takeover(true);
    let pool = server.pool().clone();
    let client = PerMessageDeflate::new();
    let mut engines = Vec::new();
    for _ in 0..10 {
        let (mut c, mut s, _) = pair(client.clone(), server.clone());
        c.send_text(&"hello pool ".repeat(50)).unwrap();
        s.receive(&wire(&mut c));
        drain(&mut s).unwrap();
        s.send_text(&"reply ".repeat(50)).unwrap();
        engines.push((c, s));
    }
    // Ten connections used a compressor and a decompressor each, one after
    // another, and hold neither now: the pool has them.
    let (comp, decomp) = pool.idle();
    assert!(comp >= 1 && decomp >= 1, "{comp} {decomp}");
    assert!(comp <= 10 && decomp <= 10);
}

#[test]
fn deflate_frame_round_trips_under_both_names() {
    for webkit in [false, true] {
        for nct in [false, true] {
            let client = DeflateFrame::new()
                .with_webkit_name(webkit)
                .with_no_context_takeover(nct)
                .with_max_window_bits(Some(10));
            let config = Config::default().with_fragment_size(Some(40_000));
            let (mut c, mut s, agreed) =
                pair_with(Arc::new(client), Arc::new(DeflateFrame::new()), config).unwrap();
            let name = if webkit {
                "x-webkit-deflate-frame"
            } else {
                "deflate-frame"
            };
            assert!(agreed.starts_with(name), "{agreed}");
            assert_eq!(s.extension_names(), [name]);
            round_trip(&mut c, &mut s);
            // Every non-empty data frame is compressed on its own.
            s.send_text(&"z".repeat(100_000)).unwrap();
            let f = frames(&wire(&mut s), Role::Server);
            assert!(f.len() >= 3);
            assert!(f.iter().all(|f| f.rsv1));
        }
    }
}

#[test]
fn negotiation_rejects_bad_responses_with_distinct_errors() {
    let client: SharedFactory =
        Arc::new(PerMessageDeflate::new().with_server_max_window_bits(Some(10)));
    let check = |resp: &str| {
        let offers = wsstack::extensions::parse_extensions(&[resp]).unwrap();
        check_server_response(std::slice::from_ref(&client), &offers)
    };
    assert!(check("permessage-deflate; server_max_window_bits=10").is_ok());
    assert!(matches!(
        check("permessage-deflate; server_max_window_bits=12"),
        Err(NegotiationError::Param { .. })
    ));
    assert!(matches!(
        check("permessage-deflate; server_max_window_bits=10; server_max_window_bits=10"),
        Err(NegotiationError::Param { .. })
    ));
    assert!(matches!(
        check("permessage-deflate; server_max_window_bits=10; foo"),
        Err(NegotiationError::Param { .. })
    ));
    assert!(matches!(
        check("permessage-deflate; server_max_window_bits=10, permessage-deflate"),
        Err(NegotiationError::Duplicate(_))
    ));
    assert_eq!(
        check("deflate-frame"),
        Err(NegotiationError::Unoffered("deflate-frame".into()))
    );
}

/// Found against Python websockets: an empty message right after another
/// flush made zlib emit nothing; the payload must still be a valid empty
/// message for any inflater (here the RFC's reference form, 0x00).
#[test]
fn consecutive_empty_messages_stay_valid_deflate() {
    let (mut c, mut s, _) = pair(PerMessageDeflate::new(), PerMessageDeflate::new());
    for m in ["", "", "x", "", "yy"] {
        s.send_text(m).unwrap();
    }
    let bytes = wire(&mut s);
    let f = frames(&bytes, Role::Server);
    assert!(
        f.iter().all(|f| !f.payload.is_empty()),
        "no empty compressed payloads"
    );
    // Check with an independent inflater: raw flate2 over the whole stream.
    let mut d = flate2::Decompress::new(false);
    let mut text = Vec::new();
    for frame in &f {
        let mut input = frame.payload.clone();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(64);
        d.decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)
            .unwrap();
        text.push(String::from_utf8(out).unwrap());
    }
    assert_eq!(text, ["", "", "x", "", "yy"]);
    c.receive(&bytes);
    assert_eq!(drain(&mut c).unwrap().len(), 5);
    // And an empty compressed payload from a peer is read as an empty message.
    let mut raw = Vec::new();
    let mut frame = Frame::new(OpCode::Text, Vec::new()).with_rsv(true, false, false);
    frame.mask = Some([1, 1, 1, 1]);
    frame.encode(&mut raw);
    let (_c, mut s2, _) = pair(PerMessageDeflate::new(), PerMessageDeflate::new());
    s2.receive(&raw);
    s2.receive(&raw);
    assert_eq!(
        drain(&mut s2).unwrap(),
        [
            Event::Message(Message::Text(String::new())),
            Event::Message(Message::Text(String::new()))
        ]
    );
}
