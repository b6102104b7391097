//! `fmt`: the one canonical layout of a `.policy` file. Pure: text in, formatted text (or the
//! syntax diagnostic) out; it never reads or writes files.
//!
//! The layout: 4-space indent, one declaration per line, blocks opened on the declaration's line
//! and closed on their own line, single spaces between tokens, at most one blank line where the
//! source had blank lines (none right inside a brace), one blank line between policies, a single
//! final newline.
//!
//! Printed from the AST, with every comment re-attached in source order:
//! - a comment on the line of the declaration before it stays a trailing comment on that line;
//! - a comment on its own line stays on its own line, before what followed it;
//! - a comment inside a declaration that the layout puts on one line (`a { x: 1, # c` ...) moves
//!   to its own line just above that declaration;
//! - a `#` inside an expression's brackets is part of the expression text and stays there.
//!
//! Expressions are CEL source text and are printed as written (trimmed). A multi-line expression
//! keeps its line breaks; its continuation lines move by as much as its first line moved. CEL
//! strings cannot span lines, so leading whitespace on a continuation line is never inside a
//! string. Literals (numbers, strings) are printed exactly as written, so `1.0` stays `1.0`.
//!
//! Before returning, the result is parsed again and compared with the input: the same syntax
//! tree (spans aside, expression indentation aside) and the same comments, in the same order.
//! A difference is reported as an internal error and the input is left as it was — the formatter
//! never writes a file whose meaning it might have changed.

use crate::diagnostics::{Code, Diagnostic};
use crate::source::{SourceId, Span};
use crate::syntax::visit::{VisitMut, Visitor, walk_mut};
use crate::syntax::{self, ast::*, lex};

const INDENT: usize = 4;

/// Formats one file. `source` is the id its spans (and so any syntax diagnostic) refer to.
/// Its errors are every syntax error of the file, or the one internal error when the output
/// would not mean what the input means.
pub fn format_source(source: SourceId, text: &str) -> Result<String, Vec<Diagnostic>> {
    let file = syntax::parse(source, text)?;
    let out = Printer::new(text, &file).file(&file);
    verify(source, &file, &out).map_err(|d| vec![*d])?;
    Ok(out)
}

/// Formats one file whose diagnostics need no particular source id.
pub fn format(text: &str) -> Result<String, Vec<Diagnostic>> {
    format_source(SourceId(0), text)
}

/// Checks that `out` says exactly what `file` says.
fn verify(source: SourceId, file: &File, out: &str) -> Result<(), Box<Diagnostic>> {
    let internal = |what: &str| {
        Box::new(
            Diagnostic::new(
                Code::Internal,
                format!("internal formatter error: {what}; the file was left unchanged"),
            )
            .label(Span::new(source, 0, 0), "")
            .help("please report this with the file"),
        )
    };
    let again = syntax::parse(source, out).map_err(|errors| {
        let first = errors.first().map_or("", |d| d.message.as_str());
        internal(&format!("the output does not parse ({first})"))
    })?;
    if structure(file) != structure(&again) {
        return Err(internal("the output means something else"));
    }
    let texts = |f: &File| -> Vec<String> {
        f.comments
            .iter()
            .map(|c| c.text.trim_end().to_string())
            .collect()
    };
    if texts(file) != texts(&again) {
        return Err(internal("the output lost or changed a comment"));
    }
    Ok(())
}

/// The syntax tree without spans, each expression reduced to its parsed tree: what a file means,
/// independent of its layout. Compare two with `==`. (An expression that does not parse keeps
/// its text, with the blanks around its line breaks removed.)
pub fn structure(file: &File) -> Vec<Policy> {
    let mut policies = file.policies.clone();
    for p in &mut policies {
        Erase.visit_policy(p);
    }
    policies
}

/// Sets every span to the default; an expression's meaning is its tree, so its text goes, unless
/// it does not parse: then the blanks on either side of its line breaks (the indentation the
/// layout gives continuation lines) go, and the error's offset.
struct Erase;

