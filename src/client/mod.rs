//! A client that connects in one call: [`connect`] for the defaults,
//! [`ClientBuilder`] for everything else.
//!
//! One call resolves the host, opens TCP (through an HTTP CONNECT proxy if
//! one is set or named by the environment), runs TLS for `wss://`
//! (feature `tls`), runs the WebSocket handshake offering
//! permessage-deflate (feature `deflate`) and returns a
//! [`Connection`] over a [`MaybeTlsStream`].
//!
//! A `wss://` URL is never sent in plaintext: without the `tls` feature it
//! fails with [`ClientError::TlsNotBuilt`], and a redirect from `wss://`
//! to `ws://` is never followed. A TLS configuration given for a `ws://`
//! URL is refused ([`ClientError::TlsForPlainUrl`]).
//!
//! ```no_run
//! let (mut conn, _response) = wsstack::connect("wss://echo.example.com/")?;
//! conn.send("hello")?;
//! if let Some(reply) = conn.recv()? {
//!     println!("{reply:?}");
//! }
//! conn.close(1000, "bye")?;
//! # Ok::<(), wsstack::Error>(())
//! ```

pub(crate) mod builder;
pub(crate) mod deadline;
mod error;
pub(crate) mod proxy;
pub(crate) mod redirect;
mod stream;

pub use builder::ClientBuilder;
pub use error::ClientError;
pub use stream::MaybeTlsStream;

use crate::handshake::Response;
use crate::{Connection, Error};

/// Connect to a `ws://` or `wss://` URL with the default settings of
/// [`ClientBuilder`]: permessage-deflate offered, credentials from the
/// URL sent with HTTP Basic, Mozilla's bundled roots for `wss://`, the
/// proxy from the environment, 30 s connect and handshake timeouts.
/// Returns the open connection and the server's 101 response.
///
/// ```no_run
/// let (mut conn, response) = wsstack::connect("ws://127.0.0.1:9001/chat")?;
/// println!("extensions: {:?}", response.header("Sec-WebSocket-Extensions"));
/// conn.send("hi")?;
/// # Ok::<(), wsstack::Error>(())
/// ```
pub fn connect(url: &str) -> Result<(Connection<MaybeTlsStream>, Response), Error> {
    ClientBuilder::new(url).connect()
}

#[cfg(all(test, not(feature = "tls")))]
mod tests {
    use super::*;

    #[test]
    fn wss_needs_the_tls_feature() {
        let e = connect("wss://127.0.0.1:1/").unwrap_err();
        assert!(
            matches!(e, Error::Client(ClientError::TlsNotBuilt)),
            "{e:?}"
        );
        assert!(e.to_string().contains("`tls` feature"), "{e}");
    }
}
