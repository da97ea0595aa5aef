//! The subscriber connection's reader thread: reads pub/sub pushes from Redis and hands
//! each write from another node to the workers (`Service::deliver_from_cluster`, never
//! published again; an `online-update` that is no news here is dropped, see `healing`),
//! each write to a channel with history to `history::port` (from every node, this one
//! included: its offset comes from Redis), each confirmed subscription to the link thread,
//! and each node message to the cluster view (presence the view says changed unannounced
//! goes to `healing`). It never writes to Redis (the link thread does) and never blocks a
//! worker; when the connection fails it tells the link thread and ends.

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use uuid::Uuid;

use super::conn::RedisConn;
use super::envelope;
use super::healing;
use super::history::port;
use super::nodes::{NodeMessage, NodeState};
use super::presence;
use super::resp::Value;
use super::shared::{ClusterShared, LinkJob};
use super::topics::Topic;
use crate::service::backplane::Scope;
use crate::service::history::Stamped;
use crate::service::Service;
use crate::wire::frame;

pub struct Subscriber {
    pub conn: RedisConn,
    pub generation: u64,
    pub link: Sender<LinkJob>,
    pub service: Service,
    pub shared: Arc<ClusterShared>,
}

impl Subscriber {
    pub fn spawn(self) -> io::Result<()> {
        std::thread::Builder::new().name("switchyard-redis-sub".into()).spawn(move || self.run())?;
        Ok(())
    }

    fn run(mut self) {
        let error = loop {
            let Subscriber { conn, service, shared, link, generation } = &mut self;
            if let Err(e) = conn.next(|value| {
                on_push(&value, service, shared, link, *generation);
                Ok(())
            }) {
                break e;
            }
        };
        let _ = self.link.send(LinkJob::SubscriberLost { generation: self.generation, error: error.to_string() });
    }
}

/// One push: `message`, `subscribe`/`unsubscribe` confirmations, `pong`, or an error.
fn on_push(value: &Value<'_>, service: &Service, shared: &ClusterShared, link: &Sender<LinkJob>, generation: u64) {
    let Some(items) = value.items() else {
        if let Value::Error(e) = value {
            log::warn!("redis: {}", String::from_utf8_lossy(e));
        }
        return;
    };
    match (items.first().and_then(Value::bytes), items.get(1).and_then(Value::bytes), items.get(2)) {
        (Some(b"message"), Some(topic), Some(payload)) => {
            if let (Ok(topic), Some(payload)) = (std::str::from_utf8(topic), payload.bytes()) {
                on_message(topic, payload, service, shared, link);
            }
        }
        (Some(kind @ (b"subscribe" | b"unsubscribe")), topic, Some(Value::Int(count))) => {
            shared.stats.subscriptions.store(u64::try_from(*count).unwrap_or(0), Relaxed);
            if let (b"subscribe", Some(Ok(topic))) = (kind, topic.map(std::str::from_utf8)) {
                let _ = link.send(LinkJob::Subscribed { generation, topic: topic.to_string() });
            }
        }
        _ => {}
    }
}

fn on_message(topic: &str, payload: &[u8], service: &Service, shared: &ClusterShared, link: &Sender<LinkJob>) {
    match shared.topics.parse(topic) {
        Some(Topic::Write(scope)) => on_write(scope, payload, service, shared),
        Some(Topic::Nodes) => on_node_message(payload, service, shared, link),
        None => {
            shared.stats.malformed.fetch_add(1, Relaxed);
        }
    }
}

fn on_write(scope: Scope<'_>, payload: &[u8], service: &Service, shared: &ClusterShared) {
    if let Some((node, number)) = envelope::decode_marker(payload) {
        // A recovery read's marker: every earlier message of the channel is handed on.
        let answer = if node == shared.node { shared.rendezvous().marker(number) } else { None };
        answer.into_iter().for_each(port::answer);
        return;
    }
    if let (Scope::Channel(channel), Some(write)) = (scope, envelope::decode_history(payload)) {
        // Every node delivers these from here, the origin included: order is Redis order.
        shared.stats.received.fetch_add(1, Relaxed);
        shared.history_seen(channel, write.offset);
        let stamped = Stamped { frame: frame::text(write.json), offset: write.offset, epoch: write.epoch.into() };
        port::deliver_live(service, channel, stamped, write.except);
        return;
    }
    let Some(envelope) = envelope::decode(payload) else {
        shared.stats.malformed.fetch_add(1, Relaxed);
        return;
    };
    if envelope.origin == shared.node {
        shared.stats.own.fetch_add(1, Relaxed);
        return;
    }
    shared.stats.received.fetch_add(1, Relaxed);
    if let Scope::Channel(channel) = scope {
        if let Some(user) = presence::online_update_user(envelope.frame) {
            if healing::already_known(service, &shared.view(), envelope.origin, channel, &user) {
                shared.stats.presence_repeats.fetch_add(1, Relaxed);
                log::debug!("cluster: dropped an online-update for {user} in {channel}: no news here");
                return;
            }
        }
    }
    // One copy per node (not per recipient): the frame must not pin the read buffer.
    service.deliver_from_cluster(scope, Bytes::copy_from_slice(envelope.frame), envelope.except);
}

fn on_node_message(payload: &[u8], service: &Service, shared: &ClusterShared, link: &Sender<LinkJob>) {
    let message: NodeMessage = match serde_json::from_slice(payload) {
        Ok(message) => message,
        Err(e) => {
            shared.stats.malformed.fetch_add(1, Relaxed);
            log::debug!("ignoring a malformed node message: {e}");
            return;
        }
    };
    match message {
        NodeMessage::State(state) if state.node != shared.node => on_state(state, service, shared, link),
        NodeMessage::Goodbye { node } if node != shared.node => on_goodbye(node, service, shared),
        NodeMessage::Sync { node, .. } if node == shared.node => {
            let _ = link.send(LinkJob::SendFull);
        }
        NodeMessage::Hello { node } if node != shared.node => {
            let _ = link.send(LinkJob::SendFull);
        }
        _ => {}
    }
}

/// Another node's state: into the view; what its snapshot changed is told to our members.
fn on_state(state: NodeState, service: &Service, shared: &ClusterShared, link: &Sender<LinkJob>) {
    let node = state.node;
    let applied = shared.view_mut().apply(state, Instant::now());
    if applied.joined {
        log::info!("cluster: node {node} joined");
    }
    if !applied.changes.is_empty() {
        let (changes, told) = (applied.changes.len(), healing::tell_members(service, &shared.stats, applied.changes));
        log::info!("cluster: node {node}'s snapshot changed {changes} users' presence; {told} announced here");
    }
    if applied.ask_sync {
        let _ = link.send(LinkJob::AskSync(node));
    }
}

/// Another node shut down cleanly: dropped now; its users still in the view are told gone.
fn on_goodbye(node: Uuid, service: &Service, shared: &ClusterShared) {
    let Some(changes) = shared.view_mut().remove(node, Instant::now()) else { return };
    shared.stats.goodbyes.fetch_add(1, Relaxed);
    let (users, told) = (changes.len(), healing::tell_members(service, &shared.stats, changes));
    log::info!("cluster: node {node} said goodbye; {users} users left with it, {told} announced here");
}
