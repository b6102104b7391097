#![no_main]
//! `cargo fuzz run --fuzz-dir tests/fuzz request`: see `policy_engine_fuzz::targets::request`.
use libfuzzer_sys::fuzz_target;
use policy_engine_fuzz::{check, targets};

fuzz_target!(|data: &[u8]| check("request", targets::request(data)));
