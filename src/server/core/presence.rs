//! Presence announcements: who joined or left a channel, told to its other members.
//!
//! Small channels keep the Go module's form, one `online-update {userID, connected}` per
//! change, at once. In a channel with more than `--presence-batch-above` members on this
//! node, changes are coalesced per channel for `--presence-interval` (stretched up to five
//! times for channels of many thousands) and sent as one
//! `online-updates {joined, left, joined_count, left_count, truncated}` to every member, so a
//! join storm of n clients costs O(n) frames per interval instead of O(n²) frames. A user who
//! joins and leaves within one interval cancels out. Once a channel has changes waiting, its
//! later changes wait too (whatever its size), so no member sees them out of order.
//!
//! It owns only the waiting changes; membership itself is `channels.rs`'s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde::Serialize;

use super::{FastHash, WorkerCore};
use crate::service::connection::ConnId;
use crate::service::message::{encode, Envelope};
use crate::service::ops;

#[derive(Serialize)]
struct OnlineUpdate<'a> {
    #[serde(rename = "userID")]
    user_id: &'a str,
    connected: bool,
}

#[derive(Serialize)]
struct OnlineUpdates<'a> {
    joined: Vec<&'a str>,
    left: Vec<&'a str>,
    joined_count: usize,
    left_count: usize,
    truncated: bool,
}

/// Presence changes waiting to be sent, per channel: user → connected (the net change).
#[derive(Default)]
pub(super) struct PendingPresence {
    channels: HashMap<Arc<str>, IndexMap<String, bool>, FastHash>,
    /// When the waiting changes are due (set by the first change of a batch).
    due: Option<Instant>,
}

impl PendingPresence {
    /// Adds a change; a join and a leave of the same user in one batch cancel out.
    fn add(&mut self, channel: Arc<str>, user: &str, connected: bool, due: Instant) {
        let changes = self.channels.entry(channel).or_default();
        match changes.get(user) {
            Some(&before) if before != connected => {
                changes.shift_remove(user);
            }
            Some(_) => {}
            None => {
                changes.insert(user.to_string(), connected);
            }
        }
        self.due.get_or_insert(due);
    }

    fn is_waiting(&self, channel: &str) -> bool {
        self.channels.contains_key(channel)
    }
}

impl WorkerCore {
    /// Tells a channel's other members that `user` joined or left (`except`: the connection
    /// that did, which is not told of itself in the immediate form).
    pub(super) fn announce(&mut self, channel: &str, user: &str, connected: bool, except: ConnId, members: usize) {
        if !self.announces_presence(channel) {
            return;
        }
        let config = &self.service.shared.config;
        if members > config.presence_batch_above || self.pending_presence.is_waiting(channel) {
            let due = self.now + interval_for(config.presence_interval, members);
            let name = self.channel_name(channel);
            self.pending_presence.add(name, user, connected, due);
            return;
        }
        let update = OnlineUpdate { user_id: user, connected };
        if let Err(e) = ops::write_channel_plain(self, None, "online-update", &update, channel, Some(except)) {
            log::warn!("online-update not sent: {e}");
        }
    }

    /// Presence changes from another node (see `ops::announce_presence`), told at once to
    /// this worker's members of the channel only: one `online-updates` in a big channel, else
    /// one `online-update` each. (Not through the waiting batches: those go to every worker
    /// and node, and every worker and node gets these changes itself.)
    pub(super) fn announce_here(&mut self, channel: &str, changes: &[(String, bool)]) {
        if !self.announces_presence(channel) || !self.channels.contains_key(channel) {
            return;
        }
        let config = &self.service.shared.config;
        let envelope = Envelope { from: None, channel: Some(channel) };
        let frames = if self.service.shared.registry.member_count(channel) > config.presence_batch_above {
            let batch: IndexMap<String, bool> = changes.iter().cloned().collect();
            vec![encode(envelope, "online-updates", &summarize(&batch, config.presence_list_max))]
        } else {
            let each = changes.iter().map(|(user, connected)| OnlineUpdate { user_id: user, connected: *connected });
            each.map(|update| encode(envelope, "online-update", &update)).collect()
        };
        for frame in frames {
            match frame {
                Ok(frame) => {
                    self.fan_out(channel, &crate::wire::fanout::Fanout::new(frame, self.compression.is_some()), None)
                }
                Err(e) => log::warn!("presence not announced: {e}"),
            }
        }
    }

