//! # wsstack
//!
//! A layered WebSocket ([RFC 6455]) protocol stack with a sans-I/O core.
//!
//! The layers, bottom up, each usable on its own:
//!
//! - [`frame`]: the wire format — [`frame::OpCode`], [`frame::Frame`], header
//!   encoding, masking, [`CloseCode`], and an incremental
//!   [`frame::FrameDecoder`] with limits.
//! - [`extensions`]: the `Sec-WebSocket-Extensions` grammar, the
//!   [`extensions::ExtensionFactory`] / [`extensions::Extension`] traits, and
//!   permessage-deflate and deflate-frame.
//! - [`handshake`]: the HTTP/1.1 upgrade as data plus explicit decisions —
//!   [`handshake::parse_request`], [`handshake::ServerConfig::accept`],
//!   [`handshake::ClientRequest`], the accept key, Origin checks and HTTP
//!   Basic authentication.
//! - [`connection`]: the sans-I/O protocol [`connection::Engine`] —
//!   messages, control frames, fragmentation, the close handshake, UTF-8
//!   and close-code checks, limits and timers.
//! - [`driver`]: the toolkit every driver shares — the sans-I/O handshake
//!   drivers, building an engine from an accepted handshake, the one
//!   event-to-handler dispatch and the one error-to-close mapping.
//! - [`io`]: thin blocking drivers over a `Read + Write` stream: the
//!   handshake ([`io::accept`], [`io::connect`]), raw frames
//!   ([`FrameSocket`]) and the message-level [`Connection`] with
//!   [`ConnectionHandler`] callbacks.
//! - [`server`]: the threaded, event-loop and tokio servers behind one
//!   [`server::Handler`] trait.
//! - [`client`]: [`connect`] a `ws://` or `wss://` URL in one call, or
//!   configure everything with [`ClientBuilder`] (proxy, TLS, redirects,
//!   timeouts); `tls` (feature `tls`, on by default) holds the rustls
//!   building blocks.
//! - `tokio` (feature `tokio`): the async driver — a `WebSocketStream`
//!   that is a `futures` `Stream` and `Sink` of messages, the handshake
//!   over any tokio transport, and an upgrade helper for hyper and axum.
//!
//! The core (`frame`, `extensions`, `handshake`, `connection`) never
//! touches a socket, a thread or a clock: it takes bytes (and, for timers,
//! the current time) in and hands bytes and events out. Each layer uses
//! only the layers below it.
//!
//! ```no_run
//! use std::net::TcpListener;
//! use wsstack::frame::Frame;
//! use wsstack::FrameSocket;
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
// Two modules use `unsafe`: `connection/text.rs` turns text it has just
// checked as UTF-8 into a `String` without checking it twice, and the
// io_uring driver's `server/uring/ring.rs` (feature `uring`) lends memory
// to the kernel; nothing else is unsafe.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

pub mod client;
pub mod config;
pub mod connection;
pub mod driver;
mod error;
pub mod extensions;
pub mod frame;
pub mod handshake;
pub mod io;
#[cfg(feature = "ops")]
pub mod ops;
mod rand;
pub mod server;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use client::{connect, ClientBuilder};
pub use config::{ConfigError, Limits};
pub use connection::Message;
pub use error::Error;
pub use frame::{CloseCode, MessageKind, Role};
pub use io::{Connection, ConnectionHandler, FrameSocket};
#[cfg(feature = "ops")]
pub use ops::App;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
