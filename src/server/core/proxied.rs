//! Events waiting on the backend (the event proxy): upgrades parked until the `connect`
//! answer arrives, and each connection's `subscribe` and `command` calls, whose answers are
//! applied in the order the connection made them.
//!
//! Owns the bookkeeping of calls in flight, and nothing waits here: calls go to the route's
//! `EventProxy` (which runs them on its own threads), answers come back as
//! `Command::Proxied` through the inbox. It must not parse frames or touch sockets.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::service::message::{encode, null, Envelope};
use crate::service::proxy::{
    CommandAnswer, ConnectAnswer, ConnectEvent, EventProxy, ProxyAnswer, ProxyCall, ProxyFailure, ProxyRequest,
    ProxyReturn, UserAnswer,
};

/// Most calls one connection may have waiting on the backend; more get `backend-busy` at once.
const MAX_IN_FLIGHT: u64 = 256;
/// Most bytes a parked upgrade may receive before its answer (a client does not send
/// frames before the `101`; this only bounds one that does).
const MAX_PARKED_BYTES: usize = 64 * 1024;
/// The request headers the connect event carries.
const CONNECT_HEADERS: [&str; 4] = ["cookie", "authorization", "origin", "user-agent"];

type Answer = Result<ProxyAnswer, ProxyFailure>;

/// A worker's connections with calls on the backend.
#[derive(Default)]
pub(super) struct Proxied {
    calls: HashMap<usize, Calls, FastHash>,
    parked: HashMap<usize, Box<Parked>, FastHash>,
}

/// One connection's calls: numbered as made, applied in that order.
struct Calls {
    ticket: ConnId,
    next: u64,
    applied: u64,
    done: BTreeMap<u64, Answer>,
}

/// An upgrade waiting for the connect answer.
struct Parked {
    ticket: ConnId,
    route: usize,
    request: HttpRequest,
    accept: String,
    /// Who the route's own authenticator (JWT) says it is, if anyone.
    profile: Option<Profile>,
    /// Bytes the client sent after its request.
    leftover: Vec<u8>,
}

impl Proxied {
    pub(super) fn is_parked(&self, slot: Slot) -> bool {
        self.parked.contains_key(&slot)
    }

    /// Drops what a connection had waiting (its late answers are ignored).
    pub(super) fn forget(&mut self, slot: Slot) {
        self.calls.remove(&slot);
        self.parked.remove(&slot);
    }
}

impl WorkerCore {
    /// Whether connection `id`'s route sends `event` to a backend.
    pub(super) fn route_proxies(&self, id: ConnId, event: ProxyEvent) -> bool {
        self.route_proxy(id).is_some_and(|proxy| proxy.handles(event))
    }

    fn route_proxy(&self, id: ConnId) -> Option<Arc<dyn EventProxy>> {
        let conn = self.ids.get(&id).and_then(|&slot| self.conns.get(slot as Slot))?;
        self.routes.sockets[conn.route as usize].proxy.clone()
    }

    /// Sends a `subscribe` or `command` event of connection `id` to its route's backend; the
    /// answer is applied when it and every earlier call's answer have arrived.
    pub(super) fn proxy_call(&mut self, id: ConnId, request: ProxyRequest) {
        let Some((slot, proxy)) = self.ids.get(&id).map(|&s| s as Slot).zip(self.route_proxy(id)) else { return };
        if let ProxyRequest::Subscribe(event) = &request {
            if self.conns.get(slot).is_some_and(|c| c.in_channel(&event.channel)) {
                return;
            }
        }
        let calls = self.proxied.calls.entry(slot).or_insert_with(|| Calls::new(id));
        if calls.ticket != id {
            *calls = Calls::new(id);
        }
        if calls.next - calls.applied >= MAX_IN_FLIGHT {
            return self.send_error(slot, "backend-busy", "too many commands waiting for the backend");
        }
        let seq = calls.next;
        calls.next += 1;
        bump(&self.service.shared.proxy_stats.calls, 1);
        let call = ProxyCall { worker: self.index, slot, ticket: id, seq, request };
        if proxy.submit(call).is_err() {
            self.on_proxied(ProxyReturn { slot, ticket: id, seq, answer: Err(ProxyFailure::QueueFull) });
        }
    }

