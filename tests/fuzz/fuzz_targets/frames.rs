//! libFuzzer target: `kafka_blocking::fuzz::frames` must return for any input (see src/fuzz.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kafka_blocking::fuzz::frames(data));
