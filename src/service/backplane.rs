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

    /// A JSON view of the cluster for the admin interface (nodes, link state).
    fn cluster_status(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}
