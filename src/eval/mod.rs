//! `eval`: request + `now` + ledger → decision + trace.

mod interp;
pub mod request;
mod time;

pub use interp::Local;
pub use request::{FieldError, context_schema, validate};

use crate::check::{GuardKind, Level, NodeKind, Scope, Selection, Window, Zone};
use crate::compile::{CompiledPolicy, DecisionGraph};
use crate::decision::{Decision, ModelOutput, Outcome, Rejected, Selected, Telemetry};
use crate::ledger::{Action, Ledger, LedgerError, LedgerKey};
use crate::types::Value;
use interp::Frame;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value as J, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How to evaluate one request.
#[derive(Debug, Clone)]
pub struct Options {
    /// The decision time. Read from the clock only at the edge (CLI, server).
    pub now: Timestamp,
    pub explain: bool,
    /// Use this id instead of generating one (for replays).
    pub decision_id: Option<String>,
    /// Evaluate without reserving actions in the ledger.
    pub dry_run: bool,
}

impl Options {
    pub fn at(now: Timestamp) -> Self {
        Options {
            now,
            explain: false,
            decision_id: None,
            dry_run: false,
        }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum EvalError {
    #[error("unknown policy `{0}`")]
    UnknownPolicy(String),
    #[error("the context does not match policy `{policy}`: {}", .errors.iter().map(|e| format!("{}: {}", e.path, e.message)).collect::<Vec<_>>().join("; "))]
    InvalidContext {
        policy: String,
        errors: Vec<FieldError>,
    },
    #[error("model `{model}` failed: {message}")]
    Model { model: String, message: String },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("too many concurrent decisions for one subject; try again")]
    Contention,
    /// Routes led back to a policy already on the path (the path, in order).
    #[error("routes form a cycle: {}", .0.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(" → "))]
    RouteCycle(Vec<String>),
}

/// Generates unique decision ids without reading the clock: a random per-process prefix and a
/// counter.
fn next_decision_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    format!(
        "{:012x}-{:010x}",
        prefix & 0xffff_ffff_ffff,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Decides for one request: routes until a policy selects, then selects.
pub fn decide(
    graph: &DecisionGraph,
    policy: &str,
    context: &J,
    opts: &Options,
    ledger: &dyn Ledger,
) -> Result<Decision, EvalError> {
    let mut path: Vec<String> = Vec::new();
    let mut trace_steps: Vec<J> = Vec::new();
    let mut name = policy.to_string();
    loop {
        let p = graph
            .policy(&name)
            .ok_or_else(|| EvalError::UnknownPolicy(name.clone()))?;
        path.push(name.clone());
        let req = RequestState::new(p, context, opts.now)?;
        if let Selection::Route { rules, otherwise } = &p.checked.select {
            let fr = req.frame(&[], &[]);
            let mut vars = Vec::new();
            let mut target = None;
            let mut evaluated = Vec::new();
            for (ex, t) in rules {
                let hit = interp::eval(ex, &fr, &mut vars).as_bool();
                evaluated.push(json!({"to": t, "matched": hit}));
                if hit {
                    target = Some(t.clone());
                    break;
                }
            }
            let target = target.or_else(|| otherwise.clone()).unwrap_or_default();
            if opts.explain {
                trace_steps.push(json!({"policy": p.name(), "local": req.local_json(), "values": req.values_json(), "routes": evaluated}));
            }
            // `check` rejects cycles; this bound only guards against a graph built otherwise.
            if path.contains(&target) {
                path.push(target);
                return Err(EvalError::RouteCycle(path));
            }
            name = target;
            continue;
        }
        return select(p, req, opts, ledger, path, trace_steps);
    }
}

/// The request-level state of one policy.
struct RequestState<'p> {
    p: &'p CompiledPolicy,
    ctx: Arc<[Option<Value>]>,
    now: Timestamp,
    tz: TimeZone,
    local: Local,
    subject: Option<String>,
    req: Vec<Value>,
    telemetry: Telemetry,
}

fn path_value(ctx: &Arc<[Option<Value>]>, path: &[u16]) -> Option<Value> {
    let mut cur: Option<Value> = ctx.get(*path.first()? as usize).cloned().flatten();
    for i in &path[1..] {
        cur = match cur {
            Some(Value::Record(f)) => f.get(*i as usize).cloned().flatten(),
            _ => None,
        };
    }
    cur
}

impl<'p> RequestState<'p> {
    fn new(p: &'p CompiledPolicy, context: &J, now: Timestamp) -> Result<Self, EvalError> {
        let c = &p.checked;
        let invalid = |errors| EvalError::InvalidContext {
            policy: c.name.clone(),
            errors,
        };
        let ctx = match validate(&c.context, context).map_err(invalid)? {
            Value::Record(f) => f,
            _ => Arc::from(Vec::new()),
        };
        let (tz, subject) = match &c.subject {
            None => (TimeZone::UTC, None),
            Some(s) => {
                let key = match path_value(&ctx, &s.key) {
                    Some(Value::Str(k)) => Some(k.to_string()),
                    Some(Value::Int(i)) => Some(i.to_string()),
                    _ => None,
                };
                let tz = match &s.zone {
                    Zone::Fixed(tz) => tz.clone(),
                    Zone::Field(path) => {
                        let name = match path_value(&ctx, path) {
                            Some(Value::Str(n)) => n,
                            _ => Arc::from("UTC"),
                        };
                        TimeZone::get(&name).map_err(|_| {
                            invalid(vec![FieldError {
                                path: format!("$.{}", field_path(&c.context, path)),
                                expected: "IANA time zone".into(),
                                message: format!("unknown time zone `{name}`"),
                            }])
                        })?
                    }
                };
                (tz, key)
            }
        };
        let local = time::local(now, &tz);
        let mut st = RequestState {
            p,
            ctx,
            now,
            tz,
            local,
            subject,
            req: Vec::with_capacity(c.req_nodes.len()),
            telemetry: Telemetry::default(),
        };
        for (i, node) in c.req_nodes.iter().enumerate() {
            let v = match (&node.kind, p.req_models.get(i).and_then(Option::as_ref)) {
                (NodeKind::Model(b), Some(run)) => {
                    let fr = st.frame(&[], &[]);
                    let mut vars = Vec::new();
                    let row: Vec<f32> = b
                        .inputs
                        .iter()
                        .map(|e| interp::eval(e, &fr, &mut vars).as_f64() as f32)
                        .collect();
                    let started = std::time::Instant::now();
                    let out = run
                        .model
                        .run_column(row, 1, run.output, run.column)
                        .map_err(|m| EvalError::Model {
                            model: node.name.clone(),
                            message: m,
                        })?;
                    let value = out.first().copied().unwrap_or(f64::NAN);
                    st.telemetry.inference += started.elapsed();
                    st.telemetry.models.push(ModelOutput {
                        model: node.name.clone(),
                        candidate: None,
                        value,
                    });
                    Value::Float(value)
                }
                (NodeKind::Let(ex), _) => {
                    let fr = st.frame(&[], &[]);
                    interp::eval(ex, &fr, &mut Vec::new())
                }
                (NodeKind::Model(_), None) => Value::Null,
            };
            st.req.push(v);
        }
        Ok(st)
    }

