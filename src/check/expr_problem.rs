//! One definition per problem the type checker of expressions (`check::expr`) reports: each
//! variant carries its data and renders its message, label and help in one place, under its
//! [`Code`], as [`super::Problem`] does for the rest of the checker.
//!
//! A sibling of `Problem` rather than more variants of it: every expression problem has exactly
//! one label (on the node where it is found), its data is mostly types ([`Ty`]) and source
//! snippets, and the two sets are found by different passes. An expression problem that is the
//! same diagnostic as a checker one (an unknown `candidate.ATTR`) is not defined again: the
//! expression checker reports [`super::Problem::UnknownScopeAttribute`].

use crate::diagnostics::{Code, Diagnostic, a_code, count};
use crate::source::Span;
use crate::types::Ty;

#[derive(Debug, Clone, PartialEq)]
pub enum ExprProblem {
    /// The parser's error (P0002), in the language's words; labels the offending character.
    Syntax {
        message: String,
    },
    /// A node the parser could not make anything of.
    Invalid,
    /// A list literal whose elements have different types: the first type, then the element's.
    ListElements {
        first: Ty,
        element: Ty,
    },
    /// `{…}` and `Msg{…}` literals.
    MapLiteral,
    Null,
    Bytes,
    /// `candidate` alone, where candidates are available.
    BareCandidate,
    /// `candidate` where there are none; `role` says what the expression is ("a route
    /// condition").
    NoCandidate {
        role: String,
    },
    /// `local` alone.
    BareLocal,
    /// A name nothing declares, with the closest visible name if there is one.
    UnknownName {
        name: String,
        suggestion: Option<String>,
    },
    /// `local.FIELD` naming no field, with the closest field if there is one.
    UnknownLocalField {
        field: String,
        suggestion: Option<String>,
    },
    /// A field selected from something that is not a record; `operand` is its source text.
    NotARecord {
        operand: String,
        ty: Ty,
    },
    /// A field a record does not have, with the closest field if there is one.
    UnknownField {
        operand: String,
        field: String,
        suggestion: Option<String>,
    },
    /// A comprehension (`exists`, `all`, `map`, …) over something that is not a list.
    NotIterable {
        range: String,
        ty: Ty,
    },
    /// An operand of `&&` or `||` (`op`) that is not a bool.
    LogicNotBool {
        op: String,
        ty: Ty,
    },
    NotNotBool {
        ty: Ty,
    },
    CannotNegate {
        ty: Ty,
    },
    /// The condition of `?:` that is not a bool.
    ConditionNotBool {
        ty: Ty,
    },
    BranchTypes {
        then: Ty,
        otherwise: Ty,
    },
    InNotList {
        ty: Ty,
    },
    /// `x in list` where `x` cannot be an element of the list.
    InElementType {
        ty: Ty,
        element: Ty,
    },
    Indexing,
    SizeType {
        ty: Ty,
    },
    /// `int(x)` or `double(x)` (`func`) of something that is not a number or a bool.
    ConversionType {
        func: String,
        ty: Ty,
    },
    /// `contains`, `startsWith` or `endsWith` (`func`) on something that is not a string.
    StringFunction {
        func: String,
    },
    /// A function (a method when `method`) that does not exist with this many arguments, with
    /// the closest known function if there is one.
    UnknownFunction {
        name: String,
        method: bool,
        args: usize,
        suggestion: Option<String>,
    },
    /// `+` on two lists whose elements do not agree.
    ListJoin {
        left: Ty,
        right: Ty,
    },
    /// An arithmetic operator (`sym`) on types it does not combine.
    Arithmetic {
        sym: String,
        left: Ty,
        right: Ty,
    },
    /// A comparison (`sym`) of types that do not compare; `lhs` and `rhs` are the operands'
    /// source text, for the help.
    Comparison {
        sym: String,
        left: Ty,
        right: Ty,
        lhs: String,
        rhs: String,
    },
    /// An ordering (`<`, `>=`, …) of a type without order.
    Unordered {
        ty: Ty,
    },
    /// A `math.NAME` argument that is not a number.
    MathNotNumber {
        func: String,
        ty: Ty,
    },
    UnknownMathFunction {
        name: String,
        args: usize,
        suggestion: Option<String>,
    },
    /// `duration(x)` or `timestamp(x)` (`func`) of something other than a string literal.
    ConstructorNotLiteral {
        func: String,
    },
    InvalidDuration {
        text: String,
    },
    InvalidTimestamp {
        text: String,
    },
}

