//! TLS under the servers (feature `tls`): plaintext reads and writes
//! through a rustls server session over a socket, blocking or not.
//!
//! rustls is sans-I/O like the rest of the stack: ciphertext goes in with
//! `read_tls` and out with `write_tls`. [`TlsIo`] feeds it from the socket
//! and drains it to the socket, passing `WouldBlock` through, so the event
//! loop treats a TLS connection like a plain one; the threaded server
//! shares one session between its reader thread and writers
//! ([`SharedTls`]).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};

use rustls::ServerConnection;

/// Plaintext buffered inside a session before `write` reports
/// `WouldBlock`, so a slow reader pushes back on the writer as a socket
/// would.
pub(crate) const TLS_BUFFER: usize = 64 * 1024;

/// A new server session for `config`, with the write buffer bounded.
pub(crate) fn session(config: Arc<rustls::ServerConfig>) -> io::Result<ServerConnection> {
    let mut tls = ServerConnection::new(config).map_err(io::Error::other)?;
    tls.set_buffer_limit(Some(TLS_BUFFER));
    Ok(tls)
}

/// A TLS session and the socket under it, as a plaintext stream.
pub(crate) struct TlsIo<'a, S> {
    pub(crate) tls: &'a mut ServerConnection,
    pub(crate) sock: &'a mut S,
}

impl<S: Read + Write> TlsIo<'_, S> {
    /// Write queued ciphertext (handshake messages, records, alerts) until
    /// none is left or the socket would block.
    pub(crate) fn flush_tls(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl<S: Read + Write> Read for TlsIo<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                // The peer closed TCP without close_notify: an end of
                // stream (the WebSocket close handshake already tells a
                // clean end from a truncated one).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if self.tls.read_tls(self.sock)? == 0 {
                return Ok(0);
            }
            let processed = self.tls.process_new_packets();
            // Send what the session produced (handshake replies, or the
            // alert that explains a failure) before reporting anything.
            let flushed = self.flush_tls();
            processed.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            flushed?;
        }
    }
}

impl<S: Read + Write> Write for TlsIo<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut n = self.tls.writer().write(buf)?;
        self.flush_tls()?;
        if n == 0 {
            // The session's buffer was full; the flush may have made room.
            n = self.tls.writer().write(buf)?;
            self.flush_tls()?;
        }
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls()
    }
}

/// One session shared by a threaded client's reader thread and its
/// writers: ciphertext is read without the lock held, and the lock is
/// held while a record is encrypted and written, so records never
/// interleave.
#[derive(Clone)]
pub(crate) struct SharedTls {
    tls: Arc<Mutex<ServerConnection>>,
    /// Ciphertext read from the socket that the session has not taken
    /// yet: rustls takes at most a few KiB per `read_tls`, and the reader
    /// reads more than that at once. Used by the reader thread only.
    incoming: Arc<Mutex<Vec<u8>>>,
}

impl SharedTls {
    pub(crate) fn new(tls: ServerConnection) -> SharedTls {
        SharedTls {
            tls: Arc::new(Mutex::new(tls)),
            incoming: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ServerConnection> {
        self.tls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Read plaintext, blocking on `tcp` (its read timeout applies) when
    /// the session has none; `writer` carries what the session must send
    /// in reply (e.g. a key update).
    pub(crate) fn read(
        &self,
        tcp: &mut TcpStream,
        writer: &Mutex<impl Write>,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        let mut raw = [0u8; 16 * 1024];
        let mut incoming = self.incoming.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match self.lock().reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if incoming.is_empty() {
                let n = tcp.read(&mut raw)?;
                if n == 0 {
                    return Ok(0);
                }
                incoming.extend_from_slice(&raw[..n]);
            }
            let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
            let mut tls = self.lock();
            // Feed the session until it has taken everything or has
            // plaintext to give (so its plaintext buffer never overflows);
            // what it has not taken waits for the next call.
            let mut rest = &incoming[..];
            let mut outcome = Ok(());
            while !rest.is_empty() {
                match tls.read_tls(&mut rest) {
                    // After the peer's close_notify: nothing more is read.
                    Ok(0) => rest = &[],
                    Ok(_) => {}
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
                let processed = tls.process_new_packets();
                let mut written = Ok(());
                while written.is_ok() && tls.wants_write() {
                    written = tls.write_tls(&mut *writer).map(drop);
                }
                match (processed, written) {
                    (Err(e), _) => {
                        outcome = Err(io::Error::new(io::ErrorKind::InvalidData, e));
                        break;
                    }
                    (Ok(_), Err(e)) => {
                        outcome = Err(e);
                        break;
                    }
                    (Ok(state), Ok(())) if state.plaintext_bytes_to_read() > 0 => break,
                    (Ok(_), Ok(())) => {}
                }
            }
            let taken = incoming.len() - rest.len();
            incoming.drain(..taken);
            outcome?;
        }
    }

    /// Encrypt `bytes` and write them to `sock` (blocking).
    pub(crate) fn write_all(&self, sock: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
        let mut tls = self.lock();
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = tls.writer().write(rest)?;
            rest = &rest[n..];
            while tls.wants_write() {
                tls.write_tls(sock)?;
            }
        }
        Ok(())
    }

    /// Send close_notify before the write side is shut.
    pub(crate) fn close_notify(&self, sock: &mut impl Write) {
        let mut tls = self.lock();
        tls.send_close_notify();
        while tls.wants_write() {
            if tls.write_tls(sock).is_err() {
                break;
            }
        }
    }
}
