//! `RedisHistory`, the `HistoryStore` of a node in a cluster (`--redis`): history and
//! offsets live in Redis, so every node sees the same offsets and a client recovers on any
//! node. On the event loops it only queues work for the link thread, like the backplane:
//! an append is taken (`Appended::Cluster`: the script stamps it and every node, this one
//! included, delivers it from the pub/sub stream) or, with the link down, given back (the
//! core delivers it here without offset, and the channel's history restarts with a new
//! epoch once Redis is back); a recovery is read by the link thread and
//! answered through its ticket, or answered unavailable at once with the link down.
//! The admin's sizes are what this node last saw (the offset, capped at the channel's
//! size); bytes are Redis's, not counted here.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::port::{self, RecoveryAnswer, RecoveryRequest};
use super::scripts::Retention;
use crate::cluster::backplane::MAX_QUEUED_BYTES;
use crate::cluster::shared::{ClusterShared, HistoryPublish, LinkJob};
use crate::service::history::{Appended, HistoryStats, HistoryStore, Position, RecoveryTicket, Stamped};
use crate::service::message::{seal, Body};
use crate::service::{ConnId, Shared};

pub struct RedisHistory {
    pub(crate) shared: Arc<ClusterShared>,
    pub(crate) link: Sender<LinkJob>,
    /// `--history-ttl`.
    pub(crate) ttl: Duration,
    /// The node's service (weak: the service owns this store), for each channel's size.
    pub(crate) service: Weak<Shared>,
}

impl RedisHistory {
    fn retention(&self, size: usize) -> Retention {
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        Retention { size, ttl_ms: u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX) }
    }

    /// What this node last saw of a channel, capped at its size.
    fn seen_len(&self, channel: &str, offset: u64) -> u64 {
        let size = self.service.upgrade().map_or(0, |s| s.history_size(channel));
        offset.min(size as u64)
    }
}

impl HistoryStore for RedisHistory {
    fn append(
        &self,
        channel: &str,
        size: usize,
        body: Body,
        except: Option<ConnId>,
        _deliver: &mut dyn FnMut(&Stamped),
    ) -> Result<Appended, Body> {
        let stats = &self.shared.stats;
        if size == 0 {
            return Err(body);
        }
        if !stats.is_up() || stats.queued_bytes.load(Relaxed) > MAX_QUEUED_BYTES {
            stats.history_unrecorded.fetch_add(1, Relaxed);
            let _ = self.link.send(LinkJob::Unrecorded(channel.to_string()));
            return Err(body);
        }
        let frame = seal(body, None);
        stats.queued_bytes.fetch_add(frame.len(), Relaxed);
        let job = HistoryPublish { channel: channel.to_string(), frame, except, retention: self.retention(size) };
        // The link thread lives as long as the process; a send can only fail at exit.
        let _ = self.link.send(LinkJob::PublishHistory(Box::new(job)));
        Ok(Appended::Cluster)
    }

    fn recover(&self, channel: &str, since: Option<&Position>, ticket: RecoveryTicket) {
        let size = ticket.service.shared.history_size(channel);
        let request = RecoveryRequest { ticket, since: since.cloned(), retention: self.retention(size) };
        if !self.shared.stats.is_up() {
            self.shared.stats.history_unavailable.fetch_add(1, Relaxed);
            return port::answer(RecoveryAnswer::unavailable(request.ticket));
        }
        let _ = self.link.send(LinkJob::Recover(Box::new(request)));
    }

    fn len(&self, channel: &str) -> usize {
        let offset = self.shared.history_seen_offset(channel);
        offset.map_or(0, |offset| self.seen_len(channel, offset) as usize)
    }

    fn stats(&self) -> HistoryStats {
        let seen = self.shared.history_seen_all();
        let messages = seen.iter().map(|(channel, offset)| self.seen_len(channel, *offset)).sum();
        HistoryStats { bytes: 0, messages, channels: seen.len() as u64, channels_dropped: 0 }
    }
}
