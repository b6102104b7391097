//! The language reference stays true: every example policy in `docs/language.md` (a fenced
//! block after `<!-- file: NAME.policy -->`) checks clean, or reports exactly the codes of the
//! `<!-- expect: CODE, ... -->` line before it.

use policy_engine::compile;
use policy_engine::model::ModelStore;
use policy_engine::source::SourceMap;

struct Example {
    name: String,
    line: usize,
    expect: Vec<String>,
    body: String,
}

fn examples(doc: &str) -> Vec<Example> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line
            .strip_prefix("<!-- file: ")
            .and_then(|r| r.strip_suffix(" -->"))
        else {
            continue;
        };
        let expect = i
            .checked_sub(1)
            .and_then(|p| lines[p].strip_prefix("<!-- expect: "))
            .and_then(|r| r.strip_suffix(" -->"))
            .map(|codes| codes.split(',').map(|c| c.trim().to_string()).collect())
            .unwrap_or_default();
        assert!(
            lines[i + 1].starts_with("```"),
            "docs/language.md:{}: no fence after the marker",
            i + 2
        );
        let body: String = lines[i + 2..]
            .iter()
            .take_while(|l| !l.starts_with("```"))
            .map(|l| format!("{l}\n"))
            .collect();
        out.push(Example {
            name: name.to_string(),
            line: i + 1,
            expect,
            body,
        });
    }
    out
}

#[test]
fn every_example_in_the_language_reference_checks_as_documented() {
    let doc = std::fs::read_to_string(crate::root().join("docs/language.md")).unwrap();
    let store = ModelStore::new(crate::root().join("models"));
    let all = examples(&doc);
    let policies: Vec<_> = all.iter().filter(|e| e.name.ends_with(".policy")).collect();
    assert!(
        policies.len() >= 25,
        "only {} example policies found",
        policies.len()
    );
    let mut failures = Vec::new();
    for ex in policies {
        let mut sources = SourceMap::new();
        sources.add(&ex.name, ex.body.clone());
        let build = compile::build(sources, &store);
        let mut codes: Vec<String> = build
            .diagnostics
            .iter()
            .map(|d| d.code.as_str().to_string())
            .collect();
        codes.sort();
        let mut want = ex.expect.clone();
        want.sort();
        if codes != want {
            failures.push(format!(
                "docs/language.md:{} `{}`: reports {codes:?}, the doc says {want:?}",
                ex.line, ex.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
