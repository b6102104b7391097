//! The one integration-test binary. Each module covers one area, with one helper per area.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic; the library may not

mod architecture;
mod ci_formats;
mod cli;
mod concurrency;
mod confinement;
mod diagnostics;
mod diff;
mod docs;
mod edge;
mod fmt;
mod fuzz;
mod graph;
mod hostile;
mod model_corpus;
mod notifications;
mod policies;
mod reload;
mod server;
mod syntax;
mod testing;

use std::path::{Path, PathBuf};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// Runs the `policy` binary from the repository root; returns exit code, stdout, stderr.
pub fn policy(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_policy"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run policy");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}
