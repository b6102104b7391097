#![no_main]
//! `cargo fuzz run --fuzz-dir tests/fuzz request_structured`: a generated JSON body
//! (`structured::Json`, with the example contexts' field names) through the `request` body.
use libfuzzer_sys::fuzz_target;
use policy_engine_fuzz::structured::Json;
use policy_engine_fuzz::{check, targets};

fuzz_target!(|body: Json| {
    let bytes = body.to_value().to_string();
    check("request", targets::request(bytes.as_bytes()));
});
