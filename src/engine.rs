//! The engine: the current compiled set behind an `ArcSwap`, swapped whole.
//!
//! A request loads one snapshot (`Arc<DecisionGraph>`) without a lock and finishes on it, even if
//! a reload swaps in a new set meanwhile. A reload builds the whole new set first; if the build
//! fails, the old set stays and the error is kept for reporting. Reloads are serialised here,
//! whoever calls them (a watcher, a signal, an embedder's own thread), so an older build never
//! replaces a newer one. Policies and models come through [`PolicySource`] and [`ModelSource`]
//! (directories, or memory for tests and embedders).
//!
//! A reload cannot take the engine down: every build runs on a thread of its own with a stack of
//! [`RELOAD_STACK_BYTES`], a panic in it is caught and reported as a reload error, and the caller
//! waits for it at most [`Limits::reload_budget`]. A build over its budget is reported and
//! abandoned (its result is never published), so a build that spins cannot block later reloads.
//! A file that was part of the last good set and now reads empty is never built: it looks
//! mid-write, so the old set stays until the write completes.

use crate::compile::{self, Build, DecisionGraph};
use crate::decision::Decision;
use crate::diagnostics::{Code, Diagnostic};
use crate::eval::{self, EvalError, Options};
use crate::ledger::{Ledger, MemoryLedger};
use crate::loader::{FsModels, FsPolicies, ModelSource, PolicySource};
use crate::model::{LoadedModel, ModelStore};
use crate::source::SourceMap;
use arc_swap::ArcSwapOption;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};
use std::time::Duration;

/// The stack of a reload's thread. Parsing and checking recurse over the syntax tree, and a
/// thread's default stack (2 MiB for a spawned Rust thread) is what a deeply nested policy
/// overflowed, aborting the server. 64 MiB is reserved address space, committed by the OS only
/// as the build touches it, so an ordinary reload costs no more memory than before; a policy
/// that still needed more would have to nest thousands of levels deeper than the parser's own
/// depth limits allow.
pub const RELOAD_STACK_BYTES: usize = 64 << 20;

/// At most this many abandoned builds (over their budget and still running) are kept; while
/// there are this many, a reload is refused at once instead of starting another one, so a
/// directory of pathological files cannot spawn threads without bound.
pub const MAX_OVERRUNNING: usize = 4;

/// How much a reload may read and how long it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A policy file holding more bytes is refused at that file (`P0003`), unread.
    pub max_policy_bytes: u64,
    /// A model file holding more bytes is refused at its binding (`P2001`), unread.
    pub max_model_bytes: u64,
    /// How long a caller of [`Engine::reload`] waits for the build. A build that takes longer
    /// is reported as a reload error and abandoned; the old set stays.
    pub reload_budget: Duration,
}

impl Default for Limits {
    /// 4 MiB per policy file, 512 MiB per model file, and a minute per reload (a reload that
    /// loads large models from scratch takes seconds; one that edits a policy, milliseconds).
    fn default() -> Self {
        Limits {
            max_policy_bytes: crate::loader::MAX_POLICY_BYTES,
            max_model_bytes: crate::loader::MAX_MODEL_BYTES,
            reload_budget: Duration::from_secs(60),
        }
    }
}

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
    /// Held for the whole of a reload, so reloads run one at a time and in order.
    reloading: Mutex<Reloads>,
    budget: Duration,
    /// Builds that ran over their budget and have not finished yet.
    overrunning: Arc<Mutex<Vec<Arc<Job>>>>,
    jobs: AtomicU64,
}

/// What one reload hands the next.
#[derive(Default)]
struct Reloads {
    /// The models of the last build, which the next one reuses when their files are unchanged.
    models: HashMap<String, Arc<LoadedModel>>,
    /// The length of each file of the last set published that held more than whitespace: a
    /// file among these that now reads empty looks mid-write, and one that is now shorter and
    /// does not parse may be.
    good: Arc<HashMap<PathBuf, usize>>,
}

/// One build on its thread.
struct Job {
    id: u64,
    /// The digest of the sources it read, once read.
    digest: OnceLock<blake3::Hash>,
    /// Set (under the `overrunning` lock) when the build has ended, with or without a result.
    done: AtomicBool,
}

/// What a build's thread hands back: the build and the models it loaded, or why there is none.
type Built = Result<(Build, HashMap<String, Arc<LoadedModel>>), Diagnostic>;

