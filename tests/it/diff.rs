//! `policy diff`: fixtures are pairs of files under `tests/fixtures/diff/old/` and `new/` that
//! between them make every kind of change; the text (markdown) and JSON outputs are snapshots.

/// Runs `policy diff ARGS` from the repository root; returns exit code, stdout, stderr.
fn diff_cmd(args: &[&str]) -> (i32, String, String) {
    crate::policy(&[&["diff"], args].concat())
}

const OLD: &str = "tests/fixtures/diff/old";
const NEW: &str = "tests/fixtures/diff/new";

#[test]
fn text_snapshot_of_the_fixture_directories() {
    let (code, out, err) = diff_cmd(&[OLD, NEW]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("diff_text", out);
}

#[test]
fn json_snapshot_of_the_fixture_directories() {
    let (code, out, err) = diff_cmd(&["--format", "json", OLD, NEW]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    insta::assert_json_snapshot!("diff_json", v);
}

#[test]
fn the_fixtures_cover_every_kind_of_change() {
    let (_, out, _) = diff_cmd(&["--format", "json", OLD, NEW]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["summary"]["added"], 1);
    assert_eq!(v["summary"]["removed"], 1);
    assert_eq!(v["summary"]["changed"], 3);
    let changes: Vec<(String, String)> = v["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .flat_map(|p| p["changes"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            (
                c["kind"].as_str().unwrap_or("").to_string(),
                c["op"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let has = |kind: &str, op: &str| changes.iter().any(|(k, o)| k == kind && o == op);
    for kind in [
        "meta",
        "subject",
        "param",
        "candidate",
        "let",
        "model",
        "score",
        "guard",
        "select",
        "fallback",
        "route",
    ] {
        assert!(has(kind, "changed"), "no changed {kind}: {changes:?}");
    }
    for kind in ["context", "candidate", "guard", "fallback"] {
        assert!(has(kind, "added"), "no added {kind}: {changes:?}");
    }
    for kind in ["candidate", "guard"] {
        assert!(has(kind, "removed"), "no removed {kind}: {changes:?}");
    }
    // A swapped model names the file it was and is.
    let model = v["policies"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "notifications"))
        .and_then(|p| p["changes"].as_array())
        .and_then(|cs| cs.iter().find(|c| c["kind"] == "model"))
        .expect("model change");
    assert_eq!(model["details"][0]["part"], "file");
    assert_eq!(model["details"][0]["old"], "notif_ranker_v1.onnx");
    assert_eq!(model["details"][0]["new"], "notif_ranker_v1_lr.onnx");
}

#[test]
fn two_files_compare_too_and_layout_comments_and_order_are_no_change() {
    let (code, out, err) = diff_cmd(&[
        "policies/paywall.policy",
        "tests/fixtures/diff/reformatted/paywall.policy",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("No semantic changes."), "{out}");
    assert!(
        out.contains("0 changed, 0 added, 0 removed, 1 unchanged"),
        "{out}"
    );
    let (code, out, _) = diff_cmd(&[
        "tests/fixtures/diff/old/notifications.policy",
        "tests/fixtures/diff/new/notifications.policy",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("- param `fatigue_lambda` changed:\n  - value: `0.02` → `0.03`"));
    // `require   score  >=   score_threshold` is the same guard, reformatted.
    assert!(!out.contains("above_threshold"), "{out}");
}

#[test]
fn a_side_that_does_not_parse_exits_1_with_its_diagnostics_and_a_missing_one_2() {
    let (code, out, err) = diff_cmd(&["policies/", "tests/fixtures/diagnostics/P0001.policy"]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("P0001"), "{err}");
    let (code, _, err) = diff_cmd(&["policies/", "no/such/dir"]);
    assert_eq!(code, 2, "{err}");
}

/// Regression (issue 15): `policy diff` reported changes between byte-identical files when a
/// policy had duplicate names (each duplicate was compared with the first of its name).
#[test]
fn byte_identical_files_with_duplicate_names_diff_as_identical() {
    let file = "tests/fixtures/diff/duplicates/twice.policy";
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("twice.policy");
    std::fs::copy(crate::root().join(file), &copy).unwrap();
    let copy = copy.to_str().unwrap();
    for (old, new) in [(file, file), (file, copy), (copy, file)] {
        let (code, out, err) = diff_cmd(&["--format", "json", old, new]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(
            v["policies"],
            serde_json::json!([]),
            "{old} vs {new}: {out}"
        );
        assert_eq!(v["summary"]["unchanged"], 2, "{out}");
        assert_eq!(v["summary"]["changed"], 0, "{out}");
    }
}

/// Duplicates are matched by occurrence, so a change to the second of two same-named items is
/// reported as that item's change, and the first is unchanged.
#[test]
fn a_change_to_the_second_of_two_same_named_items_is_reported_as_its_change() {
    let text =
        std::fs::read_to_string(crate::root().join("tests/fixtures/diff/duplicates/twice.policy"))
            .unwrap();
    let edited = text.replace("let x = b * w", "let x = b * w * 2.0");
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old.policy"), dir.path().join("new.policy"));
    std::fs::write(&old, &text).unwrap();
    std::fs::write(&new, &edited).unwrap();
    let (code, out, err) = diff_cmd(&[
        "--format",
        "json",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["summary"]["changed"], 1, "{out}");
    let changes = v["policies"][0]["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 1, "{out}");
    assert_eq!(changes[0]["kind"], "let");
    assert_eq!(changes[0]["old"], "b * w");
    assert_eq!(changes[0]["new"], "b * w * 2.0");
}
