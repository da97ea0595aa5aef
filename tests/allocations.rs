//! Allocations per fan-out recipient, counted by a counting global allocator: a message
//! written to a channel of 10,000 members is serialized and framed once, then queued and
//! written to each member without any allocation per recipient.

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

/// Allocations made by `f`.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn fan_out_allocates_nothing_per_recipient() {
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
