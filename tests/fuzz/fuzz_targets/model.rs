#![no_main]
//! `cargo fuzz run --fuzz-dir tests/fuzz model`: see `policy_engine_fuzz::targets::model`.
use libfuzzer_sys::fuzz_target;
use policy_engine_fuzz::{check, targets};

fuzz_target!(|data: &[u8]| check("model", targets::model(data)));
