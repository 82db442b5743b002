//! The frame header (RFC 6455 §5.2): encoding in the minimal form and
//! incremental parsing.

use super::{FrameError, OpCode};

/// The longest possible header: 2 bytes, 8 bytes of extended length and a
/// 4-byte masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// A parsed or to-be-written frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// Reserved bit 1 (used by compression extensions).
    pub rsv1: bool,
    /// Reserved bit 2.
    pub rsv2: bool,
    /// Reserved bit 3.
    pub rsv3: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parse a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` does not yet hold the whole header
    /// (nothing is consumed), or the header and its length in bytes. Rejects
    /// what no frame can carry: a 64-bit length with its top bit set, and a
    /// control frame that is longer than 125 bytes or not final. Limits and
    /// the masking policy are the [`FrameDecoder`](super::FrameDecoder)'s
    /// job.
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, FrameError> {
        if buf.len() < 2 {
            return Ok(None);
        }
        let (b0, b1) = (buf[0], buf[1]);
        let opcode = OpCode::from_nibble(b0);
        let fin = b0 & 0x80 != 0;
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut pos) = match b1 & 0x7F {
            126 => {
                if buf.len() < 4 {
                    return Ok(None);
                }
                (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
            }
            127 => {
                if buf.len() < 10 {
                    return Ok(None);
                }
                let mut len = [0u8; 8];
                len.copy_from_slice(&buf[2..10]);
                let len = u64::from_be_bytes(len);
                if len >> 63 != 0 {
                    return Err(FrameError::LengthTopBitSet);
                }
                (len, 10)
            }
            short => (u64::from(short), 2),
        };
        if opcode.is_control() {
            if payload_len > 125 {
                return Err(FrameError::ControlFrameTooLong { len: payload_len });
            }
            if !fin {
                return Err(FrameError::FragmentedControlFrame);
            }
        }
        let mask = if masked {
            if buf.len() < pos + 4 {
                return Ok(None);
            }
            let key = [buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]];
            pos += 4;
            Some(key)
        } else {
            None
        };
        let header = FrameHeader {
            fin,
            rsv1: b0 & 0x40 != 0,
            rsv2: b0 & 0x20 != 0,
            rsv3: b0 & 0x10 != 0,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, pos)))
    }

    /// The encoded length of this header.
    pub fn len(&self) -> usize {
        let ext = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + ext + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Always false: a header is at least two bytes. Present for symmetry
    /// with [`FrameHeader::len`].
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Encode into `out` in the minimal form (§5.2: "the minimal number of
    /// bytes MUST be used to encode the length") and return the length used.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7)
            | (u8::from(self.rsv1) << 6)
            | (u8::from(self.rsv2) << 5)
            | (u8::from(self.rsv3) << 4)
            | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut pos = match self.payload_len {
            len @ 0..=125 => {
                out[1] = mask_bit | len as u8;
                2
            }
            len @ 126..=0xFFFF => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            len => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&len.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[pos..pos + 4].copy_from_slice(&key);
            pos += 4;
        }
        pos
    }

    /// Append the encoded header to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; MAX_HEADER_LEN];
        let n = self.encode(&mut buf);
        out.extend_from_slice(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u64, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode: OpCode::Binary,
            mask,
            payload_len: len,
        }
    }

    #[test]
    fn lengths_use_the_minimal_form_and_round_trip() {
        let cases: &[(u64, usize)] = &[
            (0, 2),
            (125, 2),
            (126, 4),
            (0xFFFF, 4),
            (0x1_0000, 10),
            (u64::MAX >> 1, 10),
        ];
        for &(len, expect) in cases {
            for mask in [None, Some([1, 2, 3, 4])] {
                let h = header(len, mask);
                let mut buf = [0u8; MAX_HEADER_LEN];
                let n = h.encode(&mut buf);
                let extra = if mask.is_some() { 4 } else { 0 };
                assert_eq!(n, expect + extra, "len {len}");
                assert_eq!(h.len(), n);
                assert_eq!(FrameHeader::parse(&buf[..n]), Ok(Some((h, n))));
                // Every strict prefix is incomplete, never an error.
                for cut in 0..n {
                    assert_eq!(FrameHeader::parse(&buf[..cut]), Ok(None), "cut {cut}");
                }
            }
        }
    }

    #[test]
    fn top_bit_of_64_bit_length_is_rejected() {
        let mut wire = vec![0x82, 127];
        wire.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(FrameHeader::parse(&wire), Err(FrameError::LengthTopBitSet));
    }

    #[test]
    fn control_frame_rules() {
        assert_eq!(
            FrameHeader::parse(&[0x89, 126, 0, 126]),
            Err(FrameError::ControlFrameTooLong { len: 126 })
        );
        assert_eq!(
            FrameHeader::parse(&[0x09, 0]),
            Err(FrameError::FragmentedControlFrame)
        );
        assert!(FrameHeader::parse(&[0x89, 125]).unwrap().is_some());
    }

    #[test]
    fn rsv_bits_and_reserved_opcodes_parse() {
        let (h, _) = FrameHeader::parse(&[0xF3, 0]).unwrap().unwrap();
        assert!(h.fin && h.rsv1 && h.rsv2 && h.rsv3);
        assert_eq!(h.opcode, OpCode::Reserved(3));
    }
}
