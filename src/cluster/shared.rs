//! What the cluster's threads and the backplane share: this node's identity, the Redis
//! names, the link's counters and the view of the other nodes; and the commands the event
//! loops and the subscriber thread send to the link thread. Data only.

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use uuid::Uuid;

use super::history::port::{RecoveryAnswer, RecoveryRequest};
use super::history::rendezvous::Rendezvous;
use super::history::scripts::Retention;
use super::stats::Stats;
use super::topics::{OwnedScope, Topics};
use super::url::RedisUrl;
use super::view::View;
use crate::service::ConnId;
use crate::wire::frame::SharedFrame;

pub struct ClusterShared {
    /// This process, as the other nodes know it.
    pub node: Uuid,
    pub topics: Topics,
    pub url: RedisUrl,
    /// The address this node serves on, as configured.
    pub listen: String,
    /// Unix seconds.
    pub started: u64,
    pub stats: Stats,
    /// How often this node sends its state.
    pub heartbeat: Duration,
    /// A node silent this long is dropped with its presence.
    pub expiry: Duration,
    view: RwLock<View>,
    /// Recovery answers and their markers (link and subscriber threads).
    rendezvous: Mutex<Rendezvous<RecoveryAnswer>>,
    /// The last offset this node saw published in each channel with history (admin sizes).
    history_seen: Mutex<HashMap<String, u64>>,
}

impl ClusterShared {
    pub fn new(url: RedisUrl, prefix: &str, listen: String, (heartbeat, expiry): (Duration, Duration)) -> Self {
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        ClusterShared {
            node: Uuid::new_v4(),
            topics: Topics::new(prefix),
            url,
            listen,
            started,
            stats: Stats::default(),
            heartbeat,
            expiry,
            view: RwLock::new(View::default()),
            rendezvous: Mutex::new(Rendezvous::default()),
            history_seen: Mutex::new(HashMap::new()),
        }
    }

    pub fn view(&self) -> RwLockReadGuard<'_, View> {
        self.view.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn view_mut(&self) -> RwLockWriteGuard<'_, View> {
        self.view.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A message of `channel` was published with `offset`.
    pub fn history_seen(&self, channel: &str, offset: u64) {
        let mut seen = self.history_seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match seen.get_mut(channel) {
            Some(last) => *last = offset,
            None => {
                seen.insert(channel.to_string(), offset);
            }
        }
    }

    pub fn history_seen_offset(&self, channel: &str) -> Option<u64> {
        self.history_seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(channel).copied()
    }

    pub fn history_seen_all(&self) -> Vec<(String, u64)> {
        let seen = self.history_seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.iter().map(|(c, o)| (c.clone(), *o)).collect()
    }

    pub fn rendezvous(&self) -> MutexGuard<'_, Rendezvous<RecoveryAnswer>> {
        self.rendezvous.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A write to a channel with history, as the core encoded it (without offset and epoch).
pub struct HistoryPublish {
    pub channel: String,
    pub frame: SharedFrame,
    pub except: Option<ConnId>,
    pub retention: Retention,
}

/// Work for the link thread, in the order it was asked for.
pub enum LinkJob {
    /// A write made here, for the other nodes.
    Publish { scope: OwnedScope, frame: SharedFrame, except: Option<ConnId> },
    /// This node gained or lost its first or last member of a scope: (un)subscribe to match.
    Reconcile(OwnedScope),
    /// The subscriber connection of this generation failed.
    SubscriberLost { generation: u64, error: String },
    /// Another node asked for our full presence.
    SendFull,
    /// We missed states from this node: ask it for a snapshot.
    AskSync(Uuid),
    /// A write to a channel with history: Redis gives it its offset and publishes it to
    /// every node, this one included.
    PublishHistory(Box<HistoryPublish>),
    /// A worker asks for a channel's position and the messages after the client's.
    Recover(Box<RecoveryRequest>),
    /// A write to this channel with history was delivered here without Redis: its history
    /// restarts (a new epoch) once the link is up, so no recovery skips it.
    Unrecorded(String),
    /// Redis confirmed a subscription of the subscriber connection of this generation.
    Subscribed { generation: u64, topic: String },
    /// This node is shutting down and its sessions have ended: tell the others, stop, then
    /// answer on the sender.
    Goodbye(Sender<()>),
}
