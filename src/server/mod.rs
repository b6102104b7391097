//! `policy serve`: decisions over HTTP (axum on tokio), hot reload, decision log, metrics.
//!
//! The only module that knows HTTP; nothing else in the library imports it. [`app`] builds the
//! router over an [`AppState`], so tests drive it in process without a socket; [`serve`] adds
//! the listener, the file watcher, signals and graceful shutdown.

pub mod api;
pub mod auth;
pub mod edge;
mod error;
mod handlers;
pub mod log;
pub mod metrics;
pub mod schema;
pub mod watch;

use crate::engine::Engine;
use crate::ledger::{Ledger, MemoryLedger};
use api::PolicyInfo;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use error::{ApiError, ErrorCode, JsonBody, parse_json};
pub use log::LogTarget;

/// How to serve.
#[derive(Debug, Clone)]
pub struct Config {
    pub policies: PathBuf,
    pub models: PathBuf,
    pub addr: SocketAddr,
    pub decision_log: Option<LogTarget>,
    /// Request bodies over this many bytes get a 413.
    pub body_limit: usize,
    /// Decision-log lines that may wait for the writer; more are dropped and counted.
    pub log_queue: usize,
    /// Decisions remembered for outcome reports (the oldest are forgotten first).
    pub outcome_capacity: usize,
    /// How long the directories must be quiet before a reload.
    pub debounce: Duration,
    /// File sizes and the time a reload may take.
    pub limits: crate::engine::Limits,
    /// Timeouts and the connection limit.
    pub edge: edge::EdgeLimits,
    /// Requests in one batch; a larger batch gets a 413 `batch_too_large`.
    pub batch_limit: usize,
    /// Bytes of a batch's response; requests after it is reached are not decided and get
    /// `response_too_large` items.
    pub batch_response_limit: usize,
    /// Bearer tokens.
    pub auth: auth::Auth,
}

impl Config {
    pub fn new(policies: PathBuf, models: PathBuf) -> Self {
        Config {
            policies,
            models,
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            decision_log: None,
            body_limit: 1024 * 1024,
            log_queue: 65_536,
            outcome_capacity: 100_000,
            debounce: Duration::from_millis(100),
            limits: crate::engine::Limits::default(),
            edge: edge::EdgeLimits::default(),
            batch_limit: 1000,
            batch_response_limit: 16 * 1024 * 1024,
            auth: auth::Auth::default(),
        }
    }
}

/// What the server remembers of a decision until its outcome is reported.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub policy: Arc<str>,
    pub subject: Option<Arc<str>>,
}

pub struct AppState {
    pub engine: Engine,
    pub metrics: metrics::Metrics,
    pub log: log::DecisionLog,
    /// decision id → what `Ledger::release` needs; bounded, sharded (no global lock).
    decisions: quick_cache::sync::Cache<String, Recorded>,
    /// Per policy: the revision served and when it was first served.
    loaded: Mutex<BTreeMap<String, (String, Timestamp)>>,
    /// Reloads run one at a time, so an older build never replaces a newer one.
    reload_lock: Mutex<()>,
    pub config: Config,
}

impl AppState {
    /// A state over the configured directories with an in-memory ledger. Nothing is loaded
    /// until [`AppState::reload`].
    pub fn new(config: Config) -> std::io::Result<Arc<AppState>> {
        Self::with_ledger(config, Arc::new(MemoryLedger::new()))
    }

    pub fn with_ledger(config: Config, ledger: Arc<dyn Ledger>) -> std::io::Result<Arc<AppState>> {
        let metrics = metrics::Metrics::new().map_err(std::io::Error::other)?;
        let log = log::DecisionLog::start(
            config.decision_log.as_ref(),
            config.log_queue,
            metrics.log_dropped.clone(),
        )?;
        Ok(Arc::new(AppState {
            engine: Engine::with_limits(
                vec![config.policies.clone()],
                config.models.clone(),
                ledger,
                config.limits,
            ),
            metrics,
            log,
            decisions: quick_cache::sync::Cache::new(config.outcome_capacity.max(1)),
            loaded: Mutex::new(BTreeMap::new()),
            reload_lock: Mutex::new(()),
            config,
        }))
    }

