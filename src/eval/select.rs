//! Selection, in phases, each a function: the candidates ([`candidates`]) → their values and
//! scores ([`candidate_values`]) → the stateless guards ([`stateless_guards`]) → the ranking
//! ([`rank`]) → the stateful guards and the reservation, re-decided on a version conflict
//! ([`reserve`]) → the decision ([`verdict`]), and with `explain` the trace.

use super::trace::{CandidateTrace, Named, Step, Trace};
use super::{
    EvalError, Options, RequestState, interp, next_decision_id, path_value, stateful, time,
};
use crate::check::{CheckedPolicy, GuardKind, Level, NodeKind, Selection};
use crate::compile::CompiledPolicy;
use crate::decision::{Decision, ModelOutput, Outcome, Rejected, Selected};
use crate::ledger::{Action, Ledger, LedgerKey};
use crate::types::Value;
use jiff::Timestamp;
use std::sync::Arc;

/// What one guard says about one candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GuardResult {
    Pass,
    /// Blocked; for time-based guards (quiet hours, caps, gaps) `retry_at` is when this guard
    /// would pass again.
    Blocked {
        retry_at: Option<Timestamp>,
    },
    /// A cap or gap before the ledger is read: blocks nothing yet. [`reserve`] decides every
    /// one of them, so none is left pending in a decision.
    Pending,
}

impl GuardResult {
    pub(super) fn is_blocked(self) -> bool {
        matches!(self, GuardResult::Blocked { .. })
    }

    fn retry_at(self) -> Option<Timestamp> {
        match self {
            GuardResult::Blocked { retry_at } => retry_at,
            GuardResult::Pass | GuardResult::Pending => None,
        }
    }

    fn blocked_if(blocked: bool) -> GuardResult {
        if blocked {
            GuardResult::Blocked { retry_at: None }
        } else {
            GuardResult::Pass
        }
    }
}

/// One candidate during selection.
pub(super) struct Cand {
    pub attrs: Arc<[Value]>,
    /// Candidate-level node values, in `cand_nodes` order.
    pub vals: Vec<Value>,
    pub score: f64,
    /// One per guard, in declaration order.
    pub guards: Vec<GuardResult>,
}

impl Cand {
    fn new(attrs: Arc<[Value]>, c: &CheckedPolicy) -> Cand {
        Cand {
            attrs,
            vals: Vec::with_capacity(c.cand_nodes.len()),
            score: f64::NAN,
            guards: Vec::with_capacity(c.guards.len()),
        }
    }

    pub(super) fn id(&self) -> &str {
        match self.attrs.first() {
            Some(Value::Str(s)) => s,
            _ => "",
        }
    }

    fn is_blocked(&self) -> bool {
        self.guards.iter().any(|g| g.is_blocked())
    }
}

/// Selects among the candidates of `p` for one request; `steps` is the trace of the policies
/// routed through, or `None` without `explain`.
pub(super) fn select<'g>(
    p: &'g CompiledPolicy,
    mut req: RequestState<'g>,
    opts: &Options,
    ledger: &dyn Ledger,
    path: Vec<String>,
    steps: Option<Vec<Step<'g>>>,
) -> Result<Decision, EvalError> {
    let c = &p.checked;
    // one scratch buffer for the macro variables of every expression of this selection
    let mut vars = Vec::new();
    let mut cands = candidates(c, &req);
    candidate_values(p, &mut req, &mut cands, &mut vars)?;
    stateless_guards(c, &req, &mut cands, &mut vars);
    let order = rank(&cands);
    let decision_id = opts.decision_id.clone().unwrap_or_else(next_decision_id);
    let selected = reserve(p, &req, &mut cands, &order, &decision_id, opts, ledger)?;
    let Verdict {
        outcome,
        selected: sel,
        rejected,
    } = verdict(c, &cands, &order, &selected);
    let trace = steps.and_then(|mut steps| {
        steps.push(req.step(None));
        let candidates = candidate_traces(c, &cands, &order, &selected);
        Trace { steps, candidates }.into_json()
    });
    Ok(Decision {
        decision_id,
        policy: c.name.clone(),
        revision: p.revision.clone(),
        now: req.now,
        subject: req.subject.clone(),
        outcome,
        selected: sel,
        rejected,
        path,
        trace,
        telemetry: req.telemetry,
    })
}

