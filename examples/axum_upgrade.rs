//! An axum route that hands WebSocket upgrades to wsstack: the request is
//! decided by wsstack's own handshake layer (`ServerConfig::accept`, with
//! permessage-deflate offered), answered with its 101 headers through
//! axum, and the upgraded connection becomes a `WebSocketStream` that
//! echoes.
//!
//! ```text
//! cargo run --features tokio --example axum_upgrade -- [127.0.0.1:3000]
//! ```
//!
//! Prints `listening on ws://ADDR/ws`; `/` answers plain HTTP.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Version};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use wsstack::connection::Config;
use wsstack::extensions::PerMessageDeflate;
use wsstack::handshake::{self, ServerConfig};
use wsstack::tokio::{Upgrade, WebSocketStream};

/// The application: `/ws` upgrades with `handshake`'s policy, `/` is plain
/// HTTP.
pub fn app(handshake: ServerConfig) -> Router {
    Router::new()
        .route("/ws", get(upgrade))
        .route(
            "/",
            get(|| async { "wsstack behind axum: connect to /ws\n" }),
        )
        .with_state(Arc::new(handshake))
}

/// The upgrade, decided by wsstack.
async fn upgrade(State(handshake): State<Arc<ServerConfig>>, mut request: Request) -> Response {
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let minor = u8::from(request.version() == Version::HTTP_11);
    let ws_request =
        handshake::Request::from_parts(request.method().as_str(), target, minor, request.headers());
    let upgrade = match Upgrade::new(&handshake, ws_request, Config::default()) {
        Ok(upgrade) => upgrade,
        Err(rejection) => return to_axum(&rejection.response),
    };
    let response = to_axum(upgrade.response());
    // Once axum has sent the 101, hyper hands over the connection.
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => echo(upgrade.into_stream(TokioIo::new(upgraded))).await,
            Err(e) => eprintln!("upgrade failed: {e}"),
        }
    });
    response
}

async fn echo<S>(mut ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(Ok(message)) = ws.next().await {
        if ws.send(message).await.is_err() {
            break;
        }
    }
}

/// wsstack's response (the 101, or a rejection with its body) as axum's.
fn to_axum(response: &handshake::Response) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_REQUEST));
    for (name, value) in response.headers.iter() {
        builder = builder.header(name, value);
    }
    builder
        .body(Body::from(response.body.clone()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

#[tokio::main]
#[allow(dead_code)] // unused where tests/axum_upgrade.rs includes this file
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1);
    let listener =
        tokio::net::TcpListener::bind(addr.as_deref().unwrap_or("127.0.0.1:3000")).await?;
    println!("listening on ws://{}/ws", listener.local_addr()?);
    let handshake = ServerConfig::new().with_extension(PerMessageDeflate::new());
    axum::serve(listener, app(handshake)).await?;
    Ok(())
}
