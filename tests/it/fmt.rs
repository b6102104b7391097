//! `policy fmt`: one canonical layout, every comment kept, idempotent, meaning unchanged.

use policy_engine::compile::{self, DecisionGraph};
use policy_engine::decision::Decision;
use policy_engine::eval::{self, Options};
use policy_engine::fmt;
use policy_engine::ledger::{Action, LedgerKey, MemoryLedger};
use policy_engine::model::ModelStore;
use policy_engine::source::SourceMap;
use policy_engine::syntax;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

fn policy_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_policy"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run policy");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Every `.policy` file under `dir`, sorted.
fn policy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            policy_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "policy") {
            out.push(p);
        }
    }
    out.sort();
}

/// The files fmt must be idempotent over: the examples, every fixture, and docs if present.
fn corpus() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["policies", "tests/fixtures", "docs"] {
        policy_files(&super::root().join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {files:?}");
    files
}

/// What a file means: its syntax tree without spans and its comments.
fn meaning(text: &str) -> (Vec<syntax::ast::Policy>, Vec<String>) {
    let f = syntax::parse(Default::default(), text).expect("parses");
    let comments = f
        .comments
        .iter()
        .map(|c| c.text.trim_end().to_string())
        .collect();
    (fmt::structure(&f), comments)
}

#[test]
fn meaning_ignores_spans_and_continuation_indent_but_not_a_changed_expression() {
    let a = "policy p {\n  score = f(1,\n      2)\n  select gate\n}\n";
    let moved = "policy p {\n\n    score = f(1,\n  2)\n    select gate\n}\n";
    let changed = "policy p {\n  score = f(1,\n      3)\n  select gate\n}\n";
    assert_eq!(meaning(a), meaning(moved));
    assert_ne!(meaning(a), meaning(changed));
}

/// Regression guard: a multi-line expression whose continuation is indented with tabs, has
/// trailing blanks, or sits in a CRLF file was refused as "the output means something else".
#[test]
fn fmt_formats_multi_line_expressions_with_tabs_trailing_blanks_and_crlf() {
    let tabs = "policy p {\n  score = f(1,\n\t\t2)\n  select gate\n}\n";
    let trailing = "policy p {\n  score = f(1,   \n      2)\n  select gate\n}\n";
    let crlf = "policy p {\r\n  score = f(1,\r\n      2)\r\n  select gate\r\n}\r\n";
    for text in [tabs, trailing, crlf] {
        let out = fmt::format(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
        assert_eq!(fmt::format(&out).unwrap(), out, "idempotent");
        assert_eq!(meaning(text), meaning(&out));
    }
}

#[test]
fn fmt_is_idempotent_and_keeps_meaning_over_every_fixture_and_example() {
    let mut skipped = Vec::new();
    let mut checked = 0;
    for path in corpus() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            // P0003's fixture is not UTF-8 on purpose.
            skipped.push(path);
            continue;
        };
        let once = match fmt::format(&text) {
            Ok(t) => t,
            Err(errors) => {
                // Fixtures that are syntax errors on purpose (P0001), or over the nesting or
                // expression-length limits (P0005, P0006): fmt leaves them alone.
                for d in errors {
                    assert!(
                        ["P0001", "P0005", "P0006"].contains(&d.code.as_str()),
                        "{}: {} {}",
                        path.display(),
                        d.code.as_str(),
                        d.message
                    );
                }
                skipped.push(path);
                continue;
            }
        };
        let twice = fmt::format(&once).expect("formatted output parses");
        assert_eq!(once, twice, "not idempotent: {}", path.display());
        assert_eq!(meaning(&text), meaning(&once), "{}", path.display());
        checked += 1;
    }
    let skipped: Vec<String> = skipped
        .iter()
        .map(|p| {
            p.strip_prefix(super::root())
                .unwrap_or(p)
                .display()
                .to_string()
        })
        .collect();
    // Say which files were skipped, and make sure it is only the ones meant to be broken.
    eprintln!("fmt idempotence: {checked} files checked, skipped (not parseable): {skipped:?}");
    assert_eq!(
        skipped,
        [
            "tests/fixtures/diagnostics/P0001.policy",
            "tests/fixtures/diagnostics/P0003.policy",
            "tests/fixtures/diagnostics/P0005.policy",
            "tests/fixtures/diagnostics/P0006.policy",
            // The fuzz corpus's broken inputs (its own fmt test holds each to a syntax error).
            "tests/fixtures/fuzz/fmt/crlf-and-tabs.policy",
            "tests/fixtures/fuzz/parse/issue15-label-column-70000-string.policy",
            "tests/fixtures/fuzz/parse/issue15-unclosed-braces-1000.policy",
            "tests/fixtures/hostile/escaped_string_4096.policy",
            "tests/fixtures/hostile/unclosed_calls_24.policy",
            "tests/fixtures/hostile/unclosed_mixed_24.policy",
            "tests/fixtures/syntax/several_errors.policy"
        ]
    );
}

