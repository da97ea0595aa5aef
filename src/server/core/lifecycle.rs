//! Closing: the close handshake, the end of a session (exactly once: channels, registry,
//! `on_close`), and shutdown of every connection.

use super::*;

impl WorkerCore {
    // ---- closing -----------------------------------------------------------------------

    /// Sends a close frame and ends the session; the socket goes once the peer answers or
    /// `close_timeout` passes.
    pub fn start_close(&mut self, slot: Slot, code: u16, reason: &str) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        match conn.phase {
            Phase::Closing { .. } => return,
            Phase::Handshake(_) => return self.doom(slot),
            Phase::Open => {}
        }
        conn.out.push(frame::close(code, reason));
        conn.phase = Phase::Closing { since: self.now };
        conn.reader = Default::default();
        self.mark_dirty(slot);
        self.end_session(slot);
    }

    /// Everything that ends a session, exactly once: leave every channel (telling the
    /// others), leave the registry, run `on_close`.
    pub(super) fn end_session(&mut self, slot: Slot) {
        self.proxied.forget(slot);
        self.recovering.forget(slot, None);
        self.forget_inflater(slot);
        let Some(conn) = self.conns.get_mut(slot) else {
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
        if self.handling.is_some_and(|(current, _)| current == id) {
            self.handling = None;
        }
        for channel in &channels {
            self.remove_member(channel, slot);
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
            self.isolated("on_close", |core| handler.on_close(&mut Context::new(core, Some(id)), &session));
        }
    }

    /// Begins shutdown: every client gets close 1001; handshakes in progress are dropped.
    pub fn close_all(&mut self) {
        let tokens: Vec<usize> = self.conns.iter().map(|(slot, _)| slot).collect();
        for slot in tokens {
            self.start_close(slot, 1001, "server shutting down");
        }
    }
}
