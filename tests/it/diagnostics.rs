//! Every diagnostic code has a fixture `tests/fixtures/diagnostics/<CODE>.policy`; its rendered
//! output (human and JSON) is an insta snapshot.

use policy_engine::compile::{self, Build};
use policy_engine::diagnostics::{self, CODES, Code};
use policy_engine::model::ModelStore;
use policy_engine::source::SourceMap;

/// Builds one fixture as `policy check` run from the repository root reports it, without
/// touching the process's working directory (the tests of this binary run in parallel threads):
/// the file is read by its absolute path but named relative to the root, and the models
/// directory's absolute prefix is taken out of the messages, so snapshots do not depend on
/// where the checkout lives.
fn build_fixture(code: &str) -> Build {
    let root = super::root();
    let path = root.join(format!("tests/fixtures/diagnostics/{code}.policy"));
    let loaded = compile::load_sources(&[path]).expect("fixture exists");
    let mut sources = SourceMap::new();
    for (_, f) in loaded.files() {
        let name = f.path.strip_prefix(root).unwrap_or(&f.path);
        match &f.unreadable {
            Some(why) => sources.add_unreadable(name, why),
            None => sources.add(name, f.text.clone()),
        };
    }
    let mut build = compile::build(sources, &ModelStore::new(root.join("models")));
    let prefix = format!("{}/", root.display());
    let relative = |s: &mut String| *s = s.replace(&prefix, "");
    for d in &mut build.diagnostics {
        relative(&mut d.message);
        d.help.iter_mut().for_each(relative);
        d.labels
            .iter_mut()
            .filter_map(|l| l.message.as_mut())
            .for_each(relative);
    }
    build
}

/// Checks one fixture; returns the rendered human output, the JSON, and the codes found.
fn check_fixture(name: &str) -> (String, String, Vec<Code>) {
    let build = build_fixture(name);
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
    for info in CODES {
        for d in &build_fixture(info.code).diagnostics {
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

#[test]
fn every_code_and_message_follows_the_style_rules() {
    use policy_engine::diagnostics::style::{Part, violations};
    let mut broken = Vec::new();
    for info in CODES {
        for v in violations(info.summary, Part::Message) {
            broken.push(format!("{} summary: {v}: {}", info.code, info.summary));
        }
    }
    // Every code's fixture, and fixtures whose wording depends on the data.
    let fixtures = CODES
        .iter()
        .map(|i| i.code.to_string())
        .chain(["style/wording".to_string()]);
    for name in fixtures {
        let (_, json, _) = check_fixture(&name);
        let diags: serde_json::Value = serde_json::from_str(&json).expect("json");
        for d in diags.as_array().into_iter().flatten() {
            let mut texts = vec![(Part::Message, &d["message"])];
            texts.push((Part::Help, &d["help"]));
            for l in d["labels"].as_array().into_iter().flatten() {
                texts.push((Part::Label, &l["message"]));
            }
            for (part, text) in texts {
                let Some(text) = text.as_str() else { continue };
                for v in violations(text, part) {
                    broken.push(format!("{name} {part:?}: {v}: {text}"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn wording_follows_the_data() {
    let (human, _, _) = check_fixture("style/wording");
    insta::assert_snapshot!("style_wording_human", human);
}

#[test]
fn a_rejected_declaration_is_reported_once() {
    for (name, expected) in [
        (
            "cascade/rejected_param",
            vec![Code::InvalidLiteral, Code::InvalidLiteral],
        ),
        ("cascade/reserved_value", vec![Code::ReservedName]),
        // `chanel` is a misspelled `channel`: not also "lacks attribute `channel`".
        ("P1006", vec![Code::CandidateShape]),
    ] {
        let (human, _, codes) = check_fixture(name);
        assert_eq!(codes, expected, "{name}:\n{human}");
    }
}

#[test]
fn every_typed_problem_follows_the_style_rules() {
    use policy_engine::check::{ExprProblem, Problem};
    use policy_engine::diagnostics::style::{Part, violations};
    // Every problem the checker reports, expressions included: (code, message, help, labels).
    let checker = Problem::examples()
        .into_iter()
        .map(|p| (p.code(), p.message(), p.help(), p.labels()));
    let exprs = ExprProblem::examples()
        .into_iter()
        .map(|p| (p.code(), p.message(), p.help(), p.labels()));
    let mut broken = Vec::new();
    for (code, message, help, labels) in checker.chain(exprs) {
        let mut texts = vec![(Part::Message, message)];
        texts.extend(help.map(|h| (Part::Help, h)));
        texts.extend(labels.into_iter().map(|l| (Part::Label, l)));
        for (part, text) in texts {
            for v in violations(&text, part) {
                broken.push(format!("{code:?} {part:?}: {v}: {text}"));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
