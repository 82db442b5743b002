//! The blocking, message-level [`Connection`] over any `Read + Write`
//! stream.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::connection::{Config, Engine, Event, Message};
use crate::driver::{client_engine, close_for, dispatch, server_engine, Dispatched, EventTarget};
use crate::error::Error;
use crate::extensions::Extension;
use crate::frame::{CloseCode, MessageKind, Role};
use crate::handshake::{ClientRequest, Request, Response, ServerConfig};

const READ_CHUNK: usize = 16 * 1024;

/// Callbacks for [`Connection::receive_forever`]: implement the ones you
/// need; every method has a default that does nothing.
pub trait ConnectionHandler<S: Read + Write> {
    /// The connection is ready (called once, first).
    fn on_open(&mut self, _conn: &mut Connection<S>) {}
    /// A whole message arrived.
    fn on_message(&mut self, _conn: &mut Connection<S>, _message: Message) {}
    /// A ping arrived (it has already been answered).
    fn on_ping(&mut self, _conn: &mut Connection<S>, _payload: &[u8]) {}
    /// A pong arrived.
    fn on_pong(&mut self, _conn: &mut Connection<S>, _payload: &[u8]) {}
    /// The connection closed, with the peer's code and reason (1005 when
    /// its Close had none, 1006 when the transport ended without one, or
    /// the code we failed the connection with).
    fn on_close(&mut self, _conn: &mut Connection<S>, _code: CloseCode, _reason: &str) {}
    /// The connection failed (protocol error or I/O error); `on_close`
    /// follows.
    fn on_error(&mut self, _conn: &mut Connection<S>, _error: &Error) {}
}

/// A message-level WebSocket over a blocking `Read + Write` stream: control
/// frames are handled and fragments joined by the [`Engine`] underneath.
///
/// ```no_run
/// use std::net::TcpListener;
/// use wsstack::connection::Config;
/// use wsstack::handshake::ServerConfig;
/// use wsstack::Connection;
///
/// let listener = TcpListener::bind("127.0.0.1:8000")?;
/// let (tcp, _) = listener.accept()?;
/// let (mut conn, _request) = Connection::accept(tcp, &ServerConfig::new(), Config::default())?;
/// while let Some(message) = conn.recv()? {
///     conn.send(message)?;
/// }
/// println!("closed: {:?}", conn.close_status());
/// # Ok::<(), wsstack::Error>(())
/// ```
pub struct Connection<S> {
    stream: S,
    engine: Engine,
    read_buf: Vec<u8>,
    out: Vec<u8>,
    close_status: Option<(CloseCode, String)>,
    /// Sets the stream's read timeout, when the connection drives its
    /// timers ([`Connection::drive_timers`]).
    set_timeout: Option<SetTimeout<S>>,
    /// How long one `recv` may wait for the peer.
    read_timeout: Option<Duration>,
    read_deadline: Option<Instant>,
}

type SetTimeout<S> = fn(&S, Option<Duration>) -> io::Result<()>;

/// A stream whose reads can be given a timeout, so that a [`Connection`]
/// can wake up for its timers ([`Connection::drive_timers`]).
pub trait ReadTimeout {
    /// Make a blocked read return (with `WouldBlock` or `TimedOut`) after
    /// `timeout`; `None` blocks indefinitely.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl ReadTimeout for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

impl<T: ReadTimeout> ReadTimeout for &T {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }
}

impl<S> std::fmt::Debug for Connection<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("engine", &self.engine)
            .field("close_status", &self.close_status)
            .finish()
    }
}

impl<S: Read + Write> Connection<S> {
    /// Wrap a stream whose handshake is done.
    pub fn new(stream: S, role: Role, config: Config) -> Result<Connection<S>, Error> {
        Connection::with_buffered(stream, role, config, &[])
    }

    /// Wrap a stream whose handshake is done, with bytes already read past
    /// the handshake.
    pub fn with_buffered(
        stream: S,
        role: Role,
        config: Config,
        buffered: &[u8],
    ) -> Result<Connection<S>, Error> {
        Connection::with_extensions(stream, role, config, Vec::new(), buffered)
    }

