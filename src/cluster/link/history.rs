//! The link thread's side of channel history: history publishes and recovery reads queued
//! on the publisher connection as script calls (`EVALSHA`, sent again with `EVAL` when Redis
//! answers `NOSCRIPT`), their replies read back in order. A recovery subscribes to its
//! channel and waits for Redis to confirm it before reading (so no message falls between
//! the read and the live stream); its answer then meets the read's marker
//! (`history/rendezvous.rs`). When Redis is down or a reply is lost, a publish is delivered
//! on this node without offset and a recovery is answered unavailable. Runs on the link
//! thread only.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{Connected, Link};
use crate::cluster::envelope;
use crate::cluster::history::port::{self, RecoveryAnswer, RecoveryRequest};
use crate::cluster::history::reply::{self, ReplyError};
use crate::cluster::history::scripts::{self, Call, PublishArgs, ReadArgs};
use crate::cluster::resp::Value;
use crate::cluster::shared::{ClusterShared, HistoryPublish};
use crate::cluster::topics::OwnedScope;
use crate::service::history::Replay;
use crate::service::Service;
use crate::wire::frame;

/// How long a recovery waits for its channel's subscription to be confirmed.
const CONFIRM_WAIT: Duration = Duration::from_secs(2);

/// What the next reply on the publisher connection answers.
pub(super) enum Expect {
    Ack,
    Published(Box<HistoryPublish>),
    Read(Box<PendingRead>),
}

/// A read on its way: the request and its rendezvous number.
pub(super) struct PendingRead {
    request: RecoveryRequest,
    number: u64,
}

#[derive(Default)]
pub(super) struct HistoryState {
    /// SUBSCRIBEs sent on this connection and not confirmed yet, per topic.
    unconfirmed: HashMap<String, u32>,
    /// Channels with writes delivered without Redis since the link was last up.
    unrecorded: HashSet<String>,
    waiting: Vec<Waiting>,
}

struct Waiting {
    topic: String,
    request: Box<RecoveryRequest>,
    deadline: Instant,
}

