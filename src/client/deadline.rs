//! One deadline over a sequence of blocking reads and writes (a whole
//! handshake, not each read).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

/// A stream with a TCP socket underneath whose timeouts can be set.
pub(crate) trait Socket {
    /// The TCP socket.
    fn socket(&self) -> &TcpStream;
}

impl Socket for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl Socket for &TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl<T: Socket> Socket for &mut T {
    fn socket(&self) -> &TcpStream {
        (**self).socket()
    }
}

/// Wraps a stream so that every read and write fails with `TimedOut` once
/// `until` has passed (each one is bounded by the time left). With no
/// deadline, reads and writes are passed through unchanged.
pub(crate) struct Deadline<S> {
    inner: S,
    until: Option<Instant>,
}

impl<S: Socket> Deadline<S> {
    pub(crate) fn new(inner: S, until: Option<Instant>) -> Deadline<S> {
        Deadline { inner, until }
    }

    fn arm(&self) -> io::Result<()> {
        if let Some(until) = self.until {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            let socket = self.inner.socket();
            socket.set_read_timeout(Some(left))?;
            socket.set_write_timeout(Some(left))?;
        }
        Ok(())
    }

    fn check(&self, e: io::Error) -> io::Error {
        let timeout = matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        );
        if timeout && self.until.is_some() {
            timed_out()
        } else {
            e
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "deadline passed")
}

impl<S: Socket + Read> Read for Deadline<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.inner.read(buf).map_err(|e| self.check(e))
    }
}

impl<S: Socket + Write> Write for Deadline<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.inner.write(buf).map_err(|e| self.check(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.arm()?;
        self.inner.flush().map_err(|e| self.check(e))
    }
}
