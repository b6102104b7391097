//! One diagnostic type for every problem a policy set can have, rendered with miette for people
//! and as JSON for machines.
//!
//! Style (after cedar-policy's guide): messages are lowercase, have no trailing period, and put
//! names in backticks; a suggestion goes in `help`, never in the message.

mod codes;
mod github;
mod sarif;
pub mod style;

pub use github::{escape_data, escape_property, render_github};
pub use sarif::{INFORMATION_URI, SCHEMA_URI, to_sarif};

pub use codes::{ALL as CODES, Code, CodeInfo, DocSections};
pub use style::{a_code, count};

use crate::source::{SourceMap, Span};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A span with an optional message. The first label of a diagnostic is its primary location.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.default_severity(),
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }
    /// Adds the primary (first) or a secondary label.
    pub fn label(mut self, span: Span, message: impl Into<String>) -> Self {
        let message = message.into();
        self.labels.push(Label {
            span,
            message: (!message.is_empty()).then_some(message),
        });
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
    pub fn primary_span(&self) -> Option<Span> {
        self.labels.first().map(|l| l.span)
    }
}

/// Sorts diagnostics by file and position, so output is stable.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| {
        let s = d.primary_span().unwrap_or_default();
        (s.source, s.start, s.end, d.code)
    });
}

/// "did you mean" for a misspelled name, by Jaro-Winkler similarity among the candidates.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

// ---- rendering -------------------------------------------------------------------------------

/// Renders diagnostics for a terminal, as miette does: file:line:col, the source lines with the
/// spans underlined, and help. `color` turns ANSI colours on.
pub fn render_human(diags: &[Diagnostic], sources: &SourceMap, color: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for d in diags {
        let report = MietteView::new(d, sources);
        // Rendering into a String cannot fail; if it ever did, fall back to the plain line.
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&render_short(d, sources));
        }
        out.push('\n');
    }
    out
}

/// `file:line:col: severity[CODE]: message`, one line, as compilers print.
pub fn render_short(d: &Diagnostic, sources: &SourceMap) -> String {
    let loc = location(d, sources);
    let sev = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    match loc {
        Some(l) => format!(
            "{}:{}:{}: {sev}[{}]: {}\n",
            l.file,
            l.line,
            l.column,
            d.code.as_str(),
            d.message
        ),
        None => format!("{sev}[{}]: {}\n", d.code.as_str(), d.message),
    }
}

/// Where a diagnostic points, in 1-based lines and columns.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

pub fn span_location(span: Span, sources: &SourceMap) -> Option<Location> {
    let file = sources.get(span.source)?;
    let (line, column) = file.line_col(span.start as usize);
    let (end_line, end_column) = file.line_col(span.end as usize);
    Some(Location {
        file: file.path.display().to_string(),
        line,
        column,
        end_line,
        end_column,
    })
}

/// `path` relative to `base` when it lies under it, `/`-separated, without a leading `./`: how
/// CI formats name files (GitHub resolves them against the repository root).
pub fn relative_path(path: &std::path::Path, base: Option<&std::path::Path>) -> String {
    let rel = base.and_then(|b| path.strip_prefix(b).ok()).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let joined = parts.join("/");
    if rel.has_root() && !joined.starts_with('/') {
        // `components()` yields the root as "/", so the join starts "//".
        joined.replacen("//", "/", 1)
    } else {
        joined
    }
}

pub fn location(d: &Diagnostic, sources: &SourceMap) -> Option<Location> {
    span_location(d.primary_span()?, sources)
}

#[derive(Serialize)]
struct JsonLabel {
    #[serde(flatten)]
    location: Location,
    message: Option<String>,
}

/// The stable JSON form of one diagnostic.
#[derive(Serialize)]
pub struct JsonDiagnostic {
    code: &'static str,
    severity: Severity,
    message: String,
    #[serde(flatten)]
    location: Option<Location>,
    labels: Vec<JsonLabel>,
    help: Option<String>,
}

