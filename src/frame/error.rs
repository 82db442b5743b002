//! [`FrameError`]: a frame that breaks RFC 6455 §5 or a limit, with its close code.

use std::fmt;

use super::CloseCode;

/// A frame that breaks RFC 6455 §5 or a configured limit; always the
/// peer's fault when it comes from the decoder.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A 64-bit payload length with the most significant bit set (§5.2).
    LengthTopBitSet,
    /// A control frame with a payload over 125 bytes (§5.5).
    ControlFrameTooLong {
        /// The declared payload length.
        len: u64,
    },
    /// A control frame without the FIN bit (§5.5: control frames are never
    /// fragmented).
    FragmentedControlFrame,
    /// A payload longer than the configured maximum, detected from the
    /// header before any payload is buffered.
    FrameTooLarge {
        /// The declared payload length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// A server received a frame without a mask (§5.1).
    UnmaskedFrameFromClient,
    /// A client received a masked frame (§5.1).
    MaskedFrameFromServer,
}

impl FrameError {
    /// The close code (RFC 6455 §7.4.1) to send for this error: 1009 for a
    /// frame over the size limit, 1002 for every protocol violation.
    pub fn close_code(&self) -> CloseCode {
        match self {
            FrameError::FrameTooLarge { .. } => CloseCode::TOO_BIG,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::LengthTopBitSet => {
                f.write_str("64-bit payload length has its most significant bit set")
            }
            FrameError::ControlFrameTooLong { len } => {
                write!(f, "control frame payload of {len} bytes exceeds 125")
            }
            FrameError::FragmentedControlFrame => f.write_str("control frame without FIN"),
            FrameError::FrameTooLarge { len, max } => {
                write!(f, "frame payload of {len} bytes exceeds the limit of {max}")
            }
            FrameError::UnmaskedFrameFromClient => f.write_str("client sent an unmasked frame"),
            FrameError::MaskedFrameFromServer => f.write_str("server sent a masked frame"),
        }
    }
}

impl std::error::Error for FrameError {}
