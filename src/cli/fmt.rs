//! `policy fmt [--check] PATH...`: rewrites `.policy` files in the canonical layout, or with
//! `--check` prints a unified diff of what would change and exits 1.

use super::{FAILED, OK, USAGE, usage_error};
use policy_engine::compile;
use policy_engine::diagnostics;
use std::io::Write as _;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Policy files or directories (searched for `*.policy`)
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Change nothing: print a diff of each file that is not formatted and exit 1
    #[arg(long)]
    check: bool,
}

pub fn run(a: Args) -> u8 {
    let sources = match compile::load_sources(&a.paths) {
        Ok(s) => s,
        Err(e) => return usage_error(format!("cannot read policies: {e}")),
    };
    let mut code = OK;
    let mut changed = 0usize;
    let mut total = 0usize;
    for (id, file) in sources.files() {
        total += 1;
        if let Some(why) = &file.unreadable {
            eprintln!("error: cannot read `{}`: {why}", file.path.display());
            code = USAGE;
            continue;
        }
        let formatted = match policy_engine::fmt::format_source(id, &file.text) {
            Ok(f) => f,
            Err(errors) => {
                // Syntax errors: report them and leave the file as it is.
                eprint!("{}", diagnostics::render_human(&errors, &sources, false));
                code = code.max(FAILED);
                continue;
            }
        };
        if formatted == file.text {
            continue;
        }
        changed += 1;
        if a.check {
            outln!("{}", diff(&file.path, &file.text, &formatted));
            code = code.max(FAILED);
        } else if let Err(e) = write_atomic(&file.path, &formatted) {
            eprintln!("error: cannot write `{}`: {e}", file.path.display());
            code = USAGE;
        }
    }
    let verb = if a.check {
        "would be reformatted"
    } else {
        "reformatted"
    };
    eprintln!(
        "{changed} of {} {verb}",
        policy_engine::diagnostics::count(total, "file", "files")
    );
    code
}

/// A unified diff, `--- path` / `+++ path (formatted)`, three lines of context.
pub fn diff(path: &Path, old: &str, new: &str) -> String {
    let path = path.display().to_string();
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&path, &format!("{path} (formatted)"))
        .to_string()
}

/// Writes through a temporary file in the same directory and a rename, so a reader never sees
/// half a file and a crash never leaves one.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.fmt-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
