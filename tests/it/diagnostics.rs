//! Every diagnostic code has a fixture `tests/fixtures/diagnostics/<CODE>.policy`; its rendered
//! output (human and JSON) is an insta snapshot.

use policy_engine::compile;
use policy_engine::diagnostics::{self, CODES, Code};
use policy_engine::model::ModelStore;
use std::path::PathBuf;

/// Checks one fixture; returns the rendered human output, the JSON, and the codes found.
fn check_fixture(name: &str) -> (String, String, Vec<Code>) {
    // Relative paths keep snapshots independent of where the checkout lives.
    let _cwd = std::env::set_current_dir(super::root());
    let path = PathBuf::from(format!("tests/fixtures/diagnostics/{name}.policy"));
    let sources = compile::load_sources(&[path]).expect("fixture exists");
    let build = compile::build(sources, &ModelStore::new("models"));
    let human = diagnostics::render_human(&build.diagnostics, &build.sources, false);
    let json: Vec<_> = build
        .diagnostics
        .iter()
        .map(|d| diagnostics::to_json(d, &build.sources))
        .collect();
    let json = serde_json::to_string_pretty(&json).expect("serializable");
    (
        human,
        json,
        build.diagnostics.iter().map(|d| d.code).collect(),
    )
}

#[test]
fn every_code_has_a_fixture_that_produces_it() {
    for info in CODES {
        let code = Code::parse(info.code).expect("registry code parses");
        if code == Code::Internal {
            // A bug in policy-engine, not in a policy: no fixture can produce it.
            continue;
        }
        let (human, json, codes) = check_fixture(info.code);
        assert!(
            codes.contains(&code),
            "fixture {} does not produce {}; it produced {codes:?}\n{human}",
            info.code,
            info.code
        );
        insta::assert_snapshot!(format!("{}_human", info.code), human);
        insta::assert_snapshot!(format!("{}_json", info.code), json);
    }
}

#[test]
fn messages_follow_the_style_guide() {
    // Lowercase first letter, no trailing period: the cedar-style rule this project keeps.
    let _cwd = std::env::set_current_dir(super::root());
    for info in CODES.iter().filter(|i| i.code != Code::Internal.as_str()) {
        let path = PathBuf::from(format!("tests/fixtures/diagnostics/{}.policy", info.code));
        let sources = compile::load_sources(&[path]).expect("fixture exists");
        let build = compile::build(sources, &ModelStore::new("models"));
        for d in &build.diagnostics {
            let first = d.message.chars().next().unwrap_or('a');
            assert!(
                !first.is_uppercase(),
                "{}: message starts uppercase: {}",
                info.code,
                d.message
            );
            assert!(
                !d.message.ends_with('.'),
                "{}: message ends with a period: {}",
                info.code,
                d.message
            );
        }
    }
}

#[test]
fn misspelled_context_field_points_at_it_with_did_you_mean() {
    let (human, json, codes) = check_fixture("P1001");
    assert_eq!(codes, vec![Code::UnknownName]);
    assert!(
        human.contains("tests/fixtures/diagnostics/P1001.policy:7:25"),
        "{human}"
    );
    assert!(human.contains("did you mean `dau_7`?"), "{human}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v[0]["line"], 7);
    assert_eq!(v[0]["column"], 25);
    assert_eq!(v[0]["code"], "P1001");
}