    fn frame<'a>(&'a self, attrs: &'a [Value], cand: &'a [Value]) -> Frame<'a> {
        Frame {
            ctx: &self.ctx,
            req: &self.req,
            attrs,
            cand,
            now: self.now,
            local: self.local,
        }
    }

    fn local_json(&self) -> J {
        json!({"zone": self.tz.iana_name().unwrap_or("UTC"), "hour": self.local.hour, "minute": self.local.minute, "weekday": self.local.weekday})
    }

    fn values_json(&self) -> J {
        let mut m = Map::new();
        for (n, v) in self.p.checked.req_nodes.iter().zip(&self.req) {
            m.insert(n.name.clone(), v.to_json(Some(&n.ty)));
        }
        J::Object(m)
    }
}

fn field_path(ty: &crate::types::RecordTy, path: &[u16]) -> String {
    let mut out = Vec::new();
    let mut cur = ty.clone();
    for i in path {
        let Some(f) = cur.fields.get(*i as usize) else {
            break;
        };
        out.push(f.name.clone());
        if let crate::types::Ty::Record(r) = &f.ty {
            cur = (**r).clone();
        }
    }
    out.join(".")
}

/// One candidate during selection.
struct Cand {
    attrs: Arc<[Value]>,
    vals: Vec<Value>,
    score: f64,
    /// Per guard: `None` pass, `Some(retry)` blocked (retry for time-based guards).
    blocked: Vec<Option<Option<Timestamp>>>,
}

impl Cand {
    fn id(&self) -> &str {
        match self.attrs.first() {
            Some(Value::Str(s)) => s,
            _ => "",
        }
    }
}

