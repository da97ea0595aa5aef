//! Channel history in Redis (`--redis` with history on): offsets assigned atomically by a
//! Lua script on publish, the stored messages read back for a recovery, and the seam with
//! the history core. No socket here: the link thread (`link/history.rs`) runs the scripts,
//! the subscriber thread delivers what they publish.
//!
//! - `scripts.rs`: the publish and read scripts and their arguments.
//! - `reply.rs`: their replies, parsed.
//! - `port.rs`: recovery requests and answers, and what the cluster needs from the core.
//! - `store.rs`: `RedisHistory`, the node's `HistoryStore` (queues work for the link thread).
//! - `rendezvous.rs`: a recovery's answer waits for its marker (order with the live stream).

#[doc(hidden)]
pub mod port;
pub mod rendezvous;
#[doc(hidden)]
pub mod reply;
#[doc(hidden)]
pub mod scripts;
pub mod store;
