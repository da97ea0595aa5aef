//! Fuzz target: a client message's envelope read by `Inbound::parse` and by serde_json's
//! struct parse alone must agree; the checks live in `switchyard_fuzz::envelope::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard_fuzz::envelope::run(data));