/// The scripts' SHA1s, as `EVALSHA` wants them.
fn sha(script: &'static str) -> &'static str {
    static SHAS: OnceLock<(String, String)> = OnceLock::new();
    let (publish, read) = SHAS.get_or_init(|| {
        let of = |text: &str| sha1_smol::Sha1::from(text).digest().to_string();
        (of(scripts::PUBLISH), of(scripts::READ))
    });
    if script == scripts::PUBLISH {
        publish
    } else {
        read
    }
}

impl Link {
    /// A SUBSCRIBE went out for `topic`.
    pub(super) fn subscribing(&mut self, topic: &str) {
        *self.history.unconfirmed.entry(topic.to_string()).or_default() += 1;
    }

    /// Redis confirmed one: the recoveries waiting for it are read now.
    pub(super) fn subscribed(&mut self, generation: u64, topic: &str) {
        if generation != self.generation {
            return;
        }
        if let Some(count) = self.history.unconfirmed.get_mut(topic) {
            *count -= 1;
            if *count > 0 {
                return;
            }
            self.history.unconfirmed.remove(topic);
        }
        let (ready, waiting) = std::mem::take(&mut self.history.waiting).into_iter().partition(|w| w.topic == topic);
        self.history.waiting = waiting;
        for Waiting { request, .. } in ready {
            self.start_read(*request);
        }
    }

    /// A write to `channel` went out on this node only (Redis down).
    pub(super) fn unrecorded(&mut self, channel: String) {
        self.history.unrecorded.insert(channel);
    }

    /// The link is up again: every channel written to meanwhile loses its history in Redis,
    /// so the next read or write starts a new epoch and no recovery claims to be complete
    /// over messages Redis never had.
    pub(super) fn restart_unrecorded(&mut self) {
        let channels = std::mem::take(&mut self.history.unrecorded);
        if channels.is_empty() {
            return;
        }
        for channel in &channels {
            let keys = self.shared.topics.history(channel);
            self.queue(&[b"DEL", keys.stream.as_bytes(), keys.meta.as_bytes()]);
        }
        log::warn!(
            "redis history: {} channels written to while Redis was unreachable start a new epoch",
            channels.len()
        );
    }

    pub(super) fn publish_history(&mut self, job: Box<HistoryPublish>) {
        self.shared.stats.queued_bytes.fetch_sub(job.frame.len(), Relaxed);
        self.queue_publish(job, Call::Sha(sha(scripts::PUBLISH)));
    }

    fn queue_publish(&mut self, job: Box<HistoryPublish>, call: Call<'_>) {
        let json = frame::text_payload(&job.frame).filter(|j| j.len() > 2 && j.starts_with(b"{") && j.ends_with(b"}"));
        let (Some(conn), Some(json)) = (&mut self.conn, json) else {
            return unrecorded(&self.service, &self.shared, &mut self.history.unrecorded, *job);
        };
        let topics = &self.shared.topics;
        let (keys, topic) = (topics.history(&job.channel), topics.of(&OwnedScope::Channel(job.channel.clone())));
        let head = envelope::history_head(&self.shared.node, job.except);
        let new_epoch = scripts::new_epoch();
        let retention = job.retention;
        let args =
            PublishArgs { keys: &keys, topic: &topic, head: &head, json: &json, retention, new_epoch: &new_epoch };
        scripts::publish_command(&mut conn.out, call, &args);
        conn.expect.push_back(Expect::Published(job));
    }

    /// A recovery (or a plain join's position): read once this node hears the channel live.
    /// The worker asks before its registry shows the new member, so the subscription is
    /// made here (a later reconcile finds it wanted already).
    pub(super) fn recover(&mut self, request: Box<RecoveryRequest>) {
        if self.conn.is_none() {
            return unavailable(&self.shared, *request);
        }
        let topic = self.shared.topics.of(&OwnedScope::Channel(request.channel().to_string()));
        if self.wanted.insert(topic.clone()) {
            self.subscribing(&topic);
            self.sub_command(&[b"SUBSCRIBE", topic.as_bytes()]);
        }
        if self.history.unconfirmed.contains_key(&topic) {
            self.history.waiting.push(Waiting { topic, request, deadline: Instant::now() + CONFIRM_WAIT });
        } else {
            self.start_read(*request);
        }
    }

    fn start_read(&mut self, request: RecoveryRequest) {
        let number = self.shared.rendezvous().open();
        self.read(Box::new(PendingRead { request, number }), Call::Sha(sha(scripts::READ)));
    }

    fn read(&mut self, pending: Box<PendingRead>, call: Call<'_>) {
        let Some(conn) = &mut self.conn else {
            let owed = VecDeque::from([Expect::Read(pending)]);
            return settle_without_redis(&self.service, &self.shared, &mut self.history.unrecorded, owed);
        };
        let request = &pending.request;
        let topics = &self.shared.topics;
        let scope = OwnedScope::Channel(request.channel().to_string());
        let (keys, topic) = (topics.history(request.channel()), topics.of(&scope));
        let since = request.since.as_ref().map(|p| (p.offset, p.epoch.as_str()));
        let (new_epoch, marker) = (scripts::new_epoch(), envelope::marker(&self.shared.node, pending.number));
        let retention = request.retention;
        let args = ReadArgs { keys: &keys, since, retention, new_epoch: &new_epoch, topic: &topic, marker: &marker };
        scripts::read_command(&mut conn.out, call, &args);
        conn.expect.push_back(Expect::Read(pending));
    }

    /// Recoveries whose subscription was not confirmed in time: answered unavailable;
    /// answers whose marker did not come: delivered anyway.
    pub(super) fn expire_waiting(&mut self, now: Instant) {
        let overdue = self.shared.rendezvous().overdue(Some(now));
        overdue.into_iter().for_each(port::answer);
        if self.history.waiting.iter().all(|w| w.deadline > now) {
            return;
        }
        let (expired, waiting) = std::mem::take(&mut self.history.waiting).into_iter().partition(|w| w.deadline <= now);
        self.history.waiting = waiting;
        for Waiting { request, .. } in expired {
            unavailable(&self.shared, *request);
        }
    }

    /// The connection is gone: what it still owed is settled without Redis, and answers
    /// waiting for a marker go as they are.
    pub(super) fn history_down(&mut self, owed: VecDeque<Expect>) {
        self.history.unconfirmed.clear();
        for Waiting { request, .. } in std::mem::take(&mut self.history.waiting) {
            unavailable(&self.shared, *request);
        }
        settle_without_redis(&self.service, &self.shared, &mut self.history.unrecorded, owed);
        let parked = self.shared.rendezvous().overdue(None);
        parked.into_iter().for_each(port::answer);
    }

    /// Writes the batch and reads its replies; scripts Redis had lost go again with their text.
    pub(super) fn write_batch(&mut self) -> io::Result<()> {
        for _ in 0..3 {
            let Some(conn) = &mut self.conn else { return Ok(()) };
            if conn.out.is_empty() {
                return Ok(());
            }
            let expected = std::mem::take(&mut conn.expect);
            let marks = &mut self.history.unrecorded;
            let confirmed = confirm(conn, expected, (&self.service, &self.shared, marks));
            conn.out.clear();
            if conn.out.capacity() > 1 << 20 {
                conn.out.shrink_to(64 << 10);
            }
            let retry = match confirmed {
                Ok(retry) => retry,
                Err((e, owed)) => {
                    settle_without_redis(&self.service, &self.shared, &mut self.history.unrecorded, owed);
                    return Err(e);
                }
            };
            for again in retry {
                match again {
                    Expect::Published(job) => self.queue_publish(job, Call::Text(scripts::PUBLISH)),
                    Expect::Read(pending) => self.read(pending, Call::Text(scripts::READ)),
                    Expect::Ack => {}
                }
            }
        }
        Ok(())
    }
}

/// Writes the queued commands and reads one reply per command: the calls to send again
/// (`NOSCRIPT`), or the error and what was not answered.
fn confirm(
    conn: &mut Connected,
    expected: VecDeque<Expect>,
    (service, shared, marks): (&Service, &ClusterShared, &mut HashSet<String>),
) -> Result<Vec<Expect>, (io::Error, VecDeque<Expect>)> {
    if let Err(e) = conn.publisher.write_all(&conn.out) {
        return Err((e, expected));
    }
    let mut retry = Vec::new();
    let mut expected = expected;
    while let Some(expect) = expected.pop_front() {
        let mut slot = Some(expect);
        match conn
            .publisher
            .next(|value| Ok(slot.take().and_then(|e| on_reply(&value, e, (service, shared, &mut *marks)))))
        {
            Ok(again) => retry.extend(again),
            Err(e) => {
                if let Some(unanswered) = slot {
                    expected.push_front(unanswered);
                }
                return Err((e, expected));
            }
        }
    }
    Ok(retry)
}

/// One reply; returns the call to send again if Redis had lost the script.
fn on_reply(
    value: &Value<'_>,
    expect: Expect,
    (service, shared, marks): (&Service, &ClusterShared, &mut HashSet<String>),
) -> Option<Expect> {
    match expect {
        Expect::Ack => {
            if let Value::Error(e) = value {
                refused(shared, &String::from_utf8_lossy(e));
            }
            None
        }
        Expect::Published(job) => match reply::publish(value) {
            Ok(_) => {
                shared.stats.history_published.fetch_add(1, Relaxed);
                None
            }
            Err(ReplyError::NoScript) => Some(Expect::Published(job)),
            Err(e) => {
                refused(shared, &e.to_string());
                unrecorded(service, shared, marks, *job);
                None
            }
        },
        Expect::Read(pending) => match reply::read(value) {
            Ok(read) => {
                shared.stats.history_reads.fetch_add(1, Relaxed);
                let frames = read.entries.iter().map(|&(_, json)| frame::text(json)).collect();
                let replay =
                    Replay { frames, offset: read.offset, epoch: read.epoch.into(), recovered: read.recovered };
                let PendingRead { request, number } = *pending;
                let answer = RecoveryAnswer { ticket: request.ticket, replay };
                let ready = shared.rendezvous().answer(number, answer, Instant::now());
                ready.into_iter().for_each(port::answer);
                None
            }
            Err(ReplyError::NoScript) => Some(Expect::Read(pending)),
            Err(e) => {
                refused(shared, &e.to_string());
                settle_without_redis(service, shared, marks, VecDeque::from([Expect::Read(pending)]));
                None
            }
        },
    }
}

fn refused(shared: &ClusterShared, error: &str) {
    if shared.stats.reply_errors.fetch_add(1, Relaxed) == 0 {
        log::warn!("redis refused a command: {error}");
    }
}

/// Publishes whose reply never came are delivered here without offset (the script may have
/// run: a member of this node may then get the message twice, rather than not at all);
/// reads are answered unavailable.
fn settle_without_redis(
    service: &Service,
    shared: &ClusterShared,
    marks: &mut HashSet<String>,
    owed: VecDeque<Expect>,
) {
    for expect in owed {
        match expect {
            Expect::Published(job) => unrecorded(service, shared, marks, *job),
            Expect::Read(pending) => {
                shared.rendezvous().forget(pending.number);
                unavailable(shared, pending.request);
            }
            Expect::Ack => {}
        }
    }
}

/// A publish delivered here without Redis; its channel's history restarts when Redis is back.
fn unrecorded(service: &Service, shared: &ClusterShared, marks: &mut HashSet<String>, job: HistoryPublish) {
    shared.stats.history_unrecorded.fetch_add(1, Relaxed);
    if !marks.contains(&job.channel) {
        marks.insert(job.channel.clone());
    }
    port::deliver_unrecorded(service, &job.channel, job.frame, job.except);
}

fn unavailable(shared: &ClusterShared, request: RecoveryRequest) {
    shared.stats.history_unavailable.fetch_add(1, Relaxed);
    port::answer(RecoveryAnswer::unavailable(request.ticket));
}
