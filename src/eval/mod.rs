//! `eval`: request + `now` + ledger → decision + trace.
//!
//! [`decide`] validates the request and computes its request-level values per policy
//! (`RequestState`), follows routes (`route`) until a policy selects, then hands over to
//! `select::select`, which runs the selection's phases (`select.rs`; caps and gaps against the
//! ledger in `stateful.rs`). With `explain`, each step is recorded in a typed `trace::Trace`,
//! serialised once into [`Decision::trace`].

mod interp;
pub mod request;
mod select;
mod stateful;
mod time;
mod trace;

pub use interp::Local;
pub use request::{FieldError, context_schema, validate};

use crate::check::{NodeKind, Selection, Zone};
use crate::compile::{CompiledPolicy, DecisionGraph};
use crate::decision::{Decision, ModelOutput, Telemetry};
use crate::ir::Ex;
use crate::ledger::{Ledger, LedgerError};
use crate::types::Value;
use interp::Frame;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value as J;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use trace::{LocalTrace, Named, RouteTrace, Step};

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
    let mut steps: Option<Vec<Step>> = opts.explain.then(Vec::new);
    let mut name = policy.to_string();
    loop {
        let p = graph
            .policy(&name)
            .ok_or_else(|| EvalError::UnknownPolicy(name.clone()))?;
        path.push(name.clone());
        let req = RequestState::new(p, context, opts.now)?;
        if let Selection::Route { rules, otherwise } = &p.checked.select {
            let (target, routes) = route(&req, rules, otherwise.as_deref(), steps.is_some());
            if let Some(steps) = &mut steps {
                steps.push(req.step(routes));
            }
            // `check` rejects cycles; this bound only guards against a graph built otherwise.
            if path.iter().any(|p| p == target) {
                path.push(target.to_string());
                return Err(EvalError::RouteCycle(path));
            }
            name = target.to_string();
            continue;
        }
        return select::select(p, req, opts, ledger, path, steps);
    }
}

