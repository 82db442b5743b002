//! The message layer (RFC 6455 §5.4-5.5, §7): a sans-I/O protocol
//! [`Engine`] that turns frames into whole messages (or chunks), answers
//! pings, runs the close handshake, checks UTF-8 and close codes, enforces
//! limits and drives keepalive and close timers.
//!
//! The blocking [`Connection`](crate::Connection) in [`crate::io`] is a
//! thin driver over this engine.

mod config;
mod engine;
mod error;
mod message;
mod prepared;
mod text;
mod utf8;

pub use crate::frame::{is_valid_close_code, CloseCode, MessageKind};
pub use config::Config;
pub use engine::{Engine, Event};
pub use error::{ProtocolError, UsageError};
pub use message::Message;
pub use prepared::PreparedMessage;
