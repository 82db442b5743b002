//! [`WebSocketStream`]: a message-level WebSocket over any tokio
//! `AsyncRead + AsyncWrite` transport, as a [`Stream`] of messages and a
//! [`Sink`] for them.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite};
use futures_core::stream::{FusedStream, Stream};
use futures_sink::Sink;

use super::conn::{Core, HandshakeInfo, Side};
use super::split::{ReadHalf, WriteHalf};
use crate::connection::{Engine, Message};
use crate::error::Error;
use crate::frame::CloseCode;
use crate::handshake::{Request, Response};

/// A WebSocket connection over a tokio transport `S`: a
/// [`Stream`] of received [`Message`]s and a [`Sink`] of messages to send.
///
/// Build one with [`accept`](super::accept), [`connect`](super::connect),
/// [`connect_url`](super::connect_url), an [`Upgrade`](super::Upgrade)
/// from an HTTP server, or [`from_engine`](WebSocketStream::from_engine).
///
/// # Receiving
///
/// [`Stream::poll_next`] (`StreamExt::next`, or [`recv`](Self::recv)
/// without importing anything) yields whole messages. Pings are answered
/// and pongs consumed on the way; keep polling the stream even if you only
/// send, or the peer's pings go unanswered and the engine's timers do not
/// run. After the close handshake, and the lingering close of the
/// transport, the stream ends with `None`; [`close_status`](Self::close_status)
/// tells how it closed. A protocol violation by the peer is yielded once as
/// `Err(Error::Protocol(..))` (the engine has already sent the Close with
/// its code), a connection that ended without a close handshake as
/// `Err(Error::Io(..))`, and the stream then ends.
///
/// Receiving is cancellation safe: all state lives in the stream, so
/// dropping a `next()` future (in a `select!`, or under
/// `tokio::time::timeout`) loses nothing, not even part of a message.
///
/// # Sending
///
/// [`Sink::start_send`] encodes a message into the stream's output;
/// [`Sink::poll_flush`] writes it. [`Sink::poll_ready`] waits while more
/// than the [high-water mark](Self::set_high_water_mark) (1 MiB by
/// default) is waiting to be written, which bounds the memory a slow peer
/// can make us hold. Once the close handshake has started, or the
/// transport failed, sending fails with `Error::Usage(UsageError::Closed)`
/// or `Error::Io`: a message is never dropped silently.
///
/// # Timers
///
/// The engine's keepalive ping and pong deadline, idle timeout and
/// close-handshake timeout ([`Config`](crate::connection::Config)) run on
/// tokio's clock while the stream is polled.
///
/// # Two tasks
///
/// [`split`](Self::split) gives a [`ReadHalf`] and a [`WriteHalf`] that
/// can be moved to different tasks.
///
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
/// # async fn run() -> Result<(), wsstack::Error> {
/// let mut ws = wsstack::tokio::connect_url("ws://127.0.0.1:9001/").await?;
/// ws.send("Hello").await?;
/// while let Some(message) = ws.next().await {
///     println!("got {:?}", message?);
/// }
/// # Ok(())
/// # }
/// ```
pub struct WebSocketStream<S> {
    core: Core<S>,
}

