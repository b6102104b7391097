//! CEL → typed [`Ex`]. Takes the tree `syntax` parsed once ([`crate::syntax::cel`]), resolves
//! every name and types every node. CEL as shipped does not promote ints to floats (`1 + 1.5` fails at run time); this
//! language defines promotion instead: where an int meets a float, the int becomes a float.
//!
//! The interpreter of the `cel` crate is not used to evaluate: it resolves variables by name at
//! run time, has no static types and can fail on any request. The typed IR is total and reads
//! slots, which is what lets `check` promise a schema-valid request never fails.

use super::Level;
use super::Problem;
use super::expr_problem::ExprProblem;
use crate::diagnostics::{Diagnostic, did_you_mean};
use crate::ir::*;
use crate::source::Span;
use crate::syntax::ast;
use crate::syntax::cel::{self, Kind, Literal, Node};
use crate::types::{RecordTy, Ty, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// A named value visible to expressions: a `let`, a model output or `score`.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub level: Level,
    pub index: u16,
    pub ty: Ty,
}

/// What an expression can see.
pub struct Env<'a> {
    pub ctx: &'a RecordTy,
    pub params: &'a [(String, Ty, Value)],
    pub nodes: &'a HashMap<String, NodeInfo>,
    /// Candidate attributes (`id` first), when the expression runs per candidate.
    pub candidate: Option<&'a RecordTy>,
    /// What the expression is, for messages: "a route condition", "a model input".
    pub role: &'a str,
    /// Names whose own definition failed to check: references to them stay silent.
    pub failed: &'a HashSet<String>,
}

pub struct Typed {
    pub ex: Ex,
    pub ty: Ty,
    pub level: Level,
}

