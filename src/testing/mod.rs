//! `testing`: decision test cases that live beside the policies (`notifications.test.yaml`).
//! Pure: parsed cases + a compiled graph → results; the CLI reads files and measures time.
//!
//! A cases file is a YAML list (read with `serde-saphyr`; serde_yaml is archived). Each case:
//!
//! ```yaml
//! - name: quiet hours block every topic        # required
//!   policy: notifications                      # the entry policy
//!   now: 2026-11-24T04:30:00Z                  # RFC 3339
//!   context: { user_id: u1, ... }              # the request
//!   history:                                   # optional: past actions, as `eval --history`
//!     - { subject: u1, candidate: digest, at: 2026-11-24T01:00:00Z }
//!   expect:                                    # every key optional; only given keys are checked
//!     selected: [digest]                       # selected ids, in order
//!     rejected: { reminder: [quiet_hours] }    # every rejected id and its blocking guards
//!     retry_at: { reminder: 2026-11-24T13:00:00Z }  # when a rejected id may be retried
//!     path: [notifications]                    # the route path
//!     scores: { digest: { min: 0.5, max: 1 } } # score bounds of selected or rejected ids
//!     nothing_selected: true
//!     outcome: none                            # selected | none | fallback
//! ```
//!
//! `rejected`, when given, is the whole set: a candidate rejected but not listed fails the case,
//! and `rejected: {}` says nothing is rejected. Guard names compare in any order.
//!
//! `retry_at` checks only the ids it lists: each must be rejected with exactly that `retry_at`
//! (an RFC 3339 instant, compared as an instant, so `08:00:00-05:00` equals `13:00:00Z`), or
//! `null` for a candidate rejected with no `retry_at` (only `require` guards block it).

use crate::compile::DecisionGraph;
use crate::decision::{Decision, Outcome};
use crate::eval::{self, Options};
use crate::ledger::{MemoryLedger, PastAction};
use jiff::Timestamp;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// One test case as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub policy: String,
    pub now: Timestamp,
    #[serde(default)]
    pub context: serde_json::Value,
    #[serde(default)]
    pub history: Vec<PastAction>,
    pub expect: Expect,
}

/// What a case expects; `None` is not checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub selected: Option<Vec<String>>,
    pub rejected: Option<BTreeMap<String, Vec<String>>>,
    /// `retry_at` of rejected ids; `None` (YAML `null`) expects a rejection without one.
    pub retry_at: Option<BTreeMap<String, Option<Timestamp>>>,
    pub path: Option<Vec<String>>,
    pub scores: Option<BTreeMap<String, Bounds>>,
    pub nothing_selected: Option<bool>,
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// A case and where it starts.
#[derive(Debug, Clone)]
pub struct LocatedCase {
    pub case: Case,
    /// 1-based line of the case in its file.
    pub line: usize,
}

/// A cases file.
#[derive(Debug, Clone)]
pub struct CasesFile {
    pub path: PathBuf,
    pub cases: Vec<LocatedCase>,
}

/// Why a cases file does not parse. The file's path is the caller's to add: `{path}:{e}` for
/// [`CaseError::At`] (a `path:line:column: what` location), `{path}: {e}` otherwise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaseError {
    /// Invalid YAML, or YAML that is not a list of cases, at `line:column` (1-based).
    /// `message` is the parser's first line without its location.
    #[error("{line}:{column}: {message}")]
    At {
        line: usize,
        column: usize,
        message: String,
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// The same, where the parser knows no location.
    #[error("{message}")]
    Unlocated {
        message: String,
        #[source]
        source: Box<serde_saphyr::Error>,
    },
}

/// Parses a cases file. The error says where (`line:column`) and what.
pub fn parse_cases(text: &str) -> Result<Vec<LocatedCase>, CaseError> {
    let cases: Vec<serde_saphyr::Spanned<Case>> = serde_saphyr::from_str(text).map_err(|e| {
        let msg = e.to_string();
        let first = msg.lines().next().unwrap_or("invalid YAML");
        let first = first.strip_prefix("error: ").unwrap_or(first);
        match e.location() {
            Some(loc) => {
                // The message repeats the location in words: keep the `line:col:` form only.
                let words = format!("line {} column {}: ", loc.line(), loc.column());
                let what = first.strip_prefix(words.as_str()).unwrap_or(first);
                CaseError::At {
                    line: loc.line() as usize,
                    column: loc.column() as usize,
                    message: what.to_string(),
                    source: Box::new(e),
                }
            }
            None => CaseError::Unlocated {
                message: first.to_string(),
                source: Box::new(e),
            },
        }
    })?;
    Ok(cases
        .into_iter()
        .map(|s| LocatedCase {
            line: s.referenced.line() as usize,
            case: s.value,
        })
        .collect())
}

