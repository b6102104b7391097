//! The notification policy's guardrails: caps, gaps, quiet hours (across DST and midnight), the
//! λ penalty, and the all-blocked result.

use policy_engine::compile::{self, DecisionGraph};
use policy_engine::decision::{Decision, Outcome};
use policy_engine::eval::{self, Options};
use policy_engine::ledger::{Action, LedgerKey, MemoryLedger};
use policy_engine::model::ModelStore;
use policy_engine::source::SourceMap;
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};

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

/// Decides at `now` for user u1 (New York unless `ctx` says otherwise), with past sends.
fn decide_on(g: &DecisionGraph, ctx: &Value, now: &str, past: &[&str]) -> Decision {
    let ledger = MemoryLedger::new();
    let key = LedgerKey {
        policy: Arc::from("notifications"),
        subject: Arc::from("u1"),
    };
    let actions = past
        .iter()
        .map(|t| Action {
            decision_id: String::new(),
            candidate: "reminder".into(),
            at: t.parse().expect("time"),
            attrs: Default::default(),
        })
        .collect();
    ledger.seed(key, actions).expect("seed");
    eval::decide(
        g,
        "notifications",
        ctx,
        &Options::at(now.parse().expect("now")),
        &ledger,
    )
    .expect("decision")
}

fn decide(now: &str, past: &[&str]) -> Decision {
    decide_on(graph(), &context(), now, past)
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
    let d = decide(NOON_NY, &[]);
    assert_eq!(d.outcome, Outcome::Selected, "{d:#?}");
    assert_eq!(d.selected.len(), 1);
    assert_eq!(d.path, vec!["notifications"]);
    assert_eq!(d.subject.as_deref(), Some("u1"));
}

#[test]
fn daily_cap_blocks_after_two_sends_today() {
    // Two sends today (local), at 00:30 and 03:00 New York time; the 8 h gap has passed.
    let d = decide(NOON_NY, &["2026-11-23T05:30:00Z", "2026-11-23T08:00:00Z"]);
    assert!(d.selected.is_empty(), "{d:#?}");
    let capped = blocked_by(&d, "daily_cap");
    assert_eq!(capped.len(), 8);
    // Retry at the next local midnight: 2026-11-24 00:00 EST.
    assert_eq!(
        capped[0].retry_at.map(|t| t.to_string()).as_deref(),
        Some("2026-11-24T05:00:00Z")
    );
}

#[test]
fn daily_cap_counts_the_local_day_not_the_utc_day() {
    // Sends at 23:00 and 23:30 New York time yesterday are on another local day, though the
    // same UTC day as 10:00 the next morning would not be.
    let d = decide(
        "2026-11-23T15:00:00Z",
        &["2026-11-23T04:00:00Z", "2026-11-23T04:30:00Z"],
    );
    assert!(blocked_by(&d, "daily_cap").is_empty(), "{d:#?}");
}

#[test]
fn min_gap_blocks_within_eight_hours() {
    let d = decide(NOON_NY, &["2026-11-23T14:00:00Z"]);
    assert!(d.selected.is_empty());
    let gap = blocked_by(&d, "min_gap");
    assert_eq!(gap.len(), 8);
    assert_eq!(
        gap[0].retry_at.map(|t| t.to_string()).as_deref(),
        Some("2026-11-23T22:00:00Z")
    );
}

#[test]
fn quiet_hours_before_midnight_retry_next_morning() {
    // 23:30 in New York: quiet until 08:00 local tomorrow.
    let d = decide("2026-11-24T04:30:00Z", &[]);
    let quiet = blocked_by(&d, "quiet_hours");
    assert_eq!(quiet.len(), 8, "{d:#?}");
    assert_eq!(
        quiet[0].retry_at.map(|t| t.to_string()).as_deref(),
        Some("2026-11-24T13:00:00Z")
    );
}

#[test]
fn quiet_hours_after_midnight_retry_the_same_morning() {
    // 01:00 in New York, after midnight: quiet until 08:00 the same day.
    let d = decide("2026-11-24T06:00:00Z", &[]);
    let quiet = blocked_by(&d, "quiet_hours");
    assert_eq!(quiet.len(), 8);
    assert_eq!(
        quiet[0].retry_at.map(|t| t.to_string()).as_deref(),
        Some("2026-11-24T13:00:00Z")
    );
}

