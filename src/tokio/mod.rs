//! The async driver on tokio (feature `tokio`): a [`WebSocketStream`]
//! that is a `futures` [`Stream`](futures_core::Stream) of messages and a
//! [`Sink`](futures_sink::Sink) for them, over any
//! `AsyncRead + AsyncWrite + Unpin` transport.
//!
//! - [`connect_url`] and [`ClientBuilder::connect_async`](crate::ClientBuilder::connect_async)
//!   connect in one call to a `ws://` or `wss://` URL (TLS through
//!   tokio-rustls), with every setting of the blocking client: proxy,
//!   redirects, timeouts, subprotocols, permessage-deflate.
//! - [`accept`] and [`connect`] run the opening handshake over a transport
//!   you already have (a `TcpStream`, a TLS stream, an in-memory duplex);
//!   [`connect_tcp`] opens a plain TCP connection for a `ws://` request.
//! - [`Upgrade`] hands a request that hyper or axum parsed to wsstack's
//!   handshake layer, then wraps the upgraded connection.
//! - [`WebSocketStream::split`] gives halves for two tasks.
//! - The tokio server for the [`Handler`](crate::server::Handler) trait is
//!   [`ServerBuilder::bind_tokio`](crate::server::ServerBuilder::bind_tokio).
//!
//! Like every wsstack driver, this one decides nothing about the protocol:
//! the handshake, the engine, the error-to-close mapping and the lingering
//! close are the [driver toolkit](crate::driver)'s.
//!
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! use wsstack::Message;
//!
//! # async fn run() -> Result<(), wsstack::Error> {
//! let mut ws = wsstack::tokio::connect_url("ws://127.0.0.1:9001/").await?;
//! ws.send(Message::from("Hello")).await?;
//! if let Some(reply) = ws.next().await {
//!     println!("{:?}", reply?);
//! }
//! ws.close(1000, "done").await?;
//! # Ok(())
//! # }
//! ```
//!
//! A server over any listener:
//!
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! use wsstack::connection::Config;
//! use wsstack::handshake::ServerConfig;
//!
//! # async fn run() -> Result<(), wsstack::Error> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let handshake = ServerConfig::new();
//!         let Ok(mut ws) = wsstack::tokio::accept(tcp, &handshake, Config::default()).await else {
//!             return;
//!         };
//!         while let Some(Ok(message)) = ws.next().await {
//!             if ws.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//! }
//! # }
//! ```

mod client;
mod conn;
mod handshake;
pub(crate) mod linger;
mod split;
mod stream;
mod upgrade;

pub use client::MaybeTlsStream;
pub use split::{ReadHalf, WriteHalf};
pub use stream::WebSocketStream;
pub use upgrade::Upgrade;

pub(crate) use conn::{now, poll_read_into};
pub(crate) use handshake::{read_request, reject};

use ::tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use ::tokio::net::TcpStream;

use crate::connection::Config;
use crate::driver::{client_engine, server_engine, ServerHandshake};
use crate::error::Error;
use crate::handshake::{ClientRequest, HandshakeError, Rejection, ServerConfig};
use conn::HandshakeInfo;

/// Accept the opening handshake on `stream` (server side): read the
/// upgrade request, decide on it with `handshake` (origins, auth,
/// subprotocols, extensions such as permessage-deflate), answer, and
/// return the WebSocket, its engine configured with `config`.
///
/// A refused or malformed request is answered with its HTTP status (and a
/// lingering close) before the error is returned. Nothing bounds the time
/// the client takes to send its request: wrap the call in
/// `tokio::time::timeout` to do so.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    handshake: &ServerConfig,
    config: Config,
) -> Result<WebSocketStream<S>, Error> {
    handshake.limits.validate()?;
    config.validate()?;
    let (request, leftover) = match read_request(&mut stream, handshake.limits).await? {
        Ok(request) => request,
        Err(rejection) => return Err(reject(&mut stream, rejection).await),
    };
    let accepted = match ServerHandshake::decide(handshake, &request, |_| Ok(())) {
        Ok(accepted) => accepted,
        Err(rejection) => return Err(reject(&mut stream, rejection).await),
    };
    let engine = match server_engine(config, handshake, &accepted.extensions) {
        Ok(engine) => engine,
        Err(e) => {
            reject(&mut stream, Rejection::status(500)).await;
            return Err(e.into());
        }
    };
    stream.write_all(&accepted.to_bytes()).await?;
    stream.flush().await?;
    let info = HandshakeInfo {
        request: Some(Box::new(request)),
        response: None,
        subprotocol: accepted.subprotocol,
    };
    Ok(WebSocketStream::with_info(stream, engine, &leftover, info))
}

/// Run the opening handshake on `stream` (client side) for `request` (a
/// `ws://` or `wss://` URL with its origin, subprotocols, extensions and
/// credentials) and return the WebSocket, its engine configured with
/// `config`. The server's response is kept:
/// [`WebSocketStream::response`].
///
/// `stream` can be any transport: a TCP stream, or a TLS stream over one
/// for `wss://`.
pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &ClientRequest,
    config: Config,
) -> Result<WebSocketStream<S>, Error> {
    config.validate()?;
    let (response, negotiated, leftover) =
        handshake::client_handshake(&mut stream, request).await?;
    let engine = client_engine(config, request, &negotiated)?;
    let info = HandshakeInfo {
        request: None,
        subprotocol: negotiated.subprotocol,
        response: Some(Box::new(response)),
    };
    Ok(WebSocketStream::with_info(stream, engine, &leftover, info))
}

/// Connect over TCP to the host and port of `request`'s URL (with
/// `TCP_NODELAY`) and run the client handshake. A `wss://` request is
/// refused (never sent in plaintext): use
/// [`ClientBuilder::connect_async`](crate::ClientBuilder::connect_async),
/// or open the TLS stream yourself and pass it to [`connect`].
pub async fn connect_tcp(
    request: &ClientRequest,
    config: Config,
) -> Result<WebSocketStream<TcpStream>, Error> {
    if request.url().secure {
        return Err(Error::Handshake(HandshakeError::InvalidUrl(
            "connect_tcp does not do TLS: use ClientBuilder::connect_async for wss://".into(),
        )));
    }
    let tcp = TcpStream::connect(request.address()).await?;
    tcp.set_nodelay(true)?;
    connect(tcp, request, config).await
}

/// Connect to a `ws://` or `wss://` URL with the default settings of
/// [`ClientBuilder`](crate::ClientBuilder): permessage-deflate offered,
/// credentials from the URL sent with HTTP Basic, Mozilla's bundled roots
/// for `wss://`, the proxy from the environment, 30 s connect and
/// handshake timeouts. The server's response is kept:
/// [`WebSocketStream::response`].
///
/// ```no_run
/// # async fn run() -> Result<(), wsstack::Error> {
/// let ws = wsstack::tokio::connect_url("wss://example.com/chat").await?;
/// assert!(ws.get_ref().is_tls());
/// # Ok(())
/// # }
/// ```
pub async fn connect_url(url: &str) -> Result<WebSocketStream<MaybeTlsStream>, Error> {
    Ok(crate::ClientBuilder::new(url).connect_async().await?.0)
}
