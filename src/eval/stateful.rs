//! Caps and gaps against the subject's history: the ledger side of selection.

use super::select::{Cand, GuardResult};
use super::{RequestState, time};
use crate::check::{GuardKind, Scope, Window};
use crate::compile::CompiledPolicy;
use crate::ledger::Action;
use crate::types::Value;
use jiff::Timestamp;
use std::collections::BTreeMap;

fn attr_string(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        other => other.to_json(None).to_string(),
    }
}

/// The action a selection of `cand` reserves.
pub(super) fn action_for(
    p: &CompiledPolicy,
    cand: &Cand,
    decision_id: &str,
    now: Timestamp,
) -> Action {
    let attrs: BTreeMap<String, String> = p
        .group_attrs
        .iter()
        .filter_map(|(i, name)| {
            cand.attrs
                .get(*i as usize)
                .map(|v| (name.clone(), attr_string(v)))
        })
        .collect();
    Action {
        decision_id: decision_id.to_string(),
        candidate: cand.id().to_string(),
        at: now,
        attrs,
    }
}

/// A past action's value of a grouping attribute: recorded with it, or, for a declared
/// candidate, its declared value.
fn action_attr(p: &CompiledPolicy, a: &Action, attr: u16) -> Option<String> {
    let name = &p.checked.candidates.attrs.fields.get(attr as usize)?.name;
    if let Some(v) = a.attrs.get(name) {
        return Some(v.clone());
    }
    p.checked
        .candidates
        .fixed
        .iter()
        .find(|row| matches!(row.first(), Some(Value::Str(id)) if id.as_ref() == a.candidate))
        .and_then(|row| row.get(attr as usize))
        .map(attr_string)
}

/// Checks cap or gap `gi` for one candidate against the history and the actions reserved so
/// far by this decision. Any other guard passes here.
pub(super) fn check(
    p: &CompiledPolicy,
    gi: usize,
    cand: &Cand,
    history: &[Action],
    reserved: &[Action],
    req: &RequestState,
) -> GuardResult {
    let g = &p.checked.guards[gi];
    let now = req.now;
    let scope = match &g.kind {
        GuardKind::Cap { scope, .. } | GuardKind::Gap { scope, .. } => *scope,
        _ => return GuardResult::Pass,
    };
    let own_attr = match scope {
        Scope::Attr(i) => cand.attrs.get(i as usize).map(attr_string),
        _ => None,
    };
    let in_scope = |a: &&Action| {
        a.at <= now
            && match scope {
                Scope::All => true,
                Scope::Candidate => a.candidate == cand.id(),
                Scope::Attr(i) => action_attr(p, a, i) == own_attr,
            }
    };
    let actions = history.iter().chain(reserved.iter()).filter(in_scope);
    match &g.kind {
        GuardKind::Cap {
            limit,
            window: Window::Day,
            ..
        } => {
            let Some(start) = time::day_start(now, &req.tz) else {
                return GuardResult::Pass;
            };
            let count = actions.filter(|a| a.at >= start).count() as u64;
            if count >= *limit {
                GuardResult::Blocked {
                    retry_at: time::next_day(now, &req.tz),
                }
            } else {
                GuardResult::Pass
            }
        }
        GuardKind::Cap {
            limit,
            window: Window::Rolling(w),
            ..
        } => {
            let from = now.checked_sub(*w).unwrap_or(Timestamp::MIN);
            let mut times: Vec<Timestamp> = actions.filter(|a| a.at > from).map(|a| a.at).collect();
            if (times.len() as u64) < *limit {
                return GuardResult::Pass;
            }
            times.sort();
            let idx = times.len() - *limit as usize;
            GuardResult::Blocked {
                retry_at: Some(time::add(times[idx], *w)),
            }
        }
        GuardKind::Gap { gap, .. } => {
            let Some(last) = actions.map(|a| a.at).max() else {
                return GuardResult::Pass;
            };
            let until = time::add(last, *gap);
            if until > now {
                GuardResult::Blocked {
                    retry_at: Some(until),
                }
            } else {
                GuardResult::Pass
            }
        }
        _ => GuardResult::Pass,
    }
}
