//! `check`: names, types, model contracts → diagnostics, and the typed policies `compile` needs.
//! Never runs inference: model contracts come from a [`ModelCatalog`].

mod checked;
pub mod expr;
mod expr_problem;
mod problem;

use crate::model::contract::ModelCatalog;
pub use checked::*;
pub use expr_problem::ExprProblem;
pub use problem::{LiteralFix, Problem};

use crate::diagnostics::{Diagnostic, did_you_mean};
use crate::source::Span;
use crate::syntax::ast;
use crate::types::{FieldTy, RecordTy, Ty, Value};
use expr::{Env, NodeInfo};
use jiff::SignedDuration;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Checks every policy of a set. Returns the policies that checked cleanly (by name) and every
/// diagnostic, sorted by position.
pub fn check_set(
    files: &[ast::File],
    catalog: &dyn ModelCatalog,
) -> (Vec<CheckedPolicy>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    let mut all: Vec<&ast::Policy> = Vec::new();
    for f in files {
        for p in &f.policies {
            if let Some(first) = seen.get(p.name.name.as_str()) {
                let problem = Problem::Duplicate {
                    what: "policy".into(),
                    name: p.name.name.clone(),
                };
                diags.push(problem.at(&[p.name.span, *first]));
                continue;
            }
            seen.insert(&p.name.name, p.name.span);
            all.push(p);
        }
    }
    let mut checked = Vec::new();
    for p in &all {
        let before = diags.iter().filter(|d| d.is_error()).count();
        let c = PolicyChecker::new(p, catalog, &mut diags).run();
        let after = diags.iter().filter(|d| d.is_error()).count();
        if let Some(c) = c
            && after == before
        {
            checked.push(c);
        }
    }
    check_routes(&all, &checked, &mut diags);
    crate::diagnostics::sort(&mut diags);
    (checked, diags)
}

/// Route targets must exist, form no cycle, and receive every context field they declare.
fn check_routes(all: &[&ast::Policy], checked: &[CheckedPolicy], diags: &mut Vec<Diagnostic>) {
    let names: Vec<&str> = all.iter().map(|p| p.name.name.as_str()).collect();
    let mut edges: std::collections::BTreeMap<&str, Vec<(&str, Span)>> =
        std::collections::BTreeMap::new();
    for p in all {
        for item in &p.items {
            let ast::Item::Route(r) = item else { continue };
            let targets = r
                .rules
                .iter()
                .map(|rule| &rule.target)
                .chain(r.otherwise.iter());
            for t in targets {
                if !names.contains(&t.name.as_str()) {
                    let problem = Problem::UnknownRoute {
                        target: t.name.clone(),
                        suggestion: did_you_mean(&t.name, names.iter().copied()),
                    };
                    diags.push(problem.at(&[t.span]));
                    continue;
                }
                edges
                    .entry(p.name.name.as_str())
                    .or_default()
                    .push((t.name.as_str(), t.span));
                // Context compatibility, when both sides checked.
                let from = checked.iter().find(|c| c.name == p.name.name);
                let to = checked.iter().find(|c| c.name == t.name);
                if let (Some(from), Some(to)) = (from, to) {
                    for f in &to.context.fields {
                        let ok = from
                            .context
                            .field(&f.name)
                            .is_some_and(|g| f.ty.accepts(&g.ty) && (f.optional || !g.optional));
                        if !ok {
                            let problem = Problem::RouteContext {
                                target: t.name.clone(),
                                field: f.name.clone(),
                                ty: f.ty.to_string(),
                                router: p.name.name.clone(),
                            };
                            diags.push(problem.at(&[t.span]));
                        }
                    }
                }
            }
        }
    }
    // Cycles: from every router in name order, a depth-first search; each cycle is reported
    // once, from its first policy by name.
    let mut reported: HashSet<&str> = HashSet::new();
    for start in edges.keys().copied().collect::<Vec<_>>() {
        if reported.contains(start) {
            continue;
        }
        let mut stack = vec![(start, vec![start])];
        let mut visited = HashSet::new();
        'search: while let Some((node, path)) = stack.pop() {
            for (next, span) in edges.get(node).map(Vec::as_slice).unwrap_or(&[]) {
                if *next == start {
                    reported.extend(path.iter().copied());
                    let path = path.iter().chain(std::iter::once(&start));
                    let problem = Problem::RouteCycle {
                        path: path.map(|s| s.to_string()).collect(),
                    };
                    diags.push(problem.at(&[*span]));
                    break 'search;
                } else if visited.insert(*next) {
                    let mut p = path.clone();
                    p.push(next);
                    stack.push((next, p));
                }
            }
        }
    }
}

/// Parses `8h`, `90m`, `1h30m`, `7d`, `500ms`, `30s`. Zero and negative durations are invalid.
pub fn parse_duration(s: &str) -> Option<SignedDuration> {
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms_per = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(ms_per)?)?;
        rest = &rest[unit_len..];
    }
    (total > 0).then(|| SignedDuration::from_millis(total))
}

fn parse_time_of_day(s: &str) -> Option<(i8, i8)> {
    let (h, m) = s.split_once(':')?;
    if m.len() != 2 {
        return None;
    }
    let h: i8 = h.parse().ok()?;
    let m: i8 = m.parse().ok()?;
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some((h, m))
}

fn scalar_ty(s: ast::Scalar) -> Ty {
    match s {
        ast::Scalar::String => Ty::String,
        ast::Scalar::Int => Ty::Int,
        ast::Scalar::Float => Ty::Float,
        ast::Scalar::Bool => Ty::Bool,
        ast::Scalar::Timestamp => Ty::Timestamp,
    }
}

/// A literal as a value of type `ty`, or a diagnostic.
fn literal_value(l: &ast::Literal, ty: &Ty) -> Result<Value, Diagnostic> {
    let bad = |fix| {
        let problem = Problem::LiteralType {
            ty: ty.to_string(),
            fix,
        };
        problem.at(&[l.span])
    };
    Ok(match (&l.kind, ty) {
        (ast::LiteralKind::Int(i), Ty::Int) => Value::Int(*i),
        (ast::LiteralKind::Int(i), Ty::Float) => Value::Float(*i as f64),
        (ast::LiteralKind::Float(f), Ty::Float) => Value::Float(*f),
        (ast::LiteralKind::Float(_), Ty::Int) => {
            return Err(bad(LiteralFix::WholeNumber));
        }
        (ast::LiteralKind::Str(s), Ty::String) => Value::Str(Arc::from(s.as_str())),
        (ast::LiteralKind::Str(s), Ty::Timestamp) => match s.parse::<jiff::Timestamp>() {
            Ok(t) => Value::Timestamp(t),
            Err(_) => {
                return Err(bad(LiteralFix::Rfc3339));
            }
        },
        (ast::LiteralKind::Bool(b), Ty::Bool) => Value::Bool(*b),
        (ast::LiteralKind::List(items), Ty::List(elem)) => {
            let mut out = Vec::new();
            for i in items {
                out.push(literal_value(i, elem)?);
            }
            Value::List(out.into())
        }
        _ => return Err(bad(LiteralFix::None)),
    })
}

