//! The broker's two threads: the subscriber (connect, subscribe to what
//! is wanted, deliver, start again with a backoff when the link is lost)
//! and the publisher (batches of publications sent as one pipeline).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::{Duration, Instant};

use super::{
    Outgoing, Shared, BATCH, COMMAND_TIMEOUT, CONNECT_TIMEOUT, MAX_BACKOFF, MIN_BACKOFF, POLL,
};

/// Sleep up to `d`, waking early when the broker stops.
fn nap(shared: &Shared, d: Duration) {
    let end = Instant::now() + d;
    while !shared.stopped() {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        thread::sleep(left.min(Duration::from_millis(50)));
    }
}

fn connect(shared: &Shared) -> redis::RedisResult<redis::Connection> {
    let con = shared.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    con.set_write_timeout(Some(COMMAND_TIMEOUT))?;
    con.set_read_timeout(Some(COMMAND_TIMEOUT))?;
    Ok(con)
}

/// The subscriber: connect, subscribe to what is wanted, deliver, and
/// start again with a backoff whenever the link is lost.
pub(super) fn subscribe_loop(shared: &Shared) {
    let mut backoff = MIN_BACKOFF;
    let mut was_up = false;
    let mut reported = false;
    while !shared.stopped() {
        let error = match connect(shared) {
            Ok(mut con) => {
                let error = subscribed(shared, &mut con, &mut backoff, &mut was_up);
                shared.up.store(false, Ordering::SeqCst);
                shared.channels.store(0, Ordering::Relaxed);
                match error {
                    None => return,
                    Some(e) => e,
                }
            }
            Err(e) => e,
        };
        if was_up || !reported {
            log::warn!(
                "Redis link to {} down: {error}; local delivery goes on, retrying \
                 (every {MIN_BACKOFF:?} doubling up to {MAX_BACKOFF:?})",
                shared.url
            );
            reported = true;
        } else {
            log::debug!("Redis at {} still unreachable: {error}", shared.url);
        }
        was_up = false;
        nap(shared, backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Run one subscriber connection until it fails (the error) or the
/// broker stops (`None`).
fn subscribed(
    shared: &Shared,
    con: &mut redis::Connection,
    backoff: &mut Duration,
    was_up: &mut bool,
) -> Option<redis::RedisError> {
    let mut pubsub = con.as_pubsub();
    let mut current: BTreeSet<String> = BTreeSet::new();
    let mut polling = false;
    loop {
        if shared.stopped() {
            return None;
        }
        let wanted = shared.wanted_channels();
        if wanted != current {
            if polling {
                if let Err(e) = pubsub.set_read_timeout(Some(COMMAND_TIMEOUT)) {
                    return Some(e);
                }
                polling = false;
            }
            let add: Vec<&String> = wanted.difference(&current).collect();
            let remove: Vec<&String> = current.difference(&wanted).collect();
            if !add.is_empty() {
                if let Err(e) = pubsub.subscribe(add) {
                    return Some(e);
                }
            }
            if !remove.is_empty() {
                if let Err(e) = pubsub.unsubscribe(remove) {
                    return Some(e);
                }
            }
            shared
                .channels
                .store(wanted.len() as u64, Ordering::Relaxed);
            current = wanted;
        }
        if !*was_up {
            *was_up = true;
            *backoff = MIN_BACKOFF;
            if shared.ever_up.swap(true, Ordering::SeqCst) {
                shared.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            shared.up.store(true, Ordering::SeqCst);
            log::info!(
                "Redis link to {} up: node {}, {} channels",
                shared.url,
                shared.node,
                current.len()
            );
        }
        if !polling {
            if let Err(e) = pubsub.set_read_timeout(Some(POLL)) {
                return Some(e);
            }
            polling = true;
        }
        match pubsub.get_message() {
            Ok(msg) => shared.receive(msg.get_channel_name(), msg.get_payload_bytes()),
            Err(e) if e.is_timeout() => {}
            Err(e) => return Some(e),
        }
    }
}

/// The publisher: take publications off the queue, in batches, and send
/// them in one pipeline; reconnect (with a backoff) when the link fails.
pub(super) fn publish_loop(shared: &Shared, queue: Receiver<Outgoing>) {
    let mut con: Option<redis::Connection> = None;
    let mut next_attempt = Instant::now();
    let mut backoff = MIN_BACKOFF;
    let mut batch: Vec<(String, Vec<u8>)> = Vec::with_capacity(BATCH);
    let node_channel = shared.node_channel();
    while let Ok(first) = queue.recv() {
        if shared.stopped() {
            return;
        }
        batch.clear();
        let mut wake = false;
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Outgoing::Publish { channel, payload } => batch.push((channel, payload)),
                Outgoing::Wake => wake = true,
            }
            if batch.len() < BATCH {
                next = queue.try_recv().ok();
            }
        }
        if wake {
            batch.push((node_channel.clone(), Vec::new()));
        }
        let count = batch.len() as u64 - u64::from(wake);
        // One retry on a fresh connection: the first command after Redis
        // came back fails on the old one.
        let mut sent = false;
        for _ in 0..2 {
            if con.is_none() && Instant::now() >= next_attempt {
                match connect(shared) {
                    Ok(c) => {
                        con = Some(c);
                        backoff = MIN_BACKOFF;
                    }
                    Err(e) => {
                        log::debug!("Redis publisher cannot reach {}: {e}", shared.url);
                        next_attempt = Instant::now() + backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
            let Some(c) = con.as_mut() else { break };
            let mut pipe = redis::pipe();
            for (channel, payload) in &batch {
                pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
            }
            match pipe.exec(c) {
                Ok(()) => {
                    sent = true;
                    break;
                }
                Err(e) => {
                    log::debug!("Redis publish failed: {e}; reconnecting");
                    con = None;
                }
            }
        }
        if sent {
            shared.published.fetch_add(count, Ordering::Relaxed);
        } else {
            shared.publish_dropped.fetch_add(count, Ordering::Relaxed);
        }
    }
}
