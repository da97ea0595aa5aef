//! What the application sees of a connection: its id, its user's `Profile`, where it came
//! from, when, and its counters.
//!
//! A `Connection` is created at upgrade and shared (`Arc`) between the worker that owns the
//! socket and the registry. Its counters are published by the owning worker (single writer,
//! relaxed atomics) on every timer tick and at close; nothing here does I/O.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use uuid::Uuid;

/// A connection's id: a random UUID (v4), shown in full everywhere.
pub type ConnId = Uuid;

pub use crate::auth::Profile;

/// Traffic counters of one connection, as last published by its worker.
#[derive(Debug, Default)]
pub struct ConnCounters {
    /// Messages received from the client.
    pub messages_in: AtomicU64,
    /// Messages queued for the client.
    pub messages_out: AtomicU64,
    /// Bytes received from the client.
    pub bytes_in: AtomicU64,
    /// Bytes queued for the client.
    pub bytes_out: AtomicU64,
    /// Bytes waiting in the out-queue.
    pub queued_bytes: AtomicU64,
}

/// A plain copy of `ConnCounters`.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Counters {
    /// Messages received from the client.
    pub messages_in: u64,
    /// Messages queued for the client.
    pub messages_out: u64,
    /// Bytes received from the client.
    pub bytes_in: u64,
    /// Bytes queued for the client.
    pub bytes_out: u64,
    /// Bytes waiting in the out-queue.
    pub queued_bytes: u64,
}

impl ConnCounters {
    /// Publishes the owning worker's counts (single writer).
    pub fn publish(&self, c: &Counters) {
        self.messages_in.store(c.messages_in, Ordering::Relaxed);
        self.messages_out.store(c.messages_out, Ordering::Relaxed);
        self.bytes_in.store(c.bytes_in, Ordering::Relaxed);
        self.bytes_out.store(c.bytes_out, Ordering::Relaxed);
        self.queued_bytes.store(c.queued_bytes, Ordering::Relaxed);
    }

    /// The counts as last published.
    pub fn snapshot(&self) -> Counters {
        Counters {
            messages_in: self.messages_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            queued_bytes: self.queued_bytes.load(Ordering::Relaxed),
        }
    }
}

/// One live WebSocket connection.
#[derive(Debug)]
pub struct Connection {
    /// The connection's id.
    pub id: ConnId,
    /// The user behind it.
    pub profile: Profile,
    /// The client's address.
    pub remote: SocketAddr,
    /// The route path it upgraded on (shared with the route).
    pub path: Arc<str>,
    /// The channel it joined at upgrade (the default `channel` of its messages).
    pub channel: Arc<str>,
    /// When it upgraded, in milliseconds since the Unix epoch (8 bytes, not a
    /// `SystemTime`'s 16: the whole `Connection` stays in a 272-byte allocation).
    pub connected_at: u64,
    /// Its traffic, as last published by its worker.
    pub counters: ConnCounters,
}

/// A serializable view of a connection, for queries and the admin interface.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionInfo {
    /// The connection's id.
    pub id: ConnId,
    /// The user behind it.
    pub user: Profile,
    /// The client's address.
    pub remote: String,
    /// The socket route it upgraded on.
    pub path: String,
    /// The channels it is in.
    pub channels: Vec<String>,
    /// Seconds since the Unix epoch.
    pub connected_at: u64,
    /// The worker that owns it.
    pub worker: usize,
    /// Its traffic.
    #[serde(flatten)]
    pub counters: Counters,
}

pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch.
pub fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle connection pays for one `Arc<Connection>`: 16 bytes of counts + this, in a
    /// glibc chunk of (size + 8) rounded up to 16: 248 bytes is a 272-byte chunk.
    #[test]
    fn a_connection_record_stays_small() {
        assert_eq!(std::mem::size_of::<Connection>(), 248);
        assert_eq!(std::mem::size_of::<Profile>(), 120);
    }
}
