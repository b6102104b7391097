//! The fuzz targets of policy-engine. [`targets`] holds their bodies (shared with the bounded
//! run in `cargo test`, `tests/it/fuzz.rs`); [`structured`] the `arbitrary` generators of the
//! two structured targets, which write policy text and request JSON for those bodies.

/// The repository root (this crate is `tests/fuzz/`).
pub const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

pub mod structured;
pub mod targets;

/// Runs one target body, panicking with its finding so that libFuzzer records the input.
pub fn check(target: &str, verdict: targets::Verdict) {
    if let Err(finding) = verdict {
        panic!("{target}: {finding}");
    }
}
