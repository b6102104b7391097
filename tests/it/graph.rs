//! `policy graph`: the decision graph of the example policies as Mermaid and DOT (snapshots),
//! its structure (library), and the command's exit codes.

use policy_engine::graph::{self, NodeKind, PolicyGraph};
use policy_engine::source::SourceMap;

/// Runs `policy graph ARGS` from the repository root; returns exit code, stdout, stderr.
fn graph_cmd(args: &[&str]) -> (i32, String, String) {
    crate::policy(&[&["graph"], args].concat())
}

/// The library graph of one example policy.
fn example(name: &str) -> PolicyGraph {
    let mut files = Vec::new();
    let mut map = SourceMap::new();
    for entry in std::fs::read_dir(super::root().join("policies")).expect("policies/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "policy") {
            continue; // the `*.test.yaml` cases beside them
        }
        let text = std::fs::read_to_string(&path).expect("utf-8");
        let id = map.add(&path, text.clone());
        files.push(policy_engine::syntax::parse(id, &text).expect("parses"));
    }
    graph::graphs(&files)
        .into_iter()
        .find(|g| g.name == name)
        .expect("policy exists")
}

fn has_edge(g: &PolicyGraph, from: &str, to: &str) -> bool {
    g.edges.iter().any(|e| e.from == from && e.to == to)
}

#[test]
fn mermaid_snapshot_of_every_example_policy() {
    let (code, out, err) = graph_cmd(&["policies/"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("flowchart LR\n"));
    insta::assert_snapshot!("graph_mermaid", out);
}

#[test]
fn dot_snapshot_of_every_example_policy() {
    let (code, out, err) = graph_cmd(&["policies/", "--format", "dot"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("digraph policies {"));
    assert!(out.trim_end().ends_with('}'));
    insta::assert_snapshot!("graph_dot", out);
}

#[test]
fn policy_flag_draws_one_policy() {
    let (code, out, _) = graph_cmd(&["policies/", "--policy", "notifications"]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("subgraph ").count(), 1, "{out}");
    insta::assert_snapshot!("graph_mermaid_notifications", out);
}

#[test]
fn notifications_flows_from_inputs_through_model_and_score_to_selection() {
    let g = example("notifications");
    // Inputs → model, with the feature expression on the edge when it is more than a field.
    assert!(has_edge(&g, "in_dau_7", "model_returned_24h"));
    assert!(has_edge(&g, "in_local_hour", "model_returned_24h"));
    let platform = g
        .edges
        .iter()
        .find(|e| e.from == "in_platform")
        .expect("platform feeds the model");
    assert_eq!(platform.label.as_deref(), Some("platform == \"ios\""));
    // Params and candidate attributes feed the derived value; value and model feed the score.
    assert!(has_edge(&g, "param_fatigue_lambda", "let_fatigue"));
    assert!(has_edge(&g, "candidates", "in_candidate_fatigue"));
    assert!(has_edge(&g, "in_candidate_fatigue", "let_fatigue"));
    assert!(has_edge(&g, "model_returned_24h", "score"));
    assert!(has_edge(&g, "let_fatigue", "score"));
    // The score feeds its guard and ranks the selection; every guard filters it.
    assert!(has_edge(&g, "score", "guard_above_threshold"));
    for guard in ["above_threshold", "daily_cap", "min_gap", "quiet_hours"] {
        assert!(has_edge(&g, &format!("guard_{guard}"), "select"), "{guard}");
    }
    // Nodes are ordered by stage.
    let kinds: Vec<NodeKind> = g.nodes.iter().map(|n| n.kind).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted);
}

#[test]
fn routers_draw_their_conditions_and_targets_and_playbooks_their_fallback() {
    let g = example("retention_router");
    let to_playbook = g
        .edges
        .iter()
        .find(|e| e.from == "route" && e.to == "to_churn_playbook")
        .expect("route edge");
    assert_eq!(
        to_playbook.label.as_deref(),
        Some("churn_14d >= churn_threshold")
    );
    let otherwise = g
        .edges
        .iter()
        .find(|e| e.to == "to_notifications")
        .expect("otherwise edge");
    assert_eq!(otherwise.label.as_deref(), Some("otherwise"));
    let p = example("churn_playbook");
    assert!(has_edge(&p, "select", "fallback"));
    let c = example("suggested_contacts");
    assert!(has_edge(&c, "in_contacts", "candidates"), "{:?}", c.edges);
    let paywall = example("paywall");
    assert!(has_edge(&paywall, "in_user_dau_7", "model_p_trial"));
}

#[test]
fn graph_exits_1_on_policies_with_errors_and_2_on_an_unknown_policy() {
    let (code, out, err) = graph_cmd(&["tests/fixtures/diagnostics/P1001.policy"]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("P1001"), "{err}");
    let (code, _, err) = graph_cmd(&["policies/", "--policy", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("`notifications`"), "{err}");
}

#[test]
fn the_readme_shows_the_current_graph_of_notifications() {
    let (_, out, _) = graph_cmd(&["policies/", "--policy", "notifications"]);
    let readme = std::fs::read_to_string(super::root().join("README.md")).expect("README");
    assert!(
        readme.contains(&format!("```mermaid\n{out}```")),
        "README's mermaid block is stale: regenerate it with `policy graph policies/ --policy notifications`"
    );
}

/// Regression: the graph resolves names as `check` does (`syntax::names`), so the `math`
/// namespace of `math.least(…)` is no input, and a param, a value and a context field each
/// come from their own node.
#[test]
fn names_resolve_as_check_resolves_them_and_math_is_no_input() {
    let text = "policy p {\n    context {\n        dau_7: float\n    }\n    param cap_at: float = 1.0\n    let engagement = math.least(dau_7 / 7.0, cap_at)\n    guard active: require engagement > 0.5\n    select gate\n}\n";
    let mut map = SourceMap::new();
    let id = map.add(std::path::Path::new("p.policy"), text.to_string());
    let file = policy_engine::syntax::parse(id, text).expect("parses");
    let g = graph::graphs(&[file]).remove(0);
    assert!(
        !g.nodes.iter().any(|n| n.id.contains("math")),
        "{:?}",
        g.nodes
    );
    assert!(has_edge(&g, "in_dau_7", "let_engagement"));
    assert!(has_edge(&g, "param_cap_at", "let_engagement"));
    assert!(has_edge(&g, "let_engagement", "guard_active"));
}
