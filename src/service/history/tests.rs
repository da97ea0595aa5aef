//! The single-node store by itself: offsets, sizes, recovery answers, TTL, the memory cap.

use std::time::Duration;

use super::*;
use crate::service::message::{serialize_body, Envelope};

fn store(ttl: Duration, memory: usize) -> MemoryHistory {
    MemoryHistory::new(HistoryLimits { ttl, memory })
}

fn publish(store: &MemoryHistory, channel: &str, size: usize, n: u64) -> Stamped {
    let body = serialize_body(Envelope { from: None, channel: Some(channel) }, "chat", &n).unwrap();
    let mut delivered = Vec::new();
    let Ok(Appended::Here(stamped)) = store.append(channel, size, body, None, &mut |s| delivered.push(s.offset)) else {
        panic!("the memory store stamps every append")
    };
    assert_eq!(delivered, vec![stamped.offset], "delivered once, inside the append");
    stamped
}

fn at(offset: u64, epoch: &str) -> Position {
    Position { offset, epoch: epoch.to_string() }
}

fn text(frame: &SharedFrame) -> serde_json::Value {
    serde_json::from_slice(&frame[2..]).unwrap()
}

#[test]
fn offsets_count_from_one_and_frames_carry_them() {
    let store = store(Duration::ZERO, 1 << 20);
    let first = publish(&store, "a", 10, 7);
    let second = publish(&store, "a", 10, 8);
    assert_eq!((first.offset, second.offset), (1, 2));
    assert_eq!(first.epoch, second.epoch);
    assert_eq!(first.epoch.len(), 8);
    let json = text(&second.frame);
    assert_eq!((json["offset"].as_u64(), json["epoch"].as_str()), (Some(2), Some(&*second.epoch)));
    assert_eq!(publish(&store, "b", 10, 1).offset, 1, "offsets are per channel");
}

#[test]
fn replay_is_exactly_the_messages_after_since() {
    let store = store(Duration::ZERO, 1 << 20);
    let stamped: Vec<Stamped> = (1..=5).map(|n| publish(&store, "a", 10, n)).collect();
    let epoch = stamped[0].epoch.to_string();
    let replay = store.read("a", Some(&at(2, &epoch)));
    assert!(replay.recovered);
    assert_eq!((replay.offset, &*replay.epoch), (5, &*epoch));
    assert_eq!(replay.frames, stamped[2..].iter().map(|s| s.frame.clone()).collect::<Vec<_>>());
    assert!(replay.frames[0].as_ptr() == stamped[2].frame.as_ptr(), "the stored frame is the sent one, not a copy");
    let current = store.read("a", Some(&at(5, &epoch)));
    assert!(current.recovered && current.frames.is_empty());
    let position = store.read("a", None);
    assert_eq!((position.offset, position.frames.len()), (5, 0));
}

#[test]
fn a_gap_past_the_size_a_wrong_epoch_or_a_future_offset_is_not_recovered() {
    let store = store(Duration::ZERO, 1 << 20);
    let epoch = (1..=10).map(|n| publish(&store, "a", 3, n)).last().unwrap().epoch.to_string();
    assert_eq!(store.len("a"), 3);
    assert!(store.read("a", Some(&at(7, &epoch))).recovered, "8, 9, 10 are kept");
    assert!(!store.read("a", Some(&at(6, &epoch))).recovered, "7 is gone");
    assert!(!store.read("a", Some(&at(9, "other"))).recovered);
    assert!(!store.read("a", Some(&at(11, &epoch))).recovered);
    let failed = store.read("a", Some(&at(0, &epoch)));
    assert!(failed.frames.is_empty() && failed.offset == 10);
}

#[test]
fn a_join_before_the_first_message_learns_the_epoch_it_will_carry() {
    let store = store(Duration::ZERO, 1 << 20);
    let position = store.read("new", None);
    assert_eq!(position.offset, 0);
    let first = publish(&store, "new", 5, 1);
    assert_eq!(first.epoch, position.epoch);
    let replay = store.read("new", Some(&at(0, &position.epoch)));
    assert!(replay.recovered);
    assert_eq!(replay.frames.len(), 1);
}

#[test]
fn messages_past_the_ttl_are_dropped_and_then_the_history() {
    let store = store(Duration::from_millis(200), 1 << 20);
    let epoch = publish(&store, "a", 10, 1).epoch.to_string();
    std::thread::sleep(Duration::from_millis(350));
    publish(&store, "a", 10, 2);
    assert_eq!(store.len("a"), 1, "message 1 expired");
    assert!(!store.read("a", Some(&at(0, &epoch))).recovered);
    assert!(store.read("a", Some(&at(1, &epoch))).recovered);
    std::thread::sleep(Duration::from_millis(350));
    store.sweep();
    assert_eq!(store.stats().channels, 0, "an emptied, idle history is gone");
    assert_eq!(store.stats().bytes, 0);
    assert_ne!(store.read("a", None).epoch.to_string(), epoch, "a new history, a new epoch");
}

#[test]
fn the_memory_cap_drops_the_least_recently_written_channels_first() {
    let one = {
        let probe = store(Duration::ZERO, 1 << 20);
        publish(&probe, "c0", 100, 0);
        probe.stats().bytes as usize
    };
    let store = store(Duration::ZERO, one * 3 + one / 2);
    for channel in ["c0", "c1", "c2"] {
        publish(&store, channel, 100, 0);
    }
    publish(&store, "c0", 100, 1); // c0 is now the most recently written
    assert_eq!(store.stats().channels_dropped, 0);
    publish(&store, "c3", 100, 0);
    let stats = store.stats();
    assert!(stats.bytes as usize <= one * 3 + one / 2, "{stats:?}");
    assert_eq!(stats.channels_dropped, 1);
    assert_eq!(store.len("c1"), 0, "c1 was written least recently");
    assert_eq!((store.len("c0"), store.len("c2"), store.len("c3")), (2, 1, 1));
}

#[test]
fn bytes_are_accounted_to_zero_and_a_slot_costs_32_bytes() {
    let store = store(Duration::ZERO, 1 << 20);
    let before = store.read("a", None);
    let empty = store.stats().bytes;
    let stamped = publish(&store, "a", 2, 1);
    assert_eq!(store.stats().bytes - empty, stamped.frame.len() as u64 + 32);
    for n in 2..10 {
        publish(&store, "a", 2, n);
    }
    assert_eq!(store.stats().messages, 2);
    assert_eq!(before.offset, 0);
}

#[test]
fn the_first_channel_ever_written_is_dropped_first_too() {
    let one = {
        let probe = store(Duration::ZERO, 1 << 20);
        publish(&probe, "c0", 100, 0);
        probe.stats().bytes as usize
    };
    let store = store(Duration::ZERO, one * 2 + one / 2);
    for channel in ["c0", "c1", "c2"] {
        publish(&store, channel, 100, 0);
    }
    assert_eq!(store.stats().channels_dropped, 1);
    assert_eq!((store.len("c0"), store.len("c1"), store.len("c2")), (0, 1, 1));
}
