//! Giving the heap a burst of connects left behind back to the kernel.
//!
//! A burst of connects grows the worker's heap with memory that is all freed once the
//! connections go idle (handshake buffers, out-queue rings of presence batches, reply
//! buffers), but glibc keeps freed pages for reuse, so an idle server's RSS stays at its
//! burst's peak. After a burst ([`BURST`] connections opened since the last trim) and then a
//! whole sweep period without a new one, the sweep calls the release the binary supplied
//! (`Server::release_heap_with`: glibc's `malloc_trim` in `main.rs`, the library itself has
//! no unsafe code). Owns that decision only; it never runs per message or per connect (at
//! most once per burst, from the timer sweep).

/// Connections opened since the last trim that make a burst worth trimming after.
pub const BURST: u32 = 1000;

/// Counts connects between sweeps and decides when to trim.
#[derive(Debug, Default)]
pub struct HeapTrim {
    /// Connections opened since the last trim.
    opened: u32,
    /// Connections opened since the last sweep.
    opened_this_tick: u32,
}

impl HeapTrim {
    /// A connection was accepted.
    pub fn opened(&mut self) {
        self.opened = self.opened.saturating_add(1);
        self.opened_this_tick = self.opened_this_tick.saturating_add(1);
    }

    /// Called by every sweep: true when a burst is over (a quiet tick after at least
    /// [`BURST`] connects); the counts start again.
    pub fn burst_over(&mut self) -> bool {
        let quiet = self.opened_this_tick == 0;
        self.opened_this_tick = 0;
        if quiet && self.opened >= BURST {
            self.opened = 0;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_after_a_burst_and_a_quiet_tick() {
        let mut trim = HeapTrim::default();
        for _ in 0..BURST {
            trim.opened();
        }
        assert!(!trim.burst_over(), "not while connects are still arriving");
        assert!(trim.burst_over(), "the first quiet tick after the burst");
        assert!(!trim.burst_over(), "once per burst");
        for _ in 0..BURST - 1 {
            trim.opened();
        }
        trim.burst_over();
        assert!(!trim.burst_over(), "a small burst is not worth a trim");
    }
}
