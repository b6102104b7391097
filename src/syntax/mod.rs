//! `syntax`: `.policy` source → [`ast::File`] with spans, every expression parsed once into a
//! [`cel::Node`] tree. Knows nothing of models, CEL values or IO.

pub mod ast;
pub mod cel;
pub mod lex;
pub mod limits;
pub mod names;
pub mod visit;

use crate::diagnostics::{Code, Diagnostic};
use crate::source::{SourceId, Span};
use ast::*;
use pest::Parser as _;
use pest::iterators::Pair;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/policy.pest"]
struct PolicyParser;

/// At most this many syntax errors are reported for one file.
pub const MAX_SYNTAX_ERRORS: usize = 20;

/// Parses one file. On syntax errors, returns every one it finds (at least one, at most
/// [`MAX_SYNTAX_ERRORS`]), in order; other files of a set are still parsed and checked.
///
/// pest stops at the first error, so recovery is done here, by hand (pest has no recovery and no
/// crate adds it): the declaration holding the error is blanked (every byte but newlines becomes
/// a space, so offsets, lines and columns stay those of the file) and the text parsed again,
/// until it parses or an error makes no progress. A declaration runs from the line of its
/// keyword (`guard`, `model`, ...) to the next declaration or the policy's closing brace.
///
/// Before anything recurses, the file's nesting is bounded ([`limits::nesting`], `P0005`), and
/// each expression's length before the `cel` parser reads it ([`limits::expression`], `P0006`).
pub fn parse(source: SourceId, text: &str) -> Result<File, Vec<Diagnostic>> {
    limits::nesting(source, text).map_err(|d| vec![*d])?;
    let first = match parse_once(source, text) {
        Ok(file) => return Ok(file),
        Err(d) => *d,
    };
    let mut errors = vec![first];
    let mut masked = text.as_bytes().to_vec();
    while errors.len() < MAX_SYNTAX_ERRORS {
        let at = errors
            .last()
            .and_then(Diagnostic::primary_span)
            .map_or(text.len(), |s| s.start as usize);
        let (from, to) = declaration_around(&masked, at);
        if from >= to {
            break;
        }
        for b in &mut masked[from..to] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
        // Only ASCII spaces replaced whole lines, so the text is still UTF-8.
        let Ok(again) = std::str::from_utf8(&masked) else {
            break;
        };
        match parse_once(source, again) {
            Ok(_) => break,
            Err(d) => {
                // Recovery must move forward, or it would report one error again and again.
                let next = d.primary_span().map_or(text.len(), |s| s.start as usize);
                if next <= at || next < to {
                    break;
                }
                errors.push(*d);
            }
        }
    }
    Err(errors)
}

/// Item keywords: a line starting with one of these (not followed by `:`, which makes it a field
/// or attribute of that name) starts a declaration.
const DECLARATIONS: &[&str] = &[
    "version",
    "owner",
    "description",
    "context",
    "subject",
    "param",
    "candidates",
    "model",
    "let",
    "score",
    "guard",
    "select",
    "fallback",
    "route",
];

/// What starts a line, for recovery: a declaration keyword, `policy`, a closing brace in
/// column 0 (a policy's end), or anything else.
#[derive(PartialEq)]
enum LineStart {
    Declaration,
    Policy,
    PolicyEnd,
    Other,
}

fn line_start_kind(line: &[u8]) -> LineStart {
    if line.first() == Some(&b'}') {
        return LineStart::PolicyEnd;
    }
    let trimmed = line.trim_ascii_start();
    let word_len = trimmed
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    let (word, rest) = trimmed.split_at(word_len);
    if rest.trim_ascii_start().first() == Some(&b':') {
        return LineStart::Other;
    }
    if word == b"policy" {
        LineStart::Policy
    } else if DECLARATIONS.iter().any(|k| k.as_bytes() == word) {
        LineStart::Declaration
    } else {
        LineStart::Other
    }
}