/// The declared candidates, then those of the request's list, in order.
fn candidates(c: &CheckedPolicy, req: &RequestState) -> Vec<Cand> {
    let mut cands: Vec<Cand> = c
        .candidates
        .fixed
        .iter()
        .map(|a| Cand::new(a.clone(), c))
        .collect();
    if let Some((list_path, map)) = &c.candidates.from
        && let Some(Value::List(items)) = path_value(&req.ctx, list_path)
    {
        for item in items.iter() {
            if let Value::Record(fields) = item {
                let row: Vec<Value> = map
                    .iter()
                    .map(|i| {
                        fields
                            .get(*i as usize)
                            .cloned()
                            .flatten()
                            .unwrap_or(Value::Null)
                    })
                    .collect();
                cands.push(Cand::new(Arc::from(row), c));
            }
        }
    }
    cands
}

/// Candidate-level nodes, column by column (a per-candidate model runs once, batched), then
/// each candidate's score.
fn candidate_values(
    p: &CompiledPolicy,
    req: &mut RequestState,
    cands: &mut [Cand],
    vars: &mut Vec<Value>,
) -> Result<(), EvalError> {
    let c = &p.checked;
    let n = cands.len();
    for (j, node) in c.cand_nodes.iter().enumerate() {
        match (&node.kind, p.cand_models.get(j).and_then(Option::as_ref)) {
            (NodeKind::Model(b), Some(run)) if n > 0 => {
                let mut rows = Vec::with_capacity(n * b.inputs.len());
                for cand in cands.iter() {
                    let fr = req.frame(&cand.attrs, &cand.vals);
                    rows.extend(
                        b.inputs
                            .iter()
                            .map(|e| interp::eval(e, &fr, vars).as_f64() as f32),
                    );
                }
                let started = std::time::Instant::now();
                let out = run
                    .model
                    .run_column(rows, n, run.output, run.column)
                    .map_err(|m| EvalError::Model {
                        model: node.name.clone(),
                        message: m.to_string(),
                    })?;
                req.telemetry.inference += started.elapsed();
                for (cand, v) in cands.iter_mut().zip(out) {
                    req.telemetry.models.push(ModelOutput {
                        model: node.name.clone(),
                        candidate: Some(cand.id().to_string()),
                        value: v,
                    });
                    cand.vals.push(Value::Float(v));
                }
            }
            (NodeKind::Let(ex), _) => {
                for cand in cands.iter_mut() {
                    let v = interp::eval(ex, &req.frame(&cand.attrs, &cand.vals), vars);
                    cand.vals.push(v);
                }
            }
            _ => cands
                .iter_mut()
                .for_each(|cand| cand.vals.push(Value::Null)),
        }
    }
    if let Some(si) = c.score {
        for cand in cands.iter_mut() {
            cand.score = cand.vals.get(si as usize).map_or(f64::NAN, Value::as_f64);
        }
    }
    Ok(())
}

