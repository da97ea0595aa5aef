//! This node's view of the other nodes: their address, connection count, last heartbeat and
//! the users they have in each channel, built from their state messages. Answers `online()`
//! from memory; drops a node that has been silent too long or said goodbye. When another
//! node's presence changes without the `online-update`s that normally carry it (the node is
//! dropped, or comes back with a full snapshot that differs from what we had), it returns
//! those changes, for this node's members to be told. No I/O, no announcing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uuid::Uuid;

use super::nodes::{Delta, NodeState};

type Presence = HashMap<String, HashSet<String>>;

struct Node {
    addr: String,
    connections: u64,
    started: u64,
    seq: u64,
    /// Its presence is complete (a full snapshot, then every delta since).
    synced: bool,
    /// Our members know this node's presence as recorded here, so what a full snapshot
    /// changes is news to them. False for a node we never had (its users came before our
    /// members did, or were announced by its own `online-update`s): its first snapshot is
    /// taken silently, unless the node says it is news.
    baseline: bool,
    last_seen: Instant,
    asked_sync: Option<Instant>,
    presence: Presence,
}

impl Node {
    fn new(now: Instant, baseline: bool) -> Self {
        Node {
            addr: String::new(),
            connections: 0,
            started: 0,
            seq: 0,
            synced: false,
            baseline,
            last_seen: now,
            asked_sync: None,
            presence: HashMap::new(),
        }
    }

    fn has(&self, channel: &str, user: &str) -> bool {
        self.presence.get(channel).is_some_and(|users| users.contains(user))
    }
}

/// A user's presence in a channel that changed on another node without an `online-update`
/// telling this node's members, and that no other node in the view makes up for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub channel: String,
    pub user: String,
    pub connected: bool,
}

/// What applying a node's state did.
#[derive(Debug, Default)]
pub struct Applied {
    /// We missed some of its states: ask it for a full snapshot.
    pub ask_sync: bool,
    /// The node was not in the view (new, or back after being dropped).
    pub joined: bool,
    pub changes: Vec<Change>,
}

#[derive(Default)]
pub struct View {
    nodes: HashMap<Uuid, Node>,
    /// Nodes dropped (expired or said goodbye), and when: if one comes back, its users are
    /// news again, however we first hear from it.
    departed: HashMap<Uuid, Instant>,
}

/// How long to wait before asking the same node for a snapshot again.
const ASK_AGAIN: Duration = Duration::from_secs(1);
/// Dropped nodes remembered (the oldest are forgotten first).
const MAX_DEPARTED: usize = 4096;

impl View {
    /// Applies a node's state: whether to ask it for a snapshot, and the presence changes
    /// a full snapshot brings.
    pub fn apply(&mut self, state: NodeState, now: Instant) -> Applied {
        let id = state.node;
        let joined = !self.nodes.contains_key(&id);
        if joined {
            let baseline = self.departed.remove(&id).is_some();
            self.nodes.insert(id, Node::new(now, baseline));
        }
        let Some(node) = self.nodes.get_mut(&id) else { return Applied::default() };
        let in_order = node.synced && state.seq == node.seq.wrapping_add(1);
        (node.addr, node.connections, node.started, node.seq, node.last_seen) =
            (state.addr, state.connections, state.started, state.seq, now);
        if state.full {
            let changes = self.take_snapshot(id, state.presence, state.news);
            return Applied { ask_sync: false, joined, changes };
        }
        if in_order {
            apply_deltas(&mut node.presence, state.presence);
            return Applied { joined, ..Applied::default() };
        }
        node.synced = false;
        let ask_sync = node.asked_sync.is_none_or(|at| now.duration_since(at) >= ASK_AGAIN);
        if ask_sync {
            node.asked_sync = Some(now);
        }
        Applied { ask_sync, joined, changes: Vec::new() }
    }

