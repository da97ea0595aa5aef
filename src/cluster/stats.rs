//! The link's state and counters, shared by the event loops (publish), the link thread and
//! the subscriber thread, read by `cluster_status()`. Atomics only on the per-message path;
//! it decides nothing.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{json, Value};

/// Where the link to Redis stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Connecting = 0,
    Up = 1,
    Down = 2,
}

#[derive(Default)]
pub struct Stats {
    state: AtomicU8,
    pub reconnects: AtomicU64,
    pub published: AtomicU64,
    /// Writes not carried to the other nodes: link down, or the queue to it full.
    pub dropped: AtomicU64,
    pub received: AtomicU64,
    /// Our own writes coming back from Redis, ignored.
    pub own: AtomicU64,
    pub malformed: AtomicU64,
    pub reply_errors: AtomicU64,
    pub subscriptions: AtomicU64,
    /// Other nodes dropped for silence, and for their goodbye.
    pub nodes_expired: AtomicU64,
    pub goodbyes: AtomicU64,
    /// Presence changes of other nodes announced here because no `online-update` did.
    pub presence_healed: AtomicU64,
    /// Other nodes' `online-update`s dropped as no news here.
    pub presence_repeats: AtomicU64,
    /// Writes to channels with history: given an offset by Redis, and delivered on this
    /// node only without one (Redis down, or its reply lost).
    pub history_published: AtomicU64,
    pub history_unrecorded: AtomicU64,
    /// Recoveries (and positions) read from Redis, and answered unavailable.
    pub history_reads: AtomicU64,
    pub history_unavailable: AtomicU64,
    /// Frame bytes handed to the link thread and not yet written.
    pub queued_bytes: AtomicUsize,
    down: Mutex<Down>,
}

#[derive(Default)]
struct Down {
    since: Option<Instant>,
    last_error: Option<String>,
}

impl Stats {
    pub fn state(&self) -> LinkState {
        match self.state.load(Relaxed) {
            1 => LinkState::Up,
            2 => LinkState::Down,
            _ => LinkState::Connecting,
        }
    }

    pub fn is_up(&self) -> bool {
        self.state() == LinkState::Up
    }

    /// Marks the link up; returns how long it was down, if it was.
    pub fn up(&self) -> Option<std::time::Duration> {
        self.state.store(LinkState::Up as u8, Relaxed);
        let mut down = self.lock();
        down.since.take().map(|since| since.elapsed())
    }

    /// Marks the link down (keeps the first moment of an outage).
    pub fn down(&self, error: &str) {
        self.state.store(LinkState::Down as u8, Relaxed);
        let mut down = self.lock();
        down.since.get_or_insert_with(Instant::now);
        down.last_error = Some(error.to_string());
    }

    /// Records a failed first connection (still `Connecting`).
    pub fn failed(&self, error: &str) {
        let mut down = self.lock();
        down.since.get_or_insert_with(Instant::now);
        down.last_error = Some(error.to_string());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Down> {
        self.down.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn json(&self) -> Value {
        let down = self.lock();
        let state = match self.state() {
            LinkState::Connecting => "connecting",
            LinkState::Up => "up",
            LinkState::Down => "down",
        };
        json!({
            "state": state,
            "down_for_ms": down.since.map(|since| since.elapsed().as_millis() as u64),
            "last_error": down.last_error,
            "reconnects": self.reconnects.load(Relaxed),
            "published": self.published.load(Relaxed),
            "dropped": self.dropped.load(Relaxed),
            "received": self.received.load(Relaxed),
            "ignored_own": self.own.load(Relaxed),
            "malformed": self.malformed.load(Relaxed),
            "reply_errors": self.reply_errors.load(Relaxed),
            "subscriptions": self.subscriptions.load(Relaxed),
            "nodes_expired": self.nodes_expired.load(Relaxed),
            "goodbyes": self.goodbyes.load(Relaxed),
            "presence_healed": self.presence_healed.load(Relaxed),
            "presence_repeats": self.presence_repeats.load(Relaxed),
            "queued_bytes": self.queued_bytes.load(Relaxed),
            "history_published": self.history_published.load(Relaxed),
            "history_unrecorded": self.history_unrecorded.load(Relaxed),
            "history_reads": self.history_reads.load(Relaxed),
            "history_unavailable": self.history_unavailable.load(Relaxed),
        })
    }
}