/// Every guard that needs no ledger, for every candidate; caps and gaps are left
/// [`GuardResult::Pending`].
fn stateless_guards(
    c: &CheckedPolicy,
    req: &RequestState,
    cands: &mut [Cand],
    vars: &mut Vec<Value>,
) {
    for (gi, g) in c.guards.iter().enumerate() {
        match &g.kind {
            GuardKind::Require {
                ex,
                level: Level::Request,
            } => {
                let pass = interp::eval(ex, &req.frame(&[], &[]), vars).as_bool();
                let result = GuardResult::blocked_if(!pass);
                cands.iter_mut().for_each(|cand| cand.guards.push(result));
            }
            GuardKind::Require {
                ex,
                level: Level::Candidate,
            } => {
                for cand in cands.iter_mut() {
                    let pass =
                        interp::eval(ex, &req.frame(&cand.attrs, &cand.vals), vars).as_bool();
                    cand.guards.push(GuardResult::blocked_if(!pass));
                }
            }
            GuardKind::Quiet { start, end } => {
                let result = match time::quiet(req.now, &req.tz, *start, *end) {
                    Some(until) => GuardResult::Blocked {
                        retry_at: Some(until),
                    },
                    None => GuardResult::Pass,
                };
                cands.iter_mut().for_each(|cand| cand.guards.push(result));
            }
            GuardKind::Cap { .. } | GuardKind::Gap { .. } => cands
                .iter_mut()
                .for_each(|cand| cand.guards.push(GuardResult::Pending)),
        }
        debug_assert!(cands.iter().all(|cand| cand.guards.len() == gi + 1));
    }
}

/// Candidate indices best first: score descending (NaN last), then declaration / request order.
fn rank(cands: &[Cand]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cands.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (cands[a].score, cands[b].score);
        let key = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
        key(y).total_cmp(&key(x)).then(a.cmp(&b))
    });
    order
}

/// The stateful guards and the reservation: reads the subject's history with its version,
/// decides every cap and gap ([`stateful_pass`]), and commits the selection's actions if the
/// version is unchanged; on a conflict, decides again on the new history. Returns the selected
/// candidate indices, best first.
fn reserve(
    p: &CompiledPolicy,
    req: &RequestState,
    cands: &mut [Cand],
    order: &[usize],
    decision_id: &str,
    opts: &Options,
    ledger: &dyn Ledger,
) -> Result<Vec<usize>, EvalError> {
    let c = &p.checked;
    let k = match &c.select {
        Selection::Top { k, .. } => *k,
        _ => 1,
    };
    let stateful: Vec<usize> = c
        .guards
        .iter()
        .enumerate()
        .filter(|(_, g)| g.kind.is_stateful())
        .map(|(i, _)| i)
        .collect();
    let key = req.subject.as_ref().map(|s| LedgerKey {
        policy: Arc::from(c.name.as_str()),
        subject: Arc::from(s.as_str()),
    });
    let mut attempts = 0;
    loop {
        let history = match (&key, stateful.is_empty()) {
            (Some(k), false) => ledger.read(k)?,
            _ => Default::default(),
        };
        let attempt = Attempt {
            p,
            req,
            order,
            k,
            stateful: &stateful,
            decision_id,
        };
        let (selected, reserved) = attempt.run(cands, &history.actions);
        let must_commit = !stateful.is_empty() && !reserved.is_empty() && !opts.dry_run;
        let Some(key) = key.as_ref().filter(|_| must_commit) else {
            return Ok(selected);
        };
        if ledger.commit(key, history.version, &reserved)? {
            return Ok(selected);
        }
        attempts += 1;
        if attempts > 1000 {
            return Err(EvalError::Contention);
        }
        // Someone else committed first: the next attempt re-decides every cap and gap.
    }
}

/// One attempt at the selection against one read of the history.
struct Attempt<'a> {
    p: &'a CompiledPolicy,
    req: &'a RequestState<'a>,
    order: &'a [usize],
    /// How many to select.
    k: usize,
    /// Indices of the caps and gaps among the guards.
    stateful: &'a [usize],
    decision_id: &'a str,
}