    /// Replaces a node's presence with its full snapshot: what changed, if our members are
    /// to hear of it (we had told them its presence, or it says the snapshot is news), for
    /// the users no other node has.
    fn take_snapshot(&mut self, id: Uuid, snapshot: BTreeMap<String, Delta>, news: bool) -> Vec<Change> {
        let Some(node) = self.nodes.get_mut(&id) else { return Vec::new() };
        let before = std::mem::take(&mut node.presence);
        apply_deltas(&mut node.presence, snapshot);
        node.synced = true;
        node.asked_sync = None;
        let told = std::mem::replace(&mut node.baseline, true) || news;
        let flipped = if told { flips(&before, &node.presence) } else { Vec::new() };
        let mut changes: Vec<Change> =
            flipped.into_iter().filter(|c| !self.has_user_besides(id, &c.channel, &c.user)).collect();
        changes.sort();
        changes
    }

    /// Drops nodes silent for longer than `max_silence`: them, and their users now gone
    /// from the cluster (once per user and channel, however many of them had the user).
    pub fn expire(&mut self, now: Instant, max_silence: Duration) -> (Vec<Uuid>, Vec<Change>) {
        let stale: Vec<Uuid> = self
            .nodes
            .iter()
            .filter(|(_, node)| now.duration_since(node.last_seen) > max_silence)
            .map(|(id, _)| *id)
            .collect();
        let changes = self.drop_nodes(&stale, now);
        (stale, changes)
    }

    /// Drops a node that said goodbye: its users now gone from the cluster (None if unknown).
    pub fn remove(&mut self, id: Uuid, now: Instant) -> Option<Vec<Change>> {
        self.nodes.contains_key(&id).then(|| self.drop_nodes(&[id], now))
    }

    fn drop_nodes(&mut self, ids: &[Uuid], now: Instant) -> Vec<Change> {
        let mut gone: BTreeSet<(String, String)> = BTreeSet::new();
        for id in ids {
            let Some(node) = self.nodes.remove(id) else { continue };
            self.departed.insert(*id, now);
            for (channel, users) in node.presence {
                gone.extend(users.into_iter().map(|user| (channel.clone(), user)));
            }
        }
        if self.departed.len() > MAX_DEPARTED {
            if let Some(oldest) = self.departed.iter().min_by_key(|(_, at)| **at).map(|(id, _)| *id) {
                self.departed.remove(&oldest);
            }
        }
        gone.into_iter()
            .filter(|(channel, user)| !self.has_user(channel, user))
            .map(|(channel, user)| Change { channel, user, connected: false })
            .collect()
    }

    /// Whether another node has `user` in `channel`.
    pub fn has_user(&self, channel: &str, user: &str) -> bool {
        self.nodes.values().any(|node| node.has(channel, user))
    }

    /// Whether a node other than `besides` has `user` in `channel`.
    pub fn has_user_besides(&self, besides: Uuid, channel: &str, user: &str) -> bool {
        self.nodes.iter().any(|(id, node)| *id != besides && node.has(channel, user))
    }