/// Types one expression, from the tree `syntax` parsed. Problems go to `diags`; `None` means it
/// did not type (a syntax error in it is reported here, P0002).
pub fn check(
    e: &ast::Expr,
    env: &Env,
    uses: &mut BTreeSet<String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Typed> {
    let tree = match &e.tree {
        Ok(tree) => tree,
        Err(err) => {
            let problem = ExprProblem::Syntax {
                message: err.message.clone(),
            };
            diags.push(problem.at(&[e.span.sub(err.offset, err.offset + 1)]));
            return None;
        }
    };
    let mut c = Checker {
        env,
        text: &e.text,
        span: e.span,
        locals: Vec::new(),
        uses,
        diags,
        max_locals: 0,
    };
    c.expr(tree)
}

struct Checker<'a, 'e> {
    env: &'a Env<'e>,
    text: &'a str,
    span: Span,
    locals: Vec<(String, Ty)>,
    uses: &'a mut BTreeSet<String>,
    diags: &'a mut Vec<Diagnostic>,
    max_locals: usize,
}

fn lit(v: Value, ty: Ty) -> Option<Typed> {
    Some(Typed {
        ex: Ex::Lit(v),
        ty,
        level: Level::Request,
    })
}

fn max_level(a: Level, b: Level) -> Level {
    if a == Level::Candidate || b == Level::Candidate {
        Level::Candidate
    } else {
        Level::Request
    }
}

fn to_float(t: Typed) -> Typed {
    match t.ty {
        Ty::Int => {
            let ex = match t.ex {
                Ex::Lit(Value::Int(i)) => Ex::Lit(Value::Float(i as f64)),
                other => Ex::Un(UnOp::ToFloat, Box::new(other)),
            };
            Typed {
                ex,
                ty: Ty::Float,
                level: t.level,
            }
        }
        _ => t,
    }
}

impl Checker<'_, '_> {
    /// Reports `problem`, its label on `span`; `None`, for the caller to return.
    fn err(&mut self, problem: ExprProblem, span: Span) -> Option<Typed> {
        self.diags.push(problem.at(&[span]));
        None
    }

    fn expr(&mut self, e: &Node) -> Option<Typed> {
        match &e.kind {
            Kind::Literal(l) => self.literal(e.span, l),
            Kind::Ident(name) => self.ident(e.span, name),
            Kind::Select(s) => self.select(e, s),
            Kind::Call(c) => self.call(e, c),
            Kind::List(l) => {
                let mut items = Vec::new();
                let mut elem = Ty::Unknown;
                let mut level = Level::Request;
                for x in l {
                    let t = self.expr(x)?;
                    level = max_level(level, t.level);
                    elem = match (&elem, &t.ty) {
                        (Ty::Unknown, ty) => ty.clone(),
                        (Ty::Float, Ty::Int) | (Ty::Int, Ty::Float) => Ty::Float,
                        (a, b) if a == b => a.clone(),
                        (a, b) => {
                            let problem = ExprProblem::ListElements {
                                first: a.clone(),
                                element: b.clone(),
                            };
                            return self.err(problem, x.span);
                        }
                    };
                    items.push(t);
                }
                let items = items
                    .into_iter()
                    .map(|t| {
                        if elem == Ty::Float {
                            to_float(t).ex
                        } else {
                            t.ex
                        }
                    })
                    .collect();
                Some(Typed {
                    ex: Ex::List(items),
                    ty: Ty::List(Box::new(elem)),
                    level,
                })
            }
            Kind::Comprehension(c) => self.comprehension(c),
            Kind::Map(_) | Kind::Struct(..) => self.err(ExprProblem::MapLiteral, e.span),
            Kind::Unspecified => self.err(ExprProblem::Invalid, e.span),
        }
    }

    fn literal(&mut self, span: Span, l: &Literal) -> Option<Typed> {
        match l {
            Literal::Bool(b) => lit(Value::Bool(*b), Ty::Bool),
            Literal::Int(i) => lit(Value::Int(*i), Ty::Int),
            Literal::UInt(u) => lit(Value::Int(i64::try_from(*u).unwrap_or(i64::MAX)), Ty::Int),
            Literal::Float(d) => lit(Value::Float(*d), Ty::Float),
            Literal::Str(s) => lit(Value::Str(Arc::from(s.as_str())), Ty::String),
            Literal::Null => self.err(ExprProblem::Null, span),
            Literal::Bytes => self.err(ExprProblem::Bytes, span),
        }
    }

    fn visible_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.env.ctx.fields.iter().map(|f| f.name.clone()).collect();
        names.extend(self.env.params.iter().map(|p| p.0.clone()));
        names.extend(self.env.nodes.keys().cloned());
        names.extend(self.locals.iter().map(|l| l.0.clone()));
        names.extend([
            "now".to_string(),
            "local".to_string(),
            "context".to_string(),
        ]);
        if self.env.candidate.is_some() {
            names.push("candidate".into());
        }
        names
    }

    fn ident(&mut self, span: Span, name: &str) -> Option<Typed> {
        if let Some(i) = self.locals.iter().rposition(|l| l.0 == name) {
            let ty = self.locals[i].1.clone();
            return Some(Typed {
                ex: Ex::Var(i as u16),
                ty,
                level: Level::Request,
            });
        }
        self.uses.insert(name.to_string());
        if self.env.failed.contains(name) {
            return None;
        }
        if let Some(i) = self.env.ctx.index(name) {
            let ty = self.env.ctx.fields[i].ty.clone();
            return Some(Typed {
                ex: or_zero(Ex::Ctx(i as u16), &self.env.ctx.fields[i]),
                ty,
                level: Level::Request,
            });
        }
        if let Some((_, ty, v)) = self.env.params.iter().find(|p| p.0 == name) {
            return Some(Typed {
                ex: Ex::Lit(v.clone()),
                ty: ty.clone(),
                level: Level::Request,
            });
        }
        if let Some(n) = self.env.nodes.get(name) {
            let ex = match n.level {
                Level::Request => Ex::ReqNode(n.index),
                Level::Candidate => Ex::CandNode(n.index),
            };
            return Some(Typed {
                ex,
                ty: n.ty.clone(),
                level: n.level,
            });
        }
        match name {
            "context" => {
                return Some(Typed {
                    ex: Ex::CtxRoot,
                    ty: Ty::Record(Arc::new(self.env.ctx.clone())),
                    level: Level::Request,
                });
            }
            "now" => {
                return Some(Typed {
                    ex: Ex::Now,
                    ty: Ty::Timestamp,
                    level: Level::Request,
                });
            }
            "candidate" if self.env.candidate.is_some() => {
                return self.err(ExprProblem::BareCandidate, span);
            }
            "candidate" => {
                let role = self.env.role.to_string();
                return self.err(ExprProblem::NoCandidate { role }, span);
            }
            "local" => return self.err(ExprProblem::BareLocal, span),
            _ => {}
        }
        let suggestion = did_you_mean(name, self.visible_names().iter().map(String::as_str));
        let problem = ExprProblem::UnknownName {
            name: name.to_string(),
            suggestion,
        };
        self.err(problem, span)
    }

    fn select(&mut self, e: &Node, s: &cel::Select) -> Option<Typed> {
        // Special roots: `candidate.x`, `local.x`.
        if let Kind::Ident(root) = &s.operand.kind
            && !self.locals.iter().any(|l| &l.0 == root)
        {
            if root == "candidate"
                && let Some(cand) = self.env.candidate
            {
                self.uses.insert("candidate".into());
                return match cand.index(&s.field) {
                    Some(i) if !s.test => Some(Typed {
                        ex: Ex::Attr(i as u16),
                        ty: cand.fields[i].ty.clone(),
                        level: Level::Candidate,
                    }),
                    Some(_) => lit(Value::Bool(true), Ty::Bool),
                    None => {
                        // The same diagnostic as in `by candidate.ATTR`: defined once, there.
                        let suggestion =
                            did_you_mean(&s.field, cand.fields.iter().map(|f| f.name.as_str()));
                        let problem = Problem::UnknownScopeAttribute {
                            name: s.field.clone(),
                            suggestion,
                        };
                        self.diags.push(problem.at(&[e.span]));
                        None
                    }
                };
            }
            if root == "local" && self.env.ctx.index("local").is_none() {
                self.uses.insert("local".into());
                let f = match s.field.as_str() {
                    "hour" => LocalField::Hour,
                    "minute" => LocalField::Minute,
                    "weekday" => LocalField::Weekday,
                    "day" => LocalField::Day,
                    "month" => LocalField::Month,
                    other => {
                        let suggestion =
                            did_you_mean(other, ["hour", "minute", "weekday", "day", "month"]);
                        let problem = ExprProblem::UnknownLocalField {
                            field: other.to_string(),
                            suggestion,
                        };
                        return self.err(problem, e.span);
                    }
                };
                return Some(Typed {
                    ex: Ex::Local(f),
                    ty: Ty::Int,
                    level: Level::Request,
                });
            }
        }
        let operand = self.expr(&s.operand)?;
        let Ty::Record(rt) = &operand.ty else {
            let problem = ExprProblem::NotARecord {
                operand: self.snippet(s.operand.span),
                ty: operand.ty.clone(),
            };
            return self.err(problem, e.span);
        };
        let Some(i) = rt.index(&s.field) else {
            let problem = ExprProblem::UnknownField {
                operand: self.snippet(s.operand.span),
                field: s.field.clone(),
                suggestion: did_you_mean(&s.field, rt.fields.iter().map(|f| f.name.as_str())),
            };
            return self.err(problem, e.span);
        };
        if s.test {
            if !rt.fields[i].optional {
                // A required field is always present.
                return lit(Value::Bool(true), Ty::Bool);
            }
            return Some(Typed {
                ex: Ex::Has(Box::new(operand.ex), i as u16),
                ty: Ty::Bool,
                level: operand.level,
            });
        }
        let ty = rt.fields[i].ty.clone();
        Some(Typed {
            ex: or_zero(Ex::Field(Box::new(operand.ex), i as u16), &rt.fields[i]),
            ty,
            level: operand.level,
        })
    }

    /// The source text of a node's token.
    fn snippet(&self, span: Span) -> String {
        let start = span.start.saturating_sub(self.span.start) as usize;
        let end = span.end.saturating_sub(self.span.start) as usize;
        self.text.get(start..end).unwrap_or("").to_string()
    }

    /// The source text of a whole sub-expression (the operand of a select, say).
    fn text_of(&self, e: &Node) -> String {
        match &e.kind {
            Kind::Ident(n) => n.clone(),
            Kind::Select(s) => format!("{}.{}", self.text_of(&s.operand), s.field),
            _ => self.snippet(e.span),
        }
    }

    fn comprehension(&mut self, c: &cel::Comprehension) -> Option<Typed> {
        let range = self.expr(&c.iter_range)?;
        let Ty::List(elem) = &range.ty else {
            let problem = ExprProblem::NotIterable {
                range: self.text_of(&c.iter_range),
                ty: range.ty.clone(),
            };
            return self.err(problem, c.iter_range.span);
        };
        let init = self.expr(&c.accu_init)?;
        let base = self.locals.len();
        self.locals.push((c.iter_var.clone(), (**elem).clone()));
        self.locals.push((c.accu_var.clone(), init.ty.clone()));
        self.max_locals = self.max_locals.max(self.locals.len());
        let cond = self.expr(&c.loop_cond);
        let step = self.expr(&c.loop_step);
        // The step may refine the accumulator's type (`[]` meets `[x]` in `map`).
        if let Some(st) = &step {
            self.locals[base + 1].1 = st.ty.clone();
        }
        let result = self.expr(&c.result);
        self.locals.truncate(base);
        let (cond, step, result) = (cond?, step?, result?);
        let level = [
            range.level,
            init.level,
            cond.level,
            step.level,
            result.level,
        ]
        .into_iter()
        .fold(Level::Request, max_level);
        Some(Typed {
            ex: Ex::Comp(Box::new(Comprehension {
                range: range.ex,
                iter_var: base as u16,
                accu_var: base as u16 + 1,
                init: init.ex,
                cond: cond.ex,
                step: step.ex,
                result: result.ex,
            })),
            ty: result.ty,
            level,
        })
    }

    fn call(&mut self, e: &Node, c: &cel::Call) -> Option<Typed> {
        let name = c.func_name.as_str();
        // Namespaced functions: `math.least(a, b)` parses as a call on the target `math`.
        if let Some(t) = &c.target
            && let Kind::Ident(ns) = &t.kind
            && ns == "math"
            && self.env.ctx.index("math").is_none()
        {
            return self.math(e, name, &c.args);
        }
        // Literal-only constructors.
        if c.target.is_none() && (name == "duration" || name == "timestamp") && c.args.len() == 1 {
            return self.constructor(e, name, &c.args[0]);
        }
        let mut args = Vec::new();
        if let Some(t) = &c.target {
            args.push(self.expr(t)?);
        }
        for a in &c.args {
            args.push(self.expr(a)?);
        }
        let level = args
            .iter()
            .fold(Level::Request, |l, a| max_level(l, a.level));
        let typed = |ex: Ex, ty: Ty| Some(Typed { ex, ty, level });
        let method = c.target.is_some();
        match (name, args.len()) {
            ("_&&_" | "_||_", 2) => {
                let (a, b) = self.two(args);
                for (t, arg) in [(&a, &c.args[0]), (&b, &c.args[1])] {
                    if t.ty != Ty::Bool {
                        let op = if name == "_&&_" { "&&" } else { "||" };
                        let problem = ExprProblem::LogicNotBool {
                            op: op.to_string(),
                            ty: t.ty.clone(),
                        };
                        return self.err(problem, arg.span);
                    }
                }
                let ex = if name == "_&&_" {
                    Ex::And(Box::new(a.ex), Box::new(b.ex))
                } else {
                    Ex::Or(Box::new(a.ex), Box::new(b.ex))
                };
                typed(ex, Ty::Bool)
            }
            ("!_", 1) => {
                let a = args.remove(0);
                if a.ty != Ty::Bool {
                    return self.err(ExprProblem::NotNotBool { ty: a.ty }, e.span);
                }
                typed(Ex::Un(UnOp::Not, Box::new(a.ex)), Ty::Bool)
            }
            ("@not_strictly_false", 1) => Some(args.remove(0)),
            ("-_", 1) => {
                let a = args.remove(0);
                match a.ty {
                    Ty::Int => typed(Ex::Un(UnOp::NegI, Box::new(a.ex)), Ty::Int),
                    Ty::Float => typed(Ex::Un(UnOp::NegF, Box::new(a.ex)), Ty::Float),
                    Ty::Duration => typed(Ex::Un(UnOp::NegDur, Box::new(a.ex)), Ty::Duration),
                    ty => self.err(ExprProblem::CannotNegate { ty }, e.span),
                }
            }
            ("_?_:_", 3) => {
                let cond = args.remove(0);
                if cond.ty != Ty::Bool {
                    return self.err(
                        ExprProblem::ConditionNotBool { ty: cond.ty },
                        c.args[0].span,
                    );
                }
                let (a, b) = self.two(args);
                let (a, b, ty) = match (&a.ty, &b.ty) {
                    (Ty::Int, Ty::Float) | (Ty::Float, Ty::Int) => {
                        (to_float(a), to_float(b), Ty::Float)
                    }
                    (x, y) if x.accepts(y) => {
                        let ty = x.clone();
                        (a, b, ty)
                    }
                    (x, y) if y.accepts(x) => {
                        let ty = y.clone();
                        (a, b, ty)
                    }
                    (x, y) => {
                        let problem = ExprProblem::BranchTypes {
                            then: x.clone(),
                            otherwise: y.clone(),
                        };
                        return self.err(problem, e.span);
                    }
                };
                typed(
                    Ex::Cond(Box::new(cond.ex), Box::new(a.ex), Box::new(b.ex)),
                    ty,
                )
            }
            ("_+_" | "_-_" | "_*_" | "_/_" | "_%_", 2) => self.arith(e, name, args, c),
            ("_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_", 2) => {
                self.compare(e, name, args, c)
            }
            ("@in", 2) => {
                let (x, list) = self.two(args);
                let Ty::List(elem) = &list.ty else {
                    return self.err(ExprProblem::InNotList { ty: list.ty }, c.args[1].span);
                };
                let x = if **elem == Ty::Float { to_float(x) } else { x };
                if !elem.accepts(&x.ty) {
                    let problem = ExprProblem::InElementType {
                        ty: x.ty,
                        element: (**elem).clone(),
                    };
                    return self.err(problem, e.span);
                }
                typed(Ex::In(Box::new(x.ex), Box::new(list.ex)), Ty::Bool)
            }
            ("_[_]", 2) => self.err(ExprProblem::Indexing, e.span),
            ("size", 1) => {
                let a = args.remove(0);
                match a.ty {
                    Ty::String | Ty::List(_) => typed(Ex::Call(Func::Size, vec![a.ex]), Ty::Int),
                    ty => self.err(ExprProblem::SizeType { ty }, e.span),
                }
            }
            ("int", 1) => {
                let a = args.remove(0);
                match a.ty {
                    Ty::Int => Some(a),
                    Ty::Float => typed(Ex::Call(Func::IntOfFloat, vec![a.ex]), Ty::Int),
                    Ty::Bool => typed(Ex::Call(Func::IntOfBool, vec![a.ex]), Ty::Int),
                    ty => {
                        let func = "int".to_string();
                        self.err(ExprProblem::ConversionType { func, ty }, e.span)
                    }
                }
            }
            ("double" | "float", 1) => {
                let a = args.remove(0);
                match a.ty {
                    Ty::Float => Some(a),
                    Ty::Int => Some(to_float(a)),
                    Ty::Bool => typed(Ex::Call(Func::FloatOfBool, vec![a.ex]), Ty::Float),
                    ty => {
                        let func = "double".to_string();
                        self.err(ExprProblem::ConversionType { func, ty }, e.span)
                    }
                }
            }
            ("string", 1) => {
                let a = args.remove(0);
                typed(Ex::Call(Func::StringOf, vec![a.ex]), Ty::String)
            }
            ("contains" | "startsWith" | "endsWith", 2) if method => {
                if args.iter().any(|a| a.ty != Ty::String) {
                    let func = name.to_string();
                    return self.err(ExprProblem::StringFunction { func }, e.span);
                }
                let f = match name {
                    "contains" => Func::Contains,
                    "startsWith" => Func::StartsWith,
                    _ => Func::EndsWith,
                };
                typed(
                    Ex::Call(f, args.into_iter().map(|a| a.ex).collect()),
                    Ty::Bool,
                )
            }
            ("getHours" | "getMinutes" | "getSeconds", 1)
                if method && args[0].ty == Ty::Duration =>
            {
                let f = match name {
                    "getHours" => Func::DurHours,
                    "getMinutes" => Func::DurMinutes,
                    _ => Func::DurSeconds,
                };
                typed(Ex::Call(f, vec![args.remove(0).ex]), Ty::Int)
            }
            _ => {
                let known = [
                    "size",
                    "int",
                    "double",
                    "string",
                    "contains",
                    "startsWith",
                    "endsWith",
                    "getHours",
                    "getMinutes",
                    "getSeconds",
                    "duration",
                    "timestamp",
                ];
                let problem = ExprProblem::UnknownFunction {
                    name: name.to_string(),
                    method,
                    args: c.args.len(),
                    suggestion: did_you_mean(name, known),
                };
                self.err(problem, e.span)
            }
        }
    }

    fn two(&self, mut args: Vec<Typed>) -> (Typed, Typed) {
        let b = args.pop();
        let a = args.pop();
        match (a, b) {
            (Some(a), Some(b)) => (a, b),
            // Callers match on the argument count first.
            _ => (lit_typed(Value::Null), lit_typed(Value::Null)),
        }
    }

    fn arith(&mut self, e: &Node, name: &str, args: Vec<Typed>, c: &cel::Call) -> Option<Typed> {
        let (a, b) = self.two(args);
        let level = max_level(a.level, b.level);
        let bin = |op: BinOp, a: Typed, b: Typed, ty: Ty| {
            Some(Typed {
                ex: Ex::Bin(op, Box::new(a.ex), Box::new(b.ex)),
                ty,
                level,
            })
        };
        let sym = &name[1..name.len() - 1];
        match (sym, &a.ty, &b.ty) {
            ("+", Ty::Int, Ty::Int) => bin(BinOp::AddI, a, b, Ty::Int),
            ("-", Ty::Int, Ty::Int) => bin(BinOp::SubI, a, b, Ty::Int),
            ("*", Ty::Int, Ty::Int) => bin(BinOp::MulI, a, b, Ty::Int),
            ("%", Ty::Int, Ty::Int) => bin(BinOp::ModI, a, b, Ty::Int),
            (_, x, y) if x.is_numeric() && y.is_numeric() => {
                let op = match sym {
                    "+" => BinOp::AddF,
                    "-" => BinOp::SubF,
                    "*" => BinOp::MulF,
                    "/" => BinOp::DivF,
                    _ => BinOp::ModF,
                };
                bin(op, to_float(a), to_float(b), Ty::Float)
            }
            ("+", Ty::String, Ty::String) => bin(BinOp::Concat, a, b, Ty::String),
            ("+", Ty::List(x), Ty::List(y)) => {
                let ty = if **x == Ty::Unknown {
                    Ty::List(y.clone())
                } else {
                    Ty::List(x.clone())
                };
                if !x.accepts(y) && !y.accepts(x) {
                    let problem = ExprProblem::ListJoin {
                        left: a.ty.clone(),
                        right: b.ty.clone(),
                    };
                    return self.err(problem, e.span);
                }
                bin(BinOp::ListConcat, a, b, ty)
            }
            ("-", Ty::Timestamp, Ty::Timestamp) => bin(BinOp::TsMinusTs, a, b, Ty::Duration),
            ("+", Ty::Timestamp, Ty::Duration) => bin(BinOp::TsPlusDur, a, b, Ty::Timestamp),
            ("+", Ty::Duration, Ty::Timestamp) => bin(BinOp::TsPlusDur, b, a, Ty::Timestamp),
            ("-", Ty::Timestamp, Ty::Duration) => bin(BinOp::TsMinusDur, a, b, Ty::Timestamp),
            ("+", Ty::Duration, Ty::Duration) => bin(BinOp::DurPlusDur, a, b, Ty::Duration),
            ("-", Ty::Duration, Ty::Duration) => bin(BinOp::DurMinusDur, a, b, Ty::Duration),
            (_, x, y) => {
                let _ = c;
                let problem = ExprProblem::Arithmetic {
                    sym: sym.to_string(),
                    left: x.clone(),
                    right: y.clone(),
                };
                self.err(problem, e.span)
            }
        }
    }

    fn compare(&mut self, e: &Node, name: &str, args: Vec<Typed>, c: &cel::Call) -> Option<Typed> {
        let (a, b) = self.two(args);
        let level = max_level(a.level, b.level);
        let op = match name {
            "_==_" => CmpOp::Eq,
            "_!=_" => CmpOp::Ne,
            "_<_" => CmpOp::Lt,
            "_<=_" => CmpOp::Le,
            "_>_" => CmpOp::Gt,
            _ => CmpOp::Ge,
        };
        let ordered = !matches!(op, CmpOp::Eq | CmpOp::Ne);
        let (a, b, kind) = match (&a.ty, &b.ty) {
            (Ty::Int, Ty::Int) => (a, b, CmpKind::Int),
            (x, y) if x.is_numeric() && y.is_numeric() => {
                (to_float(a), to_float(b), CmpKind::Float)
            }
            (Ty::String, Ty::String) => (a, b, CmpKind::Str),
            (Ty::Bool, Ty::Bool) => (a, b, CmpKind::Bool),
            (Ty::Timestamp, Ty::Timestamp) => (a, b, CmpKind::Timestamp),
            (Ty::Duration, Ty::Duration) => (a, b, CmpKind::Duration),
            (x, y) if !ordered && (x.accepts(y) || y.accepts(x)) && !x.is_numeric() => {
                (a, b, CmpKind::Any)
            }
            (x, y) => {
                let problem = ExprProblem::Comparison {
                    sym: name[1..name.len() - 1].to_string(),
                    left: x.clone(),
                    right: y.clone(),
                    lhs: self.text_of(&c.args[0]),
                    rhs: self.text_of(&c.args[1]),
                };
                return self.err(problem, e.span);
            }
        };
        if ordered && matches!(kind, CmpKind::Bool | CmpKind::Any) {
            return self.err(ExprProblem::Unordered { ty: a.ty }, e.span);
        }
        Some(Typed {
            ex: Ex::Cmp(op, kind, Box::new(a.ex), Box::new(b.ex)),
            ty: Ty::Bool,
            level,
        })
    }

    fn math(&mut self, e: &Node, name: &str, raw: &[Node]) -> Option<Typed> {
        let mut args = Vec::new();
        for a in raw {
            args.push(self.expr(a)?);
        }
        let level = args
            .iter()
            .fold(Level::Request, |l, a| max_level(l, a.level));
        if let Some(bad) = args.iter().position(|a| !a.ty.is_numeric()) {
            let problem = ExprProblem::MathNotNumber {
                func: name.to_string(),
                ty: args[bad].ty.clone(),
            };
            return self.err(problem, raw[bad].span);
        }
        let all_int = args.iter().all(|a| a.ty == Ty::Int);
        let typed = |f: Func, args: Vec<Typed>, ty: Ty| {
            Some(Typed {
                ex: Ex::Call(f, args.into_iter().map(|a| a.ex).collect()),
                ty,
                level,
            })
        };
        let floats = |args: Vec<Typed>| args.into_iter().map(to_float).collect::<Vec<_>>();
        match (name, args.len()) {
            ("least" | "greatest", n) if n >= 1 => {
                let least = name == "least";
                if all_int {
                    typed(
                        if least { Func::LeastI } else { Func::GreatestI },
                        args,
                        Ty::Int,
                    )
                } else {
                    typed(
                        if least { Func::LeastF } else { Func::GreatestF },
                        floats(args),
                        Ty::Float,
                    )
                }
            }
            ("abs", 1) if all_int => typed(Func::AbsI, args, Ty::Int),
            ("abs", 1) => typed(Func::AbsF, floats(args), Ty::Float),
            ("floor" | "ceil" | "round" | "sqrt" | "exp" | "log" | "sigmoid", 1) => {
                let f = match name {
                    "floor" => Func::Floor,
                    "ceil" => Func::Ceil,
                    "round" => Func::Round,
                    "sqrt" => Func::Sqrt,
                    "exp" => Func::Exp,
                    "log" => Func::Log,
                    _ => Func::Sigmoid,
                };
                typed(f, floats(args), Ty::Float)
            }
            _ => {
                let known = [
                    "least", "greatest", "abs", "floor", "ceil", "round", "sqrt", "exp", "log",
                    "sigmoid",
                ];
                let problem = ExprProblem::UnknownMathFunction {
                    name: name.to_string(),
                    args: raw.len(),
                    suggestion: did_you_mean(name, known),
                };
                self.err(problem, e.span)
            }
        }
    }

    fn constructor(&mut self, e: &Node, name: &str, arg: &Node) -> Option<Typed> {
        let Kind::Literal(Literal::Str(s)) = &arg.kind else {
            let func = name.to_string();
            return self.err(ExprProblem::ConstructorNotLiteral { func }, e.span);
        };
        if name == "duration" {
            match crate::check::parse_duration(s.as_str()) {
                Some(d) => lit(Value::Duration(d), Ty::Duration),
                None => {
                    let text = s.as_str().to_string();
                    self.err(ExprProblem::InvalidDuration { text }, arg.span)
                }
            }
        } else {
            match s.as_str().parse::<jiff::Timestamp>() {
                Ok(t) => lit(Value::Timestamp(t), Ty::Timestamp),
                Err(_) => {
                    let text = s.as_str().to_string();
                    self.err(ExprProblem::InvalidTimestamp { text }, arg.span)
                }
            }
        }
    }
}

fn lit_typed(v: Value) -> Typed {
    Typed {
        ex: Ex::Lit(v),
        ty: Ty::Unknown,
        level: Level::Request,
    }
}

/// Reads of an optional field without a default fall back to the zero of its type.
fn or_zero(ex: Ex, field: &crate::types::FieldTy) -> Ex {
    if field.optional && field.default.is_none() {
        Ex::OrZero(Box::new(ex), Value::zero(&field.ty))
    } else {
        ex
    }
}
