//! A worker's state and everything that happens to its connections: handshake, frames,
//! dispatch to handlers, channel fan-out, closing, timers.
//!
//! Owns the worker's `Slab` of connections, its channel index (channel → local member
//! tokens) and its connection-id map; nothing here is shared or locked on the per-message
//! path. Fan-out queues one shared frame on each member (no copy, no allocation per
//! recipient) and marks it dirty; `flush_dirty` then writes each dirty connection once per
//! loop turn (corking) and disconnects slow consumers. It does not poll or accept: the
//! worker loop (`worker.rs`) feeds it bytes and events.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use indexmap::IndexSet;

/// The worker's maps are looked up per message: a fast, randomly seeded hasher.
type FastHash = foldhash::fast::RandomState;
use serde::Serialize;
use slab::Slab;
use tungstenite::protocol::frame::coding::{Data, OpCode};

use super::conn::{Conn, Expiry, Phase, RateBucket, RateVerdict, MAX_PENDING_PONGS};
use super::frames::{self, Flow, FrameEvent, SharedFrame};
use super::http::{self, HttpRequest, HttpResponse, Parse};
use super::outqueue::Flushed;
use super::routes::{valid_channel_name, Routes, SocketKind};
use crate::auth::ChannelAction;
use crate::service::backplane::Scope;
use crate::service::bus::Command;
use crate::service::connection::{ConnId, Connection, Profile};
use crate::service::limits::Full;
use crate::service::message::{error_frame, Inbound};
use crate::service::ops::{self, Dispatch};
use crate::service::stats::{bump, WorkerStats};
use crate::service::tap::TapEvent;
use crate::service::{Context, Service, Shared};

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

#[derive(Serialize)]
struct OnlineUpdate<'a> {
    #[serde(rename = "userID")]
    user_id: &'a str,
    connected: bool,
}

pub struct WorkerCore {
    pub index: usize,
    pub conns: Slab<Conn>,
    channels: HashMap<Arc<str>, IndexSet<usize, FastHash>, FastHash>,
    ids: HashMap<ConnId, usize, FastHash>,
    dirty: Vec<usize>,
    doomed: Vec<usize>,
    pub now: Instant,
    pub service: Service,
    routes: Arc<Routes>,
    common: CommonFrames,
    /// The poll registry, to ask for writable events once a socket has refused bytes
    /// (sockets start readable-only: no wake-up per ACK while writes go through).
    registry: Option<mio::Registry>,
    /// The timer sweep's period.
    tick: Duration,
    /// When every open connection is next pinged (one shared ping frame per worker).
    next_ping: Instant,
}

impl WorkerCore {
    pub fn new(index: usize, service: Service, routes: Arc<Routes>, registry: Option<mio::Registry>) -> Self {
        let common = CommonFrames {
            ping: frames::ping(),
            heartbeat: frames::text(br#"{"cmd":"heartbeat","param":null}"#),
            close_connection: frames::text(br#"{"cmd":"close-connection","param":null}"#),
        };
        WorkerCore {
            index,
            conns: Slab::new(),
            channels: HashMap::default(),
            ids: HashMap::default(),
            dirty: Vec::new(),
            doomed: Vec::new(),
            now: Instant::now(),
            registry,
            tick: service.shared.config.tick(),
            next_ping: Instant::now() + service.shared.config.ping_interval,
            service,
            routes,
            common,
        }
    }

    fn stats(&self) -> &WorkerStats {
        &self.service.shared.stats[self.index]
    }

    /// Tokens of connections to remove from the slab (the worker drops their sockets).
    pub fn take_doomed(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.doomed)
    }

    fn doom(&mut self, token: usize) {
        self.end_session(token);
        self.doomed.push(token);
    }

    // ---- input -------------------------------------------------------------------------

    /// Bytes read from a connection's socket.
    pub fn on_bytes(&mut self, token: usize, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        conn.last_heard = self.now;
        conn.counters.bytes_in += data.len() as u64;
        bump(&self.service.shared.stats[self.index].bytes_in, data.len() as u64);
        match conn.phase {
            Phase::Handshake { .. } => self.on_handshake_bytes(token, data),
            Phase::Open => self.on_frame_bytes(token, data),
            Phase::Closing { .. } => {}
        }
    }

    /// The peer closed its side (read returned 0) or the socket failed.
    pub fn on_peer_gone(&mut self, token: usize) {
        self.doom(token);
    }

    fn on_handshake_bytes(&mut self, token: usize, data: &[u8]) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let Phase::Handshake { received, .. } = &mut conn.phase else {
            return;
        };
        received.extend_from_slice(data);
        match http::parse_request(received, conn.remote) {
            Ok(Parse::Partial) => {}
            Err(response) => self.reject(token, response),
            Ok(Parse::Complete(request, used)) => {
                let leftover = received[used..].to_vec();
                self.on_request(token, *request, leftover);
            }
        }
    }

