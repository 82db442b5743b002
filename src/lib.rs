//! # wsstack
//!
//! A layered WebSocket ([RFC 6455]) protocol stack with a sans-I/O core.
//!
//! The layers, bottom up, each usable on its own:
//!
//! - [`frame`]: the wire format — [`frame::OpCode`], [`frame::Frame`], header
//!   encoding, masking, an incremental [`frame::FrameDecoder`] with limits, and
//!   [`frame::FrameSocket`], frame-level send/receive over any `Read + Write`.
//! - [`handshake`]: the HTTP/1.1 upgrade as data plus explicit decisions —
//!   [`handshake::parse_request`], [`handshake::ServerConfig::accept`],
//!   [`handshake::ClientRequest`], the accept key, Origin checks and HTTP
//!   Basic authentication.
//! - [`connection`]: the sans-I/O protocol [`connection::Engine`] —
//!   messages, control frames, fragmentation, the close handshake, UTF-8
//!   and close-code checks, limits and timers.
//! - [`io`]: thin blocking drivers over a `Read + Write` stream: the
//!   handshake ([`io::accept`], [`io::connect`]) and the message-level
//!   [`Connection`] with [`ConnectionHandler`] callbacks.
//! - [`client`]: [`connect`] a `ws://` or `wss://` URL in one call, or
//!   configure everything with [`ClientBuilder`] (proxy, TLS, redirects,
//!   timeouts); `tls` (feature `tls`, on by default) holds the rustls
//!   building blocks.
//!
//! The core (`frame`, `handshake`, `connection`) never touches a socket, a
//! thread or a clock: it takes bytes (and, for timers, the current time) in
//! and hands bytes and events out.
//!
//! ```no_run
//! use std::net::TcpListener;
//! use wsstack::frame::{Frame, FrameSocket};
//! use wsstack::handshake::ServerConfig;
//!
//! let listener = TcpListener::bind("127.0.0.1:8000")?;
//! let (tcp, _) = listener.accept()?;
//! let (mut socket, request) = FrameSocket::accept(tcp, &ServerConfig::default())?;
//! println!("upgraded {}", request.path());
//! socket.send(&Frame::text("Hello, Client!"))?;
//! let frame = socket.recv()?;
//! println!("got {:?}", frame.opcode);
//! # Ok::<(), wsstack::Error>(())
//! ```
//!
//! [RFC 6455]: https://www.rfc-editor.org/rfc/rfc6455
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

pub mod client;
pub mod config;
pub mod connection;
mod error;
pub mod extensions;
pub mod frame;
pub mod handshake;
pub mod io;
mod rand;
pub mod server;
#[cfg(feature = "tls")]
pub mod tls;

pub use client::{connect, ClientBuilder};
pub use config::{ConfigError, Limits};
pub use connection::{Message, MessageKind};
pub use error::Error;
pub use frame::Role;
pub use io::{Connection, ConnectionHandler};
