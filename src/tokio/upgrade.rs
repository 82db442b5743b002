//! [`Upgrade`]: a WebSocket upgrade inside an HTTP server (hyper 1.x,
//! axum), decided by wsstack's own handshake layer.

use ::tokio::io::{AsyncRead, AsyncWrite};

use super::conn::HandshakeInfo;
use super::WebSocketStream;
use crate::connection::{Config, Engine};
use crate::driver::{server_engine, ServerHandshake};
use crate::handshake::{Accepted, Rejection, Request, Response, ServerConfig};

/// An upgrade request that an HTTP server (hyper, axum, ...) has parsed,
/// accepted by wsstack's handshake layer: answer it with
/// [`response`](Upgrade::response) (the `101 Switching Protocols` status
/// and its headers), then wrap the upgraded connection with
/// [`into_stream`](Upgrade::into_stream).
///
/// The decision is [`ServerConfig::accept`]'s, as on every wsstack
/// server: method, version, `Host`, `Upgrade`, `Connection`, the key,
/// version 13, the Origin allow-list, Basic auth, the request hook,
/// subprotocols and extensions such as permessage-deflate.
///
/// With hyper 1.x (axum is the same: its `Request` is hyper's):
///
/// ```no_run
/// use hyper_util::rt::TokioIo;
/// use wsstack::connection::Config;
/// use wsstack::handshake::{Request, ServerConfig};
/// use wsstack::tokio::Upgrade;
///
/// fn upgrade<B>(mut request: hyper::Request<B>, handshake: &ServerConfig) -> hyper::Response<Vec<u8>> {
///     let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
///     let minor = u8::from(request.version() == hyper::Version::HTTP_11);
///     let method = request.method().as_str();
///     let ws_request = Request::from_parts(method, target, minor, request.headers());
///     let response = match Upgrade::new(handshake, ws_request, Config::default()) {
///         Err(rejection) => *rejection.response,
///         Ok(upgrade) => {
///             let response = upgrade.response().clone();
///             // hyper hands the connection over once the 101 is sent.
///             let on_upgrade = hyper::upgrade::on(&mut request);
///             tokio::spawn(async move {
///                 let Ok(upgraded) = on_upgrade.await else { return };
///                 let mut ws = upgrade.into_stream(TokioIo::new(upgraded));
///                 while let Some(Ok(message)) = ws.recv().await {
///                     let _ = ws.send(message).await;
///                 }
///             });
///             response
///         }
///     };
///     let mut answer = hyper::Response::builder().status(response.status);
///     for (name, value) in response.headers.iter() {
///         answer = answer.header(name, value);
///     }
///     answer.body(response.body).expect("valid header fields")
/// }
/// ```
///
/// `examples/axum_upgrade.rs` is the whole program.
#[derive(Debug)]
pub struct Upgrade {
    request: Request,
    accepted: Accepted,
    engine: Engine,
}

impl Upgrade {
    /// Decide on `request` (built with [`Request::from_parts`]) with
    /// `handshake`, and build the engine for it with `config`. `Err` is
    /// the rejection to answer with (its status, headers and body); a
    /// `config` that cannot work is answered with 500.
    #[allow(clippy::result_large_err)]
    pub fn new(
        handshake: &ServerConfig,
        request: Request,
        config: Config,
    ) -> Result<Upgrade, Rejection> {
        let accepted = ServerHandshake::decide(handshake, &request, |_| Ok(()))?;
        let engine = server_engine(config, handshake, &accepted.extensions).map_err(|e| {
            log::error!("invalid connection config: {e}");
            Rejection::status(500)
        })?;
        Ok(Upgrade {
            request,
            accepted,
            engine,
        })
    }

    /// The upgrade request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The subprotocol chosen, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.accepted.subprotocol.as_deref()
    }

    /// The response to answer with: status 101 and the headers to send
    /// (`Upgrade`, `Connection`, `Sec-WebSocket-Accept`, and the
    /// subprotocol and extensions agreed).
    pub fn response(&self) -> &Response {
        &self.accepted.response
    }

    /// The WebSocket over the upgraded connection (for hyper,
    /// `hyper_util::rt::TokioIo::new(upgraded)`), once the 101 response has
    /// been sent.
    pub fn into_stream<S: AsyncRead + AsyncWrite + Unpin>(self, io: S) -> WebSocketStream<S> {
        let info = HandshakeInfo {
            request: Some(Box::new(self.request)),
            response: None,
            subprotocol: self.accepted.subprotocol,
        };
        WebSocketStream::with_info(io, self.engine, &[], info)
    }
}
