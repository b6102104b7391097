//! The engine: the current compiled set behind an `ArcSwap`, swapped whole.
//!
//! A request loads one snapshot (`Arc<DecisionGraph>`) without a lock and finishes on it, even if
//! a reload swaps in a new set meanwhile. A reload builds the whole new set first; if the build
//! fails, the old set stays and the error is kept for reporting. Reloads are serialised here,
//! whoever calls them (a watcher, a signal, an embedder's own thread), so an older build never
//! replaces a newer one. Policies and models come through [`PolicySource`] and [`ModelSource`]
//! (directories, or memory for tests and embedders).

use crate::compile::{self, Build, DecisionGraph};
use crate::decision::Decision;
use crate::diagnostics::Diagnostic;
use crate::eval::{self, EvalError, Options};
use crate::ledger::{Ledger, MemoryLedger};
use crate::loader::{FsModels, FsPolicies, ModelSource, PolicySource};
use crate::model::{LoadedModel, ModelStore};
use crate::source::SourceMap;
use arc_swap::ArcSwapOption;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Why the last reload failed.
#[derive(Debug, Clone)]
pub struct ReloadError {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
    pub at: jiff::Timestamp,
}

pub struct Engine {
    current: ArcSwapOption<DecisionGraph>,
    ledger: Arc<dyn Ledger>,
    last_error: Mutex<Option<ReloadError>>,
    policies: Arc<dyn PolicySource>,
    models: Arc<dyn ModelSource>,
    /// Held for the whole of a reload, so reloads run one at a time and in order. It guards the
    /// models of the last build, which the next one reuses when their files are unchanged.
    reloading: Mutex<HashMap<String, Arc<LoadedModel>>>,
}

impl Engine {
    /// An engine over policy paths and a models directory, with an in-memory ledger.
    /// Nothing is loaded until [`Engine::reload`].
    pub fn new(policies: Vec<PathBuf>, models: PathBuf) -> Self {
        Self::with_ledger(policies, models, Arc::new(MemoryLedger::new()))
    }

    pub fn with_ledger(policies: Vec<PathBuf>, models: PathBuf, ledger: Arc<dyn Ledger>) -> Self {
        Self::from_sources(
            Arc::new(FsPolicies::new(policies)),
            Arc::new(FsModels::new(models)),
            ledger,
        )
    }

    /// An engine over any source of policies and models (for example one
    /// [`MemoryLoader`](crate::loader::MemoryLoader) as both).
    pub fn from_sources(
        policies: Arc<dyn PolicySource>,
        models: Arc<dyn ModelSource>,
        ledger: Arc<dyn Ledger>,
    ) -> Self {
        Engine {
            current: ArcSwapOption::empty(),
            ledger,
            last_error: Mutex::new(None),
            policies,
            models,
            reloading: Mutex::new(HashMap::new()),
        }
    }

    /// Builds the whole set from its sources and swaps it in if it is valid. `now` stamps the
    /// error. Concurrent calls run one after the other.
    pub fn reload(&self, now: jiff::Timestamp) -> Result<Arc<DecisionGraph>, ReloadError> {
        let mut reloading = self
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let store = ModelStore::reusing(self.models.clone(), std::mem::take(&mut *reloading));
        let build = self
            .policies
            .read_policies()
            .map(|s| compile::build(s, &store));
        *reloading = store.loaded();
        let build = match build {
            Ok(b) => b,
            Err(e) => {
                let d = Diagnostic::new(
                    crate::diagnostics::Code::IoError,
                    format!("cannot read policies: {e}"),
                );
                Build {
                    graph: None,
                    diagnostics: vec![d],
                    sources: SourceMap::new(),
                }
            }
        };
        // Published while still holding `reloading`: a later reload cannot publish first.
        self.publish(build, now)
    }

    /// Swaps in a build made elsewhere, or keeps the old one and records why not; serialised
    /// with [`Engine::reload`].
    pub fn install(
        &self,
        build: Build,
        now: jiff::Timestamp,
    ) -> Result<Arc<DecisionGraph>, ReloadError> {
        let _reloading = self
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.publish(build, now)
    }

    /// Swaps in a build's graph, or keeps the old one and records why not. Callers hold
    /// `reloading`.
    fn publish(
        &self,
        build: Build,
        now: jiff::Timestamp,
    ) -> Result<Arc<DecisionGraph>, ReloadError> {
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match build.graph {
            Some(g) => {
                let g = Arc::new(g);
                self.current.store(Some(g.clone()));
                *last = None;
                Ok(g)
            }
            None => {
                let err = ReloadError {
                    diagnostics: build.diagnostics,
                    sources: build.sources,
                    at: now,
                };
                *last = Some(err.clone());
                Err(err)
            }
        }
    }

