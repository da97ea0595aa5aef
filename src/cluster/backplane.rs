//! `RedisBackplane`, the `Backplane` the core calls: on the event loops it only counts and
//! queues work for the link thread (never blocks, never touches a socket), history
//! publishes and recoveries included (with the link down: not taken, answered unavailable); `online()` and
//! `cluster_status()` answer from memory (the registry and the cluster view).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Weak};
use std::time::Instant;

use serde_json::{json, Value};

use super::history::port::{self, Position, RecoveryAnswer, RecoveryRequest};
use super::history::scripts::Retention;
use super::shared::{ClusterShared, HistoryPublish, LinkJob};
use super::topics::OwnedScope;
use crate::service::backplane::{Backplane, HistoryLimits, Scope};
use crate::service::{ConnId, Shared};
use crate::wire::frame::SharedFrame;

/// Frame bytes that may wait for the link thread; past this, writes for other nodes are
/// dropped (and counted) rather than queued without bound.
const MAX_QUEUED_BYTES: usize = 64 << 20;
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

fn retention(limits: HistoryLimits) -> Retention {
    Retention { size: limits.size, ttl_ms: u64::try_from(limits.ttl.as_millis()).unwrap_or(u64::MAX) }
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

    fn keeps_history(&self) -> bool {
        true
    }

    fn publish_history(
        &self,
        channel: &str,
        frame: &SharedFrame,
        except: Option<ConnId>,
        limits: HistoryLimits,
    ) -> bool {
        let stats = &self.shared.stats;
        if !stats.is_up() || stats.queued_bytes.load(Relaxed) + frame.len() > MAX_QUEUED_BYTES {
            stats.history_unrecorded.fetch_add(1, Relaxed);
            return false;
        }
        stats.queued_bytes.fetch_add(frame.len(), Relaxed);
        let retention = retention(limits);
        let job = HistoryPublish { channel: channel.to_string(), frame: frame.clone(), except, retention };
        self.send(LinkJob::PublishHistory(Box::new(job)));
        true
    }

    fn recover(&self, conn: ConnId, channel: &str, since: Option<(u64, &str)>, limits: HistoryLimits) {
        let since = since.map(|(offset, epoch)| Position { offset, epoch: epoch.to_string() });
        let request = RecoveryRequest { conn, channel: Arc::from(channel), since, retention: retention(limits) };
        if self.shared.stats.is_up() {
            return self.send(LinkJob::Recover(Box::new(request)));
        }
        self.shared.stats.history_unavailable.fetch_add(1, Relaxed);
        if let Some(shared) = self.service.upgrade() {
            port::answer(&crate::service::Service { shared }, RecoveryAnswer::unavailable(&request));
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
