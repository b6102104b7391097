//! The typed expression IR that `check` produces from CEL and `eval` runs. Names are resolved to
//! slots, numeric promotion is explicit (`ToFloat`), and every operation is total: a request that
//! matches the context schema can never make an expression fail.

use crate::types::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Ex {
    Lit(Value),
    /// A top-level context field.
    Ctx(u16),
    /// The whole context, as a record (`context.f`, `has(context.f)`).
    CtxRoot,
    /// A request-level node (a `let` or per-request model).
    ReqNode(u16),
    /// A candidate-level node (a `let`, per-candidate model or the score).
    CandNode(u16),
    /// A candidate attribute (`candidate.x`); attribute 0 is `id`.
    Attr(u16),
    Now,
    Local(LocalField),
    /// A comprehension variable.
    Var(u16),
    Field(Box<Ex>, u16),
    /// `has(x.f)`: whether the optional field `f` was sent.
    Has(Box<Ex>, u16),
    /// An optional field without a default: the value, or the zero of its type when the field
    /// was not sent, so every operation (`==`, `in`, `string()`) sees the same value.
    OrZero(Box<Ex>, Value),
    Un(UnOp, Box<Ex>),
    Bin(BinOp, Box<Ex>, Box<Ex>),
    Cmp(CmpOp, CmpKind, Box<Ex>, Box<Ex>),
    And(Box<Ex>, Box<Ex>),
    Or(Box<Ex>, Box<Ex>),
    Cond(Box<Ex>, Box<Ex>, Box<Ex>),
    List(Vec<Ex>),
    /// `x in list`
    In(Box<Ex>, Box<Ex>),
    Call(Func, Vec<Ex>),
    Comp(Box<Comprehension>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalField {
    Hour,
    Minute,
    /// 0 = Sunday, as CEL's `getDayOfWeek`.
    Weekday,
    /// Day of the month, 1-based.
    Day,
    Month,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Not,
    NegI,
    NegF,
    ToFloat,
    NegDur,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    AddI,
    SubI,
    MulI,
    /// Int remainder; `x % 0` is 0.
    ModI,
    AddF,
    SubF,
    MulF,
    /// Division is always float division: `1 / 2` is `0.5`.
    DivF,
    ModF,
    Concat,
    ListConcat,
    TsMinusTs,
    TsPlusDur,
    TsMinusDur,
    DurPlusDur,
    DurMinusDur,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// How two values compare; ints meeting floats are promoted before this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpKind {
    Int,
    Float,
    Str,
    Bool,
    Timestamp,
    Duration,
    /// Structural equality (lists, records).
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Size,
    IntOfFloat,
    IntOfBool,
    FloatOfBool,
    StringOf,
    Contains,
    StartsWith,
    EndsWith,
    LeastI,
    GreatestI,
    LeastF,
    GreatestF,
    AbsI,
    AbsF,
    Floor,
    Ceil,
    Round,
    Sqrt,
    Exp,
    Log,
    Sigmoid,
    DurHours,
    DurMinutes,
    DurSeconds,
    NotStrictlyFalse,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comprehension {
    pub range: Ex,
    pub iter_var: u16,
    pub accu_var: u16,
    pub init: Ex,
    pub cond: Ex,
    pub step: Ex,
    pub result: Ex,
}

impl Ex {
    /// Calls `f` on every sub-expression, depth first.
    pub fn walk(&self, f: &mut impl FnMut(&Ex)) {
        f(self);
        match self {
            Ex::Field(e, _) | Ex::Has(e, _) | Ex::OrZero(e, _) | Ex::Un(_, e) => e.walk(f),
            Ex::Bin(_, a, b)
            | Ex::Cmp(_, _, a, b)
            | Ex::And(a, b)
            | Ex::Or(a, b)
            | Ex::In(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Ex::Cond(a, b, c) => {
                a.walk(f);
                b.walk(f);
                c.walk(f);
            }
            Ex::List(items) | Ex::Call(_, items) => items.iter().for_each(|e| e.walk(f)),
            Ex::Comp(c) => {
                for e in [&c.range, &c.init, &c.cond, &c.step, &c.result] {
                    e.walk(f);
                }
            }
            _ => {}
        }
    }
}