    /// The current set: one lock-free load.
    pub fn snapshot(&self) -> Option<Arc<DecisionGraph>> {
        self.current.load_full()
    }

    pub fn last_error(&self) -> Option<ReloadError> {
        self.last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// Decides on the current snapshot.
    pub fn decide(
        &self,
        policy: &str,
        context: &serde_json::Value,
        opts: &Options,
    ) -> Result<Decision, EngineError> {
        let graph = self.snapshot().ok_or(EngineError::NotReady)?;
        Ok(eval::decide(
            &graph,
            policy,
            context,
            opts,
            self.ledger.as_ref(),
        )?)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no valid policy set is loaded")]
    NotReady,
    #[error(transparent)]
    Eval(#[from] EvalError),
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! The engine over a set held in memory: no directories, no watcher.
    use super::*;
    use crate::loader::MemoryLoader;

    const GATE: &str = "policy gate {\n  context {\n    dau_7: float\n  }\n  guard active: require dau_7 >= 1.0\n  select gate\n}\n";

    fn now() -> jiff::Timestamp {
        "2026-11-23T17:00:00Z".parse().unwrap()
    }

    fn engine(set: &MemoryLoader) -> Engine {
        let set = Arc::new(set.clone());
        Engine::from_sources(set.clone(), set, Arc::new(MemoryLedger::new()))
    }

    #[test]
    fn an_engine_over_memory_sources_loads_and_decides() {
        let e = engine(&MemoryLoader::new().policy("gate.policy", GATE));
        assert!(e.snapshot().is_none(), "nothing is loaded before a reload");
        let g = e.reload(now()).unwrap();
        assert_eq!(g.policies.keys().collect::<Vec<_>>(), ["gate"]);
        let d = e
            .decide(
                "gate",
                &serde_json::json!({"dau_7": 3.0}),
                &Options::at(now()),
            )
            .unwrap();
        assert_eq!(d.outcome, crate::decision::Outcome::Selected);
    }

    #[test]
    fn a_failed_build_keeps_the_old_set_and_reports_why() {
        let set = MemoryLoader::new().policy("gate.policy", GATE);
        let e = engine(&set);
        let good = e.reload(now()).unwrap();
        set.set_policy("gate.policy", GATE.replace("dau_7 >=", "dau7 >="));
        let err = e.reload(now()).unwrap_err();
        assert!(err.diagnostics.iter().any(|d| d.is_error()));
        assert!(
            Arc::ptr_eq(&e.snapshot().unwrap(), &good),
            "the old set is still served"
        );
        assert!(e.last_error().is_some(), "the failure is kept");
        // Fixed again: the next reload serves the new set and clears the error.
        set.set_policy("gate.policy", GATE.replace("1.0", "2.0"));
        let fixed = e.reload(now()).unwrap();
        assert_ne!(fixed.revision, good.revision);
        assert!(e.last_error().is_none());
        // A removed file is a removed policy.
        set.remove_policy("gate.policy");
        assert!(e.reload(now()).unwrap().policies.is_empty());
    }

    fn repo_file(rel: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
    }

    #[test]
    fn models_come_from_the_memory_source_and_a_missing_one_is_reported_by_name() {
        let policy = String::from_utf8(repo_file("policies/paywall.policy")).unwrap();
        let context: serde_json::Value =
            serde_json::from_slice(&repo_file("examples/contexts/paywall.json")).unwrap();
        let set = MemoryLoader::new()
            .policy("paywall.policy", policy)
            .model("paywall_trial.onnx", repo_file("models/paywall_trial.onnx"));
        let e = engine(&set);
        let err = e.reload(now()).unwrap_err();
        let messages: Vec<&str> = err.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert!(
            messages.iter().any(|m| m.contains("paywall_bounce.onnx")),
            "the missing model is named: {messages:?}"
        );
        set.set_model(
            "paywall_bounce.onnx",
            repo_file("models/paywall_bounce.onnx"),
        );
        e.reload(now()).unwrap();
        let d = e.decide("paywall", &context, &Options::at(now())).unwrap();
        assert_eq!(d.policy, "paywall");
    }

    #[test]
    fn concurrent_reloads_run_one_at_a_time_and_every_one_completes() {
        let e = Arc::new(engine(&MemoryLoader::new().policy("gate.policy", GATE)));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let e = e.clone();
                std::thread::spawn(move || e.reload(now()).map(|g| g.revision.clone()))
            })
            .collect();
        let revisions: Vec<String> = threads
            .into_iter()
            .map(|t| t.join().unwrap().unwrap())
            .collect();
        assert!(revisions.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(e.snapshot().unwrap().revision, revisions[0]);
    }
}
