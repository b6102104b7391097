//! The bodies of the fuzz targets, shared by `cargo fuzz` (`tests/fuzz/fuzz_targets/*.rs`, through
//! the `policy_engine_fuzz` library) and by the bounded run in `cargo test` (`tests/it/fuzz.rs`,
//! which includes this file as a module). Each target takes arbitrary bytes and returns
//! `Err(finding)` when the library misbehaves on them in a way that is not a panic: an error
//! that is not a diagnostic (no location, no message, an internal error), or a broken promise
//! (a formatted file that formats differently again). A panic is a finding too; the callers
//! catch it (libFuzzer aborts, the test harness joins a thread). A hang is caught by the caller's
//! timeout (`-timeout` for libFuzzer, a generous one in the test).
//!
//! This module reads only `std`, `serde_json`, `axum` (the server's body type) and the library,
//! so it compiles unchanged in both crates. `super::ROOT` is the repository root.

use policy_engine::compile::{self, DecisionGraph};
use policy_engine::diagnostics::{self, Code, Diagnostic};
use policy_engine::eval::{self, EvalError, FieldError, Options};
use policy_engine::ledger::MemoryLedger;
use policy_engine::loader::MemoryLoader;
use policy_engine::model::ModelStore;
use policy_engine::server::ApiError;
use policy_engine::server::api::DecideRequest;
use policy_engine::source::SourceMap;
use policy_engine::{diff, fmt, graph, syntax};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// What a target returns: `Err` names what went wrong on this input.
pub type Verdict = Result<(), String>;

/// A target's body.
pub type Target = fn(&[u8]) -> Verdict;

/// Every target, by the name `cargo fuzz` and the corpus directory use.
pub const TARGETS: &[(&str, Target)] = &[
    ("parse", parse),
    ("fmt", fmt_round_trip),
    ("request", request),
    ("model", model),
];

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(super::ROOT)
}

/// Small models under the names the example policies bind (each example's `_lr` twin, which
/// has the same inputs) and under their own names, so mutated example policies get as far as
/// the model contracts. One store for the process: a model is parsed once, not per case.
fn models() -> &'static ModelStore {
    static STORE: OnceLock<ModelStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let mut loader = MemoryLoader::new();
        let dir = root().join("models");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        for path in names {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = name.strip_suffix("_lr.onnx") else {
                continue;
            };
            if let Ok(bytes) = std::fs::read(&path) {
                loader = loader
                    .model(format!("{stem}.onnx"), bytes.clone())
                    .model(name, bytes);
            }
        }
        ModelStore::from_source(Arc::new(loader))
    })
}

