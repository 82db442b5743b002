//! A connection's pending output on the servers that queue sends (event
//! loop, tokio): encoded chunks (the connection's own, payloads handed
//! over whole, bytes shared by a publication), the write offset, and
//! where each message ends (for `on_sent`).

use std::collections::VecDeque;
#[cfg(any(feature = "mio", feature = "tokio"))]
use std::io::{self, IoSlice};
use std::sync::Arc;

use super::MessageId;
use crate::connection::Engine;

/// At most this many slices per vectored write.
const MAX_IOV: usize = 64;

/// Bytes to write: this connection's own, or shared with other
/// connections (a published message framed once).
pub(crate) enum Chunk {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl std::ops::Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Shared(s) => s,
        }
    }
}

/// Bytes waiting to be written, and where each message ends in them.
#[derive(Default)]
pub(crate) struct Output {
    pub(crate) chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    pub(crate) head: usize,
    /// Bytes not yet written.
    pub(crate) len: usize,
    /// Bytes ever queued / ever written, on one scale.
    pub(crate) encoded: u64,
    pub(crate) written: u64,
    /// (end offset, id) of each message not yet fully written.
    pub(crate) marks: VecDeque<(u64, MessageId)>,
    /// An empty buffer kept for the next bytes the engine hands over, so
    /// that steady traffic allocates nothing.
    spare: Vec<u8>,
}

/// Owned bytes up to this size are appended to the last chunk instead of
/// queued as a chunk of their own.
const COALESCE: usize = 16 * 1024;
/// A chunk grows up to this size by appending small messages.
const KEEP: usize = 64 * 1024;
/// A written buffer up to this capacity is kept as the spare (bigger ones
/// are freed, so one large message does not pin memory on an idle
/// connection).
const SPARE_KEEP: usize = 16 * 1024;

impl Output {
    pub(crate) fn push(&mut self, bytes: Vec<u8>) {
        self.append(bytes);
    }

    /// Move what the engine has to send into the output.
    pub(crate) fn take_from(&mut self, engine: &mut Engine) {
        let mut bytes = std::mem::take(&mut self.spare);
        engine.poll_transmit(&mut bytes);
        self.append(bytes);
    }

    /// Queue owned bytes: small ones join the last owned chunk (one
    /// `writev` slice for many messages), others become a chunk.
    fn append(&mut self, mut bytes: Vec<u8>) {
        if bytes.is_empty() {
            if self.spare.capacity() == 0 && bytes.capacity() <= SPARE_KEEP {
                self.spare = bytes;
            }
            return;
        }
        self.encoded += bytes.len() as u64;
        self.len += bytes.len();
        if bytes.len() <= COALESCE {
            if let Some(Chunk::Owned(tail)) = self.chunks.back_mut() {
                if tail.len() + bytes.len() <= tail.capacity().max(KEEP) {
                    tail.extend_from_slice(&bytes);
                    bytes.clear();
                    if self.spare.capacity() == 0 && bytes.capacity() <= SPARE_KEEP {
                        self.spare = bytes;
                    }
                    return;
                }
            }
        }
        self.chunks.push_back(Chunk::Owned(bytes));
    }

    /// Queue bytes shared with other connections.
    pub(crate) fn push_shared(&mut self, bytes: Arc<[u8]>) {
        if !bytes.is_empty() {
            self.encoded += bytes.len() as u64;
            self.len += bytes.len();
            self.chunks.push_back(Chunk::Shared(bytes));
        }
    }

    /// The message whose last byte was queued last is `id` (for
    /// `on_sent`).
    pub(crate) fn mark(&mut self, id: MessageId) {
        self.marks.push_back((self.encoded, id));
    }

