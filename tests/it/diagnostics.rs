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

// ---- rendering far to the right (issue 15, finding "panic") --------------------------------

/// Renders one diagnostic with labels at the given byte ranges of `text` (the first is the
/// primary), as `policy check` prints it.
fn render_labels(text: &str, spans: &[(usize, usize)]) -> String {
    use policy_engine::diagnostics::Diagnostic;
    use policy_engine::source::Span;
    let mut sources = SourceMap::new();
    let id = sources.add("wide.policy", text);
    let mut d = Diagnostic::new(Code::Syntax, "a label far to the right");
    for (i, &(s, e)) in spans.iter().enumerate() {
        d = d.label(Span::new(id, s, e), format!("label {i}"));
    }
    diagnostics::render_human(&[d], &sources, false)
}

/// Regression (issue 15, "panic"): a label past column 65 535 made miette panic
/// ("Formatting argument out of range"). The line is shown clipped around the label, and the
/// header still names the file's own line and column.
#[test]
fn a_label_at_column_70000_is_shown_on_a_clipped_line_with_its_real_column() {
    let text = format!("policy p {{\n{}oops\n}}\n", " ".repeat(70_000));
    let at = text.find("oops").unwrap();
    let out = render_labels(&text, &[(at, at + 4)]);
    assert!(out.contains("[wide.policy:2:70001]"), "{out}");
    assert!(out.contains("\u{2026}"), "the line is clipped: {out}");
    assert!(out.contains("oops"), "{out}");
    assert!(out.contains("label 0"), "{out}");
    assert!(
        out.len() < 2_000,
        "the clipped line is short: {} bytes",
        out.len()
    );
    // Two labels far apart on one line keep both, with the gap between them left out.
    let out = render_labels(&text, &[(at, at + 4), (11, 12)]);
    assert!(out.contains("label 0") && out.contains("label 1"), "{out}");
    // A label spanning the whole long line, and one at its very end.
    let end = text[11..].find('\n').unwrap() + 11;
    assert!(render_labels(&text, &[(11, end)]).contains("label 0"));
    assert!(render_labels(&text, &[(end, end)]).contains("label 0"));
}

/// Lines of hand-written length are shown whole, as before: clipping starts past 400 bytes.
#[test]
fn a_line_of_ordinary_length_is_shown_whole() {
    let text = format!("policy p {{\n  let x = {}oops\n}}\n", "a + ".repeat(90));
    let at = text.find("oops").unwrap();
    let out = render_labels(&text, &[(at, at + 4)]);
    assert!(!out.contains('\u{2026}'), "{out}");
    assert!(out.contains(&"a + ".repeat(90)), "{out}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Nothing in the rendering path panics, whatever the lines' lengths and wherever the
    /// labels are (far right, across lines, at the end, empty, multi-byte text around them),
    /// and every format gives the primary label's line and column.
    #[test]
    fn rendering_never_panics_wherever_the_labels_are(
        lines in proptest::collection::vec((0usize..90_000, "[ aé\t]{0,3}"), 1..4),
        labels in proptest::collection::vec((0usize..1_000_000, 0usize..100_000), 1..4),
    ) {
        let text: String = lines
            .iter()
            .map(|(n, tail)| format!("{}{tail}x\n", "ab".repeat(n / 2)))
            .collect();
        let floor = |mut i: usize| {
            i = i.min(text.len());
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let spans: Vec<(usize, usize)> = labels
            .iter()
            .map(|&(s, len)| {
                let s = floor(s % (text.len() + 1));
                (s, floor(s + len))
            })
            .collect();
        let out = render_labels(&text, &spans);
        proptest::prop_assert!(out.contains("label 0"));
        let mut sources = SourceMap::new();
        let id = sources.add("wide.policy", text.as_str());
        let d = policy_engine::diagnostics::Diagnostic::new(Code::Syntax, "x")
            .label(policy_engine::source::Span::new(id, spans[0].0, spans[0].1), "");
        let short = diagnostics::render_short(&d, &sources);
        let loc = diagnostics::location(&d, &sources).unwrap();
        let want = format!("wide.policy:{}:{}:", loc.line, loc.column);
        proptest::prop_assert!(short.starts_with(&want), "{} does not start with {}", short, want);
        let _ = diagnostics::to_json(&d, &sources);
        let _ = diagnostics::render_github(&[d.clone()], &sources, None);
        let _ = diagnostics::to_sarif(&[d], &sources, None);
    }
}
