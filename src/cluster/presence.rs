//! This node's presence as the other nodes last heard it, and the changes to tell them:
//! per channel, the distinct users here. The link thread marks channels whose presence may
//! have changed (joins, leaves, `online-update` writes) and asks for the changes; a rescan
//! of every channel now and then catches anything missed. Reads the registry through the
//! closures it is given; sends nothing itself.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::nodes::Delta;

/// Where the current local presence comes from (the registry, in the binary).
pub trait Source {
    fn channels(&self) -> Vec<String>;
    fn online(&self, channel: &str) -> Vec<String>;
}

#[derive(Default)]
pub struct LocalPresence {
    announced: HashMap<String, BTreeSet<String>>,
    dirty: HashSet<String>,
    full_due: bool,
}

/// What to send: a full snapshot or the changes, per channel.
pub struct Changes {
    pub full: bool,
    pub presence: BTreeMap<String, Delta>,
}

impl LocalPresence {
    pub fn mark(&mut self, channel: &str) {
        if !self.dirty.contains(channel) {
            self.dirty.insert(channel.to_string());
        }
    }

    /// The next changes will be a full snapshot (after a reconnect, or when asked).
    pub fn force_full(&mut self) {
        self.full_due = true;
    }

    pub fn has_news(&self) -> bool {
        self.full_due || !self.dirty.is_empty()
    }

    /// A full snapshot of what was last announced (no registry read): after the pending
    /// changes went out as a delta, it is exactly what a node in step already has.
    pub fn announced_snapshot(&mut self) -> Changes {
        self.full_due = false;
        let presence = self
            .announced
            .iter()
            .map(|(channel, users)| {
                (channel.clone(), Delta { add: users.iter().cloned().collect(), remove: Vec::new() })
            })
            .collect();
        Changes { full: true, presence }
    }

    /// The changes of the marked channels, even when a full snapshot is due (it stays due).
    pub fn take_delta(&mut self, source: &impl Source) -> Changes {
        let full_due = std::mem::take(&mut self.full_due);
        let changes = self.take(source, false);
        self.full_due = full_due;
        changes
    }

    /// The changes since the last call (every channel if `rescan`).
    pub fn take(&mut self, source: &impl Source, rescan: bool) -> Changes {
        if std::mem::take(&mut self.full_due) {
            return self.snapshot(source);
        }
        let mut candidates: HashSet<String> = std::mem::take(&mut self.dirty);
        if rescan {
            candidates.extend(source.channels());
            candidates.extend(self.announced.keys().cloned());
        }
        let mut presence = BTreeMap::new();
        for channel in candidates {
            if let Some(delta) = self.diff(&channel, source.online(&channel)) {
                presence.insert(channel, delta);
            }
        }
        Changes { full: false, presence }
    }

    fn snapshot(&mut self, source: &impl Source) -> Changes {
        self.dirty.clear();
        self.announced.clear();
        let mut presence = BTreeMap::new();
        for channel in source.channels() {
            let users = source.online(&channel);
            if users.is_empty() {
                continue;
            }
            self.announced.insert(channel.clone(), users.iter().cloned().collect());
            presence.insert(channel, Delta { add: users, remove: Vec::new() });
        }
        Changes { full: true, presence }
    }

    /// Records the channel's users; the delta from what was announced, if any.
    fn diff(&mut self, channel: &str, now: Vec<String>) -> Option<Delta> {
        let now: BTreeSet<String> = now.into_iter().collect();
        let before = self.announced.remove(channel).unwrap_or_default();
        let add: Vec<String> = now.difference(&before).cloned().collect();
        let remove: Vec<String> = before.difference(&now).cloned().collect();
        if !now.is_empty() {
            self.announced.insert(channel.to_string(), now);
        }
        (!add.is_empty() || !remove.is_empty()).then_some(Delta { add, remove })
    }
}

