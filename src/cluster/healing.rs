//! Tells this node's members about presence that changed elsewhere in the cluster without
//! the `online-update` that normally carries it: another node expired, said goodbye, or came
//! back with a snapshot that differs from what we had (the view works out which users); and
//! spots another node's `online-update` that is no news here, to be dropped.
//! Skips users this node has in the channel itself (its own announcements cover them) and
//! channels it has no member of, and hands the rest to `Service::announce_presence`, the
//! one entry point for such announcements. Decides nothing about the view; sends nothing
//! to Redis (every node tells its own members).

use std::collections::{BTreeMap, HashSet};

use std::sync::atomic::Ordering::Relaxed;

use uuid::Uuid;

use super::stats::Stats;
use super::view::{Change, View};
use crate::service::Service;

/// Whether another node's `online-update` for `user` in `channel` is no news to this node's
/// members: the user is here too, or on a third node, so they saw the user online all along
/// (the origin's view of the cluster lagged when it announced: it had just linked up).
pub fn already_known(service: &Service, view: &View, origin: Uuid, channel: &str, user: &str) -> bool {
    view.has_user_besides(origin, channel, user) || service.shared.registry.has_user(channel, user)
}

/// Announces `changes` to this node's members, one batch per channel; returns how many.
pub fn tell_members(service: &Service, stats: &Stats, changes: Vec<Change>) -> usize {
    let registry = &service.shared.registry;
    let mut per_channel: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for Change { channel, user, connected } in changes {
        per_channel.entry(channel).or_default().push((user, connected));
    }
    let mut told = 0;
    for (channel, changes) in per_channel {
        let here: HashSet<String> = registry.online(&channel).into_iter().collect();
        // No member here to tell; a user who is here too is still online.
        let news: Vec<(String, bool)> = changes.into_iter().filter(|(user, _)| !here.contains(user)).collect();
        if here.is_empty() || news.is_empty() {
            continue;
        }
        told += news.len();
        service.announce_presence(&channel, news);
    }
    stats.presence_healed.fetch_add(told as u64, Relaxed);
    told
}