impl ExprProblem {
    pub fn code(&self) -> Code {
        use ExprProblem::*;
        match self {
            Syntax { .. } | Invalid => Code::ExprSyntax,
            MapLiteral | Indexing | UnknownFunction { .. } | UnknownMathFunction { .. } => {
                Code::UnknownFunction
            }
            BareCandidate | BareLocal | ConstructorNotLiteral { .. } => Code::WrongKind,
            NoCandidate { .. }
            | UnknownName { .. }
            | UnknownLocalField { .. }
            | UnknownField { .. } => Code::UnknownName,
            InvalidDuration { .. } => Code::InvalidDuration,
            InvalidTimestamp { .. } => Code::InvalidLiteral,
            ListElements { .. }
            | Null
            | Bytes
            | NotARecord { .. }
            | NotIterable { .. }
            | LogicNotBool { .. }
            | NotNotBool { .. }
            | CannotNegate { .. }
            | ConditionNotBool { .. }
            | BranchTypes { .. }
            | InNotList { .. }
            | InElementType { .. }
            | SizeType { .. }
            | ConversionType { .. }
            | StringFunction { .. }
            | ListJoin { .. }
            | Arithmetic { .. }
            | Comparison { .. }
            | Unordered { .. }
            | MathNotNumber { .. } => Code::TypeMismatch,
        }
    }

    pub fn message(&self) -> String {
        use ExprProblem::*;
        match self {
            Syntax { message } => format!("invalid expression: {message}"),
            Invalid => "invalid expression".into(),
            ListElements { first, element } => {
                format!("list elements must share one type, found `{first}` and `{element}`")
            }
            MapLiteral => "map and message literals are not supported".into(),
            Null => "`null` is not a value in policies".into(),
            Bytes => "bytes literals are not supported".into(),
            BareCandidate => {
                "`candidate` must be followed by an attribute, such as `candidate.id`".into()
            }
            NoCandidate { role } => format!("`candidate` is not available in {role}"),
            BareLocal => "`local` must be followed by a field: `local.hour`, `local.minute`, \
                          `local.weekday`, `local.day` or `local.month`"
                .into(),
            UnknownName { name, .. } => format!("unknown name `{name}`"),
            UnknownLocalField { field, .. } => format!("`local` has no field `{field}`"),
            NotARecord { operand, ty } => {
                format!("`{operand}` is {}, which has no fields", a_code(ty))
            }
            UnknownField { operand, field, .. } => format!("`{operand}` has no field `{field}`"),
            NotIterable { range, ty } => {
                format!("`{range}` is {}; only lists can be iterated", a_code(ty))
            }
            LogicNotBool { op, ty } => format!("`{op}` needs bools, found `{ty}`"),
            NotNotBool { ty } => format!("`!` needs a bool, found `{ty}`"),
            CannotNegate { ty } => format!("cannot negate {}", a_code(ty)),
            ConditionNotBool { ty } => format!("a condition must be a bool, found `{ty}`"),
            BranchTypes { then, otherwise } => format!(
                "both branches of `?:` must have one type, found `{then}` and `{otherwise}`"
            ),
            InNotList { ty } => format!("`in` needs a list on its right, found `{ty}`"),
            InElementType { ty, element } => {
                format!("cannot look for {} in a `list<{element}>`", a_code(ty))
            }
            Indexing => "indexing with `[]` is not supported".into(),
            SizeType { ty } => format!("`size` needs a string or a list, found `{ty}`"),
            ConversionType { func, ty } => {
                format!("`{func}` takes a number or a bool, found `{ty}`")
            }
            StringFunction { func } => format!("`{func}` works on strings"),
            UnknownFunction {
                name, method, args, ..
            } => {
                let dot = if *method { "." } else { "" };
                format!(
                    "unknown function `{dot}{name}()` with {}",
                    count(*args, "argument", "arguments")
                )
            }
            ListJoin { left, right } => {
                format!("cannot join {} and {}", a_code(left), a_code(right))
            }
            Arithmetic { sym, left, right } => {
                format!("`{sym}` cannot combine `{left}` and `{right}`")
            }
            Comparison {
                sym, left, right, ..
            } => format!("cannot compare `{left}` with `{right}` using `{sym}`"),
            Unordered { ty } => format!("`{ty}` values have no order"),
            MathNotNumber { func, ty } => format!("`math.{func}` takes numbers, found `{ty}`"),
            UnknownMathFunction { name, args, .. } => format!(
                "unknown function `math.{name}` with {}",
                count(*args, "argument", "arguments")
            ),
            ConstructorNotLiteral { func } => format!("`{func}` takes a string literal"),
            InvalidDuration { text } => format!("invalid duration `{text}`"),
            InvalidTimestamp { text } => format!("invalid timestamp `{text}`"),
        }
    }

