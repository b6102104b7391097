//! The ledger of past actions that caps and gaps read.
//!
//! Concurrency contract: a decision reads a subject's history with its version, decides, then
//! commits its reservation only if the version is unchanged; on a conflict it reads again and
//! re-decides the stateful guards. So concurrent decisions can never exceed a cap, whatever the
//! backing store, as long as `commit` is atomic (a mutex here; `WATCH`/`MULTI` in Redis, a
//! conditional `UPDATE` in SQL).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// One action taken for a subject: a selected candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// The decision that reserved it (empty for seeded history).
    #[serde(default)]
    pub decision_id: String,
    pub candidate: String,
    pub at: Timestamp,
    /// Candidate attributes that `by candidate.attr` scopes group by (such as `channel`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

/// A past action to seed a ledger with, in the shape `policy eval --history` and `policy test`
/// cases read: `{"subject", "candidate", "at", "policy"?, "attrs"?}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PastAction {
    pub subject: String,
    /// The policy whose caps and gaps count it; by default the policy being evaluated.
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(flatten)]
    pub action: Action,
}

/// Whose history: a policy's actions for one subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LedgerKey {
    pub policy: Arc<str>,
    pub subject: Arc<str>,
}

/// A subject's history at one version.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub actions: Arc<[Action]>,
    pub version: u64,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum LedgerError {
    #[error("the ledger is unavailable: {0}")]
    Unavailable(String),
}

pub trait Ledger: Send + Sync {
    fn read(&self, key: &LedgerKey) -> Result<History, LedgerError>;
    /// Appends `actions` if the history is still at `version`. `Ok(false)` on a conflict.
    fn commit(
        &self,
        key: &LedgerKey,
        version: u64,
        actions: &[Action],
    ) -> Result<bool, LedgerError>;
    /// Removes the actions a decision reserved (its outcome was "not acted"). Returns how many.
    fn release(&self, key: &LedgerKey, decision_id: &str) -> Result<usize, LedgerError>;
}

const SHARDS: usize = 64;

/// An in-process ledger: 64 mutex-guarded shards, so subjects rarely contend. Keeps at most
/// `retention` of history per subject.
pub struct MemoryLedger {
    shards: Vec<Mutex<HashMap<LedgerKey, History>>>,
    retention: jiff::SignedDuration,
}

impl Default for MemoryLedger {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLedger {
    pub fn new() -> Self {
        MemoryLedger {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            retention: jiff::SignedDuration::from_hours(24 * 40),
        }
    }

    fn shard(&self, key: &LedgerKey) -> &Mutex<HashMap<LedgerKey, History>> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    fn lock(
        &self,
        key: &LedgerKey,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<LedgerKey, History>>, LedgerError> {
        // A poisoned shard still holds consistent data: every write replaces a whole entry.
        Ok(self
            .shard(key)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Seeds history (for `policy eval --history` and tests).
    pub fn seed(&self, key: LedgerKey, mut actions: Vec<Action>) -> Result<(), LedgerError> {
        let mut shard = self.lock(&key)?;
        let entry = shard.entry(key).or_default();
        let mut all: Vec<Action> = entry.actions.to_vec();
        all.append(&mut actions);
        all.sort_by_key(|a| a.at);
        entry.actions = all.into();
        entry.version += 1;
        Ok(())
    }

    /// Seeds past actions; those naming no policy count for `default_policy`.
    pub fn seed_past(
        &self,
        past: Vec<PastAction>,
        default_policy: &str,
    ) -> Result<(), LedgerError> {
        for p in past {
            let key = LedgerKey {
                policy: Arc::from(p.policy.as_deref().unwrap_or(default_policy)),
                subject: Arc::from(p.subject.as_str()),
            };
            self.seed(key, vec![p.action])?;
        }
        Ok(())
    }

    /// Every action recorded, for tests and debugging.
    pub fn dump(&self) -> Vec<(LedgerKey, Vec<Action>)> {
        let mut out = vec![];
        for s in &self.shards {
            let s = s.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            out.extend(s.iter().map(|(k, h)| (k.clone(), h.actions.to_vec())));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

impl Ledger for MemoryLedger {
    fn read(&self, key: &LedgerKey) -> Result<History, LedgerError> {
        Ok(self.lock(key)?.get(key).cloned().unwrap_or_default())
    }

    fn commit(
        &self,
        key: &LedgerKey,
        version: u64,
        actions: &[Action],
    ) -> Result<bool, LedgerError> {
        let mut shard = self.lock(key)?;
        let entry = shard.entry(key.clone()).or_default();
        if entry.version != version {
            return Ok(false);
        }
        let newest = actions.iter().map(|a| a.at).max();
        let horizon = newest.and_then(|n| n.checked_sub(self.retention).ok());
        let mut all: Vec<Action> = entry
            .actions
            .iter()
            .filter(|a| horizon.is_none_or(|h| a.at >= h))
            .cloned()
            .collect();
        all.extend_from_slice(actions);
        all.sort_by_key(|a| a.at);
        entry.actions = all.into();
        entry.version += 1;
        Ok(true)
    }

    fn release(&self, key: &LedgerKey, decision_id: &str) -> Result<usize, LedgerError> {
        let mut shard = self.lock(key)?;
        let Some(entry) = shard.get_mut(key) else {
            return Ok(0);
        };
        let before = entry.actions.len();
        let kept: Vec<Action> = entry
            .actions
            .iter()
            .filter(|a| a.decision_id != decision_id)
            .cloned()
            .collect();
        let removed = before - kept.len();
        if removed > 0 {
            entry.actions = kept.into();
            entry.version += 1;
        }
        Ok(removed)
    }
}
