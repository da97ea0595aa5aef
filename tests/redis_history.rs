//! The channel-history scripts (`cluster::history::scripts`) against a real redis-server,
//! without a switchyard node: offsets assigned atomically and published with the message,
//! the position, recovery reads (complete, gapped, other epoch, expired), a lost epoch,
//! `NOSCRIPT` and concurrent publishers. Owns nothing but the Redis it starts.

mod common;

use std::time::Duration;

use common::redis::{Redis, RespClient};
use switchyard::cluster::history::reply::{self, ReplyError};
use switchyard::cluster::history::scripts::{self, Call, HistoryKeys, PublishArgs, ReadArgs, Retention};

const TOPIC: &str = "sy:ch:room";

fn keys() -> HistoryKeys {
    HistoryKeys { stream: "sy:hist:room".into(), meta: "sy:meta:room".into() }
}

fn sha(script: &str) -> String {
    sha1_smol::Sha1::from(script).digest().to_string()
}

/// Publishes `{"cmd":"m","param":text}` and returns the offset Redis gave it.
fn publish(client: &mut RespClient, text: &str, retention: Retention) -> u64 {
    let json = format!(r#"{{"cmd":"m","param":"{text}"}}"#);
    let keys = keys();
    let args = PublishArgs {
        keys: &keys,
        topic: TOPIC,
        head: b"HEAD",
        json: json.as_bytes(),
        retention,
        new_epoch: "e0000001",
    };
    let mut out = Vec::new();
    scripts::publish_command(&mut out, Call::Text(scripts::PUBLISH), &args);
    client.send_raw(&out);
    client.reply(reply::publish).expect("an offset")
}

#[derive(Debug, PartialEq)]
struct Read {
    epoch: String,
    offset: u64,
    recovered: bool,
    entries: Vec<(u64, String)>,
}

fn read(client: &mut RespClient, since: Option<(u64, &str)>, retention: Retention) -> Read {
    read_marked(client, since, retention, b"")
}

/// A read that publishes `marker` on the channel after reading.
fn read_marked(client: &mut RespClient, since: Option<(u64, &str)>, retention: Retention, marker: &[u8]) -> Read {
    let keys = keys();
    let mut out = Vec::new();
    let args = ReadArgs { keys: &keys, since, retention, new_epoch: "e0000002", topic: TOPIC, marker };
    scripts::read_command(&mut out, Call::Text(scripts::READ), &args);
    client.send_raw(&out);
    client.reply(|v| {
        let r = reply::read(v).expect("a read reply");
        let entries = r.entries.iter().map(|(n, json)| (*n, String::from_utf8_lossy(json).into_owned())).collect();
        Read { epoch: r.epoch, offset: r.offset, recovered: r.recovered, entries }
    })
}

/// The next pub/sub message's payload.
fn next_payload(subscriber: &mut RespClient) -> String {
    subscriber.reply(|v| {
        let items = v.items().expect("a push");
        assert_eq!(items[0].bytes(), Some(&b"message"[..]));
        items[2].bytes().map(|b| String::from_utf8_lossy(b).into_owned()).expect("a payload")
    })
}

fn message(n: u64, text: &str, epoch: &str) -> String {
    format!(r#"{{"cmd":"m","param":"{text}","offset":{n},"epoch":"{epoch}"}}"#)
}

const KEEP_10: Retention = Retention { size: 10, ttl_ms: 0 };

#[test]
fn publishes_get_consecutive_offsets_are_stored_and_published_with_them() {
    let redis = Redis::start();
    let mut subscriber = redis.client();
    subscriber.call(&[b"SUBSCRIBE", TOPIC.as_bytes()]);
    let mut client = redis.client();
    for (i, text) in ["a", "b", "c"].iter().enumerate() {
        assert_eq!(publish(&mut client, text, KEEP_10), i as u64 + 1);
    }
    for (i, text) in ["a", "b", "c"].iter().enumerate() {
        let n = i as u64 + 1;
        let payload = next_payload(&mut subscriber);
        assert_eq!(payload, format!("HEAD{n}:e0000001:{}", message(n, text, "e0000001")));
    }
    let all = read(&mut client, Some((0, "e0000001")), KEEP_10);
    let expected: Vec<(u64, String)> =
        ["a", "b", "c"].iter().enumerate().map(|(i, t)| (i as u64 + 1, message(i as u64 + 1, t, "e0000001"))).collect();
    assert_eq!(all, Read { epoch: "e0000001".into(), offset: 3, recovered: true, entries: expected.clone() });
    let tail = read(&mut client, Some((2, "e0000001")), KEEP_10);
    assert_eq!((tail.recovered, tail.entries), (true, expected[2..].to_vec()));
    let nothing_missed = read(&mut client, Some((3, "e0000001")), KEEP_10);
    assert_eq!((nothing_missed.recovered, nothing_missed.entries.len()), (true, 0));
}

#[test]
fn a_position_read_creates_the_epoch_the_first_publish_keeps() {
    let redis = Redis::start();
    let mut client = redis.client();
    let position = read(&mut client, None, KEEP_10);
    assert_eq!(position, Read { epoch: "e0000002".into(), offset: 0, recovered: false, entries: vec![] });
    assert_eq!(publish(&mut client, "x", KEEP_10), 1);
    let after = read(&mut client, Some((0, "e0000002")), KEEP_10);
    assert_eq!(after.entries, vec![(1, message(1, "x", "e0000002"))], "the epoch of the position, not the publish's");
    assert!(after.recovered);
}

#[test]
fn gaps_other_epochs_and_positions_ahead_are_not_recovered() {
    let redis = Redis::start();
    let mut client = redis.client();
    let keep_5 = Retention { size: 5, ttl_ms: 0 };
    for i in 0..12 {
        publish(&mut client, &format!("m{i}"), keep_5);
    }
    assert_eq!(redis.cli(&["XLEN", "sy:hist:room"]).trim(), "5", "capped at the history size");
    let gap = read(&mut client, Some((3, "e0000001")), keep_5);
    assert_eq!((gap.offset, gap.recovered), (12, false));
    assert_eq!(gap.entries.iter().map(|e| e.0).collect::<Vec<_>>(), [8, 9, 10, 11, 12], "what is still stored");
    let just_in = read(&mut client, Some((7, "e0000001")), keep_5);
    assert_eq!((just_in.recovered, just_in.entries.len()), (true, 5));
    let other_epoch = read(&mut client, Some((11, "ffffffff")), keep_5);
    assert_eq!((other_epoch.recovered, other_epoch.entries.len(), other_epoch.epoch.as_str()), (false, 0, "e0000001"));
    let ahead = read(&mut client, Some((13, "e0000001")), keep_5);
    assert_eq!((ahead.recovered, ahead.entries.len()), (false, 0));
}

#[test]
fn expired_messages_are_not_recovered_but_the_position_stays() {
    let redis = Redis::start();
    let mut client = redis.client();
    let short = Retention { size: 10, ttl_ms: 300 };
    publish(&mut client, "old", short);
    std::thread::sleep(Duration::from_millis(150));
    publish(&mut client, "newer", short);
    std::thread::sleep(Duration::from_millis(200));
    let partly = read(&mut client, Some((0, "e0000001")), short);
    assert_eq!(
        (partly.recovered, partly.entries.iter().map(|e| e.0).collect::<Vec<_>>()),
        (false, vec![2]),
        "the first is too old"
    );
    assert!(read(&mut client, Some((1, "e0000001")), short).recovered, "the second is not");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(redis.cli(&["EXISTS", "sy:hist:room"]).trim(), "0", "the stream expired");
    let gone = read(&mut client, Some((1, "e0000001")), short);
    assert_eq!((gone.offset, gone.epoch.as_str(), gone.recovered), (2, "e0000001", false));
    assert!(read(&mut client, Some((2, "e0000001")), short).recovered, "nothing missed: still a recovery");
    let ttl: i64 = redis.cli(&["PTTL", "sy:meta:room"]).trim().parse().expect("a TTL");
    assert!(ttl > 3_600_000, "the position outlives the messages: {ttl}");
}

#[test]
fn a_lost_position_starts_a_new_epoch_at_offset_one() {
    let redis = Redis::start();
    let mut client = redis.client();
    for text in ["a", "b"] {
        publish(&mut client, text, KEEP_10);
    }
    redis.cli(&["DEL", "sy:meta:room"]);
    let json = r#"{"cmd":"m","param":"c"}"#;
    let keys = keys();
    let args = PublishArgs {
        keys: &keys,
        topic: TOPIC,
        head: b"",
        json: json.as_bytes(),
        retention: KEEP_10,
        new_epoch: "e2",
    };
    let mut out = Vec::new();
    scripts::publish_command(&mut out, Call::Text(scripts::PUBLISH), &args);
    client.send_raw(&out);
    assert_eq!(client.reply(reply::publish), Ok(1));
    let after = read(&mut client, Some((0, "e2")), KEEP_10);
    assert_eq!(
        after,
        Read { epoch: "e2".into(), offset: 1, recovered: true, entries: vec![(1, message(1, "c", "e2"))] }
    );
    assert!(!read(&mut client, Some((2, "e0000001")), KEEP_10).recovered, "the old epoch is gone");
}

#[test]
fn evalsha_answers_noscript_until_the_script_is_loaded() {
    let redis = Redis::start();
    let mut client = redis.client();
    let keys = keys();
    let json = br#"{"cmd":"m"}"#;
    let args = PublishArgs { keys: &keys, topic: TOPIC, head: b"", json, retention: KEEP_10, new_epoch: "e" };
    let sha = sha(scripts::PUBLISH);
    let mut out = Vec::new();
    scripts::publish_command(&mut out, Call::Sha(&sha), &args);
    client.send_raw(&out);
    assert_eq!(client.reply(reply::publish), Err(ReplyError::NoScript));
    client.send(&[b"SCRIPT", b"LOAD", scripts::PUBLISH.as_bytes()]);
    assert_eq!(client.reply(reply::loaded), Ok(sha.clone()), "the SHA1 the link computes");
    client.send_raw(&out);
    assert_eq!(client.reply(reply::publish), Ok(1));
    client.send(&[b"SCRIPT", b"LOAD", scripts::READ.as_bytes()]);
    assert_eq!(client.reply(reply::loaded), Ok(self::sha(scripts::READ)));
}

#[test]
fn concurrent_publishers_get_distinct_offsets_in_the_order_subscribers_see() {
    let redis = Redis::start();
    let mut subscriber = redis.client();
    subscriber.call(&[b"SUBSCRIBE", TOPIC.as_bytes()]);
    const EACH: usize = 200;
    let publishers: Vec<_> = (0..2)
        .map(|p| {
            let mut client = redis.client();
            std::thread::spawn(move || {
                (0..EACH).map(|i| publish(&mut client, &format!("p{p}-{i}"), KEEP_10)).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut offsets: Vec<u64> = publishers.into_iter().flat_map(|p| p.join().expect("publisher")).collect();
    offsets.sort_unstable();
    assert_eq!(offsets, (1..=2 * EACH as u64).collect::<Vec<_>>(), "every offset once");
    for n in 1..=2 * EACH as u64 {
        let payload =
            subscriber.reply(|v| v.items().and_then(|i| i[2].bytes()).map(<[u8]>::to_vec)).expect("a message");
        assert!(payload.starts_with(format!("HEAD{n}:").as_bytes()), "published in offset order: {n}");
    }
}

#[test]
fn a_read_publishes_its_marker_after_every_earlier_message_and_before_later_ones() {
    let redis = Redis::start();
    let mut subscriber = redis.client();
    subscriber.call(&[b"SUBSCRIBE", TOPIC.as_bytes()]);
    let mut client = redis.client();
    publish(&mut client, "before", KEEP_10);
    let recovery = read_marked(&mut client, Some((0, "e0000001")), KEEP_10, b"MARK-1");
    assert_eq!((recovery.offset, recovery.recovered), (1, true));
    publish(&mut client, "after", KEEP_10);
    let position = read_marked(&mut client, None, KEEP_10, b"MARK-2");
    assert_eq!(position.offset, 2);
    let seen: Vec<String> = (0..4).map(|_| next_payload(&mut subscriber)).collect();
    assert!(seen[0].starts_with("HEAD1:"), "{seen:?}");
    assert_eq!(seen[1], "MARK-1");
    assert!(seen[2].starts_with("HEAD2:"), "{seen:?}");
    assert_eq!(seen[3], "MARK-2", "a position read is marked too");
    read(&mut client, Some((0, "e0000001")), KEEP_10);
    publish(&mut client, "last", KEEP_10);
    assert!(next_payload(&mut subscriber).starts_with("HEAD3:"), "no marker without one asked");
}
