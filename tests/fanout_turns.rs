//! A big channel's fan-out is written over several loop turns, and replies are not held up
//! by it: a reply goes out at the end of the turn that read the message, while the rest of
//! the fan-out waits for the next turns (`server/core/flushlist.rs`). Order per connection
//! and exactly-once delivery are kept. With `--coalesce-us`, fan-out waits that long for
//! more frames to join it, and replies still do not wait. Driven by the hand-run worker core (`Harness`), so
//! the turns are exact.

use std::time::Duration;

use switchyard::server::harness::{drain, Harness};
use switchyard::wire::frame::{client_frame, text};
use switchyard::Config;

const MEMBERS: usize = 2_000;

fn upgrade(channel: &str) -> Vec<u8> {
    format!("GET /example/socket?ch={channel} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").into_bytes()
}

fn received(client: &mut std::net::TcpStream) -> String {
    std::thread::sleep(Duration::from_millis(30));
    String::from_utf8_lossy(&drain(client)).into_owned()
}

#[test]
fn a_reply_goes_out_before_a_big_fan_out_is_written() {
    let mut harness = Harness::new(Config { send_buffer_bytes: 64 << 20, ..Config::default() }).unwrap();
    let members = harness.add_members(MEMBERS, "big").unwrap();
    let mut observer = harness.connect().unwrap();
    harness.feed(observer.slot, &upgrade("big"));
    assert!(received(&mut observer.client).starts_with("HTTP/1.1 101"));

    let batch = text(br#"{"cmd":"batch","param":1}"#);
    harness.fan_out("big", &batch);
    harness.receive(observer.slot, &client_frame(0x81, br#"{"cmd":"echo","param":"now"}"#));
    harness.turn_within(Some(Duration::ZERO));

    // The observer's queue is one FIFO: the batch queued before its reply arrives first.
    let out = received(&mut observer.client);
    let (batch_at, echo_at) = (out.find(r#""cmd":"batch""#), out.find(r#""param":"now""#));
    assert!(batch_at.is_some() && echo_at.is_some() && batch_at < echo_at, "{out:?}");
    assert!(harness.fanout_waiting(), "the rest of the fan-out waits for the next turns");
    let frame_len = batch.len();
    let waiting = members.iter().filter(|&&slot| harness.buffers(slot).1 == frame_len).count();
    assert_eq!(waiting, MEMBERS, "no member was written in a turn without fan-out budget");

    harness.turn();
    assert!(!harness.fanout_waiting());
    assert!(members.iter().all(|&slot| harness.buffers(slot).1 == 0), "every member written");
    assert_eq!(received(&mut observer.client), "", "the observer got the batch exactly once");
}

#[test]
fn fan_out_spreads_over_turns_and_reaches_everyone() {
    let mut harness = Harness::new(Config { send_buffer_bytes: 64 << 20, ..Config::default() }).unwrap();
    let members = harness.add_members(MEMBERS, "big").unwrap();
    for n in 0..3 {
        harness.fan_out("big", &text(format!(r#"{{"cmd":"batch","param":{n}}}"#).as_bytes()));
    }
    let per_member = harness.buffers(members[0]).1;
    let mut turns = 0;
    while harness.fanout_waiting() {
        // A budget far too small for 2,000 writes: a handful of turns at least.
        harness.turn_within(Some(Duration::from_micros(50)));
        turns += 1;
        assert!(turns < 10_000, "fan-out never finished");
    }
    assert!(turns > 1, "2,000 writes in one 50 µs turn");
    assert!(members.iter().all(|&slot| harness.buffers(slot).1 == 0));
    assert!(per_member > 0);
}

#[test]
fn coalesced_fan_out_waits_its_bound_and_replies_do_not() {
    const WAIT: Duration = Duration::from_millis(300);
    let config = Config { send_buffer_bytes: 64 << 20, coalesce_us: WAIT.as_micros() as u64, ..Config::default() };
    let mut harness = Harness::new(config).unwrap();
    let members = harness.add_members(200, "big").unwrap();
    let mut observer = harness.connect().unwrap();
    harness.feed(observer.slot, &upgrade("big"));
    assert!(received(&mut observer.client).starts_with("HTTP/1.1 101"));

    let started = std::time::Instant::now();
    harness.fan_out("big", &text(br#"{"cmd":"batch","param":1}"#));
    harness.receive(observer.slot, &client_frame(0x81, br#"{"cmd":"echo","param":"now"}"#));
    harness.turn_within(Some(Duration::from_secs(1)));
    let first = received(&mut observer.client);
    assert!(first.contains(r#""param":"now""#) && first.contains(r#""param":1"#), "the reply at once: {first:?}");
    let queued = harness.buffers(members[0]).1;
    assert!(queued > 0, "a member's fan-out waits to coalesce");

    // A second frame while the first waits: both go out together once the first is due.
    harness.fan_out("big", &text(br#"{"cmd":"batch","param":2}"#));
    assert_eq!(harness.buffers(members[0]).1, 2 * queued);
    while harness.fanout_waiting() {
        harness.turn_within(Some(Duration::from_secs(1)));
        if started.elapsed() < WAIT - Duration::from_millis(50) {
            assert_eq!(harness.buffers(members[0]).1, 2 * queued, "written before its bound");
        }
        assert!(started.elapsed() < 10 * WAIT, "coalesced fan-out never written");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(members.iter().all(|&slot| harness.buffers(slot).1 == 0), "every member written");
    let second = received(&mut observer.client);
    assert!(second.contains(r#""param":2"#) && !second.contains(r#""param":1"#), "{second:?}");
}
