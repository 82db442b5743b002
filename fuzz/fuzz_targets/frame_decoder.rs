//! Fuzz the incremental frame decoder.
//!
//! Input layout:
//!
//! - byte 0: bit 0 picks the role (0 = Client, 1 = Server);
//! - bytes 1..3: little-endian u16 picking `max_frame_size` in 125..=4096;
//! - byte 3: low 4 bits = `k`, the number of chunk-size bytes that follow
//!   (`k == 0` feeds the stream one byte at a time);
//! - the next `k` bytes: chunk sizes, used in turn and cycled (`b < 0x80`:
//!   `b + 1` bytes; `b >= 0x80`: `(b & 0x7f) * 64 + 1` bytes);
//! - the rest: the byte stream to decode.
//!
//! Checked properties:
//!
//! - decoding the stream as one buffer and feeding it in chunks give the
//!   same frames and end the same way (same error, or the same number of
//!   bytes left over);
//! - `consumed` never exceeds the buffer, decoded payloads never exceed the
//!   limit, and every strict prefix of a decoded frame is `Incomplete` (the
//!   decoder is stateless and consumes nothing until a whole frame is
//!   there); a prefix of an erroring frame is `Incomplete` or the same error;
//! - the frame agrees with `decode_header`, obeys the role's masking policy
//!   and passes `Frame::validate`;
//! - re-encoding a decoded frame (keeping its mask) and decoding it again
//!   gives the same frame, in at most as many bytes (minimal length form).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsstack::frame::{Decoded, Frame, FrameDecoder, FrameError};
use wsstack::Role;

/// How a decoding run ended after its frames.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The decoder rejected the bytes at the current position.
    Error(FrameError),
    /// No error; this many bytes were left undecoded (an incomplete frame).
    Leftover(usize),
}

const MIN_LIMIT: usize = 125;
const MAX_LIMIT: usize = 4096;

fn chunk_size(b: u8) -> usize {
    if b < 0x80 {
        usize::from(b) + 1
    } else {
        usize::from(b & 0x7f) * 64 + 1
    }
}

fn check_error(err: &FrameError, limit: usize) {
    if let FrameError::FrameTooLarge { len, max } = err {
        assert_eq!(*max, limit);
        assert!(*len > limit as u64, "FrameTooLarge for {len} <= {limit}");
    }
    if let FrameError::ControlFrameTooLong { len } = err {
        assert!(*len > 125);
    }
    let code = err.close_code();
    assert!(code == 1002 || code == 1009);
    let _ = err.to_string();
}

/// Checks on one frame decoded from the start of `buf`.
fn check_frame(dec: &FrameDecoder, buf: &[u8], frame: &Frame, consumed: usize) {
    let limit = dec.max_frame_size();
    assert!(consumed <= buf.len(), "consumed {consumed} > {}", buf.len());
    assert!(
        frame.payload.len() <= limit,
        "payload {} over limit {limit}",
        frame.payload.len()
    );
    match dec.role() {
        Role::Server => assert!(frame.mask.is_some(), "server accepted an unmasked frame"),
        Role::Client => assert!(frame.mask.is_none(), "client accepted a masked frame"),
    }
    frame.validate().expect("decoded frame breaks the §5 rules");

    // The header alone says the same thing.
    let (header, header_len) = dec
        .decode_header(buf)
        .expect("header of a decoded frame is an error")
        .expect("header of a decoded frame is incomplete");
    assert_eq!(header, frame.header());
    assert_eq!(header_len + frame.payload.len(), consumed);

    // Stateless: every strict prefix is Incomplete, with nothing consumed.
    for cut in 0..consumed {
        match dec.decode(&buf[..cut]) {
            Ok(Decoded::Incomplete) => {}
            other => panic!("prefix {cut} of a {consumed}-byte frame gave {other:?}"),
        }
    }

    // Re-encode (with the same mask) and decode again.
    let mut wire = Vec::new();
    frame.encode(&mut wire);
    assert_eq!(wire.len(), frame.encoded_len());
    assert!(
        wire.len() <= consumed,
        "minimal re-encoding is longer ({} > {consumed})",
        wire.len()
    );
    match dec.decode(&wire) {
        Ok(Decoded::Frame {
            frame: again,
            consumed: used,
        }) => {
            assert_eq!(used, wire.len());
            assert_eq!(&again, frame);
        }
        other => panic!("re-encoded frame {frame:?} decoded as {other:?}"),
    }
}

/// Decode `stream` as one buffer.
fn decode_whole(dec: &FrameDecoder, stream: &[u8]) -> (Vec<Frame>, End) {
    let mut frames = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &stream[pos..];
        match dec.decode(rest) {
            Ok(Decoded::Frame { frame, consumed }) => {
                check_frame(dec, rest, &frame, consumed);
                assert!(consumed > 0);
                pos += consumed;
                frames.push(frame);
            }
            Ok(Decoded::Incomplete) => return (frames, End::Leftover(rest.len())),
            Err(e) => {
                check_error(&e, dec.max_frame_size());
                // A prefix of a bad frame is incomplete or the same error,
                // never a frame.
                for cut in 0..rest.len().min(16) {
                    match dec.decode(&rest[..cut]) {
                        Ok(Decoded::Incomplete) => {}
                        Err(e2) if e2 == e => {}
                        other => panic!("prefix {cut} of a bad frame ({e:?}) gave {other:?}"),
                    }
                }
                return (frames, End::Error(e));
            }
        }
    }
}

/// Decode `stream` fed in chunks, as a network reader would.
fn decode_chunked(dec: &FrameDecoder, stream: &[u8], sizes: &[u8]) -> (Vec<Frame>, End) {
    let mut frames = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < stream.len() {
        let n = if sizes.is_empty() {
            1
        } else {
            chunk_size(sizes[i % sizes.len()])
        };
        i += 1;
        let end = (pos + n).min(stream.len());
        buf.extend_from_slice(&stream[pos..end]);
        pos = end;
        loop {
            match dec.decode(&buf) {
                Ok(Decoded::Frame { frame, consumed }) => {
                    assert!(consumed > 0 && consumed <= buf.len());
                    assert!(frame.payload.len() <= dec.max_frame_size());
                    buf.drain(..consumed);
                    frames.push(frame);
                }
                Ok(Decoded::Incomplete) => break,
                Err(e) => return (frames, End::Error(e)),
            }
        }
    }
    (frames, End::Leftover(buf.len()))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let role = if data[0] & 1 == 0 {
        Role::Client
    } else {
        Role::Server
    };
    let raw_limit = usize::from(u16::from_le_bytes([data[1], data[2]]));
    let limit = MIN_LIMIT + raw_limit % (MAX_LIMIT - MIN_LIMIT + 1);
    let k = usize::from(data[3] & 0x0f);
    let rest = &data[4..];
    let (sizes, stream) = rest.split_at(k.min(rest.len()));

    let dec = FrameDecoder::new(role, limit);
    assert_eq!(dec.role(), role);
    assert_eq!(dec.max_frame_size(), limit);

    let whole = decode_whole(&dec, stream);
    let chunked = decode_chunked(&dec, stream, sizes);
    assert_eq!(
        whole, chunked,
        "whole-buffer and chunked decoding disagree (role {role:?}, limit {limit})"
    );
});
