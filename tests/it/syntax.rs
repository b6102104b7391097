//! Language semantics: parsing errors, numeric promotion, totality.

use policy_engine::compile;
use policy_engine::diagnostics::Code;
use policy_engine::eval::{self, Options};
use policy_engine::ledger::MemoryLedger;
use policy_engine::model::ModelStore;
use policy_engine::source::SourceMap;
use serde_json::json;

/// Builds one inline policy; returns the codes of its diagnostics, or its score on `ctx`.
fn score_of(src: &str, ctx: serde_json::Value) -> Result<Option<f64>, Vec<(Code, String)>> {
    let mut sources = SourceMap::new();
    sources.add("inline.policy", src);
    let build = compile::build(sources, &ModelStore::new(super::root().join("models")));
    let Some(g) = build.graph else {
        return Err(build
            .diagnostics
            .iter()
            .map(|d| (d.code, d.message.clone()))
            .collect());
    };
    let d = eval::decide(
        &g,
        "p",
        &ctx,
        &Options::at("2026-01-01T00:00:00Z".parse().expect("now")),
        &MemoryLedger::new(),
    )
    .expect("decision");
    Ok(d.selected
        .first()
        .and_then(|s| s.score)
        .or(d.rejected.first().and_then(|r| r.score)))
}

fn gate(score: &str) -> String {
    format!(
        "policy p {{\n  context {{ i: int\n f: float\n xs: list<int>\n s: string }}\n  score = {score}\n  select gate\n}}\n"
    )
}

fn ctx() -> serde_json::Value {
    json!({"i": 2, "f": 1.5, "xs": [1, 2, 3], "s": "ios"})
}

#[test]
fn ints_are_promoted_where_they_meet_floats() {
    assert_eq!(score_of(&gate("1 + 1.5"), ctx()), Ok(Some(2.5)));
    assert_eq!(score_of(&gate("i * f"), ctx()), Ok(Some(3.0)));
    assert_eq!(score_of(&gate("i > 1.5 ? 1 : 0.5"), ctx()), Ok(Some(1.0)));
}

#[test]
fn division_is_float_division_and_never_fails() {
    assert_eq!(score_of(&gate("i / 4"), ctx()), Ok(Some(0.5)));
    // Dividing by zero gives infinity, which a score reports as no score rather than failing.
    assert_eq!(score_of(&gate("i / 0"), ctx()), Ok(None));
    assert_eq!(score_of(&gate("double(i % 0)"), ctx()), Ok(Some(0.0)));
}

#[test]
fn macros_and_functions_work_over_request_lists() {
    assert_eq!(
        score_of(&gate("xs.exists(x, x > 2) ? 1.0 : 0.0"), ctx()),
        Ok(Some(1.0))
    );
    assert_eq!(
        score_of(&gate("xs.all(x, x > 2) ? 1.0 : 0.0"), ctx()),
        Ok(Some(0.0))
    );
    assert_eq!(
        score_of(&gate("double(size(xs.filter(x, x >= 2)))"), ctx()),
        Ok(Some(2.0))
    );
    assert_eq!(
        score_of(&gate("math.greatest(1, f, 0.5)"), ctx()),
        Ok(Some(1.5))
    );
    assert_eq!(
        score_of(&gate("2 in xs && s.startsWith('io') ? 1.0 : 0.0"), ctx()),
        Ok(Some(1.0))
    );
}

#[test]
fn type_errors_are_caught_before_any_request() {
    let errs = score_of(&gate("s + 1.0"), ctx()).expect_err("type error");
    assert_eq!(errs[0].0, Code::TypeMismatch);
    let errs = score_of(&gate("s > 1 ? 1.0 : 0.0"), ctx()).expect_err("type error");
    assert_eq!(errs[0].0, Code::TypeMismatch);
    assert!(
        errs[0].1.contains("cannot compare `string` with `int`"),
        "{errs:?}"
    );
}

#[test]
fn syntax_errors_speak_the_language_not_the_grammar() {
    let errs =
        score_of("policy p {\n  contxt { x: float }\n}\n", json!({})).expect_err("syntax error");
    assert_eq!(errs[0].0, Code::Syntax);
    assert!(!errs[0].1.contains("kw_"), "{errs:?}");
    assert!(errs[0].1.contains("`context`"), "{errs:?}");
}

#[test]
fn optional_fields_take_their_default_and_has_tells_them_apart() {
    let src = "policy p {\n  context {\n    a: float = 2.0\n    b: int?\n  }\n  score = has(context.b) ? a + double(context.b) : a\n  select gate\n}\n";
    assert_eq!(score_of(src, json!({})), Ok(Some(2.0)));
    assert_eq!(score_of(src, json!({"a": 1.0, "b": 3})), Ok(Some(4.0)));
}