    /// Builds the whole set from disk and swaps it in if valid; otherwise keeps the old set,
    /// logs the diagnostics and records the error. Blocking: call it off the async runtime.
    pub fn reload(&self) -> bool {
        let _one_at_a_time = self
            .reload_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match self.engine.reload(Timestamp::now()) {
            Ok(graph) => {
                let now = Timestamp::now();
                let mut loaded = self
                    .loaded
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                loaded.retain(|name, _| graph.policies.contains_key(name));
                for (name, p) in &graph.policies {
                    match loaded.get(name) {
                        Some((rev, _)) if *rev == p.revision => {}
                        _ => {
                            loaded.insert(name.clone(), (p.revision.clone(), now));
                        }
                    }
                }
                self.metrics.reloaded(Some(&graph));
                tracing::info!(revision = %graph.revision, policies = graph.policies.len(), "policy set loaded");
                true
            }
            Err(e) => {
                self.metrics.reloaded(None);
                tracing::warn!(
                    "reload failed; serving the previous set\n{}",
                    render_errors(&e)
                );
                false
            }
        }
    }

    fn policy_infos(&self) -> Vec<PolicyInfo> {
        let Some(graph) = self.engine.snapshot() else {
            return vec![];
        };
        let loaded = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        graph
            .policies
            .iter()
            .map(|(name, p)| {
                let meta = &p.checked.meta;
                PolicyInfo {
                    name: name.clone(),
                    version: meta.version.clone(),
                    description: meta.description.clone(),
                    owner: meta.owner.clone(),
                    revision: p.revision.clone(),
                    loaded_at: loaded
                        .get(name)
                        .filter(|(rev, _)| *rev == p.revision)
                        .map_or(Timestamp::UNIX_EPOCH, |(_, at)| *at),
                    sources: vec![p.file.display().to_string()],
                    models: p.model_files(),
                }
            })
            .collect()
    }
}

/// A failed reload's errors, as `policy check` prints them.
fn render_errors(e: &crate::engine::ReloadError) -> String {
    let errors: Vec<_> = e
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    crate::diagnostics::render_human(&errors, &e.sources, false)
}

/// The router: every endpoint, over a shared state.
pub fn app(state: Arc<AppState>) -> Router {
    let limit = state.config.body_limit;
    Router::new()
        .route("/v1/decide/{policy}", post(handlers::decide))
        .route("/v1/decide/{policy}/batch", post(handlers::decide_batch))
        .route(
            "/v1/decisions/{decision_id}/outcome",
            post(handlers::outcome),
        )
        .route("/v1/policies", get(handlers::policies))
        .route("/v1/policies/{name}/schema", get(handlers::policy_schema))
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/metrics", get(handlers::metrics))
        .route("/openapi.json", get(handlers::openapi))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require,
        ))
        .with_state(state)
}

/// Serves until SIGTERM or Ctrl-C: loads the set, watches the directories, reloads on SIGHUP,
/// then stops accepting, finishes what is in flight and flushes the decision log.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let state = AppState::new(config.clone())?;
    {
        let s = state.clone();
        tokio::task::spawn_blocking(move || s.reload()).await?;
    }
    let _watcher = watch::watch(state.clone(), config.debounce)?;
    spawn_sighup(state.clone())?;
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() && config.auth.admin.is_empty() {
        tracing::warn!(
            "listening beyond loopback with no admin token: outcomes and /v1/policies are open (see --admin-token-file)"
        );
    }
    tracing::info!(%addr, max_connections = config.edge.max_connections, "serving decisions");
    edge::serve(
        listener,
        app(state.clone()),
        config.edge,
        state.clone(),
        shutdown_signal(),
        config.edge.body_timeout,
    )
    .await;
    tracing::info!("stopped accepting; flushing the decision log");
    state.log.shutdown().await;
    Ok(())
}

fn spawn_sighup(state: Arc<AppState>) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading");
                let s = state.clone();
                let _ = tokio::task::spawn_blocking(move || s.reload()).await;
            }
        });
    }
    #[cfg(not(unix))]
    let _ = state;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
