//! Service counters: each worker counts its own traffic (single writer, relaxed atomics, no
//! contention), and `Status` adds them up on demand.
//!
//! Owns the numbers, not their presentation: the admin interface and `/metrics` format them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::Serialize;

/// Upper bounds of the message-size histogram, in bytes.
pub const MESSAGE_BYTES_BOUNDS: [u64; 8] = [64, 256, 1024, 4096, 16384, 65536, 262_144, 1_048_576];
/// Upper bounds of the fan-out-width histogram, in recipients on one worker.
pub const FANOUT_WIDTH_BOUNDS: [u64; 6] = [1, 10, 100, 1000, 10_000, 100_000];

/// A histogram one worker writes (single writer, relaxed atomics); the last bucket is +Inf.
#[derive(Debug)]
pub struct Histogram<const N: usize> {
    bounds: &'static [u64; N],
    buckets: [AtomicU64; N],
    overflow: AtomicU64,
    sum: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    pub fn new(bounds: &'static [u64; N]) -> Self {
        Histogram {
            bounds,
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            overflow: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    #[inline]
    pub fn observe(&self, value: u64) {
        let slot = self.bounds.iter().position(|&bound| value <= bound);
        bump(slot.map_or(&self.overflow, |i| &self.buckets[i]), 1);
        bump(&self.sum, value);
    }
}

/// A histogram summed over workers, with cumulative counts as Prometheus wants them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HistogramSnapshot {
    pub name: &'static str,
    pub help: &'static str,
    /// Upper bounds; `cumulative` has one more entry, for +Inf.
    pub bounds: Vec<u64>,
    pub cumulative: Vec<u64>,
    pub sum: u64,
    pub count: u64,
}

impl HistogramSnapshot {
    pub(crate) fn sum_of<const N: usize>(name: &'static str, help: &'static str, parts: &[&Histogram<N>]) -> Self {
        let Some(first) = parts.first() else {
            return HistogramSnapshot { name, help, bounds: Vec::new(), cumulative: vec![0], sum: 0, count: 0 };
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut running = 0;
        let mut cumulative = Vec::with_capacity(N + 1);
        for i in 0..N {
            running += parts.iter().map(|h| load(&h.buckets[i])).sum::<u64>();
            cumulative.push(running);
        }
        running += parts.iter().map(|h| load(&h.overflow)).sum::<u64>();
        cumulative.push(running);
        let sum = parts.iter().map(|h| load(&h.sum)).sum();
        HistogramSnapshot { name, help, bounds: first.bounds.to_vec(), cumulative, sum, count: running }
    }
}

/// Counters of one worker. Only that worker writes them.
#[derive(Debug)]
#[repr(align(128))]
pub struct WorkerStats {
    /// Sizes of the messages clients send.
    pub message_bytes: Histogram<8>,
    /// Recipients of one channel write on this worker.
    pub fanout_width: Histogram<6>,
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
    pub message_too_big_closes: AtomicU64,
    pub handshakes_forbidden: AtomicU64,
    pub handshakes_unauthorized: AtomicU64,
    pub handshakes_bad_request: AtomicU64,
    pub tap_connections: AtomicU64,
    pub connections_refused: AtomicU64,
    pub rate_limit_closes: AtomicU64,
    pub rate_limited: AtomicU64,
    pub http_requests: AtomicU64,
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            message_bytes: Histogram::new(&MESSAGE_BYTES_BOUNDS),
            fanout_width: Histogram::new(&FANOUT_WIDTH_BOUNDS),
            connections: Default::default(),
            connections_opened: Default::default(),
            messages_in: Default::default(),
            messages_out: Default::default(),
            bytes_in: Default::default(),
            bytes_out: Default::default(),
            errors_sent: Default::default(),
            protocol_closes: Default::default(),
            slow_consumer_closes: Default::default(),
            idle_closes: Default::default(),
            handshake_timeouts: Default::default(),
            handshakes_rejected: Default::default(),
            heartbeats: Default::default(),
            message_too_big_closes: Default::default(),
            handshakes_forbidden: Default::default(),
            handshakes_unauthorized: Default::default(),
            handshakes_bad_request: Default::default(),
            tap_connections: Default::default(),
            connections_refused: Default::default(),
            rate_limit_closes: Default::default(),
            rate_limited: Default::default(),
            http_requests: Default::default(),
        }
    }
}

/// Both histograms, summed over workers.
pub(crate) fn histograms(stats: &[WorkerStats]) -> Vec<HistogramSnapshot> {
    let sizes: Vec<&Histogram<8>> = stats.iter().map(|s| &s.message_bytes).collect();
    let widths: Vec<&Histogram<6>> = stats.iter().map(|s| &s.fanout_width).collect();
    vec![
        HistogramSnapshot::sum_of("switchyard_message_bytes", "Sizes of the messages clients sent.", &sizes),
        HistogramSnapshot::sum_of("switchyard_fanout_width", "Recipients of one channel write on one worker.", &widths),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_sum_workers_cumulatively() {
        let (a, b) = (Histogram::new(&FANOUT_WIDTH_BOUNDS), Histogram::new(&FANOUT_WIDTH_BOUNDS));
        for value in [1, 5, 5, 1000] {
            a.observe(value);
        }
        b.observe(1_000_000);
        let snapshot = HistogramSnapshot::sum_of("w", "h", &[&a, &b]);
        assert_eq!(snapshot.cumulative, vec![1, 3, 3, 4, 4, 4, 5]);
        assert_eq!((snapshot.count, snapshot.sum), (5, 1_001_011));
    }
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
    pub message_too_big_closes: u64,
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
            message_too_big_closes: total(|s| &s.message_too_big_closes),
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
