//! `compile`: checked policies + loaded models → an immutable [`DecisionGraph`].

use crate::check::{self, CheckedPolicy, NodeKind, Scope, Selection};
use crate::diagnostics::{Code, Diagnostic};
use crate::model::{LoadedModel, ModelStore};
use crate::source::SourceMap;
use crate::syntax;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A model node ready to run: the model, which output, which column.
#[derive(Debug, Clone)]
pub struct ModelRun {
    pub model: Arc<LoadedModel>,
    pub output: usize,
    pub column: usize,
}

#[derive(Debug)]
pub struct CompiledPolicy {
    pub checked: CheckedPolicy,
    /// Content hash of the policy's source file, its models and the policies it routes to.
    pub revision: String,
    pub file: PathBuf,
    /// For each request-level node, its model when it is one.
    pub req_models: Vec<Option<ModelRun>>,
    /// For each candidate-level node, its model when it is one.
    pub cand_models: Vec<Option<ModelRun>>,
    /// Names of the attributes that `by candidate.attr` scopes group by, with their index.
    pub group_attrs: Vec<(u16, String)>,
}

impl CompiledPolicy {
    pub fn name(&self) -> &str {
        &self.checked.name
    }
    pub fn model_files(&self) -> Vec<String> {
        let mut files: Vec<String> = self
            .req_models
            .iter()
            .chain(&self.cand_models)
            .flatten()
            .map(|m| m.model.path.display().to_string())
            .collect();
        files.sort();
        files.dedup();
        files
    }
}

/// A compiled policy set: immutable, shared by every request that reads it.
#[derive(Debug)]
pub struct DecisionGraph {
    pub policies: BTreeMap<String, Arc<CompiledPolicy>>,
    /// Content hash of every source and model of the set.
    pub revision: String,
    pub sources: SourceMap,
    /// Warnings from `check` (errors prevent a graph from existing).
    pub warnings: Vec<Diagnostic>,
}

// A graph is shared across threads by the engine: it must stay Send + Sync.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DecisionGraph>();
};

impl DecisionGraph {
    pub fn policy(&self, name: &str) -> Option<&Arc<CompiledPolicy>> {
        self.policies.get(name)
    }
}

/// The result of a build: the graph when there were no errors, and every diagnostic.
pub struct Build {
    pub graph: Option<DecisionGraph>,
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
}