/// One field that did not match.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// `selected`, `rejected.reminder`, `scores.digest`, ...
    pub field: String,
    pub expected: String,
    pub actual: String,
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub policy: String,
    pub file: PathBuf,
    pub line: usize,
    /// Empty when the case passed.
    pub mismatches: Vec<Mismatch>,
    /// How long the case took, when the caller measured it.
    pub time: Option<Duration>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
    /// `path:line`, as a failure names its case.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// Runs one case against a graph: a fresh ledger seeded with its history, a dry run at `now`.
pub fn run_case(graph: &DecisionGraph, case: &Case) -> Vec<Mismatch> {
    let ledger = MemoryLedger::new();
    if let Err(e) = ledger.seed_past(case.history.clone(), &case.policy) {
        return vec![Mismatch {
            field: "history".into(),
            expected: "a ledger".into(),
            actual: e.to_string(),
        }];
    }
    let opts = Options {
        now: case.now,
        explain: false,
        decision_id: Some("test".into()),
        dry_run: true,
    };
    match eval::decide(graph, &case.policy, &case.context, &opts, &ledger) {
        Ok(d) => compare(&case.expect, &d),
        Err(e) => vec![Mismatch {
            field: "decision".into(),
            expected: "a decision".into(),
            actual: format!("error: {e}"),
        }],
    }
}

/// Runs every case of a file, untimed.
pub fn run_file(graph: &DecisionGraph, file: &CasesFile) -> Vec<CaseResult> {
    file.cases
        .iter()
        .map(|lc| result(file, lc, run_case(graph, &lc.case), None))
        .collect()
}

/// The result of a case of `file` with its mismatches and, when measured, its time.
pub fn result(
    file: &CasesFile,
    lc: &LocatedCase,
    mismatches: Vec<Mismatch>,
    time: Option<Duration>,
) -> CaseResult {
    CaseResult {
        name: lc.case.name.clone(),
        policy: lc.case.policy.clone(),
        file: file.path.clone(),
        line: lc.line,
        mismatches,
        time,
    }
}

fn list(ids: &[String]) -> String {
    format!("[{}]", ids.join(", "))
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Selected => "selected",
        Outcome::None => "none",
        Outcome::Fallback => "fallback",
    }
}

/// Compares a decision with what a case expects; every mismatching field.
pub fn compare(expect: &Expect, d: &Decision) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut push = |field: String, expected: String, actual: String| {
        out.push(Mismatch {
            field,
            expected,
            actual,
        })
    };
    let selected: Vec<String> = d.selected.iter().map(|s| s.id.clone()).collect();
    if let Some(o) = expect.outcome
        && o != d.outcome
    {
        push(
            "outcome".into(),
            outcome_name(o).into(),
            outcome_name(d.outcome).into(),
        );
    }
    if let Some(want) = &expect.selected
        && *want != selected
    {
        push("selected".into(), list(want), list(&selected));
    }
    if expect.nothing_selected == Some(true) && !selected.is_empty() {
        push("nothing_selected".into(), list(&[]), list(&selected));
    }
    if expect.nothing_selected == Some(false) && selected.is_empty() {
        push(
            "nothing_selected".into(),
            "something selected".into(),
            list(&[]),
        );
    }
    if let Some(want) = &expect.rejected {
        let got: BTreeMap<&str, &Vec<String>> = d
            .rejected
            .iter()
            .map(|r| (r.id.as_str(), &r.guards))
            .collect();
        for (id, guards) in want {
            match got.get(id.as_str()) {
                Some(g) if sorted(g) == sorted(guards) => {}
                Some(g) => push(format!("rejected.{id}"), list(guards), list(g)),
                None => push(
                    format!("rejected.{id}"),
                    list(guards),
                    "not rejected".into(),
                ),
            }
        }
        for (id, g) in &got {
            if !want.contains_key(*id) {
                push(format!("rejected.{id}"), "not rejected".into(), list(g));
            }
        }
    }
    if let Some(want) = &expect.retry_at {
        let show = |t: &Option<Timestamp>| match t {
            Some(t) => t.to_string(),
            None => "no retry_at".to_string(),
        };
        for (id, at) in want {
            match d.rejected.iter().find(|r| &r.id == id) {
                Some(r) if r.retry_at == *at => {}
                Some(r) => push(format!("retry_at.{id}"), show(at), show(&r.retry_at)),
                None => push(format!("retry_at.{id}"), show(at), "not rejected".into()),
            }
        }
    }
    if let Some(want) = &expect.path
        && *want != d.path
    {
        push("path".into(), list(want), list(&d.path));
    }
    if let Some(want) = &expect.scores {
        for (id, b) in want {
            let score = d
                .selected
                .iter()
                .find(|s| &s.id == id)
                .map(|s| s.score)
                .or_else(|| d.rejected.iter().find(|r| &r.id == id).map(|r| r.score));
            let bounds = format!(
                "{}..{}",
                b.min.map(|v| v.to_string()).unwrap_or_default(),
                b.max.map(|v| v.to_string()).unwrap_or_default()
            );
            match score {
                Some(Some(s)) => {
                    if b.min.is_some_and(|m| s < m) || b.max.is_some_and(|m| s > m) {
                        push(format!("scores.{id}"), bounds, format!("{s:.4}"));
                    }
                }
                Some(None) => push(format!("scores.{id}"), bounds, "no score".into()),
                None => push(
                    format!("scores.{id}"),
                    bounds,
                    "neither selected nor rejected".into(),
                ),
            }
        }
    }
    out
}

