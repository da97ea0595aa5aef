//! The link thread's timekeeping: this node's state (presence changes) every heartbeat,
//! the expiry of nodes silent too long (their users announced gone here), and the goodbye
//! of a clean shutdown (last changes, then a message that makes the others drop this node
//! at once). Runs on the link thread only.

use std::net::Shutdown;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::{Link, NodeSource};
use crate::cluster::healing;
use crate::cluster::nodes::{NodeMessage, NodeState};
use crate::cluster::presence::Changes;

impl Link {
    pub(super) fn tick(&mut self) {
        let now = Instant::now();
        self.expire_silent_nodes(now);
        self.expire_waiting(now);
        if self.conn.is_none() {
            return;
        }
        let heartbeat = now >= self.next_heartbeat;
        if heartbeat || self.presence.has_news() {
            self.send_state(heartbeat);
        }
        if heartbeat {
            self.next_heartbeat = now + self.shared.heartbeat;
            self.sub_command(&[b"PING"]);
        }
    }

    /// Drops the nodes silent for longer than the expiry and tells this node's members that
    /// their users are gone (once per user and channel). Runs whether or not Redis is up:
    /// cut off, this node cannot see the others either.
    fn expire_silent_nodes(&mut self, now: Instant) {
        let expiry = self.shared.expiry;
        let (gone, changes) = self.shared.view_mut().expire(now, expiry);
        if gone.is_empty() {
            return;
        }
        let stats = &self.shared.stats;
        stats.nodes_expired.fetch_add(gone.len() as u64, Relaxed);
        let (users, told) = (changes.len(), healing::tell_members(&self.service, stats, changes));
        for node in gone {
            log::warn!("cluster: node {node} is gone (no heartbeat for {expiry:?}); its presence is dropped");
        }
        log::info!("cluster: {users} users left with the nodes gone; {told} departures announced here");
    }

    /// Publishes this node's state: always on a heartbeat, else only with presence news.
    /// A snapshot after a (re)connect is news: the changes made while cut off were never
    /// announced. One another node asked for is not: the pending changes go first as a delta
    /// (their `online-update`s went out already), then the snapshot of what the deltas said,
    /// which brings nothing new to the nodes in step.
    pub(super) fn send_state(&mut self, heartbeat: bool) {
        let asked = std::mem::take(&mut self.snapshot_asked);
        let changes = if asked {
            let pending = self.presence.take_delta(&NodeSource(&self.service));
            if !pending.presence.is_empty() {
                self.publish_state(pending, false);
            }
            self.presence.announced_snapshot()
        } else {
            self.presence.take(&NodeSource(&self.service), heartbeat)
        };
        if !heartbeat && !changes.full && changes.presence.is_empty() {
            return;
        }
        let news = changes.full && !asked;
        let message = self.publish_state(changes, news);
        if heartbeat {
            self.refresh_node_key(&message);
        }
    }

    fn publish_state(&mut self, changes: Changes, news: bool) -> NodeMessage {
        self.seq += 1;
        let state = NodeState {
            node: self.shared.node,
            seq: self.seq,
            addr: self.service.local_addr().map_or_else(|| self.shared.listen.clone(), |a| a.to_string()),
            connections: self.service.shared.registry.connection_count() as u64,
            started: self.shared.started,
            full: changes.full,
            news,
            presence: changes.presence,
        };
        let message = NodeMessage::State(state);
        self.send_node_message(&message);
        message
    }

    /// `{prefix}:node:{id}`: the node's state, expiring unless refreshed (for operators).
    fn refresh_node_key(&mut self, message: &NodeMessage) {
        let NodeMessage::State(state) = message else { return };
        let summary =
            serde_json::json!({"addr": state.addr, "connections": state.connections, "started": state.started});
        let key = self.shared.topics.node_key(&self.shared.node);
        let ttl = self.shared.expiry.as_millis().max(1).to_string();
        self.queue(&[b"SET", key.as_bytes(), summary.to_string().as_bytes(), b"PX", ttl.as_bytes()]);
    }

    /// A clean shutdown, once this node's sessions have ended: the last presence changes
    /// (their departures went out as `online-update`s), the node key deleted, the goodbye;
    /// then the connections close and the thread ends.
    pub(super) fn say_goodbye(&mut self) {
        self.left = true;
        if self.conn.is_none() {
            log::warn!("cluster: leaving without a goodbye (redis is unreachable); the others will expire this node");
            return;
        }
        self.send_state(true);
        let key = self.shared.topics.node_key(&self.shared.node);
        self.queue(&[b"DEL", key.as_bytes()]);
        self.send_node_message(&NodeMessage::Goodbye { node: self.shared.node });
        self.flush();
        if let Some(conn) = self.conn.take() {
            conn.publisher.shutdown();
            let _ = conn.sub.shutdown(Shutdown::Both);
            log::info!("cluster: said goodbye to the other nodes");
        }
    }
}
