//! The cold-path registry: every live connection, the channels it is in, and its user,
//! shared by all workers and read by queries and the admin interface.
//!
//! It changes on connect, join, leave and disconnect, never per message, so one `RwLock`
//! is enough. Workers keep their own channel index for fan-out; this registry is the
//! cluster-of-workers view (who is where, which worker owns a connection).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::connection::{unix_seconds, ConnId, Connection, ConnectionInfo};

struct Entry {
    conn: Arc<Connection>,
    worker: usize,
    channels: BTreeSet<String>,
}

#[derive(Default)]
struct Inner {
    conns: HashMap<ConnId, Entry>,
    channels: BTreeMap<String, HashSet<ConnId>>,
    users: HashMap<String, HashSet<ConnId>>,
}

/// A channel and how many connections are in it.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct ChannelInfo {
    pub name: String,
    pub members: usize,
    pub users: usize,
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

    pub fn add(&self, conn: Arc<Connection>, worker: usize) {
        let mut inner = self.write();
        inner.users.entry(conn.profile.id.clone()).or_default().insert(conn.id);
        inner.conns.insert(conn.id, Entry { conn, worker, channels: BTreeSet::new() });
    }

    /// Removes a connection from the registry and every channel.
    pub fn remove(&self, id: &ConnId) {
        let mut inner = self.write();
        let Some(entry) = inner.conns.remove(id) else {
            return;
        };
        for channel in &entry.channels {
            remove_member(&mut inner.channels, channel, id);
        }
        let user = &entry.conn.profile.id;
        if let Some(conns) = inner.users.get_mut(user) {
            conns.remove(id);
            if conns.is_empty() {
                inner.users.remove(user);
            }
        }
    }

    /// Records a join; false if the connection is unknown or already a member.
    pub fn join(&self, id: &ConnId, channel: &str) -> bool {
        let mut inner = self.write();
        let Some(entry) = inner.conns.get_mut(id) else {
            return false;
        };
        if !entry.channels.insert(channel.to_string()) {
            return false;
        }
        inner.channels.entry(channel.to_string()).or_default().insert(*id);
        true
    }

    /// Records a leave; false if it was not a member. An emptied channel is deleted.
    pub fn leave(&self, id: &ConnId, channel: &str) -> bool {
        let mut inner = self.write();
        let Some(entry) = inner.conns.get_mut(id) else {
            return false;
        };
        if !entry.channels.remove(channel) {
            return false;
        }
        remove_member(&mut inner.channels, channel, id);
        true
    }

    /// The worker that owns a connection.
    pub fn worker_of(&self, id: &ConnId) -> Option<usize> {
        self.read().conns.get(id).map(|e| e.worker)
    }

    /// Every connection of a user, with its worker.
    pub fn user_connections(&self, user: &str) -> Vec<(ConnId, usize)> {
        let inner = self.read();
        let Some(ids) = inner.users.get(user) else {
            return Vec::new();
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
        let Some(ids) = inner.channels.get(channel) else {
            return Vec::new();
        };
        let mut members: Vec<ConnectionInfo> = ids.iter().filter_map(|id| inner.conns.get(id)).map(info).collect();
        members.sort_by_key(|c| (c.connected_at, c.id));
        members
    }

    /// Distinct user ids present in a channel, sorted.
    pub fn online(&self, channel: &str) -> Vec<String> {
        let inner = self.read();
        let Some(ids) = inner.channels.get(channel) else {
            return Vec::new();
        };
        let users: BTreeSet<String> =
            ids.iter().filter_map(|id| inner.conns.get(id)).map(|e| e.conn.profile.id.clone()).collect();
        users.into_iter().collect()
    }

    pub fn channels(&self) -> Vec<ChannelInfo> {
        let inner = self.read();
        inner
            .channels
            .iter()
            .map(|(name, ids)| {
                let users: HashSet<&str> =
                    ids.iter().filter_map(|id| inner.conns.get(id)).map(|e| e.conn.profile.id.as_str()).collect();
                ChannelInfo { name: name.clone(), members: ids.len(), users: users.len() }
            })
            .collect()
    }
}

fn remove_member(channels: &mut BTreeMap<String, HashSet<ConnId>>, channel: &str, id: &ConnId) {
    if let Some(members) = channels.get_mut(channel) {
        members.remove(id);
        if members.is_empty() {
            channels.remove(channel);
        }
    }
}

fn info(entry: &Entry) -> ConnectionInfo {
    let conn = &entry.conn;
    ConnectionInfo {
        id: conn.id,
        user: conn.profile.clone(),
        remote: conn.remote.to_string(),
        path: conn.path.clone(),
        channels: entry.channels.iter().cloned().collect(),
        connected_at: unix_seconds(conn.connected_at),
        worker: entry.worker,
        counters: conn.counters.snapshot(),
    }
}