fn messages(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| format!("{}: {}", d.code.as_str(), d.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every way a diagnostic is shown (terminal, short, JSON) must work, and each error must say
/// where it is.
fn render(diags: &[Diagnostic], sources: &SourceMap) -> Verdict {
    let human = diagnostics::render_human(diags, sources, false);
    if !diags.is_empty() && human.is_empty() {
        return Err(format!(
            "diagnostics rendered as nothing: {}",
            messages(diags)
        ));
    }
    for d in diags {
        if d.message.is_empty() {
            return Err(format!("a `{}` diagnostic has no message", d.code.as_str()));
        }
        if d.code == Code::Internal {
            return Err(format!("internal error: {}", d.message));
        }
        let _ = diagnostics::render_short(d, sources);
        let _ = diagnostics::to_json(d, sources);
        if d.is_error() && diagnostics::location(d, sources).is_none() {
            return Err(format!(
                "error `{}` says not where: {}",
                d.code.as_str(),
                d.message
            ));
        }
    }
    Ok(())
}

/// The policy parser and checker: one source, built whole (`compile::build`) against the
/// in-memory models; its diagnostics rendered; a file that parses is also graphed (Mermaid and
/// DOT) and diffed against itself, which must report no change.
pub fn parse(data: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut sources = SourceMap::new();
    let id = sources.add("fuzz.policy", text.clone());
    let build = compile::build(sources, models());
    render(&build.diagnostics, &build.sources)?;
    if build.graph.is_none() && build.errors().next().is_none() {
        return Err("no graph and no error".into());
    }
    if let Ok(file) = syntax::parse(id, &text) {
        let graphs = graph::graphs([&file]);
        let _ = graph::render_mermaid(&graphs);
        let _ = graph::render_dot(&graphs);
        for p in &file.policies {
            let changes = diff::diff_policy(p, p);
            if !changes.is_empty() {
                return Err(format!(
                    "policy `{}` differs from itself: {changes:?}",
                    p.name.name
                ));
            }
        }
    }
    Ok(())
}

/// The `fmt` round trip: a file that formats re-parses to the same tree, and formatting the
/// output changes nothing (idempotence); a file that does not format is one that does not parse,
/// and its diagnostics render.
pub fn fmt_round_trip(data: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut sources = SourceMap::new();
    let id = sources.add("fuzz.policy", text.clone());
    match fmt::format_source(id, &text) {
        Ok(out) => {
            let before = syntax::parse(id, &text)
                .map_err(|d| format!("formatted a file that does not parse: {}", messages(&d)))?;
            let after = syntax::parse(id, &out)
                .map_err(|d| format!("the formatted file does not parse: {}", messages(&d)))?;
            if fmt::structure(&before) != fmt::structure(&after) {
                return Err("the formatted file means something else".into());
            }
            let again = fmt::format_source(id, &out)
                .map_err(|d| format!("the formatted file does not format: {}", messages(&d)))?;
            if again != out {
                return Err(format!(
                    "formatting is not idempotent:\n--- once\n{out}\n--- twice\n{again}"
                ));
            }
            Ok(())
        }
        Err(diags) => {
            if diags.is_empty() {
                return Err("the formatter refused the file without a diagnostic".into());
            }
            render(&diags, &sources)?;
            if syntax::parse(id, &text).is_ok() {
                return Err(format!(
                    "the formatter refused a file that parses: {}",
                    messages(&diags)
                ));
            }
            Ok(())
        }
    }
}

/// The example policies (`policies/`) with their models (`models/`), compiled once.
pub fn example_graph() -> Option<&'static DecisionGraph> {
    static GRAPH: OnceLock<Option<DecisionGraph>> = OnceLock::new();
    GRAPH
        .get_or_init(|| {
            let root = root();
            compile::build_paths(&[root.join("policies")], &root.join("models"))
                .ok()
                .and_then(|b| b.graph)
        })
        .as_ref()
}

/// The request time when a body has none (time is an input: no clock here).
const NOW: &str = "2026-03-02T09:30:00Z";

/// The request decoder: a body decoded as the server decodes it (`JsonBody`, then
/// `DecideRequest::from_fields`), as one request and, when it has `requests`, as a batch, then
/// decided (`eval::decide`, `dry_run`) against every example policy. A client's mistake must be
/// an error naming the JSON path (or line and column) and a 4xx; any other error is a finding
/// (a schema-valid request never fails in an expression).
pub fn request(data: &[u8]) -> Verdict {
    let graph = example_graph().ok_or("the example policies do not compile")?;
    let body = match decode_body(data)? {
        Ok(body) => body,
        Err(e) if e.status.is_client_error() && !e.body.message.is_empty() => return Ok(()),
        Err(e) => return Err(format!("the body was refused with {}: {e:?}", e.status)),
    };
    let batch = match &body {
        Value::Object(m) => m.get("requests").and_then(Value::as_array).cloned(),
        _ => None,
    };
    for policy in graph.policies.keys() {
        decide(graph, policy, body.clone(), "$")?;
        for (i, item) in batch.iter().flatten().enumerate() {
            decide(graph, policy, item.clone(), &format!("$.requests[{i}]"))?;
        }
    }
    Ok(())
}

/// The server's body decoder (what its `JsonBody` extractor runs on the bytes it read).
fn decode_body(data: &[u8]) -> Result<Result<Value, ApiError>, String> {
    Ok(policy_engine::server::parse_json(data))
}

fn decide(graph: &DecisionGraph, policy: &str, body: Value, prefix: &str) -> Verdict {
    static LEDGER: OnceLock<MemoryLedger> = OnceLock::new();
    let ledger = LEDGER.get_or_init(MemoryLedger::new);
    let Value::Object(fields) = body else {
        return Ok(()); // the server's 422 "the body must be a JSON object", at `prefix`
    };
    let req = match DecideRequest::from_fields(fields, prefix) {
        Ok(req) => req,
        Err(errors) => return field_errors(policy, &errors, prefix),
    };
    let now = match req.now {
        Some(now) => now,
        None => NOW.parse().map_err(|e| format!("{NOW}: {e}"))?,
    };
    let opts = Options {
        now,
        explain: req.explain,
        decision_id: Some("fuzz".into()),
        dry_run: true,
    };
    match eval::decide(graph, policy, &Value::Object(req.context), &opts, ledger) {
        Ok(decision) => serde_json::to_string(&decision)
            .map(drop)
            .map_err(|e| format!("policy `{policy}`: the decision does not serialize: {e}")),
        Err(EvalError::InvalidContext { errors, .. }) => field_errors(policy, &errors, "$"),
        Err(e) => Err(format!("policy `{policy}`: not a client error: {e}")),
    }
}

/// A request's errors: at least one, each with a message and a JSON path under `prefix`.
fn field_errors(policy: &str, errors: &[FieldError], prefix: &str) -> Verdict {
    if errors.is_empty() {
        return Err(format!("policy `{policy}`: refused with no field error"));
    }
    for e in errors {
        if !e.path.starts_with(prefix) || e.message.is_empty() {
            return Err(format!(
                "policy `{policy}`: field error without a path under `{prefix}` or a message: {e:?}"
            ));
        }
    }
    Ok(())
}

/// The model loader: bytes through the entry point every build uses (`ModelStore::get` over an
/// in-memory source, which calls `LoadedModel::from_bytes`); an error must have a message, a
/// model that loads runs one row of zeros (an inference error is fine, a panic is not).
pub fn model(data: &[u8]) -> Verdict {
    let file = "fuzz.onnx";
    let store = ModelStore::from_source(Arc::new(MemoryLoader::new().model(file, data.to_vec())));
    match store.get(file) {
        Err(e) => {
            if e.to_string().is_empty() {
                return Err(format!("a model error without a message: {e:?}"));
            }
            Ok(())
        }
        Ok(m) => {
            if m.path != Path::new(file) {
                return Err(format!("loaded as {}", m.path.display()));
            }
            let width = m.width();
            // A row wider than this is an allocation the fuzzer chose, not a model it found.
            if (1..=4096).contains(&width)
                && let Ok(outputs) = m.run(vec![0.0; width], 1)
            {
                for (i, o) in outputs.iter().enumerate() {
                    if o.columns > 0 && o.data.len() % o.columns != 0 {
                        return Err(format!(
                            "output {i}: {} values in rows of {}",
                            o.data.len(),
                            o.columns
                        ));
                    }
                }
            }
            Ok(())
        }
    }
}
