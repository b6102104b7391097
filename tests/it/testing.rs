//! `policy test`: the cases beside the example policies pass and cover every guard and route;
//! wrong cases fail naming their file:line; text and JUnit output are snapshots.

use policy_engine::check::Selection;
use policy_engine::compile;
use policy_engine::testing::{self, CasesFile};
use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::policy;

/// The `*.test.yaml` files under `policies/`, parsed.
fn example_cases() -> Vec<CasesFile> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(super::root().join("policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let cases =
                testing::parse_cases(&text).unwrap_or_else(|e| panic!("{}:{e}", path.display()));
            CasesFile { path, cases }
        })
        .collect()
}

#[test]
fn the_example_cases_pass_and_print_the_summary_line() {
    let (code, out, err) = policy(&["test", "policies/"]);
    assert_eq!(code, 0, "{out}{err}");
    let last = out.lines().last().unwrap_or_default();
    let n = example_cases().iter().map(|f| f.cases.len()).sum::<usize>();
    assert_eq!(last, format!("{n} passed, 0 failed"), "{out}");
}

#[test]
fn every_policy_has_cases_that_block_and_pass_each_guard_and_take_each_route() {
    let build = compile::build_paths(
        &[super::root().join("policies")],
        &super::root().join("models"),
    )
    .unwrap();
    let graph = build.graph.expect("graph");
    // What the cases did, read from the decisions themselves.
    let mut blocked = BTreeSet::new();
    let mut passed = BTreeSet::new();
    let mut hops = BTreeSet::new();
    let mut decided = BTreeSet::new();
    for f in example_cases() {
        for lc in &f.cases {
            let c = &lc.case;
            assert!(
                testing::run_case(&graph, c).is_empty(),
                "{}:{} fails",
                f.path.display(),
                lc.line
            );
            let ledger = policy_engine::ledger::MemoryLedger::new();
            ledger.seed_past(c.history.clone(), &c.policy).unwrap();
            let opts = policy_engine::eval::Options {
                dry_run: true,
                ..policy_engine::eval::Options::at(c.now)
            };
            let d =
                policy_engine::eval::decide(&graph, &c.policy, &c.context, &opts, &ledger).unwrap();
            for w in d.path.windows(2) {
                hops.insert((w[0].clone(), w[1].clone()));
            }
            decided.insert(d.policy.clone());
            let p = graph.policy(&d.policy).unwrap();
            for g in &p.checked.guards {
                let name = (d.policy.clone(), g.name.clone());
                if d.rejected.iter().any(|r| r.guards.contains(&g.name)) {
                    blocked.insert(name.clone());
                }
                let any_passes = d.outcome == policy_engine::decision::Outcome::Selected
                    || d.rejected.iter().any(|r| !r.guards.contains(&g.name));
                if any_passes {
                    passed.insert(name);
                }
            }
        }
    }
    for (name, p) in &graph.policies {
        if let Selection::Route { rules, otherwise } = &p.checked.select {
            for target in rules.iter().map(|r| &r.1).chain(otherwise.iter()) {
                assert!(
                    hops.contains(&(name.clone(), target.clone())),
                    "no case routes {name} -> {target}"
                );
            }
            continue;
        }
        assert!(decided.contains(name), "no case decides in `{name}`");
        for g in &p.checked.guards {
            let key = (name.clone(), g.name.clone());
            assert!(
                blocked.contains(&key),
                "no case where {name}.{} blocks",
                g.name
            );
            assert!(
                passed.contains(&key),
                "no case where {name}.{} passes",
                g.name
            );
        }
    }
}

