//! One loop's io_uring and every operation it submits. All of the
//! driver's `unsafe` is here: each operation's memory (receive buffers,
//! the eventfd's read buffer, the timer's timespec, a send's chunks,
//! iovecs and msghdr) is owned by this ring or by the connection's
//! [`Sending`], and stays put until the operation's last completion.

#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use crate::server::output::InFlight;

/// The buffer group of the receive buffers (one group per ring).
const BGID: u16 = 0;
/// Submission queue entries; the completion queue holds four times more.
const ENTRIES: u32 = 4096;
/// Receive buffers per loop, and the size of each: the most memory
/// received bytes can take before the loop copies them into engines.
/// 64 KiB each, so a 64 KiB message takes two completions, not five (at
/// 16 KiB the 64 KiB echo ran at half the event loop's rate); 256 of them
/// (16 MiB per ring, touched as used), because a multishot receive that
/// finds the group empty ends with `ENOBUFS` and must be armed again: at
/// 128 buffers, 1,000 busy connections re-armed 6.7 receives per echo.
const BUFFERS: u16 = 256;
const BUFFER_SIZE: usize = 64 * 1024;
/// Slots fit in 24 bits of a user_data.
pub(super) const MAX_SLOTS: usize = 1 << 24;

/// What an operation is: the top byte of its user_data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    /// The listener's multishot accept (loop 0).
    Accept = 1,
    /// The read of the loop's eventfd.
    Wake,
    /// The periodic timer.
    Tick,
    /// Receive buffers handed (back) to the kernel.
    Provide,
    /// A cancellation request.
    Cancel,
    /// A connection's multishot receive.
    Recv,
    /// A connection's vectored send.
    Send,
}

impl Op {
    fn from_byte(b: u8) -> Option<Op> {
        [
            Op::Accept,
            Op::Wake,
            Op::Tick,
            Op::Provide,
            Op::Cancel,
            Op::Recv,
            Op::Send,
        ]
        .into_iter()
        .find(|op| *op as u8 == b)
    }
}

/// `op` in the top 8 bits, the slot in the next 24, the connection's
/// generation in the low 32.
pub(super) fn user_data(op: Op, slot: usize, generation: u32) -> u64 {
    ((op as u64) << 56) | (((slot as u64) & 0xFF_FFFF) << 32) | u64::from(generation)
}

/// One completion, decoded.
#[derive(Clone, Copy, Debug)]
pub(super) struct Completion {
    pub(super) op: Option<Op>,
    pub(super) slot: usize,
    pub(super) generation: u32,
    /// The result: bytes, a file descriptor, or `-errno`.
    pub(super) result: i32,
    flags: u32,
}

impl Completion {
    /// Whether the operation goes on (a multishot's later completions).
    pub(super) fn more(&self) -> bool {
        cqueue::more(self.flags)
    }

    /// The receive buffer the data is in, if any.
    pub(super) fn buffer(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }
}

/// A block of memory the kernel may write into while it is lent to an
/// operation; never referenced from Rust while lent, freed on drop
/// (unless [`Ring::quiesce`] could not get it back: then leaked).
struct KernelMemory {
    ptr: *mut u8,
    len: usize,
}

impl KernelMemory {
    fn new(len: usize) -> KernelMemory {
        let ptr = Box::into_raw(vec![0u8; len].into_boxed_slice()).cast::<u8>();
        KernelMemory { ptr, len }
    }
}

impl Drop for KernelMemory {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.ptr, self.len);
        // SAFETY: `ptr`/`len` came from `Box::into_raw` of a boxed slice of
        // this length, freed only here, and the ring has no operation left
        // that uses it (`Ring::quiesce` leaks the memory otherwise).
        drop(unsafe { Box::from_raw(slice) });
    }
}

/// A send in flight: the chunks taken out of the output, the iovecs
/// pointing into them and the msghdr pointing at the iovecs. Everything
/// the kernel reads is on the heap, so the `Sending` itself may move; it
/// must not be dropped (nor its chunks changed) before the send's
/// completion.
pub(super) struct Sending {
    in_flight: InFlight,
    /// Read by the kernel through `msg` (or, for one chunk, the send's
    /// own pointer and length), never written by us.
    iovecs: Vec<libc::iovec>,
    msg: Box<libc::msghdr>,
    /// The bytes this send offers.
    pub(super) len: usize,
}

