//! SARIF 2.1.0, the format GitHub code scanning (`github/codeql-action/upload-sarif`) and other
//! CI tools read. The schema is kept at `schemas/sarif-schema-2.1.0.json`; a test validates this
//! output against it.
//!
//! Written with `serde_json` rather than a SARIF object-model crate: we emit a small, fixed
//! subset (one run, the rule registry, results with locations), and the schema test guards it.

use super::{CODES, Diagnostic, Severity, relative_path, span_location};
use crate::source::SourceMap;
use serde_json::{Value, json};
use std::path::Path;

/// Where SARIF readers link for the tool. Comes from `homepage` in Cargo.toml.
pub const INFORMATION_URI: &str = env!("CARGO_PKG_HOMEPAGE");
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Every registered code as a SARIF `reportingDescriptor`, in registry order (a result's
/// `ruleIndex` points into this list).
fn rules() -> Vec<Value> {
    CODES
        .iter()
        .map(|c| {
            let (full, help_text, help_md) = match c.sections() {
                Some(s) => (
                    s.why.to_string(),
                    format!("{}\n\nExample:\n{}\n\nFix:\n{}", s.why, s.example, s.fix),
                    format!(
                        "{}\n\n**Example**\n\n{}\n\n**Fix**\n\n{}",
                        s.why,
                        markdown(s.example),
                        markdown(s.fix)
                    ),
                ),
                None => (c.doc.to_string(), c.doc.to_string(), c.doc.to_string()),
            };
            json!({
                "id": c.code,
                "name": c.name,
                "shortDescription": { "text": c.summary },
                "fullDescription": { "text": full },
                "help": { "text": help_text, "markdown": help_md },
                "defaultConfiguration": { "level": level(c.severity) },
            })
        })
        .collect()
}

/// The code docs indent code by four spaces; markdown gets it fenced, prose stays prose.
fn markdown(s: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut in_code = false;
    for line in s.lines() {
        match (line.strip_prefix("    "), in_code) {
            (Some(code), false) => {
                out.push("```".into());
                out.push(code.into());
                in_code = true;
            }
            (Some(code), true) => out.push(code.into()),
            (None, true) => {
                out.push("```".into());
                out.push(line.into());
                in_code = false;
            }
            (None, false) => out.push(line.into()),
        }
    }
    if in_code {
        out.push("```".into());
    }
    out.join("\n")
}

/// A path as a relative URI reference: `/`-separated, percent-encoded where URIs need it.
fn uri(path: &str) -> String {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    // Everything but unreserved characters and `/` (RFC 3986 path segments).
    const PATH: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'[')
        .add(b'\\')
        .add(b']')
        .add(b'^')
        .add(b'`')
        .add(b'{')
        .add(b'|')
        .add(b'}');
    utf8_percent_encode(path, PATH).to_string()
}

fn physical(span: crate::source::Span, sources: &SourceMap, base: Option<&Path>) -> Option<Value> {
    let loc = span_location(span, sources)?;
    let file = relative_path(Path::new(&loc.file), base);
    Some(json!({
        "artifactLocation": { "uri": uri(&file), "uriBaseId": "%SRCROOT%" },
        "region": {
            "startLine": loc.line,
            "startColumn": loc.column,
            "endLine": loc.end_line,
            "endColumn": loc.end_column,
        },
    }))
}

/// One SARIF log with one run: the tool and its rules, and a result per diagnostic. Paths are
/// relative to `base` (the working directory) when they lie under it, with `%SRCROOT%` as
/// their base. Columns count Unicode code points, as everywhere in this crate.
pub fn to_sarif(diags: &[Diagnostic], sources: &SourceMap, base: Option<&Path>) -> Value {
    let results: Vec<Value> = diags
        .iter()
        .map(|d| {
            let mut text = d.message.clone();
            if let Some(h) = &d.help {
                text.push_str(&format!("\nhelp: {h}"));
            }
            let mut r = json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": d.code as usize,
                "level": level(d.severity),
                "message": { "text": text },
            });
            let primary = d.labels.first();
            if let Some(loc) = primary.and_then(|l| physical(l.span, sources, base)) {
                let mut location = json!({ "physicalLocation": loc });
                if let Some(m) = primary.and_then(|l| l.message.as_ref()) {
                    location["message"] = json!({ "text": m });
                }
                r["locations"] = json!([location]);
            }
            let related: Vec<Value> = d
                .labels
                .iter()
                .skip(1)
                .enumerate()
                .filter_map(|(i, l)| {
                    let mut v =
                        json!({ "id": i, "physicalLocation": physical(l.span, sources, base)? });
                    if let Some(m) = &l.message {
                        v["message"] = json!({ "text": m });
                    }
                    Some(v)
                })
                .collect();
            if !related.is_empty() {
                r["relatedLocations"] = json!(related);
            }
            r
        })
        .collect();
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "policy",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": INFORMATION_URI,
                    "rules": rules(),
                }
            },
            "originalUriBaseIds": {
                "%SRCROOT%": { "description": { "text": "the directory `policy check` ran in" } }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}
