//! Where a recovery's answer meets its marker. The read script publishes a marker on the
//! channel right after reading; the link thread gets the read's reply, the subscriber
//! thread the marker, in either order. The answer goes to the worker only when both are
//! in: by then every live message published before the read has been handed to the
//! workers (so the worker's held frames cover the replay, and nothing older arrives after
//! the answer). Data only, behind a mutex in `ClusterShared`; it sends nothing itself.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long an answer waits for its marker (the subscription dropped meanwhile): then it
/// goes anyway.
pub const MARKER_WAIT: Duration = Duration::from_secs(3);

enum Meeting<A> {
    MarkerSeen,
    Parked { answer: A, since: Instant },
}

/// Answers of type `A` (a `RecoveryAnswer`) and their markers, by recovery number.
pub struct Rendezvous<A> {
    next: u64,
    meetings: HashMap<u64, Meeting<A>>,
}

impl<A> Default for Rendezvous<A> {
    fn default() -> Self {
        Rendezvous { next: 0, meetings: HashMap::new() }
    }
}

impl<A> Rendezvous<A> {
    /// A number for a new recovery read.
    pub fn open(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// The read's answer: back to the caller to deliver if its marker was seen, else parked.
    pub fn answer(&mut self, number: u64, answer: A, now: Instant) -> Option<A> {
        match self.meetings.remove(&number) {
            Some(Meeting::MarkerSeen) => Some(answer),
            _ => {
                self.meetings.insert(number, Meeting::Parked { answer, since: now });
                None
            }
        }
    }

    /// The marker: the parked answer to deliver, if it came first.
    pub fn marker(&mut self, number: u64) -> Option<A> {
        match self.meetings.remove(&number) {
            Some(Meeting::Parked { answer, .. }) => Some(answer),
            _ if number <= self.next => {
                self.meetings.insert(number, Meeting::MarkerSeen);
                None
            }
            _ => None,
        }
    }

    /// A read that will get no answer (refused, or its reply lost).
    pub fn forget(&mut self, number: u64) {
        self.meetings.remove(&number);
    }

    /// Answers that waited too long for their marker (or all, `now` = `None`: the link is
    /// down); markers seen long ago are dropped with them.
    pub fn overdue(&mut self, now: Option<Instant>) -> Vec<A> {
        let late = |since: &Instant| now.is_none_or(|now| now.duration_since(*since) >= MARKER_WAIT);
        let numbers: Vec<u64> = self
            .meetings
            .iter()
            .filter(|(_, m)| match m {
                Meeting::Parked { since, .. } => late(since),
                Meeting::MarkerSeen => now.is_none(),
            })
            .map(|(n, _)| *n)
            .collect();
        numbers
            .into_iter()
            .filter_map(|n| match self.meetings.remove(&n) {
                Some(Meeting::Parked { answer, .. }) => Some(answer),
                _ => None,
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.meetings.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> &'static str {
        "an answer"
    }

    #[test]
    fn the_second_to_arrive_delivers() {
        let mut r: Rendezvous<&str> = Rendezvous::default();
        let now = Instant::now();
        let (a, b) = (r.open(), r.open());
        assert!(r.answer(a, answer(), now).is_none(), "parked until its marker");
        assert!(r.marker(a).is_some(), "the marker delivers it");
        assert!(r.marker(b).is_none(), "marker first");
        assert!(r.answer(b, answer(), now).is_some(), "then the answer goes at once");
        assert!(r.is_empty());
        assert!(r.marker(99).is_none() && r.is_empty(), "a number never opened is ignored");
    }

    #[test]
    fn overdue_answers_go_anyway_and_a_link_down_flushes_all() {
        let mut r: Rendezvous<&str> = Rendezvous::default();
        let now = Instant::now();
        let (a, b, c) = (r.open(), r.open(), r.open());
        r.answer(a, answer(), now - MARKER_WAIT);
        r.answer(b, answer(), now);
        r.marker(c);
        assert_eq!(r.overdue(Some(now)).len(), 1);
        r.forget(99);
        assert_eq!(r.overdue(None).len(), 1);
        assert!(r.is_empty());
    }
}
