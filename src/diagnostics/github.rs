//! GitHub Actions workflow commands: one `::error` / `::warning` annotation per diagnostic, which
//! a workflow run shows on the pull request's changed lines.
//!
//! Written by hand: the format is one line per diagnostic and its escaping rules are five
//! substitutions, which no maintained crate covers better than this.

use super::{Diagnostic, Severity, relative_path, span_location};
use crate::source::SourceMap;
use std::path::Path;

/// Renders every diagnostic as a workflow command, one per line. File paths are made relative to
/// `base` (the working directory, which in a workflow is the repository root) when they lie
/// under it.
pub fn render_github(diags: &[Diagnostic], sources: &SourceMap, base: Option<&Path>) -> String {
    let mut out = String::new();
    for d in diags {
        let command = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut props = Vec::new();
        if let Some(loc) = d.primary_span().and_then(|s| span_location(s, sources)) {
            let file = relative_path(Path::new(&loc.file), base);
            props.push(format!("file={}", escape_property(&file)));
            props.push(format!("line={}", loc.line));
            props.push(format!("col={}", loc.column));
            props.push(format!("endLine={}", loc.end_line));
            props.push(format!("endColumn={}", loc.end_column));
        }
        props.push(format!("title={}", escape_property(d.code.as_str())));
        let mut message = d.message.clone();
        for l in d.labels.iter().skip(1) {
            if let (Some(loc), Some(m)) = (span_location(l.span, sources), &l.message) {
                let file = relative_path(Path::new(&loc.file), base);
                message.push_str(&format!("\n{file}:{}:{}: {m}", loc.line, loc.column));
            }
        }
        if let Some(h) = &d.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        out.push_str(&format!(
            "::{command} {}::{}\n",
            props.join(","),
            escape_data(&message)
        ));
    }
    out
}

/// The message part of a workflow command: `%`, `\r` and `\n` are percent-encoded.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value: as data, and also `:` and `,`, which separate properties.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
