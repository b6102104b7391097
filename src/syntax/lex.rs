//! The one tokenizer of `.policy` text: where strings, comments and whitespace are.
//!
//! The pest grammar parses; this lexer answers the questions the other passes ask of raw text
//! (which `#` starts a comment, where a declaration's last token ends, which whitespace in an
//! expression lies outside a string literal), so every pass answers them the same way. It keeps
//! every byte: the tokens' texts, concatenated, are the input. It never fails and never looks
//! back, so it runs in time linear in the text, whatever the text (an unterminated quote, a
//! long run of `\"`).
//!
//! The token rules follow the grammar:
//! - a string literal starts with `"` or `'` and ends at the same quote; `\` escapes the
//!   character after it (a line break too); an unescaped line break or the end of the text ends
//!   an unterminated string, without the line break;
//! - a comment starts with `#` outside a string and runs to the end of the line (without it);
//! - whitespace is a run of spaces, tabs and carriage returns; each `\n` is a token of its own;
//! - a name is an ASCII letter or `_` followed by ASCII letters, digits and `_`; a number is an
//!   ASCII digit followed by letters, digits, `_` and `.` (so `1.5`, `8h`, `1e3` are one token);
//! - anything else is one character of punctuation.

use crate::source::{SourceId, Span};

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string literal, quotes included; `closed` is false when the line or text ended first.
    Str {
        quote: u8,
        closed: bool,
    },
    /// `#` to the end of the line.
    Comment,
    /// Spaces, tabs and carriage returns.
    Space,
    /// One `\n`.
    Newline,
    Ident,
    Number,
    /// One character that is none of the above.
    Punct,
}

impl Kind {
    /// Whitespace, line breaks and comments: what the grammar skips between tokens.
    pub fn is_trivia(self) -> bool {
        matches!(self, Kind::Space | Kind::Newline | Kind::Comment)
    }
}

/// One token: its kind and its byte range in the text it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// The token's text in `text`, the text it was read from.
    pub fn text(self, text: &str) -> &str {
        text.get(self.start..self.end).unwrap_or("")
    }

    pub fn span(self, source: SourceId) -> Span {
        Span::new(source, self.start, self.end)
    }
}

/// The tokens of `text`, in order, trivia included.
pub fn tokens(text: &str) -> Tokens<'_> {
    Tokens { text, pos: 0 }
}

/// The tokens of `text` from byte `start` (which must be at a token boundary, such as the start
/// of a parsed node), with offsets into `text`.
pub fn tokens_from(text: &str, start: usize) -> Tokens<'_> {
    Tokens {
        text,
        pos: start.min(text.len()),
    }
}

/// The iterator of [`tokens`].
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    text: &'a str,
    pos: usize,
}

impl Iterator for Tokens<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let first = *bytes.get(start)?;
        let run = |from: usize, keep: &dyn Fn(u8) -> bool| {
            bytes[from..]
                .iter()
                .position(|b| !keep(*b))
                .map_or(bytes.len(), |p| from + p)
        };
        let (kind, end) = match first {
            b'\n' => (Kind::Newline, start + 1),
            b' ' | b'\t' | b'\r' => (
                Kind::Space,
                run(start, &|b| matches!(b, b' ' | b'\t' | b'\r')),
            ),
            b'#' => (Kind::Comment, run(start, &|b| b != b'\n')),
            b'"' | b'\'' => string(bytes, start, first),
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => (
                Kind::Ident,
                run(start, &|b| b.is_ascii_alphanumeric() || b == b'_'),
            ),
            b'0'..=b'9' => (
                Kind::Number,
                run(start, &|b| {
                    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
                }),
            ),
            _ => {
                let len = self.text[start..].chars().next().map_or(1, char::len_utf8);
                (Kind::Punct, start + len)
            }
        };
        self.pos = end;
        Some(Token { kind, start, end })
    }
}

/// A string literal opened by `quote` at `start`: its kind and end.
fn string(bytes: &[u8], start: usize, quote: u8) -> (Kind, usize) {
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        if b == quote {
            return (
                Kind::Str {
                    quote,
                    closed: true,
                },
                i + 1,
            );
        }
        match b {
            b'\n' => break,
            // The escaped character is skipped whole, so the token ends on a char boundary.
            b'\\' => i += 1 + bytes.get(i + 1).map_or(0, |&c| utf8_len(c)),
            _ => i += 1,
        }
    }
    (
        Kind::Str {
            quote,
            closed: false,
        },
        i.min(bytes.len()),
    )
}

/// The length of the UTF-8 sequence a leading byte starts (1 for a continuation byte, which a
/// `&str` never starts with).
fn utf8_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// The end of the last token in `text[start..end]` that is not trivia, or `start` when there is
/// none. A token running past `end` counts as ending at `end`.
pub fn last_significant_end(text: &str, start: usize, end: usize) -> usize {
    let end = end.min(text.len());
    let mut last = start.min(end);
    for t in tokens_from(text, start) {
        if t.start >= end {
            break;
        }
        if !t.kind.is_trivia() {
            last = t.end.min(end);
        }
    }
    last
}