/// The byte range of the lines of the declaration holding offset `at`: from the start of the
/// line of its keyword (or of `at`'s line when there is none above it) to the start of the line
/// of the next declaration, policy or policy end (or the end of the text). When `at` is the
/// first token of a policy's closing brace or of the next `policy`, the declaration before it is
/// the one left unfinished, and the brace or header is kept.
fn declaration_around(text: &[u8], at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let line_of = |i: usize| {
        text[..i]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1)
    };
    let line_end = |start: usize| {
        text[start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(text.len(), |p| start + p)
    };
    let here = line_of(at);
    let kind_here = line_start_kind(&text[here..line_end(here)]);
    let first_token = text[here..at].iter().all(u8::is_ascii_whitespace);
    if first_token && matches!(kind_here, LineStart::PolicyEnd | LineStart::Policy) {
        let mut l = here;
        while l > 0 {
            l = line_of(l - 1);
            match line_start_kind(&text[l..line_end(l)]) {
                LineStart::Declaration => return (l, here),
                LineStart::Other => {}
                LineStart::Policy | LineStart::PolicyEnd => break,
            }
        }
        return (here, here);
    }
    let mut from = here;
    let mut l = here;
    loop {
        match line_start_kind(&text[l..line_end(l)]) {
            LineStart::Declaration | LineStart::Policy => {
                from = l;
                break;
            }
            LineStart::PolicyEnd if l != here => break,
            _ => {}
        }
        if l == 0 {
            break;
        }
        l = line_of(l - 1);
    }
    let mut to = line_end(here);
    while to < text.len() {
        let next = to + 1;
        if line_start_kind(&text[next..line_end(next)]) != LineStart::Other {
            to = next;
            break;
        }
        to = line_end(next);
    }
    (from, to.min(text.len()))
}

fn parse_once(source: SourceId, text: &str) -> Result<File, Box<Diagnostic>> {
    let mut pairs = PolicyParser::parse(Rule::file, text)
        .map_err(|e| Box::new(syntax_error(source, text, e)))?;
    let b = Builder { source };
    let file = pairs.next().ok_or_else(|| b.internal(0, "empty parse"))?;
    let mut policies = Vec::new();
    for p in inner(file) {
        if p.as_rule() == Rule::policy {
            policies.push(b.policy(p)?);
        }
    }
    Ok(File {
        source,
        policies,
        comments: comments(source, text),
    })
}

struct Builder {
    source: SourceId,
}

type R<T> = Result<T, Box<Diagnostic>>;

