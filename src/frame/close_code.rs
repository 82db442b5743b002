//! Close codes (RFC 6455 §7.4): the [`CloseCode`] type and which codes may
//! travel in a Close frame.

use std::fmt;

/// A close status code (RFC 6455 §7.4), as carried by a Close frame or
/// reported when a connection ends.
///
/// The named constants cover the registered codes; any `u16` converts
/// with `From`, so `engine.close(4000, "bye")` and
/// `engine.close(CloseCode::NORMAL, "bye")` both work, and a `CloseCode`
/// compares equal to its number.
///
/// ```
/// use wsstack::CloseCode;
/// assert_eq!(CloseCode::from(1009), CloseCode::TOO_BIG);
/// assert_eq!(CloseCode::PROTOCOL_ERROR, 1002);
/// assert!(CloseCode::new(4000).is_sendable() && !CloseCode::ABNORMAL.is_sendable());
/// assert_eq!(CloseCode::GOING_AWAY.to_string(), "1001 (going away)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page left).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: reported when a Close frame had no body; never sent.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: reported when the connection dropped without a close
    /// handshake; never sent.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: a message's data did not match its type (invalid UTF-8 text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message was too big to process.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client needed an extension the server did not agree to.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (the server is overloaded).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway or proxy received an invalid upstream response.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: reported when the TLS handshake failed; never sent.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// A code from its number.
    pub const fn new(code: u16) -> CloseCode {
        CloseCode(code)
    }

    /// The number.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether this code may appear in a Close frame on the wire
    /// ([`is_valid_close_code`]).
    pub const fn is_sendable(self) -> bool {
        is_valid_close_code(self.0)
    }

    /// The registered meaning, when the code has one.
    pub fn description(self) -> Option<&'static str> {
        Some(match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status received",
            1006 => "abnormal closure",
            1007 => "invalid payload data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake failure",
            _ => return None,
        })
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> CloseCode {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

impl PartialEq<u16> for CloseCode {
    fn eq(&self, other: &u16) -> bool {
        self.0 == *other
    }
}

impl PartialEq<CloseCode> for u16 {
    fn eq(&self, other: &CloseCode) -> bool {
        *self == other.0
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.description() {
            Some(d) => write!(f, "{} ({d})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Whether `code` may appear in a Close frame on the wire (§7.4.1-7.4.2):
/// 1000-1003, 1007-1011, the IANA-registered 1012-1014 (service restart,
/// try again later, bad gateway) and 3000-4999. 0-999, 1004-1006, 1015,
/// the unassigned 1016-2999 may not.
///
/// ```
/// use wsstack::frame::is_valid_close_code;
/// assert!(is_valid_close_code(1000) && is_valid_close_code(4999));
/// assert!(!is_valid_close_code(1005) && !is_valid_close_code(2000));
/// ```
pub const fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

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

    #[test]
    fn conversions_and_names() {
        assert_eq!(u16::from(CloseCode::TOO_BIG), 1009);
        assert_eq!(1011, CloseCode::INTERNAL_ERROR);
        assert_eq!(CloseCode::new(3000).to_string(), "3000");
        assert_eq!(format!("{:?}", CloseCode::NORMAL), "CloseCode(1000)");
    }
}
