//! CEL expressions as a spanned tree, parsed once: when a file is parsed, every expression is
//! handed to the `cel` crate's parser (the language's expressions are CEL) and its tree copied
//! into [`Node`]s that carry file spans. Nothing after `syntax` parses an expression again:
//! `check` types the tree, `syntax::names` resolves what it reads, `fmt` compares trees.
//!
//! The `cel` crate's own tree (`IdedExpr` + `SourceInfo`) is not kept: its positions are
//! character offsets into the expression looked up by node id, and its errors are ANTLR's. This
//! tree has byte spans in the file on every node, and [`SyntaxError`] says what was expected in
//! the language's words (no token names, nothing the language rejects).

use crate::source::Span;
use cel::common::ast::{EntryExpr, Expr as CExpr, IdedExpr, LiteralValue, SourceInfo};

/// One node of an expression, with the span of its token in the file (for a call such as
/// `a + b`, the operator; for a name, the name).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Literal(Literal),
    Ident(String),
    Select(Select),
    Call(Call),
    List(Vec<Node>),
    /// `all`, `exists`, `exists_one`, `map` and `filter`, as the parser expands them.
    Comprehension(Box<Comprehension>),
    /// `{k: v}`: parsed, and rejected by `check`.
    Map(Vec<(Node, Node)>),
    /// `T{f: v}`: parsed, and rejected by `check`.
    Struct(String, Vec<(String, Node)>),
    /// A node the parser left empty.
    Unspecified,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    /// `null`: parsed, and rejected by `check`.
    Null,
    /// `b"…"`: parsed, and rejected by `check`.
    Bytes,
}

/// `operand.field`, or `has(operand.field)` when `test`.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub operand: Box<Node>,
    pub field: String,
    pub test: bool,
}

/// A function or operator call; operators are named as CEL names them (`_+_`, `_&&_`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub func_name: String,
    pub target: Option<Box<Node>>,
    pub args: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comprehension {
    pub iter_range: Node,
    pub iter_var: String,
    pub accu_var: String,
    pub accu_init: Node,
    pub loop_cond: Node,
    pub loop_step: Node,
    pub result: Node,
}

/// An expression that does not parse: where (a byte offset into the expression's text) and
/// what, in the language's words.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

impl Node {
    /// `a.b.c` as its segments when this node is a plain path of field selections on a name.
    pub fn path(&self) -> Option<Vec<&str>> {
        match &self.kind {
            Kind::Ident(n) => Some(vec![n.as_str()]),
            Kind::Select(s) if !s.test => {
                let mut p = s.operand.path()?;
                p.push(s.field.as_str());
                Some(p)
            }
            _ => None,
        }
    }
}

/// Appends the dotted paths `e` reads to `out` (see [`super::ast::Expr::reads`]); `bound` holds
/// the names comprehensions bind around `e`.
pub(crate) fn collect_reads(e: &Node, bound: &mut Vec<String>, out: &mut Vec<String>) {
    let free_path = e
        .path()
        .filter(|p| !bound.iter().any(|b| p.first() == Some(&b.as_str())));
    if let Some(p) = free_path {
        let p = p.join(".");
        if !out.contains(&p) {
            out.push(p);
        }
        return;
    }
    match &e.kind {
        Kind::Select(s) => collect_reads(&s.operand, bound, out),
        Kind::Call(c) => {
            if let Some(t) = &c.target {
                collect_reads(t, bound, out);
            }
            c.args.iter().for_each(|a| collect_reads(a, bound, out));
        }
        Kind::List(items) => items.iter().for_each(|a| collect_reads(a, bound, out)),
        Kind::Comprehension(c) => {
            collect_reads(&c.iter_range, bound, out);
            collect_reads(&c.accu_init, bound, out);
            bound.push(c.iter_var.clone());
            bound.push(c.accu_var.clone());
            for x in [&c.loop_cond, &c.loop_step, &c.result] {
                collect_reads(x, bound, out);
            }
            bound.pop();
            bound.pop();
        }
        Kind::Map(entries) => entries.iter().for_each(|(k, v)| {
            collect_reads(k, bound, out);
            collect_reads(v, bound, out);
        }),
        Kind::Struct(..) | Kind::Literal(_) | Kind::Ident(_) | Kind::Unspecified => {}
    }
}

