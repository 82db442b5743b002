//! Close codes (RFC 6455 §7.4).

/// Whether `code` may appear in a Close frame on the wire (§7.4.1-7.4.2):
/// 1000-1003, 1007-1011, the IANA-registered 1012-1014 (service restart,
/// try again later, bad gateway) and 3000-4999. 0-999, 1004-1006, 1015,
/// the unassigned 1016-2999 may not.
///
/// ```
/// use wsstack::connection::is_valid_close_code;
/// assert!(is_valid_close_code(1000) && is_valid_close_code(4999));
/// assert!(!is_valid_close_code(1005) && !is_valid_close_code(2000));
/// ```
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The status reported when a Close frame had no body (§7.1.5); never
/// sent.
pub const NO_STATUS: u16 = 1005;

/// The status reported when the connection dropped without a close
/// handshake (§7.1.5); never sent.
pub const ABNORMAL: u16 = 1006;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_table() {
        let valid: Vec<u16> = (0..=u16::MAX).filter(|&c| is_valid_close_code(c)).collect();
        assert_eq!(valid.len(), 4 + 8 + 2000);
        for c in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!is_valid_close_code(c), "{c}");
        }
    }
}