impl Builder {
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.source, s.start(), s.end())
    }
    fn internal(&self, at: usize, what: &str) -> Box<Diagnostic> {
        Box::new(
            Diagnostic::new(Code::Internal, format!("internal parser error: {what}"))
                .label(Span::new(self.source, at, at), ""),
        )
    }
    fn next<'i>(
        &self,
        it: &mut impl Iterator<Item = Pair<'i, Rule>>,
        parent: &Pair<'i, Rule>,
    ) -> R<Pair<'i, Rule>> {
        it.next()
            .ok_or_else(|| self.internal(parent.as_span().start(), "unexpected end of node"))
    }
    /// Children without keyword and punctuation tokens.
    fn significant<'i>(&self, p: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
        inner(p)
    }
    fn ident(&self, p: Pair<Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }
    fn string(&self, p: Pair<Rule>) -> Str {
        let span = self.span(&p);
        let raw = inner(p)
            .next()
            .map(|b| b.as_str().to_string())
            .unwrap_or_default();
        Str {
            value: unescape(&raw),
            span,
        }
    }
    fn path(&self, p: Pair<Rule>) -> Path {
        Path {
            segments: p.as_str().split('.').map(str::to_string).collect(),
            span: self.span(&p),
        }
    }
    /// An expression slice, parsed by the `cel` parser once its length is known to be within
    /// [`limits::MAX_EXPRESSION_TOKENS`].
    fn expr(&self, p: Pair<Rule>) -> R<Expr> {
        let span = self.span(&p);
        let text = p.as_str();
        let trimmed = text.trim_end();
        let span = span.sub(0, trimmed.len());
        limits::expression(trimmed, span)?;
        Ok(Expr {
            text: trimmed.to_string(),
            span,
            tree: cel::parse(trimmed, span),
        })
    }

    fn policy(&self, p: Pair<Rule>) -> R<Policy> {
        let span = self.span(&p);
        let mut it = self.significant(p.clone());
        let name = self.ident(
            it.next()
                .ok_or_else(|| self.internal(span.start as usize, "policy name"))?,
        );
        let mut items = Vec::new();
        for item in it {
            items.push(self.item(item)?);
        }
        Ok(Policy { name, span, items })
    }

    fn item(&self, p: Pair<Rule>) -> R<Item> {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut it = self.significant(p.clone());
        let mut next = || {
            it.next()
                .ok_or_else(|| self.internal(span.start as usize, "item"))
        };
        Ok(match rule {
            Rule::meta => {
                let key = self.ident(next()?);
                let value = self.string(next()?);
                Item::Meta(Meta { key, value, span })
            }
            Rule::context_block => Item::Context(self.record(next()?)?),
            Rule::subject => {
                let key = self.path(next()?);
                let zone = match it.next() {
                    Some(z) if z.as_rule() == Rule::string => Some(Zone::Literal(self.string(z))),
                    Some(z) => Some(Zone::Field(self.path(z))),
                    None => None,
                };
                Item::Subject(Subject { key, zone, span })
            }
            Rule::param => {
                let name = self.ident(next()?);
                let ty_pair = next()?;
                let ty = (scalar(ty_pair.as_str()), self.span(&ty_pair));
                let value = self.number(next()?);
                let range = match it.next() {
                    Some(r) => {
                        let mut ri = self.significant(r.clone());
                        let lo = self.number(self.next(&mut ri, &r)?);
                        let hi = self.number(self.next(&mut ri, &r)?);
                        Some((lo, hi))
                    }
                    None => None,
                };
                Item::Param(Param {
                    name,
                    ty,
                    value,
                    range,
                    span,
                })
            }
            Rule::candidates => {
                let mut from = None;
                let mut list = Vec::new();
                for c in it {
                    match c.as_rule() {
                        Rule::from_clause => {
                            let mut fi = self.significant(c.clone());
                            from = Some(self.path(self.next(&mut fi, &c)?));
                        }
                        Rule::candidate_list => {
                            for cand in inner(c) {
                                list.push(self.candidate(cand)?);
                            }
                        }
                        _ => {}
                    }
                }
                Item::Candidates(Candidates { from, list, span })
            }
            Rule::model => Item::Model(self.model(p)?),
            Rule::let_item => {
                let name = self.ident(next()?);
                let value = self.expr(next()?)?;
                Item::Let(Let { name, value, span })
            }
            Rule::score_item => Item::Score(self.expr(next()?)?),
            Rule::guard => {
                let name = self.ident(next()?);
                let kind = self.guard_kind(next()?)?;
                Item::Guard(Guard { name, kind, span })
            }
            Rule::select => {
                let k = next()?;
                let kind = match k.as_rule() {
                    Rule::select_top => {
                        let mut ki = self.significant(k.clone());
                        let n = self.next(&mut ki, &k)?;
                        SelectKind::Top(n.as_str().parse().unwrap_or(usize::MAX))
                    }
                    Rule::select_gate => SelectKind::Gate,
                    _ => SelectKind::Best,
                };
                Item::Select(Select { kind, span })
            }
            Rule::fallback => Item::Fallback(self.ident(next()?)),
            Rule::route => {
                let mut rules = Vec::new();
                let mut otherwise = None;
                for r in it {
                    let rspan = self.span(&r);
                    let is_rule = r.as_rule() == Rule::route_rule;
                    let mut ri = self.significant(r.clone());
                    if is_rule {
                        let when = self.expr(self.next(&mut ri, &r)?)?;
                        let target = self.ident(self.next(&mut ri, &r)?);
                        rules.push(RouteRule {
                            when,
                            target,
                            span: rspan,
                        });
                    } else {
                        otherwise = Some(self.ident(self.next(&mut ri, &r)?));
                    }
                }
                Item::Route(Route {
                    rules,
                    otherwise,
                    span,
                })
            }
            _ => return Err(self.internal(span.start as usize, "unknown item")),
        })
    }

    fn record(&self, p: Pair<Rule>) -> R<Record> {
        let span = self.span(&p);
        let mut fields = Vec::new();
        for f in inner(p) {
            let fspan = self.span(&f);
            let mut fi = inner(f.clone());
            let name = self.ident(self.next(&mut fi, &f)?);
            let ty = self.type_expr(self.next(&mut fi, &f)?)?;
            let default = match fi.next() {
                Some(d) => {
                    let mut di = inner(d.clone());
                    Some(self.literal(self.next(&mut di, &d)?)?)
                }
                None => None,
            };
            fields.push(Field {
                name,
                ty,
                default,
                span: fspan,
            });
        }
        Ok(Record { fields, span })
    }

    fn type_expr(&self, p: Pair<Rule>) -> R<TypeExpr> {
        let span = self.span(&p);
        let mut it = inner(p.clone());
        let k = self.next(&mut it, &p)?;
        let optional = it.next().is_some();
        let kind = match k.as_rule() {
            Rule::record_type => TypeKind::Record(self.record(k)?),
            Rule::list_type => {
                let mut li = self.significant(k.clone());
                TypeKind::List(Box::new(self.type_expr(self.next(&mut li, &k)?)?))
            }
            _ => TypeKind::Scalar(scalar(k.as_str())),
        };
        Ok(TypeExpr {
            kind,
            optional,
            span,
        })
    }

    fn number(&self, p: Pair<Rule>) -> Literal {
        let span = self.span(&p);
        let s = p.as_str();
        let kind = if s.contains(['.', 'e', 'E']) {
            LiteralKind::Float(s.parse().unwrap_or(f64::NAN))
        } else {
            match s.parse::<i64>() {
                Ok(i) => LiteralKind::Int(i),
                Err(_) => LiteralKind::Float(s.parse().unwrap_or(f64::NAN)),
            }
        };
        Literal { kind, span }
    }

    fn literal(&self, p: Pair<Rule>) -> R<Literal> {
        let span = self.span(&p);
        let lit = match p.as_rule() {
            Rule::literal => {
                let mut it = inner(p.clone());
                self.next(&mut it, &p)?
            }
            _ => p,
        };
        Ok(match lit.as_rule() {
            Rule::number => self.number(lit),
            Rule::string => Literal {
                kind: LiteralKind::Str(self.string(lit).value),
                span,
            },
            Rule::bool_lit => Literal {
                kind: LiteralKind::Bool(lit.as_str() == "true"),
                span,
            },
            Rule::list_lit => {
                let mut items = Vec::new();
                for l in inner(lit) {
                    items.push(self.literal(l)?);
                }
                Literal {
                    kind: LiteralKind::List(items),
                    span,
                }
            }
            _ => return Err(self.internal(span.start as usize, "literal")),
        })
    }

    fn candidate(&self, p: Pair<Rule>) -> R<Candidate> {
        let span = self.span(&p);
        let mut it = inner(p.clone());
        let id = self.ident(self.next(&mut it, &p)?);
        let mut attrs = Vec::new();
        for a in it {
            let mut ai = inner(a.clone());
            let name = self.ident(self.next(&mut ai, &a)?);
            let value = self.literal(self.next(&mut ai, &a)?)?;
            attrs.push((name, value));
        }
        Ok(Candidate { id, attrs, span })
    }

    fn model(&self, p: Pair<Rule>) -> R<Model> {
        let span = self.span(&p);
        let mut it = self.significant(p.clone());
        let name = self.ident(self.next(&mut it, &p)?);
        let mut m = Model {
            name,
            file: None,
            per: None,
            inputs: Vec::new(),
            inputs_span: None,
            output: None,
            span,
        };
        for item in it {
            let ispan = self.span(&item);
            match item.as_rule() {
                Rule::model_file => {
                    let mut fi = self.significant(item.clone());
                    m.file = Some(self.string(self.next(&mut fi, &item)?));
                }
                Rule::model_per => {
                    let per = if item.as_str().trim_end().ends_with("candidate") {
                        Per::Candidate
                    } else {
                        Per::Request
                    };
                    m.per = Some((per, ispan));
                }
                Rule::model_inputs => {
                    m.inputs_span = Some(ispan);
                    m.inputs = self
                        .significant(item)
                        .map(|e| self.expr(e))
                        .collect::<R<Vec<_>>>()?;
                }
                Rule::model_output => {
                    let mut oi = self.significant(item.clone());
                    let name = self.ident(self.next(&mut oi, &item)?);
                    let column = oi
                        .next()
                        .map(|c| (c.as_str().parse().unwrap_or(usize::MAX), self.span(&c)));
                    m.output = Some(ModelOutput {
                        name,
                        column,
                        span: ispan,
                    });
                }
                _ => {}
            }
        }
        Ok(m)
    }

    fn guard_kind(&self, p: Pair<Rule>) -> R<GuardKind> {
        let rule = p.as_rule();
        let mut it = self.significant(p.clone());
        Ok(match rule {
            Rule::cap_guard => {
                let n = self.next(&mut it, &p)?;
                let limit = (n.as_str().parse().unwrap_or(u64::MAX), self.span(&n));
                let w = self.next(&mut it, &p)?;
                let wspan = self.span(&w);
                let window = match inner(w).next() {
                    Some(d) if d.as_rule() == Rule::duration => Window::Rolling(Str {
                        value: d.as_str().to_string(),
                        span: wspan,
                    }),
                    _ => Window::Day(wspan),
                };
                let scope = self.scope(it.next())?;
                GuardKind::Cap {
                    limit,
                    window,
                    scope,
                }
            }
            Rule::gap_guard => {
                let d = self.next(&mut it, &p)?;
                let duration = Str {
                    value: d.as_str().to_string(),
                    span: self.span(&d),
                };
                GuardKind::Gap {
                    duration,
                    scope: self.scope(it.next())?,
                }
            }
            Rule::quiet_guard => {
                let a = self.next(&mut it, &p)?;
                let b = self.next(&mut it, &p)?;
                GuardKind::Quiet {
                    start: Str {
                        value: a.as_str().to_string(),
                        span: self.span(&a),
                    },
                    end: Str {
                        value: b.as_str().to_string(),
                        span: self.span(&b),
                    },
                }
            }
            _ => GuardKind::Require(self.expr(self.next(&mut it, &p)?)?),
        })
    }

    fn scope(&self, p: Option<Pair<Rule>>) -> R<Scope> {
        let Some(p) = p else { return Ok(Scope::All) };
        let mut it = self.significant(p.clone());
        match it.next() {
            Some(a) if a.as_rule() == Rule::scope_attr => {
                let span = self.span(&a);
                let name = a.as_str().trim_start_matches("candidate.").to_string();
                let offset = "candidate.".len();
                Ok(Scope::Attr(Ident {
                    name,
                    span: span.sub(offset, span.len()),
                }))
            }
            _ => {
                // `by candidate`: the keyword itself was filtered out; point at the whole scope.
                Ok(Scope::Candidate(self.span(&p)))
            }
        }
    }
}

