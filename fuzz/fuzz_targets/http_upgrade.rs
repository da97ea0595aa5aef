//! Fuzz target: the HTTP/1.1 upgrade parser (`wire::http::parse_request`) fed arbitrary
//! bytes in arbitrary splits, the way a connection accumulates and reparses what arrived,
//! then `check_upgrade` on the complete request. The checks live in
//! `switchyard_fuzz::http_upgrade::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz::http_upgrade::run(data));
