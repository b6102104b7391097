//! Subcommands, one file each. Exit codes: 0 success, 1 a problem in the policies or the
//! input, 2 a usage or IO problem.

/// `println!` that ignores a closed pipe (`policy ... | head`) instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

mod bench;
mod check;
mod diff;
mod eval;
mod explain;
mod fmt;
mod graph;
mod model;
mod schema;
mod serve;
mod test;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "policy",
    version,
    about = "Check, evaluate and serve `.policy` decision policies"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Report every problem in policy files or directories
    Check(check::Args),
    /// Evaluate one request and print the decision JSON
    Eval(eval::Args),
    /// Measure decisions per second and latency, in process
    Bench(bench::Args),
    /// Rewrite policy files in the canonical layout (`--check`: diff and exit 1)
    Fmt(fmt::Args),
    /// Print the documentation of a diagnostic code
    Explain(explain::Args),
    /// Run the decision test cases (`*.test.yaml`) beside the policies
    Test(test::Args),
    /// Inspect an ONNX model or run it on rows
    Model(model::Args),
    /// Draw the decision graph of policies as Mermaid or DOT
    Graph(graph::Args),
    /// Show what changed between two versions of policies: params, guards, models, routes...
    Diff(diff::Args),
    /// Serve decisions over HTTP, reloading the policies when they change
    Serve(serve::Args),
    /// Write the JSON Schemas of the HTTP API's bodies and its OpenAPI document
    Schema(schema::Args),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Cmd::Check(a) => check::run(a),
        Cmd::Eval(a) => eval::run(a),
        Cmd::Bench(a) => bench::run(a),
        Cmd::Explain(a) => explain::run(a),
        Cmd::Fmt(a) => fmt::run(a),
        Cmd::Model(a) => model::run(a),
        Cmd::Graph(a) => graph::run(a),
        Cmd::Diff(a) => diff::run(a),
        Cmd::Test(a) => test::run(a),
        Cmd::Serve(a) => serve::run(a),
        Cmd::Schema(a) => schema::run(a),
    };
    ExitCode::from(code)
}

pub const OK: u8 = 0;
pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;

/// Prints an IO or usage problem and returns exit code 2.
pub fn usage_error(msg: impl std::fmt::Display) -> u8 {
    eprintln!("error: {msg}");
    USAGE
}

/// Reads the clock: the one place the CLI takes `now` from when `--now` is absent.
pub fn now_or(flag: Option<&str>) -> Result<jiff::Timestamp, String> {
    match flag {
        Some(s) => policy_engine::eval::request::parse_timestamp(s)
            .map_err(|e| format!("--now `{s}` is {e}")),
        None => Ok(jiff::Timestamp::now()),
    }
}

/// Builds policies, printing diagnostics to stderr on failure.
pub fn build_or_report(
    paths: &[std::path::PathBuf],
    models: &std::path::Path,
) -> Result<policy_engine::compile::DecisionGraph, u8> {
    let build = match policy_engine::compile::build_paths(paths, models) {
        Ok(b) => b,
        Err(e) => return Err(usage_error(format!("cannot read policies: {e}"))),
    };
    match build.graph {
        Some(g) => Ok(g),
        None => {
            let errors: Vec<_> = build
                .diagnostics
                .into_iter()
                .filter(|d| d.is_error())
                .collect();
            eprint!(
                "{}",
                policy_engine::diagnostics::render_human(&errors, &build.sources, false)
            );
            Err(FAILED)
        }
    }
}