/// The text report: one line per case, the mismatches of each failure, then `N passed, N failed`.
pub fn render_text(results: &[CaseResult]) -> String {
    let mut out = String::new();
    for r in results {
        if r.passed() {
            out.push_str(&format!("ok   {} {}\n", r.location(), r.name));
            continue;
        }
        out.push_str(&format!("FAIL {} {}\n", r.location(), r.name));
        for m in &r.mismatches {
            out.push_str(&format!(
                "       {}\n         expected: {}\n         actual:   {}\n",
                m.field, m.expected, m.actual
            ));
        }
    }
    out.push_str(&summary(results));
    out.push('\n');
    out
}

/// `N passed, N failed`.
pub fn summary(results: &[CaseResult]) -> String {
    let failed = results.iter().filter(|r| !r.passed()).count();
    format!("{} passed, {failed} failed", results.len() - failed)
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// quick-junit could not serialize the JUnit XML.
    #[error("{source}")]
    Junit {
        #[source]
        source: quick_junit::SerializeError,
    },
}

/// A JUnit XML report: one test suite per cases file, one test case per case, failures with the
/// case's `file:line` and every mismatch.
pub fn render_junit(results: &[CaseResult]) -> Result<String, ReportError> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("policy test");
    let mut suites: Vec<TestSuite> = Vec::new();
    for r in results {
        let suite_name = r.file.display().to_string();
        if suites.last().is_none_or(|s| s.name.as_str() != suite_name) {
            suites.push(TestSuite::new(suite_name));
        }
        let status = if r.passed() {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let fields: Vec<&str> = r.mismatches.iter().map(|m| m.field.as_str()).collect();
            s.set_message(format!(
                "{}: mismatch in {}",
                r.location(),
                fields.join(", ")
            ));
            s.set_type("mismatch");
            let text: String = r
                .mismatches
                .iter()
                .map(|m| {
                    format!(
                        "{}\n  expected: {}\n  actual:   {}\n",
                        m.field, m.expected, m.actual
                    )
                })
                .collect();
            s.set_description(format!("{}\n{text}", r.location()));
            s
        };
        let mut tc = TestCase::new(r.name.as_str(), status);
        tc.set_classname(r.policy.as_str());
        if let Some(t) = r.time {
            tc.set_time(t);
        }
        tc.extra
            .insert("file".into(), r.file.display().to_string().into());
        tc.extra.insert("line".into(), r.line.to_string().into());
        if let Some(s) = suites.last_mut() {
            s.add_test_case(tc);
        }
    }
    report.add_test_suites(suites);
    report
        .to_string()
        .map_err(|source| ReportError::Junit { source })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_case_is_located_at_its_line_and_column() {
        let yaml =
            "- name: a\n  policy: p\n  now: 2026-11-24T04:30:00Z\n  expect: {}\n  colour: red\n";
        let e = parse_cases(yaml).unwrap_err();
        let CaseError::At {
            line,
            column,
            message,
            ..
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!(*line, 5, "{e}");
        assert_eq!(e.to_string(), format!("{line}:{column}: {message}"));
        assert!(!message.starts_with("line "), "{message}");
        assert!(message.contains("colour"), "{message}");
        assert!(std::error::Error::source(&e).is_some());
    }
}