#[test]
fn quiet_hours_ending_inside_a_dst_transition_retry_at_the_right_instant() {
    let (code, out, err) = policy(&["test", "tests/fixtures/test/quiet_edges/"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.lines().last(), Some("4 passed, 0 failed"), "{out}");
}

#[test]
fn retry_at_compares_instants_and_null_expects_none() {
    let mut sources = policy_engine::source::SourceMap::new();
    sources.add(
        "gate.policy",
        "policy gate {\n  context { user_id: string  timezone: string  ok: bool }\n  \
         subject user_id zone timezone\n  guard allowed: require ok\n  \
         guard quiet_hours: quiet 22:00 to 08:00\n  select gate\n}\n"
            .to_string(),
    );
    let store = policy_engine::model::ModelStore::new(super::root().join("models"));
    let graph = compile::build(sources, &store).graph.expect("graph");
    let yaml = r#"
- name: only a require guard blocks, so no retry_at
  policy: gate
  now: 2026-11-23T17:00:00Z
  context: { user_id: u1, timezone: America/New_York, ok: false }
  expect: { retry_at: { gate: null } }
- name: an offset names the same instant as Z
  policy: gate
  now: 2026-11-24T04:30:00Z
  context: { user_id: u1, timezone: America/New_York, ok: true }
  expect: { retry_at: { gate: 2026-11-24T08:00:00-05:00 } }
- name: null where there is a retry_at, and an id that is not rejected
  policy: gate
  now: 2026-11-24T04:30:00Z
  context: { user_id: u1, timezone: America/New_York, ok: true }
  expect: { retry_at: { gate: null, other: 2026-11-24T13:00:00Z } }
"#;
    let cases = testing::parse_cases(yaml).unwrap();
    let run: Vec<Vec<testing::Mismatch>> = cases
        .iter()
        .map(|lc| testing::run_case(&graph, &lc.case))
        .collect();
    assert!(run[0].is_empty(), "{:?}", run[0]);
    assert!(run[1].is_empty(), "{:?}", run[1]);
    let mismatch = |field: &str, expected: &str, actual: &str| testing::Mismatch {
        field: field.into(),
        expected: expected.into(),
        actual: actual.into(),
    };
    assert_eq!(
        run[2],
        vec![
            mismatch("retry_at.gate", "no retry_at", "2026-11-24T13:00:00Z"),
            mismatch("retry_at.other", "2026-11-24T13:00:00Z", "not rejected"),
        ]
    );
}

/// Redacts case times in JUnit output.
fn junit_filters() -> Vec<(&'static str, &'static str)> {
    vec![(r#"time="[0-9.]+""#, r#"time="[time]""#)]
}

#[test]
fn wrong_cases_fail_naming_their_file_and_line_in_text() {
    let (code, out, err) = policy(&[
        "test",
        "tests/fixtures/test/wrong.test.yaml",
        "--policies",
        "policies/",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("FAIL tests/fixtures/test/wrong.test.yaml:24 wrong selection"),
        "{out}"
    );
    assert!(
        out.contains("       retry_at.reminder\n         expected: 2026-11-24T12:00:00Z\n         actual:   2026-11-24T13:00:00Z\n"),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("1 passed, 4 failed"));
    insta::assert_snapshot!("wrong_text", out);
}

#[test]
fn wrong_cases_fail_in_junit() {
    let (code, out, err) = policy(&[
        "test",
        "tests/fixtures/test/wrong.test.yaml",
        "--policies",
        "policies/",
        "--format",
        "junit",
    ]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.trim_end(), "1 passed, 4 failed");
    insta::with_settings!({ filters => junit_filters() }, {
        insta::assert_snapshot!("wrong_junit", out);
    });
}

#[test]
fn passing_cases_in_junit() {
    let (code, out, err) = policy(&[
        "test",
        "policies/paywall.test.yaml",
        "--policies",
        "policies/",
        "--format",
        "junit",
    ]);
    assert_eq!(code, 0, "{err}");
    insta::with_settings!({ filters => junit_filters() }, {
        insta::assert_snapshot!("paywall_junit", out);
    });
}

#[test]
fn bad_input_exits_2_with_a_location() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.test.yaml");
    std::fs::write(
        &bad,
        "- name: x\n  policy: notifications\n  now: 2026-11-23T17:00:00Z\n  expect: { selectd: [a] }\n",
    )
    .unwrap();
    let bad = bad.to_string_lossy().into_owned();
    let (code, _, err) = policy(&["test", &bad, "--policies", "policies/"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.test.yaml:4:"), "{err}");
    assert!(err.contains("selectd"), "{err}");

    // Policies that do not compile: their diagnostics, and nothing is tested.
    let (code, out, err) = policy(&[
        "test",
        "tests/fixtures/test/",
        "--policies",
        "tests/fixtures/diagnostics/P1001.policy",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("P1001"), "{err}");

    let (code, _, _) = policy(&["test", "no/such/dir"]);
    assert_eq!(code, 2);
}
