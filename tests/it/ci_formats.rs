//! `policy check` in CI: every output format (human, json, github, sarif) snapshotted on one
//! fixture with errors, warnings, secondary labels and allow comments; SARIF validated against
//! the SARIF 2.1.0 JSON Schema kept in `schemas/`; `explain` documents every code.

use policy_engine::diagnostics::{CODES, escape_data, escape_property};
use std::process::Command;

const MIXED: &str = "tests/fixtures/ci/mixed.policy";

/// Runs `policy check --format FORMAT` from the repository root; returns exit code, stdout,
/// stderr.
fn check(format: &str, path: &str, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_policy"))
        .args(["check", "--format", format])
        .args(extra)
        .arg(path)
        .current_dir(super::root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run policy");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn sarif_schema() -> serde_json::Value {
    let text = std::fs::read_to_string(super::root().join("schemas/sarif-schema-2.1.0.json"))
        .expect("schema is committed");
    serde_json::from_str(&text).expect("schema is JSON")
}

#[test]
fn human_format_snapshot() {
    let (code, out, err) = check("human", MIXED, &[]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "human output goes to stderr: {out}");
    insta::assert_snapshot!("check_human", err);
}

#[test]
fn json_format_snapshot() {
    let (code, out, _) = check("json", MIXED, &[]);
    assert_eq!(code, 1);
    insta::assert_snapshot!("check_json", out);
}

#[test]
fn github_format_snapshot() {
    let (code, out, err) = check("github", MIXED, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("2 errors, 2 warnings in 1 file"), "{err}");
    insta::assert_snapshot!("check_github", out);
}

#[test]
fn github_annotations_carry_file_line_col_end_and_severity() {
    let (_, out, _) = check("github", MIXED, &[]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines.iter().all(|l| l.starts_with("::")), "{out}");
    let unknown = lines
        .iter()
        .find(|l| l.contains("title=P1001"))
        .expect("P1001 annotation");
    assert!(
        unknown.starts_with(
            "::error file=tests/fixtures/ci/mixed.policy,line=8,col=25,endLine=8,endColumn=29,"
        ),
        "{unknown}"
    );
    // The help travels on an escaped second line of the message.
    assert!(unknown.ends_with("::unknown name `dau7`%0Ahelp: did you mean `dau_7`?"));
    let warnings = lines.iter().filter(|l| l.starts_with("::warning ")).count();
    assert_eq!(warnings, 2, "{out}");
}

#[test]
fn github_escaping_follows_the_workflow_command_rules() {
    // Data: %, CR and LF. Properties: also `:` and `,`, which separate properties.
    assert_eq!(escape_data("50% a:b,c\r\nx"), "50%25 a:b,c%0D%0Ax");
    assert_eq!(
        escape_property("dir,1/a:b%.policy\n"),
        "dir%2C1/a%3Ab%25.policy%0A"
    );
}

#[test]
fn sarif_format_snapshot() {
    let (code, out, _) = check("sarif", MIXED, &[]);
    assert_eq!(code, 1);
    let mut log: serde_json::Value = serde_json::from_str(&out).expect("sarif is JSON");
    // The rules are the whole registry (asserted below); the snapshot keeps the results.
    let driver = &mut log["runs"][0]["tool"]["driver"];
    let rules = driver.as_object_mut().and_then(|d| d.remove("rules"));
    assert_eq!(
        rules.as_ref().and_then(|r| r.as_array()).map(Vec::len),
        Some(CODES.len())
    );
    // The version changes with every release; the snapshot keeps its place.
    for key in ["version", "semanticVersion"] {
        assert_eq!(driver[key], env!("CARGO_PKG_VERSION"));
        driver[key] = "[version]".into();
    }
    insta::assert_json_snapshot!("check_sarif", log);
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let schema = sarif_schema();
    // The schema itself is valid against its draft's metaschema, which jsonschema bundles: no
    // network access (the crate is built without its HTTP resolver).
    jsonschema::meta::validate(&schema).expect("schema is a valid draft-04 schema");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles offline");
    for (path, extra) in [
        (MIXED, &[][..]),
        ("policies/", &[][..]),
        ("tests/fixtures/diagnostics/", &[][..]),
    ] {
        let (_, out, _) = check("sarif", path, extra);
        let log: serde_json::Value = serde_json::from_str(&out).expect("sarif is JSON");
        let errors: Vec<String> = validator
            .iter_errors(&log)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{path}: {errors:#?}");
    }
    // And the validator does reject a broken log, so the check above means something.
    let broken = serde_json::json!({"version": "2.1.0", "runs": [{"results": []}]});
    assert!(
        !validator.is_valid(&broken),
        "a run without a tool must fail"
    );
}

#[test]
fn sarif_rules_document_every_code_and_results_point_into_them() {
    let (_, out, _) = check("sarif", MIXED, &[]);
    let log: serde_json::Value = serde_json::from_str(&out).expect("sarif is JSON");
    let run = &log["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "policy");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        driver["informationUri"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://"))
    );
    let rules = driver["rules"].as_array().expect("rules");
    for (rule, info) in rules.iter().zip(CODES) {
        assert_eq!(rule["id"], info.code);
        for key in ["shortDescription", "fullDescription", "help"] {
            let text = rule[key]["text"].as_str().unwrap_or("");
            assert!(!text.is_empty(), "{} lacks {key}", info.code);
        }
        assert!(matches!(
            rule["defaultConfiguration"]["level"].as_str(),
            Some("error" | "warning")
        ));
    }
    for r in run["results"].as_array().expect("results") {
        let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], r["ruleId"]);
        let uri = &r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
        assert_eq!(
            uri, "tests/fixtures/ci/mixed.policy",
            "relative to the working dir"
        );
    }
    // The duplicate guard's first declaration is a related location.
    let dup = run["results"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["ruleId"] == "P1002"))
        .expect("P1002 result");
    assert_eq!(
        dup["relatedLocations"][0]["physicalLocation"]["region"]["startLine"],
        8
    );
    assert_eq!(
        dup["relatedLocations"][0]["message"]["text"],
        "first declared here"
    );
}

