//! Memory per stored history message, counted by a global allocator that tracks live bytes:
//! 1,000 messages kept in a channel's history hold their frames plus a fixed overhead each.
//! The history's own part is the 32-byte slot (the frame handle); the rest is the shared
//! frame's own bookkeeping, which every sent frame has (the `Bytes` reference count block,
//! and the unused part of the room reserved for the frame header).

#![allow(unsafe_code)] // a counting global allocator needs `unsafe impl GlobalAlloc`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use switchyard::server::harness::Harness;
use switchyard::Config;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_stored_message_costs_its_frame_plus_a_fixed_overhead() {
    const KEPT: usize = 1024;
    let mut harness = Harness::new(Config { history_size: KEPT, ..Config::default() }).unwrap();
    harness.add_members(1, "kept").unwrap();
    harness.deliver_inbox();
    let service = harness.service();
    let param = serde_json::json!({"user": "anonymous", "text": "a chat message of a typical size, kept for reconnecting clients", "time": 1_700_000_000_000u64});
    let mut publish = || {
        service.write_channel("chat", &param, "kept").unwrap();
        harness.deliver_inbox();
        harness.discard_output();
    };
    publish(); // the channel's history exists before counting
    let accounted_before = service.history_stats().bytes;
    let before = LIVE.load(Ordering::SeqCst);
    for _ in 1..KEPT {
        publish();
    }
    let held = (LIVE.load(Ordering::SeqCst) - before) as f64 / (KEPT - 1) as f64;
    let stats = service.history_stats();
    // The store accounts each message as its frame plus the 32-byte slot.
    let frame = (stats.bytes - accounted_before) as f64 / (KEPT - 1) as f64 - 32.0;
    let overhead = held - frame;
    println!("history: {held:.1} bytes held per message, frame {frame:.1} bytes, overhead {overhead:.1} bytes");
    assert_eq!(stats.messages as usize, KEPT);
    assert!(overhead >= 32.0, "at least the slot: {overhead}");
    assert!(overhead <= 32.0 + 24.0 + 10.0, "slot + Bytes refcount block + header room: {overhead}");
}
