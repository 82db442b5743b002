//! The opening handshake (RFC 6455 §4) as data plus explicit decisions.
//!
//! Server side: [`parse_request`] reads the upgrade request incrementally;
//! [`ServerConfig::accept`] runs the built-in checks (and the application's
//! own) and answers with an [`Accepted`] 101 response or a [`Rejection`]
//! carrying the right status. Client side: [`ClientRequest`] builds the
//! request from a `ws://` URL, [`parse_response`] reads the answer and
//! [`ClientRequest::validate_response`] checks it.
//!
//! Nothing here touches a socket; the blocking drivers in [`crate::io`]
//! run these steps over a stream.
//!
//! ```
//! use wsstack::handshake::{parse_request, ServerConfig};
//! use wsstack::Limits;
//!
//! let wire = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
//!              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!              Sec-WebSocket-Version: 13\r\n\r\n";
//! let (request, used) = parse_request(wire, &Limits::default())?.expect("complete");
//! assert_eq!(used, wire.len());
//! let accepted = ServerConfig::default().accept(&request).expect("valid request");
//! assert_eq!(accepted.response.header("Sec-WebSocket-Accept"),
//!            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
//! # Ok::<(), wsstack::handshake::HandshakeError>(())
//! ```

mod accept_key;
mod auth;
mod client;
mod error;
mod headers;
mod request;
mod response;
mod server;
mod url;

pub use accept_key::{accept_key, generate_key};
pub use auth::{basic_auth_header, constant_time_eq, parse_basic_auth, Credentials};
pub use client::{ClientRequest, Negotiated};
pub use error::HandshakeError;
pub use headers::Headers;
pub use request::{parse_request, Request};
pub use response::{parse_response, Response};
pub use server::{
    Accepted, BasicAuth, HttpHandler, Rejection, RequestHook, ServerConfig, SubprotocolHook,
};
pub use url::WsUrl;
