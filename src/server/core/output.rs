//! Everything queued for writing: data frames, pongs, channel fan-out of one shared frame,
//! the per-turn flush of dirty connections (corking), writable interest and the slow-consumer
//! rule. Backpressure lives here and nowhere else.

use super::*;

impl WorkerCore {
    // ---- output ------------------------------------------------------------------------

    pub(super) fn mark_dirty(&mut self, token: usize) {
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
    pub(super) fn queue_pong(&mut self, token: usize, ping_payload: &[u8]) {
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
        conn.out.push(frame::pong(ping_payload));
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

    pub(super) fn flush(&mut self, token: usize) {
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
    pub(super) fn check_backlog(&mut self, token: usize) {
        let Some(conn) = self.conns.get_mut(token) else {
            return;
        };
        // A closing connection (and so every plain HTTP response) is never a slow consumer:
        // it is dropped at the close timeout. Only upgraded connections have a route.
        if conn.is_closing() {
            return;
        }
        let Some(route) = self.routes.sockets.get(conn.route as usize) else {
            return;
        };
        if conn.out.footprint() <= route.send_buffer_bytes {
            return;
        }
        log::info!("closing slow consumer {} ({} bytes queued)", conn.id, conn.out.queued_bytes());
        conn.out.clear();
        bump(&self.service.shared.stats[self.index].slow_consumer_closes, 1);
        conn.write_blocked = false;
        self.start_close(token, 1008, "slow consumer");
    }
}
