//! The notification policy beyond what a decision test case can say: the subject echoed in the
//! decision, the λ penalty as a param (a changed policy), the `--explain` trace, and a selection
//! reserved for the next decision. Caps, gaps, quiet hours across midnight and DST, and their
//! `retry_at`, are cases: `policies/notifications.test.yaml` and
//! `tests/fixtures/test/quiet_edges/` (run by `testing`).

use policy_engine::compile::{self, DecisionGraph};
use policy_engine::decision::{Decision, Outcome};
use policy_engine::eval::{self, Options};
use policy_engine::ledger::MemoryLedger;
use policy_engine::model::ModelStore;
use policy_engine::source::SourceMap;
use serde_json::{Value, json};
use std::sync::OnceLock;

fn build_with(replace: Option<(&str, &str)>) -> DecisionGraph {
    let path = super::root().join("policies/notifications.policy");
    let mut text = std::fs::read_to_string(&path).expect("policy exists");
    if let Some((from, to)) = replace {
        assert!(text.contains(from), "`{from}` not in the policy");
        text = text.replace(from, to);
    }
    let mut sources = SourceMap::new();
    sources.add("policies/notifications.policy", text);
    let build = compile::build(sources, &ModelStore::new(super::root().join("models")));
    assert!(build.errors().next().is_none(), "{:?}", build.diagnostics);
    build.graph.expect("graph")
}

fn graph() -> &'static DecisionGraph {
    static G: OnceLock<DecisionGraph> = OnceLock::new();
    G.get_or_init(|| build_with(None))
}

fn context() -> Value {
    let text = std::fs::read_to_string(super::root().join("examples/contexts/notifications.json"))
        .expect("context");
    serde_json::from_str(&text).expect("json")
}

/// Decides at `now` for user u1 with an empty ledger.
fn decide_on(g: &DecisionGraph, ctx: &Value, now: &str) -> Decision {
    eval::decide(
        g,
        "notifications",
        ctx,
        &Options::at(now.parse().expect("now")),
        &MemoryLedger::new(),
    )
    .expect("decision")
}

fn blocked_by<'a>(d: &'a Decision, guard: &str) -> Vec<&'a policy_engine::decision::Rejected> {
    d.rejected
        .iter()
        .filter(|r| r.guards.iter().any(|g| g == guard))
        .collect()
}

/// 12:00 in New York on 2026-11-23 (EST, UTC-5).
const NOON_NY: &str = "2026-11-23T17:00:00Z";

#[test]
fn selects_a_topic_when_nothing_blocks() {
    let d = decide_on(graph(), &context(), NOON_NY);
    assert_eq!(d.outcome, Outcome::Selected, "{d:#?}");
    assert_eq!(d.selected.len(), 1);
    assert_eq!(d.path, vec!["notifications"]);
    assert_eq!(d.subject.as_deref(), Some("u1"));
}

#[test]
fn the_lambda_penalty_changes_which_topic_wins() {
    let mut ctx = context();
    ctx["sent_in_last_7d"] = json!(1);
    let low = decide_on(graph(), &ctx, NOON_NY);
    let heavy = build_with(Some((
        "param fatigue_lambda: float = 0.02",
        "param fatigue_lambda: float = 0.2",
    )));
    let high = decide_on(&heavy, &ctx, NOON_NY);
    assert_eq!(low.outcome, Outcome::Selected, "{low:#?}");
    assert_eq!(high.outcome, Outcome::Selected, "{high:#?}");
    assert_ne!(
        low.selected[0].id, high.selected[0].id,
        "λ=0.02 picked {:?}, λ=0.2 picked {:?}",
        low.selected, high.selected
    );
    // A light penalty lets the best push topic win; a heavy one favours a less tiring channel.
    let push = [
        "reminder",
        "warmth_nudge",
        "streak",
        "new_contact",
        "follow_up",
    ];
    assert!(
        push.contains(&low.selected[0].id.as_str()),
        "{:?}",
        low.selected
    );
    assert!(
        !push.contains(&high.selected[0].id.as_str()),
        "{:?}",
        high.selected
    );
}

#[test]
fn explain_traces_models_scores_and_guards() {
    let g = graph();
    let ledger = MemoryLedger::new();
    let opts = Options {
        explain: true,
        ..Options::at(NOON_NY.parse().expect("now"))
    };
    let d = eval::decide(g, "notifications", &context(), &opts, &ledger).expect("decision");
    let trace = d.trace.expect("trace");
    let first = &trace["candidates"][0];
    assert!(first["values"]["returned_24h"].is_f64(), "{first}");
    assert!(first["values"]["score"].is_f64());
    assert_eq!(first["guards"]["daily_cap"]["pass"], true);
    assert_eq!(trace["steps"][0]["local"]["hour"], 12);
}

#[test]
fn a_selection_is_reserved_so_the_next_decision_sees_it() {
    let g = graph();
    let ledger = MemoryLedger::new();
    let now = NOON_NY.parse().expect("now");
    let first =
        eval::decide(g, "notifications", &context(), &Options::at(now), &ledger).expect("first");
    assert_eq!(first.outcome, Outcome::Selected);
    let second =
        eval::decide(g, "notifications", &context(), &Options::at(now), &ledger).expect("second");
    assert!(second.selected.is_empty());
    assert_eq!(blocked_by(&second, "min_gap").len(), 8);
}