/// The first token at or after `start` that is not trivia.
pub fn next_significant(text: &str, start: usize) -> Option<Token> {
    tokens_from(text, start).find(|t| !t.kind.is_trivia())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        tokens(text).map(|t| (t.kind, t.text(text))).collect()
    }

    const DQ: Kind = Kind::Str {
        quote: b'"',
        closed: true,
    };

    #[test]
    fn a_line_splits_into_its_tokens() {
        assert_eq!(
            kinds("score = a.b >= 1.5 # hi \"x\"\n"),
            [
                (Kind::Ident, "score"),
                (Kind::Space, " "),
                (Kind::Punct, "="),
                (Kind::Space, " "),
                (Kind::Ident, "a"),
                (Kind::Punct, "."),
                (Kind::Ident, "b"),
                (Kind::Space, " "),
                (Kind::Punct, ">"),
                (Kind::Punct, "="),
                (Kind::Space, " "),
                (Kind::Number, "1.5"),
                (Kind::Space, " "),
                (Kind::Comment, "# hi \"x\""),
                (Kind::Newline, "\n"),
            ]
        );
    }

    #[test]
    fn strings_take_both_quotes_and_escapes() {
        assert_eq!(
            kinds(r#""a # b" 'it\'s' "\\" "#),
            [
                (DQ, r##""a # b""##),
                (Kind::Space, " "),
                (
                    Kind::Str {
                        quote: b'\'',
                        closed: true
                    },
                    r"'it\'s'"
                ),
                (Kind::Space, " "),
                (DQ, r#""\\""#),
                (Kind::Space, " "),
            ]
        );
        // The other quote does not close a string.
        assert_eq!(kinds(r#""it's""#), [(DQ, r#""it's""#)]);
    }

    #[test]
    fn an_unterminated_string_ends_at_the_line_break() {
        let open = Kind::Str {
            quote: b'"',
            closed: false,
        };
        assert_eq!(
            kinds("\"abc # no\n# yes"),
            [
                (open, "\"abc # no"),
                (Kind::Newline, "\n"),
                (Kind::Comment, "# yes")
            ]
        );
        assert_eq!(
            kinds("'x\\"),
            [(
                Kind::Str {
                    quote: b'\'',
                    closed: false
                },
                "'x\\"
            )]
        );
        // An escaped line break continues the string, as in the grammar.
        assert_eq!(kinds("\"a\\\nb\""), [(DQ, "\"a\\\nb\"")]);
    }

    #[test]
    fn non_ascii_text_is_kept_whole() {
        let text = "é \"ü\\ä\" #ß";
        let joined: String = tokens(text).map(|t| t.text(text)).collect();
        assert_eq!(joined, text);
        assert_eq!(tokens(text).count(), 5);
    }

    #[test]
    fn pathological_input_is_linear() {
        // 64 KiB of `\"` after a quote: one string token; a stray quote per line: one token each.
        let text = format!("\"{}", "\\\"".repeat(32 * 1024));
        assert_eq!(tokens(&text).count(), 1);
        let text = "'\n".repeat(32 * 1024);
        assert_eq!(tokens(&text).count(), 64 * 1024);
        let text = "#".repeat(64 * 1024);
        assert_eq!(tokens(&text).count(), 1);
    }

    #[test]
    fn helpers_skip_trivia() {
        let text = "a { x } # c\n  \n";
        assert_eq!(last_significant_end(text, 0, text.len()), 7);
        assert_eq!(last_significant_end(text, 7, text.len()), 7);
        let t = next_significant(text, 1).map(|t| (t.start, t.text(text)));
        assert_eq!(t, Some((2, "{")));
        assert_eq!(next_significant(text, 7), None);
    }

    /// Every `#` outside a string literal, by a slow reference scan that restarts at every byte.
    fn comment_starts(text: &str) -> Vec<usize> {
        let mut out = Vec::new();
        let b = text.as_bytes();
        let mut quote = None;
        let mut i = 0;
        while i < b.len() {
            match (quote, b[i]) {
                (Some(_), b'\\') => i += 1,
                (Some(q), c) if c == q || c == b'\n' => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => quote = Some(b[i]),
                (None, b'#') => {
                    out.push(i);
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                    continue;
                }
                (None, _) => {}
            }
            i += 1;
        }
        out
    }

    proptest! {
        #[test]
        fn tokens_give_back_the_input_and_find_every_comment(
            text in "[a-z0-9 #\"'\\\\\n\t.=é{}]{0,80}"
        ) {
            let toks: Vec<Token> = tokens(&text).collect();
            let joined: String = toks.iter().map(|t| t.text(&text)).collect();
            prop_assert_eq!(&joined, &text);
            // Contiguous, non-empty, in order.
            let mut at = 0;
            for t in &toks {
                prop_assert_eq!(t.start, at);
                prop_assert!(t.end > t.start);
                at = t.end;
            }
            // A `#` inside a string is never a comment; every other `#` starts one.
            let comments: Vec<usize> =
                toks.iter().filter(|t| t.kind == Kind::Comment).map(|t| t.start).collect();
            prop_assert_eq!(comments, comment_starts(&text));
            for t in toks.iter().filter(|t| matches!(t.kind, Kind::Str { .. })) {
                prop_assert!(!t.text(&text).contains('\n') || t.text(&text).contains("\\\n"));
            }
        }
    }
}
