#![no_main]
//! `cargo fuzz run --fuzz-dir tests/fuzz fmt`: see `policy_engine_fuzz::targets::fmt_round_trip`.
use libfuzzer_sys::fuzz_target;
use policy_engine_fuzz::{check, targets};

fuzz_target!(|data: &[u8]| check("fmt", targets::fmt_round_trip(data)));
