//! The link thread: owns the publisher connection to Redis and the writing half of the
//! subscriber connection. It takes commands from the event loops in order (publishes,
//! subscription changes), batches publishes on one connection (so one node's writes reach
//! the others in order), keeps the subscriptions matching this node's members, sends the
//! heartbeat and presence changes (`heartbeat.rs`, with the expiry of silent nodes and the
//! goodbye), runs the history scripts (`history.rs`), and reconnects with capped backoff
//! when Redis goes away, resubscribing to everything currently occupied. Nothing here runs
//! on an event loop.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backoff::Backoff;
use super::conn::RedisConn;
use super::envelope;
use super::nodes::NodeMessage;
use super::presence::{self, LocalPresence, Source};
use super::resp;
use super::shared::{ClusterShared, LinkJob};
use super::subscriber::Subscriber;
use super::topics::OwnedScope;
use crate::service::{ConnId, Service};
use crate::wire::frame::SharedFrame;

mod heartbeat;
mod history;

use history::{Expect, HistoryState};

/// The longest the link thread sleeps: presence changes go out at least this often.
const TICK: Duration = Duration::from_millis(100);
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Commands handled before the batch is written.
const BATCH: usize = 4096;
const SUBSCRIBE_CHUNK: usize = 512;

struct Connected {
    publisher: RedisConn,
    /// The subscriber connection, for writing (its reader thread reads).
    sub: TcpStream,
    out: Vec<u8>,
    /// What each reply to `out` answers, in order.
    expect: VecDeque<Expect>,
}

pub struct Link {
    shared: Arc<ClusterShared>,
    service: Service,
    rx: Receiver<LinkJob>,
    tx: Sender<LinkJob>,
    /// Redis channels this node's members need (besides `all` and `nodes`).
    wanted: HashSet<String>,
    conn: Option<Connected>,
    generation: u64,
    backoff: Backoff,
    next_attempt: Instant,
    ever_up: bool,
    /// Connection attempts that failed since the link was last up.
    failures: u32,
    presence: LocalPresence,
    seq: u64,
    next_heartbeat: Instant,
    /// Said goodbye: the thread ends.
    left: bool,
    /// Another node asked for the full snapshot that is due: it is no news (see `send_state`).
    snapshot_asked: bool,
    history: HistoryState,
}

/// This node's presence, read from its registry.
struct NodeSource<'a>(&'a Service);

impl Source for NodeSource<'_> {
    fn channels(&self) -> Vec<String> {
        self.0.shared.registry.channels().into_iter().map(|c| c.name).collect()
    }

    fn online(&self, channel: &str) -> Vec<String> {
        self.0.shared.registry.online(channel)
    }
}

impl Link {
    pub fn spawn(
        shared: Arc<ClusterShared>,
        service: Service,
        rx: Receiver<LinkJob>,
        tx: Sender<LinkJob>,
    ) -> std::io::Result<()> {
        let now = Instant::now();
        let link = Link {
            shared,
            service,
            rx,
            tx,
            wanted: HashSet::new(),
            conn: None,
            generation: 0,
            backoff: Backoff::default(),
            next_attempt: now,
            ever_up: false,
            failures: 0,
            presence: LocalPresence::default(),
            seq: 0,
            next_heartbeat: now,
            left: false,
            snapshot_asked: false,
            history: HistoryState::default(),
        };
        std::thread::Builder::new().name("switchyard-redis".into()).spawn(move || link.run())?;
        Ok(())
    }