impl Sending {
    pub(super) fn new(in_flight: InFlight) -> Sending {
        let iovecs: Vec<libc::iovec> = in_flight
            .slices()
            .map(|s| libc::iovec {
                iov_base: s.as_ptr().cast_mut().cast(),
                iov_len: s.len(),
            })
            .collect();
        let len = iovecs.iter().map(|v| v.iov_len).sum();
        // SAFETY: msghdr is plain old data; all zeroes is a valid (empty)
        // value, filled in below.
        let mut msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msg.msg_iov = iovecs.as_ptr().cast_mut();
        msg.msg_iovlen = iovecs.len() as _;
        Sending {
            in_flight,
            iovecs,
            msg,
            len,
        }
    }

    /// The chunks back, once the send completed.
    pub(super) fn into_in_flight(self) -> InFlight {
        self.in_flight
    }
}

/// An eventfd to wake a loop from other threads: blocking, so that the
/// ring's read of it waits (a non-blocking one would fail with EAGAIN).
pub(super) fn eventfd() -> io::Result<Arc<File>> {
    // SAFETY: a plain system call with valid flags; it touches no memory.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(Arc::new(unsafe { File::from_raw_fd(fd) }))
}

/// Wake the loop reading `eventfd`.
pub(super) fn wake(eventfd: &File) {
    let _ = (&*eventfd).write(&1u64.to_ne_bytes());
}

/// A TCP stream from a descriptor the kernel just accepted.
pub(super) fn accepted(fd: RawFd) -> std::net::TcpStream {
    // SAFETY: the accept completion handed us a new descriptor that
    // nothing else owns.
    unsafe { std::net::TcpStream::from_raw_fd(fd) }
}

/// One loop's ring, its receive buffers and the operations it owes.
pub(super) struct Ring {
    uring: IoUring,
    /// `BUFFERS` buffers of `BUFFER_SIZE` bytes, lent to the kernel.
    pool: KernelMemory,
    /// Buffers the loop is done with, to lend again.
    returned: Vec<u16>,
    eventfd: Arc<File>,
    /// The eventfd read's target.
    wake_buf: KernelMemory,
    tick: Box<types::Timespec>,
    /// Entries that did not fit in the submission queue, in order.
    backlog: VecDeque<squeue::Entry>,
    /// Operations submitted (or in the backlog) whose last completion has
    /// not arrived: until it has, their memory stays.
    in_flight: usize,
    /// Set by `quiesce`: no more re-arming.
    closing: bool,
}

impl Ring {
    /// A ring with its receive buffers lent, its eventfd read and its
    /// timer armed (ticking every `tick`).
    pub(super) fn new(eventfd: Arc<File>, tick: Duration) -> io::Result<Ring> {
        // Deferred task work: the kernel copies received bytes into the
        // buffers only when this thread asks for completions, a bounded
        // number at a time, so connections are served in turn. Without
        // it, 1,000 busy connections saw a p99 of 90-155 ms against a
        // median of 3 ms (some were served again and again while others
        // waited); with it, 10 ms against 6. The taskrun flag tells
        // `submit_and_wait(0)` that such work is pending.
        let uring = IoUring::builder()
            .setup_cqsize(ENTRIES * 4)
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .build(ENTRIES)
            .or_else(|_| IoUring::builder().setup_cqsize(ENTRIES * 4).build(ENTRIES))?;
        let mut ring = Ring {
            uring,
            pool: KernelMemory::new(usize::from(BUFFERS) * BUFFER_SIZE),
            returned: (0..BUFFERS).collect(),
            eventfd,
            wake_buf: KernelMemory::new(8),
            tick: Box::new(
                types::Timespec::new()
                    .sec(tick.as_secs())
                    .nsec(tick.subsec_nanos()),
            ),
            backlog: VecDeque::new(),
            in_flight: 0,
            closing: false,
        };
        ring.flush_provides();
        ring.arm_wake();
        ring.arm_tick();
        Ok(ring)
    }

    /// Queue `entry` for the next submission.
    ///
    /// # Safety
    ///
    /// Every buffer `entry` points to must stay valid and unmoved until
    /// its last completion has been reaped by [`Ring::completions`] (or,
    /// if [`Ring::quiesce`] fails, forever).
    unsafe fn push(&mut self, entry: squeue::Entry) {
        self.in_flight += 1;
        if self.backlog.is_empty() {
            // SAFETY: forwarded from this function's contract.
            if unsafe { self.uring.submission().push(&entry) }.is_ok() {
                return;
            }
            // Full: hand the kernel what is queued, then try again.
            if self.uring.submit().is_ok() {
                // SAFETY: as above.
                if unsafe { self.uring.submission().push(&entry) }.is_ok() {
                    return;
                }
            }
        }
        self.backlog.push_back(entry);
    }

