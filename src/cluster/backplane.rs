//! `RedisBackplane`, the `Backplane` the core calls: on the event loops it only counts and
//! queues work for the link thread (never blocks, never touches a socket); `online()` and
//! `cluster_status()` answer from memory (the registry and the cluster view).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Weak};
use std::time::Instant;

use serde_json::{json, Value};

use super::shared::{ClusterShared, LinkJob};
use super::topics::OwnedScope;
use crate::service::backplane::{Backplane, Scope};
use crate::service::{ConnId, Shared};
use crate::wire::frame::SharedFrame;

/// Frame bytes that may wait for the link thread; past this, writes for other nodes are
/// dropped (and counted) rather than queued without bound.
pub(crate) const MAX_QUEUED_BYTES: usize = 64 << 20;
/// How long shutdown waits for the link thread to say goodbye.
const GOODBYE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

pub struct RedisBackplane {
    pub(super) shared: Arc<ClusterShared>,
    pub(super) link: Sender<LinkJob>,
    /// The node's service (weak: the service owns this backplane).
    pub(super) service: Weak<Shared>,
}

impl RedisBackplane {
    fn send(&self, command: LinkJob) {
        // The link thread lives as long as the process; a send can only fail at exit.
        let _ = self.link.send(command);
    }
}

impl Backplane for RedisBackplane {
    fn publish(&self, scope: Scope<'_>, frame: &SharedFrame, except: Option<ConnId>) {
        let stats = &self.shared.stats;
        if !stats.is_up() || stats.queued_bytes.load(Relaxed) + frame.len() > MAX_QUEUED_BYTES {
            stats.dropped.fetch_add(1, Relaxed);
            return;
        }
        stats.queued_bytes.fetch_add(frame.len(), Relaxed);
        self.send(LinkJob::Publish { scope: OwnedScope::of(scope), frame: frame.clone(), except });
    }

    fn occupied(&self, scope: Scope<'_>) {
        self.send(LinkJob::Reconcile(OwnedScope::of(scope)));
    }

    fn vacated(&self, scope: Scope<'_>) {
        self.send(LinkJob::Reconcile(OwnedScope::of(scope)));
    }

    fn user_elsewhere(&self, channel: &str, user: &str) -> bool {
        self.shared.view().has_user(channel, user)
    }

    fn online(&self, channel: &str) -> Option<Vec<String>> {
        let mut users: BTreeSet<String> = BTreeSet::new();
        if let Some(service) = self.service.upgrade() {
            users.extend(service.registry.online(channel));
        }
        self.shared.view().online_into(channel, &mut users);
        Some(users.into_iter().collect())
    }

    fn goodbye(&self) {
        let (done, confirmed) = std::sync::mpsc::channel();
        self.send(LinkJob::Goodbye(done));
        if confirmed.recv_timeout(GOODBYE_WAIT).is_err() {
            log::warn!("cluster: the goodbye was not confirmed within {GOODBYE_WAIT:?}");
        }
    }

    fn cluster_status(&self) -> Value {
        let shared = &self.shared;
        let service = self.service.upgrade();
        let connections = service.as_ref().map_or(0, |s| s.registry.connection_count());
        let addr =
            service.and_then(|s| s.local_addr.get().map(|a| a.to_string())).unwrap_or_else(|| shared.listen.clone());
        let mut status = json!({
            "node": shared.node,
            "redis": shared.url.to_string(),
            "prefix": shared.topics.prefix(),
            "this_node": {"id": shared.node, "addr": addr, "connections": connections, "started": shared.started},
            "nodes": shared.view().json(Instant::now()),
        });
        if let (Value::Object(status), Value::Object(link)) = (&mut status, shared.stats.json()) {
            status.extend(link);
        }
        status
    }
}