    fn on_request(&mut self, token: usize, request: HttpRequest, mut leftover: Vec<u8>) {
        if let Some(route) = self.routes.socket(&request.path) {
            match http::check_upgrade(&request) {
                Ok(accept) => self.upgrade(token, route, &request, &accept, &mut leftover),
                Err(response) => self.reject(token, response),
            }
            return;
        }
        bump(&self.stats().http_requests, 1);
        let response = match self.routes.http(&request.path) {
            Some(handler) => handler(&request, &self.service),
            None => HttpResponse::text(404, "not found"),
        };
        self.respond(token, response);
    }

    fn reject(&mut self, token: usize, response: HttpResponse) {
        let stats = self.stats();
        bump(&stats.handshakes_rejected, 1);
        match response.status {
            401 => bump(&stats.handshakes_unauthorized, 1),
            403 => bump(&stats.handshakes_forbidden, 1),
            503 => {} // counted as connections_refused
            _ => bump(&stats.handshakes_bad_request, 1),
        }
        self.respond(token, response);
    }

    /// Queues a plain HTTP response; the connection closes once it is sent.
    fn respond(&mut self, token: usize, response: HttpResponse) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        conn.out.push(response.to_bytes());
        conn.phase = Phase::Closing { since: self.now };
        self.mark_dirty(token);
    }

    fn upgrade(&mut self, token: usize, route_index: usize, request: &HttpRequest, accept: &str, leftover: &mut [u8]) {
        let routes = self.routes.clone();
        let route = &routes.sockets[route_index];
        let admission = self.admit(route, request);
        let (channel, profile) = match admission {
            Ok(admitted) => admitted,
            Err(response) => return self.reject(token, response),
        };
        let id = ConnId::new_v4();
        let Some(conn) = self.conns.get_mut(token) else {
            self.service.shared.limits.release(request.remote.ip());
            return;
        };
        let session = Arc::new(Connection {
            id,
            profile: profile.unwrap_or_else(|| Profile::anonymous(id)),
            remote: conn.remote,
            path: route.path.clone(),
            channel: match self.channels.get_key_value(channel.as_str()) {
                Some((name, _)) => name.clone(),
                None => Arc::from(channel.as_str()),
            },
            connected_at: SystemTime::now(),
            counters: Default::default(),
        });
        conn.out.push(http::switching_protocols(accept));
        conn.phase = Phase::Open;
        conn.id = id;
        conn.route = route_index as u32;
        conn.session = Some(session.clone());
        conn.rate = RateBucket::full(self.service.shared.config.rate_limit, self.now);
        conn.expiry = expiry_of(&session.profile);
        self.ids.insert(id, token);
        let is_tap = matches!(route.kind, SocketKind::Tap);
        bump(if is_tap { &self.stats().tap_connections } else { &self.stats().connections }, 1);
        bump(&self.stats().connections_opened, 1);
        self.mark_dirty(token);
        match &route.kind {
            SocketKind::Tap => self.service.shared.tap.subscribe(id, self.index),
            SocketKind::Echo => self.register(&session),
            SocketKind::Json(handler) => {
                self.register(&session);
                self.join_here(token, &channel);
                handler.on_open(&mut Context::new(self, Some(id)), &session);
            }
        }
        if !leftover.is_empty() {
            self.on_frame_bytes(token, leftover);
        }
    }

    /// Adds a session to the registry; tells the backplane of a user new to this node.
    fn register(&mut self, session: &Arc<Connection>) {
        let shared = &self.service.shared;
        if shared.registry.add(session.clone(), self.index) {
            if let Some(backplane) = shared.backplane.get() {
                backplane.occupied(Scope::User(&session.profile.id));
            }
        }
    }

    /// The checks between a valid upgrade request and a session: origin, identity,
    /// channel name, connection limits. Returns the channel to join and the profile.
    fn admit(
        &mut self,
        route: &super::routes::SocketRoute,
        request: &HttpRequest,
    ) -> Result<(String, Option<Profile>), HttpResponse> {
        let config = &self.service.shared.config;
        if let Some(origin) = request.header("origin") {
            let allowed = &config.allowed_origins;
            if !allowed.is_empty() && !allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(origin)) {
                return Err(HttpResponse::text(403, "origin not allowed"));
            }
        }
        let profile = match &route.authenticator {
            Some(authenticator) => authenticator
                .authenticate(request)
                .map_err(|refusal| HttpResponse::text(refusal.status, &refusal.reason))?,
            None => None,
        };
        let is_app_route = matches!(route.kind, SocketKind::Json(_));
        if is_app_route && profile.is_none() && config.require_auth {
            return Err(HttpResponse::text(401, "authentication required"));
        }
        let channel = match request.query_param("ch") {
            Some(name) if valid_channel_name(&name) => name,
            Some(_) => return Err(HttpResponse::text(400, "invalid channel name")),
            None => format!("{}-{}", route.channel_prefix, &ConnId::new_v4().simple().to_string()[..8]),
        };
        if is_app_route {
            let as_anonymous;
            let who = match &profile {
                Some(profile) => profile,
                None => {
                    as_anonymous = Profile::anonymous(ConnId::nil());
                    &as_anonymous
                }
            };
            if !self.authorized(who, &channel, ChannelAction::Join) {
                return Err(HttpResponse::text(403, "not allowed to join this channel"));
            }
        }
        if let Err(full) = self.service.shared.limits.admit(request.remote.ip()) {
            bump(&self.stats().connections_refused, 1);
            let why = match full {
                Full::Server => "server is at its connection limit",
                Full::Ip => "too many connections from this address",
            };
            return Err(HttpResponse::text(503, why).with_header("Retry-After", "5"));
        }
        Ok((channel, profile))
    }

    fn on_frame_bytes(&mut self, token: usize, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let mut reader = std::mem::take(&mut conn.reader);
        let max_message = self.routes.sockets[conn.route as usize].max_message_bytes;
        let result = reader.feed(data, max_message, &mut |event| self.on_frame_event(token, event));
        match result {
            Err(violation) => {
                bump(&self.stats().protocol_closes, 1);
                if violation.code == 1009 {
                    bump(&self.stats().message_too_big_closes, 1);
                }
                log::debug!("connection {token}: {violation}");
                self.start_close(token, violation.code, violation.reason);
            }
            Ok(_) => {
                if let Some(conn) = self.conns.get_mut(token).filter(|c| c.is_open()) {
                    conn.reader = reader;
                }
            }
        }
    }

    fn on_frame_event(&mut self, token: usize, event: FrameEvent<'_>) -> Flow {
        match event {
            FrameEvent::Text(text) => self.on_message(token, Payload::Text(text)),
            FrameEvent::Binary(data) => self.on_message(token, Payload::Binary(data)),
            FrameEvent::Ping(payload) => self.queue_pong(token, payload),
            FrameEvent::Pong => {}
            FrameEvent::Close(code) => {
                let code = code.map_or(1000, |(code, _)| code);
                self.start_close(token, code, "");
            }
        }
        match self.conns.get(token) {
            Some(conn) if conn.is_open() => Flow::Continue,
            _ => Flow::Stop,
        }
    }

    fn on_message(&mut self, token: usize, payload: Payload<'_>) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        conn.counters.messages_in += 1;
        let stats = &self.service.shared.stats[self.index];
        bump(&stats.messages_in, 1);
        stats.message_bytes.observe(payload.len() as u64);
        let routes = self.routes.clone();
        match (&routes.sockets[conn.route as usize].kind, payload) {
            (SocketKind::Echo, Payload::Text(text)) => self.queue(token, frames::text(text.as_bytes())),
            (SocketKind::Echo, Payload::Binary(data)) => {
                self.queue(token, frames::encode(OpCode::Data(Data::Binary), data))
            }
            (SocketKind::Json(_), Payload::Binary(_)) => {
                self.send_error(token, "bad-message", "binary messages are not supported; send JSON text")
            }
            (SocketKind::Json(handler), Payload::Text(text)) => {
                if self.take_rate(token, true) {
                    self.on_json(token, &**handler, text);
                }
            }
            (SocketKind::Tap, _) => {}
        }
    }

    /// Takes one message (or ping) from the connection's rate budget. Over it, the message is
    /// refused (`tell`: with an `error`; a refused ping just gets no pong); far over it (a
    /// client that does not slow down), the connection is closed.
    fn take_rate(&mut self, token: usize, tell: bool) -> bool {
        let rate = self.service.shared.config.rate_limit;
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        match conn.rate.take(rate, self.now) {
            RateVerdict::Allowed => true,
            RateVerdict::Refused => {
                bump(&self.service.shared.stats[self.index].rate_limited, 1);
                if tell {
                    self.send_error(token, "rate-limited", "too many messages; slow down");
                }
                false
            }
            RateVerdict::Abusive => {
                bump(&self.service.shared.stats[self.index].rate_limit_closes, 1);
                self.start_close(token, 1008, "rate limit exceeded");
                false
            }
        }
    }

    fn on_json(&mut self, token: usize, handler: &dyn crate::service::Handler, text: &str) {
        let message = match Inbound::parse(text) {
            Ok(message) => message,
            Err(e) => return self.send_error(token, "bad-json", &format!("invalid message: {e}")),
        };
        match &*message.cmd {
            "heartbeat" => {
                bump(&self.stats().heartbeats, 1);
                let heartbeat = self.common.heartbeat.clone();
                return self.queue(token, heartbeat);
            }
            "refresh" => return self.refresh(token, message.param()),
            _ => {}
        }
        let Some(conn) = self.conns.get(token) else {
            return;
        };
        let Some(session) = conn.session.clone() else {
            return;
        };
        let channel = message.channel.as_deref().unwrap_or(&session.channel);
        let is_member = conn.in_channel(channel);
        if self.service.shared.tap.is_active() {
            let event = TapEvent {
                time: TapEvent::now_ms(),
                dir: "in",
                conn: Some(session.id),
                target: None,
                channel: Some(channel),
                user: Some(&session.profile.id),
                cmd: &message.cmd,
                param: message.param(),
            };
            ops::tap(self, &event);
        }
        if is_member && !self.authorized(&session.profile, channel, ChannelAction::Publish) {
            return self.send_error(token, "forbidden", &format!("not allowed to publish to '{channel}'"));
        }
        if !is_member {
            return self.send_error(token, "not-member", &format!("not a member of channel '{channel}'"));
        }
        let result = handler.on_message(
            &mut Context::new(self, Some(session.id)),
            &session,
            channel,
            &message.cmd,
            message.param(),
        );
        if let Err(e) = result {
            self.send_error(token, e.code(), &e.to_string());
        }
    }

    /// The built-in `refresh {token}`: a new credential for a live connection.
    fn refresh(&mut self, token: usize, param: &serde_json::value::RawValue) {
        #[derive(serde::Deserialize)]
        struct Refresh {
            token: String,
        }
        let Some(conn) = self.conns.get(token) else { return };
        let Some(session) = conn.session.clone() else { return };
        let Some(authenticator) = self.routes.sockets[conn.route as usize].authenticator.clone() else {
            return self.send_error(token, "refresh-failed", "this route has no authentication");
        };
        let Ok(Refresh { token: credential }) = serde_json::from_str(param.get()) else {
            return self.send_error(token, "bad-param", "refresh needs {\"token\": string}");
        };
        match authenticator.refresh(&credential, &session.profile) {
            Ok(profile) if profile.id == session.profile.id => {
                if let Some(conn) = self.conns.get_mut(token) {
                    conn.expiry = expiry_of(&profile);
                }
                let reply = serde_json::json!({ "expires_at": profile.expires_at });
                match crate::service::message::encode(Default::default(), "refreshed", &reply) {
                    Ok(frame) => self.queue(token, frame),
                    Err(e) => log::warn!("refresh reply not sent: {e}"),
                }
            }
            Ok(_) => self.send_error(token, "refresh-failed", "the new token is for another user"),
            Err(refusal) => self.send_error(token, "refresh-failed", &refusal.reason),
        }
    }

    fn send_error(&mut self, token: usize, code: &str, message: &str) {
        bump(&self.stats().errors_sent, 1);
        self.queue(token, error_frame(code, message));
    }

    // ---- output ------------------------------------------------------------------------

    fn mark_dirty(&mut self, token: usize) {
        if let Some(conn) = self.conns.get_mut(token) {
            mark(conn, token, &mut self.dirty);
        }
    }

    /// Queues a data frame on an open connection.
    pub fn queue(&mut self, token: usize, frame: SharedFrame) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        queue_on(conn, token, frame, &mut self.dirty, &self.service.shared.stats[self.index]);
    }

    /// Queues a control frame (pong), allowed while open.
    fn queue_pong(&mut self, token: usize, ping_payload: &[u8]) {
        let Some(conn) = self.conns.get(token).filter(|c| c.is_open()) else { return };
        let is_echo = matches!(self.routes.sockets[conn.route as usize].kind, SocketKind::Echo);
        if !is_echo && !self.take_rate(token, false) {
            return;
        }
        let Some(conn) = self.conns.get_mut(token) else { return };
        if conn.pending_pongs >= MAX_PENDING_PONGS {
            return;
        }
        conn.pending_pongs += 1;
        conn.out.push(frames::pong(ping_payload));
        self.mark_dirty(token);
    }

    /// Queues one shared frame on every local member of `channel` except `except`.
    pub fn fan_out(&mut self, channel: &str, frame: &SharedFrame, except: Option<ConnId>) {
        let Some(members) = self.channels.get(channel) else {
            return;
        };
        let skip = except.and_then(|id| self.ids.get(&id).copied());
        let stats = &self.service.shared.stats[self.index];
        for &token in members {
            if Some(token) == skip {
                continue;
            }
            if let Some(conn) = self.conns.get_mut(token) {
                queue_on(conn, token, frame.clone(), &mut self.dirty, stats);
            }
        }
        stats.fanout_width.observe(members.len() as u64);
    }

    /// Writes every dirty connection once; disconnects those past their out-queue limit.
    pub fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &token in &dirty {
            self.flush(token);
        }
        let mut dirty = dirty;
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    /// The socket became writable again.
    pub fn on_writable(&mut self, token: usize) {
        if let Some(conn) = self.conns.get_mut(token) {
            conn.write_blocked = false;
            self.mark_dirty(token);
        }
    }

    fn flush(&mut self, token: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        conn.dirty = false;
        if conn.write_blocked {
            return self.check_backlog(token);
        }
        match conn.out.flush_into(&mut conn.socket) {
            Ok(Flushed::All) => {
                conn.pending_pongs = 0;
                if conn.is_closing() && !conn.write_shut {
                    conn.write_shut = true;
                    let _ = conn.socket.shutdown(std::net::Shutdown::Write);
                }
            }
            Ok(Flushed::Blocked) => {
                conn.write_blocked = true;
                if !conn.writable_interest {
                    conn.writable_interest = true;
                    if let Some(registry) = &self.registry {
                        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
                        if let Err(e) = registry.reregister(&mut conn.socket, mio::Token(token), interest) {
                            log::warn!("connection {token}: cannot wait for writability: {e}");
                        }
                    }
                }
                self.check_backlog(token);
            }
            Err(e) => {
                log::debug!("connection {token}: write failed: {e}");
                self.doom(token);
            }
        }
    }

    /// A connection whose queue outgrew its route's limit is a slow consumer.
    fn check_backlog(&mut self, token: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let limit = self.routes.sockets[conn.route as usize].send_buffer_bytes;
        if conn.out.footprint() <= limit || conn.is_closing() {
            return;
        }
        log::info!("closing slow consumer {} ({} bytes queued)", conn.id, conn.out.queued_bytes());
        conn.out.clear();
        bump(&self.service.shared.stats[self.index].slow_consumer_closes, 1);
        conn.write_blocked = false;
        self.start_close(token, 1008, "slow consumer");
    }

    // ---- channels ----------------------------------------------------------------------

    /// Joins a local connection to a channel; tells the other members. False if it was
    /// already a member or is not open.
    fn join_here(&mut self, token: usize, channel: &str) -> bool {
        let Some(conn) = self.conns.get_mut(token).filter(|c| c.is_open()) else {
            return false;
        };
        if conn.in_channel(channel) || !valid_channel_name(channel) {
            return false;
        }
        if conn.channels.len() >= self.service.shared.config.max_channels_per_connection {
            let limit = self.service.shared.config.max_channels_per_connection;
            self.send_error(token, "limit", &format!("a connection may be in at most {limit} channels"));
            return false;
        }
        let Some(session) = conn.session.clone() else { return false };
        if !self.authorized(&session.profile, channel, ChannelAction::Join) {
            self.send_error(token, "forbidden", &format!("not allowed to join '{channel}'"));
            return false;
        }
        let name = match self.channels.get_key_value(channel) {
            Some((name, _)) => name.clone(),
            None if &*session.channel == channel => session.channel.clone(),
            None => Arc::from(channel),
        };
        let Some(conn) = self.conns.get_mut(token) else { return false };
        conn.channels.reserve_exact(1); // joins are rare: keep the list exactly sized
        conn.channels.push(name.clone());
        self.channels.entry(name).or_default().insert(token);
        let joined = self.service.shared.registry.join(&session.id, channel);
        if joined.channel_created {
            if let Some(backplane) = self.service.shared.backplane.get() {
                backplane.occupied(Scope::Channel(channel));
            }
        }
        if joined.user_first && !self.user_elsewhere(channel, &session.profile.id) {
            self.announce(channel, &session.profile.id, true, session.id);
        }
        true
    }

    /// Whether another node of the cluster has this user in this channel.
    fn user_elsewhere(&self, channel: &str, user: &str) -> bool {
        self.service.shared.backplane.get().is_some_and(|b| b.user_elsewhere(channel, user))
    }

    fn authorized(&self, profile: &Profile, channel: &str, action: ChannelAction) -> bool {
        self.service.shared.authorizer.get().is_none_or(|authorizer| authorizer.authorize(profile, channel, action))
    }

    /// Records a leave in the registry; tells the others if the user is gone from the
    /// channel, and the backplane if the channel is gone from this node.
    fn record_leave(&mut self, id: ConnId, user: &str, channel: &str) {
        let left = self.service.shared.registry.leave(&id, channel);
        if left.channel_deleted {
            if let Some(backplane) = self.service.shared.backplane.get() {
                backplane.vacated(Scope::Channel(channel));
            }
        }
        if left.user_last && !self.user_elsewhere(channel, user) {
            self.announce(channel, user, false, id);
        }
    }

    /// Removes a local connection from a channel; tells the remaining members.
    fn leave_here(&mut self, token: usize, channel: &str) -> bool {
        let Some(conn) = self.conns.get_mut(token) else {
            return false;
        };
        let Some(position) = conn.channels.iter().position(|c| &**c == channel) else {
            return false;
        };
        conn.channels.swap_remove(position);
        let (id, user) = session_ids(conn);
        self.remove_member(channel, token);
        self.record_leave(id, &user, channel);
        true
    }

    fn remove_member(&mut self, channel: &str, token: usize) {
        if let Some(members) = self.channels.get_mut(channel) {
            members.swap_remove(&token);
            if members.is_empty() {
                self.channels.remove(channel);
            }
        }
    }

    /// `online-update` to the other members of a channel, on every worker.
    fn announce(&mut self, channel: &str, user: &str, connected: bool, except: ConnId) {
        let update = OnlineUpdate { user_id: user, connected };
        if let Err(e) = ops::write_channel(self, None, "online-update", &update, channel, Some(except)) {
            log::warn!("online-update not sent: {e}");
        }
    }

    // ---- closing -----------------------------------------------------------------------

    /// Sends a close frame and ends the session; the socket goes once the peer answers or
    /// `close_timeout` passes.
    pub fn start_close(&mut self, token: usize, code: u16, reason: &str) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        match conn.phase {
            Phase::Closing { .. } => return,
            Phase::Handshake { .. } => return self.doom(token),
            Phase::Open => {}
        }
        conn.out.push(frames::close(code, reason));
        conn.phase = Phase::Closing { since: self.now };
        conn.reader = Default::default();
        self.mark_dirty(token);
        self.end_session(token);
    }

    /// Everything that ends a session, exactly once: leave every channel (telling the
    /// others), leave the registry, run `on_close`.
    fn end_session(&mut self, token: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        let Some(session) = conn.session.take() else {
            return;
        };
        let channels = std::mem::take(&mut conn.channels);
        session.counters.publish(&conn.counters);
        let (id, user) = (session.id, session.profile.id.clone());
        let route = conn.route as usize;
        self.ids.remove(&id);
        for channel in &channels {
            self.remove_member(channel, token);
            self.record_leave(id, &user, channel);
        }
        let shared = &self.service.shared;
        if shared.registry.remove(&id) {
            if let Some(backplane) = shared.backplane.get() {
                backplane.vacated(Scope::User(&user));
            }
        }
        shared.tap.unsubscribe(&id);
        shared.limits.release(session.remote.ip());
        let stats = &shared.stats[self.index];
        let is_tap = matches!(self.routes.sockets[route].kind, SocketKind::Tap);
        let connections = if is_tap { &stats.tap_connections } else { &stats.connections };
        connections.store(connections.load(Ordering::Relaxed).saturating_sub(1), Ordering::Relaxed);
        if let SocketKind::Json(handler) = &self.routes.sockets[route].kind {
            let handler = handler.clone();
            handler.on_close(&mut Context::new(self, Some(id)), &session);
        }
    }

    /// Begins shutdown: every client gets close 1001; handshakes in progress are dropped.
    pub fn close_all(&mut self) {
        let tokens: Vec<usize> = self.conns.iter().map(|(token, _)| token).collect();
        for token in tokens {
            self.start_close(token, 1001, "server shutting down");
        }
    }

    // ---- timers ------------------------------------------------------------------------

    /// The periodic sweep: pings, idle, handshake and close timeouts, counter publishing.
    pub fn sweep(&mut self) {
        let config = &self.service.shared.config;
        let (now, ping_every, idle, handshake, closing) =
            (self.now, config.ping_interval, config.idle_timeout, config.handshake_timeout, config.close_timeout);
        let ping_due = now >= self.next_ping;
        if ping_due {
            self.next_ping = now + ping_every;
        }
        let mut idle_out = Vec::new();
        let mut expired = Vec::new();
        let mut credential_warnings = Vec::new();
        let mut credential_closes = Vec::new();
        let wall_clock = SystemTime::now();
        let grace = config.token_grace;
        for (token, conn) in self.conns.iter_mut() {
            match &conn.phase {
                Phase::Handshake { since, .. } if now.duration_since(*since) >= handshake => {
                    bump(&self.service.shared.stats[self.index].handshake_timeouts, 1);
                    expired.push(token);
                }
                Phase::Closing { since } if now.duration_since(*since) >= closing => expired.push(token),
                Phase::Open if now.duration_since(conn.last_heard) >= idle => idle_out.push(token),
                Phase::Open if ping_due => {
                    conn.out.push(self.common.ping.clone());
                    mark(conn, token, &mut self.dirty);
                }
                _ => {}
            }
            let is_open = conn.is_open();
            if let (Some(expiry), true) = (conn.expiry.as_mut(), is_open) {
                match expiry.close_at {
                    None if wall_clock >= expiry.at => {
                        expiry.close_at = Some(now + grace);
                        credential_warnings.push(token);
                    }
                    Some(close_at) if now >= close_at => credential_closes.push(token),
                    _ => {}
                }
            }
            if now.duration_since(conn.last_heard) >= self.tick && !conn.dirty {
                conn.out.release_if_empty();
            }
            if let Some(session) = &conn.session {
                conn.counters.queued_bytes = conn.out.queued_bytes() as u64;
                session.counters.publish(&conn.counters);
            }
        }
        for token in credential_warnings {
            let grace = humantime::format_duration(grace);
            self.send_error(token, "token-expired", &format!("credential expired: send refresh within {grace}"));
        }
        for token in credential_closes {
            self.start_close(token, 1008, "token expired");
        }
        for token in idle_out {
            bump(&self.stats().idle_closes, 1);
            self.start_close(token, 1001, "idle timeout");
        }
        for token in expired {
            self.doom(token);
        }
    }

    // ---- commands ----------------------------------------------------------------------

    /// Applies a command to this worker's connections.
    pub fn apply(&mut self, command: Command) -> bool {
        match command {
            Command::ToConn { id, frame } => self.with_conn(id, |core, token| core.queue(token, frame)),
            Command::ToChannel { channel, frame, except } => {
                self.fan_out(&channel, &frame, except);
                true
            }
            Command::ToAll { frame } => {
                let tokens: Vec<usize> = self.conns.iter().filter(|(_, c)| c.is_open()).map(|(t, _)| t).collect();
                for token in tokens {
                    self.queue(token, frame.clone());
                }
                true
            }
            Command::Join { id, channel } => self.ids.get(&id).copied().is_some_and(|t| self.join_here(t, &channel)),
            Command::Leave { id, channel } => self.ids.get(&id).copied().is_some_and(|t| self.leave_here(t, &channel)),
            Command::Close { id, code, notify } => self.with_conn(id, |core, token| {
                if notify {
                    let frame = core.common.close_connection.clone();
                    core.queue(token, frame);
                }
                core.start_close(token, code, "closed by the server");
            }),
            Command::Shutdown => {
                self.close_all();
                true
            }
        }
    }

    fn with_conn(&mut self, id: ConnId, f: impl FnOnce(&mut Self, usize)) -> bool {
        match self.ids.get(&id).copied() {
            Some(token) => {
                f(self, token);
                true
            }
            None => false,
        }
    }
}