impl Engine {
    /// An engine over policy paths and a models directory, with an in-memory ledger.
    /// Nothing is loaded until [`Engine::reload`].
    pub fn new(policies: Vec<PathBuf>, models: PathBuf) -> Self {
        Self::with_ledger(policies, models, Arc::new(MemoryLedger::new()))
    }

    pub fn with_ledger(policies: Vec<PathBuf>, models: PathBuf, ledger: Arc<dyn Ledger>) -> Self {
        Self::with_limits(policies, models, ledger, Limits::default())
    }

    /// An engine over policy paths and a models directory that reads files up to `limits`'
    /// sizes and waits for a reload up to its budget.
    pub fn with_limits(
        policies: Vec<PathBuf>,
        models: PathBuf,
        ledger: Arc<dyn Ledger>,
        limits: Limits,
    ) -> Self {
        Self::from_sources(
            Arc::new(FsPolicies::new(policies).max_bytes(limits.max_policy_bytes)),
            Arc::new(FsModels::new(models).max_bytes(limits.max_model_bytes)),
            ledger,
        )
        .with_reload_budget(limits.reload_budget)
    }

    /// An engine over any source of policies and models (for example one
    /// [`MemoryLoader`](crate::loader::MemoryLoader) as both), with the default reload budget.
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
            reloading: Mutex::new(Reloads::default()),
            budget: Limits::default().reload_budget,
            overrunning: Arc::new(Mutex::new(Vec::new())),
            jobs: AtomicU64::new(0),
        }
    }

    /// The same engine, waiting at most `budget` for each reload.
    pub fn with_reload_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// How many builds ran over their budget and are still running (their results will be
    /// dropped). At most [`MAX_OVERRUNNING`].
    pub fn overrunning(&self) -> usize {
        lock(&self.overrunning).len()
    }

    /// Builds the whole set from its sources and swaps it in if it is valid. `now` stamps the
    /// error. Concurrent calls run one after the other.
    ///
    /// The build runs on a thread of its own ([`RELOAD_STACK_BYTES`] of stack); a panic in it
    /// (in a source, the parser, the checker or a model loader) is a reload error, and so is a
    /// build still running after the reload budget, which is then abandoned: this returns, the
    /// next reload can start, and the abandoned build's result is never published.
    pub fn reload(&self, now: jiff::Timestamp) -> Result<Arc<DecisionGraph>, ReloadError> {
        let mut reloads = lock(&self.reloading);
        let build = match self.build_on_thread(&reloads) {
            Ok((build, models)) => {
                reloads.models = models;
                build
            }
            Err(d) => Build {
                graph: None,
                diagnostics: vec![d],
                sources: SourceMap::new(),
            },
        };
        // Published while still holding `reloading`: a later reload cannot publish first.
        self.publish(&mut reloads, build, now)
    }

    /// Starts the build on its own thread and waits for it, at most the budget.
    fn build_on_thread(&self, reloads: &Reloads) -> Built {
        let stuck = self.overrunning();
        if stuck >= MAX_OVERRUNNING {
            return Err(Diagnostic::new(
                Code::Internal,
                format!(
                    "{stuck} earlier reloads are still running over their budget, so this one was not started"
                ),
            )
            .help("the previous set is still served; reloads start again as soon as one of them ends"));
        }
        let job = Arc::new(Job {
            id: self.jobs.fetch_add(1, Ordering::Relaxed),
            digest: OnceLock::new(),
            done: AtomicBool::new(false),
        });
        let task = Task {
            policies: self.policies.clone(),
            models: self.models.clone(),
            previous: reloads.models.clone(),
            good: reloads.good.clone(),
            overrunning: self.overrunning.clone(),
            job: job.clone(),
        };
        // Room for the one result, so the thread never waits for a caller that stopped waiting.
        let (tx, rx) = mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("policy-reload".into())
            .stack_size(RELOAD_STACK_BYTES)
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run()))
                    .unwrap_or_else(|payload| Err(panicked(payload.as_ref())));
                task.finish();
                // The caller may have stopped waiting: then the result is dropped here.
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            return Err(Diagnostic::new(
                Code::Internal,
                format!("cannot start a thread for the reload: {e}"),
            )
            .help("the previous set is still served; the next reload tries again"));
        }
        match rx.recv_timeout(self.budget) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let mut overrunning = lock(&self.overrunning);
                if let Ok(result) = rx.try_recv() {
                    // It finished just now.
                    return result;
                }
                if !job.done.load(Ordering::Acquire) {
                    overrunning.push(job);
                }
                Err(Diagnostic::new(
                    Code::Internal,
                    format!(
                        "the reload did not finish within its budget of {:?}, so it was abandoned",
                        self.budget
                    ),
                )
                .help(
                    "the previous set is still served and later reloads run as usual; a build this slow is a bug in policy-engine, or a model too large to load within the budget",
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Diagnostic::new(
                Code::Internal,
                "the reload's thread ended without a result",
            )
            .help("the previous set is still served; the next reload tries again")),
        }
    }

    /// Swaps in a build made elsewhere, or keeps the old one and records why not; serialised
    /// with [`Engine::reload`].
    pub fn install(
        &self,
        build: Build,
        now: jiff::Timestamp,
    ) -> Result<Arc<DecisionGraph>, ReloadError> {
        let mut reloads = lock(&self.reloading);
        self.publish(&mut reloads, build, now)
    }

    /// Swaps in a build's graph, or keeps the old one and records why not. Callers hold
    /// `reloading` (and pass what it guards).
    fn publish(
        &self,
        reloads: &mut Reloads,
        build: Build,
        now: jiff::Timestamp,
    ) -> Result<Arc<DecisionGraph>, ReloadError> {
        let mut last = lock(&self.last_error);
        match build.graph {
            Some(g) => {
                let g = Arc::new(g);
                self.current.store(Some(g.clone()));
                reloads.good = Arc::new(
                    build
                        .sources
                        .files()
                        .filter(|(_, f)| f.unreadable.is_none() && !f.text.trim().is_empty())
                        .map(|(_, f)| (f.path.clone(), f.text.len()))
                        .collect(),
                );
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
        lock(&self.last_error).clone()
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a build's thread needs, all owned: the thread may outlive the reload that started it.
struct Task {
    policies: Arc<dyn PolicySource>,
    models: Arc<dyn ModelSource>,
    previous: HashMap<String, Arc<LoadedModel>>,
    good: Arc<HashMap<PathBuf, usize>>,
    overrunning: Arc<Mutex<Vec<Arc<Job>>>>,
    job: Arc<Job>,
}

impl Task {
    /// Reads the sources and builds them.
    fn run(&self) -> Built {
        let sources = match self.policies.read_policies() {
            Ok(s) => s,
            Err(e) => {
                let d = Diagnostic::new(Code::IoError, format!("cannot read policies: {e}"));
                let build = Build {
                    graph: None,
                    diagnostics: vec![d],
                    sources: SourceMap::new(),
                };
                return Ok((build, self.previous.clone()));
            }
        };
        let digest = digest(&sources);
        let _ = self.job.digest.set(digest);
        if lock(&self.overrunning)
            .iter()
            .any(|j| j.digest.get() == Some(&digest))
        {
            // Building the same text again would only take as long again.
            return Err(Diagnostic::new(
                Code::Internal,
                "these sources are still being built by an earlier reload that ran over its budget",
            )
            .help("the previous set is still served; change or remove the file that makes the build slow"));
        }
        let sources = guard_mid_write(sources, &self.good);
        let store = ModelStore::reusing(self.models.clone(), self.previous.clone());
        let mut build = compile::build(sources, &store);
        note_mid_write(&mut build, &self.good);
        Ok((build, store.loaded()))
    }

    /// Marks the build ended and forgets it if it was over its budget.
    fn finish(&self) {
        let mut overrunning = lock(&self.overrunning);
        self.job.done.store(true, Ordering::Release);
        overrunning.retain(|j| j.id != self.job.id);
    }
}

/// A caught panic as a reload error.
fn panicked(payload: &(dyn std::any::Any + Send)) -> Diagnostic {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    Diagnostic::new(
        Code::Internal,
        "the reload panicked, so no new set was built",
    )
    .help(format!(
        "the previous set is still served and later reloads run as usual; this is a bug in policy-engine: report it with the panic message (`{what}`) and the files that trigger it"
    ))
}

/// The digest of a set's sources: every path, its text and whether it was readable.
fn digest(sources: &SourceMap) -> blake3::Hash {
    let mut h = blake3::Hasher::new();
    for (_, f) in sources.files() {
        let path = f.path.as_os_str().as_encoded_bytes();
        h.update(&(path.len() as u64).to_le_bytes());
        h.update(path);
        match &f.unreadable {
            Some(why) => {
                h.update(&[0]);
                h.update(&(why.len() as u64).to_le_bytes());
                h.update(why.as_bytes());
            }
            None => {
                h.update(&[1]);
                h.update(&(f.text.len() as u64).to_le_bytes());
                h.update(f.text.as_bytes());
            }
        }
    }
    h.finalize()
}

/// Why a file of the last good set that now reads empty is not built, after `cannot read …:`.
pub const MID_WRITE_EMPTY: &str = "it is empty while its last good version was not, so it looks mid-write; the previous set is served until the write completes";

/// A file of the last good set that now holds only whitespace is refused (reported at the file
/// as unreadable, `P0003`), so the build fails and the old set, with that file's last good
/// version, stays. An editor that truncates and then writes slowly shows the watcher exactly
/// this; the write's own events trigger the next reload. To remove a file's policies, delete
/// the file.
fn guard_mid_write(sources: SourceMap, good: &HashMap<PathBuf, usize>) -> SourceMap {
    let emptied = |f: &crate::source::SourceFile| {
        f.unreadable.is_none() && f.text.trim().is_empty() && good.contains_key(&f.path)
    };
    if !sources.files().any(|(_, f)| emptied(f)) {
        return sources;
    }
    let mut out = SourceMap::new();
    for (_, f) in sources.files() {
        if let Some(why) = &f.unreadable {
            out.add_unreadable(f.path.clone(), why);
        } else if emptied(f) {
            out.add_unreadable(f.path.clone(), MID_WRITE_EMPTY);
        } else {
            out.add(f.path.clone(), f.text.clone());
        }
    }
    out
}

/// An error in a file of the last good set that is now shorter than it was says so in its
/// help: a partly written file is a prefix of the new text (most often a syntax error, an
/// unclosed block), and the old set stays anyway (the build fails), so the operator learns that
/// the reload runs again when the write completes.
fn note_mid_write(build: &mut Build, good: &HashMap<PathBuf, usize>) {
    for d in &mut build.diagnostics {
        if !d.is_error() {
            continue;
        }
        let Some(file) = d.primary_span().and_then(|s| build.sources.get(s.source)) else {
            continue;
        };
        if good
            .get(&file.path)
            .is_none_or(|&len| file.text.len() >= len)
        {
            continue;
        }
        let note = format!(
            "`{}` is shorter than its last good version, so it may be mid-write: the previous set is served until the write completes",
            file.path.display()
        );
        d.help = Some(match d.help.take() {
            Some(h) => format!("{h}; {note}"),
            None => note,
        });
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

    /// Guards issue 15's truncate-then-write at the engine: a file of the last good set that
    /// reads empty is refused as mid-write (the old set, with that file, stays), as is the
    /// error of one cut short; a file that was empty before, or is new and empty, is no policy.
    #[test]
    fn an_emptied_file_of_the_last_good_set_is_refused_as_mid_write() {
        let set = MemoryLoader::new()
            .policy("gate.policy", GATE)
            .policy("empty.policy", "");
        let e = engine(&set);
        let good = e.reload(now()).unwrap();
        set.set_policy("gate.policy", "\n  ");
        let err = e.reload(now()).unwrap_err();
        assert_eq!(err.diagnostics.len(), 1, "{:?}", err.diagnostics);
        assert_eq!(err.diagnostics[0].code, Code::IoError);
        assert_eq!(
            err.diagnostics[0].message,
            format!("cannot read `gate.policy`: {MID_WRITE_EMPTY}")
        );
        assert!(Arc::ptr_eq(&e.snapshot().unwrap(), &good));

        set.set_policy("gate.policy", &GATE[..GATE.len() / 2]);
        let err = e.reload(now()).unwrap_err();
        let help = err.diagnostics[0].help.as_deref().unwrap_or("");
        assert!(
            help.contains("`gate.policy` is shorter than its last good version"),
            "{help}"
        );
        assert!(Arc::ptr_eq(&e.snapshot().unwrap(), &good));

        // Written whole: served. A new empty file, or one empty before, is no policy.
        set.set_policy("gate.policy", GATE.replace("1.0", "2.0"));
        set.set_policy("new.policy", "");
        let fixed = e.reload(now()).unwrap();
        assert_ne!(fixed.revision, good.revision);
        assert_eq!(fixed.policies.keys().collect::<Vec<_>>(), ["gate"]);
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
