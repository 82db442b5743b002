//! [`MaybeTlsStream`]: the client's stream, plain TCP for `ws://` or TLS
//! for `wss://`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use super::deadline::Socket;

/// The stream under a client [`Connection`](crate::Connection): plain TCP
/// for `ws://`, TLS for `wss://`.
///
/// ```no_run
/// use std::time::Duration;
/// let (mut conn, _) = wsstack::connect("wss://example.com/socket")?;
/// conn.get_ref().set_read_timeout(Some(Duration::from_secs(5)))?;
/// assert!(conn.get_ref().is_tls());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// `ws://`: the bytes go over TCP as they are.
    Plain(TcpStream),
    /// `wss://`: TLS over TCP.
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::ClientTlsStream>),
}

impl MaybeTlsStream {
    /// The TCP stream underneath (reading or writing it directly breaks a
    /// TLS session and the WebSocket framing).
    pub fn get_ref(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(tls) => tls.get_ref(),
        }
    }

    /// Whether this is a TLS stream.
    pub fn is_tls(&self) -> bool {
        !matches!(self, MaybeTlsStream::Plain(_))
    }

    /// The TLS stream, for `wss://`.
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<&crate::tls::ClientTlsStream> {
        match self {
            MaybeTlsStream::Tls(tls) => Some(tls),
            MaybeTlsStream::Plain(_) => None,
        }
    }

    /// Bound each read: a read that waits longer fails with `WouldBlock`
    /// or `TimedOut` (`None`: wait forever). A timed-out read loses
    /// nothing; it can be retried.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.get_ref().set_read_timeout(timeout)
    }

    /// Bound each write (`None`: wait forever).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.get_ref().set_write_timeout(timeout)
    }

    /// The read timeout set.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.get_ref().read_timeout()
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.get_ref().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.get_ref().local_addr()
    }

    /// End the transport: TLS' `close_notify` first for `wss://`, then
    /// shut down both directions of TCP. Call it after the WebSocket close
    /// handshake.
    pub fn shutdown(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let MaybeTlsStream::Tls(tls) = self {
            // Best effort: the peer may be gone already.
            let _ = tls.send_close_notify();
        }
        match self.get_ref().shutdown(Shutdown::Both) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }
}

impl Socket for MaybeTlsStream {
    fn socket(&self) -> &TcpStream {
        self.get_ref()
    }
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.read(buf),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.write(buf),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.flush(),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(tls) => tls.flush(),
        }
    }
}

impl crate::io::ReadTimeout for MaybeTlsStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        MaybeTlsStream::set_read_timeout(self, timeout)
    }
}
