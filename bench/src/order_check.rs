//! The fan-out delivery check: every (subscriber, publisher) pair must see the publisher's
//! sequence numbers exactly once and in order. Counts duplicates (or reordering back), gaps
//! (skipped or reordered forward) and, at the end, what never arrived.

/// What one observed delivery was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The next expected message.
    InOrder,
    /// A sequence number already passed: a duplicate or a late, reordered message.
    Duplicate,
    /// Ahead of the expected one: messages in between were skipped (so far).
    Gap,
    /// A publisher this run does not have.
    Unknown,
}

#[derive(Debug, Default)]
pub struct OrderCheck {
    publishers: usize,
    next_seq: Vec<u64>,
    pub in_order: u64,
    pub duplicates: u64,
    pub gaps: u64,
}

impl OrderCheck {
    pub fn new(subscribers: usize, publishers: usize) -> Self {
        OrderCheck { publishers, next_seq: vec![0; subscribers * publishers], ..OrderCheck::default() }
    }

    /// Records that `subscriber` received `publisher`'s message `seq`.
    #[inline]
    pub fn observe(&mut self, subscriber: usize, publisher: usize, seq: u64) -> Verdict {
        if publisher >= self.publishers {
            return Verdict::Unknown;
        }
        let Some(expected) = self.next_seq.get_mut(subscriber * self.publishers + publisher) else {
            return Verdict::Unknown;
        };
        let verdict = match seq.cmp(expected) {
            std::cmp::Ordering::Equal => Verdict::InOrder,
            std::cmp::Ordering::Less => {
                self.duplicates += 1;
                return Verdict::Duplicate;
            }
            std::cmp::Ordering::Greater => {
                self.gaps += seq - *expected;
                Verdict::Gap
            }
        };
        *expected = seq + 1;
        self.in_order += 1;
        verdict
    }

    /// Messages `subscriber` never saw, given how many each publisher sent.
    pub fn missing_for(&self, subscriber: usize, published: &[u64]) -> u64 {
        published
            .iter()
            .enumerate()
            .map(|(publisher, &sent)| {
                let seen = self.next_seq.get(subscriber * self.publishers + publisher).copied().unwrap_or(0);
                sent.saturating_sub(seen)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_deliveries_pass() {
        let mut check = OrderCheck::new(2, 2);
        for seq in 0..5 {
            for subscriber in 0..2 {
                for publisher in 0..2 {
                    assert_eq!(check.observe(subscriber, publisher, seq), Verdict::InOrder);
                }
            }
        }
        assert_eq!((check.in_order, check.duplicates, check.gaps), (20, 0, 0));
        assert_eq!(check.missing_for(1, &[5, 5]), 0);
    }

    #[test]
    fn duplicates_gaps_reordering_and_losses_are_caught() {
        let mut check = OrderCheck::new(1, 1);
        assert_eq!(check.observe(0, 0, 0), Verdict::InOrder);
        assert_eq!(check.observe(0, 0, 0), Verdict::Duplicate);
        assert_eq!(check.observe(0, 0, 2), Verdict::Gap); // 1 skipped
        assert_eq!(check.observe(0, 0, 1), Verdict::Duplicate); // 1 arrives late
        assert_eq!(check.observe(0, 0, 7), Verdict::Gap);
        assert_eq!((check.duplicates, check.gaps), (2, 5));
        assert_eq!(check.missing_for(0, &[10]), 2);
        assert_eq!(check.observe(0, 3, 0), Verdict::Unknown);
    }
}
