//! [`Error`]: the crate-wide error that joins the per-layer errors.

use std::{fmt, io};

use crate::config::ConfigError;
use crate::connection::{ProtocolError, UsageError};
use crate::frame::{CloseCode, FrameError};
use crate::handshake::HandshakeError;

/// Any error from wsstack's drivers, joining the per-layer errors.
///
/// The variants say whose fault it was: [`Error::Frame`] and most of
/// [`Error::Handshake`] are the peer's, [`Error::InvalidSend`] and
/// [`Error::Config`] are the caller's, [`Error::Io`] is the transport's.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed.
    Io(io::Error),
    /// The peer sent a frame that breaks RFC 6455 or a limit.
    Frame(FrameError),
    /// The opening handshake failed (see [`HandshakeError`] for whose
    /// fault).
    Handshake(HandshakeError),
    /// The peer broke the protocol at the message level; the connection
    /// has been failed with [`ProtocolError::close_code`].
    Protocol(ProtocolError),
    /// The caller issued a command the connection cannot carry out (e.g.
    /// sending after close).
    Usage(UsageError),
    /// The caller asked to send a frame that may not be sent (a control
    /// frame over 125 bytes or not final).
    InvalidSend(FrameError),
    /// The configuration cannot work.
    Config(ConfigError),
    /// The peer closed the transport cleanly between frames.
    ConnectionClosed,
    /// TLS failed: our own certificate or key, or the peer's certificate
    /// (expired, issued for another host, by an unknown authority, ...).
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsError),
    /// The one-call client could not get to the point of a handshake, or
    /// was answered with something other than one (a redirect, a proxy's
    /// refusal, a timeout, ...).
    Client(crate::client::ClientError),
}

impl Error {
    /// The close code (RFC 6455 §7.4.1) to send for a peer's protocol
    /// error, if this is one.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Frame(e) => Some(e.close_code()),
            Error::Protocol(e) => Some(e.close_code()),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Frame(e) => write!(f, "protocol error from peer: {e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Protocol(e) => write!(f, "protocol error from peer: {e}"),
            Error::Usage(e) => write!(f, "invalid use: {e}"),
            Error::InvalidSend(e) => write!(f, "cannot send this frame: {e}"),
            Error::Config(e) => e.fmt(f),
            Error::ConnectionClosed => f.write_str("connection closed by peer"),
            #[cfg(feature = "tls")]
            Error::Tls(e) => write!(f, "TLS: {e}"),
            Error::Client(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Frame(e) | Error::InvalidSend(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Usage(e) => Some(e),
            Error::Config(e) => Some(e),
            Error::ConnectionClosed => None,
            #[cfg(feature = "tls")]
            Error::Tls(e) => Some(e),
            Error::Client(e) => Some(e),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<FrameError> for Error {
    fn from(e: FrameError) -> Self {
        Error::Frame(e)
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Error::Usage(e)
    }
}

#[cfg(feature = "tls")]
impl From<crate::tls::TlsError> for Error {
    fn from(e: crate::tls::TlsError) -> Self {
        Error::Tls(e)
    }
}

impl From<crate::client::ClientError> for Error {
    fn from(e: crate::client::ClientError) -> Self {
        Error::Client(e)
    }
}