#[cfg(test)]
thread_local! {
    /// How many times this thread ran the `cel` parser (the parse-once test reads it).
    pub static PARSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Stack the `cel` parser must have left to run in place (see [`parse`]).
const PARSER_RED_ZONE: usize = 4 * 1024 * 1024;
/// Stack it runs on otherwise.
const PARSER_STACK: usize = 16 * 1024 * 1024;

/// Parses the expression `text`, which sits at `span` in its file.
///
/// The parser is third-party code fed user input: a panic inside it becomes an error, never a
/// crash.
pub fn parse(text: &str, span: Span) -> Result<Node, SyntaxError> {
    #[cfg(test)]
    PARSES.with(|n| n.set(n.get() + 1));
    let owned = text.to_string();
    // The parser (ANTLR) recurses through a dozen rules per bracket, with large frames in a
    // debug build: 31 nested parentheses need more than a 2 MiB thread has. `stacker` (the
    // crate rustc grows its own stack with) runs it on a fresh 16 MiB stack when less than
    // 4 MiB is left, so the bounded nesting `syntax::limits` allows parses on any thread.
    let result = std::panic::catch_unwind(move || {
        stacker::maybe_grow(PARSER_RED_ZONE, PARSER_STACK, || {
            cel::parser::Parser::new().parse_with_source_info(&owned)
        })
    });
    match result {
        Ok(Ok((e, info))) => Ok(Convert {
            text,
            span,
            info: &info,
        }
        .node(&e)),
        Ok(Err(errs)) => {
            let first = errs.errors.first();
            let msg = first.map_or("", |e| e.msg.as_str());
            let offset = first.map_or(0, |e| line_col_to_offset(text, e.pos.0, e.pos.1));
            Err(SyntaxError {
                offset,
                message: words::translate(msg),
            })
        }
        Err(_) => Err(SyntaxError {
            offset: 0,
            message: "the expression could not be parsed".into(),
        }),
    }
}

fn line_col_to_offset(text: &str, line: isize, col: isize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i as isize + 1 == line {
            let col = col.max(0) as usize;
            return offset + l.char_indices().nth(col).map_or(l.len(), |(b, _)| b);
        }
        offset += l.len();
    }
    text.len()
}

/// ANTLR reports character offsets; spans are bytes.
fn char_to_byte(text: &str, idx: usize) -> usize {
    text.char_indices().nth(idx).map_or(text.len(), |(b, _)| b)
}

struct Convert<'a> {
    text: &'a str,
    span: Span,
    info: &'a SourceInfo,
}

impl Convert<'_> {
    /// The file span of a parser node: its token, or the whole expression when the parser
    /// recorded no position (nodes a macro made up).
    fn span_of(&self, id: u64) -> Span {
        match self.info.offset_for(id) {
            Some((start, stop)) => {
                let s = char_to_byte(self.text, start as usize);
                let e = char_to_byte(self.text, stop as usize + 1);
                self.span.sub(s, e.max(s + 1))
            }
            None => self.span,
        }
    }

    fn boxed(&self, e: &IdedExpr) -> Box<Node> {
        Box::new(self.node(e))
    }

    fn node(&self, e: &IdedExpr) -> Node {
        let kind = match &e.expr {
            CExpr::Literal(l) => Kind::Literal(match l {
                LiteralValue::Boolean(b) => Literal::Bool(**b),
                LiteralValue::Int(i) => Literal::Int(**i),
                LiteralValue::UInt(u) => Literal::UInt(**u),
                LiteralValue::Double(d) => Literal::Float(**d),
                LiteralValue::String(s) => Literal::Str(s.inner().to_string()),
                LiteralValue::Null => Literal::Null,
                LiteralValue::Bytes(_) => Literal::Bytes,
            }),
            CExpr::Ident(n) => Kind::Ident(n.clone()),
            CExpr::Select(s) => Kind::Select(Select {
                operand: self.boxed(&s.operand),
                field: s.field.clone(),
                test: s.test,
            }),
            CExpr::Call(c) => Kind::Call(Call {
                func_name: c.func_name.clone(),
                target: c.target.as_deref().map(|t| self.boxed(t)),
                args: c.args.iter().map(|a| self.node(a)).collect(),
            }),
            CExpr::List(l) => Kind::List(l.elements.iter().map(|x| self.node(x)).collect()),
            CExpr::Comprehension(c) => Kind::Comprehension(Box::new(Comprehension {
                iter_range: self.node(&c.iter_range),
                iter_var: c.iter_var.clone(),
                accu_var: c.accu_var.clone(),
                accu_init: self.node(&c.accu_init),
                loop_cond: self.node(&c.loop_cond),
                loop_step: self.node(&c.loop_step),
                result: self.node(&c.result),
            })),
            CExpr::Map(m) => Kind::Map(
                m.entries
                    .iter()
                    .filter_map(|entry| match &entry.expr {
                        EntryExpr::MapEntry(me) => Some((self.node(&me.key), self.node(&me.value))),
                        EntryExpr::StructField(_) => None,
                    })
                    .collect(),
            ),
            CExpr::Struct(s) => Kind::Struct(
                s.type_name.clone(),
                s.entries
                    .iter()
                    .filter_map(|entry| match &entry.expr {
                        EntryExpr::StructField(f) => Some((f.field.clone(), self.node(&f.value))),
                        EntryExpr::MapEntry(_) => None,
                    })
                    .collect(),
            ),
            CExpr::Unspecified => Kind::Unspecified,
        };
        Node {
            kind,
            span: self.span_of(e.id),
        }
    }
}

