//! Presence announcements: who joined or left a channel, told to its other members.
//!
//! Small channels keep the Go module's form, one `online-update {userID, connected}` per
//! change, at once. In a channel with more than `--presence-batch-above` members on this
//! node, changes are coalesced per channel for `--presence-interval` (stretched up to five
//! times for channels of many thousands) and sent as one
//! `online-updates {joined, left, joined_count, left_count, truncated}` to every member, so a
//! join storm of n clients costs O(n) frames per interval instead of O(n²) frames. A batch is
//! due once it is older than the interval the channel's size calls for *now*: while a storm
//! grows the channel, its batch keeps waiting (up to five intervals after its first change),
//! so a storm of n joins costs about 1.2 n frames instead of one frame per member for every
//! doubling. A user who joins and leaves within one batch cancels out. Once a channel has
//! changes waiting, its later changes wait too (whatever its size), so no member sees them
//! out of order.
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

/// Presence changes waiting to be sent, per channel.
#[derive(Default)]
pub(super) struct PendingPresence {
    channels: HashMap<Arc<str>, Batch, FastHash>,
}

/// One channel's waiting changes.
struct Batch {
    /// When its first change came.
    since: Instant,
    /// The channel's members when its last change came.
    members: usize,
    /// User → connected (the net change).
    changes: IndexMap<String, bool>,
}

impl Batch {
    /// When it is due: its age reaches the interval for the channel's current size.
    fn due(&self, base: Duration) -> Instant {
        self.since + interval_for(base, self.members)
    }
}

impl PendingPresence {
    /// Adds a change; a join and a leave of the same user in one batch cancel out.
    fn add(&mut self, channel: Arc<str>, user: &str, connected: bool, now: Instant, members: usize) {
        let batch =
            self.channels.entry(channel).or_insert_with(|| Batch { since: now, members, changes: IndexMap::new() });
        batch.members = members;
        let changes = &mut batch.changes;
        match changes.get(user) {
            Some(&before) if before != connected => {
                changes.shift_remove(user);
            }
            Some(_) => {}
            None => {
                changes.insert(user.to_string(), connected);
            }
        }
    }

    /// When the first batch is due, if any waits.
    fn due(&self, base: Duration) -> Option<Instant> {
        self.channels.values().map(|batch| batch.due(base)).min()
    }

    /// Takes the batches due at `now` (`None`: all of them).
    fn take_due(&mut self, base: Duration, now: Option<Instant>) -> Vec<(Arc<str>, IndexMap<String, bool>)> {
        let is_due = |batch: &Batch| now.is_none_or(|now| batch.due(base) <= now);
        if self.channels.values().all(is_due) {
            return self.channels.drain().map(|(channel, batch)| (channel, batch.changes)).collect();
        }
        let due: Vec<Arc<str>> =
            self.channels.iter().filter(|(_, batch)| is_due(batch)).map(|(channel, _)| channel.clone()).collect();
        due.into_iter()
            .filter_map(|channel| self.channels.remove(&channel).map(|batch| (channel, batch.changes)))
            .collect()
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
            let name = self.channel_name(channel);
            self.pending_presence.add(name, user, connected, self.now, members);
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

    /// When coalesced presence changes are next due, if any wait.
    pub fn presence_due(&self) -> Option<Instant> {
        self.pending_presence.due(self.service.shared.config.presence_interval)
    }

    /// Sends the batches of presence changes that are due, one `online-updates` per channel.
    pub fn flush_due_presence(&mut self) {
        self.flush_presence_at(Some(self.now));
    }

    /// Sends every waiting batch of presence changes, due or not (shutdown).
    pub fn flush_presence(&mut self) {
        self.flush_presence_at(None);
    }

    fn flush_presence_at(&mut self, now: Option<Instant>) {
        let pending = self.pending_presence.take_due(self.service.shared.config.presence_interval, now);
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
/// times as the channel grows past 1,000 members (one step per 1,000), so the frames a join storm costs per
/// second stay bounded (every batch goes to every member) while a member still learns of a
/// join within half a second at the default interval.
fn interval_for(base: Duration, members: usize) -> Duration {
    base * (members / 1_000).clamp(1, 5) as u32
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
        pending.add(Arc::from("c"), "ann", true, now, 100);
        pending.add(Arc::from("c"), "bob", true, now, 101);
        pending.add(Arc::from("c"), "ann", false, now, 100);
        pending.add(Arc::from("c"), "cid", false, now, 99);
        let changes = &pending.channels["c"].changes;
        let update = summarize(changes, 10);
        assert_eq!((update.joined, update.left), (vec!["bob"], vec!["cid"]));
        assert_eq!(pending.due(Duration::from_millis(100)), Some(now + Duration::from_millis(100)));
    }

    #[test]
    fn a_growing_channel_waits_for_the_interval_of_its_current_size() {
        let base = Duration::from_millis(100);
        let mut pending = PendingPresence::default();
        let start = Instant::now();
        pending.add(Arc::from("big"), "u0", true, start, 1_000);
        assert_eq!(pending.due(base), Some(start + base));
        // The channel doubled before the batch was due: it waits for the doubled interval.
        pending.add(Arc::from("big"), "u1", true, start + base / 2, 2_000);
        assert_eq!(pending.due(base), Some(start + base * 2));
        assert!(pending.take_due(base, Some(start + base)).is_empty());
        // However big it grows, a batch waits five intervals at most from its first change.
        pending.add(Arc::from("big"), "u2", true, start + base, 1_000_000);
        assert_eq!(pending.due(base), Some(start + base * 5));
        pending.add(Arc::from("small"), "v0", true, start + base, 65);
        let due = pending.take_due(base, Some(start + base * 2));
        assert_eq!(due.iter().map(|(channel, _)| &**channel).collect::<Vec<_>>(), ["small"]);
        let due = pending.take_due(base, Some(start + base * 5));
        assert_eq!(due[0].1.len(), 3);
        assert!(pending.due(base).is_none());
    }

    #[test]
    fn big_channels_wait_longer_up_to_five_intervals() {
        let base = Duration::from_millis(100);
        assert_eq!(interval_for(base, 65), base);
        assert_eq!(interval_for(base, 2_000), base * 2);
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