fn scalar(s: &str) -> Scalar {
    match s {
        "int" => Scalar::Int,
        "float" => Scalar::Float,
        "bool" => Scalar::Bool,
        "timestamp" => Scalar::Timestamp,
        _ => Scalar::String,
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Children without keyword and punctuation tokens.
fn inner(p: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    p.into_inner().filter(|c| !is_keyword(c.as_rule()))
}

fn is_keyword(r: Rule) -> bool {
    matches!(
        r,
        Rule::lbrace
            | Rule::rbrace
            | Rule::lbracket
            | Rule::rbracket
            | Rule::langle
            | Rule::rangle
            | Rule::colon
            | Rule::eq
            | Rule::arrow
            | Rule::dotdot
            | Rule::kw_policy
            | Rule::kw_context
            | Rule::kw_list
            | Rule::kw_subject
            | Rule::kw_zone
            | Rule::kw_param
            | Rule::kw_in
            | Rule::kw_candidates
            | Rule::kw_from
            | Rule::kw_model
            | Rule::kw_file
            | Rule::kw_per
            | Rule::kw_request
            | Rule::kw_inputs
            | Rule::kw_output
            | Rule::kw_let
            | Rule::kw_score
            | Rule::kw_guard
            | Rule::kw_cap
            | Rule::kw_gap
            | Rule::kw_quiet
            | Rule::kw_to
            | Rule::kw_require
            | Rule::kw_by
            | Rule::kw_select
            | Rule::kw_best
            | Rule::kw_top
            | Rule::kw_gate
            | Rule::kw_fallback
            | Rule::kw_route
            | Rule::kw_when
            | Rule::kw_otherwise
    )
}

/// Finds every `#` comment, skipping `#` inside string literals.
pub fn comments(source: SourceId, text: &str) -> Vec<Comment> {
    lex::tokens(text)
        .filter(|t| t.kind == lex::Kind::Comment)
        .map(|t| Comment {
            span: t.span(source),
            text: t.text(text).get(1..).unwrap_or("").to_string(),
        })
        .collect()
}

/// The name of a grammar rule in the language's own words, for error messages.
fn describe_rule(rule: &Rule) -> String {
    let s = match rule {
        Rule::EOI => "end of file",
        Rule::policy | Rule::kw_policy => "`policy`",
        Rule::ident => "a name",
        Rule::path => "a field name such as `user.id`",
        Rule::meta | Rule::meta_key => "`version`, `owner` or `description`",
        Rule::context_block | Rule::kw_context => "`context`",
        Rule::subject | Rule::kw_subject => "`subject`",
        Rule::param | Rule::kw_param => "`param`",
        Rule::candidates | Rule::kw_candidates => "`candidates`",
        Rule::model | Rule::kw_model => "`model`",
        Rule::let_item | Rule::kw_let => "`let`",
        Rule::score_item | Rule::kw_score => "`score`",
        Rule::guard | Rule::kw_guard => "`guard`",
        Rule::select | Rule::kw_select => "`select`",
        Rule::fallback | Rule::kw_fallback => "`fallback`",
        Rule::route | Rule::kw_route => "`route`",
        Rule::record_type => "a record `{ ... }`",
        Rule::field => "a field `name: type`",
        Rule::type_expr => "a type",
        Rule::scalar_type => {
            "a type (`string`, `int`, `float`, `bool`, `timestamp`, `list<T>` or `{ ... }`)"
        }
        Rule::list_type | Rule::kw_list => "`list<T>`",
        Rule::optional_mark => "`?`",
        Rule::default => "`= default`",
        Rule::literal => "a literal (number, string, bool or list)",
        Rule::list_lit => "a list literal",
        Rule::bool_lit => "`true` or `false`",
        Rule::number => "a number",
        Rule::int => "a whole number",
        Rule::string | Rule::string_body => "a string in double quotes",
        Rule::kw_zone => "`zone`",
        Rule::range | Rule::kw_in => "`in LOW..HIGH`",
        Rule::from_clause | Rule::kw_from => "`from`",
        Rule::candidate_list => "a candidate list `{ ... }`",
        Rule::candidate => "a candidate `id { attr: value }`",
        Rule::attr => "an attribute `name: value`",
        Rule::model_file | Rule::kw_file => "`file`",
        Rule::model_per | Rule::kw_per => "`per`",
        Rule::kw_candidate => "`candidate`",
        Rule::kw_request => "`request`",
        Rule::model_inputs | Rule::kw_inputs => "`inputs`",
        Rule::model_output | Rule::kw_output => "`output`",
        Rule::cap_guard | Rule::kw_cap => "`cap`",
        Rule::gap_guard | Rule::kw_gap => "`gap`",
        Rule::quiet_guard | Rule::kw_quiet => "`quiet`",
        Rule::require_guard | Rule::kw_require => "`require`",
        Rule::kw_to => "`to`",
        Rule::window | Rule::kw_day => "a window (`day` or a duration such as `24h`)",
        Rule::duration => "a duration such as `8h`",
        Rule::time_of_day => "a time of day such as `22:00`",
        Rule::scope | Rule::kw_by => "`by candidate` or `by candidate.attribute`",
        Rule::scope_attr => "`candidate.attribute`",
        Rule::select_best | Rule::kw_best => "`best`",
        Rule::select_top | Rule::kw_top => "`top N`",
        Rule::select_gate | Rule::kw_gate => "`gate`",
        Rule::route_rule | Rule::kw_when => "`when`",
        Rule::route_otherwise | Rule::kw_otherwise => "`otherwise`",
        Rule::line_expr | Rule::list_expr | Rule::route_expr => "an expression",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::lbracket => "`[`",
        Rule::rbracket => "`]`",
        Rule::langle => "`<`",
        Rule::rangle => "`>`",
        Rule::colon => "`:`",
        Rule::eq => "`=`",
        Rule::arrow => "`->`",
        Rule::dotdot => "`..`",
        _ => "more input",
    };
    s.to_string()
}

fn syntax_error(source: SourceId, text: &str, e: pest::error::Error<Rule>) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    if let Some(d) = unclosed(source, text, pos) {
        return d;
    }
    let found = found_at(text, pos);
    let (message, expected) = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<String> = positives.iter().map(describe_rule).collect();
            names.sort();
            names.dedup();
            let list = join_or(&names);
            (format!("expected {list}, found {found}"), list)
        }
        ErrorVariant::CustomError { message } => (message.clone(), String::new()),
    };
    let end = (pos + found_len(text, pos)).min(text.len());
    // A custom error (pest's own stack or call limit) expects nothing in particular.
    let label = if expected.is_empty() {
        "here".to_string()
    } else {
        format!("expected {expected} here")
    };
    let mut d = Diagnostic::new(Code::Syntax, message).label(Span::new(source, pos, end), label);
    if let Some(h) = syntax_help(text, pos) {
        d = d.help(h);
    }
    d
}

