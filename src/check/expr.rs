//! CEL → typed [`Ex`]. Parses with the `cel` crate, then resolves every name and types every
//! node. CEL as shipped does not promote ints to floats (`1 + 1.5` fails at run time); this
//! language defines promotion instead: where an int meets a float, the int becomes a float.
//!
//! The interpreter of the `cel` crate is not used to evaluate: it resolves variables by name at
//! run time, has no static types and can fail on any request. The typed IR is total and reads
//! slots, which is what lets `check` promise a schema-valid request never fails.

use super::Level;
use crate::diagnostics::{Code, Diagnostic, a_code, count, did_you_mean};
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
            diags.push(
                Diagnostic::new(
                    Code::ExprSyntax,
                    format!("invalid expression: {}", err.message),
                )
                .label(e.span.sub(err.offset, err.offset + 1), "here"),
            );
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
    fn err(
        &mut self,
        code: Code,
        span: Span,
        msg: String,
        label: &str,
        help: Option<String>,
    ) -> Option<Typed> {
        let mut d = Diagnostic::new(code, msg).label(span, label);
        if let Some(h) = help {
            d = d.help(h);
        }
        self.diags.push(d);
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
                            let msg =
                                format!("list elements must share one type, found `{a}` and `{b}`");
                            return self.err(Code::TypeMismatch, x.span, msg, "this element", None);
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
            Kind::Map(_) | Kind::Struct(..) => self.err(
                Code::UnknownFunction,
                e.span,
                "map and message literals are not supported".into(),
                "here",
                Some("use a context record or candidate attributes instead".into()),
            ),
            Kind::Unspecified => self.err(
                Code::ExprSyntax,
                e.span,
                "invalid expression".into(),
                "here",
                None,
            ),
        }
    }

    fn literal(&mut self, span: Span, l: &Literal) -> Option<Typed> {
        match l {
            Literal::Bool(b) => lit(Value::Bool(*b), Ty::Bool),
            Literal::Int(i) => lit(Value::Int(*i), Ty::Int),
            Literal::UInt(u) => lit(Value::Int(i64::try_from(*u).unwrap_or(i64::MAX)), Ty::Int),
            Literal::Float(d) => lit(Value::Float(*d), Ty::Float),
            Literal::Str(s) => lit(Value::Str(Arc::from(s.as_str())), Ty::String),
            Literal::Null => self.err(
                Code::TypeMismatch,
                span,
                "`null` is not a value in policies".into(),
                "here",
                Some("test an optional field with `has(x.field)`".into()),
            ),
            Literal::Bytes => self.err(
                Code::TypeMismatch,
                span,
                "bytes literals are not supported".into(),
                "here",
                None,
            ),
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
                let msg = "`candidate` must be followed by an attribute, such as `candidate.id`"
                    .to_string();
                return self.err(Code::WrongKind, span, msg, "here", None);
            }
            "candidate" => {
                let msg = format!("`candidate` is not available in {}", self.env.role);
                return self.err(Code::UnknownName, span, msg, "no candidate here", Some("only per-candidate values, scores, guards and per-candidate model inputs can use `candidate`".into()));
            }
            "local" => {
                let msg = "`local` must be followed by a field: `local.hour`, `local.minute`, `local.weekday`, `local.day` or `local.month`".to_string();
                return self.err(Code::WrongKind, span, msg, "here", None);
            }
            _ => {}
        }
        let help = did_you_mean(name, self.visible_names().iter().map(String::as_str))
            .map(|s| format!("did you mean `{s}`?"));
        self.err(
            Code::UnknownName,
            span,
            format!("unknown name `{name}`"),
            "not declared",
            help,
        )
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
                        let help =
                            did_you_mean(&s.field, cand.fields.iter().map(|f| f.name.as_str()))
                                .map(|x| format!("did you mean `candidate.{x}`?"));
                        self.err(
                            Code::UnknownName,
                            e.span,
                            format!("candidates have no attribute `{}`", s.field),
                            "unknown attribute",
                            help,
                        )
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
                        let help =
                            did_you_mean(other, ["hour", "minute", "weekday", "day", "month"])
                                .map(|x| format!("did you mean `local.{x}`?"));
                        return self.err(
                            Code::UnknownName,
                            e.span,
                            format!("`local` has no field `{other}`"),
                            "unknown field",
                            help,
                        );
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
            let msg = format!(
                "`{}` is {}, which has no fields",
                self.snippet(s.operand.span),
                a_code(&operand.ty)
            );
            return self.err(Code::TypeMismatch, e.span, msg, "no field here", None);
        };
        let Some(i) = rt.index(&s.field) else {
            let help = did_you_mean(&s.field, rt.fields.iter().map(|f| f.name.as_str()))
                .map(|x| format!("did you mean `{}.{x}`?", self.snippet(s.operand.span)));
            let msg = format!(
                "`{}` has no field `{}`",
                self.snippet(s.operand.span),
                s.field
            );
            return self.err(Code::UnknownName, e.span, msg, "unknown field", help);
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
            let msg = format!(
                "`{}` is {}; only lists can be iterated",
                self.text_of(&c.iter_range),
                a_code(&range.ty)
            );
            return self.err(
                Code::TypeMismatch,
                c.iter_range.span,
                msg,
                "not a list",
                None,
            );
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
                        return self.err(
                            Code::TypeMismatch,
                            arg.span,
                            format!("`{op}` needs bools, found `{}`", t.ty),
                            "not a bool",
                            None,
                        );
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
                    return self.err(
                        Code::TypeMismatch,
                        e.span,
                        format!("`!` needs a bool, found `{}`", a.ty),
                        "not a bool",
                        None,
                    );
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
                    ref t => self.err(
                        Code::TypeMismatch,
                        e.span,
                        format!("cannot negate {}", a_code(t)),
                        "here",
                        None,
                    ),
                }
            }
            ("_?_:_", 3) => {
                let cond = args.remove(0);
                if cond.ty != Ty::Bool {
                    return self.err(
                        Code::TypeMismatch,
                        c.args[0].span,
                        format!("a condition must be a bool, found `{}`", cond.ty),
                        "not a bool",
                        None,
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
                        let msg = format!(
                            "both branches of `?:` must have one type, found `{x}` and `{y}`"
                        );
                        return self.err(Code::TypeMismatch, e.span, msg, "here", None);
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
                    return self.err(
                        Code::TypeMismatch,
                        c.args[1].span,
                        format!("`in` needs a list on its right, found `{}`", list.ty),
                        "not a list",
                        None,
                    );
                };
                let x = if **elem == Ty::Float { to_float(x) } else { x };
                if !elem.accepts(&x.ty) {
                    let msg = format!("cannot look for {} in a `list<{elem}>`", a_code(&x.ty));
                    return self.err(Code::TypeMismatch, e.span, msg, "here", None);
                }
                typed(Ex::In(Box::new(x.ex), Box::new(list.ex)), Ty::Bool)
            }
            ("_[_]", 2) => self.err(
                Code::UnknownFunction,
                e.span,
                "indexing with `[]` is not supported".into(),
                "here",
                Some(
                    "indexing can fail at run time; use `exists`, `all`, `in` or a record field"
                        .into(),
                ),
            ),
            ("size", 1) => {
                let a = args.remove(0);
                match a.ty {
                    Ty::String | Ty::List(_) => typed(Ex::Call(Func::Size, vec![a.ex]), Ty::Int),
                    ref t => self.err(
                        Code::TypeMismatch,
                        e.span,
                        format!("`size` needs a string or a list, found `{t}`"),
                        "here",
                        None,
                    ),
                }
            }
            ("int", 1) => {
                let a = args.remove(0);
                match a.ty {
                    Ty::Int => Some(a),
                    Ty::Float => typed(Ex::Call(Func::IntOfFloat, vec![a.ex]), Ty::Int),
                    Ty::Bool => typed(Ex::Call(Func::IntOfBool, vec![a.ex]), Ty::Int),
                    ref t => self.err(
                        Code::TypeMismatch,
                        e.span,
                        format!("`int` takes a number or a bool, found `{t}`"),
                        "here",
                        None,
                    ),
                }
            }
            ("double" | "float", 1) => {
                let a = args.remove(0);
                match a.ty {
                    Ty::Float => Some(a),
                    Ty::Int => Some(to_float(a)),
                    Ty::Bool => typed(Ex::Call(Func::FloatOfBool, vec![a.ex]), Ty::Float),
                    ref t => self.err(
                        Code::TypeMismatch,
                        e.span,
                        format!("`double` takes a number or a bool, found `{t}`"),
                        "here",
                        None,
                    ),
                }
            }
            ("string", 1) => {
                let a = args.remove(0);
                typed(Ex::Call(Func::StringOf, vec![a.ex]), Ty::String)
            }
            ("contains" | "startsWith" | "endsWith", 2) if method => {
                if args.iter().any(|a| a.ty != Ty::String) {
                    return self.err(
                        Code::TypeMismatch,
                        e.span,
                        format!("`{name}` works on strings"),
                        "here",
                        None,
                    );
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
                let shown = if method {
                    format!(".{name}()")
                } else {
                    format!("{name}()")
                };
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
                let help = did_you_mean(name, known)
                    .map(|s| format!("did you mean `{s}`?"))
                    .or_else(|| Some("see the list of functions in docs/language.md; math functions are `math.least`, `math.greatest`, `math.abs`, `math.sqrt`, `math.exp`, `math.log`, `math.sigmoid`".into()));
                self.err(
                    Code::UnknownFunction,
                    e.span,
                    format!(
                        "unknown function `{shown}` with {}",
                        count(c.args.len(), "argument", "arguments")
                    ),
                    "here",
                    help,
                )
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
                    return self.err(
                        Code::TypeMismatch,
                        e.span,
                        format!("cannot join {} and {}", a_code(&a.ty), a_code(&b.ty)),
                        "here",
                        None,
                    );
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
                let msg = format!("`{sym}` cannot combine `{x}` and `{y}`");
                let help = if (x.is_numeric() && *y == Ty::Bool)
                    || (*x == Ty::Bool && y.is_numeric())
                {
                    Some("convert the bool with `double(...)` or `int(...)`".to_string())
                } else if (*x == Ty::String) != (*y == Ty::String) {
                    Some(
                        "strings only combine with strings; convert with `string(...)`".to_string(),
                    )
                } else {
                    None
                };
                let _ = c;
                self.err(
                    Code::TypeMismatch,
                    e.span,
                    msg,
                    &format!("`{x}` {sym} `{y}`"),
                    help,
                )
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
                let sym = &name[1..name.len() - 1];
                let msg = format!("cannot compare `{x}` with `{y}` using `{sym}`");
                let (lhs, rhs) = (self.text_of(&c.args[0]), self.text_of(&c.args[1]));
                let help = match (x, y) {
                    (Ty::String, t) if t.is_numeric() => Some(format!(
                        "`{lhs}` is a string: compare it with a string, such as `{lhs} == \"...\"`"
                    )),
                    (t, Ty::String) if t.is_numeric() => Some(format!(
                        "`{rhs}` is a string: compare it with a string, or compare `{lhs}` with a number"
                    )),
                    (Ty::Bool, _) | (_, Ty::Bool) => {
                        Some("compare bools with bools, or convert with `int(...)`".into())
                    }
                    _ => None,
                };
                return self.err(
                    Code::TypeMismatch,
                    e.span,
                    msg,
                    &format!("`{x}` {sym} `{y}`"),
                    help,
                );
            }
        };
        if ordered && matches!(kind, CmpKind::Bool | CmpKind::Any) {
            return self.err(
                Code::TypeMismatch,
                e.span,
                format!("`{}` values have no order", a.ty),
                "here",
                None,
            );
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
            let msg = format!("`math.{name}` takes numbers, found `{}`", args[bad].ty);
            return self.err(Code::TypeMismatch, raw[bad].span, msg, "not a number", None);
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
                let help = did_you_mean(name, known).map(|s| format!("did you mean `math.{s}`?"));
                self.err(
                    Code::UnknownFunction,
                    e.span,
                    format!(
                        "unknown function `math.{name}` with {}",
                        count(raw.len(), "argument", "arguments")
                    ),
                    "here",
                    help,
                )
            }
        }
    }

    fn constructor(&mut self, e: &Node, name: &str, arg: &Node) -> Option<Typed> {
        let Kind::Literal(Literal::Str(s)) = &arg.kind else {
            return self.err(
                Code::WrongKind,
                e.span,
                format!("`{name}` takes a string literal"),
                "here",
                None,
            );
        };
        if name == "duration" {
            match crate::check::parse_duration(s.as_str()) {
                Some(d) => lit(Value::Duration(d), Ty::Duration),
                None => self.err(
                    Code::InvalidDuration,
                    arg.span,
                    format!("invalid duration `{}`", s.as_str()),
                    "here",
                    Some("write a number and a unit, such as `8h`, `90m` or `1h30m`".into()),
                ),
            }
        } else {
            match s.as_str().parse::<jiff::Timestamp>() {
                Ok(t) => lit(Value::Timestamp(t), Ty::Timestamp),
                Err(_) => self.err(
                    Code::InvalidLiteral,
                    arg.span,
                    format!("invalid timestamp `{}`", s.as_str()),
                    "here",
                    Some("write an RFC 3339 time such as `2026-01-31T09:00:00Z`".into()),
                ),
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
