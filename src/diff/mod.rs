//! A semantic diff of two versions of a policy set, for review: what a change does to each
//! policy (params from → to, guards added, removed or redefined, models swapped, routes and
//! candidates changed, values, score, selection, fallback, metadata), not which lines moved.
//!
//! Policies are matched by name across all files of each side, and items by name within a
//! policy, so moving a policy between files, reordering items, reformatting or editing comments
//! is no change. Definitions are compared as the canonical text of [`crate::describe`]
//! (expressions with their whitespace normalized, literals by value).

mod render;

pub use render::render_markdown;

use crate::describe;
use crate::syntax::ast::{self, Item};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// What kind of thing changed. The order is the order changes are listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Meta,
    Context,
    Subject,
    Param,
    Candidates,
    Candidate,
    Let,
    Model,
    Score,
    Guard,
    Select,
    Fallback,
    Route,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Meta => "meta",
            Kind::Context => "context field",
            Kind::Subject => "subject",
            Kind::Param => "param",
            Kind::Candidates => "candidates",
            Kind::Candidate => "candidate",
            Kind::Let => "let",
            Kind::Model => "model",
            Kind::Score => "score",
            Kind::Guard => "guard",
            Kind::Select => "select",
            Kind::Fallback => "fallback",
            Kind::Route => "route",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Added,
    Removed,
    Changed,
}

/// One change to one item of a policy. `old`/`new` are the item's whole definition, absent on
/// the side where the item does not exist; `details` name the parts that changed (a model's
/// file, a param's range).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub kind: Kind,
    pub name: String,
    pub op: Op,
    pub old: Option<String>,
    pub new: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Detail>,
}

/// One part of a changed definition: a model's `file`, a param's `value`, an input list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detail {
    pub part: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

fn detail(part: impl Into<String>, old: Option<String>, new: Option<String>) -> Detail {
    Detail {
        part: part.into(),
        old,
        new,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyDiff {
    pub name: String,
    pub op: Op,
    pub old_file: Option<PathBuf>,
    pub new_file: Option<PathBuf>,
    /// For a changed policy, every change; for an added or removed one, empty.
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub unchanged: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetDiff {
    pub summary: Summary,
    /// Policies that differ, by name.
    pub policies: Vec<PolicyDiff>,
}

impl SetDiff {
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}

/// One side: each policy with the file it is in.
pub type Side<'a> = Vec<(&'a ast::Policy, PathBuf)>;

/// Compares two sides by policy name. A name declared more than once on a side (an error that
/// `check` reports, but a diff is also read for broken sets) is matched by occurrence: the
/// first policy of that name on one side with the first on the other, and so on, so that two
/// identical sides always diff as identical.
pub fn diff_sets(old: &Side<'_>, new: &Side<'_>) -> SetDiff {
    type Sides<'s, 'a> = (
        Vec<&'s (&'a ast::Policy, PathBuf)>,
        Vec<&'s (&'a ast::Policy, PathBuf)>,
    );
    let mut by_name: BTreeMap<&str, Sides<'_, '_>> = BTreeMap::new();
    for p in old {
        by_name.entry(p.0.name.name.as_str()).or_default().0.push(p);
    }
    for p in new {
        by_name.entry(p.0.name.name.as_str()).or_default().1.push(p);
    }
    let mut summary = Summary::default();
    let mut policies = Vec::new();
    for (name, (olds, news)) in by_name {
        for k in 0..olds.len().max(news.len()) {
            let (o, n) = (olds.get(k).copied(), news.get(k).copied());
            let (op, changes) = match (o, n) {
                (Some((o, _)), Some((n, _))) => {
                    let changes = diff_policy(o, n);
                    if changes.is_empty() {
                        summary.unchanged += 1;
                        continue;
                    }
                    summary.changed += 1;
                    (Op::Changed, changes)
                }
                (None, Some(_)) => {
                    summary.added += 1;
                    (Op::Added, Vec::new())
                }
                (Some(_), None) => {
                    summary.removed += 1;
                    (Op::Removed, Vec::new())
                }
                (None, None) => continue,
            };
            policies.push(PolicyDiff {
                name: name.to_string(),
                op,
                old_file: o.map(|(_, f)| f.clone()),
                new_file: n.map(|(_, f)| f.clone()),
                changes,
            });
        }
    }
    SetDiff { summary, policies }
}

