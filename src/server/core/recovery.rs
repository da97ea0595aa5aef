//! Recovery on the worker: a connection that joins a channel with history waits for the
//! store's answer (a replay after its `since`, or only the channel's position) while the
//! channel's live frames for it are held; then it gets the replay, `recovered` (or
//! `position`), then the held frames newer than the answer. No gap, no duplicate, whether
//! the store answers at once or later through the inbox.
//!
//! The waiting state lives in a per-worker map, not in `Conn` (a connection that is not
//! recovering costs nothing). It must not decide what a store keeps (`service/history`).

use serde::Serialize;

use super::*;
use crate::service::history::{Position, Recovery, RecoveryTicket, Replay, Stamped};
use crate::service::message::{encode, Envelope};

/// A connection waiting for its store's answer in one channel.
struct Waiting {
    conn: ConnId,
    channel: Arc<str>,
    /// The position it recovers from (`None`: a plain join, told `position`).
    since: Option<Position>,
    /// Live frames of the channel that arrived meanwhile.
    held: Vec<Stamped>,
    held_bytes: usize,
}

/// Every connection of this worker waiting for a history answer, by slot.
#[derive(Default)]
pub(super) struct Recovering {
    waiting: HashMap<Slot, Vec<Waiting>, FastHash>,
}

impl Recovering {
    fn find(&mut self, slot: Slot, channel: &str) -> Option<&mut Waiting> {
        self.waiting.get_mut(&slot)?.iter_mut().find(|w| &*w.channel == channel)
    }

    fn take(&mut self, slot: Slot, conn: ConnId, channel: &str) -> Option<Waiting> {
        let list = self.waiting.get_mut(&slot)?;
        let at = list.iter().position(|w| w.conn == conn && &*w.channel == channel)?;
        let waiting = list.swap_remove(at);
        if list.is_empty() {
            self.waiting.remove(&slot);
        }
        Some(waiting)
    }

    /// Forgets a connection's waits: in one channel (a leave) or all (the end of a session).
    pub(super) fn forget(&mut self, slot: Slot, channel: Option<&str>) {
        let Some(list) = self.waiting.get_mut(&slot) else { return };
        list.retain(|w| channel.is_some_and(|c| c != &*w.channel));
        if list.is_empty() {
            self.waiting.remove(&slot);
        }
    }
}

#[derive(Serialize)]
struct Recovered<'a> {
    recovered: bool,
    offset: u64,
    epoch: &'a str,
}

#[derive(Serialize)]
struct PositionParam<'a> {
    offset: u64,
    epoch: &'a str,
}

impl WorkerCore {
    /// After a join of a channel with history: asks the store where the channel stands
    /// (and, with `since`, for what the connection missed); live frames wait meanwhile.
    pub(super) fn start_recovery(&mut self, slot: Slot, conn: ConnId, channel: Arc<str>, since: Option<Position>) {
        let ticket =
            RecoveryTicket { service: self.service.clone(), worker: self.index, conn, channel: channel.clone() };
        let asked = since.clone();
        let waiting = Waiting { conn, channel: channel.clone(), since, held: Vec::new(), held_bytes: 0 };
        self.recovering.waiting.entry(slot).or_default().push(waiting);
        self.service.shared.history().recover(&channel, asked.as_ref(), ticket);
    }

    /// Queues a frame of a channel with history on every local member but `except`; a
    /// member waiting for its recovery holds it instead. `message` is the stamped frame as
    /// every worker of the node shares it (compressed at most once per window size).
    pub fn fan_out_at(&mut self, channel: &str, stamped: &Stamped, message: &Fanout, except: Option<ConnId>) {
        if self.recovering.waiting.is_empty() {
            return self.fan_out(channel, message, except);
        }
        let Some(members) = self.channels.get(channel) else {
            return;
        };
        let skip = except.and_then(|id| self.ids.get(&id).map(|&s| s as Slot));
        let stats = &self.service.shared.stats[self.index];
        let limit = self.service.shared.config.send_buffer_bytes;
        let threshold = self.service.shared.config.compression_threshold;
        let mut overflowed = Vec::new();
        for &slot in members {
            if Some(slot) == skip {
                continue;
            }
            if let Some(waiting) = self.recovering.find(slot, channel) {
                waiting.held_bytes += stamped.frame.len();
                waiting.held.push(stamped.clone());
                if waiting.held_bytes > limit {
                    overflowed.push(slot);
                }
            } else if let Some(conn) = self.conns.get_mut(slot) {
                let frame =
                    Self::pick_frame(self.compression.as_deref_mut(), (threshold, stats), conn.deflate, message);
                if queue_on(conn, frame.clone(), stats) {
                    self.flush.fanout(conn, slot, self.now);
                }
            }
        }
        stats.fanout_width.observe(members.len() as u64);
        for slot in overflowed {
            self.recovering.forget(slot, None);
            log::info!("closing slow consumer {slot}: too much held during its recovery");
            bump(&self.stats().slow_consumer_closes, 1);
            self.start_close(slot, 1008, "slow consumer");
        }
    }

    /// The store's answer: the replay and `recovered` (or `position`), then the live frames
    /// held meanwhile that are newer than the answer.
    pub(super) fn on_recovered(&mut self, answer: Recovery) {
        let Recovery { conn, channel, replay } = answer;
        let Some(slot) = self.ids.get(&conn).map(|&s| s as Slot) else { return };
        let Some(waiting) = self.recovering.take(slot, conn, &channel) else { return };
        let Replay { frames, offset, epoch, recovered } = replay;
        let envelope = Envelope { from: None, channel: Some(&channel) };
        let told = if waiting.since.is_some() {
            self.count_recovery(recovered, frames.len());
            for frame in frames {
                self.queue(slot, frame);
            }
            encode(envelope, "recovered", &Recovered { recovered, offset, epoch: &epoch })
        } else {
            encode(envelope, "position", &PositionParam { offset, epoch: &epoch })
        };
        match told {
            Ok(frame) => self.queue(slot, frame),
            Err(e) => log::warn!("recovery answer not sent: {e}"),
        }
        for held in waiting.held {
            if held.epoch == epoch && held.offset > offset {
                self.queue(slot, held.frame);
            }
        }
    }

    fn count_recovery(&self, recovered: bool, replayed: usize) {
        let stats = self.stats();
        if recovered {
            bump(&stats.recoveries_succeeded, 1);
            bump(&stats.messages_replayed, replayed as u64);
        } else {
            bump(&stats.recoveries_failed, 1);
        }
    }
}
