//! A connection's pending output: encoded chunks, the write offset, and
//! where each message ends (for `on_sent`).

use super::*;

/// Bytes to write: this connection's own, or shared with other
/// connections (a published message framed once).
pub(super) enum Chunk {
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
pub(super) struct Output {
    pub(super) chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    pub(super) head: usize,
    /// Bytes not yet written.
    pub(super) len: usize,
    /// Bytes ever queued / ever written, on one scale.
    pub(super) encoded: u64,
    pub(super) written: u64,
    /// (end offset, id) of each message not yet fully written.
    pub(super) marks: VecDeque<(u64, MessageId)>,
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
    pub(super) fn push(&mut self, bytes: Vec<u8>) {
        self.append(bytes);
    }

    /// Move what the engine has to send into the output.
    pub(super) fn take_from(&mut self, engine: &mut Engine) {
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
    pub(super) fn push_shared(&mut self, bytes: Arc<[u8]>) {
        if !bytes.is_empty() {
            self.encoded += bytes.len() as u64;
            self.len += bytes.len();
            self.chunks.push_back(Chunk::Shared(bytes));
        }
    }

    /// The message whose last byte was queued last is `id` (for
    /// `on_sent`).
    pub(super) fn mark(&mut self, id: MessageId) {
        self.marks.push_back((self.encoded, id));
    }

    /// Write as much as the socket takes, with vectored writes.
    pub(super) fn write_to(&mut self, socket: &mut impl Write) -> io::Result<()> {
        while self.len > 0 {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let mut count = 0;
            for (i, chunk) in self.chunks.iter().take(MAX_IOV).enumerate() {
                slices[i] = IoSlice::new(if i == 0 { &chunk[self.head..] } else { chunk });
                count = i + 1;
            }
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

    pub(super) fn advance(&mut self, mut n: usize) {
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

    /// The next message now completely written, if any.
    pub(super) fn next_sent(&mut self) -> Option<MessageId> {
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
