//! Raw DEFLATE helpers shared by permessage-deflate and deflate-frame:
//! sync-flushed compression, inflation capped at a limit, and a pool that
//! lets connections without context takeover share zlib state.

use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::TransformError;
use crate::frame::CloseCode;

/// The empty stored block a sync flush ends with (RFC 7692 §7.2.1).
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// zlib cannot deflate with an 8-bit window (it silently uses 9, which a
/// peer that asked for 8 may not be able to inflate). When 8 is agreed for
/// our compressor we emit stored (uncompressed) DEFLATE blocks, which use
/// no window at all and are valid for any window size; inflating with 9
/// bits handles a peer's 8-bit stream, since a larger window is a superset.
pub(crate) fn compressor(level: u32, window_bits: u8) -> Compress {
    if window_bits <= 8 {
        Compress::new_with_window_bits(Compression::none(), false, 9)
    } else {
        Compress::new_with_window_bits(Compression::new(level.min(9)), false, window_bits.min(15))
    }
}

pub(crate) fn decompressor(window_bits: u8) -> Decompress {
    Decompress::new_with_window_bits(false, window_bits.clamp(9, 15))
}

/// Compress all of `input` with a sync flush, appending to `out`.
pub(crate) fn deflate_sync(
    c: &mut Compress,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), TransformError> {
    let start = c.total_in();
    out.reserve(input.len() / 2 + 64);
    loop {
        let done = (c.total_in() - start) as usize;
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        c.compress_vec(&input[done..], out, FlushCompress::Sync)
            .map_err(|e| internal(format!("deflate failed: {e}")))?;
        let done = (c.total_in() - start) as usize;
        // The flush is complete when zlib stopped with output space left.
        if done == input.len() && out.len() < out.capacity() {
            return Ok(());
        }
    }
}

fn internal(reason: String) -> TransformError {
    TransformError::Internal(reason)
}

/// Inflate `input` into `out`, appending at most `limit` bytes; more is
/// [`TransformError::TooLarge`] as soon as it shows. The output
/// doubles as it grows but its capacity never passes the limit plus one
/// byte, so a bomb costs at most the limit (plus, while a reallocation
/// copies, the previous half).
pub(crate) fn inflate(
    d: &mut Decompress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), TransformError> {
    // The first room: a few times the input (text deflates 3-10x), at
    // least MIN, so a small message does not get a large buffer.
    const MIN: usize = 256;
    let start = out.len();
    let first = input.len().saturating_mul(4).max(MIN);
    loop {
        let produced = out.len() - start;
        let room = limit - produced;
        if out.capacity() == out.len() {
            // Double (amortised O(1) per byte), but never past the limit:
            // one byte more than `room` is enough to see it crossed.
            let double = out.len().max(first);
            out.reserve_exact(if double >= room { room + 1 } else { double });
        }
        let before_in = d.total_in();
        let before_out = out.len();
        let status = d
            .decompress_vec(input, out, FlushDecompress::Sync)
            .map_err(|e| TransformError::Invalid {
                reason: format!("invalid compressed data: {e}"),
                code: CloseCode::INVALID_PAYLOAD,
            })?;
        let used = (d.total_in() - before_in) as usize;
        input = &input[used..];
        if out.len() - start > limit {
            return Err(TransformError::TooLarge { max: limit });
        }
        if status == Status::StreamEnd {
            // A final block (BFINAL) ends this DEFLATE stream; allowed, but
            // the next message starts a fresh one.
            d.reset(false);
            if !input.is_empty() {
                continue;
            }
            return Ok(());
        }
        let progressed = used > 0 || out.len() > before_out;
        if input.is_empty() && out.len() < out.capacity() {
            return Ok(());
        }
        if !progressed {
            return Err(TransformError::Invalid {
                reason: "compressed data does not make progress".into(),
                code: CloseCode::INVALID_PAYLOAD,
            });
        }
    }
}

/// Compressor and decompressor state to lend to connections that do not
/// keep a compression context between messages, so that an idle
/// connection holds no zlib state at all. Shared by every transform built
/// from one factory.
#[derive(Debug, Default)]
pub struct DeflatePool {
    compressors: Mutex<Vec<((u32, u8), Compress)>>,
    decompressors: Mutex<Vec<(u8, Decompress)>>,
}

/// At most this many idle states of each kind are kept.
const POOL_MAX: usize = 64;

impl DeflatePool {
    pub(crate) fn take_compressor(&self, level: u32, bits: u8) -> Compress {
        let mut pool = self.compressors.lock().unwrap_or_else(|e| e.into_inner());
        match pool.iter().position(|(k, _)| *k == (level, bits)) {
            Some(i) => pool.swap_remove(i).1,
            None => compressor(level, bits),
        }
    }

    pub(crate) fn put_compressor(&self, level: u32, bits: u8, mut c: Compress) {
        c.reset();
        let mut pool = self.compressors.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_MAX {
            pool.push(((level, bits), c));
        }
    }

    pub(crate) fn take_decompressor(&self, bits: u8) -> Decompress {
        let mut pool = self.decompressors.lock().unwrap_or_else(|e| e.into_inner());
        match pool.iter().position(|(k, _)| *k == bits) {
            Some(i) => pool.swap_remove(i).1,
            None => decompressor(bits),
        }
    }

    pub(crate) fn put_decompressor(&self, bits: u8, mut d: Decompress) {
        d.reset(false);
        let mut pool = self.decompressors.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_MAX {
            pool.push((bits, d));
        }
    }

    /// How many idle compressor and decompressor states are pooled.
    pub fn idle(&self) -> (usize, usize) {
        (
            self.compressors.lock().map_or(0, |p| p.len()),
            self.decompressors.lock().map_or(0, |p| p.len()),
        )
    }
}

