//! The two halves of a split [`WebSocketStream`], usable from two tasks:
//! [`ReadHalf`] (a `Stream`) and [`WriteHalf`] (a `Sink`).

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite};
use futures_core::stream::{FusedStream, Stream};
use futures_sink::Sink;

use super::conn::{Core, Side};
use super::WebSocketStream;
use crate::connection::Message;
use crate::error::Error;
use crate::frame::CloseCode;

type Shared<S> = Arc<Mutex<Core<S>>>;

fn lock<S>(shared: &Shared<S>) -> MutexGuard<'_, Core<S>> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn split<S>(core: Core<S>) -> (ReadHalf<S>, WriteHalf<S>) {
    let shared = Arc::new(Mutex::new(core));
    (
        ReadHalf {
            shared: shared.clone(),
        },
        WriteHalf { shared },
    )
}

/// The receiving half of a [`WebSocketStream`], from
/// [`WebSocketStream::split`]: a `Stream` of messages, with the same
/// behaviour as the whole stream's (pings answered, the close handshake
/// and lingering close run, `None` at the end, cancellation safe).
pub struct ReadHalf<S> {
    shared: Shared<S>,
}

/// The sending half of a [`WebSocketStream`], from
/// [`WebSocketStream::split`]: a `Sink` of messages with the whole
/// stream's backpressure. Keep polling the [`ReadHalf`] as well: it
/// answers pings, runs the timers and ends the connection.
pub struct WriteHalf<S> {
    shared: Shared<S>,
}

impl<S> fmt::Debug for ReadHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadHalf").finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for WriteHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReadHalf<S> {
    /// The next message, or `None` once the stream has ended
    /// (cancellation safe).
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        std::future::poll_fn(|cx| lock(&self.shared).poll_next(cx)).await
    }

    /// The code and reason the connection closed with, once it has (see
    /// [`WebSocketStream::close_status`]).
    pub fn close_status(&self) -> Option<(CloseCode, String)> {
        lock(&self.shared).close_status.clone()
    }

    /// Whether `write` is the other half of this stream.
    pub fn is_pair_of(&self, write: &WriteHalf<S>) -> bool {
        Arc::ptr_eq(&self.shared, &write.shared)
    }

    /// Join the two halves again; gives them back if they are not a pair.
    #[allow(clippy::result_large_err)]
    pub fn reunite(
        self,
        write: WriteHalf<S>,
    ) -> Result<WebSocketStream<S>, (ReadHalf<S>, WriteHalf<S>)> {
        if !self.is_pair_of(&write) {
            return Err((self, write));
        }
        drop(write);
        match Arc::try_unwrap(self.shared) {
            Ok(mutex) => Ok(WebSocketStream::from_core(
                mutex
                    .into_inner()
                    .unwrap_or_else(|e| e.into_inner())
                    .into_whole(),
            )),
            // Both halves were given: the lock has no other owner.
            Err(shared) => {
                let write = WriteHalf {
                    shared: shared.clone(),
                };
                Err((ReadHalf { shared }, write))
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WriteHalf<S> {
    /// Send a message and flush it (see [`WebSocketStream::send`]).
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        std::future::poll_fn(|cx| lock(&self.shared).poll_ready(cx, Side::Writer)).await?;
        lock(&self.shared).start_send(message)?;
        self.flush().await
    }

    /// Send a ping (at most 125 bytes) and flush it.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        lock(&self.shared).ping(payload)?;
        self.flush().await
    }

    /// Write everything accepted so far to the transport.
    pub async fn flush(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| lock(&self.shared).poll_flush(cx, Side::Writer)).await
    }

    /// Start the close handshake with `code` and `reason` and flush our
    /// Close. The [`ReadHalf`] then ends once the peer's Close arrives
    /// (or the close timeout passes) and closes the transport.
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        lock(&self.shared).start_close(code.into(), reason)?;
        self.flush().await
    }

    /// Bytes accepted for sending and not yet written to the transport.
    pub fn buffered_amount(&self) -> usize {
        lock(&self.shared).buffered()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for ReadHalf<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        lock(&self.shared).poll_next(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> FusedStream for ReadHalf<S> {
    fn is_terminated(&self) -> bool {
        lock(&self.shared).is_terminated()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WriteHalf<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_ready(cx, Side::Writer)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        lock(&self.shared).start_send(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_flush(cx, Side::Writer)
    }

    /// Start the close handshake with 1000 (if it has not started) and
    /// flush our Close; the [`ReadHalf`] ends once the peer answers.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut core = lock(&self.shared);
        if !core.engine.close_started() {
            core.start_close(CloseCode::NORMAL, "")?;
        }
        core.poll_flush(cx, Side::Writer)
    }
}
