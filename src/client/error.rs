//! [`ClientError`]: why the one-call client did not get a WebSocket.

use std::fmt;
use std::io;
use std::time::Duration;

/// Why [`ClientBuilder::connect`](super::ClientBuilder::connect) failed
/// before or instead of a WebSocket handshake (handshake, TLS and I/O
/// failures have their own [`Error`](crate::Error) variants).
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The host name could not be resolved to an address.
    Resolve {
        /// `host:port`.
        target: String,
        /// The resolver's error.
        error: io::Error,
    },
    /// No TCP connection could be made to any address of the host.
    Connect {
        /// `host:port`.
        target: String,
        /// The error for the last address tried.
        error: io::Error,
    },
    /// A step took longer than its timeout.
    Timeout {
        /// The step: "TCP connect", "proxy CONNECT", "TLS handshake" or
        /// "WebSocket handshake".
        stage: &'static str,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The server answered with a redirect (3xx), which is not followed
    /// unless [`ClientBuilder::follow_redirects`](super::ClientBuilder::follow_redirects)
    /// allows it.
    Redirect {
        /// The status code.
        status: u16,
        /// The `Location` header, if there was one.
        location: Option<String>,
    },
    /// More redirects than allowed.
    TooManyRedirects {
        /// How many were allowed.
        max: usize,
        /// Where the last one pointed.
        location: String,
    },
    /// A redirect that cannot be followed: from `wss://` to `ws://` (it
    /// would send in plaintext what was meant for TLS), to another scheme,
    /// or to an unparseable location.
    BadRedirect {
        /// The `Location` header.
        location: String,
        /// Why it is not followed.
        reason: String,
    },
    /// A `wss://` URL, but wsstack was built without its `tls` feature.
    TlsNotBuilt,
    /// A TLS configuration was given for a `ws://` URL: refused rather
    /// than silently ignored (use `wss://` for TLS).
    TlsForPlainUrl,
    /// The proxy setting (from `.proxy()` or the environment) cannot be
    /// used.
    InvalidProxy(String),
    /// The proxy wants credentials (none or wrong ones were sent): it
    /// answered 407, or 401 as some proxies (tinyproxy) do for wrong ones.
    ProxyAuthRequired {
        /// The proxy (host and port).
        proxy: String,
        /// Its status code.
        status: u16,
        /// Whether credentials were sent.
        credentials_sent: bool,
    },
    /// The proxy refused to open the tunnel.
    ProxyRefused {
        /// The proxy (host and port).
        proxy: String,
        /// Its status code.
        status: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// The proxy's answer is not HTTP, or too large.
    ProxyMalformed {
        /// The proxy (host and port).
        proxy: String,
        /// What is wrong.
        detail: String,
    },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Resolve { target, error } => {
                write!(f, "cannot resolve {target}: {error}")
            }
            ClientError::Connect { target, error } => {
                write!(f, "cannot connect to {target}: {error}")
            }
            ClientError::Timeout { stage, after } => {
                write!(f, "{stage} timed out after {after:?}")
            }
            ClientError::Redirect {
                status,
                location: Some(location),
            } => write!(
                f,
                "server redirected ({status}) to {location}; \
                 ClientBuilder::follow_redirects(n) follows redirects"
            ),
            ClientError::Redirect {
                status,
                location: None,
            } => write!(
                f,
                "server answered a redirect ({status}) without a Location"
            ),
            ClientError::TooManyRedirects { max, location } => {
                write!(f, "more than {max} redirects (the last to {location})")
            }
            ClientError::BadRedirect { location, reason } => {
                write!(f, "redirect to {location} not followed: {reason}")
            }
            ClientError::TlsNotBuilt => {
                f.write_str("wss:// needs wsstack's `tls` feature, which this build does not have")
            }
            ClientError::TlsForPlainUrl => f.write_str(
                "a TLS configuration was given for a ws:// URL; use a wss:// URL for TLS",
            ),
            ClientError::InvalidProxy(why) => write!(f, "unusable proxy: {why}"),
            ClientError::ProxyAuthRequired {
                proxy,
                status,
                credentials_sent: false,
            } => write!(
                f,
                "proxy {proxy} requires authentication ({status}); give credentials as \
                 http://user:pass@proxy:port"
            ),
            ClientError::ProxyAuthRequired {
                proxy,
                status,
                credentials_sent: true,
            } => write!(f, "proxy {proxy} refused the credentials given ({status})"),
            ClientError::ProxyRefused {
                proxy,
                status,
                reason,
            } => write!(f, "proxy {proxy} refused the tunnel: {status} {reason}"),
            ClientError::ProxyMalformed { proxy, detail } => {
                write!(f, "proxy {proxy} answered with malformed HTTP: {detail}")
            }
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Resolve { error, .. } | ClientError::Connect { error, .. } => Some(error),
            _ => None,
        }
    }
}
