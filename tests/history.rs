//! Channel history against the binary, over real sockets: offsets and epochs on the wire,
//! `position` on a plain join, recovery at the upgrade and through `join-room` (exactly the
//! missed messages, in order, then `recovered`, then live ones), the refusals (a gap past
//! the size, a changed epoch), publishes racing a replay on two workers, TTL, the memory
//! cap, and channels without history left byte for byte as they were.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tungstenite::Message;

fn chat(client: &mut Client, text: &str) {
    send(client, json!({"cmd": "chat", "param": {"text": text}}));
}

/// The next message of `cmd` in `channel`, skipping presence and others.
fn next_in(client: &mut Client, channel: &str, cmds: &[&str]) -> Value {
    loop {
        let message = recv(client);
        if message["channel"] == channel && cmds.iter().any(|c| message["cmd"] == *c) {
            return message;
        }
    }
}

/// Connects to `channel` and reads its `position`: (offset, epoch).
fn join(addr: std::net::SocketAddr, channel: &str) -> (Client, u64, String) {
    let mut client = connect(addr, &format!("/example/socket?ch={channel}"));
    let position = next_in(&mut client, channel, &["position"]);
    let offset = position["param"]["offset"].as_u64().expect("offset");
    (client, offset, position["param"]["epoch"].as_str().expect("epoch").to_string())
}

/// Sends `count` chats and waits until the sender has its own last one back: all are stored.
fn publish(client: &mut Client, channel: &str, prefix: &str, count: usize) -> Vec<Value> {
    for n in 0..count {
        chat(client, &format!("{prefix}{n}"));
    }
    (0..count).map(|_| next_in(client, channel, &["chat"])).collect()
}

fn text_of(message: &Value) -> &str {
    message["param"]["text"].as_str().unwrap_or_default()
}

fn metric(addr: std::net::SocketAddr, name: &str) -> u64 {
    let (_, body) = http_call(addr, "GET", "/metrics", &[], b"");
    let line = body.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}: {body}"));
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{line}"))
}

#[test]
fn a_client_that_missed_50_gets_exactly_those_in_order_then_live_ones() {
    let server = Binary::start(&["--history-size", "100", "--workers", "2"]);
    let (mut publisher, _, epoch) = join(server.addr, "room");
    let (mut away, start, away_epoch) = join(server.addr, "room");
    assert_eq!((start, &away_epoch), (0, &epoch));
    let seen = publish(&mut publisher, "room", "before-", 5);
    for (i, message) in seen.iter().enumerate() {
        assert_eq!(message["offset"], i as u64 + 1, "{message}");
        assert_eq!(message["epoch"], epoch.as_str());
    }
    let last = next_in(&mut away, "room", &["chat"]);
    let last = (0..4).fold(last, |_, _| next_in(&mut away, "room", &["chat"]));
    assert_eq!(last["offset"], 5);
    drop(away);
    let missed = publish(&mut publisher, "room", "missed-", 50);
    let mut back = connect(server.addr, &format!("/example/socket?ch=room&since=5&epoch={epoch}"));
    for expected in &missed {
        let replayed = next_in(&mut back, "room", &["chat", "recovered"]);
        assert_eq!(&replayed, expected, "the replay is the live message, byte for byte");
    }
    let recovered = next_in(&mut back, "room", &["chat", "recovered"]);
    assert_eq!(recovered["param"], json!({"recovered": true, "offset": 55, "epoch": epoch}));
    chat(&mut publisher, "live");
    let live = next_in(&mut back, "room", &["chat", "recovered"]);
    assert_eq!((text_of(&live), live["offset"].as_u64()), ("live", Some(56)));
    assert_eq!(metric(server.addr, "switchyard_recoveries_succeeded_total"), 1);
    assert_eq!(metric(server.addr, "switchyard_messages_replayed_total"), 50);
    assert_eq!(metric(server.addr, "switchyard_history_messages"), 56);
}

#[test]
fn a_gap_larger_than_the_history_or_a_changed_epoch_is_not_recovered() {
    let server = Binary::start(&["--history-size", "10"]);
    let (mut publisher, _, epoch) = join(server.addr, "small");
    publish(&mut publisher, "small", "m", 25);
    let mut late = connect(server.addr, &format!("/example/socket?ch=small&since=3&epoch={epoch}"));
    let answer = next_in(&mut late, "small", &["chat", "recovered"]);
    assert_eq!(answer["param"], json!({"recovered": false, "offset": 25, "epoch": epoch}), "nothing replayed");
    let mut kept = connect(server.addr, &format!("/example/socket?ch=small&since=15&epoch={epoch}"));
    let first = next_in(&mut kept, "small", &["chat", "recovered"]);
    assert_eq!(first["offset"], 16, "since+1 is still kept: replayed");
    let mut wrong = connect(server.addr, "/example/socket?ch=small&since=24&epoch=deadbeef");
    let answer = next_in(&mut wrong, "small", &["chat", "recovered"]);
    assert_eq!(answer["param"], json!({"recovered": false, "offset": 25, "epoch": epoch}));
    chat(&mut publisher, "after");
    let live = next_in(&mut wrong, "small", &["chat"]);
    assert_eq!(live["offset"], 26, "live messages follow a failed recovery");
    assert_eq!(metric(server.addr, "switchyard_recoveries_failed_total"), 2);
}