    /// When coalesced presence changes are due, if any wait.
    pub fn presence_due(&self) -> Option<Instant> {
        self.pending_presence.due
    }

    /// Sends every waiting batch of presence changes, one `online-updates` per channel.
    pub fn flush_presence(&mut self) {
        let pending = std::mem::take(&mut self.pending_presence.channels);
        self.pending_presence.due = None;
        let list_max = self.service.shared.config.presence_list_max;
        for (channel, changes) in pending {
            if changes.is_empty() {
                continue;
            }
            let update = summarize(&changes, list_max);
            if let Err(e) = ops::write_channel_plain(self, None, "online-updates", &update, &channel, None) {
                log::warn!("online-updates not sent: {e}");
            }
        }
    }

    fn announces_presence(&self, channel: &str) -> bool {
        let shared = &self.service.shared;
        shared.config.presence && shared.authorizer.get().is_none_or(|policy| policy.announces_presence(channel))
    }

    /// The channel's shared name if this worker knows it, else a new one.
    fn channel_name(&self, channel: &str) -> Arc<str> {
        match self.channels.get_key_value(channel) {
            Some((name, _)) => name.clone(),
            None => Arc::from(channel),
        }
    }
}

/// How long a big channel's changes wait: the configured interval, stretched up to five
/// times as the channel grows past 2,000 members here, so the bytes a join storm costs per
/// second stay bounded (every batch goes to every member) while a member still learns of a
/// join within half a second at the default interval.
fn interval_for(base: Duration, members: usize) -> Duration {
    base * (members / 2_000).clamp(1, 5) as u32
}

/// One batch as the members see it: the exact counts, and at most `list_max` ids of each kind.
fn summarize(changes: &IndexMap<String, bool>, list_max: usize) -> OnlineUpdates<'_> {
    let mut update =
        OnlineUpdates { joined: Vec::new(), left: Vec::new(), joined_count: 0, left_count: 0, truncated: false };
    for (user, &connected) in changes {
        let (list, count) = if connected {
            (&mut update.joined, &mut update.joined_count)
        } else {
            (&mut update.left, &mut update.left_count)
        };
        *count += 1;
        if list.len() < list_max {
            list.push(user);
        } else {
            update.truncated = true;
        }
    }
    update
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_and_a_leave_in_one_batch_cancel_out() {
        let mut pending = PendingPresence::default();
        let now = Instant::now();
        pending.add(Arc::from("c"), "ann", true, now);
        pending.add(Arc::from("c"), "bob", true, now);
        pending.add(Arc::from("c"), "ann", false, now);
        pending.add(Arc::from("c"), "cid", false, now);
        let changes = &pending.channels["c"];
        let update = summarize(changes, 10);
        assert_eq!((update.joined, update.left), (vec!["bob"], vec!["cid"]));
        assert_eq!(pending.due, Some(now));
    }

    #[test]
    fn big_channels_wait_longer_up_to_five_intervals() {
        let base = Duration::from_millis(100);
        assert_eq!(interval_for(base, 65), base);
        assert_eq!(interval_for(base, 4_000), base * 2);
        assert_eq!(interval_for(base, 100_000), base * 5);
    }

    #[test]
    fn lists_are_capped_and_counts_exact() {
        let changes: IndexMap<String, bool> = (0..50).map(|i| (format!("u{i}"), i % 5 != 0)).collect();
        let update = summarize(&changes, 8);
        assert_eq!((update.joined_count, update.left_count), (40, 10));
        assert_eq!((update.joined.len(), update.left.len(), update.truncated), (8, 8, true));
        let update = summarize(&changes, 100);
        assert!(!update.truncated);
    }
}
