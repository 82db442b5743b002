//! The frame layer (RFC 6455 §5): opcodes, frames, header encoding,
//! masking, close codes, and an incremental decoder with limits.
//!
//! Everything here is sans-I/O; [`FrameSocket`](crate::FrameSocket), which
//! sends and receives raw frames over a `Read + Write` stream, is a driver
//! in [`crate::io`].
//!
//! ```
//! use wsstack::frame::{Frame, FrameDecoder, Decoded, OpCode};
//! use wsstack::Role;
//!
//! // A masked "Hello" from a client (RFC 6455 §5.7).
//! let wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
//! let decoder = FrameDecoder::new(Role::Server, 1 << 20);
//! match decoder.decode(&wire)? {
//!     Decoded::Frame { frame, consumed } => {
//!         assert_eq!(frame.opcode, OpCode::Text);
//!         assert_eq!(frame.payload, b"Hello");
//!         assert_eq!(consumed, wire.len());
//!     }
//!     Decoded::Incomplete => unreachable!(),
//! }
//! # Ok::<(), wsstack::frame::FrameError>(())
//! ```

mod close_code;
mod decoder;
mod error;
#[allow(clippy::module_inception)]
mod frame;
mod header;
mod kind;
mod mask;
mod opcode;

pub use close_code::{is_valid_close_code, CloseCode};
pub use decoder::{Decoded, FrameDecoder};
pub use error::FrameError;
pub use frame::Frame;
pub use header::{FrameHeader, MAX_HEADER_LEN};
pub use kind::MessageKind;
pub use mask::{apply_mask, FixedMask, MaskSource, RandomMask};
pub use opcode::OpCode;

/// Which end of the connection we are. It decides masking (RFC 6455 §5.1):
/// a client masks every frame it sends, a server masks none, and each
/// rejects frames masked the wrong way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that sent the opening handshake request.
    Client,
    /// The end that accepted it.
    Server,
}