    /// Write as much as the socket takes, with vectored writes.
    #[cfg(feature = "mio")]
    pub(crate) fn write_to(&mut self, socket: &mut impl std::io::Write) -> io::Result<()> {
        while self.len > 0 {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let count = self.slices(&mut slices);
            match socket.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Write as much as the transport takes, with vectored writes:
    /// `Ready(Ok(true))` if anything was written, `Pending` if nothing
    /// could be.
    #[cfg(feature = "tokio")]
    pub(crate) fn poll_write_to<S: tokio::io::AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<bool>> {
        use std::task::Poll;
        let mut wrote = false;
        while self.len > 0 {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let count = self.slices(&mut slices);
            match std::pin::Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.advance(n);
                    wrote = true;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending if wrote => return Poll::Ready(Ok(true)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(wrote))
    }

    /// Fill `slices` with the unwritten bytes, front first; returns how
    /// many were filled.
    #[cfg(any(feature = "mio", feature = "tokio"))]
    fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_IOV]) -> usize {
        let mut count = 0;
        for (i, chunk) in self.chunks.iter().take(MAX_IOV).enumerate() {
            slices[i] = IoSlice::new(if i == 0 { &chunk[self.head..] } else { chunk });
            count = i + 1;
        }
        count
    }

    pub(crate) fn advance(&mut self, mut n: usize) {
        self.written += n as u64;
        self.len -= n;
        while n > 0 {
            // The kernel never reports more written than it was given.
            let Some(chunk) = self.chunks.front() else {
                return;
            };
            let front = chunk.len() - self.head;
            if n >= front {
                n -= front;
                if let Some(Chunk::Owned(mut done)) = self.chunks.pop_front() {
                    if self.spare.capacity() == 0 && done.capacity() <= SPARE_KEEP {
                        done.clear();
                        self.spare = done;
                    }
                }
                self.head = 0;
            } else {
                self.head += n;
                n = 0;
            }
        }
    }

    /// Take the front chunks (at most [`MAX_IOV`]) out for a write that
    /// the kernel carries out while the output keeps taking bytes (the
    /// io_uring driver): the memory they point to stays where it is until
    /// [`give_back`](Output::give_back), whatever is queued meanwhile.
    /// The bytes still count in `len` until then. `None` if nothing waits.
    #[cfg(all(feature = "uring", target_os = "linux"))]
    pub(crate) fn take_front(&mut self) -> Option<InFlight> {
        if self.chunks.is_empty() {
            return None;
        }
        let n = self.chunks.len().min(MAX_IOV);
        let chunks: Vec<Chunk> = self.chunks.drain(..n).collect();
        let head = std::mem::take(&mut self.head);
        Some(InFlight { chunks, head })
    }

    /// The write of `in_flight` (from [`take_front`](Output::take_front),
    /// the only one outstanding) wrote `n` bytes: count them, and put what
    /// is left back in front of the bytes queued meanwhile.
    #[cfg(all(feature = "uring", target_os = "linux"))]
    pub(crate) fn give_back(&mut self, in_flight: InFlight, n: usize) {
        debug_assert_eq!(self.head, 0, "one write at a time");
        for chunk in in_flight.chunks.into_iter().rev() {
            self.chunks.push_front(chunk);
        }
        self.head = in_flight.head;
        self.advance(n);
    }

    /// The next message now completely written, if any.
    pub(crate) fn next_sent(&mut self) -> Option<MessageId> {
        if self
            .marks
            .front()
            .is_some_and(|(end, _)| *end <= self.written)
        {
            self.marks.pop_front().map(|(_, id)| id)
        } else {
            None
        }
    }
}

/// Chunks taken out of an [`Output`] while the kernel writes them (see
/// [`Output::take_front`]): neither moved nor freed until given back.
#[cfg(all(feature = "uring", target_os = "linux"))]
pub(crate) struct InFlight {
    chunks: Vec<Chunk>,
    /// Bytes of the first chunk written before.
    head: usize,
}

#[cfg(all(feature = "uring", target_os = "linux"))]
impl InFlight {
    /// The unwritten bytes, in order, one slice per chunk.
    pub(crate) fn slices(&self) -> impl Iterator<Item = &[u8]> {
        self.chunks
            .iter()
            .enumerate()
            .map(|(i, c)| if i == 0 { &c[self.head..] } else { &c[..] })
    }
}