    /// Parks an upgrade and asks the backend whether (and as whom) it may connect.
    pub(super) fn ask_backend_to_connect(
        &mut self,
        slot: Slot,
        route_index: usize,
        request: &HttpRequest,
        accept: &str,
        leftover: &mut [u8],
    ) {
        let route = self.routes.sockets[route_index].clone();
        let profile = match self.identify(&route, request) {
            Ok(profile) => profile,
            Err(response) => return self.reject(slot, response),
        };
        if request.query_param("ch").is_some_and(|ch| !valid_channel_name(&ch)) {
            return self.reject(slot, HttpResponse::text(400, &format!("invalid channel name: {CHANNEL_NAME_RULE}")));
        }
        let Some(proxy) = route.proxy else { return };
        let ticket = ConnId::new_v4();
        let call = ProxyCall { worker: self.index, slot, ticket, seq: 0, request: connect_event(request) };
        bump(&self.service.shared.proxy_stats.calls, 1);
        if proxy.submit(call).is_err() {
            self.service.shared.proxy_stats.count_failure(&ProxyFailure::QueueFull);
            let busy = HttpResponse::text(503, "the backend is unavailable").with_header("Retry-After", "5");
            return self.reject(slot, busy);
        }
        if let Some(Phase::Handshake(handshake)) = self.conns.get_mut(slot).map(|c| &mut c.phase) {
            handshake.received = Vec::new();
        }
        let (request, accept, leftover) = (request.clone(), accept.to_string(), leftover.to_vec());
        let parked = Parked { ticket, route: route_index, request, accept, profile, leftover };
        self.proxied.parked.insert(slot, Box::new(parked));
    }

    /// Bytes from a client whose upgrade is parked: kept for after the `101`, within a bound.
    pub(super) fn on_parked_bytes(&mut self, slot: Slot, data: &[u8]) {
        let Some(parked) = self.proxied.parked.get_mut(&slot) else { return };
        if parked.leftover.len() + data.len() > MAX_PARKED_BYTES {
            return self.doom(slot);
        }
        parked.leftover.extend_from_slice(data);
    }

    /// A backend's answer, from the inbox.
    pub(super) fn on_proxied(&mut self, answer: ProxyReturn) {
        if self.proxied.parked.get(&answer.slot).is_some_and(|p| p.ticket == answer.ticket) {
            if let Some(parked) = self.proxied.parked.remove(&answer.slot) {
                self.on_connect_answer(answer.slot, *parked, answer.answer);
            }
            return;
        }
        let slot = answer.slot;
        let Some(calls) = self.proxied.calls.get_mut(&slot).filter(|c| c.ticket == answer.ticket) else { return };
        calls.done.insert(answer.seq, answer.answer);
        while let Some(calls) = self.proxied.calls.get_mut(&slot) {
            let Some(next) = calls.done.remove(&calls.applied) else { return };
            calls.applied += 1;
            self.apply_answer(slot, next);
        }
    }