/// A named item of one kind, as comparable parts: `(part name, canonical text)`. The whole
/// definition is the parts joined.
struct Entry {
    kind: Kind,
    name: String,
    parts: Vec<(&'static str, String)>,
    /// A model's inputs, each described, for [`input_details`]; empty for other kinds.
    inputs: Vec<String>,
}

impl Entry {
    fn text(&self) -> String {
        if self.kind == Kind::Candidate {
            let attrs: Vec<&str> = self.parts.iter().map(|(_, v)| v.as_str()).collect();
            return format!("{{ {} }}", attrs.join(", "));
        }
        self.parts
            .iter()
            .map(|(k, v)| {
                if k.is_empty() {
                    v.clone()
                } else {
                    format!("{k} {v}")
                }
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

fn entry(kind: Kind, name: impl Into<String>, parts: Vec<(&'static str, String)>) -> Entry {
    Entry {
        kind,
        name: name.into(),
        parts,
        inputs: Vec::new(),
    }
}

fn entries(p: &ast::Policy) -> Vec<Entry> {
    let mut out = Vec::new();
    for item in &p.items {
        match item {
            Item::Meta(m) => out.push(entry(
                Kind::Meta,
                &m.key.name,
                vec![(
                    "",
                    serde_json::to_string(&m.value.value).unwrap_or_default(),
                )],
            )),
            Item::Context(r) => {
                for f in &r.fields {
                    let mut t = describe::ty(&f.ty);
                    if let Some(d) = &f.default {
                        t.push_str(&format!(" = {}", describe::literal(d)));
                    }
                    out.push(entry(Kind::Context, &f.name.name, vec![("", t)]));
                }
            }
            Item::Subject(s) => {
                let mut parts = vec![("", s.key.dotted())];
                match &s.zone {
                    Some(ast::Zone::Field(z)) => parts.push(("zone", z.dotted())),
                    Some(ast::Zone::Literal(z)) => {
                        parts.push(("zone", serde_json::to_string(&z.value).unwrap_or_default()))
                    }
                    None => {}
                }
                out.push(entry(Kind::Subject, "subject", parts));
            }
            Item::Param(prm) => {
                let mut parts = vec![
                    ("type", prm.ty.0.as_str().to_string()),
                    ("value", describe::literal(&prm.value)),
                ];
                if let Some((lo, hi)) = &prm.range {
                    parts.push((
                        "range",
                        format!("{}..{}", describe::literal(lo), describe::literal(hi)),
                    ));
                }
                out.push(entry(Kind::Param, &prm.name.name, parts));
            }
            Item::Candidates(c) => {
                if let Some(from) = &c.from {
                    out.push(entry(Kind::Candidates, "from", vec![("", from.dotted())]));
                }
                for cand in &c.list {
                    let parts = cand
                        .attrs
                        .iter()
                        .map(|(k, v)| ("", format!("{}: {}", k.name, describe::literal(v))))
                        .collect();
                    out.push(entry(Kind::Candidate, &cand.id.name, parts));
                }
            }
            Item::Let(l) => out.push(entry(
                Kind::Let,
                &l.name.name,
                vec![("", describe::expr(&l.value))],
            )),
            Item::Model(m) => {
                let inputs: Vec<String> = m.inputs.iter().map(describe::expr).collect();
                let mut e = entry(
                    Kind::Model,
                    &m.name.name,
                    vec![
                        ("file", describe::model_file(m)),
                        ("per", describe::per(m).to_string()),
                        ("inputs", format!("[{}]", inputs.join(", "))),
                        ("output", describe::model_output(m)),
                    ],
                );
                e.inputs = inputs;
                out.push(e);
            }
            Item::Score(e) => out.push(entry(Kind::Score, "score", vec![("", describe::expr(e))])),
            Item::Guard(g) => out.push(entry(
                Kind::Guard,
                &g.name.name,
                vec![("", describe::guard(&g.kind))],
            )),
            Item::Select(s) => out.push(entry(
                Kind::Select,
                "select",
                vec![("", describe::select(s.kind))],
            )),
            Item::Fallback(f) => out.push(entry(
                Kind::Fallback,
                "fallback",
                vec![("", f.name.clone())],
            )),
            Item::Route(r) => {
                // A rule is named by its target; conditions are compared per target.
                for rule in &r.rules {
                    out.push(entry(
                        Kind::Route,
                        format!("-> {}", rule.target.name),
                        vec![("when", describe::expr(&rule.when))],
                    ));
                }
                if let Some(t) = &r.otherwise {
                    out.push(entry(
                        Kind::Route,
                        "otherwise",
                        vec![("->", t.name.clone())],
                    ));
                }
            }
        }
    }
    out
}

/// What differs between two definitions of the same item, part by part.
fn details(kind: Kind, old: &Entry, new: &Entry) -> Vec<Detail> {
    let mut out = Vec::new();
    if kind == Kind::Model {
        let part = |e: &Entry, k: &str| {
            e.parts
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        for k in ["file", "per", "output"] {
            let (a, b) = (part(old, k), part(new, k));
            if a != b {
                out.push(detail(k, Some(a), Some(b)));
            }
        }
        // Inputs are compared as lists by `input_details`.
        return out;
    }
    if kind == Kind::Candidate {
        let attrs = |e: &Entry| -> Vec<(String, String)> {
            e.parts
                .iter()
                .filter_map(|(_, v)| v.split_once(": ").map(|(a, b)| (a.into(), b.into())))
                .collect()
        };
        let (a, b) = (attrs(old), attrs(new));
        for (k, v) in &b {
            match a.iter().find(|(x, _)| x == k) {
                Some((_, w)) if w != v => out.push(detail(k, Some(w.clone()), Some(v.clone()))),
                None => out.push(detail(k, None, Some(v.clone()))),
                _ => {}
            }
        }
        for (k, w) in &a {
            if !b.iter().any(|(x, _)| x == k) {
                out.push(detail(k, Some(w.clone()), None));
            }
        }
        return out;
    }
    for (k, v) in &new.parts {
        if k.is_empty() {
            continue;
        }
        match old.parts.iter().find(|(x, _)| x == k) {
            Some((_, w)) if w != v => out.push(detail(*k, Some(w.clone()), Some(v.clone()))),
            None => out.push(detail(*k, None, Some(v.clone()))),
            _ => {}
        }
    }
    for (k, w) in &old.parts {
        if !k.is_empty() && !new.parts.iter().any(|(x, _)| x == k) {
            out.push(detail(*k, Some(w.clone()), None));
        }
    }
    out
}

/// Model inputs compared as lists: which features were added or removed, or, when only the
/// order changed, the two orders.
fn input_details(a: &[String], b: &[String]) -> Vec<Detail> {
    if a == b {
        return Vec::new();
    }
    let mut out = Vec::new();
    for x in b.iter().filter(|x| !a.contains(x)) {
        out.push(detail("input", None, Some(x.clone())));
    }
    for x in a.iter().filter(|x| !b.contains(x)) {
        out.push(detail("input", Some(x.clone()), None));
    }
    if out.is_empty() {
        out.push(detail(
            "inputs",
            Some(format!("[{}]", a.join(", "))),
            Some(format!("[{}]", b.join(", "))),
        ));
    }
    out
}

/// Every change between two versions of one policy, by kind, then in declaration order (new
/// side first, then what only the old side had). An item declared more than once (an error
/// `check` reports) is matched by occurrence, the first with the first, so identical policies
/// have no changes.
pub fn diff_policy(old: &ast::Policy, new: &ast::Policy) -> Vec<Change> {
    let (a, b) = (entries(old), entries(new));
    fn index(es: &[Entry]) -> (HashMap<(Kind, &str), Vec<usize>>, Vec<usize>) {
        let mut by_key: HashMap<(Kind, &str), Vec<usize>> = HashMap::new();
        let occurrence: Vec<usize> = es
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let seen = by_key.entry((e.kind, e.name.as_str())).or_default();
                seen.push(i);
                seen.len() - 1
            })
            .collect();
        (by_key, occurrence)
    }
    let (a_by_key, a_occurrence) = index(&a);
    let (b_by_key, b_occurrence) = index(&b);
    let counterpart = |by_key: &HashMap<(Kind, &str), Vec<usize>>, e: &Entry, k: usize| {
        by_key
            .get(&(e.kind, e.name.as_str()))
            .and_then(|v| v.get(k))
            .copied()
    };
    let mut out = Vec::new();
    for (j, n) in b.iter().enumerate() {
        match counterpart(&a_by_key, n, b_occurrence[j]).map(|i| &a[i]) {
            Some(o) if o.text() != n.text() => {
                let mut details = details(n.kind, o, n);
                if n.kind == Kind::Model {
                    details.extend(input_details(&o.inputs, &n.inputs));
                }
                out.push(Change {
                    kind: n.kind,
                    name: n.name.clone(),
                    op: Op::Changed,
                    old: Some(o.text()),
                    new: Some(n.text()),
                    details,
                });
            }
            Some(_) => {}
            None => out.push(Change {
                kind: n.kind,
                name: n.name.clone(),
                op: Op::Added,
                old: None,
                new: Some(n.text()),
                details: Vec::new(),
            }),
        }
    }
    for (i, o) in a.iter().enumerate() {
        if counterpart(&b_by_key, o, a_occurrence[i]).is_none() {
            out.push(Change {
                kind: o.kind,
                name: o.name.clone(),
                op: Op::Removed,
                old: Some(o.text()),
                new: None,
                details: Vec::new(),
            });
        }
    }
    // Stable: by kind, keeping declaration order within a kind.
    out.sort_by_key(|c| c.kind);
    out
}
