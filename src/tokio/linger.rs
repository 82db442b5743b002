//! The lingering close over an async transport: shut our write side, then
//! read and discard until the peer's FIN or the toolkit's [`Linger`]
//! bounds, so the last bytes in flight are never destroyed by a reset.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::time::Sleep;

use crate::driver::Linger;

/// Bytes read per call while discarding.
const DISCARD_CHUNK: usize = 16 * 1024;

/// The progress of one lingering close.
#[derive(Debug)]
pub(crate) struct Lingering {
    linger: Linger,
    shut: bool,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Lingering {
    /// Start lingering now, with the toolkit's default bounds.
    pub(crate) fn start() -> Lingering {
        Lingering {
            linger: Linger::new(
                ::tokio::time::Instant::now().into_std(),
                Linger::TIMEOUT,
                Linger::MAX_BYTES,
            ),
            shut: false,
            timer: None,
        }
    }

    /// Drive the lingering close on `io`: `Ready` once the peer's FIN
    /// came, a bound was reached or the transport failed. The caller has
    /// written its last bytes already.
    pub(crate) fn poll<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        if !self.shut {
            match Pin::new(&mut *io).poll_shutdown(cx) {
                Poll::Pending => return self.poll_deadline(cx),
                Poll::Ready(Ok(())) => self.shut = true,
                // Nothing more can reach the peer: no reason to wait.
                Poll::Ready(Err(_)) => return Poll::Ready(()),
            }
        }
        if self.linger.exhausted() {
            // Past the byte bound: read no more; the deadline ends it.
            return self.poll_deadline(cx);
        }
        let mut chunk = [MaybeUninit::<u8>::uninit(); DISCARD_CHUNK];
        loop {
            let mut buf = ReadBuf::uninit(&mut chunk);
            match Pin::new(&mut *io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Ok(())) => {
                    if !self.linger.discarded(buf.filled().len()) {
                        // Flow control holds a peer still sending until it
                        // reads our Close, up to the deadline.
                        return self.poll_deadline(cx);
                    }
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => return self.poll_deadline(cx),
            }
        }
    }

    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self
            .linger
            .expired(::tokio::time::Instant::now().into_std())
        {
            return Poll::Ready(());
        }
        let deadline = ::tokio::time::Instant::from_std(self.linger.deadline());
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(::tokio::time::sleep_until(deadline)));
        timer.as_mut().poll(cx)
    }
}

/// Linger on `io` until done (see [`Lingering::poll`]).
pub(crate) async fn linger_close<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S) {
    let mut lingering = Lingering::start();
    std::future::poll_fn(|cx| lingering.poll(io, cx)).await;
}
