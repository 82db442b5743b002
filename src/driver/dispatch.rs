//! The one dispatch of engine events to an application's callbacks.

use crate::connection::{Event, Message};
use crate::error::Error;
use crate::frame::CloseCode;

use super::close_for;

/// What [`dispatch`] needs from a driver and the application behind it.
///
/// A driver implements the first two methods (how to reach its engine, and
/// how to move what a callback sent into the engine); the rest adapt the
/// application's callbacks. Each callback returns `false` when it failed
/// (for example, it panicked), and the connection is then closed with
/// 1011 through [`callback_failed`](EventTarget::callback_failed).
pub trait EventTarget {
    /// The engine's next event; `Ok(None)` when it needs more input.
    fn poll_event(&mut self) -> Result<Option<Event>, Error>;

    /// Called after every callback, before the next event is polled: move
    /// whatever the callback sent into the engine, so that replies to
    /// messages that arrived before a protocol violation go out before the
    /// Close the violation causes.
    fn after_callback(&mut self) {}

    /// A whole message arrived.
    fn on_message(&mut self, message: Message) -> bool;

    /// A ping arrived (already answered).
    fn on_ping(&mut self, _payload: &[u8]) -> bool {
        true
    }

    /// A pong arrived.
    fn on_pong(&mut self, _payload: &[u8]) -> bool {
        true
    }

    /// The connection failed with `error`; the end follows.
    fn on_error(&mut self, _error: &Error) {}

    /// A callback failed: close the connection with 1011.
    fn callback_failed(&mut self) {}
}

/// How [`dispatch`] stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dispatched {
    /// Every event so far was delivered; the engine needs more input.
    NeedInput,
    /// The connection is over, with this code and reason (from the close
    /// handshake, or from [`close_for`] after a failure, which was
    /// reported to [`EventTarget::on_error`] first).
    Ended {
        /// The close code to report.
        code: CloseCode,
        /// The close reason to report.
        reason: String,
    },
}

/// Deliver the engine's events to `target` until it needs input or the
/// connection ends. Chunks of streamed messages are left to drivers that
/// read them (the blocking `Connection::recv_stream`) and skipped here.
pub fn dispatch<T: EventTarget + ?Sized>(target: &mut T) -> Dispatched {
    loop {
        let ok = match target.poll_event() {
            Ok(None) => return Dispatched::NeedInput,
            Ok(Some(Event::Message(message))) => target.on_message(message),
            Ok(Some(Event::Ping(payload))) => target.on_ping(&payload),
            Ok(Some(Event::Pong(payload))) => target.on_pong(&payload),
            Ok(Some(Event::Chunk { .. })) => true,
            Ok(Some(Event::Closed { code, reason })) => {
                return Dispatched::Ended { code, reason };
            }
            Err(error) => {
                target.on_error(&error);
                let (code, reason) = close_for(&error);
                return Dispatched::Ended { code, reason };
            }
        };
        if !ok {
            target.callback_failed();
        }
        target.after_callback();
    }
}
