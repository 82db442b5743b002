//! Unpredictable bytes for masking keys and handshake nonces.
//!
//! RFC 6455 §5.3 requires masking keys that an application cannot predict,
//! and §4.1 a random 16-byte nonce. Both come from the operating system's
//! CSPRNG (`getrandom`). Reads are buffered so that a masking key costs a
//! copy, not a system call.

use std::cell::RefCell;

const POOL: usize = 256;

struct Pool {
    buf: [u8; POOL],
    pos: usize,
}

thread_local! {
    static POOL_BYTES: RefCell<Pool> = const { RefCell::new(Pool { buf: [0; POOL], pos: POOL }) };
}

/// Fill `out` with bytes from the OS CSPRNG.
///
/// If the OS source fails (practically never on Linux), falls back to a
/// hash-based mix of `RandomState` keys, which are themselves seeded from the
/// OS at process start; a failure is logged.
pub(crate) fn fill(out: &mut [u8]) {
    POOL_BYTES.with(|pool| {
        let mut pool = pool.borrow_mut();
        let mut written = 0;
        while written < out.len() {
            if pool.pos == POOL {
                let Pool { buf, pos } = &mut *pool;
                if let Err(e) = getrandom::getrandom(buf) {
                    log::error!("getrandom failed ({e}); using a fallback source");
                    fallback(buf);
                }
                *pos = 0;
            }
            let n = (POOL - pool.pos).min(out.len() - written);
            let start = pool.pos;
            out[written..written + n].copy_from_slice(&pool.buf[start..start + n]);
            // Never hand out the same bytes twice.
            pool.buf[start..start + n].fill(0);
            pool.pos += n;
            written += n;
        }
    })
}

fn fallback(buf: &mut [u8]) {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    for (i, chunk) in buf.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(i);
        let v = h.finish().to_ne_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn successive_draws_differ() {
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        super::fill(&mut a);
        super::fill(&mut b);
        assert_ne!(a, b);
        let mut big = [0u8; 1000];
        super::fill(&mut big);
        assert!(big.iter().any(|&x| x != 0));
    }
}
