//! The messages nodes exchange on `{prefix}:nodes` (JSON, cold path): a node's state
//! (heartbeat: id, address, connection count, and presence changes since its previous
//! state, numbered so a receiver notices a gap), a request for a full presence snapshot
//! (from one node, or from every node when a node links up), and a node's goodbye when it
//! shuts down cleanly.
//! Types and (de)serialization only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum NodeMessage {
    State(NodeState),
    /// `from` missed some of `node`'s states: `node`, send a full snapshot.
    Sync {
        node: Uuid,
        from: Uuid,
    },
    /// `node` has just linked up (started, or back after losing Redis): everyone, send your
    /// full snapshot, so it is in step at once rather than a heartbeat later.
    Hello {
        node: Uuid,
    },
    /// `node` is shutting down cleanly: forget it now (and its presence), not at expiry.
    Goodbye {
        node: Uuid,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeState {
    pub node: Uuid,
    /// One more than the sender's previous state.
    pub seq: u64,
    pub addr: String,
    pub connections: u64,
    /// Unix seconds the node started.
    pub started: u64,
    /// `presence` is everything (replace), not changes.
    #[serde(default)]
    pub full: bool,
    /// A full snapshot whose differences no `online-update` announced (the node was cut off
    /// from Redis, or has just started): receivers announce them to their members.
    #[serde(default)]
    pub news: bool,
    /// Per channel, the users now present on the node (`add`) and gone from it (`remove`).
    #[serde(default)]
    pub presence: BTreeMap<String, Delta>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}
