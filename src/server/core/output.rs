//! Everything queued for writing: data frames, pongs, channel fan-out of one shared frame,
//! the lists of connections to write (corking: one vectored write each; their order is
//! `flushlist.rs`'s), what a
//! write's outcome means (writable interest, shutdown after a close, the slow-consumer rule).
//! Backpressure lives here and nowhere else. It does no I/O: `server/worker.rs` does the
//! writes and the re-registration this decides.

use super::*;

/// What the worker does with a socket after writing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterWrite {
    /// Nothing more.
    Nothing,
    /// Everything of a closing connection is out: shut down our side.
    ShutdownWrite,
    /// The socket refused bytes for the first time: ask for writable events.
    WaitWritable,
}

impl WorkerCore {
    // ---- output ------------------------------------------------------------------------

    /// Lists a connection with something of its own queued for this turn's writes.
    pub(super) fn mark_dirty(&mut self, slot: Slot) {
        if let Some(conn) = self.conns.get_mut(slot) {
            self.flush.reply(conn, slot);
        }
    }

    /// Queues a data frame on an open connection (compressed for it alone if it negotiated
    /// compression and the frame reaches the threshold).
    pub fn queue(&mut self, slot: Slot, frame: SharedFrame) {
        let Some(mode) = self.conns.get(slot).map(|c| c.deflate) else {
            return;
        };
        let frame = self.for_connection(mode, frame);
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if queue_on(conn, frame, &self.service.shared.stats[self.index]) {
            self.flush.reply(conn, slot);
        }
    }

    /// Queues a data frame for this connection alone, framed into its cork (no shared frame,
    /// no allocation in steady state): echoes and replies.
    pub fn queue_own(&mut self, slot: Slot, opcode: OpCode, payload: &[u8]) {
        let Some(mode) = self.conns.get(slot).filter(|c| c.is_open()).map(|c| c.deflate) else {
            return;
        };
        if let Some(compressed) = self.compressed_reply(mode, opcode, payload) {
            return self.queue(slot, compressed);
        }
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let before = conn.out.queued_bytes();
        conn.out.push_own(opcode, payload);
        self.counted_own(slot, before);
    }

    /// `queue_own` with the payload serialized by `write` straight into the cork (no copy);
    /// `None`, and nothing written, unless the connection is open and sends uncompressed.
    pub(super) fn queue_own_in_place<E>(
        &mut self,
        slot: Slot,
        opcode: OpCode,
        write: impl FnOnce(&mut bytes::BytesMut) -> Result<(), E>,
    ) -> Option<Result<(), E>> {
        let conn = self.conns.get_mut(slot).filter(|c| c.is_open() && !c.deflate.is_on())?;
        let before = conn.out.queued_bytes();
        if let Err(e) = conn.out.push_own_with(opcode, write) {
            return Some(Err(e));
        }
        self.counted_own(slot, before);
        Some(Ok(()))
    }

    /// Counts the frame just framed into a connection's cork (its queue held `before` bytes)
    /// and lists the connection for this turn's writes.
    fn counted_own(&mut self, slot: Slot, before: usize) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let len = (conn.out.queued_bytes() - before) as u64;
        conn.counters.messages_out += 1;
        conn.counters.bytes_out += len;
        let stats = &self.service.shared.stats[self.index];
        bump(&stats.messages_out, 1);
        bump(&stats.bytes_out, len);
        self.flush.reply(conn, slot);
    }

    /// Queues a control frame (pong), allowed while open.
    pub(super) fn queue_pong(&mut self, slot: Slot, ping_payload: &[u8]) {
        let Some(conn) = self.conns.get(slot).filter(|c| c.is_open()) else { return };
        let is_echo = matches!(self.routes.sockets[conn.route as usize].kind, SocketKind::Echo);
        if !is_echo && !self.take_rate(slot, false) {
            return;
        }
        let Some(conn) = self.conns.get_mut(slot) else { return };
        if conn.pending_pongs >= MAX_PENDING_PONGS {
            return;
        }
        conn.pending_pongs += 1;
        conn.out.push_own(OpCode::Control(Control::Pong), ping_payload);
        self.mark_dirty(slot);
    }

    /// Queues one shared frame on every local member of `channel` except `except`: the
    /// compressed one (made once, on first need) on members that negotiated compression.
    pub fn fan_out(&mut self, channel: &str, message: &Fanout, except: Option<ConnId>) {
        let Some(members) = self.channels.get(channel) else {
            return;
        };
        let skip = except.and_then(|id| self.ids.get(&id).map(|&s| s as Slot));
        let stats = &self.service.shared.stats[self.index];
        let threshold = self.service.shared.config.compression_threshold;
        for &slot in members {
            if Some(slot) == skip {
                continue;
            }
            if let Some(conn) = self.conns.get_mut(slot) {
                let frame =
                    Self::pick_frame(self.compression.as_deref_mut(), (threshold, stats), conn.deflate, message);
                if queue_on(conn, frame.clone(), stats) {
                    self.flush.fanout(conn, slot, self.now);
                }
            }
        }
        stats.fanout_width.observe(members.len() as u64);
    }

    /// What a write did, and what the worker must do next with the socket.
    pub fn on_flushed(&mut self, slot: Slot, result: std::io::Result<Flushed>) -> AfterWrite {
        let Some(conn) = self.conns.get_mut(slot) else {
            return AfterWrite::Nothing;
        };
        match result {
            Ok(Flushed::All) => {
                conn.pending_pongs = 0;
                if conn.counters.messages_out == 0 {
                    // Only the handshake's answer was written: most connections now idle,
                    // so the ring goes now, not a tick later (a burst of upgrades would
                    // leave its last tick's rings as holes between the sessions' records).
                    conn.out.release_if_empty();
                }
                if conn.is_closing() && !conn.write_shut {
                    conn.write_shut = true;
                    return AfterWrite::ShutdownWrite;
                }
                AfterWrite::Nothing
            }
            Ok(Flushed::Blocked) => {
                conn.write_blocked = true;
                let first_block = !conn.writable_interest;
                conn.writable_interest = true;
                self.check_backlog(slot);
                if first_block {
                    AfterWrite::WaitWritable
                } else {
                    AfterWrite::Nothing
                }
            }
            Err(e) => {
                log::debug!("connection {slot}: write failed: {e}");
                self.doom(slot);
                AfterWrite::Nothing
            }
        }
    }

    /// The socket became writable again.
    pub fn on_writable(&mut self, slot: Slot) {
        if let Some(conn) = self.conns.get_mut(slot) {
            conn.write_blocked = false;
            self.mark_dirty(slot);
        }
    }

    /// A connection whose queue outgrew its route's limit is a slow consumer.
    pub(super) fn check_backlog(&mut self, slot: Slot) {
        let Some(conn) = self.conns.get_mut(slot) else {
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
        log::info!("closing slow consumer {} ({} bytes queued)", conn.id(), conn.out.queued_bytes());
        conn.out.clear();
        bump(&self.service.shared.stats[self.index].slow_consumer_closes, 1);
        conn.write_blocked = false;
        self.start_close(slot, 1008, "slow consumer");
    }
}
