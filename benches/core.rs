//! Criterion benches of the hot path's pieces, in process (no sockets in the timed part
//! except where named): message parse and dispatch, frame encoding, fan-out of one message
//! to 10,000 members (the per-recipient cost), a publish to 1,000 members with and without
//! channel history (encode, store, inbox, fan-out), and upgrade parsing.
//!
//! `cargo bench --bench core`. Figures are per iteration; the fan-out group reports
//! elements (recipients) per second, so its time per element is the per-recipient cost.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use switchyard::server::harness::Harness;
use switchyard::service::message::{encode, Envelope, Inbound};
use switchyard::wire::frame as frames;
use switchyard::wire::http::{check_upgrade, parse_request, Parse};
use switchyard::Config;

const CHAT: &str =
    r#"{"channel":"lobby","cmd":"chat","param":{"text":"hello, this is a 64-byte chat message for the bench!"}}"#;
const UPGRADE: &[u8] = b"GET /example/socket?ch=bench HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:8080\r\n\r\n";

fn parse_and_dispatch(c: &mut Criterion) {
    let mut group = c.benchmark_group("message");
    group.bench_function("parse", |b| b.iter(|| black_box(Inbound::parse(black_box(CHAT)).map(|m| m.cmd.len()))));
    // A whole inbound message through the worker core: frame read, unmask, JSON parse, route,
    // handler (echo back to the sender), frame encode, queue, one write to a real socket.
    let mut harness = Harness::new(Config::default()).expect("harness");
    let mut peer = harness.connect().expect("connect");
    harness.feed(peer.slot, UPGRADE);
    let frame = frames::client_frame(
        0x81,
        br#"{"cmd":"echo","param":{"text":"hello, this is a 64-byte echo message for the bench!!"}}"#,
    );
    group.bench_function("dispatch_echo", |b| {
        b.iter(|| {
            harness.feed(peer.slot, &frame);
            switchyard::server::harness::drain(&mut peer.client);
        })
    });
    group.finish();
}

fn encoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    let param = json!({"user": "anonymous", "text": "hello, this is a 64-byte chat message for the bench!", "time": 1_700_000_000_000u64});
    let from = switchyard::ConnId::new_v4();
    group.bench_function("chat_frame", |b| {
        b.iter(|| encode(Envelope { from: Some(&from), channel: Some("lobby") }, "chat", black_box(&param)))
    });
    let payload = vec![b'x'; 64];
    group.bench_function("raw_text_frame_64", |b| b.iter(|| frames::text(black_box(&payload))));
    group.finish();
}

fn fan_out(c: &mut Criterion) {
    const MEMBERS: usize = 10_000;
    let mut harness = Harness::new(Config::default()).expect("harness");
    harness.add_members(MEMBERS, "wide").expect("members");
    let frame = frames::text(CHAT.as_bytes());
    let mut group = c.benchmark_group("fan_out");
    group.throughput(Throughput::Elements(MEMBERS as u64));
    group.bench_function("queue_10000", |b| {
        b.iter_custom(|iterations| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iterations {
                harness.discard_output();
                let start = std::time::Instant::now();
                harness.fan_out("wide", &frame);
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

const PUBLISH_MEMBERS: usize = 1_000;

/// A one-worker core with 1,000 members in `wide`, keeping `history_size` messages.
fn publishing_core(history_size: usize) -> Harness {
    let mut harness = Harness::new(Config { history_size, ..Config::default() }).expect("harness");
    harness.add_members(PUBLISH_MEMBERS, "wide").expect("members");
    harness.deliver_inbox(); // the members' `position` answers
    harness.discard_output();
    harness
}

/// `iterations` publishes to `wide` and their delivery, timed (out-queues emptied untimed).
fn publish_times(harness: &mut Harness, iterations: u64) -> std::time::Duration {
    let service = harness.service();
    let param = json!({"user": "anonymous", "text": "hello, this is a 64-byte chat message for the bench!", "time": 1_700_000_000_000u64});
    let mut total = std::time::Duration::ZERO;
    for _ in 0..iterations {
        harness.discard_output();
        let start = std::time::Instant::now();
        service.write_channel("chat", black_box(&param), "wide").expect("write");
        harness.deliver_inbox();
        total += start.elapsed();
    }
    total
}

/// One `write_channel` to 1,000 members and its delivery: serialization, the frame, the
/// inbox hop, the fan-out; with history also the offset, the store and the slot. Then the
/// two interleaved in rounds (a busy machine slows both alike) and the median ratio printed.
fn publish_with_history(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish_1000");
    group.throughput(Throughput::Elements(PUBLISH_MEMBERS as u64));
    for (name, history_size) in [("without_history", 0), ("with_history", 100)] {
        let mut harness = publishing_core(history_size);
        group.bench_function(name, |b| b.iter_custom(|iterations| publish_times(&mut harness, iterations)));
    }
    group.finish();
    let (mut plain, mut kept) = (publishing_core(0), publishing_core(100));
    let mut ratios: Vec<f64> = (0..300)
        .map(|_| {
            let without = publish_times(&mut plain, 20).as_secs_f64();
            publish_times(&mut kept, 20).as_secs_f64() / without
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    println!("publish_1000 with history / without, interleaved: median ratio {median:.3}");
    chat_from_a_member();
}

/// The same from a member's `chat` (frame read, handler, write on its worker: in place
/// without history, through the worker's own inbox with it), interleaved, median ratio.
fn chat_from_a_member() {
    let member_core = |history_size| {
        let mut harness = publishing_core(history_size);
        let peer = harness.connect().expect("connect");
        harness.feed(peer.slot, String::from_utf8_lossy(UPGRADE).replace("ch=bench", "ch=wide").as_bytes());
        harness.deliver_inbox();
        harness.discard_output();
        (harness, peer)
    };
    let chat = frames::client_frame(
        0x81,
        br#"{"cmd":"chat","param":{"text":"hello, this is a 64-byte chat message for the bench!"}}"#,
    );
    let time = |(harness, peer): &mut (Harness, switchyard::server::harness::Peer)| {
        let start = std::time::Instant::now();
        for _ in 0..20 {
            harness.feed_unflushed(peer.slot, &chat);
            harness.deliver_inbox();
            harness.discard_output();
        }
        switchyard::server::harness::drain(&mut peer.client);
        start.elapsed().as_secs_f64()
    };
    let (mut plain, mut kept) = (member_core(0), member_core(100));
    let mut ratios: Vec<f64> = (0..300).map(|_| time(&mut kept) / time(&mut plain)).collect();
    ratios.sort_by(f64::total_cmp);
    println!("chat from a member to 1,000, with history / without: median ratio {:.3}", ratios[ratios.len() / 2]);
}

fn upgrade_parsing(c: &mut Criterion) {
    let remote = "127.0.0.1:40000".parse().expect("address");
    c.bench_function("upgrade/parse_and_check", |b| {
        b.iter(|| match parse_request(black_box(UPGRADE), remote) {
            Ok(Parse::Complete(request, _)) => check_upgrade(&request).ok(),
            _ => None,
        })
    });
}

criterion_group!(benches, parse_and_dispatch, encoding, fan_out, publish_with_history, upgrade_parsing);
criterion_main!(benches);
