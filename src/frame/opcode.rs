//! [`OpCode`]: the four-bit frame opcode (RFC 6455 §5.2).

use std::fmt;

/// A frame opcode (RFC 6455 §5.2): four bits, all sixteen values
/// representable, so decoding never fails or panics on a reserved value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// `0x0`: continues a fragmented message.
    Continuation,
    /// `0x1`: a text (UTF-8) data frame.
    Text,
    /// `0x2`: a binary data frame.
    Binary,
    /// `0x8`: connection close.
    Close,
    /// `0x9`: ping.
    Ping,
    /// `0xA`: pong.
    Pong,
    /// One of the reserved values `0x3-0x7` (data) or `0xB-0xF` (control).
    /// The value is always one of those; constructing it with another
    /// value is normalised by [`OpCode::from_nibble`].
    Reserved(u8),
}

impl OpCode {
    /// The opcode for the low four bits of `bits`; the high bits are ignored.
    pub fn from_nibble(bits: u8) -> OpCode {
        match bits & 0x0F {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            other => OpCode::Reserved(other),
        }
    }

    /// The four-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
            OpCode::Reserved(v) => v & 0x0F,
        }
    }

    /// Control frames have the high bit of the opcode set (§5.5).
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x08 != 0
    }

    /// Data frames: continuation, text, binary and the reserved `0x3-0x7`.
    pub fn is_data(self) -> bool {
        !self.is_control()
    }

    /// Whether the value is reserved for future use by RFC 6455.
    pub fn is_reserved(self) -> bool {
        matches!(OpCode::from_nibble(self.as_u8()), OpCode::Reserved(_))
    }
}

impl TryFrom<u8> for OpCode {
    type Error = u8;

    /// Fails (returning the value) for anything that does not fit in four
    /// bits; every value `0..=15` converts.
    fn try_from(value: u8) -> Result<Self, u8> {
        if value > 0x0F {
            Err(value)
        } else {
            Ok(OpCode::from_nibble(value))
        }
    }
}

impl From<OpCode> for u8 {
    fn from(op: OpCode) -> u8 {
        op.as_u8()
    }
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpCode::Continuation => f.write_str("continuation"),
            OpCode::Text => f.write_str("text"),
            OpCode::Binary => f.write_str("binary"),
            OpCode::Close => f.write_str("close"),
            OpCode::Ping => f.write_str("ping"),
            OpCode::Pong => f.write_str("pong"),
            OpCode::Reserved(v) => write!(f, "reserved(0x{:X})", v & 0x0F),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nibble_round_trips() {
        for v in 0u8..16 {
            let op = OpCode::from_nibble(v);
            assert_eq!(op.as_u8(), v);
            assert_eq!(OpCode::try_from(v), Ok(op));
            assert_eq!(op.is_control(), v >= 8);
            assert_eq!(op.is_reserved(), matches!(v, 3..=7 | 0xB..=0xF));
        }
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        for v in 16u8..=255 {
            assert_eq!(OpCode::try_from(v), Err(v));
        }
        assert_eq!(OpCode::from_nibble(0xF1), OpCode::Text);
        assert_eq!(OpCode::Reserved(0x13).as_u8(), 0x3);
    }
}
