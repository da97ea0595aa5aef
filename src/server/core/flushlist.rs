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
//! It owns the two lists and the membership flags' meaning; the queues are `outqueue.rs`'s,
//! the writes `worker.rs`'s.

use std::collections::VecDeque;
use std::time::Duration;

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

    /// Lists a connection with fan-out queued (once until it is written).
    #[inline]
    pub(super) fn fanout(&mut self, conn: &mut Conn, slot: Slot) {
        if !conn.fanout_listed {
            conn.fanout_listed = true;
            self.fanout.push_back(slot);
        }
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

    /// The next connection with fan-out to write, oldest first.
    pub fn next_fanout(&mut self) -> Option<Slot> {
        self.flush.fanout.pop_front()
    }

    /// Fan-out is still waiting to be written (the loop must not sleep).
    pub fn fanout_waiting(&self) -> bool {
        !self.flush.fanout.is_empty()
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
