//! The envelope parser, three ways: serde_json (what `Inbound::parse` uses), sonic-rs and
//! simd-json, on our messages `{"channel","cmd","param"}` with a small, a typical (the echo
//! bench's 64-byte string) and a ~1 KiB param. Each variant must do what the server needs:
//! validate the whole message, and hand over `channel`, `cmd` and `param` as raw JSON text.
//!
//! - serde_json: `&RawValue` borrowed from the input (validated while skipped).
//! - sonic-rs: `LazyValue` borrowed from the input (`skip_one(checked)`: validated).
//! - sonic-rs + RawValue: what adopting it would take. The `Handler` API hands `param` over as
//!   serde_json's `&RawValue`, which only serde_json's deserializer can make without copying
//!   (the crate forbids `unsafe`), so the param sonic-rs validated is read again by serde_json.
//! - simd-json: no raw value, so the message is parsed into a `BorrowedValue` (its fastest
//!   validating path) and `param` written back as JSON (what keeping it raw costs); it parses in
//!   place, so each iteration gets a fresh copy of the message (made outside the timing).
//!
//! `cargo bench --bench json --features json-bench`.

use std::borrow::Cow;

use criterion::{black_box, criterion_group, BatchSize, Criterion, Throughput};
use serde::Deserialize;
use switchyard::service::message::Inbound;

const SMALL: &str = r#"{"channel":"lobby","cmd":"ping","param":{"n":1}}"#;
const TYPICAL: &str = r#"{"cmd":"echo","param":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#;

/// A ~1 KiB param: nested objects, an array, numbers, booleans, escapes and non-ASCII text.
fn one_kib() -> String {
    let mut items = Vec::new();
    for i in 0..9 {
        items.push(format!(
            r#"{{"id":"{i:08x}-4f2c-9a1b","score":{}.{i}5,"ok":{},"tags":["alpha","beta","gamma"],"note":"line {i}\nwith \"quotes\" and caf\u00e9"}}"#,
            i * 37,
            i % 2 == 0
        ));
    }
    format!(r#"{{"channel":"room-42","cmd":"chat","param":{{"text":"hello","items":[{}]}}}}"#, items.join(","))
}

#[derive(Deserialize)]
struct SonicInbound<'a> {
    #[serde(borrow, default)]
    channel: Option<Cow<'a, str>>,
    #[serde(borrow)]
    cmd: Cow<'a, str>,
    #[serde(borrow, default)]
    param: Option<sonic_rs::LazyValue<'a>>,
}

#[inline(never)]
fn serde_json_envelope(text: &str) -> usize {
    let m = Inbound::parse(text).expect("valid");
    m.channel.as_ref().map_or(0, |c| c.len()) + m.cmd.len() + m.param().get().len()
}

#[inline(never)]
fn sonic_envelope(text: &str) -> usize {
    let m: SonicInbound<'_> = sonic_rs::from_str(text).expect("valid");
    m.channel.as_ref().map_or(0, |c| c.len()) + m.cmd.len() + m.param.map_or(4, |p| p.as_raw_str().len())
}

#[inline(never)]
fn sonic_then_raw_value(text: &str) -> usize {
    let m: SonicInbound<'_> = sonic_rs::from_str(text).expect("valid");
    let param: &serde_json::value::RawValue = match &m.param {
        Some(param) => serde_json::from_str(param.as_raw_str()).expect("valid"),
        None => switchyard::service::message::null(),
    };
    m.channel.as_ref().map_or(0, |c| c.len()) + m.cmd.len() + param.get().len()
}

#[inline(never)]
fn simd_envelope(buffer: &mut [u8], raw: &mut Vec<u8>) -> usize {
    use simd_json::prelude::*;
    let value = simd_json::to_borrowed_value(buffer).expect("valid");
    let object = value.as_object().expect("an object");
    let channel = object.get("channel").and_then(|c| c.as_str()).map_or(0, str::len);
    let cmd = object.get("cmd").and_then(|c| c.as_str()).expect("a cmd");
    raw.clear();
    if let Some(param) = object.get("param") {
        param.write(&mut *raw).expect("writes");
    }
    channel + cmd.len() + raw.len()
}

fn parsers(c: &mut Criterion) {
    let big = one_kib();
    let messages = [("small", SMALL.to_string()), ("typical", TYPICAL.to_string()), ("1kib", big)];
    // Each parser must reject what serde_json rejects (never forward invalid JSON).
    for bad in [r#"{"cmd":"echo","param":{"a":}}"#, r#"{"cmd":"echo","param":[1,2,]}"#, r#"{"cmd":"echo","param":tru}"#]
    {
        assert!(Inbound::parse(bad).is_err(), "{bad}");
        assert!(sonic_rs::from_str::<SonicInbound<'_>>(bad).is_err(), "sonic-rs accepted {bad}");
        let mut copy = bad.as_bytes().to_vec();
        assert!(simd_json::to_borrowed_value(&mut copy).is_err(), "simd-json accepted {bad}");
    }
    let mut group = c.benchmark_group("envelope");
    for (name, text) in &messages {
        assert_eq!(serde_json_envelope(text), sonic_envelope(text), "{name}: sonic-rs disagrees");
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(format!("serde_json/{name}"), |b| b.iter(|| serde_json_envelope(black_box(text))));
        group.bench_function(format!("sonic_rs/{name}"), |b| b.iter(|| sonic_envelope(black_box(text))));
        group
            .bench_function(format!("sonic_rs+raw_value/{name}"), |b| b.iter(|| sonic_then_raw_value(black_box(text))));
        let mut raw = Vec::with_capacity(2048);
        group.bench_function(format!("simd_json/{name}"), |b| {
            b.iter_batched_ref(
                || text.as_bytes().to_vec(),
                |buffer| simd_envelope(black_box(buffer), &mut raw),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = parsers
}

/// `JSON_BENCH_CALLS=N JSON_BENCH_MESSAGE=small|typical|1kib`: calls each parser N times on
/// that message and exits, for counting instructions per call under callgrind (on a busy
/// machine the wall-clock figures are noisy): run it under `valgrind --tool=callgrind`, then
/// divide the inclusive Ir of each `*_envelope` function by N.
fn count_calls(calls: usize, message: &str) {
    let text = match message {
        "small" => SMALL.to_string(),
        "typical" => TYPICAL.to_string(),
        _ => one_kib(),
    };
    let mut raw = Vec::with_capacity(2048);
    let mut total = 0;
    for _ in 0..calls {
        total += serde_json_envelope(black_box(&text));
        total += sonic_envelope(black_box(&text));
        total += sonic_then_raw_value(black_box(&text));
        let mut buffer = text.as_bytes().to_vec();
        total += simd_envelope(black_box(&mut buffer), &mut raw);
    }
    println!("{total}");
}

fn main() {
    if let Some(calls) = std::env::var("JSON_BENCH_CALLS").ok().and_then(|n| n.parse().ok()) {
        let message = std::env::var("JSON_BENCH_MESSAGE").unwrap_or_default();
        return count_calls(calls, &message);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
