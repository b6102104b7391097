//! The documentation is executable: every ```console block in `README.md` and `docs/*.md` runs
//! with [`trycmd`] against the `policy` binary and its output must match what the block shows.
//!
//! # The convention in `docs/*.md`
//!
//! - An example file is a fenced block right after `<!-- file: NAME -->` (`NAME.policy`,
//!   `NAME.json`, ...). Before the doc's console blocks run, every such file is written, under
//!   its name, into a scratch directory that also links the repository's `models/` and
//!   `examples/`; the commands run there, so `policy check NAME.policy` prints diagnostics with
//!   the file name the doc shows.
//! - `<!-- expect: CODE, ... -->` on the line before a `file` marker says which diagnostic codes
//!   that policy reports (no marker: it checks clean). Every such example must also be shown
//!   with a `$ policy check NAME` console block, so its rendered output is compared too.
//! - `README.md` runs from the repository root with no scratch directory.
//! - A failure in `docs/NAME.md` is reported as `/tmp/.../NAME.md:LINE`, the scratch copy: the
//!   line is the same in the doc.
//!
//! # Console blocks (trycmd syntax)
//!
//! - `$ policy ...` is a command (one line; `> ` continues it), the lines after it its
//!   standard output and standard error, merged.
//! - `? 1` (or `? 2`) after the command: the expected exit status; without it, 0.
//! - Redactions, for what changes from run to run or is beside the point:
//!   - `[..]` inside a line matches any text: used for decision ids (`"decision_id": "[..]"`:
//!     a per-process prefix and a counter), revisions (`"revision": "[..]"`, a content hash that
//!     changes with every edit to a policy or model), and the timings of `policy bench`;
//!   - `...` alone on a line matches any number of lines: used where an example shows only the
//!     fields under discussion.
//!
//! Every `policy eval` in the docs passes `--now`, so no output depends on the clock. Blocks that
//! start a server (`serve`, `curl`, `wrk`) are ```sh and do not run.
//!
//! To rewrite the outputs from a run: `TRYCMD=overwrite cargo test --test it docs::` (then
//! restore the redactions the overwrite dropped, and read the diff).

use policy_engine::compile;
use policy_engine::model::ModelStore;
use policy_engine::source::SourceMap;
use std::path::{Path, PathBuf};

struct Example {
    name: String,
    line: usize,
    expect: Vec<String>,
    body: String,
}

fn examples(doc: &str, doc_name: &str) -> Vec<Example> {
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
            lines.get(i + 1).is_some_and(|l| l.starts_with("```")),
            "{doc_name}:{}: no fence after the marker",
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

/// The `docs/*.md` files.
fn doc_files() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(crate::root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    docs
}

fn language_reference() -> (String, Vec<Example>) {
    let doc = std::fs::read_to_string(crate::root().join("docs/language.md")).unwrap();
    let all = examples(&doc, "docs/language.md");
    (doc, all)
}

#[test]
fn every_example_in_the_language_reference_checks_as_documented() {
    let (_, all) = language_reference();
    let store = ModelStore::new(crate::root().join("models"));
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

#[test]
fn every_example_with_diagnostics_shows_what_policy_check_prints() {
    let (doc, all) = language_reference();
    let missing: Vec<String> = all
        .iter()
        .filter(|e| !e.expect.is_empty())
        .filter(|e| !doc.contains(&format!("\n$ policy check {}\n", e.name)))
        .map(|e| {
            format!(
                "docs/language.md:{} `{}` reports {:?} but no `$ policy check {}` block shows it",
                e.line, e.name, e.expect, e.name
            )
        })
        .collect();
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// A scratch copy of `doc` whose console blocks run in `NAME.in/`: the doc's example files
/// plus links to `models/` and `examples/`. Returns the copy's path.
fn scratch_case(dir: &Path, doc: &Path) -> PathBuf {
    let text = std::fs::read_to_string(doc).unwrap();
    let name = doc.file_name().unwrap();
    let copy = dir.join(name);
    std::fs::write(&copy, &text).unwrap();
    let cwd = copy.with_extension("in");
    std::fs::create_dir(&cwd).unwrap();
    for ex in examples(&text, &doc.display().to_string()) {
        assert!(
            !ex.name.contains('/') && !cwd.join(&ex.name).exists(),
            "{}:{}: `{}` is not a fresh plain file name",
            doc.display(),
            ex.line,
            ex.name
        );
        std::fs::write(cwd.join(&ex.name), &ex.body).unwrap();
    }
    for shared in ["models", "examples"] {
        std::os::unix::fs::symlink(crate::root().join(shared), cwd.join(shared)).unwrap();
    }
    copy
}

fn cases() -> trycmd::TestCases {
    let cases = trycmd::TestCases::new();
    cases
        .register_bin("policy", trycmd::cargo::cargo_bin!("policy"))
        .env("NO_COLOR", "1");
    cases
}

#[test]
fn the_readme_console_examples_print_what_they_show() {
    // trycmd runs `README.md` from the working directory, the repository root.
    assert_eq!(std::env::current_dir().unwrap(), crate::root());
    cases().case("README.md").run();
}

#[test]
fn the_console_examples_in_docs_print_what_they_show() {
    let dir = tempfile::tempdir().unwrap();
    let docs = doc_files();
    assert!(!docs.is_empty());
    let copies: Vec<(PathBuf, PathBuf)> = docs
        .iter()
        .map(|d| (d.clone(), scratch_case(dir.path(), d)))
        .collect();
    let t = cases();
    for (_, copy) in &copies {
        t.case(copy);
    }
    t.run();
    // `TRYCMD=overwrite` rewrote the scratch copies: bring the new outputs home.
    if std::env::var("TRYCMD").is_ok_and(|v| v == "overwrite") {
        for (doc, copy) in &copies {
            std::fs::copy(copy, doc).unwrap();
        }
    }
}

#[test]
fn every_json_block_in_the_docs_is_valid_json() {
    let mut files = vec![crate::root().join("README.md")];
    files.extend(doc_files());
    let mut failures = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            if lines[i] == "```json" {
                let body: Vec<&str> = lines[i + 1..]
                    .iter()
                    .take_while(|l| !l.starts_with("```"))
                    .copied()
                    .collect();
                if let Err(e) = serde_json::from_str::<serde_json::Value>(&body.join("\n")) {
                    failures.push(format!("{}:{}: {e}", f.display(), i + 1));
                }
                i += body.len() + 1;
            }
            i += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The code table of `docs/language.md` lists every registered code with its name and severity,
/// and nothing else (regression guard: new codes were added without their row).
#[test]
fn the_code_table_lists_every_registered_code() {
    let doc = std::fs::read_to_string(crate::root().join("docs/language.md")).unwrap();
    let rows: Vec<&str> = doc
        .lines()
        .filter(|l| l.starts_with("| P") && l.ends_with("` |"))
        .collect();
    let codes = policy_engine::diagnostics::CODES;
    let mut missing = Vec::new();
    for c in codes {
        let severity = format!("{:?}", c.severity).to_lowercase();
        let prefix = format!("| {} | {} | {severity} | ", c.code, c.name);
        if !rows.iter().any(|r| r.starts_with(&prefix)) {
            missing.push(prefix);
        }
    }
    assert!(missing.is_empty(), "rows missing or wrong: {missing:#?}");
    assert_eq!(
        rows.len(),
        codes.len(),
        "the table has rows for codes that do not exist"
    );
}
