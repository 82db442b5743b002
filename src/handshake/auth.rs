//! HTTP Basic authentication (RFC 7617).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::fmt;

/// A user name and password from (or for) an `Authorization: Basic`
/// header.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user-id; never contains `:`.
    pub user: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The `Authorization` header value for `user` and `password`.
///
/// ```
/// use wsstack::handshake::basic_auth_header;
/// // RFC 7617 §2's example.
/// assert_eq!(basic_auth_header("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
/// ```
pub fn basic_auth_header(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// Parse an `Authorization` header value of the Basic scheme. Returns
/// `None` for another scheme, bad base64, no `:` or non-UTF-8 contents.
pub fn parse_basic_auth(value: &str) -> Option<Credentials> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some(Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

/// Compare two byte strings in time that depends only on their lengths,
/// not on where they differ, so that checking a password does not leak
/// its prefix through timing.
///
/// ```
/// use wsstack::handshake::constant_time_eq;
/// assert!(constant_time_eq(b"secret", b"secret"));
/// assert!(!constant_time_eq(b"secret", b"secreT"));
/// assert!(!constant_time_eq(b"secret", b"secrets"));
/// ```
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Fold over the longer length so that the time does not depend on a
    // common prefix; the length difference itself is folded in too.
    let len = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rfc_7617_example() {
        let c = parse_basic_auth("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap();
        assert_eq!(c.user, "Aladdin");
        assert_eq!(c.password, "open sesame");
        let c = parse_basic_auth(&basic_auth_header("u", "p:with:colons")).unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.as_str()),
            ("u", "p:with:colons")
        );
        assert!(parse_basic_auth("basic dTpw").is_some());
        assert!(!format!("{c:?}").contains("colons"));
    }

    #[test]
    fn garbage_is_none() {
        for bad in [
            "",
            "Basic",
            "Bearer abc",
            "Basic !!!",
            "Basic dXNlcg==",
            "Basic //79",
        ] {
            assert_eq!(parse_basic_auth(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn constant_time_eq_edges() {
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(!constant_time_eq(b"a\0", b"a"));
    }
}
