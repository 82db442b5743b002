//! One threaded client's shared state: its engine, its socket's write
//! side, and an outbox (with a writer thread started on first use) that
//! lets a publisher hand a message over without waiting for a slow
//! client.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use super::super::client::Link;
use super::super::shared::ServerState;
use super::super::{Backpressure, MessageId, SendError};
use crate::connection::{Engine, Message, PreparedMessage};
use crate::frame::CloseCode;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Bytes waiting for the writer thread, in wire order.
#[derive(Default)]
struct Outbox {
    chunks: VecDeque<Arc<[u8]>>,
    bytes: usize,
    writer: Option<JoinHandle<()>>,
    finished: bool,
}

/// One client's shared state. Lock order: `writer`, then `outbox`, then
/// `engine`. Bytes are encoded under the outbox lock, so the wire order is
/// the engine's order: they are written directly when nothing waits in
/// the outbox, else appended to it.
pub(super) struct Conn {
    pub(super) engine: Mutex<Engine>,
    /// The socket's write side (a clone of the reader's socket).
    pub(super) writer: Mutex<TcpStream>,
    /// The TLS session over the socket, if the server speaks TLS.
    pub(super) tls: Option<Tls>,
    outbox: Mutex<Outbox>,
    ready: Condvar,
    next_id: AtomicU64,
    /// The first write failure, reported by the client's own thread.
    pub(super) write_error: Mutex<Option<io::Error>>,
    high_water_mark: usize,
    policy: Backpressure,
    state: Arc<ServerState>,
}

impl Conn {
    pub(super) fn new(
        engine: Engine,
        writer: TcpStream,
        tls: Option<Tls>,
        high_water_mark: usize,
        policy: Backpressure,
        state: Arc<ServerState>,
    ) -> Conn {
        Conn {
            engine: Mutex::new(engine),
            writer: Mutex::new(writer),
            tls,
            outbox: Mutex::default(),
            ready: Condvar::new(),
            next_id: AtomicU64::new(0),
            write_error: Mutex::new(None),
            high_water_mark,
            policy,
            state,
        }
    }

    /// Encode with `encode` and write the result in order: directly when
    /// the outbox is empty, else behind what waits there. `encode` fills
    /// the head and may return a payload to write right after it (from
    /// [`Engine::send_owned`]).
    fn write_in_order<T>(
        self: &Arc<Self>,
        encode: impl FnOnce(&mut Engine, &mut Vec<u8>) -> (T, Option<Vec<u8>>),
    ) -> (T, io::Result<()>) {
        {
            // Once the client has a writer thread, every write goes
            // through the outbox: no sender (a publisher, `Client::close`
            // from another client's callback) ever waits for a slow
            // client's socket.
            let mut outbox = lock(&self.outbox);
            if outbox.writer.is_some() {
                let mut out = Vec::new();
                let (result, tail) = encode(&mut lock(&self.engine), &mut out);
                out.extend_from_slice(tail.as_deref().unwrap_or_default());
                if !out.is_empty() {
                    self.push(&mut outbox, out.into());
                }
                return (result, Ok(()));
            }
        }
        let mut writer = lock(&self.writer);
        let mut outbox = lock(&self.outbox);
        let mut out = Vec::new();
        let (result, tail) = encode(&mut lock(&self.engine), &mut out);
        let tail = tail.unwrap_or_default();
        if out.is_empty() && tail.is_empty() {
            return (result, Ok(()));
        }
        if !outbox.chunks.is_empty() {
            out.extend_from_slice(&tail);
            self.push(&mut outbox, out.into());
            return (result, Ok(()));
        }
        drop(outbox);
        let written = write_all(&mut writer, self.tls.as_ref(), &out, &tail);
        if let Err(e) = &written {
            self.write_failed(&writer, io::Error::new(e.kind(), e.to_string()));
        }
        (result, written)
    }

    /// Write whatever the engine has to send (pongs, Close replies).
    pub(super) fn flush(self: &Arc<Self>) -> io::Result<()> {
        self.write_in_order(|engine, out| {
            engine.poll_transmit(out);
            ((), None)
        })
        .1
    }

    fn push(self: &Arc<Self>, outbox: &mut Outbox, bytes: Arc<[u8]>) {
        outbox.bytes += bytes.len();
        outbox.chunks.push_back(bytes);
        if outbox.writer.is_none() && !outbox.finished {
            let conn = self.clone();
            match thread::Builder::new()
                .name("ws-client-writer".into())
                .spawn(move || conn.write_outbox())
            {
                Ok(handle) => outbox.writer = Some(handle),
                Err(e) => log::error!("cannot start a writer thread: {e}"),
            }
        }
        self.ready.notify_one();
    }

    /// The writer thread: write what the outbox holds, in order, until the
    /// connection is finished.
    fn write_outbox(self: Arc<Self>) {
        loop {
            {
                let mut outbox = lock(&self.outbox);
                while outbox.chunks.is_empty() && !outbox.finished {
                    outbox = self.ready.wait(outbox).unwrap_or_else(|e| e.into_inner());
                }
                if outbox.chunks.is_empty() {
                    return;
                }
            }
            let mut writer = lock(&self.writer);
            loop {
                let next = lock(&self.outbox).chunks.pop_front();
                let Some(bytes) = next else { break };
                let written = write_all(&mut writer, self.tls.as_ref(), &bytes, &[]);
                lock(&self.outbox).bytes -= bytes.len();
                if let Err(e) = written {
                    self.write_failed(&writer, e);
                    let mut outbox = lock(&self.outbox);
                    outbox.chunks.clear();
                    outbox.bytes = 0;
                    break;
                }
            }
        }
    }