pub fn to_json(d: &Diagnostic, sources: &SourceMap) -> JsonDiagnostic {
    JsonDiagnostic {
        code: d.code.as_str(),
        severity: d.severity,
        message: d.message.clone(),
        location: location(d, sources),
        labels: d
            .labels
            .iter()
            .filter_map(|l| {
                Some(JsonLabel {
                    location: span_location(l.span, sources)?,
                    message: l.message.clone(),
                })
            })
            .collect(),
        help: d.help.clone(),
    }
}

/// Adapter that lets miette render a [`Diagnostic`] against its source file.
struct MietteView {
    code: &'static str,
    severity: miette::Severity,
    message: String,
    help: Option<String>,
    labels: Vec<miette::LabeledSpan>,
    source: Option<Shown>,
}

/// The source miette is shown: the file itself, or, when a line is too long to show whole,
/// the file with its long lines clipped around the labels ([`Clipped`]).
enum Shown {
    Whole(miette::NamedSource<String>),
    Clipped(Clipped),
}

impl MietteView {
    fn new(d: &Diagnostic, sources: &SourceMap) -> Self {
        let primary = d.primary_span();
        let file = primary.and_then(|s| sources.get(s.source));
        let shown: Vec<&Label> = d
            .labels
            .iter()
            .filter(|l| Some(l.span.source) == primary.map(|p| p.source))
            .collect();
        let spans: Vec<(usize, usize)> = shown
            .iter()
            .map(|l| (l.span.start as usize, l.span.end as usize))
            .collect();
        let clipped =
            file.and_then(|f| Clipped::new(&f.path.display().to_string(), &f.text, &spans));
        let labels = shown
            .iter()
            .zip(&spans)
            .enumerate()
            .map(|(i, (l, &(start, end)))| {
                let (start, end) = match &clipped {
                    Some(c) => (c.to_shown(start), c.to_shown(end)),
                    None => (start, end),
                };
                let span = miette::SourceSpan::new(start.into(), end.saturating_sub(start));
                if i == 0 {
                    miette::LabeledSpan::new_primary_with_span(l.message.clone(), span)
                } else {
                    miette::LabeledSpan::new_with_span(l.message.clone(), span)
                }
            })
            .collect();
        let source = match clipped {
            Some(c) => Some(Shown::Clipped(c)),
            None => file.map(|f| {
                Shown::Whole(miette::NamedSource::new(
                    f.path.display().to_string(),
                    f.text.clone(),
                ))
            }),
        };
        MietteView {
            code: d.code.as_str(),
            severity: match d.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            },
            message: d.message.clone(),
            help: d.help.clone(),
            labels,
            source,
        }
    }
}

/// Lines longer than this many bytes are shown clipped: miette pads a label with its column
/// (`{:width$}`), and a width over 65 535 panics inside `format!` ("Formatting argument out of
/// range"), so a label far to the right of a long line must never reach it as it is. No line
/// of a hand-written policy is this long, so their output is unchanged.
const LONG_LINE: usize = 400;
/// Bytes kept on each side of a label's start and end on a clipped line.
const CLIP_CONTEXT: usize = 60;
/// Bytes kept of a clipped line with no label on it (a line inside a multi-line label).
const CLIP_HEAD: usize = 80;
/// What stands for the bytes left out of a clipped line.
const ELLIPSIS: &str = "\u{2026}";

/// A file with its long lines clipped to the parts around the labels, each gap shown as `…`,
/// that maps offsets between the file and the shown text and reports lines and columns of the
/// file, so the header still says where in the file the label is. Written by hand: miette has
/// no option to clip long lines.
struct Clipped {
    name: String,
    text: String,
    /// The file's bytes that are shown, in order: (offset in the file, offset in `text`, len).
    kept: Vec<(usize, usize, usize)>,
    /// The file's text, to turn a file offset into a column.
    original: String,
}