#[test]
fn fmt_check_passes_on_the_example_policies() {
    let (code, out, err) = policy_in(super::root(), &["fmt", "--check", "policies/"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "");
}

#[test]
fn every_comment_survives_in_its_place() {
    // Comments everywhere a comment can go: trailing, own-line, inside blocks, inside one-line
    // declarations, inside expression brackets, before and after policies.
    let text = std::fs::read_to_string(super::fixture("fmt/comments.policy")).expect("fixture");
    let out = fmt::format(&text).expect("formats");
    assert_eq!(meaning(&text), meaning(&out));
    insta::assert_snapshot!("comments_formatted", out);
}

#[test]
fn check_prints_a_unified_diff_and_exits_1_then_fmt_rewrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = "policy p {\n  context { a: int }\n  score = a   # the score\n  select gate\n}\n";
    std::fs::write(dir.path().join("p.policy"), src).expect("write");
    let (code, diff, err) = policy_in(dir.path(), &["fmt", "--check", "p.policy"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("1 of 1 file would be reformatted"), "{err}");
    insta::assert_snapshot!("check_diff", diff);
    // --check changes nothing.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("p.policy")).unwrap(),
        src
    );

    let (code, _, err) = policy_in(dir.path(), &["fmt", "p.policy"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = policy_in(dir.path(), &["fmt", "--check", "."]);
    assert_eq!(code, 0, "{out}");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["p.policy"], "the temporary file was renamed away");
}

#[test]
fn a_file_that_does_not_parse_is_reported_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = std::fs::read_to_string(super::fixture("diagnostics/P0001.policy")).unwrap();
    std::fs::write(dir.path().join("bad.policy"), &src).expect("write");
    let (code, _, err) = policy_in(dir.path(), &["fmt", "bad.policy"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("P0001") && err.contains("bad.policy:"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("bad.policy")).unwrap(),
        src
    );
    let (code, _, _) = policy_in(dir.path(), &["fmt", "missing.policy"]);
    assert_eq!(code, 2);
}

// ---- property: formatting never changes meaning ------------------------------------------------

fn example_sources() -> &'static Vec<(String, String)> {
    static S: OnceLock<Vec<(String, String)>> = OnceLock::new();
    S.get_or_init(|| {
        let mut files = Vec::new();
        policy_files(&super::root().join("policies"), &mut files);
        files
            .iter()
            .map(|p| {
                let name = format!("policies/{}", p.file_name().unwrap().to_string_lossy());
                (name, std::fs::read_to_string(p).unwrap())
            })
            .collect()
    })
}

fn build(files: &[(String, String)]) -> DecisionGraph {
    let mut sources = SourceMap::new();
    for (name, text) in files {
        sources.add(name, text.clone());
    }
    let b = compile::build(sources, &ModelStore::new(super::root().join("models")));
    assert!(b.errors().next().is_none(), "{:?}", b.diagnostics);
    b.graph.expect("graph")
}

