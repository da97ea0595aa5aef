//! One channel's history: a bounded ring of the frames sent to it (the shared buffers
//! themselves), its epoch, and the offset of its oldest message. No lock, no clock of its
//! own: `memory.rs` owns both and calls in under its lock.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{new_epoch, Position, Replay};
use crate::wire::frame::SharedFrame;

/// What one stored message costs beyond its frame: the frame handle (a `Bytes`, 32 bytes)
/// and, with a TTL, the time it was stored (4 bytes).
pub(super) const SLOT_BYTES: usize = std::mem::size_of::<SharedFrame>();
/// The time of a message, with a TTL.
pub(super) const TIME_BYTES: usize = std::mem::size_of::<u32>();
/// What a channel's history costs before any message: the ring, its map entry, its epoch.
pub(super) const CHANNEL_BYTES: usize = std::mem::size_of::<Ring>() + 64;

/// One channel's history. Times are deciseconds since the store's base instant.
pub(super) struct Ring {
    pub(super) epoch: Arc<str>,
    /// Offset of `frames[0]` (the next offset when empty).
    first: u64,
    frames: VecDeque<SharedFrame>,
    /// When each frame was stored (kept only with a TTL).
    times: VecDeque<u32>,
    /// When the history last changed (created or appended to).
    pub(super) active: u32,
    /// Its place in the store's least-recently-written order (0: not placed yet).
    pub(super) touched: u64,
    /// Bytes of frames and slots held.
    pub(super) bytes: usize,
}

impl Ring {
    pub(super) fn new(now: u32) -> Self {
        Ring {
            epoch: new_epoch(),
            first: 1,
            frames: VecDeque::new(),
            times: VecDeque::new(),
            active: now,
            touched: 0,
            bytes: 0,
        }
    }

    /// Offset of the last message (0 before the first).
    pub(super) fn last_offset(&self) -> u64 {
        self.first + self.frames.len() as u64 - 1
    }

    pub(super) fn len(&self) -> usize {
        self.frames.len()
    }

    /// Stores the frame of offset `last_offset() + 1`, then keeps at most `size` messages.
    /// Returns the bytes added and the bytes and messages removed.
    pub(super) fn push(&mut self, frame: SharedFrame, now: u32, timed: bool, size: usize) -> (usize, usize, usize) {
        if self.frames.len() == self.frames.capacity() && self.frames.len() < size {
            // Double, but never past the channel's size: a full ring holds no spare slots.
            let grow = self.frames.len().max(4).min(size - self.frames.len());
            self.frames.reserve_exact(grow);
        }
        let added = frame.len() + SLOT_BYTES + if timed { TIME_BYTES } else { 0 };
        self.frames.push_back(frame);
        if timed {
            self.times.push_back(now);
        }
        self.active = now;
        self.bytes += added;
        let (removed, count) = self.drop_oldest(self.frames.len().saturating_sub(size));
        (added, removed, count)
    }

    /// Drops the `count` oldest messages; returns the bytes and messages removed.
    pub(super) fn drop_oldest(&mut self, count: usize) -> (usize, usize) {
        let mut removed = 0;
        let count = count.min(self.frames.len());
        for _ in 0..count {
            if let Some(frame) = self.frames.pop_front() {
                removed += frame.len() + SLOT_BYTES;
                if self.times.pop_front().is_some() {
                    removed += TIME_BYTES;
                }
                self.first += 1;
            }
        }
        self.bytes -= removed;
        (removed, count)
    }

    /// Drops the messages stored before `cutoff`; returns the bytes and messages removed.
    pub(super) fn expire(&mut self, cutoff: u32) -> (usize, usize) {
        let old = self.times.iter().take_while(|&&t| t < cutoff).count();
        self.drop_oldest(old)
    }

    /// The answer to a client at `since` (`None`: only the position).
    pub(super) fn replay(&self, since: Option<&Position>) -> Replay {
        let last = self.last_offset();
        let mut replay = Replay { frames: Vec::new(), offset: last, epoch: self.epoch.clone(), recovered: true };
        let Some(since) = since else {
            return replay;
        };
        let in_epoch = since.epoch == *self.epoch && since.offset <= last;
        // Message since+1 must still be stored (or there must be none after since).
        let kept = since.offset + 1 >= self.first || since.offset == last;
        if !(in_epoch && kept) {
            replay.recovered = false;
            return replay;
        }
        let skip = (since.offset + 1).saturating_sub(self.first) as usize;
        replay.frames = self.frames.iter().skip(skip).cloned().collect();
        replay
    }
}