impl VisitMut for Erase {
    fn visit_expr(&mut self, e: &mut Expr) {
        if let Err(err) = &mut e.tree {
            err.offset = 0;
        } else {
            e.text.clear();
        }
        // The printer re-indents continuation lines and drops trailing blanks and `\r`: blanks
        // on either side of a line break inside an expression are layout, not meaning.
        if e.text.contains('\n') {
            let blank = |c: char| c == ' ' || c == '\t' || c == '\r';
            let mut text = String::with_capacity(e.text.len());
            let mut lines = e.text.split('\n').peekable();
            let mut first = true;
            while let Some(line) = lines.next() {
                let line = if first {
                    line
                } else {
                    line.trim_start_matches(blank)
                };
                let line = if lines.peek().is_some() {
                    line.trim_end_matches(blank)
                } else {
                    line
                };
                if !first {
                    text.push('\n');
                }
                text.push_str(line);
                first = false;
            }
            e.text = text;
        }
        walk_mut::expr(self, e);
    }

    fn visit_span(&mut self, span: &mut Span) {
        *span = Span::default();
    }
}

struct Printer<'a> {
    src: &'a str,
    /// Every comment, in source order.
    comments: &'a [Comment],
    /// The next comment not yet printed.
    next: usize,
    /// Byte ranges of expression text: comments there are part of the expression.
    exprs: Vec<(usize, usize)>,
    out: String,
    /// End of the last thing printed, in the source.
    last_end: usize,
    /// The last output line may take a trailing comment.
    can_trail: bool,
    /// A blank line is due before the next line.
    blank: bool,
    /// The last line opened a block (no blank line right inside a brace).
    just_opened: bool,
}

fn start(s: Span) -> usize {
    s.start as usize
}
fn end(s: Span) -> usize {
    s.end as usize
}

impl<'a> Printer<'a> {
    fn new(src: &'a str, file: &'a File) -> Self {
        let mut exprs = Exprs(Vec::new());
        exprs.visit_file(file);
        let exprs = exprs.0;
        Printer {
            src,
            comments: &file.comments,
            next: 0,
            exprs,
            out: String::new(),
            last_end: 0,
            can_trail: false,
            blank: false,
            just_opened: false,
        }
    }

    fn file(mut self, file: &File) -> String {
        for p in &file.policies {
            self.policy(p);
            // One blank line between policies (and before what follows the last one).
            self.blank = true;
        }
        self.flush(self.src.len(), 0, self.src.len());
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        self.out
    }

    // ---- comments, blank lines, lines ---------------------------------------------------------

    fn in_expr(&self, pos: usize) -> bool {
        self.exprs.iter().any(|&(s, e)| s <= pos && pos < e)
    }

    /// Notes a blank line in the source between the last thing printed and `pos`.
    fn note_gap(&mut self, pos: usize) {
        if pos <= self.last_end {
            return;
        }
        let gap = &self.src[self.last_end..pos];
        let ws: &str = gap
            .find(|c: char| !c.is_whitespace())
            .map_or(gap, |i| &gap[..i]);
        if ws.matches('\n').count() >= 2 {
            self.blank = true;
        }
    }

    /// Prints every comment that starts before `pos`: as a trailing comment when it is on the
    /// source line of the last thing printed and starts before `trail_limit`, else on its own
    /// line at `indent`.
    fn flush(&mut self, pos: usize, indent: usize, trail_limit: usize) {
        while let Some(c) = self.comments.get(self.next) {
            let (cs, ce) = (start(c.span), end(c.span));
            if cs >= pos {
                break;
            }
            self.next += 1;
            if self.in_expr(cs) {
                continue;
            }
            let text = c.text.trim_end();
            let same_line = cs >= self.last_end && !self.src[self.last_end..cs].contains('\n');
            if self.can_trail && same_line && cs < trail_limit {
                if self.out.ends_with('\n') {
                    self.out.pop();
                }
                self.out.push_str(" #");
                self.out.push_str(text);
                self.out.push('\n');
                self.can_trail = false;
            } else {
                self.note_gap(cs);
                self.line(indent, &format!("#{text}"));
                self.can_trail = false;
            }
            self.last_end = self.last_end.max(ce);
        }
    }