    /// Wrap a stream whose handshake is done, with the negotiated
    /// extensions' transforms and bytes already read past the handshake.
    pub fn with_extensions(
        stream: S,
        role: Role,
        config: Config,
        extensions: Vec<Box<dyn Extension>>,
        buffered: &[u8],
    ) -> Result<Connection<S>, Error> {
        let engine = Engine::new(role, config)?.with_extensions(extensions)?;
        Ok(Connection::from_engine(stream, engine, buffered))
    }

    /// Wrap a stream whose handshake is done and the engine built for it,
    /// with bytes already read past the handshake.
    pub fn from_engine(stream: S, mut engine: Engine, buffered: &[u8]) -> Connection<S> {
        engine.receive(buffered);
        // Start the engine's clock, so its timers are armed from now on.
        engine.handle_timeout(Instant::now());
        Connection {
            stream,
            engine,
            read_buf: vec![0; READ_CHUNK],
            out: Vec::new(),
            close_status: None,
            set_timeout: None,
            read_timeout: None,
            read_deadline: None,
        }
    }

    /// Drive the engine's timers from reads: keepalive pings with their
    /// pong deadline, the idle timeout and the close-handshake timeout
    /// (all from [`Config`]) fire while [`recv`](Connection::recv) waits,
    /// by giving each blocking read a timeout up to the next deadline. A
    /// pong that does not come fails the connection (1011) and an
    /// unanswered Close ends it (1006); `recv` returns then instead of
    /// blocking. Connections from [`wsstack::connect`](crate::connect)
    /// drive their timers already.
    pub fn drive_timers(&mut self)
    where
        S: ReadTimeout,
    {
        self.set_timeout = Some(<S as ReadTimeout>::set_read_timeout);
    }

    /// Let one [`recv`](Connection::recv) (or [`next_event`](Connection::next_event))
    /// wait at most `timeout` for the peer, then fail with an I/O error of
    /// kind `TimedOut`; the connection stays usable. Needs
    /// [`drive_timers`](Connection::drive_timers) (without it, set a read
    /// timeout on the stream instead).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// Accept the opening handshake on `stream` (server side), with the
    /// extensions `handshake` negotiates.
    pub fn accept(
        stream: S,
        handshake: &ServerConfig,
        config: Config,
    ) -> Result<(Connection<S>, Request), Error> {
        let up = crate::io::accept(stream, handshake)?;
        let engine = server_engine(config, handshake, &up.extensions)?;
        Ok((
            Connection::from_engine(up.stream, engine, &up.buffered),
            up.request,
        ))
    }

    /// Run the opening handshake on `stream` (client side).
    pub fn connect(
        stream: S,
        request: &ClientRequest,
        config: Config,
    ) -> Result<(Connection<S>, Response), Error> {
        let up = crate::io::connect(stream, request)?;
        let engine = client_engine(config, request, &up.negotiated)?;
        Ok((
            Connection::from_engine(up.stream, engine, &up.buffered),
            up.response,
        ))
    }

    /// The protocol engine (for its state and configuration).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The code and reason the connection closed with, once closed.
    pub fn close_status(&self) -> Option<(CloseCode, &str)> {
        self.close_status.as_ref().map(|(c, r)| (*c, r.as_str()))
    }

    /// The next event (messages, pings, pongs, the close), reading as
    /// needed. After `Closed` has been returned, returns
    /// [`Error::ConnectionClosed`].
    pub fn next_event(&mut self) -> Result<Event, Error> {
        self.read_deadline = self.read_timeout.map(|t| Instant::now() + t);
        loop {
            let polled = self.engine.poll_event();
            self.flush()?;
            match polled {
                Ok(Some(event)) => {
                    if let Event::Closed { code, reason } = &event {
                        self.close_status = Some((*code, reason.clone()));
                    }
                    return Ok(event);
                }
                Ok(None) if self.engine.is_closed() => return Err(Error::ConnectionClosed),
                Ok(None) => self.fill()?,
                Err(e) => {
                    let e = Error::Protocol(e);
                    if self.close_status.is_none() {
                        self.close_status = Some(close_for(&e));
                    }
                    return Err(e);
                }
            }
        }
    }