/// What governs one direction's DEFLATE stream, as negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Side {
    /// The LZ77 window, 8-15 bits.
    pub(crate) window_bits: u8,
    /// The stream restarts for every message (or frame), so no state is
    /// kept between them.
    pub(crate) no_context_takeover: bool,
}

/// A transform's compressor: held while context is kept between messages,
/// otherwise lent from the pool for one message and given back.
#[derive(Debug)]
pub(crate) struct PooledCompressor {
    pool: Arc<DeflatePool>,
    level: u32,
    side: Side,
    state: Option<Compress>,
}

impl PooledCompressor {
    pub(crate) fn new(pool: Arc<DeflatePool>, level: u32, side: Side) -> PooledCompressor {
        PooledCompressor {
            pool,
            level,
            side,
            state: None,
        }
    }

    /// Compress `input` with a sync flush, appending to `out`; on the last
    /// piece of a message (`last`), drop the flush's trailing empty block
    /// (RFC 7692 §7.2.1). Returns whether the output ended with that block.
    pub(crate) fn compress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        last: bool,
    ) -> Result<bool, TransformError> {
        let (pool, level, bits) = (&self.pool, self.level, self.side.window_bits);
        let c = self
            .state
            .get_or_insert_with(|| pool.take_compressor(level, bits));
        let start = out.len();
        deflate_sync(c, input, out)?;
        let tail = out[start..].ends_with(&TAIL);
        if last && tail {
            out.truncate(out.len() - TAIL.len());
        }
        Ok(tail)
    }

    /// What governs this stream.
    pub(crate) fn side(&self) -> Side {
        self.side
    }

    /// The compression level.
    pub(crate) fn level(&self) -> u32 {
        self.level
    }

    /// A message (or frame) ended: give the state back if no context is
    /// kept.
    pub(crate) fn end(&mut self) {
        if self.side.no_context_takeover {
            if let Some(c) = self.state.take() {
                self.pool
                    .put_compressor(self.level, self.side.window_bits, c);
            }
        }
    }
}

/// A transform's decompressor: held while the peer keeps context,
/// otherwise lent from the pool for one message and given back.
#[derive(Debug)]
pub(crate) struct PooledDecompressor {
    pool: Arc<DeflatePool>,
    side: Side,
    state: Option<Decompress>,
}

impl PooledDecompressor {
    pub(crate) fn new(pool: Arc<DeflatePool>, side: Side) -> PooledDecompressor {
        PooledDecompressor {
            pool,
            side,
            state: None,
        }
    }

    /// Inflate `input` into `out`, at most `limit` bytes.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), TransformError> {
        let (pool, bits) = (&self.pool, self.side.window_bits);
        let d = self
            .state
            .get_or_insert_with(|| pool.take_decompressor(bits));
        inflate(d, input, out, limit)
    }

    /// Inflate the empty block the sender dropped (RFC 7692 §7.2.2), which
    /// flushes the rest of the message out.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), TransformError> {
        self.inflate(&TAIL, out, limit)
    }

    /// A message (or frame) ended: give the state back if no context is
    /// kept.
    pub(crate) fn end(&mut self) {
        if self.side.no_context_takeover {
            if let Some(d) = self.state.take() {
                self.pool.put_decompressor(self.side.window_bits, d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_flush_ends_with_the_tail_and_round_trips() {
        for bits in [8u8, 9, 12, 15] {
            let mut c = compressor(6, bits);
            let mut d = decompressor(bits);
            let input: Vec<u8> = (0..100_000u32).map(|i| (i % 97) as u8).collect();
            let mut out = Vec::new();
            deflate_sync(&mut c, &input, &mut out).unwrap();
            assert!(out.ends_with(&TAIL), "bits {bits}");
            out.truncate(out.len() - 4);
            let mut back = Vec::new();
            inflate(&mut d, &out, &mut back, usize::MAX / 2).unwrap();
            inflate(&mut d, &TAIL, &mut back, usize::MAX / 2).unwrap();
            assert_eq!(back, input, "bits {bits}");
        }
    }

    #[test]
    fn inflate_stops_at_the_limit() {
        let mut c = compressor(9, 15);
        let mut out = Vec::new();
        deflate_sync(&mut c, &vec![0u8; 10 << 20], &mut out).unwrap();
        let mut d = decompressor(15);
        let mut back = Vec::new();
        let err = inflate(&mut d, &out, &mut back, 100_000).unwrap_err();
        assert!(matches!(err, TransformError::TooLarge { .. }));
        assert!(
            back.capacity() <= 100_000 + 64 * 1024 + 1,
            "{}",
            back.capacity()
        );
    }

    #[test]
    fn a_small_message_gets_a_small_buffer() {
        let mut c = compressor(1, 15);
        let mut out = Vec::new();
        deflate_sync(&mut c, br#"{"op":"move","x":12}"#, &mut out).unwrap();
        let mut d = decompressor(15);
        let mut back = Vec::new();
        inflate(&mut d, &out, &mut back, 1 << 20).unwrap();
        assert_eq!(back, br#"{"op":"move","x":12}"#);
        assert!(back.capacity() <= 1024, "{}", back.capacity());
        // A large one still grows to fit, by doubling.
        let big = vec![b'a'; 1 << 20];
        let mut out = Vec::new();
        deflate_sync(&mut c, &big, &mut out).unwrap();
        let mut back = Vec::new();
        inflate(&mut d, &out, &mut back, 2 << 20).unwrap();
        assert_eq!(back.len(), big.len());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut d = decompressor(15);
        let mut out = Vec::new();
        assert!(inflate(&mut d, &[0xff, 0xff, 0xff, 0xff], &mut out, 1000).is_err());
    }
}
