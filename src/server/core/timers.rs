//! The periodic sweep: pings, idle, handshake and close timeouts, credential expiry, buffer
//! release, counter publishing, and the heap trim after a burst of connects.

use super::*;

impl WorkerCore {
    // ---- timers ------------------------------------------------------------------------

    /// The periodic sweep: pings, idle, handshake and close timeouts, counter publishing.
    pub fn sweep(&mut self) {
        self.sweep_history();
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
        for (slot, conn) in self.conns.iter_mut() {
            match &conn.phase {
                Phase::Handshake(h) if now.duration_since(h.since) >= handshake => {
                    bump(&self.service.shared.stats[self.index].handshake_timeouts, 1);
                    expired.push(slot);
                }
                Phase::Closing { since } if now.duration_since(*since) >= closing => expired.push(slot),
                Phase::Open if conn.silent_for(now) >= idle => idle_out.push(slot),
                Phase::Open if ping_due => {
                    conn.out.push(self.common.ping.clone());
                    self.flush.fanout(conn, slot, self.now);
                }
                _ => {}
            }
            let is_open = conn.is_open();
            if let (Some(expiry), true) = (conn.expiry.as_mut(), is_open) {
                match expiry.close_at {
                    None if wall_clock >= expiry.at => {
                        expiry.close_at = Some(now + grace);
                        credential_warnings.push(slot);
                    }
                    Some(close_at) if now >= close_at => credential_closes.push(slot),
                    _ => {}
                }
            }
            if conn.silent_for(now) >= self.tick && !conn.reply_listed && !conn.fanout_listed {
                conn.out.release_if_empty();
            }
            if let Some(session) = &conn.session {
                conn.counters.queued_bytes = conn.out.queued_bytes() as u64;
                session.counters.publish(&conn.counters);
            }
        }
        for slot in credential_warnings {
            let grace = humantime::format_duration(grace);
            self.send_error(slot, "token-expired", &format!("credential expired: send refresh within {grace}"));
        }
        for slot in credential_closes {
            self.start_close(slot, 1008, "token expired");
        }
        for slot in idle_out {
            bump(&self.stats().idle_closes, 1);
            self.start_close(slot, 1001, "idle timeout");
        }
        for slot in expired {
            self.doom(slot);
        }
        if let (true, Some(release)) = (self.heap_trim.burst_over(), self.service.shared.heap_release.get()) {
            release();
        }
    }

    /// Worker 0 drops history past its TTL, about once a second.
    fn sweep_history(&mut self) {
        if self.index != 0 || self.service.shared.config.history_ttl.is_zero() || self.now < self.next_history_sweep {
            return;
        }
        self.next_history_sweep = self.now + Duration::from_secs(1);
        self.service.shared.history().sweep();
    }
}
