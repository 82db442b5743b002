//! State shared by a server's threads and its handles.

use std::any::Any;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::Hub;

type Waker = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
pub(crate) struct ServerState {
    shutdown: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
    pub(crate) next_id: AtomicU64,
    pub(crate) open: AtomicUsize,
    pub(crate) accepted: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) panics: AtomicU64,
    /// The running server's hub, type-erased.
    pub(crate) hub: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl ServerState {
    pub(crate) fn add_waker(&self, waker: impl Fn() + Send + Sync + 'static) {
        self.wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(waker));
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }
}

/// Stops a running server from any thread and reads its counters.
#[derive(Clone)]
pub struct ServerHandle {
    pub(crate) state: Arc<ServerState>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("stats", &self.stats())
            .finish()
    }
}

/// A snapshot of a server's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Clients connected now (handshake done, not yet closed).
    pub open: usize,
    /// Clients accepted since start.
    pub accepted: u64,
    /// Connections refused (over the connection limit, or a failed
    /// handshake).
    pub refused: u64,
    /// Messages dropped by [`Backpressure::Drop`](super::Backpressure::Drop).
    pub dropped_messages: u64,
    /// Handler callbacks that panicked (each ended its client with 1011).
    pub handler_panics: u64,
}

impl ServerHandle {
    pub(crate) fn new() -> ServerHandle {
        ServerHandle {
            state: Arc::default(),
        }
    }

    /// Start a graceful shutdown: stop accepting, send queued messages,
    /// close every client with 1001, wait for their replies up to the
    /// shutdown timeout; `run` then returns.
    pub fn shutdown(&self) {
        if !self.state.shutdown.swap(true, Ordering::SeqCst) {
            log::info!("server shutting down");
        }
        for wake in self
            .state
            .wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            wake();
        }
    }

    /// Whether a shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.state.is_shutting_down()
    }

    /// The server's hub, once `run` has started with a handler whose
    /// `Data` is `D` (`None` before, or for another type). To publish
    /// before the server runs, give it a hub with
    /// [`ServerBuilder::hub`](super::ServerBuilder::hub).
    pub fn hub<D: Send + 'static>(&self) -> Option<Hub<D>> {
        self.state.hub.get()?.downcast_ref::<Hub<D>>().cloned()
    }

    /// The counters.
    pub fn stats(&self) -> ServerStats {
        let s = &self.state;
        ServerStats {
            open: s.open.load(Ordering::Relaxed),
            accepted: s.accepted.load(Ordering::Relaxed),
            refused: s.refused.load(Ordering::Relaxed),
            dropped_messages: s.dropped.load(Ordering::Relaxed),
            handler_panics: s.panics.load(Ordering::Relaxed),
        }
    }

    /// Shut down on Ctrl-C or SIGTERM.
    pub(crate) fn install_signal_handler(&self) -> io::Result<()> {
        #[cfg(feature = "signals")]
        {
            let handle = self.clone();
            ctrlc::set_handler(move || handle.shutdown()).map_err(io::Error::other)
        }
        #[cfg(not(feature = "signals"))]
        {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "stop_on_signals needs wsstack's `signals` feature",
            ))
        }
    }
}

/// Run a handler callback, turning a panic into `false` (and a log line).
pub(crate) fn guarded(state: &ServerState, what: &str, f: impl FnOnce()) -> bool {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(()) => true,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".into());
            log::error!("handler panicked in {what}: {msg}; closing the client with 1011");
            state.panics.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}