    /// The connection is over: let the writer thread write what is left,
    /// then stop it.
    pub(super) fn finish_outbox(&self) {
        let handle = {
            let mut outbox = lock(&self.outbox);
            outbox.finished = true;
            outbox.writer.take()
        };
        self.ready.notify_all();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// Keep the first write error for the client's thread to report, and
    /// cut the transport so that its blocked read returns.
    fn write_failed(&self, writer: &TcpStream, error: io::Error) {
        log::debug!("write to client failed: {error}");
        lock(&self.write_error).get_or_insert(error);
        let _ = writer.shutdown(Shutdown::Both);
    }

    pub(super) fn fail_transport(&self) {
        let _ = lock(&self.writer).shutdown(Shutdown::Both);
    }
}

/// The TLS session type (nothing without the `tls` feature).
#[cfg(feature = "tls")]
pub(super) type Tls = super::super::tls_io::SharedTls;
/// The TLS session type (nothing without the `tls` feature).
#[cfg(not(feature = "tls"))]
pub(super) type Tls = std::convert::Infallible;

/// Write `head` then `tail` to the socket (one vectored write when the
/// socket takes it all), through TLS if there is a session.
pub(super) fn write_all(
    sock: &mut TcpStream,
    tls: Option<&Tls>,
    head: &[u8],
    tail: &[u8],
) -> io::Result<()> {
    match tls {
        #[cfg(feature = "tls")]
        Some(tls) => {
            tls.write_all(sock, head)?;
            tls.write_all(sock, tail)
        }
        #[cfg(not(feature = "tls"))]
        Some(never) => match *never {},
        None => {
            let (mut head, mut tail) = (head, tail);
            while !head.is_empty() {
                let n = match sock.write_vectored(&[io::IoSlice::new(head), io::IoSlice::new(tail)])
                {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                let from_head = n.min(head.len());
                head = &head[from_head..];
                tail = &tail[n - from_head..];
            }
            sock.write_all(tail)
        }
    }
}

/// Read plaintext from the socket, through TLS if there is a session.
pub(super) fn read(
    sock: &mut TcpStream,
    tls: Option<&Tls>,
    writer: &Mutex<TcpStream>,
    buf: &mut [u8],
) -> io::Result<usize> {
    match tls {
        #[cfg(feature = "tls")]
        Some(tls) => tls.read(sock, writer, buf),
        #[cfg(not(feature = "tls"))]
        Some(never) => {
            let _ = writer;
            match *never {}
        }
        None => io::Read::read(sock, buf),
    }
}

pub(super) struct ThreadedLink {
    pub(super) conn: Arc<Conn>,
}

impl Link for ThreadedLink {
    fn send(
        &self,
        message: Message,
        _policy: Option<Backpressure>,
    ) -> Result<MessageId, SendError> {
        let (sent, written) = self.conn.write_in_order(|engine, out| {
            // A long payload is written as it is, after its header.
            let sent = engine.send_owned(message);
            engine.poll_transmit(out);
            match sent {
                Ok(tail) => (Ok(()), tail),
                Err(e) => (Err(e), None),
            }
        });
        sent.map_err(|_| SendError::Closed)?;
        written.map_err(|_| SendError::Closed)?;
        Ok(self.conn.next_id.fetch_add(1, Ordering::Relaxed))
    }

    fn send_prepared(
        &self,
        prepared: &Arc<PreparedMessage>,
        policy: Option<Backpressure>,
    ) -> Result<MessageId, SendError> {
        let conn = &self.conn;
        let mut outbox = lock(&conn.outbox);
        if outbox.finished {
            return Err(SendError::Closed);
        }
        let mut close = None;
        let verdict = Backpressure::check(
            policy.unwrap_or(conn.policy),
            outbox.bytes,
            prepared.message().len(),
            conn.high_water_mark,
            &conn.state,
            |code, reason| close = Some((code, reason.to_owned())),
        );
        if let Err(refused) = verdict {
            // Closing takes the outbox lock: let go of it first.
            drop(outbox);
            if let Some((code, reason)) = close {
                self.close(code, &reason);
            }
            return Err(refused);
        }
        let bytes = {
            let mut engine = lock(&conn.engine);
            let mut pending = Vec::new();
            engine.poll_transmit(&mut pending);
            if !pending.is_empty() {
                conn.push(&mut outbox, pending.into());
            }
            engine
                .send_prepared(prepared)
                .map_err(|_| SendError::Closed)?
        };
        conn.push(&mut outbox, bytes);
        Ok(conn.next_id.fetch_add(1, Ordering::Relaxed))
    }

    fn close(&self, code: CloseCode, reason: &str) {
        let _ = self.conn.write_in_order(|engine, out| {
            if engine.close(code, reason).is_err() {
                let _ = engine.close(CloseCode::INTERNAL_ERROR, "");
            }
            engine.poll_transmit(out);
            ((), None)
        });
    }

    fn buffered_amount(&self) -> usize {
        let queued = lock(&self.conn.outbox).bytes;
        queued + lock(&self.conn.engine).pending_transmit()
    }
}
