//! `arbitrary` generators for the structured targets. Random bytes rarely spell a policy that
//! gets past the parser, or a JSON body with a policy's field names; these types turn the
//! fuzzer's bytes into text that does, so the checker, the formatter and request validation are
//! reached deeply. Their `Display` writes the text the byte targets then read, so a finding
//! reproduces with the plain targets too (write the text to a file in the corpus).

use arbitrary::Arbitrary;
use std::fmt::{self, Display, Formatter};

/// Names from the example policies, so that references often resolve.
const NAMES: &[&str] = &[
    "user",
    "session",
    "dau_7",
    "wau_4",
    "platform",
    "score",
    "candidate",
    "local",
    "now",
    "math",
    "user_id",
    "timezone",
    "x",
    "y",
    "net_benefit",
    "p_trial",
    "topic_id",
    "hour",
    "fatigue",
    "contacts",
    "items",
    "size",
    "has",
    "int",
    "float",
    "string",
    "all",
    "exists",
];

#[derive(Debug, Arbitrary)]
pub struct Name(u8);

impl Display for Name {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(NAMES[self.0 as usize % NAMES.len()])
    }
}

#[derive(Debug, Arbitrary)]
pub enum Ty {
    Int,
    Float,
    Bool,
    String,
    Timestamp,
    List(Box<Ty>),
    Record(Vec<(Name, Ty)>),
    Optional(Box<Ty>),
}

impl Display for Ty {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Int => f.write_str("int"),
            Ty::Float => f.write_str("float"),
            Ty::Bool => f.write_str("bool"),
            Ty::String => f.write_str("string"),
            Ty::Timestamp => f.write_str("timestamp"),
            Ty::List(t) => write!(f, "list<{t}>"),
            Ty::Record(fields) => {
                f.write_str("{ ")?;
                for (n, t) in fields {
                    write!(f, "{n}: {t}, ")?;
                }
                f.write_str("}")
            }
            Ty::Optional(t) => write!(f, "{t}?"),
        }
    }
}

#[derive(Debug, Arbitrary)]
pub enum Expr {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Path(Vec<Name>),
    Binary(Box<Expr>, Op, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Call(Name, Vec<Expr>),
    Method(Box<Expr>, Name, Vec<Expr>),
    Paren(Box<Expr>),
    List(Vec<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    Index(Box<Expr>, Box<Expr>),
    /// Raw text: whatever the fuzzer says, unclosed brackets and stray quotes included.
    Raw(String),
}

#[derive(Debug, Arbitrary)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
    In,
}

impl Display for Op {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            Op::Rem => "%",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::And => "&&",
            Op::Or => "||",
            Op::In => "in",
        })
    }
}

fn list(f: &mut Formatter<'_>, items: &[Expr]) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Int(i) => write!(f, "{i}"),
            Expr::Float(x) => write!(f, "{x:?}"),
            Expr::Str(s) => write!(f, "{s:?}"),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Path(names) if names.is_empty() => f.write_str("x"),
            Expr::Path(names) => {
                for (i, n) in names.iter().enumerate() {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    write!(f, "{n}")?;
                }
                Ok(())
            }
            Expr::Binary(a, op, b) => write!(f, "{a} {op} {b}"),
            Expr::Not(e) => write!(f, "!{e}"),
            Expr::Neg(e) => write!(f, "-{e}"),
            Expr::Call(n, args) => {
                write!(f, "{n}(")?;
                list(f, args)?;
                f.write_str(")")
            }
            Expr::Method(e, n, args) => {
                write!(f, "{e}.{n}(")?;
                list(f, args)?;
                f.write_str(")")
            }
            Expr::Paren(e) => write!(f, "({e})"),
            Expr::List(items) => {
                f.write_str("[")?;
                list(f, items)?;
                f.write_str("]")
            }
            Expr::Cond(c, a, b) => write!(f, "{c} ? {a} : {b}"),
            Expr::Index(e, i) => write!(f, "{e}[{i}]"),
            Expr::Raw(s) => f.write_str(&s.replace('\n', " ")),
        }
    }
}

#[derive(Debug, Arbitrary)]
pub enum Guard {
    Require(Expr),
    Cap(u8, Window, bool),
    Gap(u16),
    Quiet(u8, u8),
}

#[derive(Debug, Arbitrary)]
pub enum Window {
    Day,
    Hours(u16),
    Days(u8),
}

impl Display for Window {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Window::Day => f.write_str("day"),
            Window::Hours(h) => write!(f, "{h}h"),
            Window::Days(d) => write!(f, "{d}d"),
        }
    }
}

#[derive(Debug, Arbitrary)]
pub enum Item {
    Meta(u8, String),
    Context(Vec<(Name, Ty)>),
    Subject(Name, Option<Name>),
    Param(Name, bool, f32, Option<(f32, f32)>),
    Candidates(Option<Name>, Vec<(Name, Vec<(Name, Expr)>)>),
    Model {
        name: Name,
        file: u8,
        per_candidate: bool,
        inputs: Vec<Expr>,
        output: Option<u8>,
    },
    Let(Name, Expr),
    Score(Expr),
    Guard(Name, Guard),
    Select(u8),
    Fallback(Name),
    Route(Vec<(Expr, Name)>, Option<Name>),
    Comment(String),
}

/// Model files the in-memory store of the `parse` target holds, and one it does not.
const FILES: &[&str] = &[
    "paywall_trial.onnx",
    "churn_risk.onnx",
    "contact_ranker_lr.onnx",
    "missing.onnx",
];

