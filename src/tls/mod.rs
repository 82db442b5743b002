//! TLS for `wss://` (feature `tls`, on by default), on [rustls].
//!
//! - [`TlsClientConfig`]: which certificate authorities to trust (Mozilla's
//!   roots bundled with the library by default, the platform's store, or
//!   CA certificates you give), an optional client certificate, ALPN
//!   `http/1.1`. [`ClientBuilder::tls`](crate::ClientBuilder::tls) takes
//!   one; [`wsstack::connect`](crate::connect) uses the default.
//! - [`TlsServerConfig`]: a certificate chain and private key from PEM
//!   (files or memory), optionally requiring client certificates issued by
//!   a CA you give.
//! - [`TlsStream`]: a blocking TLS stream over a `TcpStream`, usable as
//!   `Read + Write` (so as the stream of a [`Connection`](crate::Connection)).
//! - [`TlsError`]: what failed, by name — a missing file, a PEM without a
//!   certificate or key, a key that does not match its certificate, and
//!   for a peer's certificate: expired, issued for another host name, by an
//!   unknown authority.
//!
//! The crypto provider is rustls' `ring` provider, chosen explicitly for
//! every configuration (the process-wide default provider is neither used
//! nor installed). `ring` builds with the Rust toolchain and a C compiler;
//! the `aws-lc-rs` provider would also need cmake (and more on some
//! platforms), so it is not used.
//!
//! ```no_run
//! use wsstack::tls::{TlsClientConfig, TlsServerConfig};
//!
//! // A client that trusts only a private CA.
//! let client = TlsClientConfig::new().with_ca_file("ca.pem")?;
//! // A server with a certificate chain and key from PEM files.
//! let server = TlsServerConfig::from_pem_files("cert.pem", "key.pem")?;
//! # Ok::<(), wsstack::tls::TlsError>(())
//! ```
//!
//! [rustls]: https://docs.rs/rustls

mod client;
mod danger;
mod error;
mod pem;
mod server;
mod stream;

use std::sync::Arc;

pub use client::{RootCertificates, TlsClientConfig};
pub use error::TlsError;
pub use server::TlsServerConfig;
#[cfg(feature = "tokio")]
pub(crate) use stream::handshake_error;
pub use stream::{ClientTlsStream, ServerTlsStream, TlsStream};

/// Re-export of the [rustls](https://docs.rs/rustls) version in use, for
/// [`TlsClientConfig::from_rustls`] and [`TlsServerConfig::from_rustls`].
pub use rustls;

/// The ALPN protocol offered and accepted: WebSocket runs over HTTP/1.1
/// (RFC 6455 §4.1).
pub const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// The crypto provider every configuration is built with: rustls' `ring`.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
