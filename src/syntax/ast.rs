//! The syntax tree of a `.policy` file. Every node carries the span it was parsed from.
//! Expressions are kept as CEL source text; `check` parses and types them.

use crate::source::{SourceId, Span};

#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub source: SourceId,
    pub policies: Vec<Policy>,
    /// Every `#` comment, in order, for the formatter and for `allow` comments.
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub span: Span,
    /// The text after `#`, untrimmed.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: Ident,
    pub span: Span,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Meta(Meta),
    Context(Record),
    Subject(Subject),
    Param(Param),
    Candidates(Candidates),
    Model(Model),
    Let(Let),
    Score(Expr),
    Guard(Guard),
    Select(Select),
    Fallback(Ident),
    Route(Route),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Meta(m) => m.span,
            Item::Context(r) => r.span,
            Item::Subject(s) => s.span,
            Item::Param(p) => p.span,
            Item::Candidates(c) => c.span,
            Item::Model(m) => m.span,
            Item::Let(l) => l.span,
            Item::Score(e) => e.span,
            Item::Guard(g) => g.span,
            Item::Select(s) => s.span,
            Item::Fallback(f) => f.span,
            Item::Route(r) => r.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub key: Ident,
    pub value: Str,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Str {
    pub value: String,
    pub span: Span,
}

/// `{ field: type ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub fields: Vec<Field>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Literal>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub optional: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    Scalar(Scalar),
    List(Box<TypeExpr>),
    Record(Record),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scalar {
    String,
    Int,
    Float,
    Bool,
    Timestamp,
}

impl Scalar {
    pub fn as_str(self) -> &'static str {
        match self {
            Scalar::String => "string",
            Scalar::Int => "int",
            Scalar::Float => "float",
            Scalar::Bool => "bool",
            Scalar::Timestamp => "timestamp",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    pub kind: LiteralKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LiteralKind {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    List(Vec<Literal>),
}

/// `subject user_id zone timezone`
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub key: Path,
    pub zone: Option<Zone>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    /// A fixed IANA name.
    Literal(Str),
    /// A context field holding the IANA name.
    Field(Path),
}

/// A dotted name such as `user.timezone`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub segments: Vec<String>,
    pub span: Span,
}

impl Path {
    pub fn dotted(&self) -> String {
        self.segments.join(".")
    }
}

/// `param lambda: float = 0.02 in 0.0..1.0`
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: (Scalar, Span),
    pub value: Literal,
    pub range: Option<(Literal, Literal)>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidates {
    /// `from contacts`: a list of records in the request.
    pub from: Option<Path>,
    pub list: Vec<Candidate>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: Ident,
    pub attrs: Vec<(Ident, Literal)>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub name: Ident,
    pub file: Option<Str>,
    pub per: Option<(Per, Span)>,
    pub inputs: Vec<Expr>,
    pub inputs_span: Option<Span>,
    pub output: Option<ModelOutput>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Request,
    Candidate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutput {
    pub name: Ident,
    pub column: Option<(usize, Span)>,
    pub span: Span,
}

/// A CEL expression: its text as written (for layout and descriptions) and its tree, parsed once
/// with the file ([`super::cel`]); a syntax error in it is kept here and reported by `check`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub text: String,
    pub span: Span,
    pub tree: Result<super::cel::Node, super::cel::SyntaxError>,
}

impl Expr {
    /// The dotted paths the expression reads, in order of first appearance: `user.dau_7`,
    /// `candidate.topic_id`, `local.hour`, `fatigue_lambda`. A path stops at the first segment
    /// that is not a plain field selection; names bound by a comprehension are not reads.
    /// Empty when the expression does not parse.
    pub fn reads(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(tree) = &self.tree {
            super::cel::collect_reads(tree, &mut Vec::new(), &mut out);
        }
        out
    }

    /// The names the expression reads: the first segment of each of [`Expr::reads`].
    pub fn names(&self) -> std::collections::BTreeSet<String> {
        self.reads()
            .into_iter()
            .map(|p| p.split('.').next().unwrap_or_default().to_string())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Guard {
    pub name: Ident,
    pub kind: GuardKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GuardKind {
    /// `cap 2 per day [by candidate]`
    Cap {
        limit: (u64, Span),
        window: Window,
        scope: Scope,
    },
    /// `gap 8h [by candidate.channel]`
    Gap { duration: Str, scope: Scope },
    /// `quiet 22:00 to 08:00`
    Quiet { start: Str, end: Str },
    /// `require score >= threshold`
    Require(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// The calendar day in the subject's time zone.
    Day(Span),
    /// A rolling window, such as `24h` or `7d`.
    Rolling(Str),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// Every action of the subject under this policy.
    All,
    /// Actions on the same candidate.
    Candidate(Span),
    /// Actions on candidates sharing this attribute's value (`by candidate.channel`).
    Attr(Ident),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub kind: SelectKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SelectKind {
    Best,
    Top(usize),
    Gate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub rules: Vec<RouteRule>,
    pub otherwise: Option<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteRule {
    pub when: Expr,
    pub target: Ident,
    pub span: Span,
}
