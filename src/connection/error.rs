//! Connection-level errors and the one place that maps them to close codes.

use std::fmt;

use crate::extensions::TransformError;
use crate::frame::{CloseCode, FrameError};

/// The peer broke RFC 6455 or a limit; the connection is failed
/// (§7.1.7) with [`ProtocolError::close_code`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A malformed or oversized frame header.
    Frame(FrameError),
    /// A reserved opcode (§5.2).
    ReservedOpcode(u8),
    /// RSV bits set that no negotiated extension claims (§5.2).
    ReservedBits(u8),
    /// A continuation frame with no fragmented message to continue.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is open.
    ExpectedContinuation,
    /// A message longer than the configured maximum.
    MessageTooLarge {
        /// The limit in bytes.
        max: usize,
    },
    /// A text message or close reason that is not valid UTF-8.
    InvalidUtf8,
    /// A close code that may not be sent (§7.4).
    InvalidCloseCode(u16),
    /// A Close frame with a 1-byte body.
    InvalidClosePayload,
    /// No pong arrived within the pong timeout after our keepalive ping.
    PongTimeout,
    /// An extension failed to transform a frame (e.g. corrupt compressed
    /// data); the close code is the extension's.
    Extension(TransformError),
}

impl ProtocolError {
    /// The close code to fail the connection with (§7.4.1): 1009 for size
    /// limits, 1007 for invalid UTF-8, 1011 for a keepalive timeout, 1002
    /// for every other protocol violation.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::Frame(e) => e.close_code(),
            ProtocolError::MessageTooLarge { .. } => CloseCode::TOO_BIG,
            ProtocolError::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            ProtocolError::PongTimeout => CloseCode::INTERNAL_ERROR,
            ProtocolError::Extension(e) => e.close_code(),
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl From<FrameError> for ProtocolError {
    fn from(e: FrameError) -> Self {
        ProtocolError::Frame(e)
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Frame(e) => e.fmt(f),
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode 0x{op:X}"),
            ProtocolError::ReservedBits(bits) => {
                write!(
                    f,
                    "RSV bits 0b{bits:03b} set without an extension that uses them"
                )
            }
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame with no message to continue")
            }
            ProtocolError::ExpectedContinuation => {
                f.write_str("new data frame inside a fragmented message")
            }
            ProtocolError::MessageTooLarge { max } => {
                write!(f, "message exceeds the limit of {max} bytes")
            }
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8 in text"),
            ProtocolError::InvalidCloseCode(c) => write!(f, "invalid close code {c}"),
            ProtocolError::InvalidClosePayload => f.write_str("close frame with a 1-byte body"),
            ProtocolError::PongTimeout => f.write_str("keepalive ping timed out"),
            ProtocolError::Extension(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ProtocolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProtocolError::Frame(e) => Some(e),
            ProtocolError::Extension(e) => Some(e),
            _ => None,
        }
    }
}

impl From<TransformError> for ProtocolError {
    fn from(e: TransformError) -> Self {
        match e {
            TransformError::TooLarge { max } => ProtocolError::MessageTooLarge { max },
            other => ProtocolError::Extension(other),
        }
    }
}

/// A command the engine cannot carry out; the caller's fault.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageError {
    /// The connection is closing or closed: nothing more may be sent.
    Closed,
    /// A fragmented message is being sent; finish it first.
    MessageInProgress,
    /// A continuation was sent with no fragmented message started.
    NoMessageInProgress,
    /// A close code that may not be sent (§7.4).
    InvalidCloseCode(u16),
    /// A close reason over 123 bytes.
    ReasonTooLong,
    /// A ping or pong payload over 125 bytes.
    ControlPayloadTooLong,
    /// An extension failed to encode the message; the connection has been
    /// failed (with the extension's close code, usually 1011).
    ExtensionFailed(TransformError),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Closed => f.write_str("the connection is closing or closed"),
            UsageError::MessageInProgress => f.write_str("a fragmented message is in progress"),
            UsageError::NoMessageInProgress => f.write_str("no fragmented message is in progress"),
            UsageError::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
            UsageError::ReasonTooLong => f.write_str("close reason over 123 bytes"),
            UsageError::ControlPayloadTooLong => f.write_str("control payload over 125 bytes"),
            UsageError::ExtensionFailed(e) => write!(f, "an extension failed to encode: {e}"),
        }
    }
}

impl std::error::Error for UsageError {}
