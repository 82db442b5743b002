//! [`HandshakeError`]: why an opening handshake failed, and the HTTP status it answers.

use std::fmt;

use crate::extensions::NegotiationError;

/// Why an opening handshake failed.
///
/// Most variants are the peer's fault (a malformed or refused request or
/// response); [`HandshakeError::InvalidUrl`] and
/// [`HandshakeError::InvalidHeader`] are the caller's. On the server side,
/// [`HandshakeError::status`] gives the HTTP status to answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The HTTP head grew past the configured byte limit.
    TooLarge {
        /// The limit, in bytes.
        max: usize,
    },
    /// More header lines than the configured limit.
    TooManyHeaders {
        /// The limit.
        max: usize,
    },
    /// Not parseable as HTTP/1.1.
    Malformed(String),
    /// A request method other than GET.
    MethodNotGet(String),
    /// An HTTP version before 1.1.
    HttpVersion,
    /// No `Host` header in the request.
    MissingHost,
    /// `Upgrade` missing or without the `websocket` token.
    UpgradeHeader,
    /// `Connection` missing or without the `upgrade` token.
    ConnectionHeader,
    /// `Sec-WebSocket-Key` missing or repeated.
    MissingKey,
    /// `Sec-WebSocket-Key` not the base64 of 16 bytes.
    InvalidKey,
    /// `Sec-WebSocket-Version` missing.
    MissingVersion,
    /// `Sec-WebSocket-Version` other than 13.
    UnsupportedVersion(String),
    /// The `Origin` is not on the allow-list (or is missing while one is
    /// configured).
    OriginNotAllowed(Option<String>),
    /// Basic credentials missing or refused.
    Unauthorized,
    /// The application refused the request with this status.
    Refused(u16),
    /// Extension negotiation failed: a malformed
    /// `Sec-WebSocket-Extensions` header, or a response that does not fit
    /// the offers.
    Extension(NegotiationError),
    /// The server answered with a status other than 101.
    UnexpectedStatus {
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
        /// The `Location` header, if any (a redirect's target).
        location: Option<String>,
    },
    /// The response has no `Sec-WebSocket-Accept`.
    MissingAccept,
    /// `Sec-WebSocket-Accept` does not match the key we sent.
    AcceptMismatch,
    /// The server chose a subprotocol we did not offer, or several.
    UnofferedSubprotocol(String),
    /// The caller's URL is not a usable `ws://` or `wss://` URL.
    InvalidUrl(String),
    /// The caller supplied a header name or value that would break HTTP
    /// framing (CR, LF, NUL).
    InvalidHeader(String),
}

impl HandshakeError {
    /// The HTTP status a server answers with for this error, if it is a
    /// request error.
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            HandshakeError::TooLarge { .. } | HandshakeError::TooManyHeaders { .. } => 431,
            HandshakeError::MethodNotGet(_) => 405,
            HandshakeError::Malformed(_)
            | HandshakeError::HttpVersion
            | HandshakeError::MissingHost
            | HandshakeError::UpgradeHeader
            | HandshakeError::ConnectionHeader
            | HandshakeError::MissingKey
            | HandshakeError::InvalidKey
            | HandshakeError::MissingVersion
            | HandshakeError::Extension(NegotiationError::Header(_)) => 400,
            HandshakeError::UnsupportedVersion(_) => 426,
            HandshakeError::OriginNotAllowed(_) => 403,
            HandshakeError::Unauthorized => 401,
            HandshakeError::Refused(status) => *status,
            _ => return None,
        })
    }

    /// Whether the caller (not the peer) is at fault.
    pub fn is_caller_error(&self) -> bool {
        matches!(
            self,
            HandshakeError::InvalidUrl(_) | HandshakeError::InvalidHeader(_)
        )
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::TooLarge { max } => write!(f, "HTTP head exceeds {max} bytes"),
            HandshakeError::TooManyHeaders { max } => write!(f, "more than {max} header fields"),
            HandshakeError::Malformed(why) => write!(f, "malformed HTTP: {why}"),
            HandshakeError::MethodNotGet(m) => write!(f, "method {m:?} is not GET"),
            HandshakeError::HttpVersion => f.write_str("HTTP version older than 1.1"),
            HandshakeError::MissingHost => f.write_str("missing Host header"),
            HandshakeError::UpgradeHeader => {
                f.write_str("missing or invalid Upgrade header (expected \"websocket\")")
            }
            HandshakeError::ConnectionHeader => {
                f.write_str("missing or invalid Connection header (expected \"Upgrade\")")
            }
            HandshakeError::MissingKey => f.write_str("missing or repeated Sec-WebSocket-Key"),
            HandshakeError::InvalidKey => {
                f.write_str("Sec-WebSocket-Key is not the base64 of 16 bytes")
            }
            HandshakeError::MissingVersion => f.write_str("missing Sec-WebSocket-Version"),
            HandshakeError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "unsupported Sec-WebSocket-Version {v:?} (13 is supported)"
                )
            }
            HandshakeError::OriginNotAllowed(Some(o)) => write!(f, "origin {o:?} is not allowed"),
            HandshakeError::OriginNotAllowed(None) => f.write_str("missing Origin header"),
            HandshakeError::Unauthorized => f.write_str("missing or wrong credentials"),
            HandshakeError::Refused(status) => write!(f, "refused by the application ({status})"),
            HandshakeError::Extension(e) => e.fmt(f),
            HandshakeError::UnexpectedStatus {
                status,
                reason,
                location: Some(location),
            } => write!(
                f,
                "server answered {status} {reason} (Location: {location}) instead of 101"
            ),
            HandshakeError::UnexpectedStatus { status, reason, .. } => {
                write!(f, "server answered {status} {reason} instead of 101")
            }
            HandshakeError::MissingAccept => f.write_str("missing Sec-WebSocket-Accept"),
            HandshakeError::AcceptMismatch => {
                f.write_str("Sec-WebSocket-Accept does not match the key sent")
            }
            HandshakeError::UnofferedSubprotocol(p) => {
                write!(f, "server chose subprotocol {p:?}, which was not offered")
            }
            HandshakeError::InvalidUrl(why) => write!(f, "invalid WebSocket URL: {why}"),
            HandshakeError::InvalidHeader(name) => {
                write!(f, "header {name:?} has a name or value that cannot be sent")
            }
        }
    }
}

impl std::error::Error for HandshakeError {}

impl From<NegotiationError> for HandshakeError {
    fn from(e: NegotiationError) -> Self {
        HandshakeError::Extension(e)
    }
}
