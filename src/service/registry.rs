//! The cold-path registry: every live connection, the channels it is in, and its user,
//! shared by all workers and read by queries and the admin interface.
//!
//! It changes on connect, join, leave and disconnect, never per message, so one `RwLock`
//! is enough. Workers keep their own channel index for fan-out; this registry is the
//! node-wide view (who is where, which worker owns a connection), and it reports the
//! transitions that presence and scale-out act on: a user's first or last connection in a
//! channel, a channel's first or last member on this node, a user's first or last connection.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::channel_list::ChannelList;
use super::connection::{ConnId, Connection, ConnectionInfo};
use super::members::Members;

struct Entry {
    conn: Arc<Connection>,
    worker: usize,
    channels: ChannelList,
}

/// A channel on this node: its member connections, and how many each authenticated user
/// has in it. An anonymous connection is a user of its own (its id is the connection id),
/// so it is only counted, never keyed: a channel of anonymous clients has no user table at
/// all (32 bytes, a B-tree slot of 48 with its name; `a_channel_entry_stays_small`).
#[derive(Default)]
struct ChannelEntry {
    members: Members<ConnId>,
    /// Authenticated users and their member connections; `None` while there are none.
    users: Option<Box<Users>>,
}

/// The authenticated users of a channel and how many member connections they have.
#[derive(Default)]
struct Users {
    counts: HashMap<String, u32>,
    /// The sum of `counts`: members minus this are anonymous.
    connections: u32,
}

impl ChannelEntry {
    /// Anonymous member connections (each a user of its own).
    fn anonymous(&self) -> usize {
        self.members.len() - self.users.as_ref().map_or(0, |u| u.connections as usize)
    }

    /// Distinct users: the authenticated ones and every anonymous connection.
    fn user_count(&self) -> usize {
        self.users.as_ref().map_or(0, |u| u.counts.len()) + self.anonymous()
    }

    fn has_authenticated(&self, user: &str) -> bool {
        self.users.as_ref().is_some_and(|u| u.counts.contains_key(user))
    }

    /// Counts an authenticated member connection; true if it is the user's first.
    fn add_user(&mut self, user: &str) -> bool {
        let users = self.users.get_or_insert_with(Default::default);
        users.connections += 1;
        let count = users.counts.entry(user.to_string()).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// Uncounts an authenticated member connection; true if it was the user's last.
    fn remove_user(&mut self, user: &str) -> bool {
        let Some(users) = self.users.as_mut() else { return false };
        let Some(count) = users.counts.get_mut(user) else { return false };
        users.connections -= 1;
        *count -= 1;
        if *count > 0 {
            return false;
        }
        users.counts.remove(user);
        if users.counts.is_empty() {
            self.users = None;
        }
        true
    }
}

#[derive(Default)]
struct Inner {
    conns: conns::Conns,
    channels: BTreeMap<Arc<str>, ChannelEntry>,
    /// Authenticated users' connections (anonymous ones are found by their connection id).
    users: HashMap<String, Vec<ConnId>>,
}

/// A channel and how many connections and distinct users are in it.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The channel's name.
    pub name: String,
    /// Member connections on this node.
    pub members: usize,
    /// Distinct users among them.
    pub users: usize,
    /// Messages its history keeps on this node (0: none).
    pub history: usize,
}

/// A user and their connections on this node.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct UserInfo {
    /// The user id.
    pub id: String,
    /// The display name.
    pub name: String,
    /// Their connections on this node.
    pub connections: Vec<ConnId>,
}

/// What a join changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Joined {
    /// The connection was not a member before.
    pub joined: bool,
    /// It is its user's first connection in the channel (announce the user).
    pub user_first: bool,
    /// The channel had no member on this node before.
    pub channel_created: bool,
    /// Member connections of the channel on this node, after the join.
    pub members: usize,
}