    fn on_connect_answer(&mut self, slot: Slot, parked: Parked, answer: Answer) {
        let answer = match answer {
            Ok(ProxyAnswer::Connect(answer)) => answer,
            Ok(_) => return self.reject(slot, HttpResponse::text(502, "the backend's answer was not understood")),
            Err(failure) => {
                self.service.shared.proxy_stats.count_failure(&failure);
                let status = match failure {
                    ProxyFailure::Timeout => 504,
                    ProxyFailure::BadAnswer(_) => 502,
                    _ => 503,
                };
                return self.reject(slot, HttpResponse::text(status, failure.public_message()));
            }
        };
        let ConnectAnswer { user, channels, refuse } = answer;
        if let Some(refuse) = refuse {
            let status = refuse.status.filter(|s| (400..=599).contains(s)).unwrap_or(403);
            let reason = refuse.reason.unwrap_or_else(|| "refused by the backend".into());
            return self.reject(slot, HttpResponse::text(status, &reason));
        }
        let profile = user.map(backend_profile).or(parked.profile);
        let route = self.routes.sockets[parked.route].clone();
        let first = channels.first().map(String::as_str);
        let admitted = match self.admit_as(&route, &parked.request, profile, first) {
            Ok(admitted) => admitted,
            Err(response) => return self.reject(slot, response),
        };
        self.open_session(slot, parked.route, &parked.request, admitted, &parked.accept, &mut []);
        let unique: BTreeSet<&str> = channels.iter().map(String::as_str).collect();
        for channel in unique {
            self.join_here(slot, channel);
        }
        let mut leftover = parked.leftover;
        if !leftover.is_empty() && self.conns.get(slot).is_some_and(|c| c.is_open()) {
            self.on_frame_bytes(slot, &mut leftover);
        }
    }

    fn apply_answer(&mut self, slot: Slot, answer: Answer) {
        match answer {
            Err(failure) => {
                self.service.shared.proxy_stats.count_failure(&failure);
                self.send_error(slot, failure.code(), failure.public_message());
            }
            Ok(ProxyAnswer::Subscribe(channel, verdict)) if verdict.allow => {
                self.join_here(slot, &channel);
            }
            Ok(ProxyAnswer::Subscribe(channel, verdict)) => {
                let reason = verdict.reason.unwrap_or_else(|| format!("not allowed to join '{channel}'"));
                self.send_error(slot, "forbidden", &reason);
            }
            Ok(ProxyAnswer::Command(channel, answer)) => self.apply_command_answer(slot, &channel, answer),
            Ok(ProxyAnswer::Connect(_)) => {}
        }
    }

    /// A command's answer: an error, a reply to the sender, a publish, in that order.
    fn apply_command_answer(&mut self, slot: Slot, channel: &str, answer: CommandAnswer) {
        if let Some(error) = answer.error {
            let code = error.code.as_deref().unwrap_or("error");
            self.send_error(slot, code, error.message.as_deref().unwrap_or("refused by the backend"));
        }
        if let Some(reply) = answer.reply {
            let param = reply.param.as_deref().unwrap_or(null());
            match encode(Envelope { from: None, channel: reply.channel.as_deref() }, &reply.cmd, param) {
                Ok(frame) => self.queue(slot, frame),
                Err(e) => log::warn!("a backend reply was not sent: {e}"),
            }
        }
        if let Some(publish) = answer.publish {
            let target = publish.channel.as_deref().unwrap_or(channel);
            if !valid_channel_name(target) || publish.cmd.is_empty() {
                return self.send_error(slot, "backend-error", "the backend published to an invalid channel");
            }
            let Some(id) = self.conns.get(slot).map(|c| c.id()) else { return };
            let param = publish.param.as_deref().unwrap_or(null());
            if let Err(e) = ops::write_channel(self, Some(&id), &publish.cmd, param, target, None) {
                log::warn!("a backend publish was not sent: {e}");
            }
        }
    }
}

impl Calls {
    fn new(ticket: ConnId) -> Self {
        Calls { ticket, next: 0, applied: 0, done: BTreeMap::new() }
    }
}

fn connect_event(request: &HttpRequest) -> ProxyRequest {
    let headers = CONNECT_HEADERS
        .iter()
        .filter_map(|name| request.header(name).map(|value| (*name, value.to_string())))
        .collect();
    ProxyRequest::Connect(ConnectEvent {
        remote: request.remote.to_string(),
        path: request.path.clone(),
        query: request.query.clone(),
        headers,
    })
}

/// The profile the backend gave a connection.
fn backend_profile(user: UserAnswer) -> Profile {
    let name = Cow::Owned(user.name.unwrap_or_else(|| user.id.clone()));
    Profile { id: user.id, name, roles: user.roles, claims: Default::default(), anonymous: false, expires_at: None }
}
