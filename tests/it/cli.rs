//! The `policy` binary: exit codes and output shapes.

use crate::policy;

#[test]
fn check_passes_on_the_example_policies() {
    let (code, _, err) = policy(&["check", "policies/"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no problems"), "{err}");
}

#[test]
fn check_exits_1_on_errors_and_2_on_a_missing_path() {
    let (code, _, err) = policy(&["check", "tests/fixtures/diagnostics/P1001.policy"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("P1001.policy:7:25"), "{err}");
    let (code, _, _) = policy(&["check", "no/such/dir"]);
    assert_eq!(code, 2);
}

#[test]
fn check_exits_0_with_warnings_unless_denied() {
    let (code, _, _) = policy(&["check", "tests/fixtures/diagnostics/P5001.policy"]);
    assert_eq!(code, 0);
    let (code, _, _) = policy(&[
        "check",
        "--deny-warnings",
        "tests/fixtures/diagnostics/P5001.policy",
    ]);
    assert_eq!(code, 1);
}

#[test]
fn check_json_is_machine_readable() {
    let (code, out, _) = policy(&[
        "check",
        "--format",
        "json",
        "tests/fixtures/diagnostics/P1003.policy",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["diagnostics"][0]["code"], "P1003");
    assert_eq!(v["summary"]["errors"], 1);
}

#[test]
fn eval_prints_the_decision() {
    let (code, out, err) = policy(&[
        "eval",
        "policies/",
        "--policy",
        "notifications",
        "--context",
        "examples/contexts/notifications.json",
        "--now",
        "2026-11-23T17:00:00Z",
    ]);
    assert_eq!(code, 0, "{err}");
    let d: serde_json::Value = serde_json::from_str(&out).expect("decision json");
    assert_eq!(d["policy"], "notifications");
    assert_eq!(d["outcome"], "selected");
    assert!(d["selected"][0]["id"].is_string());
}

#[test]
fn eval_seeds_history() {
    let (code, out, err) = policy(&[
        "eval",
        "policies/",
        "--policy",
        "notifications",
        "--context",
        "examples/contexts/notifications.json",
        "--now",
        "2026-11-23T17:00:00Z",
        "--history",
        "tests/fixtures/history/two_sends_today.json",
    ]);
    assert_eq!(code, 0, "{err}");
    let d: serde_json::Value = serde_json::from_str(&out).expect("decision json");
    assert_eq!(d["outcome"], "none");
    assert_eq!(d["rejected"][0]["guards"][0], "daily_cap");
}

#[test]
fn explain_documents_every_code() {
    let (code, out, _) = policy(&["explain", "P1001"]);
    assert_eq!(code, 0);
    assert!(out.contains("unknown-name"));
    let (code, _, _) = policy(&["explain", "P9999"]);
    assert_eq!(code, 2);
}

#[test]
fn model_inspect_shows_the_contract() {
    let (code, out, err) = policy(&["model", "inspect", "models/paywall_bounce_lr.onnx"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["input"]["shape"][1], 8);
    assert_eq!(v["feature_names"][0], "dau_7");
    assert_eq!(v["outputs"][1]["name"], "probabilities");
    assert_eq!(v["outputs"][1]["columns"], 2);
}

#[test]
fn model_predict_prints_every_output_by_name_with_nulls_as_missing() {
    let (code, out, err) = policy(&[
        "model",
        "predict",
        "models/churn_risk_lr.onnx",
        "--rows",
        "tests/fixtures/rows/churn.json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["label"].as_array().map(Vec::len), Some(2));
    assert!(v["label"][0].is_i64(), "labels print as integers: {out}");
    let p = &v["probabilities"][0];
    let sum = p[0].as_f64().unwrap() + p[1].as_f64().unwrap();
    assert!((sum - 1.0).abs() < 1e-5, "{out}");
}

#[test]
fn model_predict_rejects_a_row_of_the_wrong_width() {
    let rows = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(rows.path(), "[[1, 2]]").unwrap();
    let path = rows.path();
    let (code, _, err) = policy(&[
        "model",
        "predict",
        "models/paywall_bounce_lr.onnx",
        "--rows",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("$[0]: the model takes 8 features, the row has 2"),
        "{err}"
    );
}
