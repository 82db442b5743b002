//! The async client: [`ClientBuilder::connect_async`] (every setting of
//! the blocking client, on tokio: proxy tunnel, TLS through tokio-rustls,
//! redirects, timeouts) and the stream it returns, [`MaybeTlsStream`].
//!
//! What to do is decided by the same sans-I/O pieces as the blocking
//! client (the builder's plan, the proxy [`Tunnel`], the redirect rules,
//! the handshake); this file only moves their bytes with tokio.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use ::tokio::net::TcpStream;
use ::tokio::time::Instant;

use super::WebSocketStream;
use crate::client::builder::{tcp_failure, tls_error, Plan};
use crate::client::proxy::{authority, Proxy};
use crate::client::redirect::{redirect_of, Redirects};
use crate::client::{ClientBuilder, ClientError};
use crate::error::Error;
use crate::handshake::Response;

/// The stream under an async client: plain TCP for `ws://`, TLS (through
/// tokio-rustls) for `wss://`.
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// `ws://`: the bytes go over TCP as they are.
    Plain(TcpStream),
    /// `wss://`: TLS over TCP.
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP stream underneath (reading or writing it directly breaks a
    /// TLS session and the WebSocket framing).
    pub fn get_ref(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Whether this is a TLS stream.
    pub fn is_tls(&self) -> bool {
        !matches!(self, MaybeTlsStream::Plain(_))
    }
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(tcp) => tcp.is_write_vectored(),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// What one attempt ended with.
enum Outcome {
    Connected(Box<(WebSocketStream<MaybeTlsStream>, Response)>),
    Redirect(u16, Option<String>),
}

impl ClientBuilder {
    /// Connect on tokio (feature `tokio`): the same steps and settings as
    /// [`connect`](ClientBuilder::connect) — resolve, TCP (through the
    /// proxy if any), TLS for `wss://` with tokio-rustls, the WebSocket
    /// handshake, redirects if allowed — returning a
    /// [`WebSocketStream`] and the server's 101 response.
    ///
    /// The connect and handshake timeouts apply. The blocking
    /// connection's [`read_timeout`](ClientBuilder::read_timeout) and
    /// [`write_timeout`](ClientBuilder::write_timeout) do not: wrap a
    /// `next()` in `tokio::time::timeout`, or set an idle timeout or a
    /// keepalive ping in the [`Config`](crate::connection::Config), whose
    /// timers the stream runs on tokio's clock.
    ///
    /// ```no_run
    /// use futures_util::{SinkExt, StreamExt};
    /// use wsstack::{ClientBuilder, Message};
    ///
    /// # async fn run() -> Result<(), wsstack::Error> {
    /// let (mut ws, response) = ClientBuilder::new("wss://example.com/chat")
    ///     .subprotocol("chat.v1")
    ///     .connect_async()
    ///     .await?;
    /// println!("extensions: {:?}", response.header("Sec-WebSocket-Extensions"));
    /// ws.send(Message::from("hello")).await?;
    /// if let Some(reply) = ws.next().await {
    ///     println!("{:?}", reply?);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_async(
        &self,
    ) -> Result<(WebSocketStream<MaybeTlsStream>, Response), Error> {
        let mut redirects = Redirects::new(self.url(), self.max_redirects())?;
        loop {
            let plan = self.plan(&redirects)?;
            match self.attempt_async(&plan).await? {
                Outcome::Connected(done) => return Ok(*done),
                Outcome::Redirect(status, location) => redirects.follow(status, location)?,
            }
        }
    }

    async fn attempt_async(&self, plan: &Plan) -> Result<Outcome, Error> {
        let (request, url) = (&plan.request, &plan.url);
        let limits = self.connection_config().limits;
        let mut tcp = match &plan.proxy {
            Some(p) => tcp_connect(&p.host, p.port, self.tcp_timeout()).await?,
            None => tcp_connect(&url.host, url.port, self.tcp_timeout()).await?,
        };
        tcp.set_nodelay(true)?;
        let deadline = self.upgrade_timeout().map(|t| Instant::now() + t);
        if let Some(p) = &plan.proxy {
            let tunnel = tunnel(p, &mut tcp, &url.host, url.port, &limits);
            self.bounded(deadline, "proxy CONNECT", tunnel).await?;
        }
        #[cfg(feature = "tls")]
        let stream = match &plan.tls {
            Some(config) => {
                let name = rustls_pki_types::ServerName::try_from(url.host.clone())
                    .map_err(|_| crate::tls::TlsError::InvalidServerName(url.host.clone()))?;
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let tls = async {
                    connector
                        .connect(name, tcp)
                        .await
                        .map_err(|e| crate::tls::handshake_error(e, &url.host, true))
                };
                MaybeTlsStream::Tls(Box::new(
                    self.bounded(deadline, "TLS handshake", tls).await?,
                ))
            }
            None => MaybeTlsStream::Plain(tcp),
        };
        #[cfg(not(feature = "tls"))]
        let stream = MaybeTlsStream::Plain(tcp);

        let upgrade = async {
            super::connect(stream, request, self.connection_config())
                .await
                .map_err(|e| tls_error(e, &url.host))
        };
        match self.bounded(deadline, "WebSocket handshake", upgrade).await {
            Ok(ws) => {
                let response = ws.response().cloned().ok_or_else(|| {
                    Error::Io(io::Error::other("the client handshake kept no response"))
                })?;
                Ok(Outcome::Connected(Box::new((ws, response))))
            }
            Err(e) => match redirect_of(e) {
                Ok((status, location)) => Ok(Outcome::Redirect(status, location)),
                Err(e) => Err(e),
            },
        }
    }

    /// Run `stage` until `deadline` (the handshake timeout), or fail with
    /// [`ClientError::Timeout`] naming it.
    async fn bounded<T>(
        &self,
        deadline: Option<Instant>,
        stage: &'static str,
        work: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let (Some(deadline), Some(after)) = (deadline, self.upgrade_timeout()) else {
            return work.await;
        };
        match ::tokio::time::timeout_at(deadline, work).await {
            Ok(done) => done,
            Err(_) => Err(ClientError::Timeout { stage, after }.into()),
        }
    }
}

/// Resolve `host` and connect to its addresses in turn, each attempt
/// bounded by `timeout`.
async fn tcp_connect(host: &str, port: u16, timeout: Option<Duration>) -> Result<TcpStream, Error> {
    let target = authority(host, port);
    let addrs = ::tokio::net::lookup_host((host, port))
        .await
        .map_err(|error| ClientError::Resolve {
            target: target.clone(),
            error,
        })?;
    let mut last = None;
    for addr in addrs {
        let attempt = match timeout {
            Some(t) => match ::tokio::time::timeout(t, TcpStream::connect(addr)).await {
                Ok(attempt) => attempt,
                Err(_) => Err(io::ErrorKind::TimedOut.into()),
            },
            None => TcpStream::connect(addr).await,
        };
        match attempt {
            Ok(tcp) => return Ok(tcp),
            Err(e) => {
                log::debug!("connect to {addr} failed: {e}");
                last = Some(e);
            }
        }
    }
    Err(tcp_failure(target, last, timeout))
}

/// Open a CONNECT tunnel through `proxy` to `host:port`, reading no byte
/// past the proxy's answer.
async fn tunnel<S: AsyncRead + AsyncWrite + Unpin>(
    proxy: &Proxy,
    io: &mut S,
    host: &str,
    port: u16,
    limits: &crate::Limits,
) -> Result<(), Error> {
    let (mut tunnel, request) = proxy.start_tunnel(host, port, limits);
    io.write_all(&request).await?;
    io.flush().await?;
    let mut buf = [0u8; 4];
    loop {
        let n = io.read(&mut buf[..tunnel.want()]).await?;
        if tunnel.receive(&buf[..n])? {
            return Ok(());
        }
    }
}
