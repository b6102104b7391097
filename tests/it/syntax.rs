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

/// Builds one inline policy and returns every diagnostic's code and message (warnings too).
fn diagnostics_of(src: &str) -> Vec<(Code, String)> {
    let mut sources = SourceMap::new();
    sources.add("inline.policy", src);
    let build = compile::build(sources, &ModelStore::new(super::root().join("models")));
    build
        .diagnostics
        .iter()
        .map(|d| (d.code, d.message.clone()))
        .collect()
}

#[test]
fn an_allow_comment_never_silences_an_error() {
    // Regression: `allow(P1001)` hid the error, `check` said "no problems" and the policy
    // silently dropped out of the set.
    let diags = diagnostics_of(
        "policy p {\n  context { i: int }\n  # policy: allow(P1001)\n  score = nope\n  select gate\n}\n",
    );
    let codes: Vec<Code> = diags.iter().map(|d| d.0).collect();
    assert!(codes.contains(&Code::UnknownName), "{diags:?}");
    assert!(
        diags
            .iter()
            .any(|(c, m)| *c == Code::UnusedSuppression && m.contains("cannot silence an error")),
        "{diags:?}"
    );
}

#[test]
fn an_allow_comment_with_an_unknown_code_is_reported() {
    let diags = diagnostics_of(
        "policy p {\n  context { i: int }\n  # policy: allow(P9999)\n  score = i\n  select gate\n}\n",
    );
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].0, Code::UnusedSuppression);
    assert!(
        diags[0].1.contains("`P9999` is not a diagnostic code"),
        "{diags:?}"
    );
}

#[test]
fn an_optional_subject_key_is_rejected() {
    // Regression: with `user_id: string?` absent, caps and gaps silently counted nothing.
    let diags = diagnostics_of(
        "policy p {\n  context { user_id: string? }\n  subject user_id\n  guard once: cap 1 per day\n  select gate\n}\n",
    );
    assert!(
        diags
            .iter()
            .any(|(c, m)| *c == Code::WrongKind && m.contains("subject key `user_id` is optional")),
        "{diags:?}"
    );
}

#[test]
fn a_candidate_attribute_that_is_int_in_one_and_float_in_another_is_a_float() {
    // Regression: the first candidate fixed the type, so `w: 1` beside `w: 0.5` failed, with
    // two follow-on errors about missing candidates.
    let src = "policy p {\n  context { i: int }\n  candidates {\n    a { w: 1 }\n    b { w: 0.5 }\n  }\n  score = candidate.w\n  select best\n}\n";
    assert_eq!(score_of(src, json!({"i": 1})), Ok(Some(1.0)));
}

#[test]
fn a_bad_candidate_attribute_is_one_error_not_a_cascade() {
    let src = "policy p {\n  context { i: int }\n  candidates {\n    a { w: 1 }\n    b { w: \"x\" }\n  }\n  score = candidate.w\n  select best\n}\n";
    let diags = diagnostics_of(src);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].0, Code::CandidateShape);
}

#[test]
fn record_fields_may_be_separated_by_commas() {
    let src = "policy p {\n  context { user: { dau_7: int, wau_4: float }, n: int }\n  score = user.dau_7 + user.wau_4 + n\n  select gate\n}\n";
    assert_eq!(
        score_of(src, json!({"user": {"dau_7": 1, "wau_4": 2.5}, "n": 1})),
        Ok(Some(4.5))
    );
}

#[test]
fn an_absent_optional_field_reads_as_its_zero_everywhere() {
    // Regression: `n == 0` held but `n in [0]` did not and `string(n)` was "null".
    let src = "policy p {\n  context { n: int?\n  s: string? }\n  score = n == 0 && n in [0] && string(n) == \"0\" && s == \"\" && size(s) == 0 && !has(context.n) ? 1.0 : 0.0\n  select gate\n}\n";
    assert_eq!(score_of(src, json!({})), Ok(Some(1.0)));
    assert_eq!(score_of(src, json!({"n": 0, "s": ""})), Ok(Some(0.0)));
}

/// Every syntax error of a file is reported, each at its own line, with no cascade from the
/// declarations blanked to recover (regression guard for the parser's recovery).
#[test]
fn the_parser_recovers_and_reports_every_syntax_error_of_a_file() {
    let path = super::fixture("syntax/several_errors.policy");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut sources = SourceMap::new();
    let id = sources.add("tests/fixtures/syntax/several_errors.policy", text.clone());
    let errors = policy_engine::syntax::parse(id, &text).unwrap_err();
    let lines: Vec<usize> = errors
        .iter()
        .map(|d| {
            let span = d.primary_span().unwrap();
            text[..span.start as usize].matches('\n').count() + 1
        })
        .collect();
    assert_eq!(lines, [9, 11, 19], "one error per broken declaration");
    assert!(errors.iter().all(|d| d.code == Code::Syntax));
    insta::assert_snapshot!(policy_engine::diagnostics::render_human(
        &errors, &sources, false
    ));
}

/// Recovery is bounded: a file of nothing but broken declarations reports at most
/// `MAX_SYNTAX_ERRORS` and stops.
#[test]
fn syntax_error_recovery_stops_at_its_limit() {
    let mut text = String::from("policy p {\n");
    for i in 0..100 {
        text.push_str(&format!("  guard g{i} cap 2 per day\n"));
    }
    text.push_str("  select gate\n}\n");
    let errors = policy_engine::syntax::parse(Default::default(), &text).unwrap_err();
    assert_eq!(errors.len(), policy_engine::syntax::MAX_SYNTAX_ERRORS);
}

#[test]
fn a_hash_inside_a_string_of_either_quote_is_not_a_comment() {
    let src = "policy p { # one\n  description \"a # b\"\n  context { s: string }\n  score = s == 'x # \\' y' ? 1.0 : 0.0 # two\n  select gate\n}\n";
    let file = policy_engine::syntax::parse(Default::default(), src).expect("parses");
    let texts: Vec<&str> = file.comments.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, [" one", " two"]);
}