    /// Appends one line (which may hold line breaks of a multi-line expression).
    fn line(&mut self, indent: usize, content: &str) {
        if self.blank && !self.just_opened && !self.out.is_empty() {
            self.out.push('\n');
        }
        self.blank = false;
        self.just_opened = false;
        self.out.push_str(&" ".repeat(indent));
        self.out.push_str(content);
        self.out.push('\n');
        self.can_trail = true;
    }

    /// A declaration printed on one line, from `s` to `e` in the source.
    fn leaf(&mut self, s: usize, e: usize, indent: usize, content: &str) {
        let e = self.tight(s, e);
        self.flush(s, indent, s);
        self.note_gap(s);
        // Comments inside a declaration the layout puts on one line go just above it.
        self.flush(e, indent, s);
        self.line(indent, content);
        self.last_end = self.last_end.max(e);
    }

    /// The first line of a block: from `s` to its opening bracket at `open`.
    fn open(&mut self, s: usize, open: usize, indent: usize, head: &str) {
        self.flush(s, indent, s);
        self.note_gap(s);
        self.flush(open, indent, s);
        self.line(indent, head);
        self.last_end = self.last_end.max(open + 1);
        self.just_opened = true;
    }

    /// The last line of a block: its closing bracket at `close`, the block ending at `e`.
    fn close(&mut self, close: usize, e: usize, indent: usize, tail: &str) {
        self.flush(close, indent + INDENT, close);
        self.flush(e, indent + INDENT, close);
        self.blank = false;
        self.just_opened = false;
        self.line(indent, tail);
        self.last_end = self.last_end.max(e);
    }

    /// Whether a comment (outside expressions) starts in `s..e`.
    fn comments_in(&self, s: usize, e: usize) -> bool {
        self.comments[self.next..]
            .iter()
            .map(|c| start(c.span))
            .any(|cs| cs >= s && cs < e && !self.in_expr(cs))
    }

    /// A block: one line if it is empty and holds no comment, else head, body, tail.
    fn block(
        &mut self,
        (s, open, close, e): (usize, usize, usize, usize),
        indent: usize,
        (head, tail): (&str, &str),
        empty: bool,
        body: impl FnOnce(&mut Self),
    ) {
        let e = self.tight(s, e);
        if empty && !self.comments_in(open, close) {
            let brackets = &self.src[open..=close.min(self.src.len().saturating_sub(1))];
            let pair = if brackets.starts_with('[') {
                "[]"
            } else {
                "{}"
            };
            let head = head.strip_suffix(['{', '[']).unwrap_or(head);
            let tail = tail.strip_prefix(['}', ']']).unwrap_or(tail);
            self.leaf(s, e, indent, &format!("{head}{pair}{tail}"));
            return;
        }
        self.open(s, open, indent, head);
        body(self);
        self.close(close, e, indent, tail);
    }

    // ---- source helpers -------------------------------------------------------------------------

    /// The end of the last token in `s..e`. pest lets a rule ending in an optional part (`default?`,
    /// `scope?`, ...) span the whitespace and comments after it; this trims them off.
    fn tight(&self, s: usize, e: usize) -> usize {
        lex::last_significant_end(self.src, s, e)
    }

