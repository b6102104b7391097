//! Hot reload: watch the policy and model directories and reload the whole set once they have
//! been quiet for the debounce interval.
//!
//! Events come from `notify`. The debounce is written here rather than taken from
//! `notify-debouncer-*`: those crates debounce per path, but a set must be reloaded once the
//! whole tree is quiet (a `git checkout` touching many files is one change, never half of one).
//!
//! What is watched, for each of the policies and models paths:
//! - the path itself, recursively (inotify follows the symlink at the watched path itself, so
//!   this watches the directory it points to, and every `..data/` target inside it);
//! - its parent directory, non-recursively, keeping only events for the path itself: this sees
//!   the path being replaced (a symlink swap of the whole directory, a delete and re-create),
//!   after which the recursive watch is re-established on the new target.
//!
//! Access events (including the reload's own reads) never trigger a reload.

use super::AppState;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Stops the watcher thread when dropped.
pub struct WatchGuard {
    stop: Arc<AtomicBool>,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts watching the state's policy and model paths.
pub fn watch(state: Arc<AppState>, debounce: Duration) -> notify::Result<WatchGuard> {
    let roots: Vec<PathBuf> = [&state.config.policies, &state.config.models]
        .into_iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
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
        .spawn(move || run(state, watcher, rx, &roots, debounce, &stop))
        .map_err(notify::Error::io)?;
    Ok(guard)
}

fn relevant(res: &notify::Result<notify::Event>, roots: &[PathBuf]) -> bool {
    match res {
        // A watcher error (such as a queue overflow) may have lost events: reload to be sure.
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

fn run(
    state: Arc<AppState>,
    mut watcher: RecommendedWatcher,
    rx: mpsc::Receiver<notify::Result<notify::Event>>,
    roots: &[PathBuf],
    debounce: Duration,
    stop: &AtomicBool,
) {
    let poll = Duration::from_millis(200);
    let mut seen: Vec<_> = roots.iter().map(|r| identity(r)).collect();
    while !stop.load(Ordering::Relaxed) {
        match rx.recv_timeout(poll) {
            Ok(ev) if relevant(&ev, roots) => {}
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        // Wait until the trees have been quiet for `debounce` (at most 20 intervals, so a
        // directory that never stops changing is still reloaded).
        let first = Instant::now();
        loop {
            match rx.recv_timeout(debounce) {
                Ok(ev) if !relevant(&ev, roots) => continue,
                Ok(_) if first.elapsed() < debounce * 20 => continue,
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        state.reload();
        if rewatch(&mut watcher, roots, &mut seen) {
            // A change inside the new target before the watch moved there would be missed.
            state.reload();
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
/// symlink swap or a delete and re-create). Returns whether any moved.
fn rewatch(
    watcher: &mut RecommendedWatcher,
    roots: &[PathBuf],
    seen: &mut [Option<(PathBuf, u64)>],
) -> bool {
    let mut moved = false;
    for (root, seen) in roots.iter().zip(seen.iter_mut()) {
        let now = identity(root);
        if now != *seen {
            let _ = watcher.unwatch(root);
            let _ = watcher.watch(root, RecursiveMode::Recursive);
            *seen = now;
            moved = true;
        }
    }
    moved
}
