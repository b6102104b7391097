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

// ---- bounded work for any policy text (issue 15) -------------------------------------------

use super::hostile;
use policy_engine::syntax::limits::{MAX_EXPRESSION_TOKENS, MAX_NESTING};
use std::time::Duration;

/// How long one command may take before a test calls it a hang. Generous: it guards against
/// hangs only, and asserts no timing.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// Runs the `policy` binary with `args`, killing it if it runs longer than [`HANG_GUARD`];
/// returns its exit code (`None` when killed by a signal, as an abort is) and stderr.
fn policy_bounded(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    use std::io::Read as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_policy"))
        .args(args)
        .current_dir(super::root())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run policy");
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`policy {args:?}` still ran after {HANG_GUARD:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), reader.join().expect("stderr reader"))
}

/// Writes `text` to a file and runs `policy check`, `fmt --check`, `graph` and `diff` (the file
/// against itself) on it: each must exit 1 (never 101, a panic, or a signal, an abort) and
/// print `code`.
fn every_command_rejects(text: &str, code: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hostile.policy");
    std::fs::write(&path, text).expect("write");
    let p = path.as_os_str();
    let commands: [(&str, Vec<&std::ffi::OsStr>); 4] = [
        ("check", vec!["check".as_ref(), p]),
        ("fmt --check", vec!["fmt".as_ref(), "--check".as_ref(), p]),
        ("graph", vec!["graph".as_ref(), p]),
        ("diff", vec!["diff".as_ref(), p, p]),
    ];
    for (name, args) in commands {
        let (exit, stderr) = policy_bounded(&args);
        let head: String = stderr.chars().take(2000).collect();
        assert_eq!(exit, Some(1), "`policy {name}` exited {exit:?}:\n{head}");
        assert!(
            stderr.contains(&format!("[{code}]")),
            "`policy {name}` did not report {code}:\n{head}"
        );
    }
}

/// Finding "stack overflow": a `let` of 2 000 `+` terms overflowed the server's reload thread.
#[test]
fn a_chain_of_2000_terms_is_too_long_an_expression_in_every_command() {
    every_command_rejects(&hostile::chain(2_000), "P0006");
}

/// Finding "stack overflow": the CLI aborted at 10 000 terms; 100 000 is one 400 KB line.
#[test]
fn a_chain_of_100000_terms_is_too_long_an_expression_in_every_command() {
    every_command_rejects(&hostile::chain(100_000), "P0006");
}

/// Finding "stack overflow": 10 000 levels of parentheses, of records (the CLI aborted at
/// 7 000) and of `list<` (aborted at 10 000).
#[test]
fn ten_thousand_levels_of_nesting_are_too_deep_in_every_command() {
    every_command_rejects(&hostile::nested_parens(10_000), "P0005");
    every_command_rejects(&hostile::nested_records(10_000), "P0005");
    every_command_rejects(&hostile::nested_lists(10_000), "P0005");
}

/// Finding "exponential parse": 24 unclosed `size(` took more than 20 s (time doubled per
/// level); now the parser stops once, at the first one.
#[test]
fn twenty_four_unclosed_calls_are_one_syntax_error_in_every_command() {
    every_command_rejects(&hostile::unclosed_calls(24), "P0001");
    every_command_rejects(&hostile::unclosed_mixed(24), "P0001");
}

/// Finding "exponential parse": 1 000 unclosed delimiters are more than the nesting limit.
#[test]
fn a_thousand_unclosed_delimiters_are_too_deep_in_every_command() {
    every_command_rejects(&hostile::unclosed_calls(1_000), "P0005");
    every_command_rejects(&hostile::unclosed_mixed(1_000), "P0005");
}

/// Finding "exponential parse": an unterminated string of 64 KB of `\"` was quadratic (14 s).
#[test]
fn a_64_kb_unterminated_escaped_string_is_one_syntax_error_in_every_command() {
    every_command_rejects(&hostile::escaped_string(64 * 1024), "P0001");
}

/// Finding "panic": a label past column 65 535 panicked inside miette (exit 101) in `check`,
/// `graph`, `fmt` and `diff`.
#[test]
fn a_syntax_error_at_column_70000_is_reported_in_every_command() {
    every_command_rejects(&hostile::far_syntax_error(70_000), "P0001");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("far.policy");
    std::fs::write(&path, hostile::far_unknown_name(70_000)).expect("write");
    let (exit, stderr) = policy_bounded(&["check".as_ref(), path.as_os_str()]);
    assert_eq!(
        exit,
        Some(1),
        "{}",
        stderr.chars().take(2000).collect::<String>()
    );
    assert!(stderr.contains("[P1001]"), "{stderr}");
    // The header names the file's own line and column, though the line is shown clipped.
    assert!(stderr.contains("far.policy:2:70010]"), "{stderr}");
}

