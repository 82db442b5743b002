//! The engine's configuration: protocol limits, fragmentation and timers.

use std::time::Duration;

use crate::config::{ConfigError, Limits};

/// Configuration of a [`Engine`](super::Engine).
///
/// ```
/// use std::time::Duration;
/// use wsstack::connection::Config;
/// let config = Config::default()
///     .with_fragment_size(Some(64 * 1024))
///     .with_ping(Some(Duration::from_secs(20)), Duration::from_secs(10))
///     .with_idle_timeout(Some(Duration::from_secs(300)));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Frame, message and handshake limits.
    pub limits: Limits,
    /// Outgoing messages longer than this are sent as several frames of at
    /// most this size. Default `None` (never split automatically).
    pub fragment_size: Option<usize>,
    /// Send a keepalive ping this long after the previous one. Default
    /// `None`. Bounds how long a dead peer goes unnoticed.
    pub ping_interval: Option<Duration>,
    /// Fail with 1011 if a keepalive ping is not answered within this.
    /// Default 20 s; only used with `ping_interval`.
    pub pong_timeout: Duration,
    /// Start a close (1001) after this long without receiving anything.
    /// Default `None`. Bounds idle connections.
    pub idle_timeout: Option<Duration>,
    /// Give up on the close handshake (report 1006) if the peer has not
    /// answered our Close within this. Default 10 s. Bounds a peer that
    /// never completes the close.
    pub close_timeout: Duration,
    /// Deliver data as [`Event::Chunk`](super::Event::Chunk)s as it
    /// arrives instead of whole messages. Default `false`. Can be switched
    /// between messages with [`Engine::set_streaming`](super::Engine::set_streaming).
    pub streaming: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: Limits::default(),
            fragment_size: None,
            ping_interval: None,
            pong_timeout: Duration::from_secs(20),
            idle_timeout: None,
            close_timeout: Duration::from_secs(10),
            streaming: false,
        }
    }
}

impl Config {
    /// Set the limits.
    pub fn with_limits(mut self, limits: Limits) -> Config {
        self.limits = limits;
        self
    }

    /// Set [`Config::fragment_size`].
    pub fn with_fragment_size(mut self, size: Option<usize>) -> Config {
        self.fragment_size = size;
        self
    }

    /// Set the keepalive ping interval and pong timeout.
    pub fn with_ping(mut self, interval: Option<Duration>, pong_timeout: Duration) -> Config {
        self.ping_interval = interval;
        self.pong_timeout = pong_timeout;
        self
    }

    /// Set [`Config::idle_timeout`].
    pub fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Config {
        self.idle_timeout = timeout;
        self
    }

    /// Set [`Config::close_timeout`].
    pub fn with_close_timeout(mut self, timeout: Duration) -> Config {
        self.close_timeout = timeout;
        self
    }

    /// Set [`Config::streaming`].
    pub fn with_streaming(mut self, streaming: bool) -> Config {
        self.streaming = streaming;
        self
    }

    /// Check the configuration without panicking.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.limits.validate()?;
        if self.fragment_size == Some(0) {
            return Err(ConfigError::new("fragment_size must be at least 1"));
        }
        if self.ping_interval == Some(Duration::ZERO) || self.idle_timeout == Some(Duration::ZERO) {
            return Err(ConfigError::new("timer intervals must be positive"));
        }
        if self.pong_timeout.is_zero() || self.close_timeout.is_zero() {
            return Err(ConfigError::new("timeouts must be positive"));
        }
        Ok(())
    }
}