/// When the parser stops at an opening bracket or a quote that is never closed, that is the
/// error to report, at the bracket or quote itself (the grammar fails an unclosed one at once,
/// so this is where parsing stops). Read with [`lex`]: strings and comments as every pass sees
/// them, a closing bracket closing the innermost open one.
fn unclosed(source: SourceId, text: &str, pos: usize) -> Option<Diagnostic> {
    let first = text.as_bytes().get(pos).copied()?;
    if !matches!(first, b'(' | b'[' | b'{' | b'"' | b'\'') {
        return None;
    }
    // The token at `pos`, read from the start so that strings and comments are known.
    let at = lex::tokens(text).find(|t| t.end > pos)?;
    if at.start != pos {
        return None;
    }
    let closing = |open: &str| match open {
        "(" => ")",
        "[" => "]",
        _ => "}",
    };
    let never_closed = |t: lex::Token| {
        let open = t.text(text);
        Diagnostic::new(Code::Syntax, format!("`{open}` is never closed"))
            .label(
                t.span(source),
                format!("this `{open}` has no matching `{}`", closing(open)),
            )
            .help(format!("close it with `{}`", closing(open)))
    };
    let mut open: Vec<lex::Token> = Vec::new();
    for t in lex::tokens_from(text, pos) {
        match t.kind {
            lex::Kind::Str { closed: false, .. } => {
                let quote = t.text(text).get(..1).unwrap_or("\"");
                let d = Diagnostic::new(Code::Syntax, "unterminated string")
                    .label(
                        Span::new(source, t.start, t.start + 1),
                        format!("this string has no closing `{quote}` on its line"),
                    )
                    .help(format!(
                        "end the string with `{quote}` before the end of the line"
                    ));
                return Some(d);
            }
            lex::Kind::Str { .. } if open.is_empty() => return None,
            lex::Kind::Punct => match t.text(text) {
                "(" | "[" | "{" => open.push(t),
                c @ (")" | "]" | "}") => {
                    let top = open.pop()?;
                    if closing(top.text(text)) != c {
                        return Some(never_closed(top));
                    }
                    if open.is_empty() {
                        return None;
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    open.first().map(|t| never_closed(*t))
}

fn syntax_help(text: &str, pos: usize) -> Option<String> {
    let line_start = text[..pos.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim_start();
    if line.starts_with("guard") && !line.contains(':') {
        return Some("a guard is written `guard NAME: cap|gap|quiet|require ...`".into());
    }
    if line.starts_with("guard") {
        return Some("guards are `cap N per WINDOW`, `gap DURATION`, `quiet HH:MM to HH:MM` or `require EXPR`".into());
    }
    None
}

fn join_or(names: &[String]) -> String {
    match names.len() {
        0 => "something else".into(),
        1 => names[0].clone(),
        n => format!("{} or {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

fn found_len(text: &str, pos: usize) -> usize {
    let rest = &text[pos.min(text.len())..];
    let word: usize = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum();
    if word > 0 {
        word
    } else {
        rest.chars().next().map_or(0, char::len_utf8)
    }
}

fn found_at(text: &str, pos: usize) -> String {
    let rest = &text[pos.min(text.len())..];
    match rest.chars().next() {
        None => "end of file".into(),
        Some('\n') => "end of line".into(),
        Some(_) => {
            let word = &rest[..found_len(text, pos)];
            // A long word is named by its start, so the message stays one line.
            match word.char_indices().nth(FOUND_CHARS) {
                Some((cut, _)) => format!("`{}\u{2026}`", &word[..cut]),
                None => format!("`{word}`"),
            }
        }
    }
}

/// The most characters of the text at an error that a syntax error's message quotes.
const FOUND_CHARS: usize = 40;