/// The user of an `online-update` frame (a server text frame, unmasked), if it is one.
pub fn online_update_user(frame: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Update {
        param: Param,
    }
    #[derive(serde::Deserialize)]
    struct Param {
        #[serde(rename = "userID")]
        user: String,
    }
    if !is_online_update(frame) {
        return None;
    }
    let ([first, length], rest) = frame.split_first_chunk::<2>()?;
    if *first != 0x81 {
        return None; // not a final text frame
    }
    let payload = match length & 0x7f {
        126 => rest.get(2..)?,
        127 => rest.get(8..)?,
        _ => rest,
    };
    serde_json::from_slice::<Update>(payload).ok().map(|update| update.param.user)
}

/// Whether a frame written to a channel is a presence announcement (a cheap byte search).
pub fn is_online_update(frame: &[u8]) -> bool {
    const NEEDLE: &[u8] = br#""cmd":"online-update""#;
    frame.len() < 1024 && frame.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Fake(RefCell<BTreeMap<String, Vec<String>>>);

    impl Source for Fake {
        fn channels(&self) -> Vec<String> {
            self.0.borrow().keys().cloned().collect()
        }
        fn online(&self, channel: &str) -> Vec<String> {
            self.0.borrow().get(channel).cloned().unwrap_or_default()
        }
    }

    impl Fake {
        fn set(&self, channel: &str, users: &[&str]) {
            let users: Vec<String> = users.iter().map(|u| u.to_string()).collect();
            if users.is_empty() {
                self.0.borrow_mut().remove(channel);
            } else {
                self.0.borrow_mut().insert(channel.to_string(), users);
            }
        }
    }

    #[test]
    fn marks_give_deltas_and_a_rescan_catches_the_rest() {
        let (source, mut presence) = (Fake::default(), LocalPresence::default());
        source.set("a", &["u1", "u2"]);
        presence.force_full();
        let first = presence.take(&source, false);
        assert!(first.full);
        assert_eq!(first.presence["a"].add, ["u1", "u2"]);
        source.set("a", &["u2", "u3"]);
        presence.mark("a");
        let changes = presence.take(&source, false);
        assert_eq!(
            (changes.presence["a"].add.clone(), changes.presence["a"].remove.clone()),
            (vec!["u3".into()], vec!["u1".into()])
        );
        source.set("a", &[]);
        source.set("b", &["x"]);
        assert!(presence.take(&source, false).presence.is_empty(), "nothing marked");
        let changes = presence.take(&source, true);
        assert_eq!(changes.presence["a"].remove, ["u2", "u3"]);
        assert_eq!(changes.presence["b"].add, ["x"]);
        assert!(presence.take(&source, true).presence.is_empty(), "nothing new");
    }

    #[test]
    fn a_delta_can_go_before_a_due_snapshot() {
        let (source, mut presence) = (Fake::default(), LocalPresence::default());
        source.set("a", &["u1"]);
        presence.force_full();
        presence.take(&source, false);
        source.set("a", &["u1", "u2"]);
        presence.mark("a");
        presence.force_full();
        let delta = presence.take_delta(&source);
        assert!(!delta.full);
        assert_eq!(delta.presence["a"].add, ["u2"]);
        assert!(presence.has_news(), "the snapshot is still due");
        source.set("b", &["x"]); // its announcement is still on its way: not in the snapshot
        let snapshot = presence.announced_snapshot();
        assert!(snapshot.full);
        assert_eq!(snapshot.presence.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(snapshot.presence["a"].add, ["u1", "u2"]);
        assert!(!presence.take(&source, false).full, "no longer due");
    }

    #[test]
    fn spots_online_updates() {
        assert!(is_online_update(br#"..{"channel":"x","cmd":"online-update","param":{}}"#));
        assert!(!is_online_update(br#"..{"cmd":"chat","param":{"text":"online-update"}}"#));
        let update = serde_json::json!({"userID": "ann", "connected": true});
        let frame = crate::service::message::encode(
            crate::service::message::Envelope { from: None, channel: Some("room") },
            "online-update",
            &update,
        );
        assert_eq!(frame.ok().and_then(|f| online_update_user(&f)), Some("ann".to_string()));
        assert_eq!(online_update_user(br#"..{"cmd":"online-update","param":{}}"#), None);
    }
}
