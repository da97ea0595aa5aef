//! The service layer: the public API an application uses (`Service`, `Context`, `Handler`,
//! `Router`), the wire messages, the registry, the inter-worker bus and the counters.
//!
//! `Service` is a cheap, clonable handle (`Clone + Send + Sync`) usable from any thread:
//! its writes are encoded once and handed to the workers' inboxes; its queries read the
//! registry. It never touches a socket: the server layer owns all I/O.

pub(crate) mod backplane;
pub(crate) mod bus;
pub(crate) mod channel_list;
pub mod connection;
pub mod context;
pub mod handler;
pub mod history;
pub(crate) mod limits;
pub(crate) mod members;
pub mod message;
pub(crate) mod ops;
pub mod proxy;
pub(crate) mod registry;
pub(crate) mod stats;
pub(crate) mod tap;

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use serde::Serialize;

pub use connection::{ConnId, Connection, ConnectionInfo, Counters, Profile};
pub use context::Context;
pub use handler::{Handler, HandlerError, HandlerResult, Router};
pub use registry::{ChannelInfo, UserInfo};
pub use stats::Status;

use crate::auth::ChannelAuthorizer;
use crate::config::Config;
use backplane::{Backplane, Scope};
use bus::Inbox;
use message::Envelope;
use registry::Registry;
use stats::WorkerStats;

/// Errors of the Service API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A message could not be serialized.
    #[error("cannot serialize the message: {0}")]
    Serialize(#[from] serde_json::Error),
    /// A socket or poll could not be set up.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A setting that cannot work.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
}

impl Error {
    /// A setting that cannot work, said in the flag's words.
    pub fn invalid(why: impl Into<String>) -> Self {
        Error::Config(crate::config::ConfigError::Invalid(why.into()))
    }
}

/// What every worker and every `Service` handle share.
pub struct Shared {
    pub(crate) registry: Registry,
    pub(crate) inboxes: Vec<Inbox>,
    pub(crate) stats: Box<[WorkerStats]>,
    pub(crate) started: SystemTime,
    pub(crate) config: Config,
    pub(crate) tap: tap::Tap,
    pub(crate) limits: limits::Limits,
    pub(crate) authorizer: OnceLock<Arc<dyn ChannelAuthorizer>>,
    pub(crate) backplane: OnceLock<Arc<dyn Backplane>>,
    pub(crate) local_addr: OnceLock<std::net::SocketAddr>,
    /// Workers that have closed every session on shutdown (their departures announced).
    pub(crate) closed_workers: AtomicUsize,
    /// The event proxy's counters.
    pub(crate) proxy_stats: proxy::ProxyStats,
    /// Channel history (the in-memory store unless another is set before start).
    pub(crate) history: OnceLock<Arc<dyn history::HistoryStore>>,
    /// Gives the allocator's free pages back to the system (set by the binary).
    pub(crate) heap_release: OnceLock<fn()>,
}

impl Shared {
    /// The channel history store.
    pub(crate) fn history(&self) -> &dyn history::HistoryStore {
        &**self.history.get_or_init(|| {
            let limits = history::HistoryLimits { ttl: self.config.history_ttl, memory: self.config.history_memory };
            Arc::new(history::MemoryHistory::new(limits))
        })
    }

    /// Messages `channel` keeps (0: no history): `--history-size`, as the policy adjusts it.
    #[inline]
    pub(crate) fn history_size(&self, channel: &str) -> usize {
        let default = self.config.history_size;
        match self.authorizer.get() {
            Some(policy) => policy.history_size(channel, default),
            None => default,
        }
    }
}

/// A handle on a running (or starting) server.
#[derive(Clone)]
pub struct Service {
    pub(crate) shared: Arc<Shared>,
}

impl ops::Dispatch for &Service {
    fn service(&self) -> Service {
        (*self).clone()
    }

    fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Service {
    pub(crate) fn new(config: Config, inboxes: Vec<Inbox>) -> Self {
        let stats = (0..inboxes.len()).map(|_| WorkerStats::default()).collect();
        Service {
            shared: Arc::new(Shared {
                registry: Registry::default(),
                inboxes,
                stats,
                started: SystemTime::now(),
                limits: limits::Limits::new(&config),
                config,
                tap: tap::Tap::default(),
                authorizer: OnceLock::new(),
                backplane: OnceLock::new(),
                local_addr: OnceLock::new(),
                closed_workers: AtomicUsize::new(0),
                proxy_stats: Default::default(),
                history: OnceLock::new(),
                heap_release: OnceLock::new(),
            }),
        }
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The address the server listens on, once it has started (the real port for port 0).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.shared.local_addr.get().copied()
    }

    /// True when this node shares its channels with others (a backplane is set).
    pub fn is_clustered(&self) -> bool {
        self.shared.backplane.get().is_some()
    }

    /// Joins a connection to a channel (on its worker, asynchronously); false if unknown.
    pub fn join(&self, conn: ConnId, channel: &str) -> bool {
        ops::join(&mut &*self, conn, channel)
    }

    /// Joins `conn` to `channel` from a position it saw before (a reconnecting client): in
    /// a channel with history it is sent every message after `since` in `epoch`, then
    /// `recovered`; false if unknown.
    pub fn join_from(&self, conn: ConnId, channel: &str, since: u64, epoch: &str) -> bool {
        let since = history::Position { offset: since, epoch: epoch.to_string() };
        ops::join_from(&mut &*self, conn, channel, Some(since))
    }

    /// Sets the channel history store (e.g. one shared by a cluster). Once, before `start`.
    pub fn set_history_store(&self, store: Arc<dyn history::HistoryStore>) -> bool {
        self.shared.history.set(store).is_ok()
    }

    /// The history store's counters.
    pub fn history_stats(&self) -> history::HistoryStats {
        self.shared.history().stats()
    }

    /// Messages stored for `channel`.
    pub fn history_len(&self, channel: &str) -> usize {
        self.shared.history().len(channel)
    }

    /// Removes `conn` from `channel` (deleted when its last member leaves).
    pub fn leave(&self, conn: ConnId, channel: &str) -> bool {
        ops::leave(&mut &*self, conn, channel)
    }

    /// Sends to one connection; `Ok(false)` if it is not connected.
    pub fn write_connection<P: Serialize + ?Sized>(&self, cmd: &str, param: &P, conn: ConnId) -> Result<bool, Error> {
        ops::write_connection(&mut &*self, Envelope::default(), cmd, param, conn)
    }

    /// Sends to every member of `channel`, on every worker and node.
    pub fn write_channel<P: Serialize + ?Sized>(&self, cmd: &str, param: &P, channel: &str) -> Result<(), Error> {
        ops::write_channel(&mut &*self, None, cmd, param, channel, None)
    }

    /// Sends to every member of `channel` except `except`.
    pub fn write_channel_except<P: Serialize + ?Sized>(
        &self,
        cmd: &str,
        param: &P,
        channel: &str,
        except: ConnId,
    ) -> Result<(), Error> {
        ops::write_channel(&mut &*self, None, cmd, param, channel, Some(except))
    }

    /// Sends to every connection of a user, on every worker; returns how many.
    pub fn write_user<P: Serialize + ?Sized>(&self, cmd: &str, param: &P, user: &str) -> Result<usize, Error> {
        ops::write_user(&mut &*self, None, cmd, param, user)
    }

    /// Sends to every connection of the server (and cluster).
    pub fn write_all<P: Serialize + ?Sized>(&self, cmd: &str, param: &P) -> Result<(), Error> {
        ops::write_all(&mut &*self, None, cmd, param)
    }

    /// Closes a connection with 1000; false if unknown.
    pub fn close(&self, conn: ConnId) -> bool {
        ops::close(&mut &*self, conn, 1000, false)
    }

    /// Sends `close-connection` (the client must not reconnect), then closes.
    pub fn close_for_good(&self, conn: ConnId) -> bool {
        ops::close(&mut &*self, conn, 1000, true)
    }

    /// The service's counters, summed over workers.
    pub fn status(&self) -> Status {
        Status::sum(&self.shared.stats, self.shared.started, self.shared.registry.channel_count())
    }

    /// Every connection on this node.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.shared.registry.connections()
    }

    /// One connection, if it is on this node.
    pub fn connection(&self, conn: &ConnId) -> Option<ConnectionInfo> {
        self.shared.registry.connection(conn)
    }

    /// The members of `channel` on this node.
    pub fn connections_by_channel(&self, channel: &str) -> Vec<ConnectionInfo> {
        self.shared.registry.connections_by_channel(channel)
    }

    /// Every channel on this node, with its member and user counts and its history's size.
    pub fn channels(&self) -> Vec<ChannelInfo> {
        let mut channels = self.shared.registry.channels();
        if self.shared.config.history_size > 0 || self.shared.authorizer.get().is_some() {
            let history = self.shared.history();
            for channel in &mut channels {
                channel.history = history.len(&channel.name);
            }
        }
        channels
    }

    /// Distinct users present in a channel (on every node, when scaled out).
    pub fn online(&self, channel: &str) -> Vec<String> {
        if let Some(cluster) = self.shared.backplane.get().and_then(|b| b.online(channel)) {
            return cluster;
        }
        self.shared.registry.online(channel)
    }

    /// Every user connected to this node, with their connections.
    pub fn users(&self) -> Vec<UserInfo> {
        self.shared.registry.users()
    }

    /// Message-size, fan-out-width and loop-turn histograms, summed over workers.
    pub fn histograms(&self) -> Vec<stats::HistogramSnapshot> {
        stats::histograms(&self.shared.stats)
    }

    /// The event proxy's counters.
    pub fn proxy_stats(&self) -> &proxy::ProxyStats {
        &self.shared.proxy_stats
    }

    /// Open connections per worker.
    pub fn worker_connections(&self) -> Vec<u64> {
        self.shared.stats.iter().map(|s| s.connections.load(std::sync::atomic::Ordering::Relaxed)).collect()
    }

    /// Links this node to others (scale-out). Set once, before `start`.
    pub fn set_backplane(&self, backplane: Arc<dyn Backplane>) -> bool {
        self.shared.backplane.set(backplane).is_ok()
    }

    /// The cluster view of the backplane, if one is set.
    pub fn cluster_status(&self) -> Option<serde_json::Value> {
        self.shared.backplane.get().map(|b| b.cluster_status())
    }

    /// Delivers a write that another node made, to this node's members (not published again).
    pub fn deliver_from_cluster(
        &self,
        scope: Scope<'_>,
        frame: crate::wire::frame::SharedFrame,
        except: Option<ConnId>,
    ) {
        let frame = ops::fanout(&self, frame);
        ops::deliver_here(&mut &*self, scope, &frame, except);
    }

    /// Tells this node's members of `channel` that users came (`true`) or went on another
    /// node whose own announcements did not reach them (see `ops::announce_presence`).
    pub(crate) fn announce_presence(&self, channel: &str, changes: Vec<(String, bool)>) {
        ops::announce_presence(&mut &*self, channel, changes);
    }

    /// Asks every worker to shut down (close 1001 to every client).
    pub fn shutdown(&self) {
        for inbox in &self.shared.inboxes {
            inbox.send(bus::Command::Shutdown);
        }
    }
}
