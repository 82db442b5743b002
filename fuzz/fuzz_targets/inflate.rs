//! Fuzz the inflate path: arbitrary compressed payloads under arbitrary
//! permessage-deflate or deflate-frame parameters, split into frames with
//! RSV1 set as the extension expects, fed to a server engine with a small
//! message limit.
//!
//! Input layout: byte 0 = extension (bit 0: deflate-frame), bits 1-3
//! window bits (8 + value, capped at 15), bit 4 client no context
//! takeover, bit 5 streaming; byte 1 = number of frames (1-4); the rest is
//! the compressed data (split evenly into that many frames), repeated as a
//! second message to exercise context takeover.
//!
//! Checked: no panic; decoded messages never exceed the limit; a failure
//! carries 1002, 1007 or 1009.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use wsstack::connection::{Config, Engine, Event, Message};
use wsstack::extensions::{build_server, negotiate_server, DeflateFrame, PerMessageDeflate, SharedFactory};
use wsstack::frame::{Frame, OpCode};
use wsstack::Limits;

const LIMIT: usize = 256 * 1024;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (opts, frames, payload) = (data[0], usize::from(data[1] % 4) + 1, &data[2..]);
    let bits = (8 + (opts >> 1 & 7)).min(15);
    let per_frame = opts & 1 != 0;
    let factory: SharedFactory = if per_frame {
        Arc::new(DeflateFrame::new().with_max_window_bits(Some(bits)).with_no_context_takeover(opts & 16 != 0))
    } else {
        Arc::new(
            PerMessageDeflate::new()
                .with_client_max_window_bits(Some(bits))
                .with_client_no_context_takeover(opts & 16 != 0),
        )
    };
    let agreed = negotiate_server(std::slice::from_ref(&factory), &factory.offers());
    assert_eq!(agreed.len(), 1, "a factory accepts its own offer");
    let config = Config::default()
        .with_limits(Limits::default().with_max_message_size(LIMIT))
        .with_streaming(opts & 32 != 0);
    let mut engine = Engine::server(config).unwrap().with_extensions(build_server(&[factory], &agreed)).unwrap();

    let mut wire = Vec::new();
    for _message in 0..2 {
        let size = payload.len().div_ceil(frames).max(1);
        let mut chunks: Vec<&[u8]> = payload.chunks(size).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let opcode = if i == 0 { OpCode::Binary } else { OpCode::Continuation };
            let rsv1 = per_frame || i == 0;
            let mut f = Frame::new(opcode, chunk.to_vec()).with_fin(i == last).with_rsv(rsv1, false, false);
            f.mask = Some([0x12, 0x34, 0x56, 0x78]);
            f.encode(&mut wire);
        }
    }
    engine.receive(&wire);
    loop {
        match engine.poll_event() {
            Ok(Some(Event::Message(Message::Binary(b)))) => assert!(b.len() <= LIMIT),
            Ok(Some(Event::Chunk { data, .. })) => assert!(data.len() <= LIMIT),
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                let code = u16::from(e.close_code());
                assert!(matches!(code, 1002 | 1007 | 1009), "{e}");
                break;
            }
        }
    }
});
