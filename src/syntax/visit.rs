//! The one traversal of the syntax tree: [`Visitor`] (shared references) and [`VisitMut`]
//! (mutable references), with the default walk of every node in [`walk`] and [`walk_mut`].
//!
//! A pass overrides the `visit_*` methods of the nodes it cares about and calls the matching
//! `walk` function to go on into the node's children. Children are visited in the order of the
//! node's fields, which is source order; every [`Span`] of the tree reaches `visit_span`, every
//! expression `visit_expr`, and every node of its CEL tree `visit_cel`. Both traits are generated from one definition, so they cannot drift
//! apart.

use super::ast::*;
use super::cel;
use crate::source::Span;

macro_rules! visitor {
    ($(#[$doc:meta])* $Visitor:ident, $walk:ident, $($mut:ident)?) => {
        $(#[$doc])*
        pub trait $Visitor {
            fn visit_file(&mut self, f: & $($mut)? File) { $walk::file(self, f) }
            fn visit_comment(&mut self, c: & $($mut)? Comment) { $walk::comment(self, c) }
            fn visit_policy(&mut self, p: & $($mut)? Policy) { $walk::policy(self, p) }
            fn visit_item(&mut self, i: & $($mut)? Item) { $walk::item(self, i) }
            fn visit_meta(&mut self, m: & $($mut)? Meta) { $walk::meta(self, m) }
            fn visit_record(&mut self, r: & $($mut)? Record) { $walk::record(self, r) }
            fn visit_field(&mut self, f: & $($mut)? Field) { $walk::field(self, f) }
            fn visit_type(&mut self, t: & $($mut)? TypeExpr) { $walk::type_expr(self, t) }
            fn visit_literal(&mut self, l: & $($mut)? Literal) { $walk::literal(self, l) }
            fn visit_subject(&mut self, s: & $($mut)? Subject) { $walk::subject(self, s) }
            fn visit_param(&mut self, p: & $($mut)? Param) { $walk::param(self, p) }
            fn visit_candidates(&mut self, c: & $($mut)? Candidates) { $walk::candidates(self, c) }
            fn visit_candidate(&mut self, c: & $($mut)? Candidate) { $walk::candidate(self, c) }
            fn visit_model(&mut self, m: & $($mut)? Model) { $walk::model(self, m) }
            fn visit_let(&mut self, l: & $($mut)? Let) { $walk::let_item(self, l) }
            fn visit_guard(&mut self, g: & $($mut)? Guard) { $walk::guard(self, g) }
            fn visit_select(&mut self, s: & $($mut)? Select) { $walk::select(self, s) }
            fn visit_route(&mut self, r: & $($mut)? Route) { $walk::route(self, r) }
            fn visit_route_rule(&mut self, r: & $($mut)? RouteRule) { $walk::route_rule(self, r) }
            /// A CEL expression: its span, then its tree's nodes.
            fn visit_expr(&mut self, e: & $($mut)? Expr) { $walk::expr(self, e) }
            /// One node of an expression's tree.
            fn visit_cel(&mut self, n: & $($mut)? cel::Node) { $walk::cel(self, n) }
            fn visit_ident(&mut self, i: & $($mut)? Ident) { $walk::ident(self, i) }
            fn visit_str(&mut self, s: & $($mut)? Str) { $walk::string(self, s) }
            fn visit_path(&mut self, p: & $($mut)? Path) { $walk::path(self, p) }
            /// Every span of the tree, last.
            fn visit_span(&mut self, _span: & $($mut)? Span) {}
        }

        /// The default traversal of each node: its children, in field order.
        pub mod $walk {
            use super::*;

            pub fn file<V: $Visitor + ?Sized>(v: &mut V, f: & $($mut)? File) {
                for p in & $($mut)? f.policies {
                    v.visit_policy(p);
                }
                for c in & $($mut)? f.comments {
                    v.visit_comment(c);
                }
            }

            pub fn comment<V: $Visitor + ?Sized>(v: &mut V, c: & $($mut)? Comment) {
                v.visit_span(& $($mut)? c.span);
            }

            pub fn policy<V: $Visitor + ?Sized>(v: &mut V, p: & $($mut)? Policy) {
                v.visit_ident(& $($mut)? p.name);
                for i in & $($mut)? p.items {
                    v.visit_item(i);
                }
                v.visit_span(& $($mut)? p.span);
            }

            pub fn item<V: $Visitor + ?Sized>(v: &mut V, i: & $($mut)? Item) {
                match i {
                    Item::Meta(m) => v.visit_meta(m),
                    Item::Context(r) => v.visit_record(r),
                    Item::Subject(s) => v.visit_subject(s),
                    Item::Param(p) => v.visit_param(p),
                    Item::Candidates(c) => v.visit_candidates(c),
                    Item::Model(m) => v.visit_model(m),
                    Item::Let(l) => v.visit_let(l),
                    Item::Score(e) => v.visit_expr(e),
                    Item::Guard(g) => v.visit_guard(g),
                    Item::Select(s) => v.visit_select(s),
                    Item::Fallback(f) => v.visit_ident(f),
                    Item::Route(r) => v.visit_route(r),
                }
            }

            pub fn meta<V: $Visitor + ?Sized>(v: &mut V, m: & $($mut)? Meta) {
                v.visit_ident(& $($mut)? m.key);
                v.visit_str(& $($mut)? m.value);
                v.visit_span(& $($mut)? m.span);
            }

            pub fn record<V: $Visitor + ?Sized>(v: &mut V, r: & $($mut)? Record) {
                for f in & $($mut)? r.fields {
                    v.visit_field(f);
                }
                v.visit_span(& $($mut)? r.span);
            }

            pub fn field<V: $Visitor + ?Sized>(v: &mut V, f: & $($mut)? Field) {
                v.visit_ident(& $($mut)? f.name);
                v.visit_type(& $($mut)? f.ty);
                if let Some(d) = & $($mut)? f.default {
                    v.visit_literal(d);
                }
                v.visit_span(& $($mut)? f.span);
            }

            pub fn type_expr<V: $Visitor + ?Sized>(v: &mut V, t: & $($mut)? TypeExpr) {
                match & $($mut)? t.kind {
                    TypeKind::Scalar(_) => {}
                    TypeKind::List(inner) => v.visit_type(inner),
                    TypeKind::Record(r) => v.visit_record(r),
                }
                v.visit_span(& $($mut)? t.span);
            }

            pub fn literal<V: $Visitor + ?Sized>(v: &mut V, l: & $($mut)? Literal) {
                if let LiteralKind::List(items) = & $($mut)? l.kind {
                    for i in items {
                        v.visit_literal(i);
                    }
                }
                v.visit_span(& $($mut)? l.span);
            }

            pub fn subject<V: $Visitor + ?Sized>(v: &mut V, s: & $($mut)? Subject) {
                v.visit_path(& $($mut)? s.key);
                match & $($mut)? s.zone {
                    Some(Zone::Literal(z)) => v.visit_str(z),
                    Some(Zone::Field(z)) => v.visit_path(z),
                    None => {}
                }
                v.visit_span(& $($mut)? s.span);
            }

            pub fn param<V: $Visitor + ?Sized>(v: &mut V, p: & $($mut)? Param) {
                v.visit_ident(& $($mut)? p.name);
                v.visit_span(& $($mut)? p.ty.1);
                v.visit_literal(& $($mut)? p.value);
                if let Some((lo, hi)) = & $($mut)? p.range {
                    v.visit_literal(lo);
                    v.visit_literal(hi);
                }
                v.visit_span(& $($mut)? p.span);
            }

            pub fn candidates<V: $Visitor + ?Sized>(v: &mut V, c: & $($mut)? Candidates) {
                if let Some(from) = & $($mut)? c.from {
                    v.visit_path(from);
                }
                for cand in & $($mut)? c.list {
                    v.visit_candidate(cand);
                }
                v.visit_span(& $($mut)? c.span);
            }

            pub fn candidate<V: $Visitor + ?Sized>(v: &mut V, c: & $($mut)? Candidate) {
                v.visit_ident(& $($mut)? c.id);
                for (name, value) in & $($mut)? c.attrs {
                    v.visit_ident(name);
                    v.visit_literal(value);
                }
                v.visit_span(& $($mut)? c.span);
            }

            pub fn model<V: $Visitor + ?Sized>(v: &mut V, m: & $($mut)? Model) {
                v.visit_ident(& $($mut)? m.name);
                if let Some(f) = & $($mut)? m.file {
                    v.visit_str(f);
                }
                if let Some((_, s)) = & $($mut)? m.per {
                    v.visit_span(s);
                }
                for e in & $($mut)? m.inputs {
                    v.visit_expr(e);
                }
                if let Some(s) = & $($mut)? m.inputs_span {
                    v.visit_span(s);
                }
                if let Some(o) = & $($mut)? m.output {
                    v.visit_ident(& $($mut)? o.name);
                    if let Some((_, s)) = & $($mut)? o.column {
                        v.visit_span(s);
                    }
                    v.visit_span(& $($mut)? o.span);
                }
                v.visit_span(& $($mut)? m.span);
            }

            pub fn let_item<V: $Visitor + ?Sized>(v: &mut V, l: & $($mut)? Let) {
                v.visit_ident(& $($mut)? l.name);
                v.visit_expr(& $($mut)? l.value);
                v.visit_span(& $($mut)? l.span);
            }

            pub fn guard<V: $Visitor + ?Sized>(v: &mut V, g: & $($mut)? Guard) {
                v.visit_ident(& $($mut)? g.name);
                match & $($mut)? g.kind {
                    GuardKind::Cap { limit, window, scope: sc } => {
                        v.visit_span(& $($mut)? limit.1);
                        match window {
                            Window::Day(s) => v.visit_span(s),
                            Window::Rolling(d) => v.visit_str(d),
                        }
                        scope(v, sc);
                    }
                    GuardKind::Gap { duration, scope: sc } => {
                        v.visit_str(duration);
                        scope(v, sc);
                    }
                    GuardKind::Quiet { start, end } => {
                        v.visit_str(start);
                        v.visit_str(end);
                    }
                    GuardKind::Require(e) => v.visit_expr(e),
                }
                v.visit_span(& $($mut)? g.span);
            }

            pub fn scope<V: $Visitor + ?Sized>(v: &mut V, s: & $($mut)? Scope) {
                match s {
                    Scope::All => {}
                    Scope::Candidate(s) => v.visit_span(s),
                    Scope::Attr(a) => v.visit_ident(a),
                }
            }

            pub fn select<V: $Visitor + ?Sized>(v: &mut V, s: & $($mut)? Select) {
                v.visit_span(& $($mut)? s.span);
            }

            pub fn route<V: $Visitor + ?Sized>(v: &mut V, r: & $($mut)? Route) {
                for rule in & $($mut)? r.rules {
                    v.visit_route_rule(rule);
                }
                if let Some(o) = & $($mut)? r.otherwise {
                    v.visit_ident(o);
                }
                v.visit_span(& $($mut)? r.span);
            }

            pub fn route_rule<V: $Visitor + ?Sized>(v: &mut V, r: & $($mut)? RouteRule) {
                v.visit_expr(& $($mut)? r.when);
                v.visit_ident(& $($mut)? r.target);
                v.visit_span(& $($mut)? r.span);
            }

            pub fn expr<V: $Visitor + ?Sized>(v: &mut V, e: & $($mut)? Expr) {
                v.visit_span(& $($mut)? e.span);
                if let Ok(tree) = & $($mut)? e.tree {
                    v.visit_cel(tree);
                }
            }

            /// A node, then its children in source order.
            pub fn cel<V: $Visitor + ?Sized>(v: &mut V, n: & $($mut)? cel::Node) {
                v.visit_span(& $($mut)? n.span);
                match & $($mut)? n.kind {
                    cel::Kind::Select(s) => v.visit_cel(& $($mut)? s.operand),
                    cel::Kind::Call(c) => {
                        if let Some(t) = & $($mut)? c.target {
                            v.visit_cel(t);
                        }
                        for a in & $($mut)? c.args {
                            v.visit_cel(a);
                        }
                    }
                    cel::Kind::List(items) => {
                        for a in items {
                            v.visit_cel(a);
                        }
                    }
                    cel::Kind::Comprehension(c) => {
                        v.visit_cel(& $($mut)? c.iter_range);
                        v.visit_cel(& $($mut)? c.accu_init);
                        v.visit_cel(& $($mut)? c.loop_cond);
                        v.visit_cel(& $($mut)? c.loop_step);
                        v.visit_cel(& $($mut)? c.result);
                    }
                    cel::Kind::Map(entries) => {
                        for (k, val) in entries {
                            v.visit_cel(k);
                            v.visit_cel(val);
                        }
                    }
                    cel::Kind::Struct(_, fields) => {
                        for (_, val) in fields {
                            v.visit_cel(val);
                        }
                    }
                    cel::Kind::Literal(_) | cel::Kind::Ident(_) | cel::Kind::Unspecified => {}
                }
            }

            pub fn ident<V: $Visitor + ?Sized>(v: &mut V, i: & $($mut)? Ident) {
                v.visit_span(& $($mut)? i.span);
            }

            pub fn string<V: $Visitor + ?Sized>(v: &mut V, s: & $($mut)? Str) {
                v.visit_span(& $($mut)? s.span);
            }

            pub fn path<V: $Visitor + ?Sized>(v: &mut V, p: & $($mut)? Path) {
                v.visit_span(& $($mut)? p.span);
            }
        }
    };
}

visitor!(
    /// A read-only pass over the syntax tree. Every method's default goes on into the node's
    /// children through [`walk`].
    Visitor, walk,
);

visitor!(
    /// A pass that may change the syntax tree in place. Every method's default goes on into the
    /// node's children through [`walk_mut`].
    VisitMut, walk_mut, mut
);
