//! Canonical one-line text of syntax-tree pieces: literals, expressions, types, guards, models,
//! selections. Shared by [`crate::graph`] (node labels) and [`crate::diff`] (old → new), so both
//! print a definition the same way, independent of the file's layout and comments.

use crate::syntax::ast::{
    Expr, GuardKind, Literal, LiteralKind, Model, Per, Scope, SelectKind, TypeExpr, TypeKind,
    Window,
};
use crate::syntax::lex;

/// An expression's text with runs of whitespace outside string literals collapsed to one space:
/// reformatting an expression does not change it.
pub fn expr(e: &Expr) -> String {
    normalize(&e.text)
}

pub fn normalize(text: &str) -> String {
    let text = text.trim();
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for t in lex::tokens(text) {
        let tok = t.text(text);
        if let lex::Kind::Str { .. } = t.kind {
            // A string literal is kept as written, spaces and all.
            separate(&mut out, &mut space, tok.chars().next().unwrap_or('"'));
            out.push_str(tok);
            continue;
        }
        for ch in tok.chars() {
            if ch.is_whitespace() {
                space = true;
                continue;
            }
            separate(&mut out, &mut space, ch);
            out.push(ch);
        }
    }
    out
}

/// Before `next`: one space if whitespace was skipped, except after an opening or before a
/// closing bracket, or before a comma.
fn separate(out: &mut String, space: &mut bool, next: char) {
    if std::mem::take(space) {
        let last = out.chars().last();
        if !matches!(last, Some('(' | '[' | '{') | None) && !matches!(next, ')' | ']' | '}' | ',') {
            out.push(' ');
        }
    }
}

pub fn literal(l: &Literal) -> String {
    match &l.kind {
        LiteralKind::Int(i) => i.to_string(),
        LiteralKind::Float(f) if f.is_finite() && f.fract() == 0.0 => format!("{f:.1}"),
        LiteralKind::Float(f) => f.to_string(),
        LiteralKind::Str(s) => serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}")),
        LiteralKind::Bool(b) => b.to_string(),
        LiteralKind::List(items) => format!(
            "[{}]",
            items.iter().map(literal).collect::<Vec<_>>().join(", ")
        ),
    }
}

pub fn ty(t: &TypeExpr) -> String {
    let base = match &t.kind {
        TypeKind::Scalar(s) => s.as_str().to_string(),
        TypeKind::List(inner) => format!("list<{}>", ty(inner)),
        TypeKind::Record(r) => format!(
            "{{ {} }}",
            r.fields
                .iter()
                .map(|f| {
                    let mut s = format!("{}: {}", f.name.name, ty(&f.ty));
                    if let Some(d) = &f.default {
                        s.push_str(&format!(" = {}", literal(d)));
                    }
                    s
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    if t.optional { format!("{base}?") } else { base }
}

fn scope(s: &Scope) -> String {
    match s {
        Scope::All => String::new(),
        Scope::Candidate(_) => " by candidate".into(),
        Scope::Attr(a) => format!(" by candidate.{}", a.name),
    }
}

/// A guard's definition after its name: `cap 2 per day`, `require score >= 0.1`.
pub fn guard(g: &GuardKind) -> String {
    match g {
        GuardKind::Cap {
            limit,
            window,
            scope: s,
        } => {
            let w = match window {
                Window::Day(_) => "day".to_string(),
                Window::Rolling(d) => d.value.clone(),
            };
            format!("cap {} per {w}{}", limit.0, scope(s))
        }
        GuardKind::Gap { duration, scope: s } => format!("gap {}{}", duration.value, scope(s)),
        GuardKind::Quiet { start, end } => format!("quiet {} to {}", start.value, end.value),
        GuardKind::Require(e) => format!("require {}", expr(e)),
    }
}

pub fn per(m: &Model) -> &'static str {
    match m.per.map(|p| p.0) {
        Some(Per::Candidate) => "candidate",
        _ => "request",
    }
}

pub fn model_output(m: &Model) -> String {
    match &m.output {
        Some(o) => match o.column {
            Some((c, _)) => format!("{}[{c}]", o.name.name),
            None => o.name.name.clone(),
        },
        None => String::new(),
    }
}

pub fn model_file(m: &Model) -> String {
    m.file.as_ref().map(|f| f.value.clone()).unwrap_or_default()
}

pub fn select(k: SelectKind) -> String {
    match k {
        SelectKind::Best => "best".into(),
        SelectKind::Top(n) => format!("top {n}"),
        SelectKind::Gate => "gate".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalize_collapses_layout_but_not_strings() {
        assert_eq!(normalize("  a  +\n   b "), "a + b");
        assert_eq!(normalize("f( x ,  y )"), "f(x, y)");
        assert_eq!(normalize(r#"p == "two  spaces""#), r#"p == "two  spaces""#);
        assert_eq!(normalize(r#"f( 'a \'  b' ,"x" )"#), r#"f('a \'  b',"x")"#);
        // A quote in a comment opens no string.
        assert_eq!(normalize("[a, # it's\n  b]"), "[a, # it's b]");
    }
}
