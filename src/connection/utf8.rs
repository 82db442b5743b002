//! Incremental UTF-8 validation across fragments and reads.

/// Validates UTF-8 delivered in pieces, failing as soon as the bytes seen
/// cannot begin valid UTF-8 (RFC 6455 §8.1), not only at the end.
#[derive(Clone, Debug, Default)]
pub(crate) struct Utf8Validator {
    /// The start of a character split across pieces (at most 3 bytes).
    pending: [u8; 4],
    pending_len: usize,
}

/// Width of the character that starts with `b` (0 for a byte that cannot
/// start one).
fn char_width(b: u8) -> usize {
    match b {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

impl Utf8Validator {
    /// Check the next piece. `false` means the text is already invalid.
    pub(crate) fn feed(&mut self, mut data: &[u8]) -> bool {
        if self.pending_len > 0 {
            let width = char_width(self.pending[0]);
            let take = (width - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            data = &data[take..];
            let head = &self.pending[..self.pending_len];
            match simdutf8::compat::from_utf8(head) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => return true, // still a valid prefix
                Err(_) => return false,
            }
        }
        match simdutf8::compat::from_utf8(data) {
            Ok(_) => true,
            Err(e) => match e.error_len() {
                Some(_) => false,
                None => {
                    let tail = &data[e.valid_up_to()..];
                    self.pending[..tail.len()].copy_from_slice(tail);
                    self.pending_len = tail.len();
                    true
                }
            },
        }
    }

    /// Whether the text seen so far ends on a character boundary.
    pub(crate) fn is_complete(&self) -> bool {
        self.pending_len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all_splits(bytes: &[u8]) -> (bool, bool) {
        let whole_ok = std::str::from_utf8(bytes).is_ok();
        for split in 0..=bytes.len() {
            let mut v = Utf8Validator::default();
            let ok = v.feed(&bytes[..split]) && v.feed(&bytes[split..]) && v.is_complete();
            assert_eq!(ok, whole_ok, "{bytes:x?} split at {split}");
        }
        let mut v = Utf8Validator::default();
        let ok = bytes.iter().all(|b| v.feed(std::slice::from_ref(b))) && v.is_complete();
        assert_eq!(ok, whole_ok, "{bytes:x?} byte by byte");
        (whole_ok, ok)
    }

    #[test]
    fn agrees_with_std_on_every_split() {
        let samples: &[&[u8]] = &[
            b"",
            b"hello",
            "κόσμε".as_bytes(),
            "\u{10FFFF}\u{800}\u{7FF}".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
            b"\xf4\x90\x80\x80",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"\xf0\x9f\x98",
            b"\xff",
            b"abc\xed\xa0\x80",
        ];
        for s in samples {
            check_all_splits(s);
        }
    }

    #[test]
    fn fails_fast_on_a_bad_prefix() {
        // U+110000 cannot start: F4 90 is already invalid.
        let mut v = Utf8Validator::default();
        assert!(v.feed(b"ok"));
        assert!(!v.feed(b"\xf4\x90"));
        // A surrogate: ED A0 fails before the third byte.
        let mut v = Utf8Validator::default();
        assert!(v.feed(b"\xed"));
        assert!(!v.feed(b"\xa0"));
        // A valid prefix stays pending.
        let mut v = Utf8Validator::default();
        assert!(v.feed(b"\xf0\x9f"));
        assert!(!v.is_complete());
        assert!(v.feed(b"\x98\x80"));
        assert!(v.is_complete());
    }
}
