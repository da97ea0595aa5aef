//! This node's view of the other nodes: their address, connection count, last heartbeat and
//! the users they have in each channel, built from their state messages. Answers `online()`
//! from memory; drops a node that has been silent too long. No I/O.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uuid::Uuid;

use super::nodes::{Delta, NodeState};

struct Node {
    addr: String,
    connections: u64,
    started: u64,
    seq: u64,
    /// Its presence is complete (a full snapshot, then every delta since).
    synced: bool,
    last_seen: Instant,
    asked_sync: Option<Instant>,
    presence: HashMap<String, HashSet<String>>,
}

#[derive(Default)]
pub struct View {
    nodes: HashMap<Uuid, Node>,
}

/// How long to wait before asking the same node for a snapshot again.
const ASK_AGAIN: Duration = Duration::from_secs(1);

impl View {
    /// Applies a node's state; true if we should ask it for a full snapshot.
    pub fn apply(&mut self, state: NodeState, now: Instant) -> bool {
        let node = self.nodes.entry(state.node).or_insert_with(|| Node {
            addr: String::new(),
            connections: 0,
            started: 0,
            seq: 0,
            synced: false,
            last_seen: now,
            asked_sync: None,
            presence: HashMap::new(),
        });
        let in_order = node.synced && state.seq == node.seq.wrapping_add(1);
        (node.addr, node.connections, node.started, node.seq, node.last_seen) =
            (state.addr, state.connections, state.started, state.seq, now);
        if state.full {
            node.presence.clear();
            apply_deltas(&mut node.presence, state.presence);
            node.synced = true;
            node.asked_sync = None;
            return false;
        }
        if in_order {
            apply_deltas(&mut node.presence, state.presence);
            return false;
        }
        node.synced = false;
        let ask = node.asked_sync.is_none_or(|at| now.duration_since(at) >= ASK_AGAIN);
        if ask {
            node.asked_sync = Some(now);
        }
        ask
    }

    /// Forgets nodes silent for longer than `max_silence`; returns them.
    pub fn expire(&mut self, now: Instant, max_silence: Duration) -> Vec<Uuid> {
        let stale: Vec<Uuid> = self
            .nodes
            .iter()
            .filter(|(_, node)| now.duration_since(node.last_seen) > max_silence)
            .map(|(id, _)| *id)
            .collect();
        for id in &stale {
            self.nodes.remove(id);
        }
        stale
    }

    /// Whether another node has `user` in `channel`.
    pub fn has_user(&self, channel: &str, user: &str) -> bool {
        self.nodes.values().any(|node| node.presence.get(channel).is_some_and(|users| users.contains(user)))
    }

    /// Adds the users the other nodes have in `channel`.
    pub fn online_into(&self, channel: &str, users: &mut BTreeSet<String>) {
        for node in self.nodes.values() {
            if let Some(present) = node.presence.get(channel) {
                users.extend(present.iter().cloned());
            }
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn json(&self, now: Instant) -> Vec<Value> {
        let mut nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|(id, node)| {
                json!({
                    "id": id,
                    "addr": node.addr,
                    "connections": node.connections,
                    "started": node.started,
                    "last_seen_ms": now.duration_since(node.last_seen).as_millis() as u64,
                    "presence_synced": node.synced,
                    "channels": node.presence.len(),
                })
            })
            .collect();
        nodes.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        nodes
    }
}

fn apply_deltas(presence: &mut HashMap<String, HashSet<String>>, deltas: impl IntoIterator<Item = (String, Delta)>) {
    for (channel, delta) in deltas {
        let users = presence.entry(channel.clone()).or_default();
        for user in delta.remove {
            users.remove(&user);
        }
        users.extend(delta.add);
        if users.is_empty() {
            presence.remove(&channel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn state(node: Uuid, seq: u64, full: bool, channel: &str, add: &[&str], remove: &[&str]) -> NodeState {
        let delta = Delta {
            add: add.iter().map(|s| s.to_string()).collect(),
            remove: remove.iter().map(|s| s.to_string()).collect(),
        };
        NodeState {
            node,
            seq,
            addr: "127.0.0.1:1".into(),
            connections: 1,
            started: 0,
            full,
            presence: BTreeMap::from([(channel.to_string(), delta)]),
        }
    }

    fn online(view: &View, channel: &str) -> Vec<String> {
        let mut users = BTreeSet::new();
        view.online_into(channel, &mut users);
        users.into_iter().collect()
    }

    #[test]
    fn deltas_in_order_apply_and_a_gap_asks_for_a_snapshot() {
        let (mut view, node, now) = (View::default(), Uuid::new_v4(), Instant::now());
        assert!(view.apply(state(node, 5, false, "c", &["a"], &[]), now), "unknown node: ask");
        assert!(online(&view, "c").is_empty(), "deltas before a snapshot are ignored");
        assert!(!view.apply(state(node, 6, true, "c", &["a", "b"], &[]), now));
        assert!(!view.apply(state(node, 7, false, "c", &["z"], &["a"]), now));
        assert_eq!(online(&view, "c"), ["b", "z"]);
        assert!(view.apply(state(node, 9, false, "c", &[], &["b"]), now), "gap: ask");
        assert!(!view.apply(state(node, 10, false, "c", &[], &["z"]), now), "asked already");
        assert!(!view.apply(state(node, 11, true, "d", &["q"], &[]), now));
        assert!(online(&view, "c").is_empty());
        assert_eq!(online(&view, "d"), ["q"]);
    }

    #[test]
    fn silent_nodes_expire() {
        let (mut view, node, now) = (View::default(), Uuid::new_v4(), Instant::now());
        view.apply(state(node, 1, true, "c", &["a"], &[]), now);
        assert!(view.expire(now + Duration::from_secs(1), Duration::from_secs(6)).is_empty());
        assert_eq!(view.expire(now + Duration::from_secs(7), Duration::from_secs(6)), [node]);
        assert!(online(&view, "c").is_empty());
    }
}
