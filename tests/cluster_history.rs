//! Channel history through Redis (`--redis` with `--history-size`), against a real
//! redis-server and two switchyard processes: a client away from node A recovers on node B
//! with the same offsets, every node sees the same offsets in the same order, publishes
//! racing a recovery are neither lost nor duplicated, and with Redis down, hung or out of
//! reach a recovery says `recovered:false` while live delivery carries on (offsets again, in
//! a new epoch where writes bypassed Redis, once it is back).
//! Owns nothing but its Redis and nodes.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::redis::{Proxy, Redis};
use common::{connect, eventually, http_call, recv, send, set_timeout, sync, Binary, Client};
use serde_json::{json, Value};

fn node(redis: &Redis) -> Binary {
    node_keeping(redis, 100)
}

fn node_keeping(redis: &Redis, size: usize) -> Binary {
    node_at(&redis.url(), size)
}

fn node_at(url: &str, size: usize) -> Binary {
    let size = size.to_string();
    let mut node = Binary::start(&["--redis", url, "--workers", "2", "--history-size", &size]);
    eventually(Duration::from_secs(15), "the node joined", || {
        node.drain_log().iter().any(|l| l.contains("cluster: joined through"))
    });
    node
}

fn link_state(node: &Binary) -> String {
    let (_, body) = http_call(node.addr, "GET", "/admin/api/status", &[], b"");
    let status: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    status["cluster"]["state"].as_str().unwrap_or_default().to_string()
}

/// A chat as a client saw it: (offset, epoch, text); offset 0 and no epoch without history.
#[derive(Debug, Clone, PartialEq)]
struct Chat {
    offset: u64,
    epoch: String,
    text: String,
}

fn chat_of(message: &Value) -> Chat {
    Chat {
        offset: message["offset"].as_u64().unwrap_or(0),
        epoch: message["epoch"].as_str().unwrap_or_default().to_string(),
        text: message["param"]["text"].as_str().unwrap_or_default().to_string(),
    }
}

fn next_chat(client: &mut Client) -> Chat {
    loop {
        let message = recv(client);
        if message["cmd"] == "chat" {
            return chat_of(&message);
        }
    }
}

fn say(client: &mut Client, text: &str) {
    send(client, json!({"cmd": "chat", "param": {"text": text}}));
}

/// The `position` a plain join is told: (offset, epoch).
fn position(client: &mut Client) -> (u64, String) {
    loop {
        let message = recv(client);
        if message["cmd"] == "position" {
            let param = &message["param"];
            return (param["offset"].as_u64().expect("offset"), param["epoch"].as_str().expect("epoch").to_string());
        }
        assert_ne!(message["cmd"], "chat", "no chat before the position: {message}");
    }
}

/// Reads whatever has arrived, waiting a millisecond at most.
fn drain(client: &mut Client) {
    set_timeout(client, Duration::from_millis(1));
    while client.read().is_ok() {}
    set_timeout(client, Duration::from_secs(10));
}

/// The chats of a recovery, then its `recovered` param.
fn recovery(client: &mut Client) -> (Vec<Chat>, Value) {
    let mut chats = Vec::new();
    loop {
        let message = recv(client);
        match message["cmd"].as_str() {
            Some("chat") => chats.push(chat_of(&message)),
            Some("recovered") => return (chats, message["param"].clone()),
            _ => {}
        }
    }
}

#[test]
fn a_client_away_from_node_a_recovers_on_node_b_with_the_same_offsets() {
    let redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    let mut away = connect(a.addr, "/example/socket?ch=room");
    let (offset, epoch) = position(&mut away);
    assert_eq!(offset, 0);
    let mut watcher = connect(b.addr, "/example/socket?ch=room");
    assert_eq!(position(&mut watcher), (0, epoch.clone()), "one position for the cluster");
    let mut writer = connect(a.addr, "/example/socket?ch=room");
    position(&mut writer);
    for i in 1..=5 {
        say(&mut writer, &format!("m{i}"));
    }
    for i in 1..=5 {
        let expected = Chat { offset: i, epoch: epoch.clone(), text: format!("m{i}") };
        assert_eq!(next_chat(&mut away), expected, "on A");
        assert_eq!(next_chat(&mut watcher), expected, "on B, the same offset");
    }
    drop(away);
    for i in 6..=55 {
        say(&mut writer, &format!("m{i}"));
    }
    for i in 6..=55 {
        assert_eq!(next_chat(&mut watcher).offset, i);
    }
    let mut back = connect(b.addr, &format!("/example/socket?ch=room&since=5&epoch={epoch}"));
    let (replayed, recovered) = recovery(&mut back);
    let expected: Vec<Chat> =
        (6..=55).map(|i| Chat { offset: i, epoch: epoch.clone(), text: format!("m{i}") }).collect();
    assert_eq!(replayed, expected, "exactly the 50 missed, in order");
    assert_eq!(recovered, json!({"recovered": true, "offset": 55, "epoch": epoch}));
    say(&mut writer, "live");
    assert_eq!(next_chat(&mut back), Chat { offset: 56, epoch: epoch.clone(), text: "live".into() });
    let mut wrong = connect(a.addr, "/example/socket?ch=room&since=5&epoch=elsewhen");
    let (replayed, recovered) = recovery(&mut wrong);
    assert!(replayed.is_empty());
    assert_eq!(recovered, json!({"recovered": false, "offset": 56, "epoch": epoch}), "another epoch");
}

