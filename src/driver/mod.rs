//! The driver toolkit: the protocol-free chores every driver shares, each
//! implemented once.
//!
//! A driver (the blocking [`Connection`](crate::Connection), the threaded
//! and event-loop servers, and any driver you write) owns readiness,
//! buffers, threads and timers. Everything else it does by calling this
//! module:
//!
//! 1. [`ServerHandshake`] / [`ClientHandshake`]: the opening handshake,
//!    sans-I/O — bytes in, a parsed request (or a rejection to write) or a
//!    validated response out, bytes read past the handshake handed on.
//! 2. [`server_engine`] / [`client_engine`]: an accepted handshake becomes
//!    an [`Engine`](crate::connection::Engine) with its negotiated
//!    extensions.
//! 3. [`dispatch`]: engine events to the application's callbacks, with
//!    whatever a callback sent encoded before the next event is polled.
//! 4. [`close_for`]: any [`Error`](crate::Error) to the one close code and
//!    reason reported for it.
//! 5. [`Linger`]: the lingering close — after our last bytes, shut the
//!    write side and drain the peer's input until its FIN or a bound, so
//!    that the kernel never answers unread data with a reset that destroys
//!    the Close in flight.
//!
//! Nothing here touches a socket, a thread or a clock either: time comes in
//! as `now` arguments.

mod close;
mod dispatch;
mod engine;
mod handshake;
mod linger;

pub use close::close_for;
pub use dispatch::{dispatch, Dispatched, EventTarget};
pub use engine::{client_engine, server_engine};
pub use handshake::{ClientHandshake, ClientProgress, ServerHandshake, ServerProgress};
pub use linger::Linger;