    /// Move backlogged entries into the submission queue while they fit.
    fn drain_backlog(&mut self) {
        while let Some(entry) = self.backlog.front() {
            // SAFETY: the entry was pushed under `push`'s contract, which
            // holds until its completion.
            if unsafe { self.uring.submission().push(entry) }.is_err() {
                return;
            }
            self.backlog.pop_front();
        }
    }

    /// The listener's multishot accept.
    pub(super) fn accept(&mut self, listener: RawFd) {
        let entry = opcode::AcceptMulti::new(types::Fd(listener))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data(Op::Accept, 0, 0));
        // SAFETY: accept points to no memory of ours.
        unsafe { self.push(entry) }
    }

    /// A connection's multishot receive into the receive buffers.
    pub(super) fn recv(&mut self, fd: RawFd, slot: usize, generation: u32) {
        // Buffers lent before the receive is armed, so it finds them.
        self.flush_provides();
        let entry = opcode::RecvMulti::new(types::Fd(fd), BGID)
            .build()
            .user_data(user_data(Op::Recv, slot, generation));
        // SAFETY: the receive writes only into the buffer group, whose
        // memory (`pool`) lives as long as the ring.
        unsafe { self.push(entry) }
    }

    /// A connection's send of `sending` (one at a time per connection).
    pub(super) fn send(&mut self, fd: RawFd, sending: &Sending, slot: usize, generation: u32) {
        let entry = match sending.iovecs.as_slice() {
            // One chunk (a short echo, header and payload together): a
            // plain send, without the msghdr's import.
            [one] => opcode::Send::new(
                types::Fd(fd),
                one.iov_base.cast_const().cast(),
                // Past 4 GiB the completion reports a partial send, and
                // the rest goes in the next.
                u32::try_from(one.iov_len).unwrap_or(u32::MAX),
            )
            .flags(libc::MSG_NOSIGNAL)
            .build(),
            _ => opcode::SendMsg::new(types::Fd(fd), &*sending.msg)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build(),
        }
        .user_data(user_data(Op::Send, slot, generation));
        // SAFETY: the msghdr, the iovecs and the chunks they point to are
        // heap memory owned by `sending`, which the connection keeps (and
        // does not change) until this send's completion; a plain send
        // points only into the one chunk.
        unsafe { self.push(entry) }
    }

    /// Cancel the operation with this user_data (its completion still
    /// comes, as `-ECANCELED` or its own result).
    pub(super) fn cancel(&mut self, target: u64) {
        let entry = opcode::AsyncCancel::new(target)
            .build()
            .user_data(user_data(Op::Cancel, 0, 0));
        // SAFETY: a cancellation points to no memory of ours.
        unsafe { self.push(entry) }
    }

    fn arm_wake(&mut self) {
        let entry = opcode::Read::new(types::Fd(self.eventfd.as_raw_fd()), self.wake_buf.ptr, 8)
            .build()
            .user_data(user_data(Op::Wake, 0, 0));
        // SAFETY: the read writes 8 bytes into `wake_buf`, which lives as
        // long as the ring and is never referenced from Rust.
        unsafe { self.push(entry) }
    }

    fn arm_tick(&mut self) {
        let entry = opcode::Timeout::new(&*self.tick)
            .build()
            .user_data(user_data(Op::Tick, 0, 0));
        // SAFETY: the timespec is boxed in the ring and never changed.
        unsafe { self.push(entry) }
    }

    /// The `len` bytes a receive completion put in buffer `bid`.
    pub(super) fn data(&self, bid: u16, len: usize) -> &[u8] {
        let start = usize::from(bid) * BUFFER_SIZE;
        assert!(bid < BUFFERS && len <= BUFFER_SIZE, "a buffer of ours");
        // SAFETY: in bounds (checked above); the kernel wrote these bytes
        // and handed the buffer over in a completion; it does not touch
        // the buffer again until `recycle` lends it again, which needs
        // `&mut self`, so not while this borrow lives.
        unsafe { std::slice::from_raw_parts(self.pool.ptr.add(start), len) }
    }

    /// Done with buffer `bid`: lend it to the kernel again (in a batch).
    pub(super) fn recycle(&mut self, bid: u16) {
        self.returned.push(bid);
    }

    /// Lend the returned buffers, one entry per run of consecutive ids.
    fn flush_provides(&mut self) {
        if self.returned.is_empty() {
            return;
        }
        let mut ids = std::mem::take(&mut self.returned);
        ids.sort_unstable();
        let mut i = 0;
        while i < ids.len() {
            let start = ids[i];
            let mut n: u16 = 1;
            while i + usize::from(n) < ids.len() && ids[i + usize::from(n)] == start + n {
                n += 1;
            }
            i += usize::from(n);
            // SAFETY: in bounds of `pool`: ids are below BUFFERS.
            let addr = unsafe { self.pool.ptr.add(usize::from(start) * BUFFER_SIZE) };
            let entry = opcode::ProvideBuffers::new(addr, BUFFER_SIZE as i32, n, BGID, start)
                .build()
                .user_data(user_data(Op::Provide, 0, 0));
            // SAFETY: the buffers are in `pool`, which lives as long as
            // the ring; no Rust reference to them is alive (`data`
            // borrows ended before `recycle`).
            unsafe { self.push(entry) }
        }
        ids.clear();
        self.returned = ids;
    }

    /// Submit everything queued (buffers returned included) and wait for
    /// at least `want` completions.
    pub(super) fn submit_and_wait(&mut self, want: usize) -> io::Result<()> {
        self.flush_provides();
        self.drain_backlog();
        match self.uring.submit_and_wait(want) {
            Ok(_) => Ok(()),
            // Interrupted, or completions to reap before more fit.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reap completions into `out`. The eventfd read and the timer are
    /// re-armed here; buffer and cancellation results are only logged.
    pub(super) fn completions(&mut self, out: &mut Vec<Completion>) {
        let start = out.len();
        for cqe in self.uring.completion() {
            let user_data = cqe.user_data();
            out.push(Completion {
                op: Op::from_byte((user_data >> 56) as u8),
                slot: ((user_data >> 32) & 0xFF_FFFF) as usize,
                generation: user_data as u32,
                result: cqe.result(),
                flags: cqe.flags(),
            });
        }
        let mut kept = start;
        for i in start..out.len() {
            let c = out[i];
            if !c.more() {
                self.in_flight -= 1;
            }
            let keep = match c.op {
                Some(Op::Wake) => {
                    if !self.closing {
                        self.arm_wake();
                    }
                    false
                }
                Some(Op::Tick) => {
                    if !self.closing {
                        self.arm_tick();
                    }
                    true
                }
                Some(Op::Provide) => {
                    if c.result < 0 {
                        log::error!(
                            "io_uring: lending receive buffers failed: {}",
                            io::Error::from_raw_os_error(-c.result)
                        );
                    }
                    false
                }
                Some(Op::Cancel) | None => false,
                Some(Op::Accept | Op::Recv | Op::Send) => true,
            };
            // In order: a connection's receive completions carry its bytes.
            if keep {
                out[kept] = c;
                kept += 1;
            }
        }
        out.truncate(kept);
    }

    /// Cancel every operation and wait up to `timeout` for their last
    /// completions. `false` if some never came: the caller must then leak
    /// the memory they use (this ring's is leaked here).
    pub(super) fn quiesce(&mut self, timeout: Duration) -> bool {
        self.closing = true;
        let entry = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(user_data(Op::Cancel, 0, 0));
        // SAFETY: a cancellation points to no memory of ours.
        unsafe { self.push(entry) }
        let deadline = Instant::now() + timeout;
        let mut scratch = Vec::new();
        let wait = types::Timespec::new().nsec(50_000_000);
        while self.in_flight > 0 && Instant::now() < deadline {
            self.drain_backlog();
            let args = types::SubmitArgs::new().timespec(&wait);
            match self.uring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                    ) => {}
                Err(_) => break,
            }
            scratch.clear();
            self.completions(&mut scratch);
        }
        if self.in_flight == 0 {
            return true;
        }
        log::error!(
            "io_uring: {} operations never completed; leaking their memory",
            self.in_flight
        );
        std::mem::forget(std::mem::replace(&mut self.pool, KernelMemory::new(0)));
        std::mem::forget(std::mem::replace(&mut self.wake_buf, KernelMemory::new(0)));
        false
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Normally quiesced by the loop already; this covers an unwind.
        if !self.closing && self.in_flight > 0 {
            self.quiesce(Duration::from_secs(1));
        }
    }
}
