//! The live tap: every message in and out, streamed to the admin interface's tap sockets.
//!
//! When no tap socket is connected, the cost on the message path is one relaxed atomic load.
//! When one is, each event is serialized once and sent to each tap through its worker's
//! inbox, at most `MAX_EVENTS_PER_SECOND` per tap: beyond that events are dropped and the
//! tap is told how many (`tap-dropped`), so a busy server floods neither a browser nor its
//! own memory. Tap sockets' own traffic is never tapped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::value::RawValue;

use super::connection::ConnId;
use super::message::{encode, Envelope};
use crate::wire::frame::SharedFrame;

/// Events per second one tap receives at most.
pub const MAX_EVENTS_PER_SECOND: u32 = 200;

/// One tapped message.
#[derive(Debug, Serialize)]
pub struct TapEvent<'a> {
    /// Milliseconds since the Unix epoch.
    pub time: u64,
    /// `in` (from a client) or `out` (written by the server).
    pub dir: &'static str,
    /// The client that sent it (`in`), or the connection written to (`out` to a connection).
    pub conn: Option<ConnId>,
    /// For `out`: `conn`, `channel`, `user` or `all`.
    pub target: Option<&'static str>,
    pub channel: Option<&'a str>,
    pub user: Option<&'a str>,
    pub cmd: &'a str,
    pub param: &'a RawValue,
}

impl TapEvent<'_> {
    pub fn now_ms() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }
}

struct Subscriber {
    id: ConnId,
    worker: usize,
    window_start: Instant,
    sent: u32,
    dropped: u64,
}

#[derive(Default)]
pub struct Tap {
    active: AtomicUsize,
    subscribers: Mutex<Vec<Subscriber>>,
}

#[derive(Serialize)]
struct Dropped {
    count: u64,
}

impl Tap {
    #[inline]
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed) > 0
    }

    pub fn subscribe(&self, id: ConnId, worker: usize) {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subscribers.push(Subscriber { id, worker, window_start: Instant::now(), sent: 0, dropped: 0 });
        self.active.store(subscribers.len(), Ordering::Relaxed);
    }

    pub fn unsubscribe(&self, id: &ConnId) {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        subscribers.retain(|s| s.id != *id);
        self.active.store(subscribers.len(), Ordering::Relaxed);
    }

    /// The frames to send for one event: (tap connection, its worker, frame).
    pub fn deliveries(&self, event: &TapEvent<'_>) -> Vec<(ConnId, usize, SharedFrame)> {
        let Ok(frame) = encode(Envelope::default(), "tap", event) else {
            return Vec::new();
        };
        let now = Instant::now();
        let mut out = Vec::new();
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        for subscriber in subscribers.iter_mut() {
            if now.duration_since(subscriber.window_start) >= Duration::from_secs(1) {
                if subscriber.dropped > 0 {
                    if let Ok(note) = encode(Envelope::default(), "tap-dropped", &Dropped { count: subscriber.dropped })
                    {
                        out.push((subscriber.id, subscriber.worker, note));
                    }
                }
                subscriber.window_start = now;
                subscriber.sent = 0;
                subscriber.dropped = 0;
            }
            if subscriber.sent < MAX_EVENTS_PER_SECOND {
                subscriber.sent += 1;
                out.push((subscriber.id, subscriber.worker, frame.clone()));
            } else {
                subscriber.dropped += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> TapEvent<'static> {
        TapEvent {
            time: 0,
            dir: "in",
            conn: None,
            target: None,
            channel: Some("c"),
            user: None,
            cmd: "chat",
            param: crate::service::message::null(),
        }
    }

    #[test]
    fn a_busy_tap_is_bounded_and_told_what_it_missed() {
        let tap = Tap::default();
        assert!(!tap.is_active());
        let watcher = ConnId::new_v4();
        tap.subscribe(watcher, 0);
        let sent: usize = (0..250).map(|_| tap.deliveries(&event()).len()).sum();
        assert_eq!(sent, MAX_EVENTS_PER_SECOND as usize, "at most the per-second budget");
        std::thread::sleep(Duration::from_millis(1050));
        let next = tap.deliveries(&event());
        assert_eq!(next.len(), 2, "the drop notice, then the event");
        let notice = String::from_utf8_lossy(&next[0].2[2..]).into_owned();
        assert_eq!(notice, r#"{"cmd":"tap-dropped","param":{"count":50}}"#);
        tap.unsubscribe(&watcher);
        assert!(!tap.is_active() && tap.deliveries(&event()).is_empty());
    }
}