/// What a leave changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Left {
    pub left: bool,
    /// It was its user's last connection in the channel.
    pub user_last: bool,
    /// The channel has no member left on this node (it is deleted).
    pub channel_deleted: bool,
    /// Member connections of the channel left on this node.
    pub members: usize,
}

#[derive(Default)]
pub struct Registry {
    inner: RwLock<Inner>,
}

impl Registry {
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a connection; true if it is its user's first on this node.
    pub fn add(&self, conn: Arc<Connection>, worker: usize) -> bool {
        let mut inner = self.write();
        let first = conn.profile.anonymous || {
            let conns = inner.users.entry(conn.profile.id.clone()).or_default();
            conns.push(conn.id);
            conns.len() == 1
        };
        inner.conns.insert(Entry { conn, worker, channels: ChannelList::default() });
        first
    }

    /// Removes a connection (after it left its channels); true if it was its user's last.
    pub fn remove(&self, id: &ConnId) -> bool {
        let mut inner = self.write();
        let Some(entry) = inner.conns.remove(id) else { return false };
        for channel in &entry.channels {
            remove_member(&mut inner.channels, channel, id, &entry.conn.profile);
        }
        if entry.conn.profile.anonymous {
            return true;
        }
        let user = &entry.conn.profile.id;
        let Some(conns) = inner.users.get_mut(user) else { return false };
        conns.retain(|c| c != id);
        if conns.is_empty() {
            inner.users.remove(user);
            return true;
        }
        false
    }

    /// Records a join.
    pub fn join(&self, id: &ConnId, channel: &str) -> Joined {
        let mut inner = self.write();
        let Inner { conns, channels, .. } = &mut *inner;
        let Some(entry) = conns.get_mut(id) else { return Joined::default() };
        if entry.channels.contains(channel) {
            return Joined::default();
        }
        let channel_created = !channels.contains_key(channel);
        let name: Arc<str> = match channels.get_key_value(channel) {
            Some((name, _)) => name.clone(),
            None => Arc::from(channel),
        };
        entry.channels.push(name.clone());
        let members = channels.entry(name).or_default();
        members.members.insert(*id);
        let member_count = members.members.len();
        let user_first = entry.conn.profile.anonymous || members.add_user(&entry.conn.profile.id);
        Joined { joined: true, user_first, channel_created, members: member_count }
    }

    /// Records a leave; an emptied channel is deleted.
    pub fn leave(&self, id: &ConnId, channel: &str) -> Left {
        let mut inner = self.write();
        let Inner { conns, channels, .. } = &mut *inner;
        let Some(entry) = conns.get_mut(id) else { return Left::default() };
        if !entry.channels.remove(channel) {
            return Left::default();
        }
        let (user_last, channel_deleted) = remove_member(channels, channel, id, &entry.conn.profile);
        let members = channels.get(channel).map_or(0, |c| c.members.len());
        Left { left: true, user_last, channel_deleted, members }
    }

    /// The worker that owns a connection.
    pub fn worker_of(&self, id: &ConnId) -> Option<usize> {
        self.read().conns.get(id).map(|e| e.worker)
    }

    /// Every connection of a user, with its worker.
    pub fn user_connections(&self, user: &str) -> Vec<(ConnId, usize)> {
        let inner = self.read();
        let Some(ids) = inner.users.get(user) else {
            let anonymous = user.parse::<ConnId>().ok().and_then(|id| inner.conns.get(&id).map(|e| (id, e)));
            return anonymous
                .filter(|(_, e)| e.conn.profile.anonymous)
                .map(|(id, e)| (id, e.worker))
                .into_iter()
                .collect();
        };
        ids.iter().filter_map(|id| inner.conns.get(id).map(|e| (*id, e.worker))).collect()
    }

    pub fn connection_count(&self) -> usize {
        self.read().conns.len()
    }

    pub fn channel_count(&self) -> usize {
        self.read().channels.len()
    }