/// When a profile's credential expires, if it does.
fn expiry_of(profile: &Profile) -> Option<Box<Expiry>> {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(profile.expires_at?);
    Some(Box::new(Expiry { at, close_at: None }))
}

/// The connection id and user id of a connection with a session.
fn session_ids(conn: &Conn) -> (ConnId, String) {
    let user = conn.session.as_ref().map_or_else(|| conn.id.to_string(), |s| s.profile.id.clone());
    (conn.id, user)
}

/// Queues a shared frame on an open connection and marks it for this turn's flush.
#[inline]
fn queue_on(conn: &mut Conn, token: usize, frame: SharedFrame, dirty: &mut Vec<usize>, stats: &WorkerStats) {
    if !conn.is_open() {
        return;
    }
    let len = frame.len() as u64;
    conn.counters.messages_out += 1;
    conn.counters.bytes_out += len;
    bump(&stats.messages_out, 1);
    bump(&stats.bytes_out, len);
    conn.out.push(frame);
    mark(conn, token, dirty);
}

/// Puts a connection on this turn's flush list (once).
#[inline]
fn mark(conn: &mut Conn, token: usize, dirty: &mut Vec<usize>) {
    if !conn.dirty {
        conn.dirty = true;
        dirty.push(token);
    }
}

impl Dispatch for WorkerCore {
    fn shared(&self) -> &Shared {
        &self.service.shared
    }

    fn locate(&self, id: &ConnId) -> Option<usize> {
        if self.ids.contains_key(id) {
            return Some(self.index);
        }
        self.service.shared.registry.worker_of(id)
    }

    fn local_worker(&self) -> Option<usize> {
        Some(self.index)
    }

    fn fan_out_here(&mut self, channel: &str, frame: &SharedFrame, except: Option<ConnId>) {
        self.fan_out(channel, frame, except);
    }

    fn dispatch(&mut self, worker: usize, command: Command) -> bool {
        if worker == self.index {
            return self.apply(command);
        }
        self.service.shared.inboxes.get(worker).is_some_and(|inbox| inbox.send(command))
    }
}
