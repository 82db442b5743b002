//! Blocking drivers for the opening handshake over any `Read + Write`
//! stream.
//!
//! They only move bytes: every decision is made by the sans-I/O
//! [`handshake`](crate::handshake) layer. Bytes read past the end of the
//! handshake are returned in `buffered`, never lost.

mod connection;

pub use connection::{Connection, ConnectionHandler, MessageReader};

use std::io::{Read, Write};

use crate::handshake::{
    parse_request, parse_response, ClientRequest, HandshakeError, Negotiated, Rejection, Request,
    Response, ServerConfig,
};
use crate::Error;

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
    let mut buf = Vec::new();
    let (request, used) = loop {
        match parse_request(&buf, &config.limits) {
            Ok(Some(done)) => break done,
            Ok(None) => {}
            Err(e) => return Err(reject(&mut stream, Rejection::from_error(e))),
        }
        if read_more(&mut stream, &mut buf)? == 0 {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    };
    match config.accept(&request) {
        Ok(accepted) => {
            stream.write_all(&accepted.to_bytes())?;
            stream.flush()?;
            buf.drain(..used);
            Ok(ServerUpgrade {
                stream,
                request,
                subprotocol: accepted.subprotocol,
                extensions: accepted.extensions,
                buffered: buf,
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
    stream.write_all(&request.to_bytes())?;
    stream.flush()?;
    let mut buf = Vec::new();
    let (response, used) = loop {
        if let Some(done) = parse_response(&buf, &request.limits)? {
            break done;
        }
        if read_more(&mut stream, &mut buf)? == 0 {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    };
    let negotiated = request
        .validate_response(&response)
        .map_err(Error::Handshake)?;
    buf.drain(..used);
    Ok(ClientUpgrade {
        stream,
        response,
        negotiated,
        buffered: buf,
    })
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
            "wss:// needs the TLS feature, which is not built yet".into(),
        )));
    }
    let tcp = std::net::TcpStream::connect(request.address())?;
    tcp.set_nodelay(true)?;
    connect(tcp, request)
}

fn read_more<S: Read>(stream: &mut S, buf: &mut Vec<u8>) -> Result<usize, Error> {
    let old = buf.len();
    buf.resize(old + CHUNK, 0);
    let n = loop {
        match stream.read(&mut buf[old..]) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                buf.truncate(old);
                return Err(Error::Io(e));
            }
        }
    };
    buf.truncate(old + n);
    Ok(n)
}
