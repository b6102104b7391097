//! The message style, as rules a test applies to every message, label and help the fixtures
//! produce and to every code's summary (after cedar-policy's guide):
//!
//! - a message starts lowercase and has no trailing period;
//! - names are in backticks (so backticks pair up, and names are not quoted with `'`);
//! - a suggestion ("did you mean", "try", "consider") goes in `help`, never in the message;
//! - counts agree with their noun ("1 file", "2 files"; never "file(s)" or "1 files");
//! - the article agrees with the backticked word that follows ("an `int`", "a `float`").

use std::fmt::Display;

/// Which part of a diagnostic a text is: the rules differ slightly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The one-line message (and a code's summary).
    Message,
    /// A label on a span.
    Label,
    /// The help line.
    Help,
}

/// Every style rule `text` breaks, as a short description; empty when it follows them all.
pub fn violations(text: &str, part: Part) -> Vec<String> {
    let mut out = Vec::new();
    if part != Part::Help && text.chars().next().is_some_and(char::is_uppercase) {
        out.push("starts with an uppercase letter".to_string());
    }
    if text.ends_with('.') && !text.ends_with("..") {
        out.push("ends with a period".to_string());
    }
    if !text.matches('`').count().is_multiple_of(2) {
        out.push("has an unpaired backtick".to_string());
    }
    if has_single_quoted_name(text) {
        out.push("quotes a name with `'` instead of backticks".to_string());
    }
    if text.contains("(s)") || text.contains("(es)") {
        out.push("writes a plural as `(s)`".to_string());
    }
    if let Some(w) = one_with_plural(text) {
        out.push(format!("writes `1 {w}` (singular count, plural noun)"));
    }
    if let Some(w) = wrong_article(text) {
        out.push(format!("wrong article in `{w}`"));
    }
    if part == Part::Message {
        let lower = text.to_lowercase();
        for s in ["did you mean", "try ", "consider "] {
            if lower.contains(s) {
                out.push(format!("a suggestion (`{}`) belongs in help", s.trim_end()));
            }
        }
    }
    out
}

/// "a `float`", "an `int`": `x` in backticks, after the indefinite article it takes.
pub fn a_code(x: impl Display) -> String {
    let x = x.to_string();
    let article = if starts_with_vowel_sound(&x) {
        "an"
    } else {
        "a"
    };
    format!("{article} `{x}`")
}

/// "1 file", "2 files": a count and its noun, singular or plural.
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn starts_with_vowel_sound(word: &str) -> bool {
    word.chars()
        .next()
        .is_some_and(|c| "aeiouAEIOU".contains(c))
}

/// `'name'`: a word quoted with apostrophes (an apostrophe inside a word, as in "model's",
/// is not a quote).
fn has_single_quoted_name(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let opens = b[i] == b'\'' && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if opens {
            let rest = &text[i + 1..];
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                .collect();
            if !word.is_empty() && rest[word.len()..].starts_with('\'') {
                return true;
            }
        }
        i += 1;
    }
    false
}

/// The word after a standalone `1` when it looks plural ("1 files"); verbs such as "does"
/// ("column 1 does not exist") are not nouns.
fn one_with_plural(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(2).find_map(|w| {
        let noun = w[1].trim_end_matches([',', ';', ':', ')']);
        let plural = noun.len() > 2
            && noun.ends_with('s')
            && !noun.ends_with("ss")
            && !noun.ends_with("is")
            && !noun.ends_with("us")
            && !["does", "has", "was"].contains(&noun)
            && noun.chars().all(|c| c.is_ascii_lowercase());
        (w[0] == "1" && plural).then(|| noun.to_string())
    })
}

/// "a `int`" or "an `float`": the article and the backticked word, when they disagree.
fn wrong_article(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split(' ').collect();
    words.windows(2).find_map(|w| {
        let word = w[1].strip_prefix('`')?;
        let vowel = starts_with_vowel_sound(word);
        let article = w[0].to_lowercase();
        let wrong = (article == "a" && vowel) || (article == "an" && !vowel);
        wrong.then(|| format!("{} {}", w[0], w[1]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_messages_pass() {
        for m in [
            "unknown name `dau7`",
            "expected an `int` literal",
            "`x` is a `float`, which has no fields",
            "output `probabilities` has 2 columns; column 2 does not exist",
            "output `probabilities` has 1 column; column 1 does not exist",
            "unknown function `f` with 1 argument",
            "the model's features are: a, b",
            "`lambda` is 1.5, outside its range 0.0..1.0",
        ] {
            assert_eq!(violations(m, Part::Message), Vec::<String>::new(), "{m}");
        }
    }

    #[test]
    fn each_rule_catches_its_defect() {
        let cases = [
            ("Unknown name `x`", "uppercase"),
            ("unknown name `x`.", "period"),
            ("unknown name `x", "unpaired"),
            ("unknown name 'x'", "quotes"),
            ("2 error(s)", "(s)"),
            ("in 1 files", "1 files"),
            ("expected a `int` literal", "article"),
            ("expected an `float` literal", "article"),
            ("unknown name `x`; did you mean `y`?", "help"),
        ];
        for (text, rule) in cases {
            let v = violations(text, Part::Message);
            assert!(v.iter().any(|r| r.contains(rule)), "{text}: {v:?}");
        }
        // Suggestions are the point of help; it may start uppercase (it is prose).
        assert!(violations("did you mean `y`?", Part::Help).is_empty());
    }

    #[test]
    fn helpers_agree_with_the_rules() {
        assert_eq!(a_code("int"), "an `int`");
        assert_eq!(a_code("list<int>"), "a `list<int>`");
        assert_eq!(count(1, "file", "files"), "1 file");
        assert_eq!(count(0, "file", "files"), "0 files");
        assert_eq!(count(3, "error", "errors"), "3 errors");
    }
}
