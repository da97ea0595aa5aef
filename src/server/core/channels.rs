//! The worker's local channel index (channel → member slots) and membership changes:
//! join and leave, with the registry, authorizer and backplane told. Presence messages are
//! `presence.rs`'s job.

use super::*;

impl WorkerCore {
    // ---- channels ----------------------------------------------------------------------

    /// Joins a local connection to a channel; tells the other members. False if it was
    /// already a member or is not open.
    pub(super) fn join_here(&mut self, slot: Slot, channel: &str) -> bool {
        self.join_here_from(slot, channel, None)
    }

    /// A join; in a channel with history the connection is then told its position, or
    /// with `since` sent what it missed (`recovery.rs`).
    pub(super) fn join_here_from(
        &mut self,
        slot: Slot,
        channel: &str,
        since: Option<crate::service::history::Position>,
    ) -> bool {
        let Some(conn) = self.conns.get_mut(slot).filter(|c| c.is_open()) else {
            return false;
        };
        if conn.in_channel(channel) || !valid_channel_name(channel) {
            return false;
        }
        if conn.channels.len() >= self.service.shared.config.max_channels_per_connection {
            let limit = self.service.shared.config.max_channels_per_connection;
            self.send_error(slot, "limit", &format!("a connection may be in at most {limit} channels"));
            return false;
        }
        let Some(session) = conn.session.clone() else { return false };
        if !self.authorized(&session.profile, channel, ChannelAction::Join) {
            self.send_error(slot, "forbidden", &format!("not allowed to join '{channel}'"));
            return false;
        }
        let name = match self.channels.get_key_value(channel) {
            Some((name, _)) => name.clone(),
            None if &*session.channel == channel => session.channel.clone(),
            None => Arc::from(channel),
        };
        let Some(conn) = self.conns.get_mut(slot) else { return false };
        conn.channels.push(name.clone());
        self.channels.entry(name.clone()).or_default().insert(slot);
        if self.service.shared.history_size(channel) > 0 {
            self.start_recovery(slot, session.id, name, since);
        }
        let joined = self.service.shared.registry.join(&session.id, channel);
        if joined.channel_created {
            if let Some(backplane) = self.service.shared.backplane.get() {
                backplane.occupied(Scope::Channel(channel));
            }
        }
        if joined.user_first && !self.user_elsewhere(channel, &session.profile.id) {
            self.announce(channel, &session.profile.id, true, session.id, joined.members);
        }
        true
    }

    /// Whether another node of the cluster has this user in this channel.
    pub(super) fn user_elsewhere(&self, channel: &str, user: &str) -> bool {
        self.service.shared.backplane.get().is_some_and(|b| b.user_elsewhere(channel, user))
    }

    /// Whether the channel policy allows it; a panicking authorizer denies.
    pub(super) fn authorized(&self, profile: &Profile, channel: &str, action: ChannelAction) -> bool {
        let Some(authorizer) = self.service.shared.authorizer.get() else {
            return true;
        };
        self.isolated_apart("authorize", || authorizer.authorize(profile, channel, action)).unwrap_or(false)
    }

    /// Records a leave in the registry; tells the others if the user is gone from the
    /// channel, and the backplane if the channel is gone from this node.
    pub(super) fn record_leave(&mut self, id: ConnId, user: &str, channel: &str) {
        let left = self.service.shared.registry.leave(&id, channel);
        if left.channel_deleted {
            if let Some(backplane) = self.service.shared.backplane.get() {
                backplane.vacated(Scope::Channel(channel));
            }
        }
        if left.user_last && !self.user_elsewhere(channel, user) {
            self.announce(channel, user, false, id, left.members);
        }
    }

    /// Removes a local connection from a channel; tells the remaining members.
    pub(super) fn leave_here(&mut self, slot: Slot, channel: &str) -> bool {
        let Some(conn) = self.conns.get_mut(slot) else {
            return false;
        };
        if !conn.channels.remove(channel) {
            return false;
        }
        let (id, user) = session_ids(conn);
        self.recovering.forget(slot, Some(channel));
        self.remove_member(channel, slot);
        self.record_leave(id, &user, channel);
        true
    }

    pub(super) fn remove_member(&mut self, channel: &str, slot: Slot) {
        if let Some(members) = self.channels.get_mut(channel) {
            members.swap_remove(&slot);
            if members.is_empty() {
                self.channels.remove(channel);
            }
        }
    }
}
