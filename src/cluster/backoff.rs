//! Reconnect delays: doubling from 100 ms, capped, with ±20 % jitter so nodes that lost
//! Redis together do not come back in lockstep; reset after a success. Pure arithmetic.

use std::time::Duration;

const FIRST: Duration = Duration::from_millis(100);
pub const CAP: Duration = Duration::from_secs(3);

#[derive(Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// The delay before the next attempt.
    pub fn next(&mut self) -> Duration {
        let base = FIRST.saturating_mul(1 << self.attempt.min(16)).min(CAP);
        self.attempt = self.attempt.saturating_add(1);
        let jitter = (uuid::Uuid::new_v4().as_u128() % 401) as f64 / 1000.0; // 0 ..= 0.4
        base.mul_f64(0.8 + jitter)
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_and_resets() {
        let mut backoff = Backoff::default();
        let first = backoff.next();
        assert!(first >= Duration::from_millis(80) && first <= Duration::from_millis(120));
        let last = (0..20).map(|_| backoff.next()).last().unwrap_or_default();
        assert!(last <= CAP.mul_f64(1.2) && last >= CAP.mul_f64(0.8));
        backoff.reset();
        assert!(backoff.next() <= Duration::from_millis(120));
    }
}