    /// Adds the users the other nodes have in `channel`.
    pub fn online_into(&self, channel: &str, users: &mut BTreeSet<String>) {
        for node in self.nodes.values() {
            if let Some(present) = node.presence.get(channel) {
                users.extend(present.iter().cloned());
            }
        }
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

fn apply_deltas(presence: &mut Presence, deltas: impl IntoIterator<Item = (String, Delta)>) {
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

/// Who is in `after` and not `before` (connected), and the other way round.
fn flips(before: &Presence, after: &Presence) -> Vec<Change> {
    let mut changes = Vec::new();
    for (from, to, connected) in [(before, after, true), (after, before, false)] {
        for (channel, users) in to {
            let known = from.get(channel);
            let new = users.iter().filter(|user| !known.is_some_and(|known| known.contains(*user)));
            changes.extend(new.map(|user| Change { channel: channel.clone(), user: user.clone(), connected }));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

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
            news: false,
            presence: BTreeMap::from([(channel.to_string(), delta)]),
        }
    }

    fn online(view: &View, channel: &str) -> Vec<String> {
        let mut users = BTreeSet::new();
        view.online_into(channel, &mut users);
        users.into_iter().collect()
    }

    fn change(channel: &str, user: &str, connected: bool) -> Change {
        Change { channel: channel.into(), user: user.into(), connected }
    }

    #[test]
    fn deltas_in_order_apply_and_a_gap_asks_for_a_snapshot() {
        let (mut view, node, now) = (View::default(), Uuid::new_v4(), Instant::now());
        let ask = |view: &mut View, state| view.apply(state, now).ask_sync;
        assert!(ask(&mut view, state(node, 5, false, "c", &["a"], &[])), "unknown node: ask");
        assert!(online(&view, "c").is_empty(), "deltas before a snapshot are ignored");
        assert!(!ask(&mut view, state(node, 6, true, "c", &["a", "b"], &[])));
        assert!(!ask(&mut view, state(node, 7, false, "c", &["z"], &["a"])));
        assert_eq!(online(&view, "c"), ["b", "z"]);
        assert!(ask(&mut view, state(node, 9, false, "c", &[], &["b"])), "gap: ask");
        assert!(!ask(&mut view, state(node, 10, false, "c", &[], &["z"])), "asked already");
        assert!(!ask(&mut view, state(node, 11, true, "d", &["q"], &[])));
        assert!(online(&view, "c").is_empty());
        assert_eq!(online(&view, "d"), ["q"]);
    }

    #[test]
    fn silent_nodes_expire_and_their_users_are_gone_once() {
        let (mut view, now) = (View::default(), Instant::now());
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        view.apply(state(a, 1, true, "room", &["ann", "both"], &[]), now);
        view.apply(state(b, 1, true, "room", &["bob", "both"], &[]), now);
        view.apply(state(c, 1, true, "room", &["both", "cid"], &[]), now + Duration::from_secs(5));
        assert_eq!(view.expire(now + Duration::from_secs(1), Duration::from_secs(6)), (vec![], vec![]));
        let (mut gone, changes) = view.expire(now + Duration::from_secs(7), Duration::from_secs(6));
        gone.sort();
        assert_eq!(gone, {
            let mut ab = vec![a, b];
            ab.sort();
            ab
        });
        assert_eq!(changes, [change("room", "ann", false), change("room", "bob", false)], "'both' is still on c");
        assert_eq!(online(&view, "room"), ["both", "cid"]);
        assert_eq!(view.remove(c, now), Some(vec![change("room", "both", false), change("room", "cid", false)]));
        assert_eq!(view.remove(c, now), None, "goodbye once");
        assert!(online(&view, "room").is_empty());
    }

    #[test]
    fn a_full_snapshot_brings_what_changed_unless_another_node_has_it() {
        let (mut view, now) = (View::default(), Instant::now());
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(view.apply(state(a, 1, true, "r", &["ann", "both"], &[]), now).changes.is_empty(), "first contact");
        view.apply(state(b, 1, true, "r", &["both"], &[]), now);
        let applied = view.apply(state(a, 2, true, "r", &["ann", "new"], &[]), now);
        assert_eq!(applied.changes, [change("r", "new", true)], "'both' is still on b; 'ann' unchanged");
        let applied = view.apply(state(a, 3, true, "s", &["ann"], &[]), now);
        assert_eq!(applied.changes, [change("r", "ann", false), change("r", "new", false), change("s", "ann", true)]);
    }

    #[test]
    fn a_node_we_never_had_is_news_only_if_it_says_so_or_we_had_dropped_it() {
        let (mut view, now) = (View::default(), Instant::now());
        let (node, fresh) = (Uuid::new_v4(), Uuid::new_v4());
        let news = NodeState { news: true, ..state(fresh, 1, true, "r", &["cut-off"], &[]) };
        assert_eq!(view.apply(news, now).changes, [change("r", "cut-off", true)], "joined while cut off");
        assert!(view.apply(state(node, 4, false, "r", &[], &[]), now).joined);
        assert!(view.apply(state(node, 5, true, "r", &["ann"], &[]), now).changes.is_empty(), "told by its frames");
        view.remove(fresh, now);
        assert_eq!(view.expire(now + Duration::from_secs(9), Duration::from_secs(6)).1, [change("r", "ann", false)]);
        let later = now + Duration::from_secs(10);
        let applied = view.apply(state(node, 9, false, "r", &[], &[]), later);
        assert!(applied.joined && applied.ask_sync && applied.changes.is_empty());
        let applied = view.apply(state(node, 10, true, "r", &["ann"], &[]), later);
        assert_eq!(applied.changes, [change("r", "ann", true)], "back: told again");
    }
}
