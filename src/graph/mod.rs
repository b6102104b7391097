//! The decision graph of a policy as nodes and edges, for people: context inputs and params →
//! derived values → models (with the features they read) → score → guards → selection →
//! fallback, or routes to other policies. Rendered as Mermaid (GitHub draws it in markdown) or
//! Graphviz DOT.
//!
//! Built from the syntax tree of a policy that checked cleanly: names resolve the way `check`
//! resolves them (a value, a model, `score`, a param, `candidate.x`, `local.x`, `now`, else a
//! context field), and the text of every definition is the canonical text of
//! [`crate::describe`]. Ordering is stable: by stage, then by declaration or first use.

mod render;

pub use render::{render_dot, render_mermaid};

use crate::describe;
use crate::syntax::ast::{self, Item};
use crate::syntax::names::{Scope, Target};

/// What a node is; also its stage, in this order, left to right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// A context field, candidate attribute, `local.*` or `now` that something reads.
    Input,
    Param,
    Candidates,
    Let,
    Model,
    Score,
    Guard,
    Select,
    Fallback,
    Route,
    /// Another policy that a route sends requests to.
    Target,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Node {
    /// Unique within its policy; `[a-z0-9_]`.
    pub id: String,
    pub kind: NodeKind,
    /// The label, one entry per line.
    pub label: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PolicyGraph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// Node ids are kept to letters, digits and `_`, which every renderer accepts unquoted.
fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

struct Builder<'a> {
    policy: &'a ast::Policy,
    scope: Scope<'a>,
    nodes: Vec<(Node, usize)>,
    edges: Vec<Edge>,
}

impl<'a> Builder<'a> {
    fn node(&mut self, id: String, kind: NodeKind, label: Vec<String>) -> String {
        if !self.nodes.iter().any(|(n, _)| n.id == id) {
            let order = self.nodes.len();
            self.nodes.push((
                Node {
                    id: id.clone(),
                    kind,
                    label,
                },
                order,
            ));
        }
        id
    }

    fn edge(&mut self, from: String, to: &str, label: Option<String>) {
        let e = Edge {
            from,
            to: to.to_string(),
            label,
        };
        if !self.edges.contains(&e) {
            self.edges.push(e);
        }
    }

    /// The node a dotted path read by an expression comes from, created on first use; `None`
    /// for a namespace (`math`), which is no value.
    fn source(&mut self, path: &str, target: Target) -> Option<String> {
        let head = path.split('.').next().unwrap_or(path);
        match target {
            Target::Value => return Some(format!("let_{}", slug(head))),
            Target::Model => return Some(format!("model_{}", slug(head))),
            Target::Score => return Some("score".into()),
            Target::Param => return Some(format!("param_{}", slug(head))),
            Target::Namespace => return None,
            Target::Context
            | Target::Candidate
            | Target::Local
            | Target::Now
            | Target::ContextRoot
            | Target::Unknown => {}
        }
        let path = path.strip_prefix("context.").unwrap_or(path);
        let id = self.node(
            format!("in_{}", slug(path)),
            NodeKind::Input,
            vec![path.to_string()],
        );
        if target == Target::Candidate {
            self.edge("candidates".into(), &id, None);
        }
        Some(id)
    }

    /// Edges from everything `e` reads into `to`; `label_features` names the expression when it
    /// is more than the bare path (a model feature such as `platform == "ios"`).
    fn reads(&mut self, e: &ast::Expr, to: &str, label_features: bool) {
        let shown = describe::expr(e);
        for (path, target) in self.scope.reads(e) {
            let Some(from) = self.source(&path, target) else {
                continue;
            };
            let label = (label_features && shown != path).then(|| shown.clone());
            self.edge(from, to, label);
        }
    }
}