/// The error for an unclosed bracket or quote says which one and where, instead of
/// backtracking over every level.
#[test]
fn an_unclosed_bracket_or_quote_is_named_where_it_opens() {
    let d = diagnostics_of(&hostile::unclosed_calls(3));
    assert_eq!(d, [(Code::Syntax, "`(` is never closed".to_string())]);
    let d = diagnostics_of(&hostile::escaped_string(10));
    assert_eq!(d, [(Code::Syntax, "unterminated string".to_string())]);
    let mut sources = SourceMap::new();
    sources.add("u.policy", hostile::unclosed_calls(3));
    let build = compile::build(sources, &ModelStore::new(super::root().join("models")));
    let loc = policy_engine::diagnostics::location(&build.diagnostics[0], &build.sources);
    // `  let x = size(` : the first `(` is at column 15 of line 3.
    assert_eq!(loc.map(|l| (l.line, l.column)), Some((3, 15)));
}

/// Finding "stack overflow": a dependency chain of values is ordered without recursion.
#[test]
fn a_chain_of_ten_thousand_values_checks_and_decides() {
    let n = 10_000;
    let got = score_of(&hostile::value_chain(n), json!({"a": 1}));
    assert_eq!(got, Ok(Some(n as f64)));
}

/// Everything just under the limits goes through build, decide, fmt, graph and diff on a
/// thread with a 2 MiB stack (the size of a spawned thread's default), in a debug build: the
/// limits bound every pass after `syntax`, not only the parser.
#[test]
fn inputs_just_under_the_limits_go_through_the_whole_pipeline_on_a_small_stack() {
    let terms = MAX_EXPRESSION_TOKENS.div_ceil(2); // 2 * terms - 1 tokens
    let cases: Vec<(String, serde_json::Value, f64)> = vec![
        (hostile::chain(terms), json!({"a": 1}), terms as f64),
        (hostile::nested_parens(MAX_NESTING - 1), json!({}), 1.0),
        (
            hostile::nested_records(MAX_NESTING - 1),
            serde_json::from_str(&format!(
                "{{\"a\": {}}}",
                hostile::nested_records_context(MAX_NESTING - 2)
            ))
            .expect("json"),
            1.0,
        ),
        (
            hostile::nested_lists(MAX_NESTING - 2),
            json!({"a": [[], []]}),
            2.0,
        ),
    ];
    let worker = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            for (text, ctx, want) in cases {
                let head: String = text.chars().take(80).collect();
                assert_eq!(
                    score_of(&text, ctx),
                    Ok(Some(want)),
                    "build and decide: {head}"
                );
                let formatted = policy_engine::fmt::format(&text)
                    .unwrap_or_else(|e| panic!("fmt: {head}: {e:?}"));
                assert_eq!(
                    policy_engine::fmt::format(&formatted).as_deref(),
                    Ok(formatted.as_str()),
                    "fmt is idempotent: {head}"
                );
                let file = policy_engine::syntax::parse(policy_engine::source::SourceId(0), &text)
                    .unwrap_or_else(|e| panic!("parse: {head}: {e:?}"));
                let graphs = policy_engine::graph::graphs([&file]);
                assert!(policy_engine::graph::render_mermaid(&graphs).contains("flowchart"));
                assert!(policy_engine::graph::render_dot(&graphs).contains("digraph"));
                let side: policy_engine::diff::Side<'_> = file
                    .policies
                    .iter()
                    .map(|p| (p, std::path::PathBuf::from("p.policy")))
                    .collect();
                assert!(
                    policy_engine::diff::diff_sets(&side, &side).is_empty(),
                    "diff: {head}"
                );
            }
        })
        .expect("spawn");
    worker
        .join()
        .expect("the pipeline ran within a 2 MiB stack");
}

/// Just over each limit is the limit's own diagnostic, not a crash or the parser's words.
#[test]
fn just_over_the_limits_is_the_limits_own_diagnostic() {
    let terms = MAX_EXPRESSION_TOKENS.div_ceil(2) + 1;
    let codes =
        |text: &str| -> Vec<Code> { diagnostics_of(text).into_iter().map(|d| d.0).collect() };
    assert_eq!(codes(&hostile::chain(terms)), [Code::ExpressionTooLong]);
    assert_eq!(
        codes(&hostile::nested_parens(MAX_NESTING)),
        [Code::NestedTooDeeply]
    );
    assert_eq!(
        codes(&hostile::nested_records(MAX_NESTING)),
        [Code::NestedTooDeeply]
    );
    assert_eq!(
        codes(&hostile::nested_lists(MAX_NESTING - 1)),
        [Code::NestedTooDeeply]
    );
}

/// The small hostile inputs are committed under `tests/fixtures/hostile/` (for the fuzz corpus
/// and for reading); each is its generator's output and is one syntax error at its opening
/// bracket or quote.
#[test]
fn the_committed_hostile_fixtures_are_their_generators_output_and_one_syntax_error_each() {
    let cases = [
        (
            "unclosed_calls_24",
            hostile::unclosed_calls(24),
            "`(` is never closed",
        ),
        (
            "unclosed_mixed_24",
            hostile::unclosed_mixed(24),
            "`(` is never closed",
        ),
        (
            "escaped_string_4096",
            hostile::escaped_string(4096),
            "unterminated string",
        ),
    ];
    for (name, generated, message) in cases {
        let path = super::fixture(&format!("hostile/{name}.policy"));
        let text = std::fs::read_to_string(&path).expect("fixture");
        assert_eq!(text, generated, "{name} is not its generator's output");
        assert_eq!(
            diagnostics_of(&text),
            [(Code::Syntax, message.to_string())],
            "{name}"
        );
    }
}
