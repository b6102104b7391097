//! Hot reload: watch the policy and model directories and reload the whole set once they have
//! been quiet for the debounce interval.
//!
//! Two halves, kept apart so each is tested on its own terms:
//! - "the directories changed": `notify` events, filtered by [`relevant`], fed with their
//!   instants to a [`Debouncer`], a small state machine with no clock and no thread, so its
//!   rules (a burst of events is one change, access events are not changes, a tree that never
//!   stops changing is still reloaded) are tested with made-up instants;
//! - "reload now": what [`watch_paths`] calls on its thread once a change has settled. For
//!   [`watch`] that is [`AppState::reload`], the same reload SIGHUP runs and tests call directly.
//!
//! The debounce is written here rather than taken from `notify-debouncer-*`: those crates
//! debounce per path, but a set must be reloaded once the whole tree is quiet (a `git checkout`
//! touching many files is one change, never half of one).
//!
//! What is watched, for each of the policies and models paths:
//! - the path itself, recursively (inotify follows the symlink at the watched path itself, so
//!   this watches the directory it points to, and every `..data/` target inside it);
//! - its parent directory, non-recursively, keeping only events for the path itself: this sees
//!   the path being replaced (a symlink swap of the whole directory, a delete and re-create),
//!   after which the recursive watch is re-established on the new target. That happens before
//!   the reload, so a change inside the new target during the reload is seen and reloaded too.
//!
//! Access events (including the reload's own reads) never trigger a reload, nor delay one.
//! A panic in `on_change` is caught and logged: the watcher thread outlives any one reload.
//!
//! What saves look like here (each is a test in `tests/it/reload.rs`; ARCHITECTURE.md has the
//! table): a rename over the file (vim, JetBrains, `mv`) is a create of a temporary name and a
//! rename, one burst; an in-place write (VS Code, `>`) is a truncate and writes, one burst when
//! fast; a truncate then a write slower than the debounce is two or more settled changes, the
//! first of which sees an empty or partial file, which `Engine::reload` refuses (the old set
//! stays) and the next of which sees the written file; `git checkout` is an unlink and a create
//! per file, one burst unless it takes over 20 debounce intervals; a symlink swap (a Kubernetes
//! ConfigMap's `..data`, or the watched path itself) is one rename.

use super::AppState;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The debounce as a state machine over the instants of relevant events.
///
/// A change is due once no event has come for the quiet interval, or 20 intervals after the
/// first event of the burst, whichever is earlier (so a directory that never stops changing is
/// still reloaded). It never reads the clock: the caller says when each event came and asks
/// whether the change is due at a given instant.
#[derive(Debug, Clone)]
pub struct Debouncer {
    quiet: Duration,
    longest: Duration,
    /// The first and the last event of the pending burst.
    burst: Option<(Instant, Instant)>,
}

impl Debouncer {
    /// A debouncer that waits for `quiet` without events, at most 20 times that in all.
    pub fn new(quiet: Duration) -> Self {
        Debouncer {
            quiet,
            longest: quiet.saturating_mul(20),
            burst: None,
        }
    }

    /// Records a relevant event at `at`.
    pub fn event(&mut self, at: Instant) {
        self.burst = Some(match self.burst {
            Some((first, last)) => (first, last.max(at)),
            None => (at, at),
        });
    }

