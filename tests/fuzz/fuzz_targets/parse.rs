#![no_main]
//! `cargo fuzz run --fuzz-dir tests/fuzz parse`: see `policy_engine_fuzz::targets::parse`.
use libfuzzer_sys::fuzz_target;
use policy_engine_fuzz::{check, targets};

fuzz_target!(|data: &[u8]| check("parse", targets::parse(data)));