    fn run(mut self) {
        loop {
            if self.conn.is_none() && Instant::now() >= self.next_attempt {
                self.connect();
                // A new link's snapshot goes before the writes made since: it is news, they are not.
                self.tick();
            }
            match self.rx.recv_timeout(TICK) {
                Ok(command) => self.drain(command),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if self.left {
                return;
            }
            // After the queued writes: a snapshot asked for then holds nothing they did not announce.
            self.tick();
            self.flush();
        }
    }

    fn drain(&mut self, first: LinkJob) {
        self.handle(first);
        for _ in 1..BATCH {
            if self.left {
                return;
            }
            match self.rx.try_recv() {
                Ok(command) => self.handle(command),
                Err(_) => return,
            }
        }
    }

    fn handle(&mut self, command: LinkJob) {
        match command {
            LinkJob::Publish { scope, frame, except } => self.publish(&scope, &frame, except),
            LinkJob::Reconcile(scope) => self.reconcile(&scope),
            LinkJob::SubscriberLost { generation, error } => {
                if self.conn.is_some() && generation == self.generation {
                    self.disconnect(&format!("subscriber connection: {error}"));
                }
            }
            LinkJob::SendFull => {
                self.snapshot_asked = true;
                self.presence.force_full();
            }
            LinkJob::AskSync(node) => {
                self.send_node_message(&NodeMessage::Sync { node, from: self.shared.node });
            }
            LinkJob::PublishHistory(job) => self.publish_history(job),
            LinkJob::Recover(request) => self.recover(request),
            LinkJob::Subscribed { generation, topic } => self.subscribed(generation, &topic),
            LinkJob::Unrecorded(channel) => self.unrecorded(channel),
            LinkJob::Goodbye(done) => {
                self.say_goodbye();
                let _ = done.send(());
            }
        }
    }

    // ---- writes -------------------------------------------------------------------------

    fn publish(&mut self, scope: &OwnedScope, frame: &SharedFrame, except: Option<ConnId>) {
        let stats = &self.shared.stats;
        stats.queued_bytes.fetch_sub(frame.len(), Relaxed);
        if let OwnedScope::Channel(channel) = scope {
            if presence::is_online_update(frame) {
                self.presence.mark(channel);
            }
        }
        let Some(conn) = &mut self.conn else {
            stats.dropped.fetch_add(1, Relaxed);
            return;
        };
        let head = envelope::head(&self.shared.node, except);
        resp::publish(&mut conn.out, self.shared.topics.of(scope).as_bytes(), &head, frame);
        conn.expect.push_back(Expect::Ack);
        stats.published.fetch_add(1, Relaxed);
    }

    /// Queues a command on the publisher connection (dropped while down).
    fn queue(&mut self, args: &[&[u8]]) {
        if let Some(conn) = &mut self.conn {
            resp::command(&mut conn.out, args);
            conn.expect.push_back(Expect::Ack);
        }
    }

    fn send_node_message(&mut self, message: &NodeMessage) {
        if let Ok(json) = serde_json::to_vec(message) {
            let topic = self.shared.topics.nodes();
            self.queue(&[b"PUBLISH", topic.as_bytes(), &json]);
        }
    }

    /// Writes the batch and reads its replies; a failure drops the link.
    fn flush(&mut self) {
        if let Err(e) = self.write_batch() {
            self.disconnect(&format!("publisher connection: {e}"));
        }
    }

    // ---- subscriptions ------------------------------------------------------------------

    fn reconcile(&mut self, scope: &OwnedScope) {
        let registry = &self.service.shared.registry;
        let present = match scope {
            OwnedScope::Channel(channel) => {
                self.presence.mark(channel);
                !registry.online(channel).is_empty()
            }
            OwnedScope::User(user) => !registry.user_connections(user).is_empty(),
            OwnedScope::All => true,
        };
        let topic = self.shared.topics.of(scope);
        if present && self.wanted.insert(topic.clone()) {
            self.subscribing(&topic);
            self.sub_command(&[b"SUBSCRIBE", topic.as_bytes()]);
        } else if !present && self.wanted.remove(&topic) {
            self.sub_command(&[b"UNSUBSCRIBE", topic.as_bytes()]);
        }
    }

    fn sub_command(&mut self, args: &[&[u8]]) {
        let Some(conn) = &mut self.conn else { return };
        let mut out = Vec::new();
        resp::command(&mut out, args);
        if let Err(e) = conn.sub.write_all(&out) {
            self.disconnect(&format!("subscriber connection: {e}"));
        }
    }

    /// Every Redis channel this node's members need now, from the registry.
    fn desired(&self) -> HashSet<String> {
        let registry = &self.service.shared.registry;
        let topics = &self.shared.topics;
        let channels = registry.channels().into_iter().map(|c| topics.of(&OwnedScope::Channel(c.name)));
        let users = registry.users().into_iter().map(|u| topics.of(&OwnedScope::User(u.id)));
        channels.chain(users).collect()
    }

    // ---- connecting ---------------------------------------------------------------------

    fn connect(&mut self) {
        match self.open() {
            Ok(conn) => self.connected(conn),
            Err(e) => self.failed(&e.to_string()),
        }
    }

    fn open(&mut self) -> std::io::Result<Connected> {
        let name = format!("switchyard-{}", self.shared.node);
        let publisher = RedisConn::connect(&self.shared.url, &name, IO_TIMEOUT)?;
        // A node silent this long is gone; so is a subscriber connection (it gets a pong per heartbeat).
        let mut subscriber = RedisConn::connect(&self.shared.url, &name, self.shared.expiry)?;
        self.wanted = self.desired();
        let topics = &self.shared.topics;
        let mut all: Vec<String> = vec![topics.of(&OwnedScope::All), topics.nodes()];
        all.extend(self.wanted.iter().cloned());
        self.history_down(VecDeque::new());
        for topic in &all {
            self.subscribing(topic);
        }
        for chunk in all.chunks(SUBSCRIBE_CHUNK) {
            let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
            args.extend(chunk.iter().map(|t| t.as_bytes()));
            let mut out = Vec::new();
            resp::command(&mut out, &args);
            subscriber.write_all(&out)?;
        }
        let sub = subscriber.writer()?;
        self.generation += 1;
        let reader = Subscriber {
            conn: subscriber,
            generation: self.generation,
            link: self.tx.clone(),
            service: self.service.clone(),
            shared: self.shared.clone(),
        };
        reader.spawn()?;
        Ok(Connected { publisher, sub, out: Vec::with_capacity(64 << 10), expect: VecDeque::new() })
    }

    fn connected(&mut self, conn: Connected) {
        self.conn = Some(conn);
        let down_for = self.shared.stats.up();
        let (url, attempts) = (&self.shared.url, std::mem::take(&mut self.failures));
        if self.ever_up {
            self.shared.stats.reconnects.fetch_add(1, Relaxed);
            let down = down_for.unwrap_or_default();
            log::warn!(
                "redis link back up ({url}) after {down:.1?} and {attempts} failed attempts; resubscribed to {} channels and users",
                self.wanted.len()
            );
        } else {
            let (node, prefix) = (self.shared.node, self.shared.topics.prefix());
            log::info!(
                "cluster: joined through {url} as node {node} (prefix {prefix}), {attempts} failed attempts first"
            );
        }
        self.ever_up = true;
        self.backoff.reset();
        // Changes made while cut off were not announced: the snapshot carries them.
        self.snapshot_asked = false;
        self.presence.force_full();
        self.next_heartbeat = Instant::now();
        self.send_node_message(&NodeMessage::Hello { node: self.shared.node });
        self.restart_unrecorded();
    }

    fn failed(&mut self, error: &str) {
        let delay = self.backoff.next();
        self.next_attempt = Instant::now() + delay;
        self.failures += 1;
        let attempt = self.failures;
        if self.ever_up {
            self.shared.stats.down(error);
        } else {
            self.shared.stats.failed(error);
        }
        if attempt.is_power_of_two() || attempt.is_multiple_of(20) {
            log::warn!("redis ({}) unreachable, attempt {attempt}: {error}; next in {delay:.1?}", self.shared.url);
        }
    }

    fn disconnect(&mut self, error: &str) {
        if let Some(conn) = self.conn.take() {
            conn.publisher.shutdown();
            let _ = conn.sub.shutdown(Shutdown::Both);
            self.history_down(conn.expect);
        }
        self.shared.stats.down(error);
        log::warn!(
            "redis link lost ({}): {error}; local delivery continues, writes for other nodes are dropped until it is back",
            self.shared.url
        );
        self.next_attempt = Instant::now() + self.backoff.next();
    }
}