#[test]
fn allow_comments_silence_their_line_or_the_next_and_deny_warnings_then_passes() {
    for format in ["human", "json", "github", "sarif"] {
        let (code, _, err) = check(
            format,
            "tests/fixtures/ci/allowed.policy",
            &["--deny-warnings"],
        );
        assert_eq!(code, 0, "{format}: {err}");
    }
    let (_, out, _) = check("json", "tests/fixtures/ci/allowed.policy", &[]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["summary"]["warnings"], 0, "{out}");
}

#[test]
fn a_stale_allow_comment_is_a_warning_that_deny_warnings_fails_on() {
    let path = "tests/fixtures/diagnostics/P5004.policy";
    let (code, out, _) = check("github", path, &[]);
    assert_eq!(code, 0, "warnings alone pass");
    assert!(
        out.contains("::warning file=tests/fixtures/diagnostics/P5004.policy,line=5,"),
        "{out}"
    );
    assert!(
        out.contains("title=P5004::`allow(P5001)` silences nothing"),
        "{out}"
    );
    let (code, _, _) = check("github", path, &["--deny-warnings"]);
    assert_eq!(code, 1);
}

#[test]
fn every_code_documents_what_why_an_example_and_its_fix() {
    for info in CODES {
        let s = info
            .sections()
            .unwrap_or_else(|| panic!("{}: doc lacks why, `Example:` or `Fix:`", info.code));
        assert!(
            s.why.len() > 20,
            "{}: why it matters is too thin",
            info.code
        );
        let out = Command::new(env!("CARGO_BIN_EXE_policy"))
            .args(["explain", info.code])
            .output()
            .expect("run policy");
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        for heading in ["What it catches:", "Why it matters:", "Example:", "Fix:"] {
            assert!(
                text.contains(heading),
                "{}: no {heading}\n{text}",
                info.code
            );
        }
        assert!(text.contains(s.example.lines().next().unwrap_or("").trim()));
    }
}

#[test]
fn explain_snapshot() {
    let out = Command::new(env!("CARGO_BIN_EXE_policy"))
        .args(["explain", "P5004"])
        .output()
        .expect("run policy");
    insta::assert_snapshot!("explain_P5004", String::from_utf8_lossy(&out.stdout));
}
