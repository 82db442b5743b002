//! Text messages: one fast UTF-8 check, and the one place with `unsafe`
//! code in the crate.
//!
//! A received text message must be valid UTF-8 (RFC 6455 §8.1) and is
//! handed to the application as a `String`. `String::from_utf8` would
//! check every byte again after the check that decided the message is
//! valid; at 64 KiB of mixed text that second check cost as much as the
//! rest of decoding together (see `cargo bench -p wsstack-bench --bench
//! micro`). So the bytes are checked once, with `simdutf8`, and turned into
//! a `String` without a second check.
#![allow(unsafe_code)]

/// Check `bytes` as UTF-8 (SIMD-accelerated) and make them a `String`;
/// `None` if they are not valid UTF-8.
pub(crate) fn into_string(bytes: Vec<u8>) -> Option<String> {
    simdutf8::basic::from_utf8(&bytes).ok()?;
    // SAFETY: `simdutf8::basic::from_utf8` returned `Ok` for exactly these
    // bytes on the line above, and nothing changes them in between; that
    // is the contract of `String::from_utf8_unchecked`.
    Some(unsafe { String::from_utf8_unchecked(bytes) })
}

#[cfg(test)]
mod tests {
    use super::into_string;

    #[test]
    fn agrees_with_std_on_valid_and_invalid_text() {
        let samples: &[&[u8]] = &[
            b"",
            b"plain ascii",
            "añ€😀 mixed".as_bytes(),
            b"\xff",
            b"\xc3",
            b"\xed\xa0\x80",     // a surrogate
            b"\xf4\x90\x80\x80", // past U+10FFFF
            b"ok then \xe2\x82",
        ];
        for bytes in samples {
            assert_eq!(
                into_string(bytes.to_vec()),
                String::from_utf8(bytes.to_vec()).ok(),
                "{bytes:x?}"
            );
        }
        // Every length and alignment around the SIMD block sizes.
        let text = "añ€😀".repeat(40);
        for start in 0..8 {
            for end in (start..text.len()).step_by(7) {
                let bytes = &text.as_bytes()[start..end];
                assert_eq!(
                    into_string(bytes.to_vec()),
                    String::from_utf8(bytes.to_vec()).ok(),
                    "{start}..{end}"
                );
            }
        }
    }
}
