//! Service counters: each worker counts its own traffic (single writer, relaxed atomics, no
//! contention), and `Status` adds them up on demand.
//!
//! Owns the numbers, not their presentation: the admin interface and `/metrics` format them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::Serialize;

/// Counters of one worker. Only that worker writes them.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct WorkerStats {
    pub connections: AtomicU64,
    pub connections_opened: AtomicU64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub errors_sent: AtomicU64,
    pub protocol_closes: AtomicU64,
    pub slow_consumer_closes: AtomicU64,
    pub idle_closes: AtomicU64,
    pub handshake_timeouts: AtomicU64,
    pub handshakes_rejected: AtomicU64,
    pub heartbeats: AtomicU64,
    pub handshakes_forbidden: AtomicU64,
    pub handshakes_unauthorized: AtomicU64,
    pub handshakes_bad_request: AtomicU64,
    pub tap_connections: AtomicU64,
    pub connections_refused: AtomicU64,
    pub rate_limit_closes: AtomicU64,
    pub rate_limited: AtomicU64,
    pub http_requests: AtomicU64,
}

/// Adds `n` to a counter that only the calling thread writes (no locked instruction).
#[inline]
pub fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// A snapshot of the whole service.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Status {
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    pub uptime_seconds: f64,
    pub workers: usize,
    pub connections: u64,
    pub channels: usize,
    pub connections_opened: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub errors_sent: u64,
    pub protocol_closes: u64,
    pub slow_consumer_closes: u64,
    pub idle_closes: u64,
    pub handshake_timeouts: u64,
    pub handshakes_rejected: u64,
    pub heartbeats: u64,
    pub handshakes_forbidden: u64,
    pub handshakes_unauthorized: u64,
    pub handshakes_bad_request: u64,
    pub tap_connections: u64,
    pub connections_refused: u64,
    pub rate_limit_closes: u64,
    pub rate_limited: u64,
    pub http_requests: u64,
}

impl Status {
    pub(crate) fn sum(stats: &[WorkerStats], started: SystemTime, channels: usize) -> Status {
        let total = |f: fn(&WorkerStats) -> &AtomicU64| stats.iter().map(|s| f(s).load(Ordering::Relaxed)).sum();
        Status {
            started_at: super::connection::unix_seconds(started),
            uptime_seconds: started.elapsed().map_or(0.0, |d| d.as_secs_f64()),
            workers: stats.len(),
            connections: total(|s| &s.connections),
            channels,
            connections_opened: total(|s| &s.connections_opened),
            messages_in: total(|s| &s.messages_in),
            messages_out: total(|s| &s.messages_out),
            bytes_in: total(|s| &s.bytes_in),
            bytes_out: total(|s| &s.bytes_out),
            errors_sent: total(|s| &s.errors_sent),
            protocol_closes: total(|s| &s.protocol_closes),
            slow_consumer_closes: total(|s| &s.slow_consumer_closes),
            idle_closes: total(|s| &s.idle_closes),
            handshake_timeouts: total(|s| &s.handshake_timeouts),
            handshakes_rejected: total(|s| &s.handshakes_rejected),
            heartbeats: total(|s| &s.heartbeats),
            handshakes_forbidden: total(|s| &s.handshakes_forbidden),
            handshakes_unauthorized: total(|s| &s.handshakes_unauthorized),
            handshakes_bad_request: total(|s| &s.handshakes_bad_request),
            tap_connections: total(|s| &s.tap_connections),
            connections_refused: total(|s| &s.connections_refused),
            rate_limit_closes: total(|s| &s.rate_limit_closes),
            rate_limited: total(|s| &s.rate_limited),
            http_requests: total(|s| &s.http_requests),
        }
    }
}