/// The parser's error messages in the language's words.
///
/// The `cel` parser is generated by ANTLR and words its errors ANTLR's way: "mismatched input
/// '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT,
/// NUM_UINT, STRING, BYTES, IDENTIFIER}". No crate translates these, so it is done here: token
/// names become words ("a number", "a name"), constructs the language rejects (`null`, bytes,
/// map literals, leading-dot names) are not offered, and the set of tokens that start an operand
/// is said as "an operand".
mod words {
    /// One ANTLR token, as a reader should see it; `None` for what the language never accepts.
    fn token(t: &str) -> Option<String> {
        let t = t.trim();
        Some(match t {
            "NUM_FLOAT" | "NUM_INT" | "NUM_UINT" => "a number".into(),
            "STRING" => "a string".into(),
            "IDENTIFIER" => "a name".into(),
            "BYTES" | "'null'" | "'{'" | "'.'" => return None,
            "'<EOF>'" | "<EOF>" => "the end of the expression".into(),
            _ => match t.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
                Some(inner) if !inner.is_empty() => format!("`{inner}`"),
                _ => format!("`{t}`"),
            },
        })
    }

    /// The tokens an operand can start with; a set holding all of these is "an operand".
    const OPERAND_START: &[&str] = &["IDENTIFIER", "NUM_INT", "STRING", "'('", "'['"];

    /// `a`, `a or b`, `a, b or c`.
    fn one_of(items: &[String]) -> String {
        match items {
            [] => String::new(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} or {last}", init.join(", ")),
        }
    }

    /// "expecting {'a', B}" or "expecting 'a'" → what a reader should write there.
    fn expected(set: &str) -> String {
        let set = set.trim();
        let inner = set
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(set);
        let raw: Vec<&str> = split_tokens(inner);
        if OPERAND_START
            .iter()
            .all(|t| raw.iter().any(|r| r.trim() == *t))
        {
            return "an operand (a name, a number, a string, `(`, `[`, `-` or `!`)".into();
        }
        let mut words: Vec<String> = Vec::new();
        for t in raw {
            if let Some(w) = token(t)
                && !words.contains(&w)
            {
                words.push(w);
            }
        }
        if words.is_empty() {
            "something else".into()
        } else {
            one_of(&words)
        }
    }

    /// Splits ANTLR's token list at the commas between tokens (a quoted `','` is one token).
    fn split_tokens(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut quoted = false;
        for (i, c) in s.char_indices() {
            match c {
                '\'' => quoted = !quoted,
                ',' if !quoted => {
                    out.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        if !s[start..].trim().is_empty() {
            out.push(&s[start..]);
        }
        out
    }

    /// The input token ANTLR quotes, as a reader should see it.
    fn input(t: &str) -> String {
        match t.trim() {
            "'<EOF>'" | "<EOF>" => "the end of the expression".into(),
            t => {
                let inner = t
                    .strip_prefix('\'')
                    .and_then(|r| r.strip_suffix('\''))
                    .unwrap_or(t);
                format!("`{inner}`")
            }
        }
    }

    pub(super) fn translate(msg: &str) -> String {
        let msg = msg.trim().trim_end_matches('.');
        let msg = msg
            .strip_prefix("Syntax error: ")
            .or_else(|| msg.strip_prefix("syntax error: "))
            .unwrap_or(msg);
        // mismatched input 'X' expecting S  /  extraneous input 'X' expecting S
        for lead in ["mismatched input ", "extraneous input "] {
            if let Some(rest) = msg.strip_prefix(lead)
                && let Some((got, set)) = rest.split_once(" expecting ")
            {
                let got = input(got);
                if got == "the end of the expression" {
                    return format!("the expression ends too early: expected {}", expected(set));
                }
                return format!("unexpected {got}: expected {}", expected(set));
            }
        }
        if let Some(rest) = msg.strip_prefix("missing ")
            && let Some((want, at)) = rest.split_once(" at ")
        {
            let want = token(want).unwrap_or_else(|| "something".into());
            return format!("expected {want} before {}", input(at));
        }
        if let Some(rest) = msg.strip_prefix("no viable alternative at input ") {
            return format!("cannot read {} as an expression", input(rest));
        }
        if let Some(rest) = msg.strip_prefix("token recognition error at: ") {
            let rest = rest.trim();
            let raw = rest
                .strip_prefix('\'')
                .and_then(|r| r.strip_suffix('\''))
                .unwrap_or(rest);
            if raw.starts_with(['"', '\'']) {
                return format!("a string is not closed: {}", input(rest));
            }
            return format!("unexpected character {}", input(rest));
        }
        // The parser's own checks name its internal node types ("incomplete `ExprContext` for
        // `_?_:_` expression"): say what is missing instead.
        if msg.contains("_?_:_") {
            return "`?` needs its `:` part: write `condition ? then : otherwise`".into();
        }
        if msg.contains("Context") {
            return "cannot read this as an expression".into();
        }
        // Anything else (the `cel` parser's own checks, such as reserved words): its text, with
        // ANTLR's quotes as backticks and the first letter lowercase.
        let mut out = String::with_capacity(msg.len());
        let mut rest = msg;
        while let Some(i) = rest.find('\'') {
            let close = rest[i + 1..].find('\'').map(|j| i + 1 + j);
            match close {
                Some(j) if j > i + 1 => {
                    out.push_str(&rest[..i]);
                    out.push_str(&input(&rest[i..=j]));
                    rest = &rest[j + 1..];
                }
                _ => {
                    out.push_str(&rest[..=i]);
                    rest = &rest[i + 1..];
                }
            }
        }
        out.push_str(rest);
        let mut c = out.chars();
        match c.next() {
            Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
            None => "invalid expression".into(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::source::SourceId;

    fn span(text: &str) -> Span {
        Span::new(SourceId::default(), 10, 10 + text.len())
    }

    /// What each malformed expression is reported as: the parser's errors in the language's
    /// words, never ANTLR token names or constructs the language rejects.
    #[test]
    fn syntax_errors_are_in_the_languages_words() {
        let cases = [
            "1 +",
            "(a",
            "a b",
            "a +* b",
            "f(a,",
            "a ? b",
            "a.",
            "[1, 2",
            "a # b",
            "1 + 'x",
            "1 + \"x",
            "a == == b",
            "",
        ];
        let out: Vec<String> = cases
            .iter()
            .map(|c| match parse(c, span(c)) {
                Ok(_) => format!("{c:?} parses"),
                Err(e) => format!("{c:?} at {}: {}", e.offset, e.message),
            })
            .collect();
        for line in &out {
            for banned in ["NUM_", "IDENTIFIER", "BYTES", "STRING", "null", "<EOF>"] {
                assert!(!line.contains(banned), "{line}");
            }
        }
        insta::assert_snapshot!(out.join("\n"));
    }

    /// Guards "one parse": the `cel` crate's parser is called from this file only.
    #[test]
    fn only_this_file_calls_the_cel_parser() {
        fn visit(dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    visit(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if text.contains(concat!("cel::", "parser")) {
                        out.push(path.display().to_string());
                    }
                }
            }
        }
        let mut callers = Vec::new();
        visit(std::path::Path::new("src"), &mut callers);
        assert_eq!(callers, ["src/syntax/cel.rs"]);
    }

    #[test]
    fn nodes_carry_file_spans() {
        let text = "user.age + 1";
        let n = parse(text, span(text)).unwrap();
        let Kind::Call(c) = &n.kind else {
            panic!("{n:?}")
        };
        assert_eq!(c.func_name, "_+_");
        // The operator's span, in file bytes (the expression starts at byte 10).
        assert_eq!((n.span.start, n.span.end), (19, 20));
        assert_eq!(c.args[0].path(), Some(vec!["user", "age"]));
    }
}
