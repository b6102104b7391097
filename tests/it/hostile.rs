//! Hostile policy texts, generated: the inputs of issue 15's findings ("stack overflow",
//! "panic", "exponential parse") at any size. One place, so the tests here and the fuzz
//! corpus build the same inputs. Each function returns a whole `.policy` file; it depends on
//! nothing but `std`, so another crate can include this file with `#[path]`.
#![allow(dead_code)] // each user takes the generators it needs

/// `let x = a + a + ... + a` with `terms` terms (2 * terms - 1 tokens), used by the score:
/// the chain that overflowed the reload thread at 2 000 terms and the CLI at 10 000.
pub fn chain(terms: usize) -> String {
    let sum = vec!["a"; terms.max(1)].join(" + ");
    format!(
        "policy p {{\n  context {{ a: int }}\n  let x = {sum}\n  score = x\n  select gate\n}}\n"
    )
}

/// A score of `levels` closed parentheses around `1`: `score = ((...(1)...))`. The file's
/// nesting is `levels + 1` (the policy's brace).
pub fn nested_parens(levels: usize) -> String {
    format!(
        "policy p {{\n  score = {}1{}\n  select gate\n}}\n",
        "(".repeat(levels),
        ")".repeat(levels)
    )
}

/// A context field `a` that is a record `levels` deep (`context { a: { a: { ... { a: int } } } }`,
/// the context's own braces being the first level), read by the score as `a.a. ... .a`. The
/// file's nesting is `levels + 1`.
pub fn nested_records(levels: usize) -> String {
    let levels = levels.max(1);
    let ty = format!(
        "{}int{}",
        "{ a: ".repeat(levels - 1),
        " }".repeat(levels - 1)
    );
    let path = vec!["a"; levels].join(".");
    format!("policy p {{\n  context {{ a: {ty} }}\n  score = double({path})\n  select gate\n}}\n")
}

/// The request context [`nested_records`] reads: `{"a": {"a": ... {"a": 1}}}`.
pub fn nested_records_context(levels: usize) -> String {
    let levels = levels.max(1);
    format!("{}1{}", "{\"a\": ".repeat(levels), "}".repeat(levels))
}

/// A context field of type `list<list<...<int>...>>` with `levels` `list<`s, whose size is the
/// score. The file's nesting is `levels + 2` (the policy's and the context's braces).
pub fn nested_lists(levels: usize) -> String {
    format!(
        "policy p {{\n  context {{ a: {}int{} }}\n  score = double(size(a))\n  select gate\n}}\n",
        "list<".repeat(levels),
        ">".repeat(levels)
    )
}

/// `let x = size(size(...size(s` with `levels` calls never closed: 22 of them in a 180-byte
/// file took 10 s to parse, twice as long per level.
pub fn unclosed_calls(levels: usize) -> String {
    format!(
        "policy p {{\n  context {{ s: string }}\n  let x = {}s\n  score = 1\n  select gate\n}}\n",
        "size(".repeat(levels)
    )
}

/// Unclosed `(`, `[` and `{` in turn, `levels` of them, in a `require` guard.
pub fn unclosed_mixed(levels: usize) -> String {
    let opens: String = "([{".chars().cycle().take(levels).collect();
    format!(
        "policy p {{\n  context {{ s: string }}\n  guard g: require {opens}s\n  select gate\n}}\n"
    )
}

/// `let x = "\"\"\"...` with about `bytes` bytes of escaped quotes and no closing quote:
/// 64 KB of it parsed in quadratic time (14 s).
pub fn escaped_string(bytes: usize) -> String {
    format!(
        "policy p {{\n  let x = \"{}\n  select gate\n}}\n",
        "\\\"".repeat(bytes / 2)
    )
}

/// A syntax error (a guard without its colon) after `column` spaces on its line: its label is
/// far to the right (past column 65 535, miette panicked).
pub fn far_syntax_error(column: usize) -> String {
    format!(
        "policy p {{\n{}guard g cap 2 per day\n  select gate\n}}\n",
        " ".repeat(column)
    )
}

/// A name no one declared, after `column` spaces in a score: a `check` error far to the right.
pub fn far_unknown_name(column: usize) -> String {
    format!(
        "policy p {{\n  score ={}nope\n  select gate\n}}\n",
        " ".repeat(column)
    )
}

/// `values` values each computed from the one before (`let v1 = a`, `let v2 = v1 + 1`, ...),
/// the last one the score: a dependency chain as long as the file.
pub fn value_chain(values: usize) -> String {
    let mut s = String::from("policy p {\n  context { a: int }\n  let v0 = a\n");
    for i in 1..values.max(1) {
        s.push_str(&format!("  let v{i} = v{} + 1\n", i - 1));
    }
    s.push_str(&format!(
        "  score = double(v{})\n  select gate\n}}\n",
        values.max(1) - 1
    ));
    s
}
