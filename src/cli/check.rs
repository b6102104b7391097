use super::{FAILED, OK, usage_error};
use policy_engine::compile;
use policy_engine::diagnostics::{self, Severity};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Policy files or directories (searched for `*.policy`)
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Directory that model `file` paths are relative to
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Fail (exit 1) on warnings too
    #[arg(long)]
    deny_warnings: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// miette reports on stderr
    Human,
    /// `{"diagnostics": [...], "summary": {...}}` on stdout
    Json,
    /// GitHub Actions workflow commands (`::error file=...`) on stdout
    Github,
    /// SARIF 2.1.0 on stdout, for code scanning
    Sarif,
}

pub fn run(a: Args) -> u8 {
    let sources = match compile::load_sources(&a.paths) {
        Ok(s) => s,
        Err(e) => return usage_error(format!("cannot read policies: {e}")),
    };
    let files = sources.files().count();
    let build = compile::build(sources, &policy_engine::model::ModelStore::new(&a.models));
    let errors = build
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = build.diagnostics.len() - errors;
    let policies = build.graph.as_ref().map_or(0, |g| g.policies.len());
    match a.format {
        Format::Human => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            eprint!(
                "{}",
                diagnostics::render_human(&build.diagnostics, &build.sources, color)
            );
            if errors + warnings == 0 {
                eprintln!(
                    "checked {} in {}: no problems",
                    diagnostics::count(policies, "policy", "policies"),
                    diagnostics::count(files, "file", "files")
                );
            } else {
                eprintln!("{}", summary(errors, warnings, files));
            }
        }
        Format::Json => {
            let diags: Vec<_> = build
                .diagnostics
                .iter()
                .map(|d| diagnostics::to_json(d, &build.sources))
                .collect();
            let out = serde_json::json!({
                "diagnostics": diags,
                "summary": {"errors": errors, "warnings": warnings, "files": files},
            });
            outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        Format::Github => {
            let base = std::env::current_dir().ok();
            let out =
                diagnostics::render_github(&build.diagnostics, &build.sources, base.as_deref());
            use std::io::Write as _;
            let _ = std::io::stdout().lock().write_all(out.as_bytes());
            eprintln!("{}", summary(errors, warnings, files));
        }
        Format::Sarif => {
            let base = std::env::current_dir().ok();
            let log = diagnostics::to_sarif(&build.diagnostics, &build.sources, base.as_deref());
            outln!("{}", serde_json::to_string_pretty(&log).unwrap_or_default());
            eprintln!("{}", summary(errors, warnings, files));
        }
    }
    if errors > 0 || (a.deny_warnings && warnings > 0) {
        FAILED
    } else {
        OK
    }
}

/// `1 error, 0 warnings in 1 file`: what a check found, after the diagnostics.
fn summary(errors: usize, warnings: usize, files: usize) -> String {
    format!(
        "{}, {} in {}",
        diagnostics::count(errors, "error", "errors"),
        diagnostics::count(warnings, "warning", "warnings"),
        diagnostics::count(files, "file", "files")
    )
}