#[test]
fn every_node_sees_the_same_offsets_in_the_same_order() {
    let redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    let mut watchers = [connect(a.addr, "/example/socket?ch=room"), connect(b.addr, "/example/socket?ch=room")];
    for watcher in &mut watchers {
        position(watcher);
    }
    const EACH: usize = 150;
    let writers: Vec<_> = [a.addr, b.addr]
        .into_iter()
        .enumerate()
        .map(|(n, addr)| {
            std::thread::spawn(move || {
                let mut writer = connect(addr, "/example/socket?ch=room");
                position(&mut writer);
                for i in 0..EACH {
                    say(&mut writer, &format!("w{n}-{i}"));
                }
                writer
            })
        })
        .collect();
    let seen: Vec<Vec<Chat>> = watchers.iter_mut().map(|w| (0..2 * EACH).map(|_| next_chat(w)).collect()).collect();
    assert_eq!(seen[0], seen[1], "the same messages with the same offsets in the same order");
    let offsets: Vec<u64> = seen[0].iter().map(|c| c.offset).collect();
    assert_eq!(offsets, (1..=2 * EACH as u64).collect::<Vec<_>>());
    for writer in writers {
        drop(writer.join().expect("writer"));
    }
}

#[test]
fn publishes_racing_recoveries_are_neither_lost_nor_duplicated() {
    let redis = Redis::start();
    let (a, b) = (node_keeping(&redis, 100_000), node_keeping(&redis, 100_000));
    let mut reader = connect(b.addr, "/example/socket?ch=race");
    let (mut last, epoch) = position(&mut reader);
    let (writer_addr, stop) = (a.addr, Arc::new(AtomicBool::new(false)));
    let writing = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut writer = connect(writer_addr, "/example/socket?ch=race");
        position(&mut writer);
        for i in 0.. {
            if writing.load(Ordering::Relaxed) {
                return writer;
            }
            say(&mut writer, &format!("r{i}"));
            if i % 100 == 0 {
                drain(&mut writer); // its own messages come back too
            }
        }
        writer
    });
    let mut recoveries = 0;
    for round in 0..20 {
        let until = last + 60;
        while last < until {
            let chat = next_chat(&mut reader);
            assert_eq!((chat.offset, &chat.epoch), (last + 1, &epoch), "round {round}: contiguous, once");
            last = chat.offset;
        }
        drop(reader);
        std::thread::sleep(Duration::from_millis(30)); // away while messages go by
        let node = if round % 2 == 0 { a.addr } else { b.addr };
        reader = connect(node, &format!("/example/socket?ch=race&since={last}&epoch={epoch}"));
        let (replayed, recovered) = recovery(&mut reader);
        for chat in &replayed {
            assert_eq!(chat.offset, last + 1, "round {round}: the replay follows on");
            last = chat.offset;
        }
        assert_eq!(recovered["recovered"], true, "round {round}");
        assert_eq!(recovered["offset"], last, "round {round}: the replay ends at the position");
        recoveries += usize::from(!replayed.is_empty());
    }
    stop.store(true, Ordering::Relaxed);
    assert!(recoveries >= 10, "most recoveries had something to replay: {recoveries}");
    drop(writer.join().expect("writer"));
}

