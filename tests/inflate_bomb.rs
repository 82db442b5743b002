//! A compressed message that would inflate to 1 GiB is refused with 1009
//! while the process never holds more than about twice the message limit.
//! Runs alone in its own test binary with a counting allocator.
#![cfg(feature = "deflate")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use flate2::{Compress, Compression, FlushCompress};
use wsstack::connection::{Config, Engine, ProtocolError};
use wsstack::extensions::{build_server, negotiate_server, PerMessageDeflate, SharedFactory};
use wsstack::frame::{Frame, OpCode};
use wsstack::Limits;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarding to the system allocator with the same layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// 1 GiB of zeros as one raw DEFLATE stream, sync-flushed, tail stripped.
fn gigabyte_bomb() -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let zeros = vec![0u8; 1 << 20];
    let mut out = Vec::with_capacity(2 << 20);
    for i in 0..1024 {
        let flush = if i == 1023 {
            FlushCompress::Sync
        } else {
            FlushCompress::None
        };
        let mut input = &zeros[..];
        loop {
            if out.capacity() - out.len() < 1024 {
                out.reserve(1 << 20);
            }
            let before = c.total_in();
            c.compress_vec(input, &mut out, flush).unwrap();
            input = &input[(c.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

#[test]
fn a_gigabyte_bomb_is_refused_within_twice_the_limit() {
    const LIMIT: usize = 4 << 20;
    let bomb = gigabyte_bomb();
    assert!(bomb.len() < 2 << 20, "{} compressed bytes", bomb.len());
    let mut wire = Vec::new();
    let mut frame = Frame::new(OpCode::Binary, bomb).with_rsv(true, false, false);
    frame.mask = Some([1, 2, 3, 4]);
    frame.encode(&mut wire);
    drop(frame);

    let factory: SharedFactory = Arc::new(PerMessageDeflate::new());
    let agreed = negotiate_server(std::slice::from_ref(&factory), &factory.offers());
    let config = Config::default().with_limits(Limits::default().with_max_message_size(LIMIT));
    let mut server = Engine::server(config)
        .unwrap()
        .with_extensions(build_server(&[factory], &agreed))
        .unwrap();

    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut result = Ok(None);
    for chunk in wire.chunks(64 * 1024) {
        server.receive(chunk);
        result = server.poll_event();
        if result.is_err() {
            break;
        }
    }
    let peak = PEAK.load(Ordering::Relaxed) - base;
    assert_eq!(result, Err(ProtocolError::MessageTooLarge { max: LIMIT }));
    assert_eq!(result.unwrap_err().close_code(), 1009);
    eprintln!("peak extra heap while inflating: {peak} bytes for a {LIMIT}-byte limit");
    assert!(
        peak <= 2 * LIMIT + (512 << 10),
        "peak {peak} bytes exceeds about twice the limit"
    );
}
