//! [`Frame`]: one WebSocket frame, with constructors and encoding.

use super::{apply_mask, FrameError, FrameHeader, OpCode};

/// One frame (RFC 6455 §5.2). The payload is always held unmasked; `mask`
/// is the key that was (or will be) used on the wire.
///
/// ```
/// use wsstack::frame::{Frame, OpCode};
/// let frame = Frame::text("Hel").with_fin(false);
/// assert_eq!(frame.opcode, OpCode::Text);
/// let mut wire = Vec::new();
/// frame.encode(&mut wire);
/// assert_eq!(wire, [0x01, 0x03, b'H', b'e', b'l']);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Final fragment of a message.
    pub fin: bool,
    /// Reserved bit 1.
    pub rsv1: bool,
    /// Reserved bit 2.
    pub rsv2: bool,
    /// Reserved bit 3.
    pub rsv3: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key: set on received masked frames; on frames to send,
    /// the key to mask with (a client-side [`FrameSocket`](crate::FrameSocket)
    /// draws one from its [`MaskSource`](super::MaskSource) when unset).
    pub mask: Option<[u8; 4]>,
    /// The unmasked payload.
    pub payload: Vec<u8>,
}

impl Frame {
    /// A final, unmasked frame with no RSV bits.
    pub fn new(opcode: OpCode, payload: impl Into<Vec<u8>>) -> Frame {
        Frame {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: None,
            payload: payload.into(),
        }
    }

    /// A text frame carrying `text` as UTF-8.
    pub fn text(text: impl Into<String>) -> Frame {
        Frame::new(OpCode::Text, text.into().into_bytes())
    }

    /// A binary frame.
    pub fn binary(data: impl Into<Vec<u8>>) -> Frame {
        Frame::new(OpCode::Binary, data)
    }

    /// A continuation frame (set `fin` with [`Frame::with_fin`]).
    pub fn continuation(data: impl Into<Vec<u8>>) -> Frame {
        Frame::new(OpCode::Continuation, data)
    }

    /// A ping. Control payloads are limited to 125 bytes (§5.5).
    pub fn ping(data: impl Into<Vec<u8>>) -> Frame {
        Frame::new(OpCode::Ping, data)
    }

    /// A pong. Control payloads are limited to 125 bytes (§5.5).
    pub fn pong(data: impl Into<Vec<u8>>) -> Frame {
        Frame::new(OpCode::Pong, data)
    }

    /// A close frame with a status code and a UTF-8 reason (§5.5.1). The
    /// reason must fit in 123 bytes for the frame to be valid.
    pub fn close(code: u16, reason: &str) -> Frame {
        let mut payload = Vec::with_capacity(2 + reason.len());
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(reason.as_bytes());
        Frame::new(OpCode::Close, payload)
    }

    /// A close frame with no body (the peer sees code 1005, "no status").
    pub fn close_empty() -> Frame {
        Frame::new(OpCode::Close, Vec::new())
    }

    /// Set the FIN bit.
    pub fn with_fin(mut self, fin: bool) -> Frame {
        self.fin = fin;
        self
    }

    /// Set the three RSV bits.
    pub fn with_rsv(mut self, rsv1: bool, rsv2: bool, rsv3: bool) -> Frame {
        self.rsv1 = rsv1;
        self.rsv2 = rsv2;
        self.rsv3 = rsv3;
        self
    }

    /// Set (or clear) the masking key.
    pub fn with_mask(mut self, mask: Option<[u8; 4]>) -> Frame {
        self.mask = mask;
        self
    }

    /// For a close frame: the status code and the raw reason bytes, or
    /// `None` for an empty body (or a 1-byte body, which is invalid).
    pub fn close_code_and_reason(&self) -> Option<(u16, &[u8])> {
        if self.payload.len() < 2 {
            return None;
        }
        Some((
            u16::from_be_bytes([self.payload[0], self.payload[1]]),
            &self.payload[2..],
        ))
    }

    /// The header this frame encodes with.
    pub fn header(&self) -> FrameHeader {
        FrameHeader {
            fin: self.fin,
            rsv1: self.rsv1,
            rsv2: self.rsv2,
            rsv3: self.rsv3,
            opcode: self.opcode,
            mask: self.mask,
            payload_len: self.payload.len() as u64,
        }
    }

    /// Check the rules every frame on the wire must follow: a control frame
    /// is final and at most 125 bytes.
    pub fn validate(&self) -> Result<(), FrameError> {
        if self.opcode.is_control() {
            if self.payload.len() > 125 {
                return Err(FrameError::ControlFrameTooLong {
                    len: self.payload.len() as u64,
                });
            }
            if !self.fin {
                return Err(FrameError::FragmentedControlFrame);
            }
        }
        Ok(())
    }

    /// The number of bytes [`Frame::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        self.header().len() + self.payload.len()
    }

    /// Append the frame to `out`: the header in its minimal form, then the
    /// payload, masked with `self.mask` if set.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        self.header().write_to(out);
        let start = out.len();
        out.extend_from_slice(&self.payload);
        if let Some(key) = self.mask {
            apply_mask(&mut out[start..], key, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6455 §5.7 examples, byte for byte.
    #[test]
    fn rfc_6455_section_5_7_examples_encode() {
        let mut out = Vec::new();
        Frame::text("Hello").encode(&mut out);
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);

        out.clear();
        Frame::text("Hello")
            .with_mask(Some([0x37, 0xfa, 0x21, 0x3d]))
            .encode(&mut out);
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );

        out.clear();
        Frame::text("Hel").with_fin(false).encode(&mut out);
        Frame::continuation("lo").encode(&mut out);
        assert_eq!(out, [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);

        out.clear();
        Frame::ping("Hello").encode(&mut out);
        assert_eq!(out, [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);

        out.clear();
        Frame::pong("Hello")
            .with_mask(Some([0x37, 0xfa, 0x21, 0x3d]))
            .encode(&mut out);
        assert_eq!(
            out,
            [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );

        out.clear();
        Frame::binary(vec![0u8; 256]).encode(&mut out);
        assert_eq!(&out[..4], [0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(out.len(), 4 + 256);

        out.clear();
        Frame::binary(vec![0u8; 65536]).encode(&mut out);
        assert_eq!(
            &out[..10],
            [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
        );
    }

    #[test]
    fn close_frames_carry_code_and_reason() {
        let f = Frame::close(1001, "going away");
        assert_eq!(f.close_code_and_reason(), Some((1001, &b"going away"[..])));
        assert_eq!(Frame::close_empty().close_code_and_reason(), None);
    }

    #[test]
    fn validate_catches_bad_control_frames() {
        assert!(Frame::ping(vec![0; 125]).validate().is_ok());
        assert_eq!(
            Frame::ping(vec![0; 126]).validate(),
            Err(FrameError::ControlFrameTooLong { len: 126 })
        );
        assert_eq!(
            Frame::pong("x").with_fin(false).validate(),
            Err(FrameError::FragmentedControlFrame)
        );
        assert!(Frame::text("x").with_fin(false).validate().is_ok());
    }
}
