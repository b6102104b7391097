//! Fuzzing that stays (issue 15, item 5), on stable and bounded: every committed corpus input,
//! then a fixed-seed proptest mutation run, through the same target bodies `cargo fuzz` runs
//! (`tests/fuzz/src/targets.rs`, included here as a module). A target fails on a panic, on a
//! hang (a generous timeout, never a timing assertion) or on an error that is not a diagnostic
//! (the body's `Err`). Each case runs on its own thread with a 64 MiB stack, named after its
//! input, so that even a stack overflow, which aborts the process, names the input. A mutant
//! that fails is written to `$CARGO_TARGET_TMPDIR/fuzz-findings/<target>/`, to be committed as a
//! regression fixture under `tests/fixtures/fuzz/<target>/`.

#[path = "../fuzz/src/targets.rs"]
mod targets;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;
use targets::{Target, Verdict};

/// The repository root, for `targets::root`.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Far beyond what any corpus input takes in a debug build; only a hang gets here.
const TIMEOUT: Duration = Duration::from_secs(120);
/// The stack of each case's thread (the server's reload thread has as much).
const STACK: usize = 64 << 20;

/// Where each target's corpus is: its own directory, then committed files it also starts from,
/// read in place so that the corpus never drifts from them (the same list as CONTRIBUTING.md's
/// `cargo fuzz` commands). In `tests/fixtures/fuzz/` every file counts; elsewhere, files with
/// the extension given.
const CORPUS: &[(&str, &[(&str, &str)])] = &[
    (
        "parse",
        &[
            ("tests/fixtures/fuzz/parse", ""),
            ("tests/fixtures/fuzz/fmt", ""),
            ("policies", "policy"),
            ("tests/fixtures/diagnostics", "policy"),
            ("tests/fixtures/fmt", "policy"),
            ("tests/fixtures/syntax", "policy"),
            ("tests/fixtures/policies", "policy"),
        ],
    ),
    (
        "fmt",
        &[
            ("tests/fixtures/fuzz/fmt", ""),
            ("tests/fixtures/fuzz/parse", ""),
            ("policies", "policy"),
            ("tests/fixtures/diagnostics", "policy"),
            ("tests/fixtures/fmt", "policy"),
            ("tests/fixtures/syntax", "policy"),
        ],
    ),
    (
        "request",
        &[
            ("tests/fixtures/fuzz/request", ""),
            ("examples/contexts", "json"),
        ],
    ),
    ("model", &[("tests/fixtures/fuzz/model", "")]),
];

fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            files_under(&path, ext, out);
        } else if ext.is_empty() || path.extension().is_some_and(|x| x == ext) {
            out.push(path);
        }
    }
}

/// Issue 15's hostile inputs, written by the generators of `tests/it/hostile.rs` (shared with
/// the parser's own tests and bench) rather than committed, and the 100 000-item batch.
fn generated(target: &str) -> Vec<(String, Vec<u8>)> {
    use crate::hostile::*;
    let policies = || {
        [
            ("plus-chain-2000", chain(2_000)),
            ("plus-chain-100000", chain(100_000)),
            ("nested-parens-10000", nested_parens(10_000)),
            ("nested-records-10000", nested_records(10_000)),
            ("nested-lists-10000", nested_lists(10_000)),
            ("unclosed-calls-24", unclosed_calls(24)),
            ("unclosed-calls-1000", unclosed_calls(1_000)),
            ("unclosed-mixed-24", unclosed_mixed(24)),
            ("unclosed-mixed-1000", unclosed_mixed(1_000)),
            ("escaped-string-64k", escaped_string(64 * 1024)),
            ("far-syntax-error-70000", far_syntax_error(70_000)),
            ("far-unknown-name-70000", far_unknown_name(70_000)),
        ]
        .into_iter()
        .map(|(n, t)| (format!("generated/{n}"), t.into_bytes()))
        .collect()
    };
    match target {
        "parse" | "fmt" => policies(),
        "request" => vec![
            (
                "generated/batch-100000-empty".into(),
                format!("{{\"requests\": [{}{{}}]}}", "{}, ".repeat(99_999)).into_bytes(),
            ),
            (
                "generated/nested-records-context-10000".into(),
                nested_records_context(10_000).into_bytes(),
            ),
        ],
        _ => vec![],
    }
}

