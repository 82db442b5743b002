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
}

impl Output {
    pub(super) fn push(&mut self, bytes: Vec<u8>) {
        self.push_chunk(Chunk::Owned(bytes));
    }

    fn push_chunk(&mut self, chunk: Chunk) {
        if !chunk.is_empty() {
            self.encoded += chunk.len() as u64;
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Queue one message's bytes and remember where it ends.
    pub(super) fn push_message(&mut self, chunk: Chunk, id: MessageId) {
        self.push_chunk(chunk);
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
                self.chunks.pop_front();
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