    fn slice(&self, s: Span) -> &'a str {
        self.src.get(start(s)..end(s)).unwrap_or("").trim()
    }

    /// The position of `ch` as the next token after `pos` (skipping whitespace and comments).
    fn find_token(&self, pos: usize, ch: u8) -> Option<usize> {
        lex::next_significant(self.src, pos)
            .filter(|t| self.src.as_bytes().get(t.start) == Some(&ch))
            .map(|t| t.start)
    }

    /// The indentation width of the source line holding `pos` (a tab counts 4).
    fn line_indent(&self, pos: usize) -> usize {
        let line_start = self.src[..pos.min(self.src.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        indent_width(&self.src[line_start..])
    }

    /// An expression's text for a line at `indent`: continuation lines move with the first.
    fn expr(&self, e: &Expr, indent: usize) -> String {
        if !e.text.contains('\n') {
            return e.text.trim().to_string();
        }
        let delta = indent as isize - self.line_indent(start(e.span)) as isize;
        let mut out = String::new();
        for (i, l) in e.text.lines().enumerate() {
            let l = l.trim_end();
            if i == 0 {
                out.push_str(l.trim_start());
                continue;
            }
            out.push('\n');
            if l.trim().is_empty() {
                continue;
            }
            let w = (indent_width(l) as isize + delta).max(0) as usize;
            out.push_str(&" ".repeat(w));
            out.push_str(l.trim_start());
        }
        out
    }

    fn lit(&self, l: &Literal) -> String {
        match &l.kind {
            LiteralKind::List(items) => {
                let items: Vec<String> = items.iter().map(|i| self.lit(i)).collect();
                format!("[{}]", items.join(", "))
            }
            LiteralKind::Bool(b) => b.to_string(),
            // Numbers and strings exactly as written.
            _ => self.slice(l.span).to_string(),
        }
    }

    // ---- declarations ---------------------------------------------------------------------------

    fn policy(&mut self, p: &Policy) {
        let s = start(p.span);
        let open = self
            .find_token(end(p.name.span), b'{')
            .unwrap_or(end(p.name.span));
        let close = end(p.span).saturating_sub(1);
        let head = format!("policy {} {{", p.name.name);
        self.block(
            (s, open, close, end(p.span)),
            0,
            (&head, "}"),
            p.items.is_empty(),
            |me| {
                for item in &p.items {
                    me.item(item, INDENT);
                }
            },
        );
    }

    fn item(&mut self, item: &Item, ind: usize) {
        match item {
            Item::Meta(m) => {
                let line = format!("{} {}", m.key.name, self.slice(m.value.span));
                self.leaf(start(m.span), end(m.span), ind, &line);
            }
            Item::Context(r) => {
                let (s, e) = (start(r.span), end(r.span));
                self.block(
                    (s, s, e.saturating_sub(1), e),
                    ind,
                    ("context {", "}"),
                    r.fields.is_empty(),
                    |me| me.fields(r, ind + INDENT),
                );
            }
            Item::Subject(sub) => {
                let mut line = format!("subject {}", sub.key.dotted());
                match &sub.zone {
                    Some(Zone::Literal(z)) => {
                        line.push_str(" zone ");
                        line.push_str(self.slice(z.span));
                    }
                    Some(Zone::Field(f)) => {
                        line.push_str(" zone ");
                        line.push_str(&f.dotted());
                    }
                    None => {}
                }
                self.leaf(start(sub.span), end(sub.span), ind, &line);
            }
            Item::Param(p) => {
                let mut line = format!(
                    "param {}: {} = {}",
                    p.name.name,
                    p.ty.0.as_str(),
                    self.lit(&p.value)
                );
                if let Some((lo, hi)) = &p.range {
                    line.push_str(&format!(" in {}..{}", self.lit(lo), self.lit(hi)));
                }
                self.leaf(start(p.span), end(p.span), ind, &line);
            }
            Item::Candidates(c) => self.candidates(c, ind),
            Item::Model(m) => self.model(m, ind),
            Item::Let(l) => {
                let line = format!("let {} = {}", l.name.name, self.expr(&l.value, ind));
                self.leaf(start(l.span), end(l.span), ind, &line);
            }
            Item::Score(e) => {
                let line = format!("score = {}", self.expr(e, ind));
                self.leaf(start(e.span), end(e.span), ind, &line);
            }
            Item::Guard(g) => {
                let line = format!("guard {}: {}", g.name.name, self.guard_kind(&g.kind, ind));
                self.leaf(start(g.span), end(g.span), ind, &line);
            }
            Item::Select(sel) => {
                let kind = match sel.kind {
                    SelectKind::Best => "best".to_string(),
                    SelectKind::Gate => "gate".to_string(),
                    SelectKind::Top(_) => {
                        // The number as written: the select ends with it.
                        let text = self.slice(sel.span);
                        let digits =
                            text.len() - text.bytes().rev().take_while(u8::is_ascii_digit).count();
                        format!("top {}", &text[digits..])
                    }
                };
                let line = format!("select {kind}");
                self.leaf(start(sel.span), end(sel.span), ind, &line);
            }
            Item::Fallback(f) => {
                let line = format!("fallback {}", f.name);
                self.leaf(start(f.span), end(f.span), ind, &line);
            }
            Item::Route(r) => self.route(r, ind),
        }
    }

    fn fields(&mut self, r: &Record, ind: usize) {
        for f in &r.fields {
            let default = f
                .default
                .as_ref()
                .map(|d| format!(" = {}", self.lit(d)))
                .unwrap_or_default();
            let (fs, fe) = (start(f.span), end(f.span));
            match ty_parts(&f.ty) {
                TyParts::Flat(t) => {
                    let line = format!("{}: {t}{default}", f.name.name);
                    self.leaf(fs, fe, ind, &line);
                }
                TyParts::Block {
                    prefix,
                    record,
                    suffix,
                } => {
                    let (os, oe) = (start(record.span), end(record.span));
                    let head = format!("{}: {prefix}{{", f.name.name);
                    let tail = format!("}}{suffix}{default}");
                    self.block(
                        (fs, os, oe.saturating_sub(1), fe),
                        ind,
                        (&head, &tail),
                        record.fields.is_empty(),
                        |me| me.fields(record, ind + INDENT),
                    );
                }
            }
        }
    }

    fn candidates(&mut self, c: &Candidates, ind: usize) {
        let s = start(c.span);
        let e = self.tight(s, end(c.span));
        let mut head = "candidates".to_string();
        let after = match &c.from {
            Some(p) => {
                head.push_str(" from ");
                head.push_str(&p.dotted());
                end(p.span)
            }
            None => s + "candidates".len(),
        };
        let has_list = self.src[s..e].ends_with('}');
        let open = match self.find_token(after, b'{') {
            Some(o) if has_list && o < e => o,
            _ => {
                self.leaf(s, e, ind, &head);
                return;
            }
        };
        head.push_str(" {");
        self.block(
            (s, open, e.saturating_sub(1), e),
            ind,
            (&head, "}"),
            c.list.is_empty(),
            |me| {
                for cand in &c.list {
                    let attrs: Vec<String> = cand
                        .attrs
                        .iter()
                        .map(|(k, v)| format!("{}: {}", k.name, me.lit(v)))
                        .collect();
                    let line = if attrs.is_empty() {
                        format!("{} {{}}", cand.id.name)
                    } else {
                        format!("{} {{ {} }}", cand.id.name, attrs.join(", "))
                    };
                    me.leaf(start(cand.span), end(cand.span), ind + INDENT, &line);
                }
            },
        );
    }

    fn model(&mut self, m: &Model, ind: usize) {
        let (s, e) = (start(m.span), end(m.span));
        let open = self.find_token(end(m.name.span), b'{').unwrap_or(s);
        let head = format!("model {} {{", m.name.name);
        // The model's clauses, in the order they were written.
        enum Clause {
            File,
            Per,
            Inputs,
            Output,
        }
        let mut clauses: Vec<(usize, Clause)> = Vec::new();
        if let Some(f) = &m.file {
            clauses.push((start(f.span), Clause::File));
        }
        if let Some((_, sp)) = &m.per {
            clauses.push((start(*sp), Clause::Per));
        }
        if let Some(sp) = m.inputs_span {
            clauses.push((start(sp), Clause::Inputs));
        }
        if let Some(o) = &m.output {
            clauses.push((start(o.span), Clause::Output));
        }
        clauses.sort_by_key(|c| c.0);
        let inner = ind + INDENT;
        self.block(
            (s, open, e.saturating_sub(1), e),
            ind,
            (&head, "}"),
            clauses.is_empty(),
            |me| {
                for (_, clause) in &clauses {
                    match clause {
                        Clause::File => {
                            if let Some(f) = &m.file {
                                let line = format!("file {}", me.slice(f.span));
                                me.leaf(start(f.span), end(f.span), inner, &line);
                            }
                        }
                        Clause::Per => {
                            if let Some((per, sp)) = &m.per {
                                let per = match per {
                                    Per::Candidate => "candidate",
                                    Per::Request => "request",
                                };
                                me.leaf(start(*sp), end(*sp), inner, &format!("per {per}"));
                            }
                        }
                        Clause::Inputs => {
                            if let Some(sp) = m.inputs_span {
                                me.inputs(&m.inputs, sp, inner);
                            }
                        }
                        Clause::Output => {
                            if let Some(o) = &m.output {
                                let mut line = format!("output {}", o.name.name);
                                if let Some((_, csp)) = &o.column {
                                    line.push_str(&format!("[{}]", me.slice(*csp)));
                                }
                                me.leaf(start(o.span), end(o.span), inner, &line);
                            }
                        }
                    }
                }
            },
        );
    }

    fn inputs(&mut self, inputs: &[Expr], sp: Span, ind: usize) {
        let (s, e) = (start(sp), end(sp));
        let open = self.find_token(s + "inputs".len(), b'[').unwrap_or(s);
        self.block(
            (s, open, e.saturating_sub(1), e),
            ind,
            ("inputs [", "]"),
            inputs.is_empty(),
            |me| {
                for x in inputs {
                    let line = format!("{},", me.expr(x, ind + INDENT));
                    me.leaf(start(x.span), end(x.span), ind + INDENT, &line);
                }
            },
        );
    }

    fn guard_kind(&self, k: &GuardKind, ind: usize) -> String {
        let scope = |s: &Scope| match s {
            Scope::All => String::new(),
            Scope::Candidate(_) => " by candidate".to_string(),
            Scope::Attr(a) => format!(" by candidate.{}", a.name),
        };
        match k {
            GuardKind::Cap {
                limit,
                window,
                scope: sc,
            } => {
                let window = match window {
                    Window::Day(_) => "day".to_string(),
                    Window::Rolling(d) => d.value.clone(),
                };
                format!("cap {} per {window}{}", self.slice(limit.1), scope(sc))
            }
            GuardKind::Gap {
                duration,
                scope: sc,
            } => format!("gap {}{}", duration.value, scope(sc)),
            GuardKind::Quiet { start, end } => format!("quiet {} to {}", start.value, end.value),
            GuardKind::Require(e) => format!("require {}", self.expr(e, ind)),
        }
    }

    fn route(&mut self, r: &Route, ind: usize) {
        let (s, e) = (start(r.span), end(r.span));
        let open = self.find_token(s + "route".len(), b'{').unwrap_or(s);
        self.block(
            (s, open, e.saturating_sub(1), e),
            ind,
            ("route {", "}"),
            r.rules.is_empty() && r.otherwise.is_none(),
            |me| {
                let inner = ind + INDENT;
                for rule in &r.rules {
                    let line = format!(
                        "when {} -> {}",
                        me.expr(&rule.when, inner),
                        rule.target.name
                    );
                    me.leaf(start(rule.span), end(rule.span), inner, &line);
                }
                if let Some(o) = &r.otherwise {
                    let line = format!("otherwise -> {}", o.name);
                    me.leaf(start(o.span), end(o.span), inner, &line);
                }
            },
        );
    }
}

/// A field's type: on one line, or around a record printed as a block.
enum TyParts<'r> {
    Flat(String),
    Block {
        prefix: String,
        record: &'r Record,
        suffix: String,
    },
}

fn ty_parts(t: &TypeExpr) -> TyParts<'_> {
    let opt = if t.optional { "?" } else { "" };
    match &t.kind {
        TypeKind::Scalar(s) => TyParts::Flat(format!("{}{opt}", s.as_str())),
        TypeKind::List(inner) => match ty_parts(inner) {
            TyParts::Flat(s) => TyParts::Flat(format!("list<{s}>{opt}")),
            TyParts::Block {
                prefix,
                record,
                suffix,
            } => TyParts::Block {
                prefix: format!("list<{prefix}"),
                record,
                suffix: format!("{suffix}>{opt}"),
            },
        },
        TypeKind::Record(record) => TyParts::Block {
            prefix: String::new(),
            record,
            suffix: opt.to_string(),
        },
    }
}

fn indent_width(line: &str) -> usize {
    line.chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .map(|c| if c == '\t' { 4 } else { 1 })
        .sum()
}

/// The byte range of every expression of a file, in source order.
struct Exprs(Vec<(usize, usize)>);

impl Visitor for Exprs {
    fn visit_expr(&mut self, e: &Expr) {
        self.0.push((start(e.span), end(e.span)));
    }
}
