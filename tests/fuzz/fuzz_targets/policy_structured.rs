#![no_main]
//! `cargo fuzz run --fuzz-dir tests/fuzz policy_structured`: a generated policy file
//! (`structured::PolicyFile`) through the `parse` and `fmt` bodies.
use libfuzzer_sys::fuzz_target;
use policy_engine_fuzz::structured::PolicyFile;
use policy_engine_fuzz::{check, targets};

fuzz_target!(|file: PolicyFile| {
    let text = file.to_string();
    check("parse", targets::parse(text.as_bytes()));
    check("fmt", targets::fmt_round_trip(text.as_bytes()));
});
