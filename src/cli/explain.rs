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
    let info = code.info();
    outln!(
        "{} ({}, {})\n\n{}\n\n{}",
        info.code,
        info.name,
        format!("{:?}", info.severity).to_lowercase(),
        info.summary,
        info.doc
    );
    OK
}
