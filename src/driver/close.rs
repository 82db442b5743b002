//! The one mapping from any error to the close code and reason reported
//! for it.

use crate::connection::UsageError;
use crate::error::Error;
use crate::frame::CloseCode;

/// The close code and reason a driver reports (to `on_close`, or as
/// [`Connection::close_status`](crate::Connection::close_status)) for a
/// connection that ended with `error`:
///
/// - a peer's protocol violation: the code the engine sent for it (1002,
///   1007, 1009, ...) and its description;
/// - a transport failure or a peer that vanished: 1006, never sent;
/// - an internal failure (a failing extension, a configuration error):
///   1011, with no details, as RFC 6455 §7.4.1 advises.
///
/// ```
/// use wsstack::driver::close_for;
/// use wsstack::{CloseCode, Error};
/// let reset = Error::Io(std::io::ErrorKind::ConnectionReset.into());
/// assert_eq!(close_for(&reset).0, CloseCode::ABNORMAL);
/// ```
pub fn close_for(error: &Error) -> (CloseCode, String) {
    match error {
        Error::Protocol(e) => (e.close_code(), e.to_string()),
        Error::Frame(e) => (e.close_code(), e.to_string()),
        Error::Io(e) => (CloseCode::ABNORMAL, e.to_string()),
        Error::ConnectionClosed => (CloseCode::ABNORMAL, "connection closed".into()),
        Error::Handshake(e) => (CloseCode::ABNORMAL, e.to_string()),
        Error::Client(e) => (CloseCode::ABNORMAL, e.to_string()),
        #[cfg(feature = "tls")]
        Error::Tls(e) => (CloseCode::TLS_HANDSHAKE, e.to_string()),
        Error::Usage(UsageError::ExtensionFailed(_)) | Error::Config(_) => {
            (CloseCode::INTERNAL_ERROR, String::new())
        }
        Error::Usage(_) | Error::InvalidSend(_) => (CloseCode::INTERNAL_ERROR, String::new()),
    }
}
