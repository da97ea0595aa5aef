//! Request intake: a connection's first bytes parsed as HTTP/1.1, plain requests answered,
//! WebSocket upgrades on a socket route turned into sessions (after `admission`).
//!
//! Owns nothing of its own; it must not read frames (that is `session.rs`) or decide who
//! may connect (that is `admission.rs`).

use super::*;

impl WorkerCore {
    pub(super) fn on_handshake_bytes(&mut self, slot: Slot, data: &[u8]) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let Phase::Handshake(handshake) = &mut conn.phase else {
            return;
        };
        if self.proxied.is_parked(slot) {
            return self.on_parked_bytes(slot, data);
        }
        handshake.received.extend_from_slice(data);
        self.parse_requests(slot);
    }

    /// Parses and answers the requests received so far: several when a keep-alive client
    /// sends its next request before reading the answer to the last.
    fn parse_requests(&mut self, slot: Slot) {
        loop {
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            let Phase::Handshake(handshake) = &mut conn.phase else {
                return;
            };
            let (received, remote) = (&handshake.received, handshake.remote);
            if received.is_empty() {
                return;
            }
            let routes = &self.routes;
            match http::parse_request_limited(received, remote, &|path| routes.body_limit(path)) {
                Ok(Parse::Partial) => return,
                Err(response) => return self.reject(slot, response),
                Ok(Parse::Complete(request, used)) => {
                    let leftover = received[used..].to_vec();
                    if !self.on_request(slot, *request, leftover) {
                        return;
                    }
                }
            }
        }
    }

    /// Answers a request; true when the connection stays open for another request.
    pub(super) fn on_request(&mut self, slot: Slot, request: HttpRequest, mut leftover: Vec<u8>) -> bool {
        if let Some(route) = self.routes.socket(&request.path) {
            match http::check_upgrade(&request) {
                Ok(accept) => self.upgrade(slot, route, &request, &accept, &mut leftover),
                Err(response) => self.reject(slot, response),
            }
            return false;
        }
        bump(&self.stats().http_requests, 1);
        let response = match self.routes.http(&request.path) {
            Some(handler) => handler(&request, &self.service),
            None => HttpResponse::text(404, "not found"),
        };
        if self.routes.keeps_alive(&request.path) && wants_keep_alive(&request) {
            return self.respond_and_keep_alive(slot, response, leftover);
        }
        self.respond(slot, response);
        false
    }

    /// Queues a response and goes back to reading requests (HTTP/1.1 keep-alive).
    fn respond_and_keep_alive(&mut self, slot: Slot, response: HttpResponse, leftover: Vec<u8>) -> bool {
        let Some(conn) = self.conns.get_mut(slot) else {
            return false;
        };
        let bytes = response.to_bytes_keep_alive();
        count_http_out(conn, &self.service.shared.stats[self.index], bytes.len());
        conn.out.push(bytes);
        if let Phase::Handshake(handshake) = &mut conn.phase {
            (handshake.received, handshake.since) = (leftover, self.now);
        }
        self.mark_dirty(slot);
        true
    }

    pub(super) fn reject(&mut self, slot: Slot, response: HttpResponse) {
        let stats = self.stats();
        bump(&stats.handshakes_rejected, 1);
        match response.status {
            401 => bump(&stats.handshakes_unauthorized, 1),
            403 => bump(&stats.handshakes_forbidden, 1),
            503 => {} // counted as connections_refused
            _ => bump(&stats.handshakes_bad_request, 1),
        }
        self.respond(slot, response);
    }

    /// Queues a plain HTTP response; the connection closes once it is sent.
    pub(super) fn respond(&mut self, slot: Slot, response: HttpResponse) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let bytes = response.to_bytes();
        count_http_out(conn, &self.service.shared.stats[self.index], bytes.len());
        conn.out.push(bytes);
        conn.phase = Phase::Closing { since: self.now };
        self.mark_dirty(slot);
    }

    pub(super) fn upgrade(
        &mut self,
        slot: Slot,
        route_index: usize,
        request: &HttpRequest,
        accept: &str,
        leftover: &mut [u8],
    ) {
        let routes = self.routes.clone();
        let route = &routes.sockets[route_index];
        if route.proxy.as_ref().is_some_and(|p| p.handles(ProxyEvent::Connect)) {
            return self.ask_backend_to_connect(slot, route_index, request, accept, leftover);
        }
        let admission = self.admit(route, request);
        let (channel, profile) = match admission {
            Ok(admitted) => admitted,
            Err(response) => return self.reject(slot, response),
        };
        self.open_session(slot, route_index, request, (channel, profile), accept, leftover);
    }

    /// The session after a successful admission: the `101`, the registry, the channel,
    /// `on_open`, then whatever the client sent after its request.
    pub(super) fn open_session(
        &mut self,
        slot: Slot,
        route_index: usize,
        request: &HttpRequest,
        (channel, profile): (String, Option<Profile>),
        accept: &str,
        leftover: &mut [u8],
    ) {
        let routes = self.routes.clone();
        let route = &routes.sockets[route_index];
        let id = ConnId::new_v4();
        if !self.conns.contains(slot) {
            self.service.shared.limits.release(request.remote.ip());
            return;
        }
        let session = Arc::new(Connection {
            id,
            profile: profile.unwrap_or_else(|| Profile::anonymous(id)),
            remote: request.remote,
            path: route.path.clone(),
            channel: match self.channels.get_key_value(channel.as_str()) {
                Some((name, _)) => name.clone(),
                None => Arc::from(channel.as_str()),
            },
            connected_at: crate::service::connection::unix_millis(SystemTime::now()),
            counters: Default::default(),
        });
        let agreement = self.negotiate_deflate(request);
        let deflate = self.start_deflate(slot, agreement.as_ref());
        let Some(conn) = self.conns.get_mut(slot) else {
            self.service.shared.limits.release(request.remote.ip());
            return;
        };
        let answer = http::switching_protocols(accept, agreement.as_ref().map(|a| a.response.as_str()));
        conn.deflate = deflate;
        count_http_out(conn, &self.service.shared.stats[self.index], answer.len());
        conn.out.push(answer);
        conn.phase = Phase::Open;
        conn.route = route_index as u32;
        conn.session = Some(session.clone());
        conn.rate = RateBucket::full(self.service.shared.config.rate_limit, self.now);
        conn.expiry = expiry_of(&session.profile);
        self.ids.insert(id, slot as u32);
        let is_tap = matches!(route.kind, SocketKind::Tap);
        bump(if is_tap { &self.stats().tap_connections } else { &self.stats().connections }, 1);
        bump(&self.stats().connections_opened, 1);
        self.mark_dirty(slot);
        match &route.kind {
            SocketKind::Tap => self.service.shared.tap.subscribe(id, self.index),
            SocketKind::Echo => self.register(&session),
            SocketKind::Json(handler) => {
                self.register(&session);
                self.join_here_from(slot, &channel, since_of(request));
                let opened =
                    self.isolated("on_open", |core| handler.on_open(&mut Context::new(core, Some(id)), &session));
                if opened.is_none() {
                    return self.start_close(slot, 1011, "internal error");
                }
            }
        }
        if !leftover.is_empty() {
            self.on_frame_bytes(slot, leftover);
        }
    }

    /// Adds a session to the registry; tells the backplane of a user new to this node.
    pub(super) fn register(&mut self, session: &Arc<Connection>) {
        let shared = &self.service.shared;
        if shared.registry.add(session.clone(), self.index) {
            if let Some(backplane) = shared.backplane.get() {
                backplane.occupied(Scope::User(&session.profile.id));
            }
        }
    }
}

/// The position a reconnecting client states at the upgrade: `?since=OFFSET&epoch=EPOCH`.
fn since_of(request: &HttpRequest) -> Option<crate::service::history::Position> {
    let offset = request.query_param("since")?.parse().ok()?;
    let epoch = request.query_param("epoch")?;
    Some(crate::service::history::Position { offset, epoch: epoch.to_string() })
}

/// HTTP bytes written count in `bytes_out` as HTTP bytes read count in `bytes_in`.
fn count_http_out(conn: &mut Conn, stats: &WorkerStats, len: usize) {
    conn.counters.bytes_out += len as u64;
    bump(&stats.bytes_out, len as u64);
}

/// An HTTP/1.1 request that did not ask for `Connection: close`.
fn wants_keep_alive(request: &HttpRequest) -> bool {
    request.version == 1 && !request.header("connection").is_some_and(|v| v.to_ascii_lowercase().contains("close"))
}
