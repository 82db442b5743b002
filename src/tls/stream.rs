//! [`TlsStream`]: a blocking TLS stream over a `TcpStream`, and the
//! handshakes that make one.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConnection, ConnectionCommon, ServerConnection, SideData, StreamOwned};

use super::{TlsClientConfig, TlsError};
use crate::client::deadline::Deadline;
use crate::Error;

/// A blocking TLS stream over a `TcpStream`, usable as `Read + Write`
/// once its handshake is done (as the stream of a
/// [`Connection`](crate::Connection), for example).
///
/// TLS failures while reading or writing come out as I/O errors that carry
/// a [`TlsError`] (see [`TlsError::from_io`]). A peer that closes TCP
/// without TLS' `close_notify` reads as a clean end of stream: the
/// WebSocket close handshake, not TLS, tells a complete conversation from
/// a truncated one.
pub struct TlsStream<C> {
    inner: StreamOwned<C, TcpStream>,
    peer: String,
}

/// The client side: made by [`ClientTlsStream::connect`] or
/// [`ClientBuilder`](crate::ClientBuilder).
pub type ClientTlsStream = TlsStream<ClientConnection>;

/// The server side: made by
/// [`TlsServerConfig::accept`](super::TlsServerConfig::accept).
pub type ServerTlsStream = TlsStream<ServerConnection>;

impl<C> fmt::Debug for TlsStream<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("peer", &self.peer)
            .field("tcp", &self.inner.sock)
            .finish_non_exhaustive()
    }
}

impl ClientTlsStream {
    /// Run the client side of the TLS handshake over `tcp`, verifying the
    /// server's certificate for `host` (a DNS name or an IP address). Set
    /// read and write timeouts on `tcp` first to bound it.
    pub fn connect(
        config: &TlsClientConfig,
        host: &str,
        tcp: TcpStream,
    ) -> Result<ClientTlsStream, Error> {
        ClientTlsStream::connect_until(config.to_rustls()?, host, tcp, None)
    }

    pub(crate) fn connect_until(
        config: Arc<rustls::ClientConfig>,
        host: &str,
        tcp: TcpStream,
        deadline: Option<Instant>,
    ) -> Result<ClientTlsStream, Error> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| TlsError::InvalidServerName(host.to_owned()))?;
        let mut conn =
            ClientConnection::new(config, name).map_err(|e| TlsError::from_rustls(e, host))?;
        handshake(&mut conn, &tcp, deadline).map_err(|e| handshake_error(e, host, true))?;
        Ok(TlsStream {
            inner: StreamOwned::new(conn, tcp),
            peer: host.to_owned(),
        })
    }
}

impl ServerTlsStream {
    pub(crate) fn accept_until(
        config: Arc<rustls::ServerConfig>,
        tcp: TcpStream,
        deadline: Option<Instant>,
    ) -> Result<ServerTlsStream, Error> {
        let peer = tcp
            .peer_addr()
            .map_or_else(|_| "the client".to_owned(), |a| a.to_string());
        let mut conn =
            ServerConnection::new(config).map_err(|e| TlsError::from_rustls(e, &peer))?;
        handshake(&mut conn, &tcp, deadline).map_err(|e| handshake_error(e, &peer, false))?;
        Ok(TlsStream {
            inner: StreamOwned::new(conn, tcp),
            peer,
        })
    }

    /// The server name the client asked for (SNI), if any.
    pub fn server_name(&self) -> Option<&str> {
        self.inner.conn.server_name()
    }
}

/// The error a failed TLS handshake with `peer` reports, on every driver
/// (blocking or async): the TLS error it carries, a peer that closed
/// mid-handshake, or (`client` side) a server that does not speak TLS.
pub(crate) fn handshake_error(e: io::Error, peer: &str, client: bool) -> Error {
    match TlsError::from_io(e, peer) {
        Ok(TlsError::Rustls(rustls::Error::InvalidMessage(m))) if client => {
            Error::Tls(TlsError::NotTls(format!("{m:?}")))
        }
        Ok(tls) => Error::Tls(tls),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
            ) =>
        {
            Error::Tls(TlsError::HandshakeClosed)
        }
        Err(e) => Error::Io(e),
    }
}

fn handshake<C, D>(conn: &mut C, tcp: &TcpStream, deadline: Option<Instant>) -> io::Result<()>
where
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData + 'static,
{
    let mut io = Deadline::new(tcp, deadline);
    while conn.is_handshaking() {
        conn.complete_io(&mut io)?;
    }
    // Send what is still queued (e.g. the client's Finished under TLS 1.2).
    while conn.wants_write() {
        conn.write_tls(&mut io)?;
    }
    Ok(())
}

impl<C, D> TlsStream<C>
where
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData + 'static,
{
    /// The TCP stream underneath (e.g. to set timeouts or read addresses;
    /// reading or writing it directly breaks the TLS session).
    pub fn get_ref(&self) -> &TcpStream {
        &self.inner.sock
    }

    /// The rustls connection (negotiated version, cipher suite, ...).
    pub fn connection(&self) -> &C {
        &self.inner.conn
    }

    /// The ALPN protocol agreed, if any (`http/1.1` with our configs).
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.inner.conn.alpn_protocol()
    }

    /// The peer's certificate chain, leaf first, if it presented one.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.inner.conn.peer_certificates()
    }

    /// Send TLS' `close_notify` alert (the TCP connection stays open).
    pub fn send_close_notify(&mut self) -> io::Result<()> {
        self.inner.conn.send_close_notify();
        while self.inner.conn.wants_write() {
            self.inner.conn.write_tls(&mut self.inner.sock)?;
        }
        Ok(())
    }

    /// Give back the rustls connection and the TCP stream.
    pub fn into_parts(self) -> (C, TcpStream) {
        self.inner.into_parts()
    }

    fn map_error(&self, e: io::Error) -> io::Error {
        let kind = e.kind();
        match TlsError::from_io(e, &self.peer) {
            Ok(tls) => io::Error::new(kind, tls),
            Err(e) => e,
        }
    }
}

impl<C, D> Read for TlsStream<C>
where
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData + 'static,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                log::debug!("{}: TCP closed without TLS close_notify", self.peer);
                Ok(0)
            }
            Err(e) => Err(self.map_error(e)),
        }
    }
}

impl<C, D> Write for TlsStream<C>
where
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData + 'static,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.map_error(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| self.map_error(e))
    }
}
