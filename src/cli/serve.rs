//! `policy serve`: flags → `policy_engine::server`. Everything else lives in the library.

use super::usage_error;
use policy_engine::server::{self, Config, LogTarget};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Directory (or file) of `.policy` files; watched for changes
    #[arg(long, default_value = "policies")]
    policies: PathBuf,
    /// Directory of ONNX models; watched for changes
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Write one JSON line per decision and outcome to this file (`-` for standard output)
    #[arg(long, value_name = "PATH|-")]
    decision_log: Option<String>,
    /// Largest request body accepted, in bytes (larger bodies get a 413)
    #[arg(long, default_value_t = 1024 * 1024)]
    body_limit: usize,
    /// Quiet time, in milliseconds, after a change before the set is reloaded
    #[arg(long, default_value_t = 100)]
    debounce_ms: u64,
    // ---- reload limits (issue 15) ----
    /// Largest policy file read, in bytes (a larger one is a diagnostic at the file)
    #[arg(long, default_value_t = policy_engine::loader::MAX_POLICY_BYTES)]
    max_policy_bytes: u64,
    /// Largest model file read, in bytes (a larger one is a diagnostic at its binding)
    #[arg(long, default_value_t = policy_engine::loader::MAX_MODEL_BYTES)]
    max_model_bytes: u64,
    /// Longest a reload may take, in seconds; a longer one is reported and abandoned, and the
    /// previous set stays
    #[arg(long, default_value_t = 60)]
    reload_timeout_secs: u64,
}

pub fn run(a: Args) -> u8 {
    // Logs go to standard error (standard output may carry the decision log).
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let mut config = Config::new(a.policies, a.models);
    config.addr = a.addr;
    config.decision_log = a.decision_log.as_deref().map(LogTarget::parse);
    config.body_limit = a.body_limit;
    config.debounce = std::time::Duration::from_millis(a.debounce_ms);
    config.limits = policy_engine::engine::Limits {
        max_policy_bytes: a.max_policy_bytes,
        max_model_bytes: a.max_model_bytes,
        reload_budget: std::time::Duration::from_secs(a.reload_timeout_secs),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return usage_error(format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(server::serve(config)) {
        Ok(()) => super::OK,
        Err(e) => usage_error(format!("{e:#}")),
    }
}
