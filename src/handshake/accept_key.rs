//! The `Sec-WebSocket-Accept` key (RFC 6455 §4.2.2): SHA-1 of the client key and the GUID, base64.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};

/// The GUID of RFC 6455 §1.3.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §1.3,
/// §4.2.2): base64(SHA-1(key + GUID)).
///
/// ```
/// assert_eq!(wsstack::handshake::accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
///            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(GUID);
    STANDARD.encode(sha.finalize())
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64-encoded (§4.1).
pub fn generate_key() -> String {
    let mut nonce = [0u8; 16];
    crate::rand::fill(&mut nonce);
    STANDARD.encode(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_section_1_3_sample() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn generated_keys_are_16_bytes_and_differ() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert_eq!(STANDARD.decode(&a).unwrap().len(), 16);
    }
}
