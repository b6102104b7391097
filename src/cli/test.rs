//! `policy test PATH...`: runs the decision test cases (`*.test.yaml`) beside the policies.
//! Exit codes: 0 every case passed, 1 a case failed, 2 a usage or IO problem, a cases file that
//! does not parse, or policies that do not compile.

use super::{FAILED, OK, USAGE, build_or_report, usage_error};
use policy_engine::testing::{self, CasesFile};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Directories (searched for `*.policy` and `*.test.yaml`) or files
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// More policy files or directories the cases may use
    #[arg(long)]
    policies: Vec<PathBuf>,
    /// Directory that model `file` paths are relative to
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Junit,
}

const CASES_SUFFIX: &str = ".test.yaml";

pub fn run(a: Args) -> u8 {
    let mut policies = Vec::new();
    let mut case_files = Vec::new();
    for p in a.paths.iter().chain(&a.policies) {
        let is_case_path = a.paths.contains(p);
        if let Err(e) = collect(p, is_case_path, &mut policies, &mut case_files) {
            return usage_error(format!("cannot read `{}`: {e}", p.display()));
        }
    }
    policies.sort();
    policies.dedup();
    case_files.sort();
    case_files.dedup();
    if policies.is_empty() {
        return usage_error("no `.policy` files under the given paths (add `--policies DIR`)");
    }
    if case_files.is_empty() {
        return usage_error(format!("no `*{CASES_SUFFIX}` files under the given paths"));
    }
    let mut files = Vec::new();
    for path in case_files {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => return usage_error(format!("cannot read `{}`: {e}", path.display())),
        };
        match testing::parse_cases(&text) {
            Ok(cases) => files.push(CasesFile { path, cases }),
            Err(e @ testing::CaseError::At { .. }) => {
                return usage_error(format!("{}:{e}", path.display()));
            }
            Err(e) => return usage_error(format!("{}: {e}", path.display())),
        }
    }
    let graph = match build_or_report(&policies, &a.models) {
        Ok(g) => g,
        // Policies that do not compile are not a test failure: nothing could be tested.
        Err(_) => return USAGE,
    };
    let mut results = Vec::new();
    for f in &files {
        for lc in &f.cases {
            let started = Instant::now();
            let mismatches = testing::run_case(&graph, &lc.case);
            results.push(testing::result(f, lc, mismatches, Some(started.elapsed())));
        }
    }
    match a.format {
        Format::Text => outln!("{}", testing::render_text(&results).trim_end()),
        Format::Junit => match testing::render_junit(&results) {
            Ok(xml) => outln!("{xml}"),
            Err(e) => return usage_error(format!("cannot write JUnit XML: {e}")),
        },
    }
    if matches!(a.format, Format::Junit) {
        // The summary line, for people watching a CI log; stdout stays pure XML.
        eprintln!("{}", testing::summary(&results));
    }
    if results.iter().all(testing::CaseResult::passed) {
        OK
    } else {
        FAILED
    }
}

/// Policies and cases files under `p`. A file named on the command line is a cases file unless
/// it is a `.policy` file.
fn collect(
    p: &Path,
    cases_too: bool,
    policies: &mut Vec<PathBuf>,
    cases: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let meta = std::fs::metadata(p)?;
    if !meta.is_dir() {
        if p.extension().is_some_and(|e| e == "policy") {
            policies.push(p.to_path_buf());
        } else if cases_too {
            cases.push(p.to_path_buf());
        }
        return Ok(());
    }
    for entry in std::fs::read_dir(p)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(&path, cases_too, policies, cases)?;
        } else if path.extension().is_some_and(|e| e == "policy") {
            policies.push(path);
        } else if cases_too && name.ends_with(CASES_SUFFIX) {
            cases.push(path);
        }
    }
    Ok(())
}