    /// The label's text (an expression problem has one, on the node it is found at); a `Vec`
    /// like [`super::Problem::labels`], for [`ExprProblem::at`].
    pub fn labels(&self) -> Vec<String> {
        use ExprProblem::*;
        let label = match self {
            Arithmetic { sym, left, right }
            | Comparison {
                sym, left, right, ..
            } => return vec![format!("`{left}` {sym} `{right}`")],
            ListElements { .. } => "this element",
            NoCandidate { .. } => "no candidate here",
            UnknownName { .. } => "not declared",
            UnknownLocalField { .. } | UnknownField { .. } => "unknown field",
            NotARecord { .. } => "no field here",
            NotIterable { .. } | InNotList { .. } => "not a list",
            LogicNotBool { .. } | NotNotBool { .. } | ConditionNotBool { .. } => "not a bool",
            MathNotNumber { .. } => "not a number",
            Syntax { .. }
            | Invalid
            | MapLiteral
            | Null
            | Bytes
            | BareCandidate
            | BareLocal
            | CannotNegate { .. }
            | BranchTypes { .. }
            | InElementType { .. }
            | Indexing
            | SizeType { .. }
            | ConversionType { .. }
            | StringFunction { .. }
            | UnknownFunction { .. }
            | ListJoin { .. }
            | Unordered { .. }
            | UnknownMathFunction { .. }
            | ConstructorNotLiteral { .. }
            | InvalidDuration { .. }
            | InvalidTimestamp { .. } => "here",
        };
        vec![label.to_string()]
    }

