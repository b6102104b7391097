use super::{FAILED, OK, usage_error};
use policy_engine::{compile, diagnostics, graph, syntax};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Policy files or directories (searched for `*.policy`)
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Draw only this policy (default: every policy in the files)
    #[arg(long)]
    policy: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Mermaid)]
    format: Format,
    /// Directory that model `file` paths are relative to
    #[arg(long, default_value = "models")]
    models: PathBuf,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// a Mermaid flowchart (GitHub renders it in markdown)
    Mermaid,
    /// Graphviz DOT (`dot -Tsvg`)
    Dot,
}

pub fn run(a: Args) -> u8 {
    let sources = match compile::load_sources(&a.paths) {
        Ok(s) => s,
        Err(e) => return usage_error(format!("cannot read policies: {e}")),
    };
    // Draw only what checks: a graph of a policy with errors would draw names that resolve to
    // nothing.
    let build = compile::build(sources, &policy_engine::model::ModelStore::new(&a.models));
    let errors: Vec<_> = build.errors().cloned().collect();
    if !errors.is_empty() {
        eprint!(
            "{}",
            diagnostics::render_human(&errors, &build.sources, false)
        );
        return FAILED;
    }
    let files: Vec<_> = build
        .sources
        .files()
        .filter_map(|(id, f)| syntax::parse(id, &f.text).ok())
        .collect();
    let mut graphs = graph::graphs(&files);
    if let Some(name) = &a.policy {
        graphs.retain(|g| &g.name == name);
        if graphs.is_empty() {
            let names: Vec<String> = graph::graphs(&files)
                .into_iter()
                .map(|g| format!("`{}`", g.name))
                .collect();
            return usage_error(format!(
                "no policy `{name}` in these files; they declare {}",
                names.join(", ")
            ));
        }
    }
    let out = match a.format {
        Format::Mermaid => graph::render_mermaid(&graphs),
        Format::Dot => graph::render_dot(&graphs),
    };
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    OK
}
