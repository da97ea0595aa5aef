//! Allocations per fan-out recipient, counted by a counting global allocator: a message
//! written to a channel of 10,000 members is serialized and framed once, then queued and
//! written to each member without any allocation per recipient.

#![allow(unsafe_code)] // a counting global allocator needs `unsafe impl GlobalAlloc`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use switchyard::server::harness::Harness;
use switchyard::Config;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MEMBERS: usize = 10_000;

/// The allocation counter is global: tests that count take this lock so they run one at a time.
static COUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Allocations made by `f`.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn fan_out_allocates_nothing_per_recipient() {
    let _one_at_a_time = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    let mut harness = Harness::new(Config { send_buffer_bytes: 64 << 20, ..Config::default() }).unwrap();
    let members = harness.add_members(MEMBERS, "wide").unwrap();
    let service = harness.service();
    let param = serde_json::json!({"text": "hello everyone, this is one message for ten thousand members"});
    // Warm up: rings, the dirty list and the channel index reach their steady size.
    for _ in 0..3 {
        service.write_channel("chat", &param, "wide").unwrap();
        harness.deliver_inbox();
        harness.discard_output();
    }
    let queued = allocations_in(|| {
        service.write_channel("chat", &param, "wide").unwrap();
        harness.deliver_inbox();
    });
    assert_eq!(harness.buffers(members[0]).1, harness.buffers(members[MEMBERS - 1]).1, "every member got it");
    assert!(harness.buffers(members[0]).1 > 0);
    let written = allocations_in(|| harness.turn());
    let per_recipient = (queued + written) as f64 / MEMBERS as f64;
    println!("allocations for one write to {MEMBERS} members: {queued} to encode and queue, {written} to write; {per_recipient:.4} per recipient");
    assert!(queued <= 8, "encode once and queue: {queued} allocations");
    assert!(written <= 2, "vectored writes: {written} allocations");
}

/// Allocations per echo round trip in steady state on one connection: the frame is read and
/// unmasked in place, the reply encoded and written; `route` is the upgrade path.
fn allocations_per_echo(route: &str, message: &[u8]) -> f64 {
    const ROUNDS: usize = 200;
    let mut harness = Harness::new(Config::default()).unwrap();
    let mut peer = harness.connect().unwrap();
    let upgrade = format!("GET {route} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    harness.feed(peer.slot, upgrade.as_bytes());
    let frame = switchyard::wire::frame::client_frame(0x81, message);
    let mut data = frame.clone();
    let mut sink = vec![0u8; 1 << 16];
    let mut round = |harness: &mut Harness| {
        data.copy_from_slice(&frame);
        harness.feed_in_place(peer.slot, &mut data);
        use std::io::Read;
        while peer.client.read(&mut sink).is_ok_and(|n| n > 0) {}
    };
    for _ in 0..50 {
        round(&mut harness);
    }
    let total = allocations_in(|| {
        for _ in 0..ROUNDS {
            round(&mut harness);
        }
    });
    assert!(harness.is_open(peer.slot));
    total as f64 / ROUNDS as f64
}

#[test]
fn echo_allocates_nothing_per_message_in_steady_state() {
    let _one_at_a_time = COUNTING.lock().unwrap_or_else(|e| e.into_inner());
    let json = allocations_per_echo(
        "/example/socket?ch=a",
        br#"{"cmd":"echo","param":{"text":"hello, this is a 64-byte echo message!!"}}"#,
    );
    let raw = allocations_per_echo("/echo", b"hello, this is a 64-byte raw echo message for the allocation test");
    println!("allocations per echo: JSON route {json:.2}, raw /echo {raw:.2}");
    // Zero in steady state; a reply that meets a full socket (a busy machine) keeps its cork
    // buffer in flight and the next one allocates a fresh one, hence a small allowance.
    assert!(json <= 0.25, "JSON echo: {json} allocations per message");
    assert!(raw <= 0.25, "raw echo: {raw} allocations per message");
}
