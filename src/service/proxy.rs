//! The event proxy as the core sees it: the events a worker hands to a backend (`connect`,
//! `subscribe`, `command`), the answers that come back through its inbox, and the
//! `EventProxy` trait the edge layer (`crate::api::proxy`) implements with HTTP calls.
//!
//! Plain data and a trait, like `backplane.rs`: nothing here does I/O or blocks. The
//! answers' JSON shapes are the protocol a backend implements (see the README).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::connection::ConnId;

/// The events a backend may be asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyEvent {
    Connect,
    Subscribe,
    Command,
}

/// Hands events to a backend. `submit` must not block: a full queue refuses the call.
pub trait EventProxy: Send + Sync + 'static {
    /// Whether this event goes to the backend (it has a URL).
    fn handles(&self, event: ProxyEvent) -> bool;

    /// Queues a call; the answer comes back to `call.worker`'s inbox as `Command::Proxied`.
    /// `Err` gives the call back when the queue is full.
    fn submit(&self, call: ProxyCall) -> Result<(), Box<ProxyCall>>;
}

/// One call to the backend, and where its answer goes.
#[derive(Debug)]
pub struct ProxyCall {
    pub worker: usize,
    /// The connection's slot on its worker, and its id (a slot is reused; the id is not).
    pub token: usize,
    pub ticket: ConnId,
    /// Position among the connection's calls: answers are applied in this order.
    pub seq: u64,
    pub request: ProxyRequest,
}

#[derive(Debug)]
pub enum ProxyRequest {
    Connect(ConnectEvent),
    Subscribe(SubscribeEvent),
    Command(CommandEvent),
}

/// `connect`: an upgrade request, before the connection exists.
#[derive(Debug, Serialize)]
pub struct ConnectEvent {
    pub remote: String,
    pub path: String,
    pub query: String,
    /// `cookie`, `authorization`, `origin`, `user-agent` (those present).
    pub headers: BTreeMap<&'static str, String>,
}

/// `subscribe`: a connection asks to join a channel it is not in.
#[derive(Debug, Serialize)]
pub struct SubscribeEvent {
    pub conn: ConnId,
    pub user: String,
    pub channel: String,
}

/// `command`: a client command with no built-in meaning.
#[derive(Debug, Serialize)]
pub struct CommandEvent {
    pub conn: ConnId,
    pub user: String,
    pub channel: String,
    pub cmd: String,
    pub param: Box<RawValue>,
}

/// A backend's answer (or why there is none), on its way back to the worker.
#[derive(Debug)]
pub struct ProxyReturn {
    pub token: usize,
    pub ticket: ConnId,
    pub seq: u64,
    pub answer: Result<ProxyAnswer, ProxyFailure>,
}

#[derive(Debug)]
pub enum ProxyAnswer {
    Connect(ConnectAnswer),
    /// The channel asked for, and the verdict.
    Subscribe(String, SubscribeAnswer),
    /// The channel of the command, and what to do.
    Command(String, CommandAnswer),
}

/// `{"user":{"id","name","roles"},"channels":[...]}` or `{"refuse":{"status","reason"}}`.
#[derive(Debug, Default, Deserialize)]
pub struct ConnectAnswer {
    pub user: Option<UserAnswer>,
    #[serde(default)]
    pub channels: Vec<String>,
    pub refuse: Option<Refuse>,
}

#[derive(Debug, Deserialize)]
pub struct UserAnswer {
    pub id: String,
    pub name: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Refuse {
    pub status: Option<u16>,
    pub reason: Option<String>,
}

/// `{"allow": true}` or `{"allow": false, "reason"}`.
#[derive(Debug, Deserialize)]
pub struct SubscribeAnswer {
    pub allow: bool,
    pub reason: Option<String>,
}

/// Any of `reply` (to the sender), `publish` (to a channel), `error`; or nothing (204).
#[derive(Debug, Default, Deserialize)]
pub struct CommandAnswer {
    pub reply: Option<Outgoing>,
    pub publish: Option<Outgoing>,
    pub error: Option<ErrorAnswer>,
}

/// A message the backend asks the server to send.
#[derive(Debug, Deserialize)]
pub struct Outgoing {
    pub channel: Option<String>,
    pub cmd: String,
    pub param: Option<Box<RawValue>>,
}

#[derive(Debug, Deserialize)]
pub struct ErrorAnswer {
    pub code: Option<String>,
    pub message: Option<String>,
}

/// Why a call has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyFailure {
    #[error("the backend is unavailable: {0}")]
    Unavailable(String),
    #[error("the backend did not answer in time")]
    Timeout,
    #[error("the backend's answer was not understood: {0}")]
    BadAnswer(String),
    #[error("too many calls waiting for the backend")]
    QueueFull,
}

impl ProxyFailure {
    /// What the client is told: no addresses, no backend error text (those are logged).
    pub fn public_message(&self) -> &'static str {
        match self {
            ProxyFailure::Unavailable(_) => "the backend is unavailable",
            ProxyFailure::Timeout => "the backend did not answer in time",
            ProxyFailure::BadAnswer(_) => "the backend's answer was not understood",
            ProxyFailure::QueueFull => "too many calls waiting for the backend",
        }
    }

    /// The `code` of the client's `error` message.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyFailure::BadAnswer(_) => "backend-error",
            _ => "backend-unavailable",
        }
    }
}

/// Counters of the event proxy, shown on `/metrics`.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub calls: AtomicU64,
    pub unavailable: AtomicU64,
    pub timeouts: AtomicU64,
    pub bad_answers: AtomicU64,
    pub queue_full: AtomicU64,
}

impl ProxyStats {
    pub fn count_failure(&self, failure: &ProxyFailure) {
        let counter = match failure {
            ProxyFailure::Unavailable(_) => &self.unavailable,
            ProxyFailure::Timeout => &self.timeouts,
            ProxyFailure::BadAnswer(_) => &self.bad_answers,
            ProxyFailure::QueueFull => &self.queue_full,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}