/// A number as a literal of its type writes it: `1`, `1.0`, `0.25`.
fn number(v: &Value) -> String {
    match v {
        Value::Float(f) => format!("{f:?}"),
        Value::Int(i) => i.to_string(),
        other => format!("{}", other.as_f64()),
    }
}

/// The natural type of an attribute literal.
fn literal_ty(l: &ast::Literal) -> Ty {
    match &l.kind {
        ast::LiteralKind::Int(_) => Ty::Int,
        ast::LiteralKind::Float(_) => Ty::Float,
        ast::LiteralKind::Str(_) => Ty::String,
        ast::LiteralKind::Bool(_) => Ty::Bool,
        ast::LiteralKind::List(items) => {
            Ty::List(Box::new(items.first().map_or(Ty::Unknown, literal_ty)))
        }
    }
}

struct PolicyChecker<'a> {
    p: &'a ast::Policy,
    catalog: &'a dyn ModelCatalog,
    diags: &'a mut Vec<Diagnostic>,
    /// The candidates had errors: their shape is still used to check the rest of the policy
    /// (so one bad attribute does not cascade into "no candidates" errors), but the policy fails.
    candidates_failed: bool,
}

/// What pass 1 finds: the policy's items, each singular one at most once.
struct Items<'a> {
    meta: Meta,
    context: Option<&'a ast::Record>,
    subject: Option<&'a ast::Subject>,
    cands: Option<&'a ast::Candidates>,
    score: Option<&'a ast::Expr>,
    select: Option<&'a ast::Select>,
    fallback: Option<&'a ast::Ident>,
    route: Option<&'a ast::Route>,
    params: Vec<&'a ast::Param>,
    /// Lets and models, in declaration order (`run` adds the score).
    defs: Vec<(String, Span, Def<'a>)>,
    guards: Vec<&'a ast::Guard>,
}

/// What pass 2 declares: the context type, the names taken so far and the params.
struct Declared {
    ctx: Arc<RecordTy>,
    /// Every declared name and where, for duplicate checks.
    names: HashMap<String, Span>,
    /// Names whose declaration was rejected: their uses stay silent.
    failed: HashSet<String>,
    params: Vec<(String, Ty, Value)>,
    param_spans: Vec<Span>,
}

/// What pass 3 finds: the order to compute the values in (indices into the definitions), each
/// value's level, and the names rejected as reserved.
struct Ordered {
    order: Vec<usize>,
    level: HashMap<String, Level>,
    reserved: HashSet<String>,
}

/// What pass 3b produces: the typed values by name, the request- and candidate-level nodes,
/// and whether every value checked.
struct Values {
    nodes: HashMap<String, NodeInfo>,
    req_nodes: Vec<Node>,
    cand_nodes: Vec<Node>,
    ok: bool,
}

