//! Blocking drivers for the opening handshake over any `Read + Write`
//! stream.
//!
//! They only move bytes: every decision is made by the sans-I/O
//! [`handshake`](crate::handshake) layer. Bytes read past the end of the
//! handshake are returned in `buffered`, never lost.

mod connection;
mod frame_socket;

pub use connection::{Connection, ConnectionHandler, MessageReader, ReadTimeout};
pub use frame_socket::FrameSocket;

use std::io::{Read, Write};

use crate::driver::{ClientHandshake, ClientProgress, ServerHandshake, ServerProgress};
use crate::error::Error;
use crate::handshake::{
    ClientRequest, HandshakeError, Negotiated, Rejection, Request, Response, ServerConfig,
};

const CHUNK: usize = 4096;

/// A stream upgraded by [`accept`].
#[derive(Debug)]
pub struct ServerUpgrade<S> {
    /// The stream, positioned after the handshake.
    pub stream: S,
    /// The client's request.
    pub request: Request,
    /// The subprotocol chosen, if any.
    pub subprotocol: Option<String>,
    /// The extensions agreed (offer, response), in negotiation order; build
    /// their transforms with [`ServerConfig::build_extensions`].
    pub extensions: Vec<crate::extensions::Agreement>,
    /// Bytes received after the request: the start of the WebSocket stream.
    pub buffered: Vec<u8>,
}

/// A stream upgraded by [`connect`].
#[derive(Debug)]
pub struct ClientUpgrade<S> {
    /// The stream, positioned after the handshake.
    pub stream: S,
    /// The server's response.
    pub response: Response,
    /// What was negotiated.
    pub negotiated: Negotiated,
    /// Bytes received after the response: the start of the WebSocket
    /// stream.
    pub buffered: Vec<u8>,
}

/// Read the upgrade request from `stream`, decide on it with `config`, and
/// write the 101 response or the rejection.
///
/// A rejected or malformed request is answered with its HTTP status before
/// the error is returned.
pub fn accept<S: Read + Write>(
    mut stream: S,
    config: &ServerConfig,
) -> Result<ServerUpgrade<S>, Error> {
    config.limits.validate()?;
    let mut handshake = ServerHandshake::new(config.limits);
    let mut chunk = [0u8; CHUNK];
    let mut progress = handshake.receive(&[]);
    let (request, leftover) = loop {
        match progress {
            ServerProgress::NeedMore => {}
            ServerProgress::Request { request, leftover } => break (*request, leftover),
            ServerProgress::Reject(rejection) => return Err(reject(&mut stream, rejection)),
        }
        let n = read_some(&mut stream, &mut chunk)?;
        if n == 0 {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        progress = handshake.receive(&chunk[..n]);
    };
    match ServerHandshake::decide(config, &request, |_| Ok(())) {
        Ok(accepted) => {
            stream.write_all(&accepted.to_bytes())?;
            stream.flush()?;
            Ok(ServerUpgrade {
                stream,
                request,
                subprotocol: accepted.subprotocol,
                extensions: accepted.extensions,
                buffered: leftover,
            })
        }
        Err(rejection) => Err(reject(&mut stream, rejection)),
    }
}

fn reject<S: Write>(stream: &mut S, rejection: Rejection) -> Error {
    log::debug!("rejecting handshake: {}", rejection.error);
    // Best effort: the peer may already be gone.
    let _ = stream
        .write_all(&rejection.to_bytes())
        .and_then(|_| stream.flush());
    Error::Handshake(rejection.error)
}

/// Write `request` to `stream`, read the response and validate it.
pub fn connect<S: Read + Write>(
    mut stream: S,
    request: &ClientRequest,
) -> Result<ClientUpgrade<S>, Error> {
    request.limits.validate()?;
    let (mut handshake, bytes) = ClientHandshake::start(request)?;
    stream.write_all(&bytes)?;
    stream.flush()?;
    let mut chunk = [0u8; CHUNK];
    loop {
        let n = read_some(&mut stream, &mut chunk)?;
        if n == 0 {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        if let ClientProgress::Upgraded {
            response,
            negotiated,
            leftover,
        } = handshake.receive(request, &chunk[..n])?
        {
            return Ok(ClientUpgrade {
                stream,
                response: *response,
                negotiated,
                buffered: leftover,
            });
        }
    }
}

/// Connect over TCP to the URL's host and port and run the client
/// handshake.
///
/// ```no_run
/// let up = wsstack::io::connect_tcp(&wsstack::handshake::ClientRequest::new("ws://127.0.0.1:9001/")?)?;
/// # Ok::<(), wsstack::Error>(())
/// ```
pub fn connect_tcp(request: &ClientRequest) -> Result<ClientUpgrade<std::net::TcpStream>, Error> {
    if request.url().secure {
        return Err(Error::Handshake(HandshakeError::InvalidUrl(
            "connect_tcp opens plain TCP only; use wsstack::connect or ClientBuilder for wss://"
                .into(),
        )));
    }
    let tcp = std::net::TcpStream::connect(request.address())?;
    tcp.set_nodelay(true)?;
    connect(tcp, request)
}

fn read_some<S: Read>(stream: &mut S, chunk: &mut [u8]) -> Result<usize, Error> {
    loop {
        match stream.read(chunk) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Io(e)),
        }
    }
}
