use super::{FAILED, OK, usage_error};
use policy_engine::diff::{self, Side};
use policy_engine::source::SourceMap;
use policy_engine::{compile, diagnostics, syntax};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// The old version: a policy file or a directory of them
    old: PathBuf,
    /// The new version: a policy file or a directory of them
    new: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// markdown, to paste into a pull-request comment
    Text,
    /// the same changes as JSON
    Json,
}

/// Reads and parses one side. Paths are kept relative to the argument (a file's own name), so
/// the two sides' files compare. A side that does not parse is reported with its diagnostics.
fn load(root: &Path) -> Result<(SourceMap, Vec<syntax::ast::File>), u8> {
    let sources = compile::load_sources(&[root.to_path_buf()])
        .map_err(|e| usage_error(format!("cannot read `{}`: {e}", root.display())))?;
    let mut files = Vec::new();
    let mut diags = Vec::new();
    for (id, f) in sources.files() {
        if let Some(why) = &f.unreadable {
            diags.push(
                diagnostics::Diagnostic::new(
                    diagnostics::Code::IoError,
                    format!("cannot read `{}`: {why}", f.path.display()),
                )
                .label(policy_engine::source::Span::new(id, 0, 0), ""),
            );
            continue;
        }
        match syntax::parse(id, &f.text) {
            Ok(file) => files.push(file),
            Err(mut errors) => diags.append(&mut errors),
        }
    }
    if !diags.is_empty() {
        eprint!("{}", diagnostics::render_human(&diags, &sources, false));
        return Err(FAILED);
    }
    Ok((sources, files))
}

fn side<'a>(root: &Path, sources: &SourceMap, files: &'a [syntax::ast::File]) -> Side<'a> {
    let base = if root.is_dir() {
        root
    } else {
        root.parent().unwrap_or(Path::new(""))
    };
    files
        .iter()
        .flat_map(|f| {
            let path = sources.path(f.source);
            let rel = path.strip_prefix(base).unwrap_or(path).to_path_buf();
            f.policies.iter().map(move |p| (p, rel.clone()))
        })
        .collect()
}

pub fn run(a: Args) -> u8 {
    let (old_sources, old_files) = match load(&a.old) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (new_sources, new_files) = match load(&a.new) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let d = diff::diff_sets(
        &side(&a.old, &old_sources, &old_files),
        &side(&a.new, &new_sources, &new_files),
    );
    match a.format {
        Format::Text => {
            use std::io::Write as _;
            let _ = std::io::stdout()
                .lock()
                .write_all(diff::render_markdown(&d).as_bytes());
        }
        Format::Json => outln!("{}", serde_json::to_string_pretty(&d).unwrap_or_default()),
    }
    OK
}