#[test]
fn with_redis_down_recovery_says_false_and_live_delivery_carries_on() {
    let mut redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    let mut sender = connect(a.addr, "/example/socket?ch=room");
    let (_, epoch) = position(&mut sender);
    let mut local = connect(a.addr, "/example/socket?ch=room");
    position(&mut local);
    let mut remote = connect(b.addr, "/example/socket?ch=room");
    position(&mut remote);
    say(&mut sender, "before");
    assert_eq!(next_chat(&mut local).offset, 1);
    assert_eq!(next_chat(&mut remote).offset, 1);
    redis.kill();
    eventually(Duration::from_secs(10), "node A sees Redis gone", || link_state(&a) == "down");
    say(&mut sender, "while down");
    assert_eq!(next_chat(&mut local), Chat { offset: 0, epoch: String::new(), text: "while down".into() }, "no offset");
    let mut returning = connect(a.addr, &format!("/example/socket?ch=room&since=1&epoch={epoch}"));
    let (replayed, recovered) = recovery(&mut returning);
    assert!(replayed.is_empty());
    assert_eq!(recovered["recovered"], false);
    say(&mut sender, "still live");
    assert_eq!(next_chat(&mut returning).text, "still live");
    assert_eq!(next_chat(&mut local).text, "still live");
    redis.restart();
    eventually(Duration::from_secs(15), "both nodes back", || link_state(&a) == "up" && link_state(&b) == "up");
    say(&mut sender, "back");
    let back = next_chat(&mut local);
    assert_eq!((back.offset, back.text.as_str()), (1, "back"), "a new epoch starts at 1");
    assert_ne!(back.epoch, epoch, "Redis lost the history: a new epoch");
    assert_eq!(next_chat(&mut remote), back, "across nodes again, with the same offset");
    let mut late = connect(b.addr, &format!("/example/socket?ch=room&since=1&epoch={epoch}"));
    assert_eq!(recovery(&mut late).1["recovered"], false, "the old epoch is gone");
}

#[test]
fn writes_made_while_cut_off_from_redis_start_a_new_epoch_so_no_recovery_skips_them() {
    let redis = Redis::start();
    let proxy = Proxy::start(redis.port);
    let (a, b) = (node_at(&proxy.url(), 100), node(&redis));
    let mut sender = connect(a.addr, "/example/socket?ch=room");
    let (_, epoch) = position(&mut sender);
    let mut away = connect(a.addr, "/example/socket?ch=room");
    position(&mut away);
    say(&mut sender, "seen");
    assert_eq!(next_chat(&mut away).offset, 1);
    drop(away);
    proxy.cut();
    eventually(Duration::from_secs(10), "node A cut off", || link_state(&a) == "down");
    let mut local = connect(a.addr, "/example/socket?ch=room");
    say(&mut sender, "missed, never in Redis");
    assert_eq!(next_chat(&mut local).offset, 0, "delivered on A without offset");
    proxy.restore();
    eventually(Duration::from_secs(15), "node A back", || link_state(&a) == "up");
    let mut back = connect(b.addr, &format!("/example/socket?ch=room&since=1&epoch={epoch}"));
    let (replayed, recovered) = recovery(&mut back);
    assert!(replayed.is_empty());
    assert_eq!(recovered["recovered"], false, "the history has a hole: a new epoch, not a silent gap");
    assert_ne!(recovered["epoch"], epoch.as_str());
    say(&mut sender, "after");
    let after = next_chat(&mut back);
    assert_eq!((after.offset, after.epoch.as_str()), (1, recovered["epoch"].as_str().unwrap_or_default()));
}

#[test]
fn a_hung_redis_blocks_no_event_loop_and_recovery_says_false_after_the_link_timeout() {
    let redis = Redis::start();
    let a = node(&redis);
    let mut member = connect(a.addr, "/example/socket?ch=room");
    let (_, epoch) = position(&mut member);
    say(&mut member, "one");
    assert_eq!(next_chat(&mut member).offset, 1);
    assert_eq!(redis.cli(&["CLIENT", "PAUSE", "6000", "ALL"]).trim(), "OK");
    say(&mut member, "while Redis hangs");
    let asked = Instant::now();
    sync(&mut member);
    assert!(asked.elapsed() < Duration::from_millis(500), "the event loop answers at once: {:?}", asked.elapsed());
    let mut returning = connect(a.addr, &format!("/example/socket?ch=room&since=1&epoch={epoch}"));
    sync(&mut returning);
    let (before, recovered) = recovery(&mut returning);
    let waited = asked.elapsed();
    // The write stuck in the link is delivered here, without offset, when the link gives up.
    assert!(before.iter().all(|c| c.offset == 0 && c.text == "while Redis hangs"), "{before:?}");
    assert_eq!(recovered["recovered"], false, "after {waited:?}");
    assert!(waited < Duration::from_secs(8), "answered once the link gave up: {waited:?}");
}
