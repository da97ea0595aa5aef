//! Fuzz target: the connection state machine after a valid upgrade, driven through
//! `server::harness::Harness` by a client byte stream (raw, or frames generated from the
//! input), checking that nothing panics, buffers stay bounded, every byte the server writes
//! is a valid server frame, and a hang-up leaves nothing behind. The checks live in
//! `switchyard_fuzz::connection::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz::connection::run(data));
