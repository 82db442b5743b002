//! Keepalive ping and pong deadline, idle timeout, close-handshake
//! timeout, all driven by the caller's clock.

use super::*;

impl Engine {
    // ---- time ----

    /// Run the timers: keepalive ping and pong deadline, idle timeout,
    /// close-handshake timeout. Call it after `receive` and when the
    /// instant from [`poll_timeout`](Engine::poll_timeout) passes.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        if self.rx_activity || self.last_rx.is_none() {
            self.last_rx = Some(now);
            self.rx_activity = false;
        }
        if self.closed || self.failure.is_some() {
            return;
        }
        if self.close_sent {
            let deadline = *self
                .close_deadline
                .get_or_insert(now + self.config.close_timeout);
            if now >= deadline {
                self.finish(CloseCode::ABNORMAL, "close handshake timed out".into());
            }
            return;
        }
        if self.pong_wait.is_some_and(|(deadline, _)| now >= deadline) {
            self.fail(ProtocolError::PongTimeout);
            return;
        }
        if let (Some(idle), Some(last)) = (self.config.idle_timeout, self.last_rx) {
            if now >= last + idle {
                let _ = self.close(CloseCode::GOING_AWAY, "idle timeout");
                return;
            }
        }
        if let Some(interval) = self.config.ping_interval {
            let due = *self.next_ping.get_or_insert(now + interval);
            if now >= due && self.pong_wait.is_none() {
                self.pings_sent += 1;
                let payload = self.pings_sent.to_be_bytes();
                self.queue_frame(OpCode::Ping, true, &payload);
                self.pong_wait = Some((now + self.config.pong_timeout, payload));
                self.next_ping = Some(now + interval);
            }
        }
    }

    /// When [`handle_timeout`](Engine::handle_timeout) next needs to run,
    /// if any timer is armed. `None` before the first `handle_timeout`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let now = self.now?;
        if self.closed || self.failure.is_some() {
            return None;
        }
        if self.close_sent {
            return Some(self.close_deadline.unwrap_or(now));
        }
        let idle = match (self.config.idle_timeout, self.last_rx) {
            (Some(idle), Some(last)) => Some(last + idle),
            _ => None,
        };
        let ping = if self.pong_wait.is_none() {
            self.next_ping
        } else {
            None
        };
        [idle, ping, self.pong_wait.map(|(d, _)| d)]
            .into_iter()
            .flatten()
            .min()
    }
}
