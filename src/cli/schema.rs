//! `policy schema`: writes the JSON Schemas of the API's bodies and the OpenAPI document.

use super::{OK, usage_error};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Directory to write `*.json` into
    #[arg(long, default_value = "schemas")]
    out: PathBuf,
}

pub fn run(a: Args) -> u8 {
    if let Err(e) = std::fs::create_dir_all(&a.out) {
        return usage_error(format!("cannot create {}: {e}", a.out.display()));
    }
    for (name, schema) in policy_engine::server::schema::files() {
        let path = a.out.join(name);
        if let Err(e) = std::fs::write(&path, policy_engine::server::schema::render(&schema)) {
            return usage_error(format!("cannot write {}: {e}", path.display()));
        }
        outln!("wrote {}", path.display());
    }
    OK
}
