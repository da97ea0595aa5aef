//! Bus commands from other threads (the `Service`, other workers, the cluster) applied to
//! this worker's connections.

use super::*;

impl WorkerCore {
    // ---- commands ----------------------------------------------------------------------

    /// Applies a command to this worker's connections.
    pub fn apply(&mut self, command: Command) -> bool {
        match command {
            Command::ToConn { id, frame } => self.with_conn(id, |core, slot| core.queue(slot, frame)),
            Command::ToChannel { channel, frame, except } => {
                self.fan_out(&channel, &frame, except);
                true
            }
            Command::ToChannelAt { channel, stamped, message, except } => {
                self.fan_out_at(&channel, &stamped, &message, except);
                true
            }
            Command::Recovered(answer) => {
                self.on_recovered(*answer);
                true
            }
            Command::ToAll { frame } => {
                let threshold = self.service.shared.config.compression_threshold;
                let stats = &self.service.shared.stats[self.index];
                for (slot, conn) in self.conns.iter_mut().filter(|(_, c)| c.is_open()) {
                    let shared =
                        Self::pick_frame(self.compression.as_deref_mut(), (threshold, stats), conn.deflate, &frame);
                    if queue_on(conn, shared.clone(), stats) {
                        self.flush.fanout(conn, slot, self.now);
                    }
                }
                true
            }
            Command::Join { id, channel, since } => {
                let since = since.map(|since| *since);
                self.ids.get(&id).map(|&s| s as Slot).is_some_and(|t| self.join_here_from(t, &channel, since))
            }
            Command::Leave { id, channel } => {
                self.ids.get(&id).map(|&s| s as Slot).is_some_and(|t| self.leave_here(t, &channel))
            }
            Command::Presence { channel, changes } => {
                self.announce_here(&channel, &changes);
                true
            }
            Command::Close { id, code, notify } => self.with_conn(id, |core, slot| {
                if notify {
                    let frame = core.common.close_connection.clone();
                    core.queue(slot, frame);
                }
                core.start_close(slot, code, "closed by the server");
            }),
            Command::Proxied(answer) => {
                self.on_proxied(*answer);
                true
            }
            Command::Shutdown => {
                self.close_all();
                // Departures waiting to be coalesced go now: the node's cluster goodbye follows.
                self.flush_presence();
                self.service.shared.closed_workers.fetch_add(1, Ordering::Release);
                true
            }
        }
    }

    pub(super) fn with_conn(&mut self, id: ConnId, f: impl FnOnce(&mut Self, usize)) -> bool {
        match self.local_slot(id) {
            Some(slot) => {
                f(self, slot);
                true
            }
            None => false,
        }
    }

    /// The slot of connection `id` on this worker (the one being handled, without a lookup).
    pub(super) fn local_slot(&self, id: ConnId) -> Option<Slot> {
        match self.handling {
            Some((current, slot)) if current == id => Some(slot),
            _ => self.ids.get(&id).map(|&s| s as Slot),
        }
    }
}
