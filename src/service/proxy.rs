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
    /// An upgrade: may it connect, and as whom.
    Connect,
    /// A join of a channel the connection is not in.
    Subscribe,
    /// A client command with no built-in meaning.
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
    /// The worker whose inbox gets the answer.
    pub worker: usize,
    /// The connection's slot on its worker, and its id (a slot is reused; the id is not).
    pub slot: usize,
    /// The connection's id (or, for a connect, the upgrade's own ticket).
    pub ticket: ConnId,
    /// Position among the connection's calls: answers are applied in this order.
    pub seq: u64,
    /// The event.
    pub request: ProxyRequest,
}

/// An event for the backend.
#[derive(Debug)]
pub enum ProxyRequest {
    /// See [`ConnectEvent`].
    Connect(ConnectEvent),
    /// See [`SubscribeEvent`].
    Subscribe(SubscribeEvent),
    /// See [`CommandEvent`].
    Command(CommandEvent),
}

/// `connect`: an upgrade request, before the connection exists.
#[derive(Debug, Serialize)]
pub struct ConnectEvent {
    /// The client's address and port.
    pub remote: String,
    /// The request path (`/socket`).
    pub path: String,
    /// The raw query string (`ch=lobby&...`).
    pub query: String,
    /// `cookie`, `authorization`, `origin`, `user-agent` (those present).
    pub headers: BTreeMap<&'static str, String>,
}

/// `subscribe`: a connection asks to join a channel it is not in.
#[derive(Debug, Serialize)]
pub struct SubscribeEvent {
    /// The connection's id.
    pub conn: ConnId,
    /// Its user's id (the connection id for anonymous users).
    pub user: String,
    /// The channel it asks to join.
    pub channel: String,
}

/// `command`: a client command with no built-in meaning.
#[derive(Debug, Serialize)]
pub struct CommandEvent {
    /// The connection's id.
    pub conn: ConnId,
    /// Its user's id (the connection id for anonymous users).
    pub user: String,
    /// The message's channel (one the connection is in).
    pub channel: String,
    /// The command.
    pub cmd: String,
    /// Its param, raw JSON as the client sent it.
    pub param: Box<RawValue>,
}

/// A backend's answer (or why there is none), on its way back to the worker.
#[derive(Debug)]
pub struct ProxyReturn {
    /// The call's `token`.
    pub slot: usize,
    /// The call's `ticket`.
    pub ticket: ConnId,
    /// The call's `seq`.
    pub seq: u64,
    /// The answer, or why there is none.
    pub answer: Result<ProxyAnswer, ProxyFailure>,
}

/// A backend's answer to one event.
#[derive(Debug)]
pub enum ProxyAnswer {
    /// See [`ConnectAnswer`].
    Connect(ConnectAnswer),
    /// The channel asked for, and the verdict.
    Subscribe(String, SubscribeAnswer),
    /// The channel of the command, and what to do.
    Command(String, CommandAnswer),
}

/// `{"user":{"id","name","roles"},"channels":[...]}` or `{"refuse":{"status","reason"}}`.
#[derive(Debug, Default, Deserialize)]
pub struct ConnectAnswer {
    /// Who connects (`None`: the route's own authentication, or anonymous).
    pub user: Option<UserAnswer>,
    /// Channels it joins at once.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Set when the upgrade is refused.
    pub refuse: Option<Refuse>,
}

/// The user the backend names.
#[derive(Debug, Deserialize)]
pub struct UserAnswer {
    /// The user id.
    pub id: String,
    /// The display name (default: the id).
    pub name: Option<String>,
    /// Roles, for the channel policy.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A refused upgrade.
#[derive(Debug, Deserialize)]
pub struct Refuse {
    /// The HTTP status (400 to 599; default 403).
    pub status: Option<u16>,
    /// The response's text.
    pub reason: Option<String>,
}

/// `{"allow": true}` or `{"allow": false, "reason"}`.
#[derive(Debug, Deserialize)]
pub struct SubscribeAnswer {
    /// Whether the join happens.
    pub allow: bool,
    /// Why not (sent to the client).
    pub reason: Option<String>,
}

/// Any of `reply` (to the sender), `publish` (to a channel), `error`; or nothing (204).
#[derive(Debug, Default, Deserialize)]
pub struct CommandAnswer {
    /// A message to the sender.
    pub reply: Option<Outgoing>,
    /// A message to a channel (the command's, unless it names one), `from` the sender.
    pub publish: Option<Outgoing>,
    /// An `error` to the sender.
    pub error: Option<ErrorAnswer>,
}

/// A message the backend asks the server to send.
#[derive(Debug, Deserialize)]
pub struct Outgoing {
    /// The channel (for a reply: only shown in the envelope).
    pub channel: Option<String>,
    /// The command.
    pub cmd: String,
    /// Its param (`null` when absent).
    pub param: Option<Box<RawValue>>,
}

/// An `error` the backend sends to the client.
#[derive(Debug, Deserialize)]
pub struct ErrorAnswer {
    /// The `code` (default `error`).
    pub code: Option<String>,
    /// The `message`.
    pub message: Option<String>,
}

/// Why a call has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyFailure {
    /// Refused, reset, unreachable (the detail is logged, not shown to clients).
    #[error("the backend is unavailable: {0}")]
    Unavailable(String),
    /// No answer within the proxy timeout.
    #[error("the backend did not answer in time")]
    Timeout,
    /// Not 2xx, or not the expected JSON.
    #[error("the backend's answer was not understood: {0}")]
    BadAnswer(String),
    /// The pool's queue is full.
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
    /// Events sent (or offered) to the backend.
    pub calls: AtomicU64,
    /// Failures: backend down.
    pub unavailable: AtomicU64,
    /// Failures: no answer in time.
    pub timeouts: AtomicU64,
    /// Failures: an answer not understood.
    pub bad_answers: AtomicU64,
    /// Failures: the queue was full.
    pub queue_full: AtomicU64,
}

impl ProxyStats {
    /// Counts one failure under its reason.
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
