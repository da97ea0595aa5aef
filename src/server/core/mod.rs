//! A worker's core: its connections, channels and timers, as a state machine the worker
//! loop (`worker.rs`) drives. The loop polls, accepts, reads and writes; the core is fed
//! bytes and events and queues what to write.
//!
//! Owns the worker's `Slab` of connections, its channel index (channel → local member
//! slots) and its connection-id map; nothing here is shared or locked on the per-message
//! path. One idea per file:
//!
//! - `mod.rs`       the struct, its entry points (`on_bytes`, `on_peer_gone`) and `Dispatch`
//! - `handshake.rs` request intake, plain HTTP answers, the upgrade
//! - `admission.rs` origin, identity, channel name and limit checks before a session
//! - `session.rs`   frames to messages, built-in commands, handler calls
//! - `rate.rs`      the per-connection message rate budget
//! - `output.rs`    queueing, fan-out of shared frames, what a write's outcome means, backpressure
//! - `flushlist.rs` the order of writes: replies every turn, fan-out within a budget per turn
//!   (held back up to `--coalesce-us` when that is set)
//! - `channels.rs`  the local channel index, join and leave
//! - `presence.rs`  `online-update` announcements, coalesced for big channels
//! - `lifecycle.rs` close handshake, end of session, shutdown
//! - `timers.rs`    the periodic sweep
//! - `commands.rs`  bus commands from other threads
//! - `isolation.rs` application code run so that its panics cost one connection, not the worker
//! - `proxied.rs`   events waiting on the backend (event proxy): parked upgrades, answers in order
//! - `recovery.rs`  joins of channels with history: live frames held until the replay is out
//! - `compression.rs` permessage-deflate: the offer answered, client messages inflated
//!   (bounded), replies compressed; the side table of inflaters kept per connection
//! - `trim.rs`     the heap a burst of connects left behind, given back once it is over

mod admission;
mod channels;
mod commands;
mod compression;
mod flushlist;
pub use flushlist::{List, FANOUT_TURN_BUDGET, FANOUT_WRITES_PER_CHECK};
mod handshake;
mod isolation;
mod lifecycle;
mod output;
pub use output::AfterWrite;
mod presence;
mod proxied;
mod rate;
mod recovery;
mod session;
mod timers;
mod trim;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// The worker's maps are looked up per message: a fast, randomly seeded hasher.
type FastHash = foldhash::fast::RandomState;
use slab::Slab;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use super::conn::{Conn, Expiry, Phase, RateBucket, RateVerdict, Slot, MAX_PENDING_PONGS};
use super::frames::{Flow, FrameEvent};
use super::outqueue::Flushed;
use super::routes::{Routes, SocketKind, SocketRoute};
use crate::auth::ChannelAction;
use crate::service::backplane::Scope;
use crate::service::bus::Command;
use crate::service::connection::{ConnId, Connection, Profile};
use crate::service::limits::Full;
use crate::service::members::Members;
use crate::service::message::{error_frame, Inbound};
use crate::service::ops::{self, Dispatch};
use crate::service::proxy::ProxyEvent;
use crate::service::stats::{bump, WorkerStats};
use crate::service::tap::TapEvent;
use crate::service::{Context, Service, Shared};
use crate::wire::channel::{valid_channel_name, CHANNEL_NAME_RULE};
use crate::wire::fanout::Fanout;
use crate::wire::frame::{self, SharedFrame};
use crate::wire::http::{self, HttpRequest, HttpResponse, Parse};

/// A complete client message (text already checked as UTF-8 by the frame reader).
#[derive(Clone, Copy)]
enum Payload<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

impl Payload<'_> {
    fn len(&self) -> usize {
        match self {
            Payload::Text(text) => text.len(),
            Payload::Binary(data) => data.len(),
        }
    }
}

/// Frames every connection may get, encoded once per worker.
struct CommonFrames {
    ping: SharedFrame,
    heartbeat: SharedFrame,
    close_connection: SharedFrame,
}

