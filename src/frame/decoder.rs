//! The incremental frame decoder.

use super::{apply_mask, Frame, FrameError, FrameHeader, Role};

/// Result of [`FrameDecoder::decode`].
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole frame, and how many bytes of the input it took.
    Frame {
        /// The frame, payload unmasked.
        frame: Frame,
        /// Bytes of the input consumed.
        consumed: usize,
    },
    /// More bytes are needed; nothing was consumed.
    Incomplete,
}

/// Decodes frames from a byte buffer that the caller fills.
///
/// Stateless between calls: feed it the bytes received so far; it either
/// returns a whole frame and the number of bytes it took, or
/// [`Decoded::Incomplete`], having consumed nothing. Any split of the input
/// works, one byte at a time included. The declared payload length is
/// checked against the limit as soon as the header is complete, before any
/// payload is buffered.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    role: Role,
    max_frame_size: usize,
}

impl FrameDecoder {
    /// A decoder for the given role (a server expects masked frames, a
    /// client unmasked ones) with a payload limit in bytes.
    pub fn new(role: Role, max_frame_size: usize) -> FrameDecoder {
        FrameDecoder {
            role,
            max_frame_size,
        }
    }

    /// The role this decoder enforces.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The payload limit in bytes.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Parse and check a header: the intrinsic rules, the masking policy
    /// for the role, and the size limit.
    pub fn decode_header(&self, buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, FrameError> {
        let Some((header, len)) = FrameHeader::parse(buf)? else {
            return Ok(None);
        };
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(FrameError::UnmaskedFrameFromClient),
            (Role::Client, true) => return Err(FrameError::MaskedFrameFromServer),
            _ => {}
        }
        if header.payload_len > self.max_frame_size as u64 {
            return Err(FrameError::FrameTooLarge {
                len: header.payload_len,
                max: self.max_frame_size,
            });
        }
        Ok(Some((header, len)))
    }

    /// Decode one frame from the start of `buf`.
    pub fn decode(&self, buf: &[u8]) -> Result<Decoded, FrameError> {
        let Some((header, header_len)) = self.decode_header(buf)? else {
            return Ok(Decoded::Incomplete);
        };
        // The limit check above bounds payload_len by a usize.
        let payload_len = header.payload_len as usize;
        let total = header_len + payload_len;
        if buf.len() < total {
            return Ok(Decoded::Incomplete);
        }
        let mut payload = buf[header_len..total].to_vec();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        Ok(Decoded::Frame {
            frame: Frame {
                fin: header.fin,
                rsv1: header.rsv1,
                rsv2: header.rsv2,
                rsv3: header.rsv3,
                opcode: header.opcode,
                mask: header.mask,
                payload,
            },
            consumed: total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::OpCode;

    fn server() -> FrameDecoder {
        FrameDecoder::new(Role::Server, 1 << 20)
    }

    fn client() -> FrameDecoder {
        FrameDecoder::new(Role::Client, 1 << 20)
    }

    #[test]
    fn rfc_6455_section_5_7_examples_decode() {
        let hello_masked = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        match server().decode(&hello_masked).unwrap() {
            Decoded::Frame { frame, consumed } => {
                assert_eq!(consumed, 11);
                assert_eq!(frame.payload, b"Hello");
                assert_eq!(frame.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
                assert!(frame.fin);
            }
            Decoded::Incomplete => panic!("complete input"),
        }
        let fragments = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
        let Decoded::Frame { frame, consumed } = client().decode(&fragments).unwrap() else {
            panic!("complete input")
        };
        assert_eq!(
            (frame.opcode, frame.fin, consumed),
            (OpCode::Text, false, 5)
        );
        let Decoded::Frame { frame, consumed } = client().decode(&fragments[5..]).unwrap() else {
            panic!("complete input")
        };
        assert_eq!(
            (frame.opcode, frame.fin, consumed),
            (OpCode::Continuation, true, 4)
        );
        assert_eq!(frame.payload, b"lo");
    }

    #[test]
    fn any_split_gives_the_same_frames() {
        let mut wire = Vec::new();
        let key = [9, 8, 7, 6];
        let frames = vec![
            Frame::text("").with_mask(Some(key)),
            Frame::binary(vec![0xAB; 125]).with_mask(Some(key)),
            Frame::binary(vec![0xCD; 126]).with_mask(Some(key)),
            Frame::binary((0..70_000u32).map(|i| i as u8).collect::<Vec<_>>()).with_mask(Some(key)),
            Frame::close(1000, "bye").with_mask(Some(key)),
        ];
        for f in &frames {
            f.encode(&mut wire);
        }
        // One byte at a time: the decoder sees every prefix.
        let dec = server();
        let mut got = Vec::new();
        let mut buf = Vec::new();
        for &b in &wire {
            buf.push(b);
            match dec.decode(&buf).unwrap() {
                Decoded::Frame { frame, consumed } => {
                    buf.drain(..consumed);
                    got.push(frame);
                }
                Decoded::Incomplete => {}
            }
        }
        assert!(buf.is_empty());
        assert_eq!(got, frames);
        // Uneven chunks.
        let mut got = Vec::new();
        let mut buf = Vec::new();
        for chunk in wire.chunks(997) {
            buf.extend_from_slice(chunk);
            while let Decoded::Frame { frame, consumed } = dec.decode(&buf).unwrap() {
                buf.drain(..consumed);
                got.push(frame);
            }
        }
        assert_eq!(got, frames);
    }

    #[test]
    fn oversized_frame_is_rejected_from_the_header_alone() {
        let dec = FrameDecoder::new(Role::Client, 1000);
        // Header only, claiming 1001 bytes: rejected with no payload present.
        assert_eq!(
            dec.decode(&[0x82, 126, 0x03, 0xE9]),
            Err(FrameError::FrameTooLarge {
                len: 1001,
                max: 1000
            })
        );
        let mut huge = vec![0x82, 127];
        huge.extend_from_slice(&(1u64 << 62).to_be_bytes());
        assert!(matches!(
            dec.decode(&huge),
            Err(FrameError::FrameTooLarge { .. })
        ));
        // Exactly at the limit is fine.
        let mut ok = Vec::new();
        Frame::binary(vec![1; 1000]).encode(&mut ok);
        assert!(matches!(dec.decode(&ok), Ok(Decoded::Frame { .. })));
    }

    #[test]
    fn role_policy_on_masking() {
        let mut unmasked = Vec::new();
        Frame::text("hi").encode(&mut unmasked);
        assert_eq!(
            server().decode(&unmasked),
            Err(FrameError::UnmaskedFrameFromClient)
        );
        let mut masked = Vec::new();
        Frame::text("hi")
            .with_mask(Some([1, 2, 3, 4]))
            .encode(&mut masked);
        assert_eq!(
            client().decode(&masked),
            Err(FrameError::MaskedFrameFromServer)
        );
    }

    #[test]
    fn malformed_headers_are_typed_errors() {
        let mut top = vec![0x82, 0xFF];
        top.extend_from_slice(&u64::MAX.to_be_bytes());
        top.extend_from_slice(&[0; 4]);
        assert_eq!(server().decode(&top), Err(FrameError::LengthTopBitSet));
        assert_eq!(
            server().decode(&[0x88, 0xFE, 0, 200]),
            Err(FrameError::ControlFrameTooLong { len: 200 })
        );
        assert_eq!(
            server().decode(&[0x0A, 0x80, 0, 0, 0, 0]),
            Err(FrameError::FragmentedControlFrame)
        );
    }
}
