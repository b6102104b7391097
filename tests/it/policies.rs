//! The example policies under `policies/` decide on their example contexts.

use policy_engine::compile::{self, DecisionGraph};
use policy_engine::decision::{Decision, Outcome};
use policy_engine::eval::{self, EvalError, Options};
use policy_engine::ledger::MemoryLedger;
use serde_json::{Value, json};
use std::sync::OnceLock;

fn graph() -> &'static DecisionGraph {
    static G: OnceLock<DecisionGraph> = OnceLock::new();
    G.get_or_init(|| {
        let build = compile::build_paths(
            &[super::root().join("policies")],
            &super::root().join("models"),
        )
        .expect("read");
        assert!(build.errors().next().is_none(), "{:?}", build.diagnostics);
        build.graph.expect("graph")
    })
}

fn example(policy: &str) -> Value {
    let text =
        std::fs::read_to_string(super::root().join(format!("examples/contexts/{policy}.json")))
            .expect("example context");
    serde_json::from_str(&text).expect("json")
}

fn decide(policy: &str, ctx: &Value) -> Result<Decision, EvalError> {
    eval::decide(
        graph(),
        policy,
        ctx,
        &Options::at("2026-11-23T17:00:00Z".parse().expect("now")),
        &MemoryLedger::new(),
    )
}

#[test]
fn every_policy_has_an_example_context_that_decides() {
    for name in graph().policies.keys() {
        let d = decide(name, &example(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(d.path.first(), Some(name));
    }
}

#[test]
fn the_router_sends_high_churn_risk_to_the_playbook() {
    let d = decide("retention_router", &example("retention_router")).expect("decision");
    assert_eq!(d.path, vec!["retention_router", "churn_playbook"], "{d:#?}");
    assert_eq!(d.policy, "churn_playbook");
}

#[test]
fn the_router_sends_engaged_users_to_notifications() {
    let mut ctx = example("retention_router");
    for (k, v) in [
        ("dau_7", json!(7)),
        ("wau_4", json!(4)),
        ("avg_session_min_7", json!(15.0)),
        ("time_since_last_open_hr", json!(2)),
        ("warmth_delta_14d", json!(1.5)),
        ("weekly_outreach", json!(8)),
        ("contacts_touched_7", json!(9)),
        ("days_to_expiry", json!(60)),
        ("is_trialing", json!(false)),
    ] {
        ctx[k] = v;
    }
    let d = decide("retention_router", &ctx).expect("decision");
    assert_eq!(d.path, vec!["retention_router", "notifications"], "{d:#?}");
}

#[test]
fn the_paywall_is_a_gate_that_respects_its_guardrails() {
    let mut ctx = example("paywall");
    ctx["user"]["is_subscriber"] = json!(true);
    let d = decide("paywall", &ctx).expect("decision");
    assert_eq!(d.outcome, Outcome::None);
    assert!(
        d.rejected[0].guards.contains(&"not_paying".to_string()),
        "{d:#?}"
    );
}

#[test]
fn suggested_contacts_returns_the_top_five_of_the_request_list() {
    let d = decide("suggested_contacts", &example("suggested_contacts")).expect("decision");
    assert_eq!(d.selected.len(), 5, "{d:#?}");
    let scores: Vec<f64> = d.selected.iter().map(|s| s.score.expect("score")).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "best first: {scores:?}"
    );
    // The muted contact is never suggested.
    assert!(
        d.rejected
            .iter()
            .any(|r| r.id == "c03" && r.guards == vec!["not_muted".to_string()]),
        "{:?}",
        d.rejected
    );
}

#[test]
fn a_context_that_does_not_match_names_each_field_by_json_path() {
    let mut ctx = example("paywall");
    ctx["user"]["dau_7"] = json!("six");
    ctx["session"]
        .as_object_mut()
        .expect("object")
        .remove("sessions_7d");
    let Err(EvalError::InvalidContext { errors, .. }) = decide("paywall", &ctx) else {
        panic!("expected a context error")
    };
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, vec!["$.user.dau_7", "$.session.sessions_7d"]);
    assert_eq!(errors[0].expected, "float");
}

#[test]
fn an_unknown_time_zone_in_the_request_is_a_context_error() {
    let mut ctx = example("notifications");
    ctx["timezone"] = json!("Mars/Olympus");
    let Err(EvalError::InvalidContext { errors, .. }) = decide("notifications", &ctx) else {
        panic!("expected a context error")
    };
    assert_eq!(errors[0].path, "$.timezone");
}

#[test]
fn revisions_are_content_hashes() {
    let g = graph();
    let a = &g.policies["notifications"].revision;
    assert_eq!(a.len(), 16);
    // The router's revision covers the policies it routes to.
    assert_ne!(&g.policies["retention_router"].revision, a);
}
