//! `policy serve`: flags → `policy_engine::server`. Everything else lives in the library.

use super::usage_error;
use policy_engine::server::auth::{Auth, Tokens};
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
    // ---- the HTTP edge ----
    /// Connections open at once; at the limit a new one evicts the oldest idle one
    /// [default: the open-file limit less 256]
    #[arg(long)]
    max_connections: Option<usize>,
    /// Seconds from a request's first byte to the end of its headers
    #[arg(long, default_value_t = 10)]
    header_timeout_secs: u64,
    /// Seconds a connection with no request in flight may stay silent
    #[arg(long, default_value_t = 60)]
    idle_timeout_secs: u64,
    /// Seconds from the end of a request's headers to the end of its body (a 408 after)
    #[arg(long, default_value_t = 30)]
    body_timeout_secs: u64,
    /// Requests in one batch (a larger batch gets a 413)
    #[arg(long, default_value_t = 1000)]
    batch_limit: usize,
    /// Bytes of a batch's response; requests after it is reached are not decided
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    batch_response_limit: usize,
    /// File of bearer tokens (one a line) for outcomes and `/v1/policies`; or set
    /// POLICY_ADMIN_TOKENS
    #[arg(long, value_name = "PATH")]
    admin_token_file: Option<PathBuf>,
    /// File of bearer tokens (one a line) for decisions; or set POLICY_DECIDE_TOKENS
    #[arg(long, value_name = "PATH")]
    decide_token_file: Option<PathBuf>,
    /// `/metrics` needs an admin token
    #[arg(long)]
    protect_metrics: bool,
    /// `/healthz` and `/readyz` need an admin token
    #[arg(long)]
    protect_health: bool,
}

/// Tokens from `file`, else from the environment variable `var`; none if neither is set.
fn tokens(file: Option<&PathBuf>, var: &str) -> Result<Tokens, String> {
    match file {
        Some(path) => Tokens::from_file(path),
        None => match std::env::var(var) {
            Ok(text) => {
                let t = Tokens::parse(&text);
                if t.is_empty() {
                    Err(format!("`{var}` is set but holds no token"))
                } else {
                    Ok(t)
                }
            }
            Err(_) => Ok(Tokens::default()),
        },
    }
}

fn config(a: Args) -> Result<Config, String> {
    use std::time::Duration;
    let mut config = Config::new(a.policies, a.models);
    config.addr = a.addr;
    config.decision_log = a.decision_log.as_deref().map(LogTarget::parse);
    config.body_limit = a.body_limit;
    config.debounce = Duration::from_millis(a.debounce_ms);
    config.limits = policy_engine::engine::Limits {
        max_policy_bytes: a.max_policy_bytes,
        max_model_bytes: a.max_model_bytes,
        reload_budget: Duration::from_secs(a.reload_timeout_secs),
    };
    server::edge::raise_fd_limit();
    config.edge = server::edge::EdgeLimits {
        max_connections: a
            .max_connections
            .unwrap_or_else(server::edge::default_max_connections),
        header_timeout: Duration::from_secs(a.header_timeout_secs),
        idle_timeout: Duration::from_secs(a.idle_timeout_secs),
        body_timeout: Duration::from_secs(a.body_timeout_secs),
    };
    config.batch_limit = a.batch_limit;
    config.batch_response_limit = a.batch_response_limit;
    config.auth = Auth {
        admin: tokens(a.admin_token_file.as_ref(), "POLICY_ADMIN_TOKENS")?,
        decide: tokens(a.decide_token_file.as_ref(), "POLICY_DECIDE_TOKENS")?,
        protect_metrics: a.protect_metrics,
        protect_health: a.protect_health,
    };
    if (a.protect_metrics || a.protect_health) && config.auth.admin.is_empty() {
        return Err(
            "`--protect-metrics` and `--protect-health` need admin tokens (`--admin-token-file` or POLICY_ADMIN_TOKENS)".into(),
        );
    }
    Ok(config)
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
    let config = match config(a) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
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
