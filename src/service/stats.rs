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
/// Upper bounds of the loop-turn histogram, in microseconds.
pub const LOOP_TURN_US_BOUNDS: [u64; 7] = [100, 1_000, 5_000, 10_000, 50_000, 100_000, 1_000_000];

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

/// Every per-worker counter, defined once: each becomes a field of `WorkerStats` (written by
/// its worker only) and of `Status` (the sum over workers), and so a `/metrics` series.
/// A new counter is one line here.
macro_rules! counters {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// Counters of one worker. Only that worker writes them.
        #[derive(Debug)]
        #[repr(align(128))]
        pub struct WorkerStats {
            /// Sizes of the messages clients send.
            pub message_bytes: Histogram<8>,
            /// Recipients of one channel write on this worker.
            pub fanout_width: Histogram<6>,
            /// How long this worker's loop turns took (µs): a reply read in a turn waits
            /// for that turn at most, so the tail is the worst delay the loop added.
            pub loop_turn_us: Histogram<7>,
            $($(#[doc = $doc])* pub $name: AtomicU64,)*
        }

        impl Default for WorkerStats {
            fn default() -> Self {
                WorkerStats {
                    message_bytes: Histogram::new(&MESSAGE_BYTES_BOUNDS),
                    fanout_width: Histogram::new(&FANOUT_WIDTH_BOUNDS),
                    loop_turn_us: Histogram::new(&LOOP_TURN_US_BOUNDS),
                    $($name: AtomicU64::new(0),)*
                }
            }
        }

        /// A snapshot of the whole service.
        #[derive(Debug, Clone, Serialize, Default)]
        pub struct Status {
            /// Seconds since the Unix epoch.
            pub started_at: u64,
            /// Seconds since the service started.
            pub uptime_seconds: f64,
            /// Event-loop threads.
            pub workers: usize,
            /// Channels with at least one member on this node.
            pub channels: usize,
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Status {
            pub(crate) fn sum(stats: &[WorkerStats], started: SystemTime, channels: usize) -> Status {
                Status {
                    started_at: super::connection::unix_seconds(started),
                    uptime_seconds: started.elapsed().map_or(0.0, |d| d.as_secs_f64()),
                    workers: stats.len(),
                    channels,
                    $($name: stats.iter().map(|s| s.$name.load(Ordering::Relaxed)).sum(),)*
                }
            }
        }
    };
}

counters! {
    /// Open application connections (a gauge).
    connections,
    /// WebSocket sessions opened.
    connections_opened,
    /// Messages received from clients.
    messages_in,
    /// Messages queued to clients (one per recipient).
    messages_out,
    /// Bytes read from clients: WebSocket frames and HTTP requests (upgrades, plain requests).
    bytes_in,
    /// Bytes queued to clients: WebSocket data frames and HTTP responses (upgrades, plain
    /// requests); control frames (ping, pong, close) are not counted.
    bytes_out,
    /// `error` messages sent to clients.
    errors_sent,
    /// Connections closed for a protocol violation.
    protocol_closes,
    /// Connections closed for falling behind their out-queue limit.
    slow_consumer_closes,
    /// Connections closed after the idle timeout.
    idle_closes,
    /// Connections dropped before completing the upgrade in time.
    handshake_timeouts,
    /// TLS connections refused before their TLS handshake completed: not TLS (a plain HTTP
    /// request gets a 400), a malformed ClientHello, no common version, cipher or ALPN
    /// protocol, a client that rejected the certificate.
    tls_handshake_failures,
    /// Upgrades refused, for any reason.
    handshakes_rejected,
    /// Client `heartbeat` messages answered.
    heartbeats,
    /// Connections closed for a message over the size limit (1009).
    message_too_big_closes,
    /// Upgrades refused with 403.
    handshakes_forbidden,
    /// Upgrades refused with 401.
    handshakes_unauthorized,
    /// Upgrades refused as malformed (4xx other than 401 and 403).
    handshakes_bad_request,
    /// Open admin tap sockets (a gauge).
    tap_connections,
    /// Upgrades refused at the connection limits (503).
    connections_refused,
    /// Connections closed for exceeding the message rate by far.
    rate_limit_closes,
    /// Messages refused over the rate limit.
    rate_limited,
    /// Plain HTTP requests answered.
    http_requests,
    /// Panics caught in application code (handlers, authenticators, authorizers).
    handler_panics,
    /// Recoveries answered `recovered: true` (the missed messages replayed).
    recoveries_succeeded,
    /// Recoveries answered `recovered: false` (epoch changed, or the gap is past the history).
    recoveries_failed,
    /// Messages sent again by recoveries.
    messages_replayed,
    /// Messages compressed (permessage-deflate): one per channel write however many members
    /// get it, one per reply compressed for a single connection.
    messages_compressed,
}

/// Every histogram, summed over workers.
pub(crate) fn histograms(stats: &[WorkerStats]) -> Vec<HistogramSnapshot> {
    let sizes: Vec<&Histogram<8>> = stats.iter().map(|s| &s.message_bytes).collect();
    let widths: Vec<&Histogram<6>> = stats.iter().map(|s| &s.fanout_width).collect();
    let turns: Vec<&Histogram<7>> = stats.iter().map(|s| &s.loop_turn_us).collect();
    let turn_help = "How long the workers' loop turns took, from a poll's return to the next poll, in microseconds \
                     (the longest any reply read in a turn waited for the loop).";
    vec![
        HistogramSnapshot::sum_of("switchyard_message_bytes", "Sizes of the messages clients sent.", &sizes),
        HistogramSnapshot::sum_of("switchyard_fanout_width", "Recipients of one channel write on one worker.", &widths),
        HistogramSnapshot::sum_of("switchyard_loop_turn_microseconds", turn_help, &turns),
    ]
}

/// Adds `n` to a counter that only the calling thread writes (no locked instruction).
#[inline]
pub fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
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