#[test]
fn publishes_racing_replays_on_two_workers_are_neither_lost_nor_duplicated() {
    const TOTAL: usize = 3000;
    let server = Binary::start(&["--history-size", "5000", "--workers", "2"]);
    let addr = server.addr;
    let (mut publisher, _, epoch) = join(addr, "race");
    let publishing = std::thread::spawn(move || {
        for n in 0..TOTAL {
            chat(&mut publisher, &format!("{n}"));
            if n % 20 == 0 {
                std::thread::sleep(Duration::from_micros(300)); // a tight loop, spread over the recoveries
            }
            if n % 200 == 0 {
                // Read our own echoes now and then so the sender is no slow consumer.
                while publisher.can_read() {
                    set_timeout(&mut publisher, Duration::from_millis(1));
                    if publisher.read().is_err() {
                        break;
                    }
                }
                set_timeout(&mut publisher, Duration::from_secs(10));
            }
        }
        publisher
    });
    // Three clients drop and come back again and again while the publisher runs.
    let recoverers: Vec<_> = (0..3)
        .map(|k| {
            let epoch = epoch.clone();
            std::thread::spawn(move || {
                let (mut client, mut last, _) = join(addr, "race");
                let mut recoveries = 0;
                while last < TOTAL as u64 {
                    for _ in 0..(37 + 11 * k) {
                        let message = next_in(&mut client, "race", &["chat", "recovered"]);
                        if message["cmd"] == "recovered" {
                            assert_eq!(message["param"]["recovered"], true, "{message}");
                            let end = message["param"]["offset"].as_u64().expect("offset");
                            assert!(end >= last, "{message}");
                            // Replayed messages came before it; the rest follow live.
                            assert_eq!(end, last, "client {k}: the replay ended where it said");
                            if end < TOTAL as u64 {
                                recoveries += 1; // the publisher was still going
                            }
                            continue;
                        }
                        let offset = message["offset"].as_u64().expect("offset");
                        assert_eq!(offset, last + 1, "client {k}: no gap, no duplicate, in order");
                        assert_eq!(text_of(&message), (offset - 1).to_string());
                        last = offset;
                        if last == TOTAL as u64 {
                            break;
                        }
                    }
                    if last < TOTAL as u64 {
                        let path = format!("/example/socket?ch=race&since={last}&epoch={epoch}");
                        client = connect(addr, &path);
                    }
                }
                recoveries
            })
        })
        .collect();
    let recoveries: usize = recoverers.into_iter().map(|t| t.join().expect("recoverer")).sum();
    drop(publishing.join().expect("publisher"));
    assert!(recoveries >= 20, "recoveries raced the publisher: {recoveries}");
}

#[test]
fn history_past_its_ttl_is_gone() {
    let server = Binary::start(&["--history-size", "10", "--history-ttl", "1s"]);
    let (mut publisher, _, epoch) = join(server.addr, "brief");
    publish(&mut publisher, "brief", "old", 3);
    drop(publisher);
    std::thread::sleep(Duration::from_millis(2500));
    let mut late = connect(server.addr, &format!("/example/socket?ch=brief&since=1&epoch={epoch}"));
    let answer = next_in(&mut late, "brief", &["chat", "recovered"]);
    assert_eq!(answer["param"]["recovered"], false, "{answer}");
    assert_ne!(answer["param"]["epoch"], epoch.as_str(), "an expired history starts a new epoch");
    assert_eq!(answer["param"]["offset"], 0);
}

#[test]
fn the_memory_cap_drops_the_oldest_channels_history() {
    let server = Binary::start(&["--history-size", "100", "--history-memory", "6000"]);
    let mut positions = Vec::new();
    for n in 0..10 {
        let channel = format!("cap{n}");
        let (mut client, _, epoch) = join(server.addr, &channel);
        publish(&mut client, &channel, &"x".repeat(200), 2);
        positions.push((channel, epoch));
    }
    assert!(metric(server.addr, "switchyard_history_bytes") <= 6000);
    assert!(metric(server.addr, "switchyard_history_channels_dropped_total") >= 3);
    let (oldest, epoch) = &positions[0];
    let mut back = connect(server.addr, &format!("/example/socket?ch={oldest}&since=1&epoch={epoch}"));
    let answer = next_in(&mut back, oldest, &["chat", "recovered"]);
    assert_eq!(answer["param"]["recovered"], false, "the oldest channel lost its history: {answer}");
    let (newest, epoch) = &positions[9];
    let mut back = connect(server.addr, &format!("/example/socket?ch={newest}&since=1&epoch={epoch}"));
    let replayed = next_in(&mut back, newest, &["chat", "recovered"]);
    assert_eq!(replayed["offset"], 2, "the newest kept its own: {replayed}");
}