/// The largest reply buffer a worker keeps between messages.
const REPLY_SCRATCH_KEEP: usize = 64 * 1024;

pub struct WorkerCore {
    pub index: usize,
    pub conns: Slab<Conn>,
    channels: HashMap<Arc<str>, Members<Slot>, FastHash>,
    /// Connection id → slot (a `u32`: 20-byte buckets, not 24).
    ids: HashMap<ConnId, u32, FastHash>,
    /// The connection whose message a handler is handling (its id and slot): its replies
    /// need no look-up in `ids`. Cleared when its session ends.
    handling: Option<(ConnId, Slot)>,
    /// The connections to write: replies this turn, fan-out within a budget per turn.
    flush: flushlist::FlushLists,
    /// Ended connections whose sockets are still to be closed, oldest first.
    doomed: VecDeque<Slot>,
    pub now: Instant,
    pub service: Service,
    routes: Arc<Routes>,
    common: CommonFrames,
    /// The timer sweep's period.
    tick: Duration,
    /// When every open connection is next pinged (one shared ping frame per worker).
    next_ping: Instant,
    /// The buffer replies to one connection are serialized into (lent to `ops`).
    reply_scratch: Vec<u8>,
    /// Presence changes of big channels, waiting to be sent coalesced.
    pending_presence: presence::PendingPresence,
    /// Connections waiting on the backend (event proxy).
    proxied: proxied::Proxied,
    /// Connections waiting for a history answer (recovery or position).
    recovering: recovery::Recovering,
    /// When the history's TTL sweep is next due (worker 0 runs it).
    next_history_sweep: Instant,
    /// permessage-deflate state, on servers that offer it.
    compression: Option<Box<compression::WorkerCompression>>,
    /// Connects counted to give the heap back after a burst.
    heap_trim: trim::HeapTrim,
}