/// The graph of one policy. The policy should have checked cleanly; names that do not resolve
/// are drawn as context inputs.
pub fn policy_graph(policy: &ast::Policy) -> PolicyGraph {
    let mut b = Builder {
        policy,
        scope: Scope::of(policy),
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    let items = &b.policy.items;
    // Declarations first, so every node exists before edges point at it.
    for item in items {
        match item {
            Item::Param(p) => {
                let mut label = format!("{} = {}", p.name.name, describe::literal(&p.value));
                if let Some((lo, hi)) = &p.range {
                    label.push_str(&format!(
                        " in {}..{}",
                        describe::literal(lo),
                        describe::literal(hi)
                    ));
                }
                b.node(
                    format!("param_{}", slug(&p.name.name)),
                    NodeKind::Param,
                    vec![format!("param {label}")],
                );
            }
            Item::Candidates(c) => {
                let label = match &c.from {
                    Some(from) => vec![format!("candidates from {}", from.dotted())],
                    None => vec![
                        format!("{} candidates", c.list.len()),
                        c.list
                            .iter()
                            .map(|c| c.id.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    ],
                };
                b.node("candidates".into(), NodeKind::Candidates, label);
            }
            Item::Let(l) => {
                b.node(
                    format!("let_{}", slug(&l.name.name)),
                    NodeKind::Let,
                    vec![
                        format!("let {}", l.name.name),
                        format!("= {}", describe::expr(&l.value)),
                    ],
                );
            }
            Item::Model(m) => {
                b.node(
                    format!("model_{}", slug(&m.name.name)),
                    NodeKind::Model,
                    vec![
                        format!("model {}", m.name.name),
                        describe::model_file(m),
                        format!("per {} → {}", describe::per(m), describe::model_output(m)),
                    ],
                );
            }
            Item::Score(e) => {
                b.node(
                    "score".into(),
                    NodeKind::Score,
                    vec!["score".into(), format!("= {}", describe::expr(e))],
                );
            }
            Item::Guard(g) => {
                b.node(
                    format!("guard_{}", slug(&g.name.name)),
                    NodeKind::Guard,
                    vec![format!("guard {}", g.name.name), describe::guard(&g.kind)],
                );
            }
            Item::Select(s) => {
                b.node(
                    "select".into(),
                    NodeKind::Select,
                    vec![format!("select {}", describe::select(s.kind))],
                );
            }
            Item::Fallback(f) => {
                b.node(
                    "fallback".into(),
                    NodeKind::Fallback,
                    vec![format!("fallback {}", f.name)],
                );
            }
            Item::Route(r) => {
                b.node("route".into(), NodeKind::Route, vec!["route".into()]);
                for t in r.rules.iter().map(|r| &r.target).chain(r.otherwise.iter()) {
                    b.node(
                        format!("to_{}", slug(&t.name)),
                        NodeKind::Target,
                        vec![format!("policy {}", t.name)],
                    );
                }
            }
            Item::Meta(_) | Item::Context(_) | Item::Subject(_) => {}
        }
    }
    // Then the edges, in declaration order.
    for item in items {
        match item {
            Item::Candidates(c) => {
                if let Some(from) = &c.from {
                    let path = from.dotted();
                    let target = b.scope.resolve(path.split('.').next().unwrap_or_default());
                    if let Some(src) = b.source(&path, target) {
                        b.edge(src, "candidates", None);
                    }
                }
            }
            Item::Let(l) => {
                let to = format!("let_{}", slug(&l.name.name));
                b.reads(&l.value, &to, false);
            }
            Item::Model(m) => {
                let to = format!("model_{}", slug(&m.name.name));
                for input in &m.inputs {
                    b.reads(input, &to, true);
                }
            }
            Item::Score(e) => b.reads(e, "score", false),
            Item::Guard(g) => {
                let to = format!("guard_{}", slug(&g.name.name));
                if let ast::GuardKind::Require(e) = &g.kind {
                    b.reads(e, &to, false);
                }
                if items.iter().any(|i| matches!(i, Item::Select(_))) {
                    b.edge(to, "select", None);
                }
            }
            Item::Select(_) => {
                if items.iter().any(|i| matches!(i, Item::Candidates(_))) {
                    b.edge("candidates".into(), "select", None);
                }
                if items.iter().any(|i| matches!(i, Item::Score(_))) {
                    b.edge("score".into(), "select", Some("ranks".into()));
                }
            }
            Item::Fallback(_) => b.edge("select".into(), "fallback", Some("none passes".into())),
            Item::Route(r) => {
                for rule in &r.rules {
                    b.reads(&rule.when, "route", false);
                }
                for rule in &r.rules {
                    b.edge(
                        "route".into(),
                        &format!("to_{}", slug(&rule.target.name)),
                        Some(describe::expr(&rule.when)),
                    );
                }
                if let Some(t) = &r.otherwise {
                    b.edge(
                        "route".into(),
                        &format!("to_{}", slug(&t.name)),
                        Some("otherwise".into()),
                    );
                }
            }
            _ => {}
        }
    }
    let mut nodes = b.nodes;
    nodes.sort_by_key(|(n, order)| (n.kind, *order));
    PolicyGraph {
        name: policy.name.name.clone(),
        nodes: nodes.into_iter().map(|(n, _)| n).collect(),
        edges: b.edges,
    }
}

/// The graphs of every policy in the files, sorted by name.
pub fn graphs<'a>(files: impl IntoIterator<Item = &'a ast::File>) -> Vec<PolicyGraph> {
    let mut out: Vec<PolicyGraph> = files
        .into_iter()
        .flat_map(|f| f.policies.iter().map(policy_graph))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
