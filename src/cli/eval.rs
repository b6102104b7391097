use super::{FAILED, OK, build_or_report, now_or, usage_error};
use policy_engine::eval::{self, Options};
use policy_engine::ledger::{MemoryLedger, PastAction};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Policy files or directories
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The policy to evaluate
    #[arg(long)]
    policy: String,
    /// The request context, a JSON file (`-` for standard input)
    #[arg(long)]
    context: PathBuf,
    /// Decision time, RFC 3339 (default: the clock)
    #[arg(long)]
    now: Option<String>,
    /// Past actions to seed the ledger with: a JSON array of
    /// `{"subject", "candidate", "at", "policy"?, "attrs"?}`
    #[arg(long)]
    history: Option<PathBuf>,
    /// Include a trace of every node's value
    #[arg(long)]
    explain: bool,
    #[arg(long, default_value = "models")]
    models: PathBuf,
}

pub fn read_json(path: &PathBuf) -> Result<serde_json::Value, String> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| format!("cannot read standard input: {e}"))?
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
    };
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}:{}: invalid JSON: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })
}

pub fn seed_history(
    ledger: &MemoryLedger,
    path: &PathBuf,
    default_policy: &str,
) -> Result<(), String> {
    let json = read_json(path)?;
    let past: Vec<PastAction> =
        serde_json::from_value(json).map_err(|e| format!("{}: {e}", path.display()))?;
    ledger
        .seed_past(past, default_policy)
        .map_err(|e| e.to_string())
}

pub fn run(a: Args) -> u8 {
    let now = match now_or(a.now.as_deref()) {
        Ok(n) => n,
        Err(e) => return usage_error(e),
    };
    let context = match read_json(&a.context) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let graph = match build_or_report(&a.paths, &a.models) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let ledger = MemoryLedger::new();
    if let Some(h) = &a.history
        && let Err(e) = seed_history(&ledger, h, &a.policy)
    {
        return usage_error(e);
    }
    let opts = Options {
        now,
        explain: a.explain,
        decision_id: None,
        dry_run: false,
    };
    match eval::decide(&graph, &a.policy, &context, &opts, &ledger) {
        Ok(d) => {
            outln!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
            OK
        }
        Err(eval::EvalError::InvalidContext { policy, errors }) => {
            eprintln!("error: the context does not match policy `{policy}`");
            for e in errors {
                eprintln!("  {}: {} (expected {})", e.path, e.message, e.expected);
            }
            FAILED
        }
        Err(e) => {
            eprintln!("error: {e}");
            FAILED
        }
    }
}
