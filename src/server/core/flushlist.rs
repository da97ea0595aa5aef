//! The order connections are written in: replies first, every turn; fan-out within a budget
//! per turn.
//!
//! A connection with something of its own to send (a reply to its message, a handshake
//! answer, a pong, a close, a frame sent to it alone) is on the reply list, and every one is
//! written at the end of the turn that queued it: a client's round trip never waits behind a
//! big channel's fan-out. A connection with fan-out queued (a channel write, a broadcast, a
//! ping) is on the fan-out list, written in the order it joined the list for at most
//! [`FANOUT_TURN_BUDGET`] per turn; the rest wait for the next turns, and the loop polls
//! without sleeping while any wait. So one presence batch to 10,000 members (10,000 socket
//! writes, 100 ms or more of kernel time on loopback) is spread over dozens of turns that
//! still read sockets and answer them.
//!
//! A connection may be on both lists. Whichever reaches it first writes everything it has
//! queued (its out-queue is one FIFO, so the order of its frames never depends on the list
//! that wrote them); the other finds nothing left, or only newer frames. A slot left on the
//! fan-out list after its connection ended may name a newer connection by the time it is
//! reached: that connection is written early, which is harmless for the same reason.
//!
//! With `--coalesce-us N` (off by default) a connection listed for fan-out is written no
//! sooner than N µs after it was listed, so the frames queued meanwhile go out in the same
//! write (fewer system calls per delivery, each frame late by at most N µs more). Replies
//! never wait for it.
//!
//! It owns the two lists and the membership flags' meaning; the queues are `outqueue.rs`'s,
//! the writes `worker.rs`'s.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::*;

/// The longest a loop turn spends writing fan-out (replies are not bounded by it: they are
/// bounded by what the turn read).
pub const FANOUT_TURN_BUDGET: Duration = Duration::from_millis(2);

/// Fan-out writes between two looks at the clock.
pub const FANOUT_WRITES_PER_CHECK: usize = 16;

/// Which list a connection is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Replies,
    Fanout,
}

/// The connections waiting to be written.
#[derive(Default)]
pub(super) struct FlushLists {
    replies: Vec<Slot>,
    fanout: VecDeque<Slot>,
    /// When fan-out entries were listed, one mark per loop turn that listed any: (the number
    /// of entries listed before that turn's first, the turn's time). Oldest first.
    listed_at: VecDeque<(u64, Instant)>,
    /// Entries ever pushed onto and taken from `fanout`.
    pushed: u64,
    taken: u64,
}

impl FlushLists {
    /// Lists a connection with a frame of its own queued (once per turn).
    #[inline]
    pub(super) fn reply(&mut self, conn: &mut Conn, slot: Slot) {
        if !conn.reply_listed {
            conn.reply_listed = true;
            self.replies.push(slot);
        }
    }

    /// Lists a connection with fan-out queued (once until it is written), at `now`.
    #[inline]
    pub(super) fn fanout(&mut self, conn: &mut Conn, slot: Slot, now: Instant) {
        if !conn.fanout_listed {
            conn.fanout_listed = true;
            if self.listed_at.back().is_none_or(|&(_, at)| at != now) {
                self.listed_at.push_back((self.pushed, now));
            }
            self.fanout.push_back(slot);
            self.pushed += 1;
        }
    }

    /// When the oldest fan-out entry was listed.
    fn oldest_listed_at(&mut self) -> Option<Instant> {
        if self.fanout.is_empty() {
            self.listed_at.clear();
            return None;
        }
        while self.listed_at.get(1).is_some_and(|&(first, _)| first <= self.taken) {
            self.listed_at.pop_front();
        }
        self.listed_at.front().map(|&(_, at)| at)
    }
}

impl WorkerCore {
    /// The connections with replies to write this turn (each once), in the order they were
    /// listed; hand the list back with `recycle_replies` once written.
    pub fn take_replies(&mut self) -> Vec<Slot> {
        std::mem::take(&mut self.flush.replies)
    }

    /// Gives back the list `take_replies` returned, so its capacity is reused.
    pub fn recycle_replies(&mut self, mut written: Vec<Slot>) {
        written.clear();
        if self.flush.replies.is_empty() {
            self.flush.replies = written;
        }
    }

    /// The next connection with fan-out to write at `now`, oldest first: none while the
    /// oldest is still coalescing (listed less than `--coalesce-us` ago). `None` for `now`:
    /// the next one whatever its age (the last flush before the worker ends).
    pub fn next_fanout(&mut self, now: Option<Instant>) -> Option<Slot> {
        let coalesce = self.service.shared.config.coalesce();
        if let Some(now) = now.filter(|_| !coalesce.is_zero()) {
            if self.flush.oldest_listed_at()? + coalesce > now {
                return None;
            }
        }
        let slot = self.flush.fanout.pop_front()?;
        self.flush.taken += 1;
        Some(slot)
    }

    /// Fan-out is still waiting to be written (due or coalescing).
    pub fn fanout_waiting(&self) -> bool {
        !self.flush.fanout.is_empty()
    }

    /// When the oldest fan-out waiting is due to be written (`None`: none waits); the loop
    /// polls without sleeping once it is.
    pub fn fanout_due(&mut self) -> Option<Instant> {
        let listed = self.flush.oldest_listed_at()?;
        Some(listed + self.service.shared.config.coalesce())
    }

    /// A connection taken from `list`, to write now if it may be written (not waiting for
    /// writability; a blocked one is only checked against its backlog). Called once per
    /// listed slot, it also takes the connection off that list.
    pub fn writable_conn(&mut self, slot: Slot, list: List) -> Option<&mut Conn> {
        let conn = self.conns.get_mut(slot)?;
        // Off the list now: a write queued from here on lists it again.
        match list {
            List::Replies => conn.reply_listed = false,
            List::Fanout => conn.fanout_listed = false,
        }
        if conn.write_blocked {
            self.check_backlog(slot);
            return None;
        }
        self.conns.get_mut(slot)
    }
}