    /// When the pending change is due; `None` if nothing is pending (or the interval is beyond
    /// what the clock can represent, which means never).
    pub fn deadline(&self) -> Option<Instant> {
        let (first, last) = self.burst?;
        match (
            last.checked_add(self.quiet),
            first.checked_add(self.longest),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the pending change is due at `now`. True once per burst: the burst is then over
    /// and the next event starts a new one.
    pub fn due(&mut self, now: Instant) -> bool {
        match self.deadline() {
            Some(d) if now >= d => {
                self.burst = None;
                true
            }
            _ => false,
        }
    }
}

/// Whether a `notify` event is a change to one of `roots`: access events are not, nor events
/// for other entries of a watched parent directory. A watcher error (such as a queue overflow)
/// may have lost events, so it counts as a change.
pub fn relevant(res: &notify::Result<notify::Event>, roots: &[PathBuf]) -> bool {
    match res {
        Err(_) => true,
        Ok(e) => {
            !matches!(e.kind, EventKind::Access(_))
                && (e.paths.is_empty()
                    || e.paths
                        .iter()
                        .any(|p| roots.iter().any(|r| p.starts_with(r))))
        }
    }
}

/// Stops the watcher thread when dropped.
pub struct WatchGuard {
    stop: Arc<AtomicBool>,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Watches the state's policy and model paths and reloads the state once they have changed and
/// been quiet for `debounce`.
pub fn watch(state: Arc<AppState>, debounce: Duration) -> notify::Result<WatchGuard> {
    let roots = vec![state.config.policies.clone(), state.config.models.clone()];
    watch_paths(roots, debounce, move || {
        state.reload();
    })
}

/// Watches `roots` and calls `on_change` on the watcher's thread, once per settled change (one
/// call at a time, so the reloads it runs are serial).
pub fn watch_paths(
    roots: Vec<PathBuf>,
    debounce: Duration,
    on_change: impl FnMut() + Send + 'static,
) -> notify::Result<WatchGuard> {
    let roots: Vec<PathBuf> = roots
        .into_iter()
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .collect();
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(tx)?;
    for root in &roots {
        if let Some(parent) = root.parent() {
            // A missing parent only means nothing can appear there yet.
            let _ = watcher.watch(parent, RecursiveMode::NonRecursive);
        }
        let _ = watcher.watch(root, RecursiveMode::Recursive);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let guard = WatchGuard { stop: stop.clone() };
    std::thread::Builder::new()
        .name("policy-watch".into())
        .spawn(move || {
            run(
                watcher,
                &rx,
                &roots,
                Debouncer::new(debounce),
                &stop,
                on_change,
            )
        })
        .map_err(notify::Error::io)?;
    Ok(guard)
}

fn run(
    mut watcher: RecommendedWatcher,
    rx: &mpsc::Receiver<notify::Result<notify::Event>>,
    roots: &[PathBuf],
    mut debouncer: Debouncer,
    stop: &AtomicBool,
    mut on_change: impl FnMut(),
) {
    // How often an idle watcher looks at `stop`.
    let poll = Duration::from_millis(200);
    let mut seen: Vec<_> = roots.iter().map(|r| identity(r)).collect();
    while !stop.load(Ordering::Relaxed) {
        let wait = debouncer.deadline().map_or(poll, |d| {
            d.saturating_duration_since(Instant::now()).min(poll)
        });
        match rx.recv_timeout(wait) {
            Ok(ev) if relevant(&ev, roots) => debouncer.event(Instant::now()),
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        if debouncer.due(Instant::now()) {
            rewatch(&mut watcher, roots, &mut seen);
            // The watcher outlives any one reload: a panic in one is logged, and the next
            // change reloads again. (`Engine::reload` already turns a panic in a build into a
            // reload error; this catches one anywhere else in `on_change`.)
            let reloaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut on_change));
            if reloaded.is_err() {
                tracing::error!(
                    "a reload panicked; the watcher goes on and reloads on the next change"
                );
            }
        }
    }
}

/// What a root is now: the directory it resolves to and its inode.
fn identity(p: &Path) -> Option<(PathBuf, u64)> {
    let canonical = std::fs::canonicalize(p).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&canonical).ok()?);
    #[cfg(not(unix))]
    let ino = 0;
    Some((canonical, ino))
}

/// Re-establishes the recursive watch on each root that is now a different directory (after a
/// symlink swap or a delete and re-create).
fn rewatch(
    watcher: &mut RecommendedWatcher,
    roots: &[PathBuf],
    seen: &mut [Option<(PathBuf, u64)>],
) {
    for (root, seen) in roots.iter().zip(seen.iter_mut()) {
        let now = identity(root);
        if now != *seen {
            let _ = watcher.unwatch(root);
            let _ = watcher.watch(root, RecursiveMode::Recursive);
            *seen = now;
        }
    }
}