impl Clipped {
    /// `None` when no line of `text` is longer than [`LONG_LINE`].
    fn new(name: &str, text: &str, spans: &[(usize, usize)]) -> Option<Clipped> {
        if !text.split('\n').any(|l| l.len() > LONG_LINE) {
            return None;
        }
        let mut anchors: Vec<usize> = spans
            .iter()
            .flat_map(|&(s, e)| [s, e])
            .map(|o| o.min(text.len()))
            .collect();
        anchors.sort_unstable();
        let floor = |mut i: usize| {
            while i > 0 && !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let ceil = |mut i: usize| {
            while i < text.len() && !text.is_char_boundary(i) {
                i += 1;
            }
            i
        };
        let mut shown = String::with_capacity(text.len().min(1 << 16));
        let mut kept = Vec::new();
        let mut keep = |shown: &mut String, from: usize, to: usize| {
            if to > from {
                kept.push((from, shown.len(), to - from));
                shown.push_str(&text[from..to]);
            }
        };
        let mut start = 0;
        while start <= text.len() {
            let end = text[start..].find('\n').map_or(text.len(), |p| start + p);
            if end - start <= LONG_LINE {
                keep(&mut shown, start, end);
            } else {
                // The ranges around each label point on this line, merged where they touch.
                let first = anchors.partition_point(|&a| a < start);
                let last = anchors.partition_point(|&a| a <= end);
                let mut ranges: Vec<(usize, usize)> = Vec::new();
                for &a in &anchors[first..last] {
                    let r = (
                        floor(a.saturating_sub(CLIP_CONTEXT).max(start)),
                        ceil((a + CLIP_CONTEXT).min(end)),
                    );
                    match ranges.last_mut() {
                        Some(prev) if r.0 <= prev.1 => prev.1 = prev.1.max(r.1),
                        _ => ranges.push(r),
                    }
                }
                if ranges.is_empty() {
                    ranges.push((start, ceil(start + CLIP_HEAD)));
                }
                let mut at = start;
                for (from, to) in ranges {
                    if from > at {
                        shown.push_str(ELLIPSIS);
                    }
                    keep(&mut shown, from, to);
                    at = to;
                }
                if at < end {
                    shown.push_str(ELLIPSIS);
                }
            }
            if end < text.len() {
                keep(&mut shown, end, end + 1);
            }
            start = end + 1;
        }
        Some(Clipped {
            name: name.to_string(),
            text: shown,
            kept,
            original: text.to_string(),
        })
    }

    /// Where the file's byte `offset` is shown; an offset left out is shown at the `…` that
    /// stands for it.
    fn to_shown(&self, offset: usize) -> usize {
        let i = self.kept.partition_point(|&(old, _, _)| old <= offset);
        match i.checked_sub(1).map(|i| self.kept[i]) {
            Some((old, new, len)) => new + (offset - old).min(len),
            None => 0,
        }
    }

    /// The file's byte offset of a shown offset (a `…` stands for the first byte after it).
    fn to_file(&self, shown: usize) -> usize {
        let i = self.kept.partition_point(|&(_, new, _)| new <= shown);
        match i.checked_sub(1).map(|i| self.kept[i]) {
            Some((old, new, len)) => old + (shown - new).min(len),
            None => 0,
        }
    }
}

impl miette::SourceCode for Clipped {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let shown = self.text.read_span(span, before, after)?;
        // The column miette reports is a byte column; give the file's, not the shown text's.
        let offset = self.to_file(shown.span().offset()).min(self.original.len());
        let line_start = self.original[..offset].rfind('\n').map_or(0, |p| p + 1);
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            shown.data(),
            *shown.span(),
            shown.line(),
            offset - line_start,
            shown.line_count(),
        )))
    }
}

impl miette::SourceCode for Shown {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        match self {
            Shown::Whole(s) => s.read_span(span, before, after),
            Shown::Clipped(c) => c.read_span(span, before, after),
        }
    }
}

impl std::fmt::Debug for MietteView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::fmt::Display for MietteView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for MietteView {}

impl miette::Diagnostic for MietteView {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}