    pub fn connection(&self, id: &ConnId) -> Option<ConnectionInfo> {
        self.read().conns.get(id).map(info)
    }

    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let inner = self.read();
        let mut all: Vec<ConnectionInfo> = inner.conns.values().map(info).collect();
        all.sort_by_key(|c| (c.connected_at, c.id));
        all
    }

    pub fn connections_by_channel(&self, channel: &str) -> Vec<ConnectionInfo> {
        let inner = self.read();
        let Some(entry) = inner.channels.get(channel) else { return Vec::new() };
        let mut members: Vec<ConnectionInfo> =
            entry.members.iter().filter_map(|id| inner.conns.get(id)).map(info).collect();
        members.sort_by_key(|c| (c.connected_at, c.id));
        members
    }

    /// Member connections of a channel on this node.
    pub fn member_count(&self, channel: &str) -> usize {
        self.read().channels.get(channel).map_or(0, |entry| entry.members.len())
    }

    /// Whether a user (an anonymous one: its connection id) is in a channel on this node.
    pub fn has_user(&self, channel: &str, user: &str) -> bool {
        let inner = self.read();
        let Some(entry) = inner.channels.get(channel) else { return false };
        entry.has_authenticated(user)
            || (entry.anonymous() > 0 && user.parse::<ConnId>().is_ok_and(|id| entry.members.contains(&id)))
    }

    /// Distinct user ids present in a channel, sorted.
    pub fn online(&self, channel: &str) -> Vec<String> {
        let inner = self.read();
        let Some(entry) = inner.channels.get(channel) else { return Vec::new() };
        let mut users: Vec<String> = entry.users.iter().flat_map(|u| u.counts.keys().cloned()).collect();
        if entry.anonymous() > 0 {
            let anonymous =
                entry.members.iter().filter(|id| inner.conns.get(id).is_some_and(|e| e.conn.profile.anonymous));
            users.extend(anonymous.map(ConnId::to_string));
        }
        users.sort();
        users
    }

    pub fn channels(&self) -> Vec<ChannelInfo> {
        let inner = self.read();
        inner
            .channels
            .iter()
            .map(|(name, e)| ChannelInfo {
                name: name.to_string(),
                members: e.members.len(),
                users: e.user_count(),
                history: 0,
            })
            .collect()
    }

    /// Every authenticated user with connections on this node (each anonymous connection
    /// is a user of its own and is listed with the connections, not here).
    pub fn users(&self) -> Vec<UserInfo> {
        let inner = self.read();
        let mut users: Vec<UserInfo> = inner
            .users
            .iter()
            .map(|(id, conns)| UserInfo {
                id: id.clone(),
                name: conns
                    .first()
                    .and_then(|c| inner.conns.get(c))
                    .map_or_else(String::new, |e| e.conn.profile.name.to_string()),
                connections: conns.clone(),
            })
            .collect();
        users.sort_by(|a, b| a.id.cmp(&b.id));
        users
    }
}

/// Removes a member; returns (it was its user's last in the channel, the channel emptied).
fn remove_member(
    channels: &mut BTreeMap<Arc<str>, ChannelEntry>,
    channel: &str,
    id: &ConnId,
    profile: &crate::service::Profile,
) -> (bool, bool) {
    let Some(entry) = channels.get_mut(channel) else { return (false, false) };
    if !entry.members.swap_remove(id) {
        return (false, false);
    }
    let user_last = profile.anonymous || entry.remove_user(&profile.id);
    if entry.members.is_empty() {
        channels.remove(channel);
        return (user_last, true);
    }
    (user_last, false)
}

fn info(entry: &Entry) -> ConnectionInfo {
    let conn = &entry.conn;
    ConnectionInfo {
        id: conn.id,
        user: conn.profile.clone(),
        remote: conn.remote.to_string(),
        path: conn.path.to_string(),
        channels: entry.channels.iter().map(|c| c.to_string()).collect(),
        connected_at: conn.connected_at / 1000,
        worker: entry.worker,
        counters: conn.counters.snapshot(),
    }
}

mod conns;
#[cfg(test)]
mod tests;
