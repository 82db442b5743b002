//! Protocol limits, in one documented, validated place.
//!
//! Driver tuning (buffer sizes, write high-water marks) is kept apart from
//! these protocol limits.

use std::fmt;

/// Limits that bound what a peer can make us buffer or parse.
///
/// Every field says its default and the attack it bounds. Build one with
/// [`Limits::default`] and the `with_*` setters; [`Limits::validate`] checks
/// the combination without panicking.
///
/// ```
/// use wsstack::Limits;
/// let limits = Limits::default().with_max_frame_size(1 << 20).with_max_message_size(4 << 20);
/// assert!(limits.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame payload accepted, in bytes. Default 16 MiB.
    ///
    /// Checked against the length in the frame header before any of the
    /// payload is buffered, so a header claiming 2^63 bytes costs nothing.
    pub max_frame_size: usize,
    /// Largest message accepted, in bytes, after reassembly (and, with a
    /// compression extension, after inflation). Default 64 MiB.
    ///
    /// Bounds the memory a peer can pin with one fragmented or compressed
    /// message.
    pub max_message_size: usize,
    /// Largest HTTP upgrade request or response head, in bytes. Default
    /// 16 KiB. Bounds a peer that sends headers forever.
    pub max_handshake_bytes: usize,
    /// Most header lines in the HTTP upgrade request or response. Default 64.
    /// Bounds the parser's work and the memory spent on header storage.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_handshake_bytes: 16 << 10,
            max_headers: 64,
        }
    }
}

impl Limits {
    /// Set [`Limits::max_frame_size`].
    pub fn with_max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Set [`Limits::max_message_size`].
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Set [`Limits::max_handshake_bytes`].
    pub fn with_max_handshake_bytes(mut self, bytes: usize) -> Self {
        self.max_handshake_bytes = bytes;
        self
    }

    /// Set [`Limits::max_headers`].
    pub fn with_max_headers(mut self, count: usize) -> Self {
        self.max_headers = count;
        self
    }

    /// Check that the limits make sense together.
    ///
    /// A frame limit of at least 125 bytes is needed so that every legal
    /// control frame fits; the handshake needs room for a request line and
    /// the four mandatory headers.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_frame_size < 125 {
            return Err(ConfigError::new(
                "max_frame_size must be at least 125 (the largest control frame)",
            ));
        }
        if self.max_message_size < 125 {
            return Err(ConfigError::new("max_message_size must be at least 125"));
        }
        if self.max_handshake_bytes < 256 {
            return Err(ConfigError::new("max_handshake_bytes must be at least 256"));
        }
        if self.max_headers < 4 {
            return Err(ConfigError::new("max_headers must be at least 4"));
        }
        Ok(())
    }
}

/// A configuration value that cannot work; the caller's fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    message: &'static str,
}

impl ConfigError {
    pub(crate) fn new(message: &'static str) -> Self {
        ConfigError { message }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert!(Limits::default().validate().is_ok());
    }

    #[test]
    fn too_small_limits_are_errors_not_panics() {
        assert!(Limits::default().with_max_frame_size(0).validate().is_err());
        assert!(Limits::default()
            .with_max_frame_size(124)
            .validate()
            .is_err());
        assert!(Limits::default()
            .with_max_frame_size(125)
            .validate()
            .is_ok());
        assert!(Limits::default()
            .with_max_message_size(1)
            .validate()
            .is_err());
        assert!(Limits::default()
            .with_max_handshake_bytes(10)
            .validate()
            .is_err());
        assert!(Limits::default().with_max_headers(0).validate().is_err());
    }
}