impl Build {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

/// Every `.policy` file under the given files and directories, sorted, read into a source map;
/// see [`crate::loader::read_policy_files`] for what is refused.
pub fn load_sources(paths: &[PathBuf]) -> std::io::Result<SourceMap> {
    crate::loader::read_policy_files(paths)
}

/// Parses, checks and compiles a source map against the models in `models`.
pub fn build(sources: SourceMap, models: &ModelStore) -> Build {
    let mut diagnostics = Vec::new();
    let mut files = Vec::new();
    for (id, f) in sources.files() {
        if let Some(why) = &f.unreadable {
            diagnostics.push(
                Diagnostic::new(
                    Code::IoError,
                    format!("cannot read `{}`: {why}", f.path.display()),
                )
                .label(crate::source::Span::new(id, 0, 0), ""),
            );
            continue;
        }
        match syntax::parse(id, &f.text) {
            Ok(file) => files.push(file),
            Err(mut errors) => diagnostics.append(&mut errors),
        }
    }
    let (checked, mut diags) = check::check_set(&files, models);
    diagnostics.append(&mut diags);
    let diagnostics = apply_suppressions(&files, &sources, diagnostics);
    let mut diagnostics = diagnostics;
    crate::diagnostics::sort(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Build {
            graph: None,
            diagnostics,
            sources,
        };
    }
    match link(checked, &sources, models) {
        Ok(graph) => {
            let graph = DecisionGraph {
                warnings: diagnostics.clone(),
                ..graph
            };
            Build {
                graph: Some(graph),
                diagnostics,
                sources,
            }
        }
        Err(d) => {
            diagnostics.push(d);
            Build {
                graph: None,
                diagnostics,
                sources,
            }
        }
    }
}

/// `# policy: allow(P5001)` silences that code for diagnostics starting on the comment's line
/// (or, for a comment alone on its line, on the next line). A comment that silences nothing is
/// itself reported (`P5004`), as is one naming an unknown code or an error: errors are never
/// silenced, because a policy with an error is left out of the set.
fn apply_suppressions(
    files: &[syntax::ast::File],
    sources: &SourceMap,
    diagnostics: Vec<Diagnostic>,
) -> Vec<Diagnostic> {
    let mut allows: Vec<(crate::source::Span, usize, Code, bool)> = Vec::new();
    let mut unknown = Vec::new();
    for f in files {
        let Some(src) = sources.get(f.source) else {
            continue;
        };
        for c in &f.comments {
            let Some(rest) = c.text.trim().strip_prefix("policy:") else {
                continue;
            };
            let Some(list) = rest
                .trim()
                .strip_prefix("allow(")
                .and_then(|r| r.strip_suffix(')'))
            else {
                continue;
            };
            let (line, _) = src.line_col(c.span.start as usize);
            let line_start = src.text[..c.span.start as usize]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let alone = src.text[line_start..c.span.start as usize]
                .trim()
                .is_empty();
            let target = if alone { line + 1 } else { line };
            for name in list.split(',').map(str::trim) {
                match Code::parse(name) {
                    Some(code) => allows.push((c.span, target, code, false)),
                    None => unknown.push(
                        Diagnostic::new(
                            Code::UnusedSuppression,
                            format!("`{name}` is not a diagnostic code, so this silences nothing"),
                        )
                        .label(c.span, "unknown code")
                        .help("codes look like `P5001`; `policy explain CODE` documents each one"),
                    ),
                }
            }
        }
    }
    let mut errors_named = Vec::new();
    let mut kept: Vec<Diagnostic> = diagnostics
        .into_iter()
        .filter(|d| {
            let Some(span) = d.primary_span() else {
                return true;
            };
            let Some(src) = sources.get(span.source) else {
                return true;
            };
            let (line, _) = src.line_col(span.start as usize);
            let mut silenced = false;
            for a in allows.iter_mut() {
                if a.0.source == span.source && a.1 == line && a.2 == d.code {
                    // Errors are never silenced: the policy would silently drop out of the set.
                    if d.is_error() {
                        errors_named.push(a.0);
                    } else {
                        a.3 = true;
                        silenced = true;
                    }
                }
            }
            !silenced
        })
        .collect();
    kept.append(&mut unknown);
    for (span, _, code, used) in allows {
        if errors_named.contains(&span) {
            kept.push(
                Diagnostic::new(
                    Code::UnusedSuppression,
                    format!("`allow({})` cannot silence an error", code.as_str()),
                )
                .label(span, "errors are never silenced")
                .help("fix the error; only warnings can be allowed"),
            );
        } else if !used {
            kept.push(
                Diagnostic::new(
                    Code::UnusedSuppression,
                    format!("`allow({})` silences nothing", code.as_str()),
                )
                .label(span, "no such diagnostic on this line")
                .help("delete the comment"),
            );
        }
    }
    kept
}

/// Reads policies from `paths` and models from `models_dir`, and builds.
pub fn build_paths(paths: &[PathBuf], models_dir: &Path) -> std::io::Result<Build> {
    let sources = load_sources(paths)?;
    Ok(build(sources, &ModelStore::new(models_dir)))
}

fn link(
    checked: Vec<CheckedPolicy>,
    sources: &SourceMap,
    models: &ModelStore,
) -> Result<DecisionGraph, Diagnostic> {
    let mut own_hash: BTreeMap<String, String> = BTreeMap::new();
    let mut compiled: BTreeMap<String, CompiledPolicy> = BTreeMap::new();
    for c in checked {
        let file = sources.path(c.span.source).to_path_buf();
        let text = sources
            .get(c.span.source)
            .map(|f| f.text.as_str())
            .unwrap_or("");
        let mut h = blake3::Hasher::new();
        h.update(c.name.as_bytes());
        h.update(&[0]);
        h.update(text.as_bytes());
        let mut run = |kind: &NodeKind| -> Result<Option<ModelRun>, Diagnostic> {
            let NodeKind::Model(b) = kind else {
                return Ok(None);
            };
            let model = models.get(&b.file).map_err(|e| {
                Diagnostic::new(
                    Code::ModelFile,
                    format!("cannot load model `{}`: {e}", b.file),
                )
                .label(c.span, "in this policy")
            })?;
            let output = model.output_index(&b.output).unwrap_or(0);
            h.update(model.digest.as_bytes());
            Ok(Some(ModelRun {
                model,
                output,
                column: b.column,
            }))
        };
        let req_models = c
            .req_nodes
            .iter()
            .map(|n| run(&n.kind))
            .collect::<Result<Vec<_>, _>>()?;
        let cand_models = c
            .cand_nodes
            .iter()
            .map(|n| run(&n.kind))
            .collect::<Result<Vec<_>, _>>()?;
        own_hash.insert(c.name.clone(), h.finalize().to_hex().to_string());
        let mut group_attrs: Vec<(u16, String)> = c
            .guards
            .iter()
            .filter_map(|g| match &g.kind {
                check::GuardKind::Cap {
                    scope: Scope::Attr(i),
                    ..
                }
                | check::GuardKind::Gap {
                    scope: Scope::Attr(i),
                    ..
                } => c
                    .candidates
                    .attrs
                    .fields
                    .get(*i as usize)
                    .map(|f| (*i, f.name.clone())),
                _ => None,
            })
            .collect();
        group_attrs.sort();
        group_attrs.dedup();
        compiled.insert(
            c.name.clone(),
            CompiledPolicy {
                checked: c,
                revision: String::new(),
                file,
                req_models,
                cand_models,
                group_attrs,
            },
        );
    }
    // A policy's revision covers the policies it can route to.
    let names: Vec<String> = compiled.keys().cloned().collect();
    for name in &names {
        let mut reach = vec![name.clone()];
        let mut i = 0;
        while i < reach.len() {
            if let Some(Selection::Route { rules, otherwise }) =
                compiled.get(&reach[i]).map(|p| &p.checked.select)
            {
                for t in rules.iter().map(|r| &r.1).chain(otherwise.iter()) {
                    if !reach.contains(t) {
                        reach.push(t.clone());
                    }
                }
            }
            i += 1;
        }
        reach.sort();
        let mut h = blake3::Hasher::new();
        for r in &reach {
            h.update(own_hash.get(r).map(String::as_bytes).unwrap_or(b""));
        }
        if let Some(p) = compiled.get_mut(name) {
            p.revision = h.finalize().to_hex()[..16].to_string();
        }
    }
    let mut set = blake3::Hasher::new();
    for h in own_hash.values() {
        set.update(h.as_bytes());
    }
    Ok(DecisionGraph {
        policies: compiled
            .into_iter()
            .map(|(k, v)| (k, Arc::new(v)))
            .collect(),
        revision: set.finalize().to_hex()[..16].to_string(),
        sources: sources.clone(),
        warnings: vec![],
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::syntax::cel::PARSES;
    use crate::syntax::visit::Visitor;

    fn parses() -> usize {
        PARSES.with(std::cell::Cell::get)
    }

    /// Guards "one parse": building a set (parse, check, link) and drawing its graphs run the
    /// CEL parser exactly once per expression; nothing after `syntax` parses an expression again.
    #[test]
    fn a_build_and_its_graphs_parse_each_expression_once() {
        let before = parses();
        let build = build_paths(&[PathBuf::from("policies")], Path::new("models")).unwrap();
        assert!(build.graph.is_some(), "{:?}", build.diagnostics);
        let during_build = parses() - before;

        let before = parses();
        let files: Vec<_> = build
            .sources
            .files()
            .filter_map(|(id, f)| syntax::parse(id, &f.text).ok())
            .collect();
        let one_parse = parses() - before;
        struct Count(usize);
        impl Visitor for Count {
            fn visit_expr(&mut self, _: &syntax::ast::Expr) {
                self.0 += 1;
            }
        }
        let mut count = Count(0);
        files.iter().for_each(|f| count.visit_file(f));
        assert!(count.0 > 50, "the examples have many expressions");
        assert_eq!(one_parse, count.0);
        assert_eq!(
            during_build, count.0,
            "check or link parsed an expression again"
        );

        let before = parses();
        let graphs = crate::graph::graphs(&files);
        assert!(!graphs.is_empty());
        assert_eq!(parses(), before, "the graph parsed an expression again");
    }
}
