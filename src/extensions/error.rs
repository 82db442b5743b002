//! The extension layer's own errors: [`NegotiationError`] during the
//! handshake and [`TransformError`] while a connection runs.

use std::fmt;

use crate::frame::CloseCode;

/// Extension negotiation failed (RFC 6455 §9.1): a malformed
/// `Sec-WebSocket-Extensions` header, or a server response that does not
/// fit what was offered. [`HandshakeError`](crate::handshake::HandshakeError)
/// wraps it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NegotiationError {
    /// A malformed `Sec-WebSocket-Extensions` header.
    Header(String),
    /// The server accepted an extension that was not offered.
    Unoffered(String),
    /// The server accepted the same extension twice, or two that use the
    /// same RSV bit.
    Duplicate(String),
    /// An extension parameter that is not allowed, repeated, out of range
    /// or missing a value.
    Param {
        /// The extension.
        extension: String,
        /// The parameter.
        param: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::Header(why) => {
                write!(f, "malformed Sec-WebSocket-Extensions: {why}")
            }
            NegotiationError::Unoffered(e) => {
                write!(f, "server accepted extension {e:?}, which was not offered")
            }
            NegotiationError::Duplicate(e) => {
                write!(
                    f,
                    "server accepted extension {e:?} twice or with a conflicting one"
                )
            }
            NegotiationError::Param {
                extension,
                param,
                problem,
            } => write!(f, "extension {extension:?}: parameter {param:?} {problem}"),
        }
    }
}

impl std::error::Error for NegotiationError {}

/// An extension could not transform a frame; the connection fails with
/// [`TransformError::close_code`].
/// [`ProtocolError`](crate::connection::ProtocolError) wraps it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransformError {
    /// The output would pass the message limit (e.g. a compressed message
    /// that inflates past it); closes with 1009.
    TooLarge {
        /// The limit in bytes.
        max: usize,
    },
    /// The peer's data cannot be decoded (e.g. corrupt compressed data,
    /// or RSV bits used where the extension forbids them).
    Invalid {
        /// What went wrong.
        reason: String,
        /// The close code to send (usually 1002 or 1007).
        code: CloseCode,
    },
    /// The extension itself failed; closes with 1011 and no details.
    Internal(String),
}

impl TransformError {
    /// The close code to fail the connection with.
    pub fn close_code(&self) -> CloseCode {
        match self {
            TransformError::TooLarge { .. } => CloseCode::TOO_BIG,
            TransformError::Invalid { code, .. } => *code,
            TransformError::Internal(_) => CloseCode::INTERNAL_ERROR,
        }
    }
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransformError::TooLarge { max } => {
                write!(f, "message exceeds the limit of {max} bytes")
            }
            TransformError::Invalid { reason, .. } => write!(f, "extension error: {reason}"),
            TransformError::Internal(reason) => write!(f, "extension failure: {reason}"),
        }
    }
}

impl std::error::Error for TransformError {}
