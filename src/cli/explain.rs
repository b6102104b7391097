use super::{OK, usage_error};
use policy_engine::diagnostics::{CODES, Code};

#[derive(clap::Args)]
pub struct Args {
    /// A diagnostic code such as P1001, or `all` to list every code
    code: String,
}

pub fn run(a: Args) -> u8 {
    if a.code == "all" {
        for c in CODES {
            outln!(
                "{}  {:<8} {}",
                c.code,
                format!("{:?}", c.severity).to_lowercase(),
                c.summary
            );
        }
        return OK;
    }
    let Some(code) = Code::parse(&a.code) else {
        return usage_error(format!(
            "unknown code `{}`; `policy explain all` lists them",
            a.code
        ));
    };
    outln!("{}", render(code));
    OK
}

/// What it catches, why it matters, an example and its fix.
fn render(code: Code) -> String {
    let info = code.info();
    let head = format!(
        "{} ({}, {})",
        info.code,
        info.name,
        format!("{:?}", info.severity).to_lowercase()
    );
    let Some(s) = info.sections() else {
        // Every registered code has all four parts (a test asserts it); print what there is.
        return format!("{head}\n\n{}\n\n{}", info.summary, info.doc);
    };
    let indent = |text: &str| {
        text.lines()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "{head}\n\nWhat it catches:\n{}\n\nWhy it matters:\n{}\n\nExample:\n{}\n\nFix:\n{}",
        indent(s.catches),
        indent(s.why),
        indent(s.example),
        indent(s.fix)
    )
}
