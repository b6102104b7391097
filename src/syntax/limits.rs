//! Bounds on what one file may ask of the parser and of every pass after it.
//!
//! The grammar's rules for types (`list<...>`, nested records), literal lists and bracketed
//! expressions recurse, and so do the `cel` crate's parser and every pass over a tree after it
//! (check, compile, eval, fmt, graph, diff, describe, and even dropping a tree). Rather than make
//! each of them iterative, the text is bounded before anything recurses, by two linear scans
//! with [`super::lex`]:
//!
//! - [`nesting`], over the whole file before pest runs: at most [`MAX_NESTING`] brackets
//!   (`(`, `[`, `{`, and the `<` of `list<`) open at once (`P0005`);
//! - [`expression`], over each expression's text before the `cel` parser sees it: at most
//!   [`MAX_EXPRESSION_TOKENS`] tokens (`P0006`). A tree of an expression has at most about as
//!   many nodes as its text has tokens, so this bounds its depth too (a chain `a + a + ...` is a
//!   tree as deep as it is long).
//!
//! Every stage after `syntax` therefore only ever sees trees of bounded depth; the test
//! `syntax::inputs_just_under_the_limits_go_through_the_whole_pipeline_on_a_small_stack`
//! (`tests/it/syntax.rs`) runs them through build, decide, fmt, graph and diff on a thread with
//! a 2 MiB stack, in a debug build.

use super::lex::{self, Kind};
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{SourceId, Span};

/// The most brackets open at once in one file. Real policies open about five (`policy {`,
/// `context {`, a record field's `{`, a `list<`, a call's `(`); 64 leaves room for anything
/// written by hand or generated, and stays well below the `cel` parser's own recursion limit
/// (96 nested expressions), so a deep expression gets this diagnostic and not the parser's.
pub const MAX_NESTING: usize = 64;

/// The most tokens in one expression (names, numbers, strings, operators and brackets each
/// count one). The longest expressions of real policies (a score blending a dozen weighted
/// terms, a guard with ten clauses) have one or two hundred; 1 000 is five times that, and an
/// expression of 1 000 tokens still goes through every pass on a 2 MiB stack in a debug build.
pub const MAX_EXPRESSION_TOKENS: usize = 1000;

/// What a bracket on the scan's stack is.
#[derive(Clone, Copy, PartialEq)]
enum Open {
    Bracket,
    /// The `<` of `list<`.
    Angle,
}

/// Checks that no more than [`MAX_NESTING`] brackets are open at once in `text` (`P0005` at
/// the first one too many). Brackets in strings and comments do not count; a closing bracket
/// closes the innermost open one, and `>` only the `<` of a `list<`.
pub fn nesting(source: SourceId, text: &str) -> Result<(), Box<Diagnostic>> {
    let mut stack: Vec<Open> = Vec::new();
    let mut after_list = false;
    for t in lex::tokens(text) {
        if t.kind.is_trivia() {
            continue;
        }
        if t.kind == Kind::Punct {
            match t.text(text) {
                "(" | "[" | "{" => stack.push(Open::Bracket),
                "<" if after_list => stack.push(Open::Angle),
                ")" | "]" | "}" => {
                    while stack.last() == Some(&Open::Angle) {
                        stack.pop();
                    }
                    stack.pop();
                }
                ">" if stack.last() == Some(&Open::Angle) => {
                    stack.pop();
                }
                _ => {}
            }
            if stack.len() > MAX_NESTING {
                let open = t.text(text);
                return Err(Box::new(
                    Diagnostic::new(
                        Code::NestedTooDeeply,
                        format!(
                            "nested too deeply: more than {MAX_NESTING} brackets are open here"
                        ),
                    )
                    .label(
                        t.span(source),
                        format!("this `{open}` opens level {}", stack.len()),
                    )
                    .help(
                        "name an inner part with a `let` value, or flatten the nested records \
                         and lists",
                    ),
                ));
            }
        }
        after_list = t.kind == Kind::Ident && t.text(text) == "list";
    }
    Ok(())
}

/// Checks that the expression `text`, at `span` in its file, has at most
/// [`MAX_EXPRESSION_TOKENS`] tokens (`P0006` at the first one too many).
///
/// Inside brackets the grammar keeps `#` as part of the expression (it is not a comment
/// there), so a `#` counts as one token and the text after it is counted too: nothing the
/// `cel` parser will read goes uncounted.
pub fn expression(text: &str, span: Span) -> Result<(), Box<Diagnostic>> {
    let mut count = 0usize;
    let mut tokens = lex::tokens(text);
    while let Some(t) = tokens.next() {
        match t.kind {
            Kind::Space | Kind::Newline => continue,
            // `#` is one byte: the scan goes on right after it.
            Kind::Comment => tokens = lex::tokens_from(text, t.start + 1),
            _ => {}
        }
        count += 1;
        if count > MAX_EXPRESSION_TOKENS {
            let at = span.sub(t.start, t.end.max(t.start + 1).min(text.len()));
            return Err(Box::new(
                Diagnostic::new(
                    Code::ExpressionTooLong,
                    format!("expression too long: more than {MAX_EXPRESSION_TOKENS} tokens"),
                )
                .label(at, format!("token {count} of this expression"))
                .help(
                    "split the expression into `let` values that each compute a part, and \
                     combine them",
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> SourceId {
        SourceId::default()
    }

    #[test]
    fn nesting_counts_brackets_and_list_angles_outside_strings_and_comments() {
        let ok = format!("{}{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(nesting(src(), &ok).is_ok());
        let deep = "(".repeat(MAX_NESTING + 1);
        let d = nesting(src(), &deep).unwrap_err();
        assert_eq!(d.code, Code::NestedTooDeeply);
        assert_eq!(d.primary_span().map(|s| s.start), Some(MAX_NESTING as u32));
        // Sequential brackets never nest.
        assert!(nesting(src(), &"()".repeat(10_000)).is_ok());
        // In strings and comments, brackets are text.
        let quoted = format!("\"{}\" # {}", "(".repeat(200), "[".repeat(200));
        assert!(nesting(src(), &quoted).is_ok());
        // `list<` nests; a comparison `a < b` does not.
        let lists = "list<".repeat(MAX_NESTING + 1);
        assert!(nesting(src(), &lists).is_err());
        assert!(nesting(src(), &"a < b ".repeat(1000)).is_ok());
        let closed = format!("{}int{}", "list<".repeat(40), ">".repeat(40)).repeat(3);
        assert!(nesting(src(), &closed).is_ok());
    }

    #[test]
    fn expressions_count_tokens_and_what_follows_a_hash() {
        let span = Span::new(src(), 10, 10 + 4000);
        let chain = |n: usize| vec!["a"; n].join(" + ");
        // n terms are 2n - 1 tokens.
        assert!(expression(&chain(500), span).is_ok());
        let d = expression(&chain(501), span).unwrap_err();
        assert_eq!(d.code, Code::ExpressionTooLong);
        // Token 1001 is the 501st `a`, at byte 4 * 500 of the text.
        assert_eq!(d.primary_span().map(|s| s.start), Some(10 + 2000));
        let hidden = format!("(a # {})", chain(600));
        assert!(expression(&hidden, span).is_err());
        // A long string is one token.
        assert!(expression(&format!("\"{}\"", "x".repeat(100_000)), span).is_ok());
    }
}
