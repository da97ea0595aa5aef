//! `MemoryHistory`: every channel's history on this node, in memory, behind one lock.
//!
//! One `Mutex` over all channels keeps the proof of order short: an append assigns the
//! offset, stores the frame and hands it to every worker's inbox inside it, so no worker can
//! see offset k+1 of a channel before k. The section is short (a map lookup, a few bytes
//! appended to an already serialized message, one inbox send per worker). Bounds: messages
//! per channel (`--history-size` or the channel policy), age (`--history-ttl`), and the
//! node's total (`--history-memory`): past it, the channels written to least recently lose
//! their whole history first (their next message starts a new epoch). It never touches a
//! connection.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::ring::{Ring, CHANNEL_BYTES};
use super::{Appended, HistoryStats, HistoryStore, Position, RecoveryTicket, Replay, Stamped};
use crate::service::message::{seal, Body, Stamp};
use crate::service::ConnId;

/// The bounds of a node's history.
#[derive(Debug, Clone, Copy)]
pub struct HistoryLimits {
    /// Oldest message kept (zero: no age limit).
    pub ttl: Duration,
    /// Bytes all channels' history may hold together.
    pub memory: usize,
}

/// The single-node history store.
pub struct MemoryHistory {
    limits: HistoryLimits,
    base: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    channels: HashMap<Arc<str>, Ring, foldhash::fast::RandomState>,
    /// Channels by their last write, oldest first (the memory cap's victims).
    by_age: BTreeMap<u64, Arc<str>>,
    /// The last place given in `by_age` (places start at 1; 0 is a ring not placed yet).
    last_touch: u64,
    bytes: usize,
    messages: usize,
    dropped: u64,
}

impl MemoryHistory {
    /// A store with these bounds.
    pub fn new(limits: HistoryLimits) -> Self {
        MemoryHistory { limits, base: Instant::now(), state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Now, in deciseconds since the store began.
    fn now(&self) -> u32 {
        (self.base.elapsed().as_millis() / 100) as u32
    }

    /// The oldest time a message may have been stored at and still be kept.
    fn cutoff(&self, now: u32) -> Option<u32> {
        let ttl = self.limits.ttl.as_millis() / 100;
        (ttl > 0).then(|| now.saturating_sub(ttl.max(1) as u32))
    }
}

impl MemoryHistory {
    /// The answer to a client at `since` in `channel` (`None`: only the position). A
    /// channel without history gets one (empty, with a new epoch), so the epoch told now
    /// is the one its first message carries.
    pub fn read(&self, channel: &str, since: Option<&Position>) -> Replay {
        let mut state = self.lock();
        self.read_locked(&mut state, channel, since)
    }

    fn read_locked(&self, state: &mut State, channel: &str, since: Option<&Position>) -> Replay {
        let now = self.now();
        let cutoff = self.cutoff(now);
        state.expire(channel, cutoff);
        let replay = state.ring(channel, now).replay(since);
        state.enforce(self.limits.memory, channel);
        replay
    }
}

impl State {
    /// The channel's history, made (with a new epoch) if it has none.
    fn ring(&mut self, channel: &str, now: u32) -> &mut Ring {
        if !self.channels.contains_key(channel) {
            let name: Arc<str> = Arc::from(channel);
            self.channels.insert(name.clone(), Ring::new(now));
            self.bytes += CHANNEL_BYTES + channel.len();
            self.touch(&name);
        }
        // Just inserted if it was missing.
        self.channels.get_mut(channel).expect("present")
    }

    /// Moves a channel to the newest end of the age order.
    fn touch(&mut self, name: &Arc<str>) {
        self.last_touch += 1;
        let touch = self.last_touch;
        if let Some(ring) = self.channels.get_mut(name) {
            self.by_age.remove(&ring.touched);
            ring.touched = touch;
            self.by_age.insert(touch, name.clone());
        }
    }

    fn forget(&mut self, name: &str) {
        if let Some(ring) = self.channels.remove(name) {
            self.by_age.remove(&ring.touched);
            self.bytes -= ring.bytes + CHANNEL_BYTES + name.len();
            self.messages -= ring.len();
        }
    }

    /// Drops whole histories, least recently written first, until under `cap`; the channel
    /// being written (`keep`) loses its oldest messages instead if it alone is over.
    fn enforce(&mut self, cap: usize, keep: &str) {
        while self.bytes > cap {
            let oldest = self.by_age.values().find(|name| &***name != keep).cloned();
            match oldest {
                Some(name) => {
                    self.forget(&name);
                    self.dropped += 1;
                }
                None => {
                    let Some(ring) = self.channels.get_mut(keep) else { return };
                    if ring.len() == 0 {
                        return;
                    }
                    let (bytes, count) = ring.drop_oldest(1);
                    self.bytes -= bytes;
                    self.messages -= count;
                }
            }
        }
    }

    fn expire(&mut self, channel: &str, cutoff: Option<u32>) {
        let Some(cutoff) = cutoff else { return };
        if let Some(ring) = self.channels.get_mut(channel) {
            let (bytes, count) = ring.expire(cutoff);
            self.bytes -= bytes;
            self.messages -= count;
        }
    }
}

impl HistoryStore for MemoryHistory {
    fn append(
        &self,
        channel: &str,
        size: usize,
        body: Body,
        _except: Option<ConnId>,
        deliver: &mut dyn FnMut(&Stamped),
    ) -> Result<Appended, Body> {
        if size == 0 {
            return Err(body);
        }
        let now = self.now();
        let cutoff = self.cutoff(now);
        let mut state = self.lock();
        state.expire(channel, cutoff);
        let ring = state.ring(channel, now);
        let offset = ring.last_offset() + 1;
        let frame = seal(body, Some(Stamp { offset, epoch: &ring.epoch }));
        let stamped = Stamped { frame: frame.clone(), offset, epoch: ring.epoch.clone() };
        let (added, removed, count) = ring.push(frame, now, cutoff.is_some(), size);
        let newest = ring.touched == state.last_touch;
        state.bytes = state.bytes + added - removed;
        state.messages = state.messages + 1 - count;
        if !newest {
            if let Some((name, _)) = state.channels.get_key_value(channel) {
                let name = name.clone();
                state.touch(&name);
            }
        }
        deliver(&stamped);
        state.enforce(self.limits.memory, channel);
        Ok(Appended::Here(stamped))
    }

    /// Answers inside the critical section of the snapshot: every frame appended after it
    /// reaches the worker after the answer.
    fn recover(&self, channel: &str, since: Option<&Position>, ticket: RecoveryTicket) {
        let mut state = self.lock();
        let replay = self.read_locked(&mut state, channel, since);
        ticket.answer(replay);
    }

    fn len(&self, channel: &str) -> usize {
        self.lock().channels.get(channel).map_or(0, Ring::len)
    }

    fn sweep(&self) {
        let now = self.now();
        let Some(cutoff) = self.cutoff(now) else { return };
        let mut state = self.lock();
        let names: Vec<Arc<str>> = state.channels.keys().cloned().collect();
        for name in names {
            state.expire(&name, Some(cutoff));
            // A history with nothing left and no write within the TTL is gone.
            if state.channels.get(&name).is_some_and(|ring| ring.len() == 0 && ring.active < cutoff) {
                state.forget(&name);
            }
        }
    }

    fn stats(&self) -> HistoryStats {
        let state = self.lock();
        HistoryStats {
            bytes: state.bytes as u64,
            messages: state.messages as u64,
            channels: state.channels.len() as u64,
            channels_dropped: state.dropped,
        }
    }
}