impl<S> fmt::Debug for WebSocketStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketStream")
            .field("engine", &self.core.engine)
            .field("close_status", &self.core.close_status)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    /// Wrap a transport whose handshake is done, with the engine built
    /// for it (see [`driver::server_engine`](crate::driver::server_engine)
    /// and [`driver::client_engine`](crate::driver::client_engine)) and
    /// the bytes already read past the handshake.
    pub fn from_engine(io: S, engine: Engine, buffered: &[u8]) -> WebSocketStream<S> {
        WebSocketStream {
            core: Core::new(io, engine, buffered, HandshakeInfo::default()),
        }
    }

    pub(crate) fn from_core(core: Core<S>) -> WebSocketStream<S> {
        WebSocketStream { core }
    }

    pub(crate) fn with_info(io: S, engine: Engine, buffered: &[u8], info: HandshakeInfo) -> Self {
        WebSocketStream {
            core: Core::new(io, engine, buffered, info),
        }
    }

    /// The next message, or `None` once the stream has ended: the same as
    /// `StreamExt::next`, without the import. Cancellation safe.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        std::future::poll_fn(|cx| self.core.poll_next(cx)).await
    }

    /// Send a message (from `&str`, `String`, `Vec<u8>`, `&[u8]` or
    /// [`Message`]) and flush it: waits for room under the high-water mark,
    /// then until the transport has taken the bytes. If the future is
    /// dropped after the message was accepted, a later flush or receive
    /// writes it.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        std::future::poll_fn(|cx| self.core.poll_ready(cx, Side::Writer)).await?;
        self.core.start_send(message)?;
        self.flush().await
    }

    /// Send a ping (payload at most 125 bytes) and flush it. The pong is
    /// consumed by the stream.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.core.ping(payload)?;
        self.flush().await
    }

    /// Write everything accepted so far to the transport.
    pub async fn flush(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.core.poll_flush(cx, Side::Writer)).await
    }

    /// Close: send our Close with `code` (a [`CloseCode`] or a `u16`) and
    /// `reason` (at most 123 bytes), read until the peer's Close arrives
    /// (messages that arrive meanwhile are discarded), close the transport
    /// with a lingering close, and return the peer's code and reason.
    ///
    /// The engine's close timeout (10 s by default) bounds the wait: a
    /// peer that never answers ends it with `Err(Error::Io(TimedOut))`.
    /// To read the messages that arrive before the peer's Close instead,
    /// use `SinkExt::close` (which sends 1000) and read the stream to its
    /// end. (This method shadows `SinkExt::close`; call that one as
    /// `SinkExt::close(&mut ws)`.)
    pub async fn close(
        &mut self,
        code: impl Into<CloseCode>,
        reason: &str,
    ) -> Result<(CloseCode, String), Error> {
        if !self.core.is_terminated() {
            self.core.start_close(code.into(), reason)?;
        }
        let mut failure = None;
        while let Some(item) = self.recv().await {
            if let Err(e) = item {
                failure.get_or_insert(e);
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(self
                .core
                .close_status
                .clone()
                .unwrap_or((CloseCode::ABNORMAL, String::new()))),
        }
    }

    /// Split into a read half and a write half that can be used from two
    /// tasks at once.
    ///
    /// The halves share the connection behind a `std::sync::Mutex` that
    /// each poll holds briefly (it never waits on I/O while holding it: all
    /// I/O is non-blocking). A plain lock is enough because the two halves
    /// rarely poll at the same instant, and it keeps the halves `Send`
    /// without `futures`' unstable `BiLock`. Both halves may have to write
    /// (the read half flushes pongs and the reply to a Close), so the
    /// transport is given a write waker that wakes whichever halves wait
    /// for it.
    pub fn split(self) -> (ReadHalf<S>, WriteHalf<S>) {
        super::split::split(self.core.into_split())
    }
}

impl<S> WebSocketStream<S> {
    /// The code and reason the connection closed with, once it has: the
    /// peer's (1005 when its Close had none), 1006 when the transport ended
    /// without a close handshake or the handshake timed out, or the code
    /// we failed the connection with.
    pub fn close_status(&self) -> Option<(CloseCode, &str)> {
        self.core
            .close_status
            .as_ref()
            .map(|(c, r)| (*c, r.as_str()))
    }

    /// The subprotocol agreed in the handshake, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.core.info.subprotocol.as_deref()
    }

    /// The client's upgrade request (server side; `None` for a stream made
    /// with [`from_engine`](Self::from_engine)).
    pub fn request(&self) -> Option<&Request> {
        self.core.info.request.as_deref()
    }

    /// The server's 101 response (client side).
    pub fn response(&self) -> Option<&Response> {
        self.core.info.response.as_deref()
    }

    /// The protocol engine (its state and configuration).
    pub fn engine(&self) -> &Engine {
        &self.core.engine
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.core.io
    }

    /// Bytes accepted for sending and not yet written to the transport.
    pub fn buffered_amount(&self) -> usize {
        self.core.buffered()
    }

    /// The high-water mark on unwritten output (1 MiB by default):
    /// [`Sink::poll_ready`] waits while this much is waiting, and the
    /// stream stops reading from a peer while the pongs and replies it
    /// owes it pass the mark.
    pub fn high_water_mark(&self) -> usize {
        self.core.high_water_mark
    }

    /// Set the high-water mark (see [`high_water_mark`](Self::high_water_mark)).
    /// One message is always accepted into empty output, whatever its size.
    pub fn set_high_water_mark(&mut self, bytes: usize) {
        self.core.high_water_mark = bytes;
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketStream<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().core.poll_next(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> FusedStream for WebSocketStream<S> {
    fn is_terminated(&self) -> bool {
        self.core.is_terminated()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocketStream<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().core.poll_ready(cx, Side::Writer)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().core.start_send(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().core.poll_flush(cx, Side::Writer)
    }

    /// Start the close handshake with 1000 (if it has not started) and
    /// flush our Close. The peer's Close ends the stream: keep reading it
    /// to its end, which also closes the transport.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let core = &mut self.get_mut().core;
        if !core.engine.close_started() {
            core.start_close(CloseCode::NORMAL, "")?;
        }
        core.poll_flush(cx, Side::Writer)
    }
}
