//! Payload masking (RFC 6455 §5.3) and the source of masking keys.

/// XOR `buf` with the 4-byte masking `key`, where `buf` starts `offset`
/// bytes into the payload (so a payload can be unmasked piecewise).
///
/// Works a 64-bit word at a time over 32-byte blocks, which the compiler
/// turns into vector instructions; no `unsafe` and no alignment
/// requirements. Masking is its own inverse.
///
/// ```
/// use wsstack::frame::apply_mask;
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut data = *b"Hello";
/// apply_mask(&mut data, key, 0);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// // Piecewise: the second piece starts at payload offset 2.
/// let (a, b) = data.split_at_mut(2);
/// apply_mask(a, key, 0);
/// apply_mask(b, key, 2);
/// assert_eq!(&data, b"Hello");
/// ```
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Bytes up to the next 8-byte boundary one at a time, so the word
    // loop below runs on aligned memory (a payload usually starts at an
    // odd address, right after its header).
    let head = (8 - buf.as_ptr() as usize % 8) % 8;
    if buf.len() > 64 && head > 0 {
        let (first, rest) = buf.split_at_mut(head);
        for (i, b) in first.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
        return apply_words(rest, key, offset + head);
    }
    apply_words(buf, key, offset);
}

fn apply_words(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let shift = offset % 4;
    let key = [
        key[shift],
        key[(shift + 1) % 4],
        key[(shift + 2) % 4],
        key[(shift + 3) % 4],
    ];
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut blocks = buf.chunks_exact_mut(32);
    for block in &mut blocks {
        for lane in block.chunks_exact_mut(8) {
            let mut v = [0u8; 8];
            v.copy_from_slice(lane);
            let x = u64::from_ne_bytes(v) ^ word;
            lane.copy_from_slice(&x.to_ne_bytes());
        }
    }
    // Every block is a multiple of 4 bytes, so the key phase is unchanged.
    for (i, b) in blocks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// Where masking keys come from. The default, [`RandomMask`], draws them
/// from the operating system's CSPRNG as RFC 6455 §5.3 requires; tests
/// inject [`FixedMask`] to make encoding reproducible.
pub trait MaskSource: Send {
    /// The key for the next frame.
    fn next_key(&mut self) -> [u8; 4];
}

/// Unpredictable masking keys from the OS CSPRNG (buffered, so a key costs
/// a copy rather than a system call).
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomMask;

impl MaskSource for RandomMask {
    fn next_key(&mut self) -> [u8; 4] {
        let mut key = [0u8; 4];
        crate::rand::fill(&mut key);
        key
    }
}

/// The same key for every frame. For tests only: a predictable key defeats
/// the purpose of masking.
#[derive(Clone, Copy, Debug)]
pub struct FixedMask(pub [u8; 4]);

impl MaskSource for FixedMask {
    fn next_key(&mut self) -> [u8; 4] {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn matches_bytewise_reference_for_every_length_alignment_and_offset() {
        let key = [0x12, 0xa5, 0xff, 0x01];
        let backing: Vec<u8> = (0..400u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..=300 {
            for align in 0..8 {
                for offset in 0..4 {
                    let mut fast = backing.clone();
                    let mut slow = backing.clone();
                    apply_mask(&mut fast[align..align + len], key, offset);
                    reference(&mut slow[align..align + len], key, offset);
                    assert_eq!(fast, slow, "len {len} align {align} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn random_keys_vary() {
        let mut src = RandomMask;
        let keys: Vec<[u8; 4]> = (0..8).map(|_| src.next_key()).collect();
        assert!(keys.windows(2).any(|w| w[0] != w[1]));
    }
}