    pub fn help(&self) -> Option<String> {
        use ExprProblem::*;
        let h: String = match self {
            MapLiteral => "use a context record or candidate attributes instead".into(),
            Null => "test an optional field with `has(x.field)`".into(),
            NoCandidate { .. } => "only per-candidate values, scores, guards and per-candidate \
                                   model inputs can use `candidate`"
                .into(),
            UnknownName { suggestion, .. } => {
                return suggestion.as_ref().map(|s| format!("did you mean `{s}`?"));
            }
            UnknownLocalField { suggestion, .. } => {
                return suggestion
                    .as_ref()
                    .map(|s| format!("did you mean `local.{s}`?"));
            }
            UnknownField {
                operand,
                suggestion,
                ..
            } => {
                return suggestion
                    .as_ref()
                    .map(|s| format!("did you mean `{operand}.{s}`?"));
            }
            Indexing => {
                "indexing can fail at run time; use `exists`, `all`, `in` or a record field".into()
            }
            UnknownFunction { suggestion, .. } => match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "see the list of functions in docs/language.md; math functions are \
                         `math.least`, `math.greatest`, `math.abs`, `math.sqrt`, `math.exp`, \
                         `math.log`, `math.sigmoid`"
                    .into(),
            },
            Arithmetic { left, right, .. } => {
                if (left.is_numeric() && *right == Ty::Bool)
                    || (*left == Ty::Bool && right.is_numeric())
                {
                    "convert the bool with `double(...)` or `int(...)`".into()
                } else if (*left == Ty::String) != (*right == Ty::String) {
                    "strings only combine with strings; convert with `string(...)`".into()
                } else {
                    return None;
                }
            }
            Comparison {
                left,
                right,
                lhs,
                rhs,
                ..
            } => match (left, right) {
                (Ty::String, t) if t.is_numeric() => format!(
                    "`{lhs}` is a string: compare it with a string, such as `{lhs} == \"...\"`"
                ),
                (t, Ty::String) if t.is_numeric() => format!(
                    "`{rhs}` is a string: compare it with a string, or compare `{lhs}` with a \
                     number"
                ),
                (Ty::Bool, _) | (_, Ty::Bool) => {
                    "compare bools with bools, or convert with `int(...)`".into()
                }
                _ => return None,
            },
            UnknownMathFunction { suggestion, .. } => {
                return suggestion
                    .as_ref()
                    .map(|s| format!("did you mean `math.{s}`?"));
            }
            InvalidDuration { .. } => {
                "write a number and a unit, such as `8h`, `90m` or `1h30m`".into()
            }
            InvalidTimestamp { .. } => {
                "write an RFC 3339 time such as `2026-01-31T09:00:00Z`".into()
            }
            Syntax { .. }
            | Invalid
            | ListElements { .. }
            | Bytes
            | BareCandidate
            | BareLocal
            | NotARecord { .. }
            | NotIterable { .. }
            | LogicNotBool { .. }
            | NotNotBool { .. }
            | CannotNegate { .. }
            | ConditionNotBool { .. }
            | BranchTypes { .. }
            | InNotList { .. }
            | InElementType { .. }
            | SizeType { .. }
            | ConversionType { .. }
            | StringFunction { .. }
            | ListJoin { .. }
            | Unordered { .. }
            | MathNotNumber { .. }
            | ConstructorNotLiteral { .. } => return None,
        };
        Some(h)
    }

    /// The diagnostic, its labels on `spans` in order (primary first).
    pub fn at(&self, spans: &[Span]) -> Diagnostic {
        super::problem::diagnostic(
            self.code(),
            self.message(),
            self.labels(),
            self.help(),
            spans,
        )
    }

    /// One instance of every variant (and of every help), for the test that checks every
    /// message against the style rules.
    pub fn examples() -> Vec<ExprProblem> {
        use ExprProblem::*;
        let s = |x: &str| x.to_string();
        let list = |t: Ty| Ty::List(Box::new(t));
        vec![
            Syntax {
                message: s("expected an expression after `+`"),
            },
            Invalid,
            ListElements {
                first: Ty::Int,
                element: Ty::String,
            },
            MapLiteral,
            Null,
            Bytes,
            BareCandidate,
            NoCandidate {
                role: s("a route condition"),
            },
            BareLocal,
            UnknownName {
                name: s("dau7"),
                suggestion: Some(s("dau_7")),
            },
            UnknownName {
                name: s("xyz"),
                suggestion: None,
            },
            UnknownLocalField {
                field: s("hours"),
                suggestion: Some(s("hour")),
            },
            NotARecord {
                operand: s("dau_7"),
                ty: Ty::Int,
            },
            UnknownField {
                operand: s("user"),
                field: s("nmae"),
                suggestion: Some(s("name")),
            },
            NotIterable {
                range: s("dau_7"),
                ty: Ty::Int,
            },
            LogicNotBool {
                op: s("&&"),
                ty: Ty::Int,
            },
            NotNotBool { ty: Ty::Float },
            CannotNegate { ty: Ty::String },
            ConditionNotBool { ty: Ty::Int },
            BranchTypes {
                then: Ty::String,
                otherwise: Ty::Int,
            },
            InNotList { ty: Ty::String },
            InElementType {
                ty: Ty::Int,
                element: Ty::String,
            },
            Indexing,
            SizeType { ty: Ty::Int },
            ConversionType {
                func: s("int"),
                ty: Ty::String,
            },
            StringFunction {
                func: s("contains"),
            },
            UnknownFunction {
                name: s("sise"),
                method: false,
                args: 1,
                suggestion: Some(s("size")),
            },
            UnknownFunction {
                name: s("frobnicate"),
                method: true,
                args: 2,
                suggestion: None,
            },
            ListJoin {
                left: list(Ty::Int),
                right: list(Ty::String),
            },
            Arithmetic {
                sym: s("+"),
                left: Ty::Int,
                right: Ty::Bool,
            },
            Arithmetic {
                sym: s("*"),
                left: Ty::String,
                right: Ty::Float,
            },
            Arithmetic {
                sym: s("-"),
                left: Ty::Timestamp,
                right: Ty::Int,
            },
            Comparison {
                sym: s("=="),
                left: Ty::String,
                right: Ty::Int,
                lhs: s("platform"),
                rhs: s("1"),
            },
            Comparison {
                sym: s(">"),
                left: Ty::Float,
                right: Ty::String,
                lhs: s("score"),
                rhs: s("tier"),
            },
            Comparison {
                sym: s("=="),
                left: Ty::Bool,
                right: Ty::Int,
                lhs: s("active"),
                rhs: s("1"),
            },
            Comparison {
                sym: s("<"),
                left: Ty::Timestamp,
                right: Ty::Duration,
                lhs: s("now"),
                rhs: s("gap"),
            },
            Unordered { ty: Ty::Bool },
            MathNotNumber {
                func: s("least"),
                ty: Ty::String,
            },
            UnknownMathFunction {
                name: s("sqr"),
                args: 1,
                suggestion: Some(s("sqrt")),
            },
            UnknownMathFunction {
                name: s("frobnicate"),
                args: 0,
                suggestion: None,
            },
            ConstructorNotLiteral {
                func: s("duration"),
            },
            InvalidDuration { text: s("8x") },
            InvalidTimestamp {
                text: s("yesterday"),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::ExprProblem;

    /// `Checker::err` labels one span: a problem with more or fewer labels would lose one or
    /// render none.
    #[test]
    fn every_expression_problem_has_one_label() {
        for p in ExprProblem::examples() {
            assert_eq!(p.labels().len(), 1, "{p:?}");
        }
    }
}
