//! Channel history: the `HistoryStore` trait a node keeps its channels' recent messages in
//! (offsets, epochs, recovery), the types it speaks, and how an answer reaches a worker.
//!
//! History belongs to a channel's NAME, not to its members: it outlives the last member.
//! A store keeps the frames exactly as they were sent (the one shared buffer, no copy) and
//! answers recoveries; it never touches a connection. The worker side (holding live frames
//! while a connection recovers) is `server/core/recovery.rs`; the wire is `message.rs`.
//!
//! - `mod.rs`    the trait, `Stamped`, `Position`, `Replay`, `RecoveryTicket`
//! - `ring.rs`   one channel's bounded ring of frames
//! - `memory.rs` `MemoryHistory`, the single-node store (size, TTL, node memory cap)

mod memory;
mod ring;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use memory::{HistoryLimits, MemoryHistory};

use super::bus::Command;
use super::connection::ConnId;
use super::message::Body;
use super::Service;
use crate::wire::frame::SharedFrame;

/// A frame of a channel with history, with its place in it.
#[derive(Debug, Clone)]
pub struct Stamped {
    /// The complete frame (its JSON carries `offset` and `epoch`), shared by every recipient.
    pub frame: SharedFrame,
    /// Its offset in the channel (1 for the first message of an epoch).
    pub offset: u64,
    /// The epoch it belongs to.
    pub epoch: Arc<str>,
}

/// Where a client stands in a channel: the offset of the last message it saw, and the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Offset of the last message seen (0: none yet).
    pub offset: u64,
    /// The epoch that offset belongs to.
    pub epoch: String,
}

/// A store's answer to a recovery (or, without `since`, to a join: only `position`).
#[derive(Debug, Clone)]
pub struct Replay {
    /// Every stored message after `since`, in order (empty when `recovered` is false).
    pub frames: Vec<SharedFrame>,
    /// The channel's current position: the offset of its last message and its epoch.
    pub offset: u64,
    /// The current epoch.
    pub epoch: Arc<str>,
    /// True when `frames` are exactly the messages after `since` in the same epoch.
    pub recovered: bool,
}

/// Counters and gauges of a store, for `/metrics` and the admin.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct HistoryStats {
    /// Bytes the stored history holds (frames plus per-message and per-channel overhead).
    pub bytes: u64,
    /// Messages stored.
    pub messages: u64,
    /// Channels with a history.
    pub channels: u64,
    /// Channels whose whole history was dropped to stay under the memory cap.
    pub channels_dropped: u64,
}

/// A store of channel history. Its methods are called on event loops: they must never
/// block (a store that asks a server answers `recover` later, from its own thread).
pub trait HistoryStore: Send + Sync + 'static {
    /// Appends one message to `channel`'s history (keeping at most `size`): assigns the next
    /// offset, seals `body` into the frame with it (`message::seal`), stores the frame, and
    /// calls `deliver` with it, all in one critical section of the channel, so the order of
    /// `deliver` calls of a channel is the order of its offsets. A store shared by a cluster
    /// may instead take the message and deliver it itself, later, stamped, on every node
    /// (this one included, to every member but `except`): `Appended::Cluster`. If it cannot
    /// (a store that is down), it gives `body` back undelivered: the caller sends it without
    /// a stamp.
    fn append(
        &self,
        channel: &str,
        size: usize,
        body: Body,
        except: Option<ConnId>,
        deliver: &mut dyn FnMut(&Stamped),
    ) -> Result<Appended, Body>;

    /// The messages after `since` (or, with `None`, only the current position), answered
    /// through `ticket.answer(replay)`, now or later, from any thread. The answer describes
    /// a snapshot: the worker holds the channel's live frames for the connection until the
    /// answer arrives, then sends only those of the answer's epoch with a higher offset. So
    /// a frame of a new epoch must not be delivered between the snapshot and the answer
    /// (the memory store answers inside the snapshot's critical section). Always answer,
    /// if only `recovered: false` with no frames (a store that is down): the connection's
    /// live frames of the channel wait for it.
    fn recover(&self, channel: &str, since: Option<&Position>, ticket: RecoveryTicket);

    /// Messages stored for `channel` (admin).
    fn len(&self, channel: &str) -> usize;

    /// Drops what has outlived its TTL (called about once a second).
    fn sweep(&self) {}

    /// The store's counters.
    fn stats(&self) -> HistoryStats;
}

/// What became of an appended message.
#[derive(Debug)]
pub enum Appended {
    /// Stamped, stored and handed to `deliver`: the caller passes the frame to the backplane.
    Here(Stamped),
    /// Taken by a store shared by the cluster, which delivers it on every node itself.
    Cluster,
}

/// Where a recovery's answer goes: the worker of the connection, through its inbox.
pub struct RecoveryTicket {
    pub(crate) service: Service,
    pub(crate) worker: usize,
    pub(crate) conn: ConnId,
    pub(crate) channel: Arc<str>,
}

impl RecoveryTicket {
    /// The channel being recovered.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Hands the answer to the connection's worker (any thread). A connection gone or no
    /// longer in the channel by then is simply not told.
    pub fn answer(self, replay: Replay) {
        let answer = Recovery { conn: self.conn, channel: self.channel, replay };
        if let Some(inbox) = self.service.shared.inboxes.get(self.worker) {
            inbox.send(Command::Recovered(Box::new(answer)));
        }
    }
}

/// A recovery answer on its way to a worker.
#[derive(Debug)]
pub struct Recovery {
    pub(crate) conn: ConnId,
    pub(crate) channel: Arc<str>,
    pub(crate) replay: Replay,
}

/// A random short epoch: 8 hex digits.
pub fn new_epoch() -> Arc<str> {
    Arc::from(&uuid::Uuid::new_v4().simple().to_string()[..8])
}