    /// The next whole message, or `None` once the connection has closed
    /// normally ([`close_status`](Connection::close_status) tells how).
    /// Pings are answered and pongs skipped on the way.
    pub fn recv(&mut self) -> Result<Option<Message>, Error> {
        loop {
            match self.next_event() {
                Ok(Event::Message(m)) => return Ok(Some(m)),
                Ok(Event::Closed { .. }) | Err(Error::ConnectionClosed) => return Ok(None),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Read the next message as a stream of bytes, without buffering it
    /// whole: returns its kind and an `io::Read` over its payload, or
    /// `None` once closed. Text arrives as UTF-8 bytes (validated as they
    /// come; a violation is an `InvalidData` read error).
    pub fn recv_stream(&mut self) -> Result<Option<(MessageKind, MessageReader<'_, S>)>, Error> {
        self.engine.set_streaming(true);
        let first = loop {
            match self.next_event() {
                Ok(Event::Chunk {
                    kind, data, last, ..
                }) => break (kind, data, last),
                // A message that started before streaming was switched on.
                Ok(Event::Message(_)) => continue,
                Ok(Event::Closed { .. }) | Err(Error::ConnectionClosed) => {
                    self.engine.set_streaming(false);
                    return Ok(None);
                }
                Ok(_) => {}
                Err(e) => {
                    self.engine.set_streaming(false);
                    return Err(e);
                }
            }
        };
        self.engine.set_streaming(false);
        let (kind, data, last) = first;
        Ok(Some((
            kind,
            MessageReader {
                conn: self,
                chunk: data,
                pos: 0,
                done: last,
            },
        )))
    }

    /// Send a message (from `&str`, `String`, `Vec<u8>`, `&[u8]` or
    /// [`Message`]).
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.engine.send(&message.into())?;
        self.flush()
    }

    /// Send a message that skips the extensions' transforms (e.g. already
    /// compressed data under permessage-deflate).
    pub fn send_untransformed(&mut self, message: &Message) -> Result<(), Error> {
        self.engine.send_untransformed(message)?;
        self.flush()
    }

    /// Send a text message without copying it into a [`Message`] first.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.engine.send_text(text)?;
        self.flush()
    }

    /// Send a binary message without copying it into a [`Message`] first.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.engine.send_binary(data)?;
        self.flush()
    }