fn original_graph() -> &'static DecisionGraph {
    static G: OnceLock<DecisionGraph> = OnceLock::new();
    G.get_or_init(|| build(example_sources()))
}

/// The compiled policies with spans removed: what the graph means.
fn graph_meaning(g: &DecisionGraph) -> Vec<String> {
    let span = regex::Regex::new(r"Span \{[^}]*\}").unwrap();
    g.policies
        .values()
        .map(|p| {
            span.replace_all(&format!("{:?}", p.checked), "Span")
                .into_owned()
        })
        .collect()
}

/// Rewrites the layout of a policy file without changing what it says: random indentation,
/// blank lines, own-line comments and trailing comments (the example policies hold no
/// multi-line expression, so a line end never falls inside CEL brackets).
fn mutate(text: &str, seeds: &[u8]) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let s = seeds[i % seeds.len()] as usize + i;
        if s.is_multiple_of(7) {
            out.push('\n');
        }
        if s.is_multiple_of(5) {
            out.push_str(&format!("{}# own-line {i}\n", " ".repeat(s % 3)));
        }
        let t = line.trim_start();
        if !t.is_empty() {
            out.push_str(&" ".repeat(s % 9));
            out.push_str(t);
            if s.is_multiple_of(4) && !t.starts_with('#') {
                out.push_str(&format!("{}# trailing {i}", " ".repeat(1 + s % 2)));
            }
        }
        out.push_str(if s.is_multiple_of(11) { "  \n" } else { "\n" });
    }
    out
}

fn decide(g: &DecisionGraph, policy: &str, now: jiff::Timestamp, sends: &[i64]) -> Decision {
    let ctx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(super::root().join(format!("examples/contexts/{policy}.json")))
            .unwrap(),
    )
    .unwrap();
    let subject = ctx["user_id"].as_str().unwrap_or("u").to_string();
    let ledger = MemoryLedger::new();
    let actions = sends
        .iter()
        .map(|mins| Action {
            decision_id: String::new(),
            candidate: "email".into(),
            at: now - jiff::SignedDuration::from_mins(*mins),
            attrs: Default::default(),
        })
        .collect();
    ledger
        .seed(
            LedgerKey {
                policy: Arc::from(policy),
                subject: Arc::from(subject.as_str()),
            },
            actions,
        )
        .unwrap();
    let opts = Options {
        decision_id: Some("d".into()),
        ..Options::at(now)
    };
    let mut d = eval::decide(g, policy, &ctx, &opts, &ledger).expect("decides");
    d.revision = String::new(); // a content hash of the source text, which fmt changes
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn formatting_never_changes_meaning(
        seeds in proptest::collection::vec(any::<u8>(), 1..40),
        now_secs in 1_767_225_600i64..1_798_761_600, // 2026 and 2027
        sends in proptest::collection::vec(1i64..(60 * 24 * 8), 0..4),
    ) {
        let mutated: Vec<(String, String)> = example_sources()
            .iter()
            .map(|(n, t)| (n.clone(), mutate(t, &seeds)))
            .collect();
        let formatted: Vec<(String, String)> = mutated
            .iter()
            .map(|(n, t)| (n.clone(), fmt::format(t).expect("formats")))
            .collect();
        for ((_, m), (_, f)) in mutated.iter().zip(&formatted) {
            prop_assert_eq!(fmt::format(f).expect("formats"), f.clone(), "idempotent");
            prop_assert_eq!(meaning(m), meaning(f));
        }
        let g = build(&formatted);
        prop_assert_eq!(graph_meaning(&g), graph_meaning(original_graph()));
        let now = jiff::Timestamp::from_second(now_secs).unwrap();
        for policy in ["notifications", "paywall", "retention_router", "churn_playbook", "suggested_contacts"] {
            prop_assert_eq!(decide(&g, policy, now, &sends), decide(original_graph(), policy, now, &sends));
        }
    }
}
