//! Scale-out: several switchyard nodes share channels, users and broadcasts through Redis
//! pub/sub. `join` links this node to the cluster; it must not block the caller on Redis
//! (an unreachable Redis is retried in the background) and nothing here runs on an event
//! loop except the non-blocking `RedisBackplane` methods.
//!
//! - `backplane.rs`: the `Backplane` the core calls (queue to the link thread, answer from memory).
//! - `link.rs`: the link thread (publisher connection, subscriptions, heartbeat, reconnects).
//! - `subscriber.rs`: the subscriber connection's reader thread (deliveries, node messages).
//! - `view.rs`, `presence.rs`, `nodes.rs`: the other nodes, our presence, their messages.
//! - `healing.rs`: presence changes no `online-update` carried (a node gone or back), told
//!   to this node's members.
//! - `history/`: channel history in Redis (`RedisHistory`, the node's `HistoryStore`, and
//!   its scripts), run by the link thread (`link/history.rs`).
//! - `envelope.rs`, `topics.rs`: what a carried write looks like, and Redis names.
//! - `conn.rs`, `resp.rs`, `url.rs`: a minimal blocking Redis client.
//! - `stats.rs`, `backoff.rs`, `shared.rs`: counters, reconnect delays, shared state.
//!
//! Redis channels: `{prefix}:ch:{channel}`, `{prefix}:user:{id}`, `{prefix}:all` carry writes
//! (an envelope: origin node, `except` connection, the encoded frame); a node subscribes to a
//! channel or user while it has a member of it, and always to `{prefix}:all` and
//! `{prefix}:nodes` (heartbeats, every `--cluster-heartbeat`, with presence changes; a
//! hello on linking up, which every node answers with its snapshot; a goodbye on a clean
//! shutdown). A node silent for `--cluster-node-expiry` is dropped and
//! its users announced gone to this node's members (`healing.rs`); keys
//! `{prefix}:node:{id}` expire as long after a node's last heartbeat.

mod backoff;
mod backplane;
mod conn;
mod envelope;
mod healing;
#[doc(hidden)]
pub mod history;
mod link;
mod nodes;
mod presence;
#[doc(hidden)]
pub mod resp;
mod shared;
mod stats;
mod subscriber;
mod topics;
mod url;
mod view;

use std::sync::Arc;

use crate::config::Config;
use crate::service::Service;
use backplane::RedisBackplane;
use history::store::RedisHistory;
use shared::ClusterShared;

/// The shortest heartbeat period accepted: the link thread's tick (each heartbeat is a publish per node).
const MIN_HEARTBEAT: std::time::Duration = std::time::Duration::from_millis(100);

/// Links this node to the cluster at `url` (`redis://[:password@]host[:port]`). Fails on a
/// bad URL or a backplane already set; a Redis that is not reachable yet is retried.
pub fn join(service: &Service, url: &str, config: &Config) -> Result<(), crate::Error> {
    let invalid = crate::Error::invalid;
    let url = url::RedisUrl::parse(url).map_err(|e| invalid(format!("--redis: {e}")))?;
    if config.redis_prefix.is_empty() || config.redis_prefix.contains(char::is_whitespace) {
        return Err(invalid("--redis-prefix must be non-empty, without spaces".into()));
    }
    let timing = (config.cluster_heartbeat, config.cluster_node_expiry);
    if timing.0 < MIN_HEARTBEAT || timing.1 <= timing.0 {
        return Err(invalid(format!(
            "--cluster-heartbeat must be at least {MIN_HEARTBEAT:?} and --cluster-node-expiry longer than it (got {:?} and {:?})",
            timing.0, timing.1
        )));
    }
    let shared = Arc::new(ClusterShared::new(url, &config.redis_prefix, config.listen.to_string(), timing));
    let (tx, rx) = std::sync::mpsc::channel();
    let store = RedisHistory {
        shared: shared.clone(),
        link: tx.clone(),
        ttl: config.history_ttl,
        service: Arc::downgrade(&service.shared),
    };
    if !service.set_history_store(Arc::new(store)) {
        return Err(invalid("this service already has a history store".into()));
    }
    let backplane =
        RedisBackplane { shared: shared.clone(), link: tx.clone(), service: Arc::downgrade(&service.shared) };
    if !service.set_backplane(Arc::new(backplane)) {
        return Err(invalid("this service already has a backplane".into()));
    }
    link::Link::spawn(shared, service.clone(), rx, tx)?;
    Ok(())
}