impl Display for Item {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Item::Meta(k, v) => {
                let key = ["version", "owner", "description"][*k as usize % 3];
                writeln!(f, "    {key} {v:?}")
            }
            Item::Context(fields) => {
                f.write_str("    context {\n")?;
                for (n, t) in fields {
                    writeln!(f, "        {n}: {t}")?;
                }
                f.write_str("    }\n")
            }
            Item::Subject(p, None) => writeln!(f, "    subject {p}"),
            Item::Subject(p, Some(z)) => writeln!(f, "    subject {p} zone {z}"),
            Item::Param(n, int, default, range) => {
                let (ty, d) = if *int {
                    ("int", format!("{}", *default as i64))
                } else {
                    ("float", format!("{default:?}"))
                };
                write!(f, "    param {n}: {ty} = {d}")?;
                if let Some((lo, hi)) = range {
                    write!(f, " in {lo:?}..{hi:?}")?;
                }
                f.write_str("\n")
            }
            Item::Candidates(from, list) => {
                f.write_str("    candidates")?;
                if let Some(p) = from {
                    write!(f, " from {p}")?;
                }
                f.write_str(" {\n")?;
                for (n, attrs) in list {
                    write!(f, "        {n} {{ ")?;
                    for (i, (a, v)) in attrs.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{a}: {v}")?;
                    }
                    f.write_str(" }\n")?;
                }
                f.write_str("    }\n")
            }
            Item::Model {
                name,
                file,
                per_candidate,
                inputs,
                output,
            } => {
                writeln!(f, "    model {name} {{")?;
                writeln!(f, "        file {:?}", FILES[*file as usize % FILES.len()])?;
                let per = if *per_candidate {
                    "candidate"
                } else {
                    "request"
                };
                writeln!(f, "        per {per}")?;
                f.write_str("        inputs [")?;
                list(f, inputs)?;
                f.write_str("]\n")?;
                match output {
                    Some(i) => writeln!(f, "        output probabilities[{i}]")?,
                    None => f.write_str("        output variable\n")?,
                }
                f.write_str("    }\n")
            }
            Item::Let(n, e) => writeln!(f, "    let {n} = {e}"),
            Item::Score(e) => writeln!(f, "    score = {e}"),
            Item::Guard(n, g) => match g {
                Guard::Require(e) => writeln!(f, "    guard {n}: require {e}"),
                Guard::Cap(k, w, by) => {
                    write!(f, "    guard {n}: cap {k} per {w}")?;
                    if *by {
                        f.write_str(" by candidate")?;
                    }
                    f.write_str("\n")
                }
                Guard::Gap(h) => writeln!(f, "    guard {n}: gap {h}h"),
                Guard::Quiet(a, b) => writeln!(f, "    guard {n}: quiet {a}:00 to {b}:30"),
            },
            Item::Select(k) => match k % 3 {
                0 => f.write_str("    select best\n"),
                1 => writeln!(f, "    select top {}", k / 3),
                _ => f.write_str("    select gate\n"),
            },
            Item::Fallback(n) => writeln!(f, "    fallback {n}"),
            Item::Route(rules, otherwise) => {
                f.write_str("    route {\n")?;
                for (e, n) in rules {
                    writeln!(f, "        when {e} -> {n}")?;
                }
                if let Some(n) = otherwise {
                    writeln!(f, "        otherwise -> {n}")?;
                }
                f.write_str("    }\n")
            }
            Item::Comment(c) => writeln!(f, "    # {}", c.replace('\n', " ")),
        }
    }
}

/// One file of policies. Its `Debug` is its text, so `cargo fuzz fmt` prints the policy a crash
/// was found on, ready for the corpus.
#[derive(Arbitrary)]
pub struct PolicyFile(pub Vec<(Name, Vec<Item>)>);

impl fmt::Debug for PolicyFile {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl Display for PolicyFile {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (name, items) in &self.0 {
            writeln!(f, "policy {name} {{")?;
            for item in items {
                write!(f, "{item}")?;
            }
            f.write_str("}\n\n")?;
        }
        Ok(())
    }
}

/// Field names of the example contexts, and the body's own keys.
const KEYS: &[&str] = &[
    "user_id",
    "timezone",
    "user",
    "session",
    "dau_7",
    "wau_4",
    "avg_session_min_7",
    "days_since_install",
    "is_trialing",
    "is_subscriber",
    "platform",
    "sessions_7d",
    "paywall_views_7d",
    "in_onboarding",
    "contacts",
    "candidates",
    "now",
    "explain",
    "requests",
    "notif_count_7",
    "sent_in_last_24h",
    "sent_in_last_7d",
    "hours_since_last",
    "time_since_last_open_hr",
    "warmth_delta_14d",
];

/// Strings that matter to the decoder: time zones, timestamps at the edges of the range.
const STRINGS: &[&str] = &[
    "Europe/Berlin",
    "America/New_York",
    "UTC",
    "Not/AZone",
    "",
    "ios",
    "android",
    "2026-03-29T01:30:00Z",
    "9999-12-31T23:59:59Z",
    "-009999-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
];

/// A JSON body. Its `Debug` is its text, so `cargo fuzz fmt` prints the body a crash was found
/// on, ready for the corpus.
#[derive(Arbitrary)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Known(u8),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(Key, Json)>),
}

#[derive(Debug, Arbitrary)]
pub enum Key {
    Known(u8),
    Other(String),
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_value())
    }
}

impl Json {
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(i) => Value::from(*i),
            Json::Float(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
            Json::Known(i) => Value::from(STRINGS[*i as usize % STRINGS.len()]),
            Json::Str(s) => Value::from(s.as_str()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| {
                        let k = match k {
                            Key::Known(i) => KEYS[*i as usize % KEYS.len()].to_string(),
                            Key::Other(s) => s.clone(),
                        };
                        (k, v.to_value())
                    })
                    .collect(),
            ),
        }
    }
}