impl WorkerCore {
    pub fn new(index: usize, service: Service, routes: Arc<Routes>) -> Self {
        let common = CommonFrames {
            ping: frame::ping(),
            heartbeat: frame::text(br#"{"cmd":"heartbeat","param":null}"#),
            close_connection: frame::text(br#"{"cmd":"close-connection","param":null}"#),
        };
        WorkerCore {
            index,
            conns: Slab::new(),
            channels: HashMap::default(),
            ids: HashMap::default(),
            handling: None,
            flush: Default::default(),
            doomed: VecDeque::new(),
            now: Instant::now(),
            tick: service.shared.config.tick(),
            next_ping: Instant::now() + service.shared.config.ping_interval,
            pending_presence: Default::default(),
            reply_scratch: Vec::new(),
            compression: service.shared.config.compression.then(Default::default),
            service,
            routes,
            common,
            proxied: Default::default(),
            recovering: Default::default(),
            next_history_sweep: Instant::now(),
            heap_trim: Default::default(),
        }
    }

    /// The loop turn that began at `now` is over (its length goes to the loop-turn histogram).
    pub fn turn_ended(&mut self) {
        let micros = self.now.elapsed().as_micros();
        self.stats().loop_turn_us.observe(u64::try_from(micros).unwrap_or(u64::MAX));
    }

    /// A connection was accepted (counted for the heap trim after a burst).
    pub fn opened(&mut self) {
        self.heap_trim.opened();
    }

    fn stats(&self) -> &WorkerStats {
        &self.service.shared.stats[self.index]
    }

    /// The oldest ended connection still to be removed from the slab (the worker closes its
    /// socket). A doomed connection keeps its slot until then, so no newer connection can be
    /// mistaken for it.
    pub fn next_doomed(&mut self) -> Option<Slot> {
        self.doomed.pop_front()
    }

    /// Connections are waiting to be removed.
    pub fn doomed_waiting(&self) -> bool {
        !self.doomed.is_empty()
    }

    /// Ends the connection's session now; its socket is closed by the worker's next reap.
    fn doom(&mut self, slot: Slot) {
        self.end_session(slot);
        if let Some(conn) = self.conns.get_mut(slot).filter(|conn| !conn.doomed) {
            conn.doomed = true;
            self.doomed.push_back(slot);
        }
    }

    // ---- input -------------------------------------------------------------------------

    /// Bytes read from a connection's socket.
    pub fn on_bytes(&mut self, slot: Slot, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.heard(self.now);
        conn.counters.bytes_in += data.len() as u64;
        bump(&self.service.shared.stats[self.index].bytes_in, data.len() as u64);
        match conn.phase {
            Phase::Handshake(_) => self.on_handshake_bytes(slot, data),
            Phase::Open => self.on_frame_bytes(slot, data),
            Phase::Closing { .. } => {}
        }
    }

    /// The peer closed its side (read returned 0) or the socket failed.
    pub fn on_peer_gone(&mut self, slot: Slot) {
        self.doom(slot);
    }
}

/// When a profile's credential expires, if it does.
fn expiry_of(profile: &Profile) -> Option<Box<Expiry>> {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(profile.expires_at?);
    Some(Box::new(Expiry { at, close_at: None }))
}

/// The connection id and user id of a connection with a session.
fn session_ids(conn: &Conn) -> (ConnId, String) {
    let user = conn.session.as_ref().map_or_else(|| conn.id().to_string(), |s| s.profile.id.clone());
    (conn.id(), user)
}

/// Queues a shared frame on an open connection; false if it is not open (nothing queued,
/// nothing to list for writing).
#[inline]
fn queue_on(conn: &mut Conn, frame: SharedFrame, stats: &WorkerStats) -> bool {
    if !conn.is_open() {
        return false;
    }
    let len = frame.len() as u64;
    conn.counters.messages_out += 1;
    conn.counters.bytes_out += len;
    bump(&stats.messages_out, 1);
    bump(&stats.bytes_out, len);
    conn.out.push(frame);
    true
}

impl Dispatch for WorkerCore {
    fn take_scratch(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.reply_scratch)
    }

    fn return_scratch(&mut self, mut scratch: Vec<u8>) {
        scratch.clear();
        if scratch.capacity() <= REPLY_SCRATCH_KEEP {
            self.reply_scratch = scratch;
        }
    }

    fn send_text(&mut self, worker: usize, id: ConnId, payload: &[u8]) -> bool {
        if worker != self.index {
            return self.dispatch(worker, Command::ToConn { id, frame: frame::text(payload) });
        }
        self.with_conn(id, |core, slot| core.queue_own(slot, OpCode::Data(Data::Text), payload))
    }

    fn send_in_place(
        &mut self,
        worker: usize,
        id: ConnId,
        write: &mut dyn FnMut(&mut bytes::BytesMut) -> Result<(), serde_json::Error>,
    ) -> Option<Result<bool, serde_json::Error>> {
        if worker != self.index {
            return None;
        }
        let slot = self.local_slot(id)?;
        let written = self.queue_own_in_place(slot, OpCode::Data(Data::Text), write)?;
        Some(written.map(|()| true))
    }

    fn service(&self) -> Service {
        self.service.clone()
    }

    fn shared(&self) -> &Shared {
        &self.service.shared
    }

    fn locate(&self, id: &ConnId) -> Option<usize> {
        if self.handling.is_some_and(|(current, _)| current == *id) || self.ids.contains_key(id) {
            return Some(self.index);
        }
        self.service.shared.registry.worker_of(id)
    }

    fn local_worker(&self) -> Option<usize> {
        Some(self.index)
    }

    fn fan_out_here(&mut self, channel: &str, frame: &Fanout, except: Option<ConnId>) {
        self.fan_out(channel, frame, except);
    }

    fn dispatch(&mut self, worker: usize, command: Command) -> bool {
        if worker == self.index {
            return self.apply(command);
        }
        self.service.shared.inboxes.get(worker).is_some_and(|inbox| inbox.send(command))
    }

    fn proxies(&self, id: ConnId, event: ProxyEvent) -> bool {
        self.route_proxies(id, event)
    }

    fn proxy(&mut self, id: ConnId, request: crate::service::proxy::ProxyRequest) {
        self.proxy_call(id, request);
    }
}
