//! Fuzz the connection engine, both roles, with and without
//! permessage-deflate: arbitrary input bytes in arbitrary splits,
//! interleaved with commands.
//!
//! Input layout: byte 0 = options (bit 0 role, bit 1 streaming, bit 2
//! deflate, bits 3-4 fragment size choice); then a sequence of ops, each
//! one tag byte followed by its operands:
//!   0x00-0x7f: feed the next `tag + 1` bytes;
//!   0x80: send_text of the next len-prefixed bytes (lossy UTF-8);
//!   0x81: send_binary; 0x82: ping; 0x83: close(code from 2 bytes);
//!   0x84: receive_eof; 0x85: handle_timeout (advance a fake clock);
//!   other: poll events.
//!
//! Checked: no panic; after an error every poll returns the same error;
//! every byte the engine emits parses as well-formed frames for the peer's
//! role, masking included, and nothing follows our Close; messages never
//! exceed the limit.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use wsstack::connection::{Config, Engine, Event, Message, MessageKind, ProtocolError};
use wsstack::extensions::{build_client, build_server, negotiate_server, PerMessageDeflate, SharedFactory};
use wsstack::frame::{Decoded, FrameDecoder, OpCode};
use wsstack::{Limits, Role};

const MAX_MESSAGE: usize = 64 * 1024;

fn engine(role: Role, streaming: bool, deflate: bool, fragment: Option<usize>) -> Engine {
    let limits = Limits::default().with_max_frame_size(32 * 1024).with_max_message_size(MAX_MESSAGE);
    let config = Config::default()
        .with_limits(limits)
        .with_streaming(streaming)
        .with_fragment_size(fragment)
        .with_ping(Some(Duration::from_secs(5)), Duration::from_secs(2))
        .with_idle_timeout(Some(Duration::from_secs(30)));
    let e = Engine::new(role, config).unwrap();
    if !deflate {
        return e;
    }
    let f: SharedFactory = Arc::new(PerMessageDeflate::new());
    let agreed = negotiate_server(std::slice::from_ref(&f), &f.offers());
    let exts = match role {
        Role::Server => build_server(&[f], &agreed),
        Role::Client => build_client(&[f], &agreed.into_iter().map(|(_, r)| r).collect::<Vec<_>>()),
    };
    e.with_extensions(exts).unwrap()
}

struct Checker {
    decoder: FrameDecoder,
    out: Vec<u8>,
    close_seen: bool,
}

impl Checker {
    /// Parse everything emitted so far; frames must be well formed.
    fn take(&mut self, e: &mut Engine) {
        e.poll_transmit(&mut self.out);
        let mut pos = 0;
        loop {
            match self.decoder.decode(&self.out[pos..]) {
                Ok(Decoded::Frame { frame, consumed }) => {
                    assert!(!self.close_seen, "a frame after our Close");
                    if frame.opcode == OpCode::Close {
                        self.close_seen = true;
                    }
                    assert!(!frame.opcode.is_reserved());
                    pos += consumed;
                }
                Ok(Decoded::Incomplete) => break,
                Err(err) => panic!("engine emitted a bad frame: {err}"),
            }
        }
        assert_eq!(pos, self.out.len(), "engine emitted a partial frame");
        self.out.clear();
    }
}

fn poll_all(e: &mut Engine, sticky: &mut Option<ProtocolError>) {
    for _ in 0..10_000 {
        match e.poll_event() {
            Ok(Some(ev)) => {
                assert!(sticky.is_none(), "event after a failure");
                match ev {
                    Event::Message(Message::Text(t)) => assert!(t.len() <= MAX_MESSAGE),
                    Event::Message(Message::Binary(b)) => assert!(b.len() <= MAX_MESSAGE),
                    Event::Chunk { kind, data, .. } => {
                        assert!(data.len() <= MAX_MESSAGE);
                        let _ = kind == MessageKind::Text;
                    }
                    _ => {}
                }
            }
            Ok(None) => return,
            Err(err) => {
                if let Some(prev) = sticky {
                    assert_eq!(*prev, err, "failure is sticky");
                }
                *sticky = Some(err);
                assert_eq!(e.poll_event(), Err(sticky.clone().unwrap()));
                return;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&opts, mut rest)) = data.split_first() else { return };
    let role = if opts & 1 == 0 { Role::Server } else { Role::Client };
    let peer = if role == Role::Server { Role::Client } else { Role::Server };
    let fragment = [None, Some(1), Some(7), Some(1000)][usize::from(opts >> 3 & 3)];
    let mut e = engine(role, opts & 2 != 0, opts & 4 != 0, fragment);
    let mut checker = Checker {
        decoder: FrameDecoder::new(peer, usize::MAX),
        out: Vec::new(),
        close_seen: false,
    };
    let mut sticky = None;
    let mut now = Instant::now();
    e.handle_timeout(now);
    while let Some((&tag, tail)) = rest.split_first() {
        rest = tail;
        let operand = |rest: &mut &[u8]| -> Vec<u8> {
            let Some((&n, tail)) = rest.split_first() else { return Vec::new() };
            let n = usize::from(n).min(tail.len());
            let (a, b) = tail.split_at(n);
            *rest = b;
            a.to_vec()
        };
        match tag {
            0x00..=0x7f => {
                let n = usize::from(tag) + 1;
                let (chunk, tail) = rest.split_at(n.min(rest.len()));
                rest = tail;
                e.receive(chunk);
                poll_all(&mut e, &mut sticky);
            }
            0x80 => {
                let text = String::from_utf8_lossy(&operand(&mut rest)).into_owned();
                let _ = e.send_text(&text);
            }
            0x81 => {
                let _ = e.send_binary(&operand(&mut rest));
            }
            0x82 => {
                let _ = e.ping(&operand(&mut rest));
            }
            0x83 => {
                let b = operand(&mut rest);
                let code = u16::from_be_bytes([*b.first().unwrap_or(&3), *b.get(1).unwrap_or(&232)]);
                let _ = e.close(code, "");
            }
            0x84 => {
                e.receive_eof();
                poll_all(&mut e, &mut sticky);
            }
            0x85 => {
                now += Duration::from_secs(u64::from(rest.first().copied().unwrap_or(1)));
                e.handle_timeout(now);
                poll_all(&mut e, &mut sticky);
            }
            _ => poll_all(&mut e, &mut sticky),
        }
        checker.take(&mut e);
    }
});