/// The first route whose condition holds, else `otherwise` (else the empty name, unknown);
/// with `explain`, every route evaluated, in order.
fn route<'p>(
    req: &RequestState<'p>,
    rules: &'p [(Ex, String)],
    otherwise: Option<&'p str>,
    explain: bool,
) -> (&'p str, Option<Vec<RouteTrace<'p>>>) {
    let fr = req.frame(&[], &[]);
    let mut vars = Vec::new();
    let mut evaluated = explain.then(Vec::new);
    let mut target = None;
    for (ex, to) in rules {
        let matched = interp::eval(ex, &fr, &mut vars).as_bool();
        if let Some(evaluated) = &mut evaluated {
            evaluated.push(RouteTrace { to, matched });
        }
        if matched {
            target = Some(to.as_str());
            break;
        }
    }
    (target.or(otherwise).unwrap_or_default(), evaluated)
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
                            message: m.to_string(),
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

    /// This policy's step of the trace: local time and request-level values.
    fn step(&self, routes: Option<Vec<RouteTrace<'p>>>) -> Step<'p> {
        let p: &'p CompiledPolicy = self.p;
        Step {
            policy: p.name(),
            local: LocalTrace {
                zone: self.tz.iana_name().unwrap_or("UTC").to_string(),
                hour: self.local.hour,
                minute: self.local.minute,
                weekday: self.local.weekday,
            },
            values: Named(
                p.checked
                    .req_nodes
                    .iter()
                    .zip(&self.req)
                    .map(|(n, v)| (n.name.as_str(), v.to_json(Some(&n.ty))))
                    .collect(),
            ),
            routes,
        }
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

/// Evaluates an expression-free helper for tests: the local time of `now` in `zone`.
pub fn local_time(now: Timestamp, zone: &str) -> Option<Local> {
    TimeZone::get(zone).ok().map(|tz| time::local(now, &tz))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    //! The decision and `explain` trace JSON, byte for byte, over routing, every guard kind,
    //! reservations within one decision, fallbacks and request-list candidates. Model-free, so
    //! the floats are the same on every machine.
    use super::{Options, decide};
    use crate::compile::{self, DecisionGraph};
    use crate::ledger::MemoryLedger;
    use crate::model::ModelStore;
    use crate::source::SourceMap;
    use serde_json::json;

    const POLICIES: &str = r#"
policy router {
    context {
        user: string
        tz: string
        on: bool
        level: int
        contacts: list<{ id: string, weight: float, muted: bool = false }>
    }
    let doubled = level * 2
    route {
        when doubled > 100 -> nowhere
        when on -> picker
        otherwise -> contacts
    }
}

policy nowhere {
    context { user: string }
    select gate
}

policy picker {
    context {
        user: string
        tz: string
        on: bool
        level: int
    }
    subject user zone tz
    candidates {
        a { channel: "push", weight: 3.0 }
        b { channel: "push", weight: 2.0 }
        c { channel: "email", weight: 1.0 }
        d { channel: "email", weight: 0.5 }
    }
    let boosted = candidate.weight * level
    score = boosted
    guard switched_on: require on
    guard not_c: require candidate.channel != "email" || candidate.weight > 0.75
    guard one_push_a_day: cap 1 per day by candidate.channel
    guard spaced: gap 2h by candidate
    guard quiet: quiet 22:00 to 07:00
    select top 2
    fallback d
}

policy contacts {
    context {
        user: string
        tz: string
        contacts: list<{ id: string, weight: float, muted: bool = false }>
    }
    subject user zone tz
    candidates from contacts
    score = candidate.weight
    guard not_muted: require !candidate.muted
    guard weekly: cap 1 per 7d by candidate
    guard total: cap 2 per 24h
    select top 3
}
"#;

    fn graph() -> DecisionGraph {
        let mut sources = SourceMap::new();
        sources.add("trace.policy", POLICIES);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let build = compile::build(sources, &ModelStore::new(dir));
        assert!(build.errors().next().is_none(), "{:?}", build.diagnostics);
        build.graph.expect("graph")
    }

    /// Decides `ctx` at each time in turn on one ledger; every decision's JSON, explained.
    fn decisions(ctx: serde_json::Value, times: &[&str]) -> String {
        let g = graph();
        let ledger = MemoryLedger::new();
        let mut out = String::new();
        for (i, now) in times.iter().enumerate() {
            let opts = Options {
                explain: true,
                decision_id: Some(format!("d{i}")),
                ..Options::at(now.parse().expect("now"))
            };
            let d = decide(&g, "router", &ctx, &opts, &ledger).expect("decision");
            out.push_str(&serde_json::to_string(&d).expect("json"));
            out.push('\n');
            out.push_str(&serde_json::to_string_pretty(&d).expect("json"));
            out.push('\n');
        }
        out
    }

    fn context(on: bool) -> serde_json::Value {
        json!({
            "user": "u1",
            "tz": "Europe/Berlin",
            "on": on,
            "level": 2,
            "contacts": [
                {"id": "x", "weight": 0.5},
                {"id": "y", "weight": 2.5, "muted": true},
                {"id": "z", "weight": 1.5},
                {"id": "w", "weight": 1.0},
            ],
        })
    }

    #[test]
    fn fixed_candidates_through_caps_gaps_quiet_hours_and_fallback() {
        insta::assert_snapshot!(decisions(
            context(true),
            &[
                "2026-06-01T10:00:00Z",
                "2026-06-01T11:00:00Z",
                "2026-06-01T21:30:00Z",
            ],
        ));
    }

    #[test]
    fn request_candidates_through_rolling_caps() {
        insta::assert_snapshot!(decisions(
            context(false),
            &["2026-06-01T10:00:00Z", "2026-06-01T10:30:00Z"],
        ));
    }

    #[test]
    fn without_explain_there_is_no_trace() {
        let g = graph();
        let opts = Options::at("2026-06-01T10:00:00Z".parse().expect("now"));
        let d =
            decide(&g, "router", &context(true), &opts, &MemoryLedger::new()).expect("decision");
        assert!(d.trace.is_none());
        assert_eq!(d.path, vec!["router", "picker"]);
    }
}
