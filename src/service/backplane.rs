//! Scale-out: the `Backplane` trait that carries writes between switchyard nodes (Redis
//! pub/sub in the binary), and what a node does with a write that arrives from another.
//!
//! A write to a channel, a user or everyone is fanned out locally first, then handed to
//! the backplane once (the frame already encoded); each other node fans it out to its own
//! members through the same shared-buffer path. The backplane also learns when this node
//! gains its first or loses its last member of a channel (or connection of a user), so it
//! subscribes only to what the node's members need. Its methods are called on event
//! loops: they must never block (queue the work to the backplane's own thread).

use super::connection::ConnId;
use crate::wire::frame::SharedFrame;

/// What a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    Channel(&'a str),
    User(&'a str),
    All,
}

/// What a channel's history keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Messages kept.
    pub size: u32,
    /// Age limit of a message (zero: none).
    pub ttl: std::time::Duration,
}

/// A node's link to the others.
pub trait Backplane: Send + Sync + 'static {
    /// A write made on this node (already delivered here), for the other nodes.
    fn publish(&self, scope: Scope<'_>, frame: &SharedFrame, except: Option<ConnId>);

    /// This node now has a member in this channel, or a connection of this user.
    fn occupied(&self, _scope: Scope<'_>) {}

    /// This node no longer has any.
    fn vacated(&self, _scope: Scope<'_>) {}

    /// Whether another node has this user in this channel (then this node's first or last
    /// connection of the user is no presence change for the cluster). Answer from memory.
    fn user_elsewhere(&self, _channel: &str, _user: &str) -> bool {
        false
    }

    /// The distinct users in a channel across all nodes, if the backplane knows them.
    fn online(&self, _channel: &str) -> Option<Vec<String>> {
        None
    }

    /// This node is shutting down and its sessions have ended (their departures are
    /// published): tell the other nodes to drop it now. May wait, briefly and bounded.
    fn goodbye(&self) {}

    /// Whether this backplane keeps channel history itself (offsets the same on every
    /// node): then a write to a channel with history goes to `publish_history` instead of
    /// being delivered here first, and positions and recoveries come from `recover`.
    fn keeps_history(&self) -> bool {
        false
    }

    /// A write to a channel with history, encoded without offset and epoch: the backplane
    /// gives it its offset and delivers it on every node, this one included, in the order
    /// it assigned. False if it cannot now (link down): the caller delivers it as any other
    /// write, without offset.
    fn publish_history(
        &self,
        _channel: &str,
        _frame: &SharedFrame,
        _except: Option<ConnId>,
        _limits: HistoryLimits,
    ) -> bool {
        false
    }

    /// A connection joined a channel with history: its position and, with `since` (the
    /// client's offset and epoch), the messages after it are answered later to the
    /// connection's worker. Exactly one answer follows (unavailable when the backplane
    /// cannot read the history now).
    fn recover(&self, _conn: ConnId, _channel: &str, _since: Option<(u64, &str)>, _limits: HistoryLimits) {}

    /// A JSON view of the cluster for the admin interface (nodes, link state).
    fn cluster_status(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}