#[test]
fn quiet_hours_across_the_autumn_dst_change() {
    // 2026-10-31 23:00 EDT (UTC-4). Clocks fall back at 02:00, so 08:00 the next morning is
    // EST (UTC-5): 13:00Z, not the 12:00Z a fixed offset would give.
    let d = decide("2026-11-01T03:00:00Z", &[]);
    let quiet = blocked_by(&d, "quiet_hours");
    assert_eq!(quiet.len(), 8);
    assert_eq!(
        quiet[0].retry_at.map(|t| t.to_string()).as_deref(),
        Some("2026-11-01T13:00:00Z")
    );
}

#[test]
fn quiet_hours_across_the_spring_dst_change() {
    // 2026-03-07 22:30 EST (UTC-5); clocks spring forward at 02:00, so 08:00 is EDT: 12:00Z.
    let d = decide("2026-03-08T03:30:00Z", &[]);
    let quiet = blocked_by(&d, "quiet_hours");
    assert_eq!(quiet.len(), 8);
    assert_eq!(
        quiet[0].retry_at.map(|t| t.to_string()).as_deref(),
        Some("2026-03-08T12:00:00Z")
    );
}

#[test]
fn quiet_hours_use_the_subjects_time_zone() {
    // 17:00Z is noon in New York but 02:00 in Tokyo.
    let mut ctx = context();
    ctx["timezone"] = json!("Asia/Tokyo");
    let d = decide_on(graph(), &ctx, NOON_NY, &[]);
    assert_eq!(blocked_by(&d, "quiet_hours").len(), 8, "{d:#?}");
    assert_eq!(
        d.rejected[0].retry_at.map(|t| t.to_string()).as_deref(),
        Some("2026-11-23T23:00:00Z")
    );
}

#[test]
fn the_lambda_penalty_changes_which_topic_wins() {
    let mut ctx = context();
    ctx["sent_in_last_7d"] = json!(1);
    let low = decide_on(graph(), &ctx, NOON_NY, &[]);
    let heavy = build_with(Some((
        "param fatigue_lambda: float = 0.02",
        "param fatigue_lambda: float = 0.2",
    )));
    let high = decide_on(&heavy, &ctx, NOON_NY, &[]);
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
fn nothing_is_selected_when_every_topic_is_blocked() {
    let d = decide(
        "2026-11-24T04:30:00Z",
        &["2026-11-24T03:00:00Z", "2026-11-24T01:00:00Z"],
    );
    assert!(d.selected.is_empty());
    assert_eq!(d.outcome, Outcome::None);
    assert_eq!(d.rejected.len(), 8);
    for r in &d.rejected {
        assert!(
            r.guards.contains(&"quiet_hours".to_string())
                && r.guards.contains(&"min_gap".to_string()),
            "{r:?}"
        );
    }
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

#[test]
fn quiet_hours_ending_in_the_repeated_autumn_hour_end_at_its_second_pass() {
    // Regression: an end time inside the fold resolved to its first pass, already past, and
    // `retry_at` jumped a whole day. 01:10 EST on the second pass (06:10Z); quiet until 01:30:
    // the second 01:30, 06:30Z the same day.
    let g = build_with(Some(("quiet 22:00 to 08:00", "quiet 01:00 to 01:30")));
    let d = decide_on(&g, &context(), "2026-11-01T06:10:00Z", &[]);
    let quiet = blocked_by(&d, "quiet_hours");
    assert_eq!(quiet.len(), 8, "{d:#?}");
    assert_eq!(
        quiet[0].retry_at.map(|t| t.to_string()).as_deref(),
        Some("2026-11-01T06:30:00Z")
    );
}

#[test]
fn quiet_hours_ending_in_the_skipped_spring_hour_end_when_the_gap_ends() {
    // Regression: 02:30 does not exist on 2026-03-08 in New York; the clock reads past it
    // from 03:00 EDT (07:00Z), when the guard already passes, so that is `retry_at`.
    let g = build_with(Some(("quiet 22:00 to 08:00", "quiet 01:00 to 02:30")));
    let d = decide_on(&g, &context(), "2026-03-08T06:30:00Z", &[]);
    let quiet = blocked_by(&d, "quiet_hours");
    assert_eq!(quiet.len(), 8, "{d:#?}");
    let retry = quiet[0].retry_at.expect("retry_at");
    assert_eq!(retry.to_string(), "2026-03-08T07:00:00Z");
    let later = decide_on(&g, &context(), &retry.to_string(), &[]);
    assert!(blocked_by(&later, "quiet_hours").is_empty(), "{later:#?}");
}
