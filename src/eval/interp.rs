//! The interpreter of the typed IR. Every operation is total: overflow saturates, `x % 0` is 0,
//! division is float division (so `x / 0` is ±inf or NaN, never an error).

use crate::ir::*;
use crate::types::Value;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;

/// The request's local time, in the subject's time zone.
#[derive(Debug, Clone, Copy)]
pub struct Local {
    pub hour: i64,
    pub minute: i64,
    pub weekday: i64,
    pub day: i64,
    pub month: i64,
}

pub struct Frame<'a> {
    pub ctx: &'a Arc<[Option<Value>]>,
    pub req: &'a [Value],
    pub attrs: &'a [Value],
    pub cand: &'a [Value],
    pub now: Timestamp,
    pub local: Local,
}

const NULL: Value = Value::Null;

fn f(v: &Value) -> f64 {
    match v {
        Value::Float(x) => *x,
        Value::Int(i) => *i as f64,
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}
fn i(v: &Value) -> i64 {
    match v {
        Value::Int(x) => *x,
        _ => 0,
    }
}
fn b(v: &Value) -> bool {
    matches!(v, Value::Bool(true))
}
fn s(v: &Value) -> &str {
    match v {
        Value::Str(x) => x,
        _ => "",
    }
}
fn ts(v: &Value) -> Timestamp {
    match v {
        Value::Timestamp(t) => *t,
        _ => Timestamp::UNIX_EPOCH,
    }
}
fn dur(v: &Value) -> SignedDuration {
    match v {
        Value::Duration(d) => *d,
        _ => SignedDuration::ZERO,
    }
}
fn list(v: &Value) -> &[Value] {
    match v {
        Value::List(l) => l,
        _ => &[],
    }
}

fn field(v: &Value, idx: u16) -> Value {
    match v {
        Value::Record(fields) => fields.get(idx as usize).cloned().flatten().unwrap_or(NULL),
        _ => NULL,
    }
}

pub fn eval(ex: &Ex, fr: &Frame, vars: &mut Vec<Value>) -> Value {
    match ex {
        Ex::Lit(v) => v.clone(),
        Ex::Ctx(idx) => fr.ctx.get(*idx as usize).cloned().flatten().unwrap_or(NULL),
        Ex::CtxRoot => Value::Record(fr.ctx.clone()),
        Ex::ReqNode(idx) => fr.req.get(*idx as usize).cloned().unwrap_or(NULL),
        Ex::CandNode(idx) => fr.cand.get(*idx as usize).cloned().unwrap_or(NULL),
        Ex::Attr(idx) => fr.attrs.get(*idx as usize).cloned().unwrap_or(NULL),
        Ex::Now => Value::Timestamp(fr.now),
        Ex::Local(l) => Value::Int(match l {
            LocalField::Hour => fr.local.hour,
            LocalField::Minute => fr.local.minute,
            LocalField::Weekday => fr.local.weekday,
            LocalField::Day => fr.local.day,
            LocalField::Month => fr.local.month,
        }),
        Ex::Var(idx) => vars.get(*idx as usize).cloned().unwrap_or(NULL),
        Ex::Field(e, idx) => field(&eval(e, fr, vars), *idx),
        Ex::OrZero(e, zero) => match eval(e, fr, vars) {
            Value::Null => zero.clone(),
            v => v,
        },
        Ex::Has(e, idx) => match eval(e, fr, vars) {
            Value::Record(fields) => {
                Value::Bool(matches!(fields.get(*idx as usize), Some(Some(_))))
            }
            _ => Value::Bool(false),
        },
        Ex::Un(op, e) => {
            let v = eval(e, fr, vars);
            match op {
                UnOp::Not => Value::Bool(!b(&v)),
                UnOp::NegI => Value::Int(i(&v).saturating_neg()),
                UnOp::NegF => Value::Float(-f(&v)),
                UnOp::ToFloat => Value::Float(f(&v)),
                UnOp::NegDur => Value::Duration(-dur(&v)),
            }
        }
        Ex::Bin(op, l, r) => {
            let (a, c) = (eval(l, fr, vars), eval(r, fr, vars));
            match op {
                BinOp::AddI => Value::Int(i(&a).saturating_add(i(&c))),
                BinOp::SubI => Value::Int(i(&a).saturating_sub(i(&c))),
                BinOp::MulI => Value::Int(i(&a).saturating_mul(i(&c))),
                BinOp::ModI => Value::Int(i(&a).checked_rem(i(&c)).unwrap_or(0)),
                BinOp::AddF => Value::Float(f(&a) + f(&c)),
                BinOp::SubF => Value::Float(f(&a) - f(&c)),
                BinOp::MulF => Value::Float(f(&a) * f(&c)),
                BinOp::DivF => Value::Float(f(&a) / f(&c)),
                BinOp::ModF => Value::Float(f(&a) % f(&c)),
                BinOp::Concat => Value::Str(Arc::from(format!("{}{}", s(&a), s(&c)))),
                BinOp::ListConcat => {
                    Value::List(list(&a).iter().chain(list(&c)).cloned().collect())
                }
                BinOp::TsMinusTs => Value::Duration(ts(&a).duration_since(ts(&c))),
                BinOp::TsPlusDur => Value::Timestamp(ts(&a).checked_add(dur(&c)).unwrap_or(ts(&a))),
                BinOp::TsMinusDur => {
                    Value::Timestamp(ts(&a).checked_sub(dur(&c)).unwrap_or(ts(&a)))
                }
                BinOp::DurPlusDur => Value::Duration(dur(&a).saturating_add(dur(&c))),
                BinOp::DurMinusDur => Value::Duration(dur(&a).saturating_sub(dur(&c))),
            }
        }
        Ex::Cmp(op, kind, l, r) => {
            let (a, c) = (eval(l, fr, vars), eval(r, fr, vars));
            use std::cmp::Ordering;
            let ord: Option<Ordering> = match kind {
                CmpKind::Int => Some(i(&a).cmp(&i(&c))),
                CmpKind::Float => f(&a).partial_cmp(&f(&c)),
                CmpKind::Str => Some(s(&a).cmp(s(&c))),
                CmpKind::Bool => Some(b(&a).cmp(&b(&c))),
                CmpKind::Timestamp => Some(ts(&a).cmp(&ts(&c))),
                CmpKind::Duration => Some(dur(&a).cmp(&dur(&c))),
                CmpKind::Any => Some(if a == c {
                    Ordering::Equal
                } else {
                    Ordering::Less
                }),
            };
            Value::Bool(match (op, ord) {
                (CmpOp::Ne, None) => true,
                (_, None) => false, // NaN compares false, as in IEEE 754
                (CmpOp::Eq, Some(o)) => o == Ordering::Equal,
                (CmpOp::Ne, Some(o)) => o != Ordering::Equal,
                (CmpOp::Lt, Some(o)) => o == Ordering::Less,
                (CmpOp::Le, Some(o)) => o != Ordering::Greater,
                (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
                (CmpOp::Ge, Some(o)) => o != Ordering::Less,
            })
        }
        Ex::And(l, r) => Value::Bool(b(&eval(l, fr, vars)) && b(&eval(r, fr, vars))),
        Ex::Or(l, r) => Value::Bool(b(&eval(l, fr, vars)) || b(&eval(r, fr, vars))),
        Ex::Cond(c, t, e) => {
            if b(&eval(c, fr, vars)) {
                eval(t, fr, vars)
            } else {
                eval(e, fr, vars)
            }
        }
        Ex::List(items) => Value::List(items.iter().map(|x| eval(x, fr, vars)).collect()),
        Ex::In(x, l) => {
            let x = eval(x, fr, vars);
            let l = eval(l, fr, vars);
            Value::Bool(list(&l).iter().any(|y| match (&x, y) {
                (Value::Float(a), Value::Float(c)) => a == c,
                _ => *y == x,
            }))
        }
        Ex::Call(func, args) => call(*func, args, fr, vars),
        Ex::Comp(c) => {
            let range = eval(&c.range, fr, vars);
            let need = c.accu_var as usize + 1;
            if vars.len() < need {
                vars.resize(need, NULL);
            }
            let init = eval(&c.init, fr, vars);
            vars[c.accu_var as usize] = init;
            for item in list(&range) {
                if !b(&eval(&c.cond, fr, vars)) {
                    break;
                }
                vars[c.iter_var as usize] = item.clone();
                let next = eval(&c.step, fr, vars);
                vars[c.accu_var as usize] = next;
            }
            eval(&c.result, fr, vars)
        }
    }
}

fn call(func: Func, args: &[Ex], fr: &Frame, vars: &mut Vec<Value>) -> Value {
    let mut vals = args.iter().map(|a| eval(a, fr, vars));
    let mut next = || vals.next().unwrap_or(NULL);
    match func {
        Func::Size => {
            let v = next();
            Value::Int(match &v {
                Value::Str(x) => x.chars().count() as i64,
                Value::List(l) => l.len() as i64,
                _ => 0,
            })
        }
        Func::IntOfFloat => {
            let x = f(&next());
            // `as` saturates and maps NaN to 0.
            Value::Int(x as i64)
        }
        Func::IntOfBool => Value::Int(i64::from(b(&next()))),
        Func::FloatOfBool => Value::Float(f64::from(u8::from(b(&next())))),
        Func::StringOf => {
            let v = next();
            Value::Str(Arc::from(match &v {
                Value::Str(x) => x.to_string(),
                Value::Int(x) => x.to_string(),
                Value::Float(x) => x.to_string(),
                Value::Bool(x) => x.to_string(),
                Value::Timestamp(t) => t.to_string(),
                Value::Duration(d) => format!("{d:#}"),
                other => other.to_json(None).to_string(),
            }))
        }
        Func::Contains => {
            let (a, c) = (next(), next());
            Value::Bool(s(&a).contains(s(&c)))
        }
        Func::StartsWith => {
            let (a, c) = (next(), next());
            Value::Bool(s(&a).starts_with(s(&c)))
        }
        Func::EndsWith => {
            let (a, c) = (next(), next());
            Value::Bool(s(&a).ends_with(s(&c)))
        }
        Func::LeastI => Value::Int(vals_i(args, fr, vars).min().unwrap_or(0)),
        Func::GreatestI => Value::Int(vals_i(args, fr, vars).max().unwrap_or(0)),
        Func::LeastF => Value::Float(
            args.iter()
                .map(|a| f(&eval(a, fr, vars)))
                .fold(f64::INFINITY, f64::min),
        ),
        Func::GreatestF => Value::Float(
            args.iter()
                .map(|a| f(&eval(a, fr, vars)))
                .fold(f64::NEG_INFINITY, f64::max),
        ),
        Func::AbsI => Value::Int(i(&next()).saturating_abs()),
        Func::AbsF => Value::Float(f(&next()).abs()),
        Func::Floor => Value::Float(f(&next()).floor()),
        Func::Ceil => Value::Float(f(&next()).ceil()),
        Func::Round => Value::Float(f(&next()).round()),
        Func::Sqrt => Value::Float(f(&next()).sqrt()),
        Func::Exp => Value::Float(f(&next()).exp()),
        Func::Log => Value::Float(f(&next()).ln()),
        Func::Sigmoid => Value::Float(1.0 / (1.0 + (-f(&next())).exp())),
        Func::DurHours => Value::Int(dur(&next()).as_secs() / 3600),
        Func::DurMinutes => Value::Int(dur(&next()).as_secs() / 60),
        Func::DurSeconds => Value::Int(dur(&next()).as_secs()),
        Func::NotStrictlyFalse => Value::Bool(b(&next())),
    }
}

fn vals_i<'a>(
    args: &'a [Ex],
    fr: &'a Frame,
    vars: &'a mut Vec<Value>,
) -> impl Iterator<Item = i64> + 'a {
    args.iter().map(move |a| i(&eval(a, fr, vars)))
}
