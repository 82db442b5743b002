//! [`MessageKind`]: whether a data frame's message is text or binary.

use super::OpCode;

/// Whether a message is text or binary (the opcode of its first frame,
/// RFC 6455 §5.6).
///
/// ```
/// use wsstack::frame::{MessageKind, OpCode};
/// assert_eq!(MessageKind::Text.opcode(), OpCode::Text);
/// assert_eq!(MessageKind::from_opcode(OpCode::Binary), Some(MessageKind::Binary));
/// assert_eq!(MessageKind::from_opcode(OpCode::Ping), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text (opcode 0x1).
    Text,
    /// Binary data (opcode 0x2).
    Binary,
}

impl MessageKind {
    /// The opcode of a message's first frame.
    pub fn opcode(self) -> OpCode {
        match self {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        }
    }

    /// The kind a first frame's opcode starts, if it starts a message.
    pub fn from_opcode(opcode: OpCode) -> Option<MessageKind> {
        match opcode {
            OpCode::Text => Some(MessageKind::Text),
            OpCode::Binary => Some(MessageKind::Binary),
            _ => None,
        }
    }
}
