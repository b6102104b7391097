//! The engine: the current compiled set behind an `ArcSwap`, swapped whole.
//!
//! A request loads one snapshot (`Arc<DecisionGraph>`) without a lock and finishes on it, even if
//! a reload swaps in a new set meanwhile. A reload builds the whole new set first; if the build
//! fails, the old set stays and the error is kept for reporting.

use crate::compile::{self, Build, DecisionGraph};
use crate::decision::Decision;
use crate::diagnostics::Diagnostic;
use crate::eval::{self, EvalError, Options};
use crate::ledger::{Ledger, MemoryLedger};
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
    policies: Vec<PathBuf>,
    models: PathBuf,
    /// The models of the last build, reused by the next one when their files are unchanged.
    loaded_models: Mutex<HashMap<String, Arc<LoadedModel>>>,
}

impl Engine {
    /// An engine over policy paths and a models directory, with an in-memory ledger.
    /// Nothing is loaded until [`Engine::reload`].
    pub fn new(policies: Vec<PathBuf>, models: PathBuf) -> Self {
        Self::with_ledger(policies, models, Arc::new(MemoryLedger::new()))
    }

    pub fn with_ledger(policies: Vec<PathBuf>, models: PathBuf, ledger: Arc<dyn Ledger>) -> Self {
        Engine {
            current: ArcSwapOption::empty(),
            ledger,
            last_error: Mutex::new(None),
            policies,
            models,
            loaded_models: Mutex::new(HashMap::new()),
        }
    }

    /// Builds the whole set from disk and swaps it in if it is valid. `now` stamps the error.
    pub fn reload(&self, now: jiff::Timestamp) -> Result<Arc<DecisionGraph>, ReloadError> {
        let previous = std::mem::take(
            &mut *self
                .loaded_models
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let store = ModelStore::reusing(&self.models, previous);
        let build = compile::load_sources(&self.policies).map(|s| compile::build(s, &store));
        *self
            .loaded_models
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = store.loaded();
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
        self.install(build, now)
    }

    /// Swaps in a build's graph, or keeps the old one and records why not.
    pub fn install(
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