    /// Send one fragment of a message (see [`Engine::send_fragment`]).
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        self.engine.send_fragment(kind, data, fin)?;
        self.flush()
    }

    /// Send a ping.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.engine.ping(payload)?;
        self.flush()
    }

    /// Send a pong.
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.engine.pong(payload)?;
        self.flush()
    }

    /// Close: send our Close, then read (discarding messages) until the
    /// peer's Close arrives, and return the peer's code and reason. Blocks
    /// until then; set a read timeout on the stream to bound it.
    pub fn close(
        &mut self,
        code: impl Into<CloseCode>,
        reason: &str,
    ) -> Result<(CloseCode, String), Error> {
        self.engine.close(code, reason)?;
        self.flush()?;
        loop {
            match self.next_event() {
                Ok(Event::Closed { code, reason }) => return Ok((code, reason)),
                Ok(_) => {}
                Err(Error::ConnectionClosed) => {
                    let (c, r) = self.close_status().unwrap_or((CloseCode::ABNORMAL, ""));
                    return Ok((c, r.to_owned()));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Run the connection until it closes, calling `handler` for each
    /// event: `on_open` first, then messages, pings and pongs, then
    /// `on_error` if it failed, and `on_close` last.
    pub fn receive_forever<H: ConnectionHandler<S>>(&mut self, handler: &mut H) {
        handler.on_open(self);
        let mut target = Target {
            conn: self,
            handler,
        };
        // `next_event` reads until there is an event, so `dispatch` returns
        // only at the end.
        let (code, reason) = loop {
            if let Dispatched::Ended { code, reason } = dispatch(&mut target) {
                break (code, reason);
            }
        };
        target
            .conn
            .close_status
            .get_or_insert((code, reason.clone()));
        target.handler.on_close(target.conn, code, &reason);
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.engine.pending_transmit() > 0 {
            self.out.clear();
            self.engine.poll_transmit(&mut self.out);
            self.stream.write_all(&self.out)?;
            self.stream.flush()?;
        }
        Ok(())
    }

    /// Read once into the engine; with timers driven, a read that times
    /// out runs the timers instead (and `recv` goes on or returns).
    fn fill(&mut self) -> Result<(), Error> {
        if let Some(set) = self.set_timeout {
            let now = Instant::now();
            let wake = [self.engine.poll_timeout(), self.read_deadline]
                .into_iter()
                .flatten()
                .min();
            let wait = wake.map(|at| {
                at.saturating_duration_since(now)
                    .max(Duration::from_millis(1))
            });
            set(&self.stream, wait)?;
        }
        let n = loop {
            match self.stream.read(&mut self.read_buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if self.set_timeout.is_some()
                        && matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                {
                    let now = Instant::now();
                    self.engine.handle_timeout(now);
                    self.flush()?;
                    if self.read_deadline.is_some_and(|d| now >= d) && !self.engine.is_closed() {
                        return Err(Error::Io(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no message from the peer within the read timeout",
                        )));
                    }
                    return Ok(());
                }
                Err(e) => return Err(Error::Io(e)),
            }
        };
        if n == 0 {
            self.engine.receive_eof();
        } else {
            self.engine.receive(&self.read_buf[..n]);
        }
        if self.set_timeout.is_some() {
            self.engine.handle_timeout(Instant::now());
        }
        Ok(())
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The underlying stream, mutably (reading from it loses sync).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Give back the stream (drop it to close the transport).
    pub fn into_inner(self) -> S {
        self.stream
    }
}

/// [`receive_forever`](Connection::receive_forever)'s adapter of a
/// [`ConnectionHandler`] to the one dispatch.
struct Target<'a, S, H> {
    conn: &'a mut Connection<S>,
    handler: &'a mut H,
}

impl<S: Read + Write, H: ConnectionHandler<S>> EventTarget for Target<'_, S, H> {
    fn poll_event(&mut self) -> Result<Option<Event>, Error> {
        match self.conn.next_event() {
            Ok(event) => Ok(Some(event)),
            Err(Error::ConnectionClosed) => {
                let (code, reason) = self
                    .conn
                    .close_status
                    .clone()
                    .unwrap_or((CloseCode::ABNORMAL, String::new()));
                Ok(Some(Event::Closed { code, reason }))
            }
            Err(e) => Err(e),
        }
    }

    fn on_message(&mut self, message: Message) -> bool {
        self.handler.on_message(self.conn, message);
        true
    }

    fn on_ping(&mut self, payload: &[u8]) -> bool {
        self.handler.on_ping(self.conn, payload);
        true
    }

    fn on_pong(&mut self, payload: &[u8]) -> bool {
        self.handler.on_pong(self.conn, payload);
        true
    }

    fn on_error(&mut self, error: &Error) {
        self.conn
            .close_status
            .get_or_insert_with(|| close_for(error));
        self.handler.on_error(self.conn, error);
    }
}

/// Reads one message's payload as it arrives; see
/// [`Connection::recv_stream`]. Dropping it early leaves the rest of the
/// message to be skipped by the next receive.
pub struct MessageReader<'a, S> {
    conn: &'a mut Connection<S>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<S> std::fmt::Debug for MessageReader<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReader")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<S: Read + Write> Read for MessageReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            match self.conn.next_event() {
                Ok(Event::Chunk { data, last, .. }) => {
                    self.chunk = data;
                    self.pos = 0;
                    self.done = last;
                }
                Ok(Event::Closed { .. }) | Err(Error::ConnectionClosed) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside a message",
                    ))
                }
                Ok(_) => {}
                Err(Error::Io(e)) => return Err(e),
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
