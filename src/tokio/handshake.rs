//! The opening handshake over an async transport: the toolkit's sans-I/O
//! [`ServerHandshake`] and [`ClientHandshake`] fed from `AsyncRead`, their
//! answers written with `AsyncWrite`.

use std::io;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::linger::linger_close;
use crate::config::Limits;
use crate::driver::{ClientHandshake, ClientProgress, ServerHandshake, ServerProgress};
use crate::error::Error;
use crate::handshake::{ClientRequest, Negotiated, Rejection, Request, Response};

const CHUNK: usize = 4096;

/// Read an upgrade request head from `io`. `Ok(Err(rejection))` for a
/// request that is malformed or over `limits` (not answered yet); an I/O
/// error (`UnexpectedEof` if the peer left) otherwise.
pub(crate) async fn read_request<S: AsyncRead + Unpin>(
    io: &mut S,
    limits: Limits,
) -> io::Result<Result<(Request, Vec<u8>), Rejection>> {
    let mut handshake = ServerHandshake::new(limits);
    let mut chunk = [0u8; CHUNK];
    let mut n = 0;
    loop {
        match handshake.receive(&chunk[..n]) {
            ServerProgress::NeedMore => {}
            ServerProgress::Request { request, leftover } => return Ok(Ok((*request, leftover))),
            ServerProgress::Reject(rejection) => return Ok(Err(rejection)),
        }
        n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Answer a refused request with `rejection` (best effort: the peer may be
/// gone), close with a lingering close so the answer is not destroyed by a
/// reset, and return the handshake error.
pub(crate) async fn reject<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    rejection: Rejection,
) -> Error {
    log::debug!("rejecting handshake: {}", rejection.error);
    if io.write_all(&rejection.to_bytes()).await.is_ok() && io.flush().await.is_ok() {
        linger_close(io).await;
    }
    Error::Handshake(rejection.error)
}

/// Write `request` to `io`, read the response and validate it. Returns the
/// response, what was negotiated and the bytes read past the response.
pub(crate) async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    request: &ClientRequest,
) -> Result<(Response, Negotiated, Vec<u8>), Error> {
    request.limits.validate()?;
    let (mut handshake, bytes) = ClientHandshake::start(request)?;
    io.write_all(&bytes).await?;
    io.flush().await?;
    let mut chunk = [0u8; CHUNK];
    loop {
        let n = io.read(&mut chunk).await?;
        if n == 0 {
            return Err(Error::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        if let ClientProgress::Upgraded {
            response,
            negotiated,
            leftover,
        } = handshake.receive(request, &chunk[..n])?
        {
            return Ok((*response, negotiated, leftover));
        }
    }
}
