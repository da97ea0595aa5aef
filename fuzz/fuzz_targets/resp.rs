//! Fuzz target: the Redis RESP2 reply parser (`cluster::resp::parse`) on arbitrary bytes;
//! the checks live in `switchyard_fuzz::resp::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz::resp::run(data));