impl Attempt<'_> {
    /// Walks the ranking: decides every cap and gap of every candidate (counting the actions
    /// reserved so far while still selecting) and selects the first `k` that pass every guard.
    /// Returns the selected indices and their actions.
    fn run(&self, cands: &mut [Cand], history: &[Action]) -> (Vec<usize>, Vec<Action>) {
        let mut reserved: Vec<Action> = Vec::new();
        let mut selected: Vec<usize> = Vec::new();
        for &ci in self.order {
            let still_selecting = selected.len() < self.k;
            let counted: &[Action] = if still_selecting { &reserved } else { &[] };
            for &gi in self.stateful {
                let result = stateful::check(self.p, gi, &cands[ci], history, counted, self.req);
                cands[ci].guards[gi] = result;
            }
            let cand = &cands[ci];
            if still_selecting && !cand.is_blocked() {
                selected.push(ci);
                reserved.push(stateful::action_for(
                    self.p,
                    cand,
                    self.decision_id,
                    self.req.now,
                ));
            }
        }
        (selected, reserved)
    }
}

/// The decision's outcome, selection and rejections.
struct Verdict {
    outcome: Outcome,
    selected: Vec<Selected>,
    rejected: Vec<Rejected>,
}

/// The selected candidates, or the fallback when none is; every blocked candidate in rank
/// order with the guards that blocked it.
fn verdict(c: &CheckedPolicy, cands: &[Cand], order: &[usize], selected: &[usize]) -> Verdict {
    let fallback = match &c.select {
        Selection::Best { fallback } | Selection::Top { fallback, .. } => fallback.as_deref(),
        _ => None,
    };
    let score_of = |cand: &Cand| c.score.map(|_| cand.score).filter(|s| s.is_finite());
    let mut outcome = if selected.is_empty() {
        Outcome::None
    } else {
        Outcome::Selected
    };
    let mut sel: Vec<Selected> = selected
        .iter()
        .map(|&i| Selected {
            id: cands[i].id().to_string(),
            score: score_of(&cands[i]),
        })
        .collect();
    if selected.is_empty()
        && let Some(fb) = fallback
        && let Some(cand) = cands.iter().find(|cand| cand.id() == fb)
    {
        outcome = Outcome::Fallback;
        sel.push(Selected {
            id: fb.to_string(),
            score: score_of(cand),
        });
    }
    let rejected: Vec<Rejected> = order
        .iter()
        .map(|&i| &cands[i])
        .filter(|cand| cand.is_blocked())
        .map(|cand| {
            let guards = cand
                .guards
                .iter()
                .enumerate()
                .filter(|(_, g)| g.is_blocked())
                .map(|(gi, _)| c.guards[gi].name.clone())
                .collect();
            let retry_at = cand.guards.iter().filter_map(|g| g.retry_at()).max();
            Rejected {
                id: cand.id().to_string(),
                guards,
                retry_at,
                score: score_of(cand),
            }
        })
        .collect();
    Verdict {
        outcome,
        selected: sel,
        rejected,
    }
}

/// Every candidate in rank order with its attributes, values and guards.
fn candidate_traces<'a>(
    c: &'a CheckedPolicy,
    cands: &'a [Cand],
    order: &[usize],
    selected: &[usize],
) -> Vec<CandidateTrace<'a>> {
    order
        .iter()
        .map(|&i| {
            let cand = &cands[i];
            let attributes = c
                .candidates
                .attrs
                .fields
                .iter()
                .zip(cand.attrs.iter())
                .map(|(f, v)| (f.name.as_str(), v.to_json(Some(&f.ty))))
                .collect();
            let values = c
                .cand_nodes
                .iter()
                .zip(&cand.vals)
                .map(|(node, v)| (node.name.as_str(), v.to_json(Some(&node.ty))))
                .collect();
            let guards = c
                .guards
                .iter()
                .zip(&cand.guards)
                .map(|(g, r)| (g.name.as_str(), *r))
                .collect();
            CandidateTrace {
                id: cand.id(),
                attributes: Named(attributes),
                values: Named(values),
                guards: Named(guards),
                selected: selected.contains(&i),
            }
        })
        .collect()
}