/// A named thing in the policy's one namespace of values.
#[derive(Clone, Copy)]
enum Def<'a> {
    Let(&'a ast::Let),
    Model(&'a ast::Model),
    Score(&'a ast::Expr),
}

impl<'a> PolicyChecker<'a> {
    fn new(
        p: &'a ast::Policy,
        catalog: &'a dyn ModelCatalog,
        diags: &'a mut Vec<Diagnostic>,
    ) -> Self {
        PolicyChecker {
            p,
            catalog,
            diags,
            candidates_failed: false,
        }
    }

    fn dup(&mut self, what: &str, name: &str, again: Span, first: Span) {
        let problem = Problem::Duplicate {
            what: what.into(),
            name: name.into(),
        };
        self.diags.push(problem.at(&[again, first]));
    }

    /// Exactly one of a singular item.
    fn single<T>(&mut self, what: &str, items: Vec<(&'a T, Span)>) -> Option<&'a T> {
        let first = items.first().map(|(_, s)| *s);
        for (_, s) in items.iter().skip(1) {
            if let Some(f) = first {
                let problem = Problem::RepeatedItem {
                    item: what.into(),
                    policy: self.p.name.name.clone(),
                };
                self.diags.push(problem.at(&[*s, f]));
            }
        }
        items.first().map(|(t, _)| *t)
    }

    fn record(&mut self, r: &ast::Record) -> RecordTy {
        let mut fields: Vec<FieldTy> = Vec::new();
        let mut spans: HashMap<String, Span> = HashMap::new();
        for f in &r.fields {
            if let Some(first) = spans.get(&f.name.name) {
                let first = *first;
                self.dup("field", &f.name.name, f.name.span, first);
                continue;
            }
            spans.insert(f.name.name.clone(), f.name.span);
            let ty = self.type_expr(&f.ty);
            let default = match &f.default {
                Some(l) => match literal_value(l, &ty) {
                    Ok(v) => Some(v),
                    Err(d) => {
                        self.diags.push(d);
                        None
                    }
                },
                None => None,
            };
            let optional = f.ty.optional || f.default.is_some();
            fields.push(FieldTy {
                name: f.name.name.clone(),
                ty,
                optional,
                default,
            });
        }
        RecordTy { fields }
    }

    fn type_expr(&mut self, t: &ast::TypeExpr) -> Ty {
        match &t.kind {
            ast::TypeKind::Scalar(s) => scalar_ty(*s),
            ast::TypeKind::List(inner) => Ty::List(Box::new(self.type_expr(inner))),
            ast::TypeKind::Record(r) => Ty::Record(Arc::new(self.record(r))),
        }
    }

    /// Resolves a dotted context path to field indices and the field's type.
    fn context_path(
        &mut self,
        ctx: &RecordTy,
        path: &ast::Path,
        what: &str,
    ) -> Option<(Vec<u16>, Ty)> {
        let mut idx = Vec::new();
        let mut rec = ctx.clone();
        let mut ty = Ty::Unknown;
        for (n, seg) in path.segments.iter().enumerate() {
            let Some(i) = rec.index(seg) else {
                let problem = Problem::NotAContextField {
                    what: what.into(),
                    path: path.dotted(),
                    suggestion: did_you_mean(seg, rec.fields.iter().map(|f| f.name.as_str())),
                };
                self.diags.push(problem.at(&[path.span]));
                return None;
            };
            idx.push(i as u16);
            ty = rec.fields[i].ty.clone();
            if n + 1 < path.segments.len() {
                match &ty {
                    Ty::Record(r) => rec = (**r).clone(),
                    _ => {
                        let problem = Problem::NoFields {
                            name: seg.clone(),
                            ty: ty.to_string(),
                        };
                        self.diags.push(problem.at(&[path.span]));
                        return None;
                    }
                }
            }
        }
        Some((idx, ty))
    }

    /// Pass 1: gathers the items of the policy; reports repeated metadata and singular items.
    fn items(&mut self) -> Items<'a> {
        let p = self.p;
        // ---- gather items --------------------------------------------------------------
        let mut meta = Meta::default();
        let mut meta_seen: HashMap<&str, Span> = HashMap::new();
        let (
            mut contexts,
            mut subjects,
            mut cands,
            mut scores,
            mut selects,
            mut fallbacks,
            mut routes,
        ) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        let mut params = vec![];
        let mut defs: Vec<(String, Span, Def)> = vec![];
        let mut guards = vec![];
        for item in &p.items {
            match item {
                ast::Item::Meta(m) => {
                    if let Some(first) = meta_seen.get(m.key.name.as_str()) {
                        let first = *first;
                        self.dup("metadata", &m.key.name, m.key.span, first);
                    }
                    meta_seen.insert(&m.key.name, m.key.span);
                    let v = Some(m.value.value.clone());
                    match m.key.name.as_str() {
                        "version" => meta.version = v,
                        "owner" => meta.owner = v,
                        _ => meta.description = v,
                    }
                }
                ast::Item::Context(r) => contexts.push((r, r.span)),
                ast::Item::Subject(s) => subjects.push((s, s.span)),
                ast::Item::Param(x) => params.push(x),
                ast::Item::Candidates(c) => cands.push((c, c.span)),
                ast::Item::Model(m) => defs.push((m.name.name.clone(), m.name.span, Def::Model(m))),
                ast::Item::Let(l) => defs.push((l.name.name.clone(), l.name.span, Def::Let(l))),
                ast::Item::Score(e) => {
                    scores.push((e, e.span));
                }
                ast::Item::Guard(g) => guards.push(g),
                ast::Item::Select(s) => selects.push((s, s.span)),
                ast::Item::Fallback(f) => fallbacks.push((f, f.span)),
                ast::Item::Route(r) => routes.push((r, r.span)),
            }
        }
        let context = self.single("context", contexts);
        let subject = self.single("subject", subjects);
        let cands = self.single("candidates", cands);
        let score = self.single("score", scores);
        let select = self.single("select", selects);
        let fallback = self.single("fallback", fallbacks);
        let route = self.single("route", routes);
        Items {
            meta,
            context,
            subject,
            cands,
            score,
            select,
            fallback,
            route,
            params,
            defs,
            guards,
        }
    }

    /// Pass 2: the context's record type, then the params' types and values (a rejected param
    /// is still declared, in `failed`).
    fn context_and_params(
        &mut self,
        context: Option<&'a ast::Record>,
        params: &[&'a ast::Param],
    ) -> Declared {
        let ctx = Arc::new(
            context
                .map(|r| self.record(r))
                .unwrap_or(RecordTy { fields: vec![] }),
        );
        let mut names: HashMap<String, Span> = HashMap::new();
        for f in context.map(|c| c.fields.as_slice()).unwrap_or(&[]) {
            names.entry(f.name.name.clone()).or_insert(f.name.span);
        }
        // Declarations that were rejected stay declared here, so expressions that use them
        // are silent instead of reporting "unknown name" after the real mistake.
        let mut failed: HashSet<String> = HashSet::new();
        let mut param_vals: Vec<(String, Ty, Value)> = vec![];
        let mut param_spans: Vec<Span> = vec![];
        for x in params {
            if let Some(first) = names.get(&x.name.name) {
                let first = *first;
                self.dup("name", &x.name.name, x.name.span, first);
                continue;
            }
            names.insert(x.name.name.clone(), x.name.span);
            let ty = scalar_ty(x.ty.0);
            if !ty.is_numeric() {
                let problem = Problem::ParamNotNumber {
                    name: x.name.name.clone(),
                };
                self.diags.push(problem.at(&[x.ty.1]));
                failed.insert(x.name.name.clone());
                continue;
            }
            let v = match literal_value(&x.value, &ty) {
                Ok(v) => v,
                Err(d) => {
                    self.diags.push(d);
                    failed.insert(x.name.name.clone());
                    continue;
                }
            };
            if let Some((lo, hi)) = &x.range {
                let (lv, hv) = (literal_value(lo, &ty), literal_value(hi, &ty));
                match (lv, hv) {
                    (Ok(l), Ok(h)) => {
                        // Shown as the param's type writes them: `0.0..1.0`, not `0..1`.
                        let (ls, hs, vs) = (number(&l), number(&h), number(&v));
                        let (l, h, val) = (l.as_f64(), h.as_f64(), v.as_f64());
                        if l > h {
                            let problem = Problem::EmptyRange {
                                name: x.name.name.clone(),
                            };
                            self.diags
                                .push(problem.at(&[lo.span.sub(0, 0).union(hi.span)]));
                        } else if !(l..=h).contains(&val) {
                            let problem = Problem::OutOfRange {
                                name: x.name.name.clone(),
                                value: vs,
                                low: ls,
                                high: hs,
                            };
                            self.diags
                                .push(problem.at(&[x.value.span, lo.span.union(hi.span)]));
                        }
                    }
                    (Err(d), _) | (_, Err(d)) => self.diags.push(d),
                }
            }
            param_vals.push((x.name.name.clone(), ty, v));
            param_spans.push(x.name.span);
        }
        Declared {
            ctx,
            names,
            failed,
            params: param_vals,
            param_spans,
        }
    }

    fn run(mut self) -> Option<CheckedPolicy> {
        let p = self.p;
        // Pass 1, declarations: the items of the policy, each singular one at most once.
        let Items {
            meta,
            context,
            subject,
            cands,
            score,
            select,
            fallback,
            route,
            params,
            mut defs,
            guards,
        } = self.items();
        if let Some(s) = score {
            defs.push(("score".into(), s.span, Def::Score(s)));
        }

        // Pass 2, names and types: the context's record type and the params' values.
        let Declared {
            ctx,
            mut names,
            mut failed,
            params: param_vals,
            param_spans,
        } = self.context_and_params(context, &params);

        // ---- candidates ---------------------------------------------------------------
        let has_route = route.is_some();
        let candidates = self.candidates(cands, &ctx, select.map(|s| s.kind));

        // Pass 3, dependency order of the values, and their levels.
        let ordered = self.dependency_order(&defs, &mut names)?;
        let cand_attrs = candidates.as_ref().map(|c| c.attrs.clone());
        // Pass 3b, the values in dependency order.
        let mut uses: BTreeSet<String> = BTreeSet::new();
        let value_attrs = cand_attrs
            .as_deref()
            .filter(|_| !candidates.as_ref().is_some_and(|c| c.implicit));
        let Values {
            nodes,
            req_nodes,
            cand_nodes,
            mut ok,
        } = self.values(
            &defs,
            &ordered,
            &ctx,
            &param_vals,
            value_attrs,
            &mut failed,
            &mut uses,
        );
        let reserved = ordered.reserved;

        // Pass 4, guards.
        let guard_env = Env {
            ctx: &ctx,
            params: &param_vals,
            nodes: &nodes,
            candidate: cand_attrs
                .as_deref()
                .filter(|_| !candidates.as_ref().is_some_and(|c| c.implicit)),
            role: "this guard",
            failed: &failed,
        };
        let (checked_guards, guards_ok) = self.guards(
            &guards,
            &guard_env,
            cand_attrs.as_deref(),
            subject.is_some(),
            has_route,
            &mut uses,
        );
        ok &= guards_ok;

        // ---- subject ------------------------------------------------------------------------
        let subj = subject.and_then(|s| self.subject(s, &ctx));
        if subject.is_some() && subj.is_none() {
            ok = false;
        }

        // ---- selection and routes ----------------------------------------------------------
        let selection = self.selection(
            select,
            fallback,
            route,
            score,
            &candidates,
            &ctx,
            &param_vals,
            &nodes,
            &mut uses,
            &failed,
        );

        // Last pass: unused names.
        self.unused(uses, &param_vals, &param_spans, &defs, &reserved);

        let (selection, candidates) = (selection?, candidates?);
        if !ok || self.candidates_failed {
            return None;
        }
        let score_idx = nodes.get("score").map(|n| n.index);
        Some(CheckedPolicy {
            name: p.name.name.clone(),
            meta,
            span: p.span,
            context: ctx,
            subject: subj,
            params: param_vals,
            candidates,
            req_nodes,
            cand_nodes,
            score: score_idx,
            guards: checked_guards,
            select: selection,
        })
    }

    /// Pass 3, dependency order: the values' names (reserved or taken ones are reported), the
    /// order to compute them in (`None` on a cycle, which is reported), and each one's level.
    fn dependency_order(
        &mut self,
        defs: &[(String, Span, Def)],
        names: &mut HashMap<String, Span>,
    ) -> Option<Ordered> {
        // Rejected names: their definitions are neither checked for use nor warned about.
        let mut reserved: HashSet<String> = HashSet::new();
        for (name, span, _) in defs {
            if ["candidate", "now", "local", "context", "score"].contains(&name.as_str())
                && !matches!(
                    defs.iter().find(|d| &d.0 == name).map(|d| d.2),
                    Some(Def::Score(_))
                )
            {
                let problem = Problem::ReservedName { name: name.clone() };
                self.diags.push(problem.at(&[*span]));
                reserved.insert(name.clone());
            } else if let Some(first) = names.get(name) {
                let first = *first;
                self.dup("name", name, *span, first);
            } else {
                names.insert(name.clone(), *span);
            }
        }
        let (order, cyclic) = self.order(defs);
        if cyclic {
            return None;
        }
        // Levels follow from what each node reads.
        let mut level: HashMap<String, Level> = HashMap::new();
        for &i in &order {
            let (name, _, def) = &defs[i];
            let l = match def {
                Def::Score(_) => Level::Candidate,
                Def::Model(m) if matches!(m.per, Some((ast::Per::Candidate, _))) => {
                    Level::Candidate
                }
                Def::Model(_) => Level::Request,
                Def::Let(l) => {
                    let refs = l.value.names();
                    if refs.contains("candidate")
                        || refs
                            .iter()
                            .any(|r| level.get(r.as_str()) == Some(&Level::Candidate))
                    {
                        Level::Candidate
                    } else {
                        Level::Request
                    }
                }
            };
            level.insert(name.clone(), l);
        }
        Some(Ordered {
            order,
            level,
            reserved,
        })
    }

    /// Pass 3b, values: the lets, models and score typed in dependency order, each at its level.
    /// A value that fails joins `failed`, so its uses report nothing more.
    #[allow(clippy::too_many_arguments)]
    fn values(
        &mut self,
        defs: &[(String, Span, Def)],
        ordered: &Ordered,
        ctx: &RecordTy,
        params: &[(String, Ty, Value)],
        cand_attrs: Option<&RecordTy>,
        failed: &mut HashSet<String>,
        uses: &mut BTreeSet<String>,
    ) -> Values {
        let mut nodes: HashMap<String, NodeInfo> = HashMap::new();
        let mut req_nodes: Vec<Node> = vec![];
        let mut cand_nodes: Vec<Node> = vec![];
        let mut ok = true;
        for &i in &ordered.order {
            let (name, _, def) = &defs[i];
            let lvl = ordered
                .level
                .get(name.as_str())
                .copied()
                .unwrap_or(Level::Request);
            let cand_env = if lvl == Level::Candidate {
                cand_attrs
            } else {
                None
            };
            let role = match def {
                Def::Let(_) => "a request-level value",
                Def::Model(_) => "a per-request model input",
                Def::Score(_) => "the score",
            };
            let env = Env {
                ctx,
                params,
                nodes: &nodes,
                candidate: cand_env,
                role,
                failed,
            };
            let node = match def {
                Def::Let(l) => expr::check(&l.value, &env, uses, self.diags).map(|t| Node {
                    name: name.clone(),
                    ty: t.ty,
                    kind: NodeKind::Let(t.ex),
                }),
                Def::Score(e) => match expr::check(e, &env, uses, self.diags) {
                    Some(t) if t.ty.is_numeric() => {
                        let t = if t.ty == Ty::Int { expr_to_float(t) } else { t };
                        Some(Node {
                            name: name.clone(),
                            ty: Ty::Float,
                            kind: NodeKind::Let(t.ex),
                        })
                    }
                    Some(t) => {
                        let problem = Problem::ScoreNotNumber {
                            ty: t.ty.to_string(),
                        };
                        self.diags.push(problem.at(&[e.span]));
                        None
                    }
                    None => None,
                },
                Def::Model(m) => self.model(m, &env, uses, lvl),
            };
            let Some(node) = node else {
                ok = false;
                failed.insert(name.clone());
                continue;
            };
            let list = if lvl == Level::Candidate {
                &mut cand_nodes
            } else {
                &mut req_nodes
            };
            nodes.insert(
                name.clone(),
                NodeInfo {
                    level: lvl,
                    index: list.len() as u16,
                    ty: node.ty.clone(),
                },
            );
            list.push(node);
        }
        Values {
            nodes,
            req_nodes,
            cand_nodes,
            ok,
        }
    }

    /// Pass 4, guards: each guard typed (`require`) or parsed (caps, gaps, quiet hours). The
    /// guards that checked, and whether all did.
    fn guards(
        &mut self,
        guards: &[&'a ast::Guard],
        env: &Env,
        cand_attrs: Option<&RecordTy>,
        has_subject: bool,
        has_route: bool,
        uses: &mut BTreeSet<String>,
    ) -> (Vec<Guard>, bool) {
        let mut checked_guards = vec![];
        let mut ok = true;
        let mut guard_names: HashMap<&str, Span> = HashMap::new();
        for g in guards {
            if let Some(first) = guard_names.get(g.name.name.as_str()) {
                let first = *first;
                self.dup("guard", &g.name.name, g.name.span, first);
                continue;
            }
            guard_names.insert(&g.name.name, g.name.span);
            let kind = match &g.kind {
                ast::GuardKind::Require(e) => match expr::check(e, env, uses, self.diags) {
                    Some(t) if t.ty == Ty::Bool => Some(GuardKind::Require {
                        ex: t.ex,
                        level: t.level,
                    }),
                    Some(t) => {
                        let problem = Problem::GuardNotBool {
                            guard: g.name.name.clone(),
                            ty: t.ty.to_string(),
                        };
                        self.diags.push(problem.at(&[e.span]));
                        None
                    }
                    None => None,
                },
                ast::GuardKind::Cap {
                    limit,
                    window,
                    scope,
                } => {
                    let w = match window {
                        ast::Window::Day(_) => Some(Window::Day),
                        ast::Window::Rolling(s) => self.duration(s).map(Window::Rolling),
                    };
                    if limit.0 == 0 {
                        self.diags.push(Problem::ZeroCap.at(&[limit.1]));
                    }
                    let sc = self.scope(scope, cand_attrs);
                    match (w, sc) {
                        (Some(window), Some(scope)) if limit.0 > 0 => Some(GuardKind::Cap {
                            limit: limit.0,
                            window,
                            scope,
                        }),
                        _ => None,
                    }
                }
                ast::GuardKind::Gap { duration, scope } => {
                    let d = self.duration(duration);
                    let sc = self.scope(scope, cand_attrs);
                    match (d, sc) {
                        (Some(gap), Some(scope)) => Some(GuardKind::Gap { gap, scope }),
                        _ => None,
                    }
                }
                ast::GuardKind::Quiet { start, end } => {
                    let s = self.time_of_day(start);
                    let e = self.time_of_day(end);
                    match (s, e) {
                        (Some(s), Some(e)) if s == e => {
                            let span = start.span.union(end.span);
                            self.diags.push(Problem::EmptyQuietHours.at(&[span]));
                            None
                        }
                        (Some(s), Some(e)) => Some(GuardKind::Quiet { start: s, end: e }),
                        _ => None,
                    }
                }
            };
            if let Some(kind) = kind {
                if kind.is_stateful() && !has_subject {
                    let problem = Problem::NoSubject {
                        guard: g.name.name.clone(),
                    };
                    self.diags.push(problem.at(&[g.span]));
                }
                if has_route {
                    self.diags.push(Problem::GuardInRouter.at(&[g.span]));
                }
                checked_guards.push(Guard {
                    name: g.name.name.clone(),
                    kind,
                });
            } else {
                ok = false;
            }
        }
        (checked_guards, ok)
    }

    /// The last pass, unused names: by what expressions mention, so an error elsewhere cannot
    /// fake one. Rejected (reserved) names are not warned about.
    fn unused(
        &mut self,
        mut uses: BTreeSet<String>,
        params: &[(String, Ty, Value)],
        param_spans: &[Span],
        defs: &[(String, Span, Def)],
        reserved: &HashSet<String>,
    ) {
        uses.extend(names_read(self.p));
        let model_inputs_uses = uses.clone();
        for (i, (name, _, _)) in params.iter().enumerate() {
            if !model_inputs_uses.contains(name) {
                let problem = Problem::UnusedParam { name: name.clone() };
                self.diags.push(problem.at(&[param_spans[i]]));
            }
        }
        for (name, span, def) in defs {
            if uses.contains(name) || reserved.contains(name) {
                continue;
            }
            let name = name.clone();
            let problem = match def {
                Def::Let(_) => Problem::UnusedValue { name },
                Def::Model(_) => Problem::UnusedModel { name },
                Def::Score(_) => continue,
            };
            self.diags.push(problem.at(&[*span]));
        }
    }

    /// Dependency order of the value nodes; reports cycles.
    fn order(&mut self, defs: &[(String, Span, Def)]) -> (Vec<usize>, bool) {
        let index: HashMap<&str, usize> = defs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.0.as_str(), i))
            .collect();
        let deps: Vec<Vec<usize>> = defs
            .iter()
            .map(|(_, _, d)| {
                let exprs: Vec<&ast::Expr> = match d {
                    Def::Let(l) => vec![&l.value],
                    Def::Score(e) => vec![*e],
                    Def::Model(m) => m.inputs.iter().collect(),
                };
                let mut out: Vec<usize> = exprs
                    .iter()
                    .flat_map(|e| e.names())
                    .filter_map(|r| index.get(r.as_str()).copied())
                    .collect();
                out.sort_unstable();
                out.dedup();
                out
            })
            .collect();
        // A depth-first search in declaration order, with an explicit stack rather than
        // recursion: a chain of thousands of values (`let a2 = a1`, `let a3 = a2`, ...) must not
        // overflow the thread's stack (issue 15, "stack overflow").
        let mut state = vec![0u8; defs.len()]; // 0 new, 1 visiting, 2 done
        let mut order = Vec::new();
        let mut cyclic = false;
        // The first cycle reachable from `root`, as the nodes on the search path.
        let visit = |root: usize, state: &mut [u8], order: &mut Vec<usize>| -> Option<Vec<usize>> {
            // (node, index of the next dependency to look at); the path is the stack's nodes.
            let mut stack: Vec<(usize, usize)> = Vec::new();
            if state[root] == 2 {
                return None;
            }
            state[root] = 1;
            stack.push((root, 0));
            while let Some(top) = stack.last_mut() {
                let i = top.0;
                let Some(&d) = deps[i].get(top.1) else {
                    stack.pop();
                    state[i] = 2;
                    order.push(i);
                    continue;
                };
                top.1 += 1;
                if d == i {
                    return Some(vec![i]);
                }
                match state[d] {
                    2 => {}
                    1 => {
                        let start = stack.iter().position(|&(s, _)| s == d).unwrap_or(0);
                        return Some(stack[start..].iter().map(|&(s, _)| s).collect());
                    }
                    _ => {
                        state[d] = 1;
                        stack.push((d, 0));
                    }
                }
            }
            None
        };
        for i in 0..defs.len() {
            if let Some(cycle) = visit(i, &mut state, &mut order) {
                cyclic = true;
                let names = cycle.iter().chain(cycle.first());
                let problem = Problem::ValueCycle {
                    names: names.map(|&c| defs[c].0.clone()).collect(),
                };
                self.diags.push(problem.at(&[defs[cycle[0]].1]));
                break;
            }
        }
        (order, cyclic)
    }

    fn duration(&mut self, s: &ast::Str) -> Option<SignedDuration> {
        let d = parse_duration(&s.value);
        if d.is_none() {
            let problem = Problem::InvalidDuration {
                text: s.value.clone(),
            };
            self.diags.push(problem.at(&[s.span]));
        }
        d
    }

    fn time_of_day(&mut self, s: &ast::Str) -> Option<(i8, i8)> {
        let t = parse_time_of_day(&s.value);
        if t.is_none() {
            let problem = Problem::InvalidTimeOfDay {
                text: s.value.clone(),
            };
            self.diags.push(problem.at(&[s.span]));
        }
        t
    }

    fn scope(&mut self, s: &ast::Scope, attrs: Option<&RecordTy>) -> Option<Scope> {
        match s {
            ast::Scope::All => Some(Scope::All),
            ast::Scope::Candidate(span) => {
                if attrs.is_none() {
                    let problem = Problem::ScopeWithoutCandidates { attr: false };
                    self.diags.push(problem.at(&[*span]));
                    return None;
                }
                Some(Scope::Candidate)
            }
            ast::Scope::Attr(name) => {
                let Some(attrs) = attrs else {
                    let problem = Problem::ScopeWithoutCandidates { attr: true };
                    self.diags.push(problem.at(&[name.span]));
                    return None;
                };
                match attrs.index(&name.name) {
                    Some(i) => Some(Scope::Attr(i as u16)),
                    None => {
                        let names = attrs.fields.iter().map(|f| f.name.as_str());
                        let problem = Problem::UnknownScopeAttribute {
                            name: name.name.clone(),
                            suggestion: did_you_mean(&name.name, names),
                        };
                        self.diags.push(problem.at(&[name.span]));
                        None
                    }
                }
            }
        }
    }

    /// Whether some segment of `path` may be absent from a request with no default to stand in.
    fn optional_without_default(ctx: &RecordTy, path: &ast::Path) -> bool {
        let mut rec = ctx;
        for seg in &path.segments {
            let Some(f) = rec.index(seg).and_then(|i| rec.fields.get(i)) else {
                return false;
            };
            if f.optional && f.default.is_none() {
                return true;
            }
            match &f.ty {
                Ty::Record(r) => rec = r,
                _ => return false,
            }
        }
        false
    }

    fn subject(&mut self, s: &ast::Subject, ctx: &RecordTy) -> Option<Subject> {
        let (key, kty) = self.context_path(ctx, &s.key, "subject key")?;
        if !matches!(kty, Ty::String | Ty::Int) {
            let problem = Problem::SubjectKeyType {
                ty: kty.to_string(),
            };
            self.diags.push(problem.at(&[s.key.span]));
            return None;
        }
        if Self::optional_without_default(ctx, &s.key) {
            let problem = Problem::OptionalSubjectKey {
                key: s.key.dotted(),
            };
            self.diags.push(problem.at(&[s.key.span]));
            return None;
        }
        let zone = match &s.zone {
            None => Zone::Fixed(jiff::tz::TimeZone::UTC),
            Some(ast::Zone::Literal(name)) => match jiff::tz::TimeZone::get(&name.value) {
                Ok(tz) => Zone::Fixed(tz),
                Err(_) => {
                    let zones: Vec<String> = jiff::tz::db()
                        .available()
                        .map(|n| n.as_str().to_string())
                        .collect();
                    let problem = Problem::UnknownTimeZone {
                        name: name.value.clone(),
                        suggestion: did_you_mean(&name.value, zones.iter().map(String::as_str)),
                    };
                    self.diags.push(problem.at(&[name.span]));
                    return None;
                }
            },
            Some(ast::Zone::Field(path)) => {
                let (idx, ty) = self.context_path(ctx, path, "zone field")?;
                if ty != Ty::String {
                    let problem = Problem::ZoneFieldType { ty: ty.to_string() };
                    self.diags.push(problem.at(&[path.span]));
                    return None;
                }
                Zone::Field(idx)
            }
        };
        Some(Subject { key, zone })
    }

    fn candidates(
        &mut self,
        c: Option<&ast::Candidates>,
        ctx: &RecordTy,
        select: Option<ast::SelectKind>,
    ) -> Option<CandidateSpec> {
        let Some(c) = c else {
            // A gate (or a router) has one implicit candidate.
            let attrs = Arc::new(RecordTy {
                fields: vec![FieldTy {
                    name: "id".into(),
                    ty: Ty::String,
                    optional: false,
                    default: None,
                }],
            });
            let id: Arc<[Value]> =
                Arc::from(vec![Value::Str(Arc::from(self.p.name.name.as_str()))]);
            let _ = select;
            return Some(CandidateSpec {
                attrs,
                fixed: vec![id],
                from: None,
                implicit: true,
            });
        };
        let mut attrs: Vec<FieldTy> = vec![FieldTy {
            name: "id".into(),
            ty: Ty::String,
            optional: false,
            default: None,
        }];
        let mut from = None;
        let mut ok = true;
        if let Some(path) = &c.from {
            let (idx, ty) = self.context_path(ctx, path, "candidate list")?;
            let rec = match &ty {
                Ty::List(inner) => match inner.as_ref() {
                    Ty::Record(r) => Some(r.clone()),
                    _ => None,
                },
                _ => None,
            };
            let Some(rec) = rec else {
                let problem = Problem::CandidatesFromNotList {
                    path: path.dotted(),
                    ty: ty.to_string(),
                };
                self.diags.push(problem.at(&[path.span]));
                return None;
            };
            if rec.field("id").map(|f| &f.ty) != Some(&Ty::String) {
                let problem = Problem::CandidatesFromWithoutId {
                    path: path.dotted(),
                };
                self.diags.push(problem.at(&[path.span]));
                return None;
            }
            let mut map = vec![];
            for f in &rec.fields {
                if f.name == "id" {
                    map.insert(0, rec.index("id").unwrap_or(0) as u16);
                    continue;
                }
                attrs.push(f.clone());
                map.push(rec.index(&f.name).unwrap_or(0) as u16);
            }
            from = Some((idx, map));
        }
        let mut fixed = vec![];
        let mut ids: HashMap<&str, Span> = HashMap::new();
        let declared_shape = from.is_none();
        for (n, cand) in c.list.iter().enumerate() {
            if let Some(first) = ids.get(cand.id.name.as_str()) {
                let first = *first;
                self.dup("candidate", &cand.id.name, cand.id.span, first);
                ok = false;
                continue;
            }
            ids.insert(&cand.id.name, cand.id.span);
            if n == 0 && declared_shape {
                for (name, l) in &cand.attrs {
                    if name.name == "id" {
                        continue;
                    }
                    // An attribute that is an int in one candidate and a float in another is a
                    // float (`w: 1` beside `w: 0.5`), as ints meet floats in expressions.
                    let promoted =
                        c.list.iter().flat_map(|o| &o.attrs).any(|(other, ol)| {
                            other.name == name.name && literal_ty(ol) == Ty::Float
                        });
                    let ty = match literal_ty(l) {
                        Ty::Int if promoted => Ty::Float,
                        ty => ty,
                    };
                    attrs.push(FieldTy {
                        name: name.name.clone(),
                        ty,
                        optional: false,
                        default: None,
                    });
                }
            }
            let mut row: Vec<Value> = vec![Value::Str(Arc::from(cand.id.name.as_str()))];
            row.resize(attrs.len(), Value::Null);
            let mut seen = vec![false; attrs.len()];
            // A misspelled attribute is one mistake: the attribute it stands for is not
            // reported missing as well.
            let mut misspelled = vec![false; attrs.len()];
            for (name, l) in &cand.attrs {
                let Some(i) = attrs.iter().position(|a| a.name == name.name) else {
                    let absent = attrs
                        .iter()
                        .skip(1)
                        .filter(|a| !cand.attrs.iter().any(|(n, _)| n.name == a.name));
                    let meant = did_you_mean(&name.name, absent.map(|a| a.name.as_str()));
                    if let Some(j) = meant
                        .as_ref()
                        .and_then(|m| attrs.iter().position(|a| &a.name == m))
                    {
                        misspelled[j] = true;
                    }
                    let problem = Problem::UnsharedAttribute {
                        candidate: cand.id.name.clone(),
                        attr: name.name.clone(),
                        suggestion: meant,
                    };
                    self.diags.push(problem.at(&[name.span]));
                    ok = false;
                    continue;
                };
                seen[i] = true;
                match literal_value(l, &attrs[i].ty) {
                    Ok(v) => row[i] = v,
                    Err(_) => {
                        let problem = Problem::AttributeType {
                            attr: name.name.clone(),
                            ty: attrs[i].ty.to_string(),
                        };
                        self.diags.push(problem.at(&[l.span]));
                        ok = false;
                    }
                }
            }
            for (i, s) in seen.iter().enumerate().skip(1) {
                if !s && !misspelled[i] {
                    if attrs[i].optional {
                        row[i] = attrs[i]
                            .default
                            .clone()
                            .unwrap_or_else(|| Value::zero(&attrs[i].ty));
                    } else {
                        let problem = Problem::MissingAttribute {
                            candidate: cand.id.name.clone(),
                            attr: attrs[i].name.clone(),
                        };
                        self.diags.push(problem.at(&[cand.id.span]));
                        ok = false;
                    }
                }
            }
            fixed.push(Arc::from(row));
        }
        if c.list.is_empty() && c.from.is_none() {
            self.diags.push(Problem::NoCandidates.at(&[c.span]));
            ok = false;
        }
        self.candidates_failed |= !ok;
        Some(CandidateSpec {
            attrs: Arc::new(RecordTy { fields: attrs }),
            fixed,
            from,
            implicit: false,
        })
    }

    fn model(
        &mut self,
        m: &ast::Model,
        env: &Env,
        uses: &mut BTreeSet<String>,
        lvl: Level,
    ) -> Option<Node> {
        let name = &m.name.name;
        let Some(file) = &m.file else {
            let problem = Problem::ModelWithoutFile { name: name.clone() };
            self.diags.push(problem.at(&[m.name.span]));
            return None;
        };
        if m.per.is_none() {
            let problem = Problem::ModelWithoutPer { name: name.clone() };
            self.diags.push(problem.at(&[m.name.span]));
            return None;
        }
        let mut inputs = vec![];
        let mut ok = true;
        for e in &m.inputs {
            match expr::check(e, env, uses, self.diags) {
                Some(t) if t.ty.is_numeric() || t.ty == Ty::Bool => {
                    if lvl == Level::Request && t.level == Level::Candidate {
                        self.diags
                            .push(Problem::ModelInputPerCandidate.at(&[e.span]));
                        ok = false;
                    }
                    inputs.push(t.ex);
                }
                Some(t) => {
                    let problem = Problem::ModelInputType {
                        ty: t.ty.to_string(),
                    };
                    self.diags.push(problem.at(&[e.span]));
                    ok = false;
                }
                None => ok = false,
            }
        }
        let info = match self.catalog.info(&file.value) {
            Ok(i) => i,
            Err(why) => {
                let problem = Problem::ModelUnloadable {
                    file: file.value.clone(),
                    why: why.to_string(),
                };
                self.diags.push(problem.at(&[file.span]));
                return None;
            }
        };
        let span = m.inputs_span.unwrap_or(m.span);
        if let Some(w) = info.input_width
            && w != m.inputs.len()
        {
            let problem = Problem::ModelInputWidth {
                file: file.value.clone(),
                expected: w,
                written: m.inputs.len(),
                features: info.feature_names.clone(),
            };
            self.diags.push(problem.at(&[span]));
            ok = false;
        }
        if let Some(names) = &info.feature_names
            && names.len() == m.inputs.len()
        {
            let written: Vec<Option<String>> = m.inputs.iter().map(feature_name).collect();
            let mismatched: Vec<usize> = (0..names.len())
                .filter(|&i| {
                    written[i]
                        .as_ref()
                        .is_some_and(|w| !feature_matches(w, &names[i]))
                })
                .collect();
            if !mismatched.is_empty() {
                let in_model: BTreeSet<&str> = names.iter().map(String::as_str).collect();
                let all_known = mismatched.iter().all(|&i| {
                    written[i].as_ref().is_some_and(|w| {
                        names.iter().any(|n| feature_matches(w, n)) || in_model.contains(w.as_str())
                    })
                });
                let shown = mismatched.iter().take(4);
                let problem = Problem::ModelFeatureMismatch {
                    name: name.clone(),
                    order_only: all_known,
                    mismatches: shown
                        .clone()
                        .map(|&i| {
                            let w = written[i].as_deref().unwrap_or("?");
                            (i, w.to_string(), names[i].clone())
                        })
                        .collect(),
                    features: names.clone(),
                };
                let spans: Vec<Span> = shown.map(|&i| m.inputs[i].span).collect();
                self.diags.push(problem.at(&spans));
                ok = false;
            }
        }
        let (output, column) = match &m.output {
            Some(o) => (o.name.clone(), o.column),
            None => {
                let problem = Problem::ModelWithoutOutput { name: name.clone() };
                self.diags.push(problem.at(&[m.name.span]));
                return None;
            }
        };
        let Some(out) = info.outputs.iter().find(|o| o.name == output.name) else {
            let problem = Problem::UnknownModelOutput {
                file: file.value.clone(),
                output: output.name.clone(),
                outputs: info.outputs.iter().map(|o| o.name.clone()).collect(),
            };
            self.diags.push(problem.at(&[output.span]));
            return None;
        };
        let col = column.map_or(0, |c| c.0);
        if let Some(cols) = out.columns
            && col >= cols
        {
            let problem = Problem::ColumnOutOfRange {
                output: out.name.clone(),
                columns: cols,
                column: col,
            };
            self.diags
                .push(problem.at(&[column.map_or(output.span, |c| c.1)]));
            return None;
        }
        ok.then(|| Node {
            name: name.clone(),
            ty: Ty::Float,
            kind: NodeKind::Model(ModelBinding {
                file: file.value.clone(),
                inputs,
                output: output.name.clone(),
                column: col,
            }),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn selection(
        &mut self,
        select: Option<&ast::Select>,
        fallback: Option<&ast::Ident>,
        route: Option<&ast::Route>,
        score: Option<&ast::Expr>,
        cands: &Option<CandidateSpec>,
        ctx: &RecordTy,
        params: &[(String, Ty, Value)],
        nodes: &HashMap<String, NodeInfo>,
        uses: &mut BTreeSet<String>,
        failed: &HashSet<String>,
    ) -> Option<Selection> {
        let p = self.p;
        let implicit = cands.as_ref().is_none_or(|c| c.implicit);
        if let Some(r) = route {
            if let Some(s) = select {
                self.diags
                    .push(Problem::RouteAndSelect.at(&[s.span, r.span]));
                return None;
            }
            if !implicit {
                self.diags.push(Problem::RouterWithCandidates.at(&[r.span]));
                return None;
            }
            if let Some(s) = score {
                self.diags.push(Problem::RouterWithScore.at(&[s.span]));
                return None;
            }
            let mut rules = vec![];
            for rule in &r.rules {
                let env = Env {
                    ctx,
                    params,
                    nodes,
                    candidate: None,
                    role: "a route condition",
                    failed,
                };
                let t = expr::check(&rule.when, &env, uses, self.diags)?;
                if t.ty != Ty::Bool {
                    let problem = Problem::RouteConditionNotBool {
                        ty: t.ty.to_string(),
                    };
                    self.diags.push(problem.at(&[rule.when.span]));
                    return None;
                }
                if t.level == Level::Candidate {
                    self.diags
                        .push(Problem::RouteConditionPerCandidate.at(&[rule.when.span]));
                    return None;
                }
                rules.push((t.ex, rule.target.name.clone()));
            }
            if r.otherwise.is_none() {
                self.diags
                    .push(Problem::RouteWithoutOtherwise.at(&[r.span]));
                return None;
            }
            return Some(Selection::Route {
                rules,
                otherwise: r.otherwise.as_ref().map(|o| o.name.clone()),
            });
        }
        let Some(s) = select else {
            let problem = Problem::NoSelection {
                policy: p.name.name.clone(),
                gate: implicit,
            };
            self.diags.push(problem.at(&[p.name.span]));
            return None;
        };
        let fb = match fallback {
            Some(f) => {
                let known = cands.as_ref().is_some_and(|c| {
                    c.fixed.iter().any(
                        |row| matches!(row.first(), Some(Value::Str(id)) if id.as_ref() == f.name),
                    )
                });
                if implicit || !known {
                    let ids: Vec<String> = cands
                        .iter()
                        .flat_map(|c| c.fixed.iter())
                        .filter_map(|row| match row.first() {
                            Some(Value::Str(s)) => Some(s.to_string()),
                            _ => None,
                        })
                        .collect();
                    let problem = Problem::UnknownFallback {
                        name: f.name.clone(),
                        suggestion: did_you_mean(&f.name, ids.iter().map(String::as_str)),
                    };
                    self.diags.push(problem.at(&[f.span]));
                    return None;
                }
                Some(f.name.clone())
            }
            None => None,
        };
        match s.kind {
            ast::SelectKind::Gate => {
                if !implicit {
                    self.diags.push(Problem::GateWithCandidates.at(&[s.span]));
                    return None;
                }
                Some(Selection::Gate)
            }
            ast::SelectKind::Best | ast::SelectKind::Top(_) => {
                if implicit {
                    self.diags.push(Problem::NothingToSelect.at(&[s.span]));
                    return None;
                }
                if score.is_none() {
                    self.diags.push(Problem::RankingWithoutScore.at(&[s.span]));
                    return None;
                }
                match s.kind {
                    ast::SelectKind::Top(0) => {
                        self.diags.push(Problem::SelectTopZero.at(&[s.span]));
                        None
                    }
                    ast::SelectKind::Top(k) => Some(Selection::Top { k, fallback: fb }),
                    _ => Some(Selection::Best { fallback: fb }),
                }
            }
        }
    }
}

/// The names every expression of a policy reads.
fn names_read(p: &ast::Policy) -> BTreeSet<String> {
    struct Names(BTreeSet<String>);
    impl crate::syntax::visit::Visitor for Names {
        fn visit_expr(&mut self, e: &ast::Expr) {
            self.0.extend(e.names());
        }
    }
    let mut names = Names(BTreeSet::new());
    crate::syntax::visit::Visitor::visit_policy(&mut names, p);
    names.0
}

fn expr_to_float(t: expr::Typed) -> expr::Typed {
    expr::Typed {
        ex: crate::ir::Ex::Un(crate::ir::UnOp::ToFloat, Box::new(t.ex)),
        ty: Ty::Float,
        level: t.level,
    }
}

/// The feature name an input expression spells, when it is a plain path: `user.dau_7` → `dau_7`.
fn feature_name(e: &ast::Expr) -> Option<String> {
    let tree = e.tree.as_ref().ok()?;
    tree.path().map(|p| p.join("."))
}

/// `local.hour` matches `local_hour` and `hour`; `candidate.topic_id` matches `topic_id`.
fn feature_matches(written: &str, feature: &str) -> bool {
    let last = written.rsplit('.').next().unwrap_or(written);
    last == feature
        || written.replace('.', "_") == feature
        || written.ends_with(&format!(".{feature}"))
}

trait SpanExt {
    fn union(self, other: Span) -> Span;
}
impl SpanExt for Span {
    fn union(self, other: Span) -> Span {
        Span {
            source: self.source,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}