#[test]
fn join_room_with_since_recovers_and_without_tells_the_position() {
    let server = Binary::start(&["--history-size", "50", "--workers", "2"]);
    let (mut publisher, _, epoch) = join(server.addr, "topic");
    publish(&mut publisher, "topic", "a", 3);
    let mut member = connect(server.addr, "/example/socket?ch=home");
    next_in(&mut member, "home", &["position"]);
    send(&mut member, json!({"cmd": "join-room", "param": {"room": "topic"}}));
    let position = next_in(&mut member, "topic", &["position", "chat"]);
    assert_eq!(position["param"], json!({"offset": 3, "epoch": epoch}), "{position}");
    send(&mut member, json!({"cmd": "leave-room", "param": {"room": "topic"}}));
    sync(&mut member);
    publish(&mut publisher, "topic", "b", 4);
    send(&mut member, json!({"cmd": "join-room", "param": {"room": "topic", "since": 3, "epoch": epoch}}));
    let replayed: Vec<Value> = (0..5).map(|_| next_in(&mut member, "topic", &["chat", "recovered"])).collect();
    let texts: Vec<&str> = replayed[..4].iter().map(text_of).collect();
    assert_eq!(texts, ["b0", "b1", "b2", "b3"]);
    assert_eq!(replayed[4]["param"], json!({"recovered": true, "offset": 7, "epoch": epoch}));
}

#[test]
fn a_plain_join_is_told_the_position_and_later_joins_the_same_epoch() {
    let server = Binary::start(&["--history-size", "5"]);
    let (mut first, offset, epoch) = join(server.addr, "pos");
    assert_eq!(offset, 0);
    assert_eq!(epoch.len(), 8);
    publish(&mut first, "pos", "m", 3);
    let (second, offset, again) = join(server.addr, "pos");
    assert_eq!((offset, &again), (3, &epoch));
    let (_, body) = http_call(server.addr, "GET", "/admin/api/channels", &[], b"");
    let channels: Value = serde_json::from_str(&body).unwrap();
    let pos = channels["channels"].as_array().unwrap().iter().find(|c| c["name"] == "pos").cloned();
    assert_eq!(pos.map(|c| c["history"].clone()), Some(json!(3)), "{body}");
    // The history outlives the channel's last member.
    drop((first, second));
    eventually(Duration::from_secs(5), "the channel is empty", || {
        let (_, body) = http_call(server.addr, "GET", "/admin/api/channels", &[], b"");
        !body.contains("\"pos\"")
    });
    let mut back = connect(server.addr, &format!("/example/socket?ch=pos&since=1&epoch={epoch}"));
    let replayed: Vec<Value> = (0..3).map(|_| next_in(&mut back, "pos", &["chat", "recovered"])).collect();
    assert_eq!((text_of(&replayed[0]), text_of(&replayed[1])), ("m1", "m2"));
    assert_eq!(replayed[2]["param"], json!({"recovered": true, "offset": 3, "epoch": epoch}));
}

/// The raw text of the next text frame.
fn next_text(client: &mut Client) -> String {
    loop {
        if let Message::Text(text) = client.read().expect("read") {
            return text.to_string();
        }
    }
}

#[test]
fn frames_are_byte_exact_with_and_without_history() {
    let send_notice = |addr, channel: &str| {
        let body = json!({"to": "channel", "channel": channel, "cmd": "notice", "param": {"text": "hi"}});
        let (status, answer) = http_call(
            addr,
            "POST",
            "/admin/api/send",
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{answer}");
    };
    let plain = Binary::start(&[]);
    let mut client = connect(plain.addr, "/example/socket?ch=plain");
    sync(&mut client);
    send_notice(plain.addr, "plain");
    assert_eq!(next_text(&mut client), r#"{"channel":"plain","cmd":"notice","param":{"text":"hi"}}"#);
    let kept = Binary::start(&["--history-size", "5"]);
    let (mut client, _, epoch) = join(kept.addr, "kept");
    send_notice(kept.addr, "kept");
    assert_eq!(
        next_text(&mut client),
        format!(r#"{{"channel":"kept","cmd":"notice","param":{{"text":"hi"}},"offset":1,"epoch":"{epoch}"}}"#)
    );
}
