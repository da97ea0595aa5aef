//! The per-connection message rate budget as the session applies it: refuse over the
//! budget, close a client that does not slow down.

use super::*;

impl WorkerCore {
    /// Takes one message (or ping) from the connection's rate budget. Over it, the message is
    /// refused (`tell`: with an `error`; a refused ping just gets no pong); far over it (a
    /// client that does not slow down), the connection is closed.
    pub(super) fn take_rate(&mut self, slot: Slot, tell: bool) -> bool {
        let rate = self.service.shared.config.rate_limit;
        let Some(conn) = self.conns.get_mut(slot) else {
            return false;
        };
        match conn.rate.take(rate, self.now) {
            RateVerdict::Allowed => true,
            RateVerdict::Refused => {
                bump(&self.service.shared.stats[self.index].rate_limited, 1);
                if tell {
                    self.send_error(slot, "rate-limited", "too many messages; slow down");
                }
                false
            }
            RateVerdict::Abusive => {
                bump(&self.service.shared.stats[self.index].rate_limit_closes, 1);
                self.start_close(slot, 1008, "rate limit exceeded");
                false
            }
        }
    }
}