/// Every input of `target`'s corpus, by its path from the repository root, sorted.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let (_, dirs) = CORPUS
        .iter()
        .find(|(t, _)| *t == target)
        .expect("a target of CORPUS");
    let mut paths = Vec::new();
    for (dir, ext) in *dirs {
        files_under(&crate::root().join(dir), ext, &mut paths);
    }
    paths.sort();
    paths.dedup();
    let mut inputs: Vec<(String, Vec<u8>)> = paths
        .iter()
        .map(|p| {
            let name = p
                .strip_prefix(crate::root())
                .unwrap_or(p)
                .display()
                .to_string();
            (name, std::fs::read(p).unwrap())
        })
        .collect();
    inputs.extend(generated(target));
    inputs
}

fn body(target: &str) -> Target {
    targets::TARGETS
        .iter()
        .find(|(t, _)| *t == target)
        .map(|(_, f)| *f)
        .expect("a target of TARGETS")
}

/// Runs `f` on `data` on a thread of its own, named after the input, with a 64 MiB stack.
/// `Err` says what went wrong: the body's finding, a panic, or no answer within `timeout` (the
/// thread is then left behind: a hung case cannot be stopped).
fn run_case(name: &str, f: Target, data: Arc<Vec<u8>>, timeout: Duration) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("fuzz case {name}"))
        .stack_size(STACK)
        .spawn(move || {
            let r = std::panic::catch_unwind(|| f(&data));
            let _ = tx.send(r);
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    match rx.recv_timeout(timeout) {
        Ok(r) => {
            let _ = thread.join();
            match r {
                Ok(verdict) => verdict,
                Err(panic) => Err(format!("panicked: {}", panic_message(panic.as_ref()))),
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("no answer in {timeout:?}: a hang")),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("the case died without an answer".into()),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Every corpus input of `target` through its body; fails listing each input that failed.
fn run_corpus(target: &str) {
    let f = body(target);
    let inputs = corpus(target);
    assert!(!inputs.is_empty(), "the `{target}` corpus is empty");
    let failures: Vec<String> = inputs
        .into_iter()
        .filter_map(|(name, data)| {
            run_case(&format!("{target} {name}"), f, Arc::new(data), TIMEOUT)
                .err()
                .map(|why| format!("{name}: {why}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} `{target}` corpus input(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Guards issue 15's parser and checker findings (the `+` chains, deep nesting, unclosed
/// delimiters, the escaped string, the label past column 65 535) and every example policy and
/// diagnostic fixture: built, rendered, graphed and diffed without a panic, a hang or an error
/// that does not say where.
#[test]
fn every_parse_corpus_input_builds_or_gets_a_located_diagnostic() {
    run_corpus("parse");
}

/// Guards the formatter against issue 15's inputs: each formats to a file that re-parses to the
/// same tree and formats to itself, or is refused with the syntax diagnostics of a file that
/// does not parse.
#[test]
fn every_fmt_corpus_input_round_trips_or_gets_a_syntax_diagnostic() {
    run_corpus("fmt");
}

/// Guards the request decoder (issue 15's 100 000-item batch, `now` at the end of the
/// supported range, a non-IANA time zone, deep JSON): every body is decided against every
/// example policy or refused naming the JSON path.
#[test]
fn every_request_corpus_input_decides_or_names_the_json_path() {
    run_corpus("request");
}

/// Guards the model loader: every corpus model loads and runs, or is refused with a message.
#[test]
fn every_model_corpus_input_loads_or_gets_a_model_error() {
    run_corpus("model");
}

/// The corpus holds each hostile input of issue 15, as its "Why" describes it (generated, see
/// `generated`), and the example policies, diagnostic fixtures and contexts (read in place).
#[test]
fn the_corpus_holds_every_hostile_input_of_issue_15() {
    let parse = corpus("parse");
    let input = |name: &str| -> String {
        let (_, data) = parse
            .iter()
            .find(|(n, _)| n == &format!("generated/{name}"))
            .unwrap_or_else(|| panic!("{name} is in the parse corpus"));
        String::from_utf8(data.clone()).unwrap()
    };
    let count = |name: &str, what: &str| input(name).matches(what).count();
    assert_eq!(count("plus-chain-2000", " + "), 1_999);
    assert_eq!(count("plus-chain-100000", " + "), 99_999);
    assert_eq!(count("nested-parens-10000", "("), 10_000);
    assert!(count("nested-records-10000", "{ a: ") >= 9_999);
    assert_eq!(count("nested-lists-10000", "list<"), 10_000);
    assert_eq!(count("unclosed-calls-24", "size("), 24);
    assert_eq!(count("unclosed-calls-1000", "size("), 1_000);
    assert!(count("escaped-string-64k", "\\\"") >= 32 * 1024);
    for name in ["far-syntax-error-70000", "far-unknown-name-70000"] {
        let longest = input(name).lines().map(str::len).max().unwrap_or(0);
        assert!(longest > 70_000, "{name}: longest line {longest}");
    }
    let request = corpus("request");
    let batch = &request
        .iter()
        .find(|(n, _)| n == "generated/batch-100000-empty")
        .unwrap()
        .1;
    assert_eq!(
        String::from_utf8_lossy(batch).matches("{}").count(),
        100_000
    );
    let names: Vec<&String> = parse.iter().map(|(n, _)| n).collect();
    for dir in ["policies", "tests/fixtures/diagnostics"] {
        let mut paths = Vec::new();
        files_under(&crate::root().join(dir), "policy", &mut paths);
        assert!(!paths.is_empty(), "{dir} has policies");
        for p in paths {
            let name = p.strip_prefix(crate::root()).unwrap().display().to_string();
            assert!(names.contains(&&name), "{name} is in the parse corpus");
        }
    }
    assert!(
        request
            .iter()
            .any(|(n, _)| n.starts_with("examples/contexts/"))
    );
}

/// The harness itself: a finding, a panic and a hang are each reported as such, by input.
#[test]
fn the_harness_reports_findings_panics_and_hangs() {
    fn finding(_: &[u8]) -> Verdict {
        Err("a finding".into())
    }
    fn panics(data: &[u8]) -> Verdict {
        panic!("boom on {} bytes", data.len())
    }
    fn hangs(_: &[u8]) -> Verdict {
        loop {
            std::thread::park();
        }
    }
    fn fine(_: &[u8]) -> Verdict {
        Ok(())
    }
    let data = Arc::new(b"abc".to_vec());
    let run = |f: Target, timeout| run_case("harness", f, data.clone(), timeout);
    assert_eq!(run(fine, TIMEOUT), Ok(()));
    assert_eq!(run(finding, TIMEOUT), Err("a finding".into()));
    assert_eq!(
        run(panics, TIMEOUT),
        Err("panicked: boom on 3 bytes".into())
    );
    // `hangs` never returns, so any timeout is reached; a short one keeps the test quick.
    let hang = run(hangs, Duration::from_millis(50)).unwrap_err();
    assert!(hang.ends_with("a hang"), "{hang}");
}

// ---- the mutation run ------------------------------------------------------------------------

/// The run's seed: fixed, so every run tries the same cases.
const SEED: [u8; 32] = *b"policy-engine fuzz corpus seed 1";

/// Cases per target, unless `FUZZ_CASES` says otherwise (`FUZZ_CASES=100000 cargo test --test it
/// fuzz::` is the long run). A few seconds in all in a debug build.
fn cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Seeds bigger than this are run whole by the corpus tests but not mutated: a mutant of a
/// 100 KB file costs a hundred small ones.
const MAX_SEED: usize = 16 * 1024;

const POLICY_TOKENS: &[&str] = &[
    "policy p ",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "<",
    ">",
    "\"",
    "\\\"",
    "'",
    "#",
    "\n",
    " + ",
    "size(",
    "list<",
    "let x = ",
    "score = ",
    "guard g: require ",
    "cap 1 per day",
    "gap 8h",
    "quiet 22:00 to 08:00",
    "select best",
    "select top 3",
    "select gate",
    "route {",
    "when true -> b",
    "otherwise -> a",
    "fallback a",
    "context {",
    "a: int",
    ": ",
    ",",
    ".",
    "..",
    "->",
    "model m {",
    "file \"paywall_trial.onnx\"",
    "inputs [",
    "output probabilities[1]",
    "per candidate",
    "candidates {",
    "param k: float = 0.5 in 0.0..1.0",
    "subject user_id zone timezone",
    "# policy: allow(P5001)",
    "99999999999999999999",
    "-",
    "1e999",
    "?",
    "timestamp",
    "\r\n",
    "\t",
    "é",
    "\u{202e}",
    "\u{0}",
    "candidate.",
    "local.hour",
    "now",
    "math.",
    "has(",
    "int(",
    "true",
    "null",
];

const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "false",
    "1e400",
    "-0",
    "0.5",
    "18446744073709551616",
    "-9223372036854775809",
    "\"now\": \"9999-12-31T23:59:59Z\"",
    "\"now\": \"2026-03-29T01:30:00+01:00\"",
    "\"explain\": true",
    "\"requests\": [",
    "\"timezone\": \"Nope/Nope\"",
    "\\u0000",
    "\\ud800",
    "{}",
    "[]",
    "\"user\": {",
];

const MODEL_TOKENS: &[&[u8]] = &[
    &[0x08, 0x07],
    &[0x12, 0x00],
    &[0x3a],
    &[0xff; 8],
    &[0x00],
    &[0x80, 0x80, 0x80, 0x80, 0x10],
    &[0x01, 0x00, 0x00, 0x00],
    b"ai.onnx.ml",
    b"TreeEnsembleClassifier",
    b"nodes_treeids",
    b"feature_names",
    b"float_input",
];

/// One edit of an input, positions relative to its length (so shrinking keeps them valid).
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, Index),
    Delete(Index, u8),
    Repeat(Index, u8, u8),
    Splice(Index, Index, Index, u16),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), 1..=64u8, 1..=64u8).prop_map(|(i, n, k)| Mutation::Repeat(i, n, k)),
        (any::<Index>(), any::<Index>(), any::<Index>(), any::<u16>())
            .prop_map(|(i, s, f, n)| Mutation::Splice(i, s, f, n)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// A position in `0..=len`.
fn at(i: &Index, len: usize) -> usize {
    i.index(len + 1)
}

fn apply(
    mut data: Vec<u8>,
    edits: &[Mutation],
    seeds: &[(String, Vec<u8>)],
    tokens: &[&[u8]],
) -> Vec<u8> {
    for m in edits {
        let len = data.len();
        match m {
            Mutation::Flip(i, x) if len > 0 => data[i.index(len)] ^= *x,
            Mutation::Flip(..) => {}
            Mutation::Insert(i, t) => {
                let token = tokens[t.index(tokens.len())];
                let p = at(i, len);
                data.splice(p..p, token.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let p = at(i, len);
                data.drain(p..(p + *n as usize).min(len));
            }
            Mutation::Repeat(i, n, k) => {
                let p = at(i, len);
                let piece = data[p..(p + *n as usize).min(len)].to_vec();
                for _ in 0..*k {
                    data.splice(p..p, piece.iter().copied());
                }
            }
            Mutation::Splice(i, s, f, n) => {
                let other = &seeds[s.index(seeds.len())].1;
                let from = at(f, other.len());
                let piece = &other[from..(from + *n as usize % 512).min(other.len())];
                let p = at(i, len);
                data.splice(p..p, piece.iter().copied());
            }
            Mutation::Truncate(i) => data.truncate(at(i, len)),
        }
    }
    data
}

/// `cases` mutants of `target`'s small corpus inputs (a few edits each: flips, dictionary tokens,
/// deletions, repeats, splices from other inputs, truncation), each through its body with
/// `run_case`. After a hang the rest of the run is skipped, so that shrinking does not wait on
/// one hang after another; the failing mutant is written to the target directory.
fn run_mutants(target: &str, tokens: &[&[u8]], cases: u32) {
    let f = body(target);
    let seeds: Vec<(String, Vec<u8>)> = corpus(target)
        .into_iter()
        .filter(|(_, d)| d.len() <= MAX_SEED)
        .collect();
    assert!(!seeds.is_empty(), "`{target}` has small seeds");
    let seeds = Arc::new(seeds);
    let tokens: Vec<Vec<u8>> = tokens.iter().map(|t| t.to_vec()).collect();
    let strategy = {
        let seeds = seeds.clone();
        (any::<Index>(), prop::collection::vec(mutation(), 1..6)).prop_map(move |(s, edits)| {
            let (name, data) = &seeds[s.index(seeds.len())];
            let tokens: Vec<&[u8]> = tokens.iter().map(Vec::as_slice).collect();
            let mutant = apply(data.clone(), &edits, &seeds, &tokens);
            (format!("{name} +{}", edits.len()), mutant)
        })
    };
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED));
    let hung = AtomicBool::new(false);
    let result = runner.run(&strategy, |(name, data)| {
        if hung.load(Ordering::Relaxed) {
            return Ok(());
        }
        let r = run_case(&format!("{target} {name}"), f, Arc::new(data), TIMEOUT);
        if let Err(why) = &r
            && why.ends_with("a hang")
        {
            hung.store(true, Ordering::Relaxed);
        }
        r.map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, (name, data))) => {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join("fuzz-findings")
                .join(target);
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(blake3::hash(&data).to_hex().as_str());
            std::fs::write(&file, &data).unwrap();
            let shown: String = String::from_utf8_lossy(&data).chars().take(2_000).collect();
            panic!(
                "`{target}` failed on a mutant of {name} ({} bytes, written to {}; commit it \
                 under tests/fixtures/fuzz/{target}/ once fixed): {why}\n{shown:?}",
                data.len(),
                file.display()
            );
        }
        Err(e) => panic!("`{target}` mutation run: {e}"),
    }
}

fn strs(tokens: &'static [&'static str]) -> Vec<&'static [u8]> {
    tokens.iter().map(|t| t.as_bytes()).collect()
}

/// Issue 15, item 5: mutated policies never panic, hang or fail without a located diagnostic.
#[test]
fn mutated_policies_build_or_get_located_diagnostics() {
    run_mutants("parse", &strs(POLICY_TOKENS), cases(256));
}

/// Issue 15, item 5: the `fmt` round trip holds for mutated policies.
#[test]
fn mutated_policies_format_idempotently_to_the_same_tree() {
    run_mutants("fmt", &strs(POLICY_TOKENS), cases(256));
}

/// Issue 15, item 5: mutated request bodies decide or are refused naming the JSON path.
#[test]
fn mutated_requests_decide_or_name_the_json_path() {
    run_mutants("request", &strs(JSON_TOKENS), cases(256));
}

/// Issue 15, item 5: mutated model files load or are refused with a model error.
#[test]
fn mutated_models_load_or_get_a_model_error() {
    run_mutants("model", MODEL_TOKENS, cases(256));
}
