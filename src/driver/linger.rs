//! The lingering close: after the last bytes, drain the peer's input until
//! its FIN or a bound, so the Close in flight is never destroyed by a
//! reset.

use std::time::{Duration, Instant};

/// The bounds of a lingering close, and its progress.
///
/// Closing a TCP socket whose receive buffer still holds unread data makes
/// the kernel send a reset instead of a FIN, and a reset can destroy data
/// still in flight to the peer — such as our Close frame. So a driver that
/// ends a connection (after a failure, a timeout, a shutdown or a
/// backpressure close) writes its Close, shuts down its write side, and
/// then reads and discards whatever the peer still sends until the peer's
/// FIN or the deadline; only then does it close the socket. Past the byte
/// bound it stops reading but still waits for the deadline: a peer that
/// keeps sending (a flood the Close answers) is then held by TCP flow
/// control until it reads our Close, instead of having it destroyed by a
/// reset. The bounds stop a peer from holding the connection open
/// forever, or from costing us more than the byte bound of reading.
///
/// ```
/// use std::time::{Duration, Instant};
/// use wsstack::driver::Linger;
/// let start = Instant::now();
/// let mut linger = Linger::new(start, Duration::from_secs(2), 1 << 20);
/// assert!(linger.discarded(4096));
/// // Past the byte bound: stop reading, close at the deadline.
/// assert!(!linger.discarded(1 << 20));
/// assert!(linger.exhausted());
/// assert!(!linger.expired(start + Duration::from_secs(1)));
/// assert!(linger.expired(start + Duration::from_secs(3)));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Linger {
    deadline: Instant,
    left: usize,
}

impl Linger {
    /// The default time a driver lingers.
    pub const TIMEOUT: Duration = Duration::from_secs(2);
    /// The default number of bytes a driver discards while lingering.
    pub const MAX_BYTES: usize = 16 << 20;

    /// Linger from `now` for at most `timeout` and `max_bytes`.
    pub fn new(now: Instant, timeout: Duration, max_bytes: usize) -> Linger {
        Linger {
            deadline: now + timeout,
            left: max_bytes,
        }
    }

    /// Count `n` discarded bytes; `false` once the byte bound is passed:
    /// read no more, and close at the [`deadline`](Linger::deadline).
    pub fn discarded(&mut self, n: usize) -> bool {
        match self.left.checked_sub(n) {
            Some(left) => {
                self.left = left;
                true
            }
            None => {
                self.left = 0;
                false
            }
        }
    }

    /// Whether the byte bound has been passed (read no more).
    pub fn exhausted(&self) -> bool {
        self.left == 0
    }

    /// Whether the deadline has passed.
    pub fn expired(&self, now: Instant) -> bool {
        now >= self.deadline
    }

    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}