fn select(
    p: &CompiledPolicy,
    mut req: RequestState,
    opts: &Options,
    ledger: &dyn Ledger,
    path: Vec<String>,
    mut trace_steps: Vec<J>,
) -> Result<Decision, EvalError> {
    let c = &p.checked;
    // ---- candidates --------------------------------------------------------------------------
    let mut cands: Vec<Cand> = c
        .candidates
        .fixed
        .iter()
        .map(|a| Cand {
            attrs: a.clone(),
            vals: Vec::new(),
            score: f64::NAN,
            blocked: Vec::new(),
        })
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
                cands.push(Cand {
                    attrs: Arc::from(row),
                    vals: Vec::new(),
                    score: f64::NAN,
                    blocked: Vec::new(),
                });
            }
        }
    }
    let n = cands.len();
    // ---- candidate nodes, column by column (per-candidate models run once, batched) -------------
    let mut vars = Vec::new();
    for (j, node) in c.cand_nodes.iter().enumerate() {
        match (&node.kind, p.cand_models.get(j).and_then(Option::as_ref)) {
            (NodeKind::Model(b), Some(run)) if n > 0 => {
                let mut rows = Vec::with_capacity(n * b.inputs.len());
                for cand in &cands {
                    let fr = req.frame(&cand.attrs, &cand.vals);
                    rows.extend(
                        b.inputs
                            .iter()
                            .map(|e| interp::eval(e, &fr, &mut vars).as_f64() as f32),
                    );
                }
                let started = std::time::Instant::now();
                let out = run
                    .model
                    .run_column(rows, n, run.output, run.column)
                    .map_err(|m| EvalError::Model {
                        model: node.name.clone(),
                        message: m,
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
                    let v = interp::eval(ex, &req.frame(&cand.attrs, &cand.vals), &mut vars);
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
    // ---- stateless guards ------------------------------------------------------------------------
    for (gi, g) in c.guards.iter().enumerate() {
        match &g.kind {
            GuardKind::Require {
                ex,
                level: Level::Request,
            } => {
                let pass = interp::eval(ex, &req.frame(&[], &[]), &mut vars).as_bool();
                cands
                    .iter_mut()
                    .for_each(|cand| cand.blocked.push((!pass).then_some(None)));
            }
            GuardKind::Require {
                ex,
                level: Level::Candidate,
            } => {
                for cand in cands.iter_mut() {
                    let pass =
                        interp::eval(ex, &req.frame(&cand.attrs, &cand.vals), &mut vars).as_bool();
                    cand.blocked.push((!pass).then_some(None));
                }
            }
            GuardKind::Quiet { start, end } => {
                let q = time::quiet(req.now, &req.tz, *start, *end);
                cands
                    .iter_mut()
                    .for_each(|cand| cand.blocked.push(q.map(Some)));
            }
            _ => cands.iter_mut().for_each(|cand| cand.blocked.push(None)),
        }
        debug_assert!(cands.iter().all(|cand| cand.blocked.len() == gi + 1));
    }
    // ---- ranking: score descending (NaN last), then declaration / request order ------------------
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (cands[a].score, cands[b].score);
        let key = |v: f64| if v.is_nan() { f64::NEG_INFINITY } else { v };
        key(y).total_cmp(&key(x)).then(a.cmp(&b))
    });
    let k = match &c.select {
        Selection::Top { k, .. } => *k,
        _ => 1,
    };
    // ---- stateful guards and reservation ------------------------------------------------------------
    let stateful: Vec<usize> = c
        .guards
        .iter()
        .enumerate()
        .filter(|(_, g)| g.kind.is_stateful())
        .map(|(i, _)| i)
        .collect();
    let decision_id = opts.decision_id.clone().unwrap_or_else(next_decision_id);
    let key = req.subject.as_ref().map(|s| LedgerKey {
        policy: Arc::from(c.name.as_str()),
        subject: Arc::from(s.as_str()),
    });
    let mut selected: Vec<usize>;
    let mut attempts = 0;
    loop {
        let history = match (&key, stateful.is_empty()) {
            (Some(k), false) => ledger.read(k)?,
            _ => Default::default(),
        };
        let mut reserved: Vec<Action> = Vec::new();
        selected = Vec::new();
        let mut stateful_blocks: Vec<Vec<(usize, Option<Timestamp>)>> = vec![Vec::new(); n];
        for &ci in &order {
            let cand = &cands[ci];
            let still_selecting = selected.len() < k;
            let counted: &[Action] = if still_selecting { &reserved } else { &[] };
            for &gi in &stateful {
                if let Some(retry) = stateful_check(p, gi, cand, &history.actions, counted, &req) {
                    stateful_blocks[ci].push((gi, retry));
                }
            }
            let ok = cand.blocked.iter().all(Option::is_none) && stateful_blocks[ci].is_empty();
            if ok && still_selecting {
                selected.push(ci);
                reserved.push(action_for(p, cand, &decision_id, req.now));
            }
        }
        for (ci, blocks) in stateful_blocks.into_iter().enumerate() {
            for (gi, retry) in blocks {
                cands[ci].blocked[gi] = Some(retry);
            }
        }
        let must_commit = !stateful.is_empty() && !reserved.is_empty() && !opts.dry_run;
        let Some(k) = key.as_ref().filter(|_| must_commit) else {
            break;
        };
        if ledger.commit(k, history.version, &reserved)? {
            break;
        }
        attempts += 1;
        if attempts > 1000 {
            return Err(EvalError::Contention);
        }
        // Someone else committed first: re-decide the stateful guards on the new history.
        for cand in cands.iter_mut() {
            for &gi in &stateful {
                cand.blocked[gi] = None;
            }
        }
    }
    // ---- the decision -----------------------------------------------------------------------------------
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
        .filter(|cand| cand.blocked.iter().any(Option::is_some))
        .map(|cand| {
            let guards = cand
                .blocked
                .iter()
                .enumerate()
                .filter(|(_, b)| b.is_some())
                .map(|(gi, _)| c.guards[gi].name.clone())
                .collect();
            let retry_at = cand.blocked.iter().filter_map(|b| b.flatten()).max();
            Rejected {
                id: cand.id().to_string(),
                guards,
                retry_at,
                score: score_of(cand),
            }
        })
        .collect();
    let trace = opts.explain.then(|| {
        trace_steps.push(json!({"policy": c.name, "local": req.local_json(), "values": req.values_json()}));
        let cands_json: Vec<J> = order
            .iter()
            .map(|&i| {
                let cand = &cands[i];
                let mut attrs = Map::new();
                for (f, v) in c.candidates.attrs.fields.iter().zip(cand.attrs.iter()) {
                    attrs.insert(f.name.clone(), v.to_json(Some(&f.ty)));
                }
                let mut vals = Map::new();
                for (node, v) in c.cand_nodes.iter().zip(&cand.vals) {
                    vals.insert(node.name.clone(), v.to_json(Some(&node.ty)));
                }
                let mut guards = Map::new();
                for (g, b) in c.guards.iter().zip(&cand.blocked) {
                    let entry = match b {
                        None => json!({"pass": true}),
                        Some(None) => json!({"pass": false}),
                        Some(Some(t)) => json!({"pass": false, "retry_at": t.to_string()}),
                    };
                    guards.insert(g.name.clone(), entry);
                }
                json!({"id": cand.id(), "attributes": attrs, "values": vals, "guards": guards, "selected": selected.contains(&i)})
            })
            .collect();
        json!({"steps": trace_steps, "candidates": cands_json})
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

fn attr_string(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        other => other.to_json(None).to_string(),
    }
}

fn action_for(p: &CompiledPolicy, cand: &Cand, decision_id: &str, now: Timestamp) -> Action {
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

/// Checks a cap or gap for one candidate. `None`: passes; `Some(retry)`: blocked until `retry`.
fn stateful_check(
    p: &CompiledPolicy,
    gi: usize,
    cand: &Cand,
    history: &[Action],
    reserved: &[Action],
    req: &RequestState,
) -> Option<Option<Timestamp>> {
    let g = &p.checked.guards[gi];
    let now = req.now;
    let scope = match &g.kind {
        GuardKind::Cap { scope, .. } | GuardKind::Gap { scope, .. } => *scope,
        _ => return None,
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
            let start = time::day_start(now, &req.tz)?;
            let count = actions.filter(|a| a.at >= start).count() as u64;
            (count >= *limit).then(|| time::next_day(now, &req.tz))
        }
        GuardKind::Cap {
            limit,
            window: Window::Rolling(w),
            ..
        } => {
            let from = now.checked_sub(*w).unwrap_or(Timestamp::MIN);
            let mut times: Vec<Timestamp> = actions.filter(|a| a.at > from).map(|a| a.at).collect();
            if (times.len() as u64) < *limit {
                return None;
            }
            times.sort();
            let idx = times.len() - *limit as usize;
            Some(Some(time::add(times[idx], *w)))
        }
        GuardKind::Gap { gap, .. } => {
            let last = actions.map(|a| a.at).max()?;
            let until = time::add(last, *gap);
            (until > now).then_some(Some(until))
        }
        _ => None,
    }
}

/// Evaluates an expression-free helper for tests: the local time of `now` in `zone`.
pub fn local_time(now: Timestamp, zone: &str) -> Option<Local> {
    TimeZone::get(zone).ok().map(|tz| time::local(now, &tz))
}
