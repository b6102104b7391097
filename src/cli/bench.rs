use super::eval::read_json;
use super::{OK, build_or_report, now_or, usage_error};
use policy_engine::eval::{self, Options};
use policy_engine::ledger::MemoryLedger;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[arg(long)]
    policy: String,
    #[arg(long)]
    context: PathBuf,
    #[arg(long)]
    now: Option<String>,
    /// How long to measure, after a one-second warm-up
    #[arg(long, default_value = "3s", value_parser = parse_secs)]
    duration: Duration,
    /// Reserve actions in the ledger as a real decision would (caps then block later requests)
    #[arg(long)]
    reserve: bool,
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    policy_engine::check::parse_duration(s)
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| format!("invalid duration `{s}`"))
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
    let opts = Options {
        now,
        explain: false,
        decision_id: Some("bench".into()),
        dry_run: !a.reserve,
    };
    if let Err(e) = eval::decide(&graph, &a.policy, &context, &opts, &ledger) {
        eprintln!("error: {e}");
        return super::FAILED;
    }
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(1) {
        let _ = eval::decide(&graph, &a.policy, &context, &opts, &ledger);
    }
    let mut samples: Vec<u64> = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    while start.elapsed() < a.duration {
        let t = Instant::now();
        let _ = std::hint::black_box(eval::decide(&graph, &a.policy, &context, &opts, &ledger));
        samples.push(t.elapsed().as_nanos() as u64);
    }
    let total = start.elapsed();
    samples.sort_unstable();
    let pct = |p: f64| {
        samples
            .get(((samples.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let n = samples.len();
    let per_sec = n as f64 / total.as_secs_f64();
    let mean = samples.iter().sum::<u64>() as f64 / n.max(1) as f64 / 1000.0;
    if a.json {
        let out = serde_json::json!({"policy": a.policy, "decisions": n, "decisions_per_sec": per_sec,
            "p50_us": pct(0.5), "p90_us": pct(0.9), "p99_us": pct(0.99), "mean_us": mean, "min_us": pct(0.0)});
        outln!("{out}");
    } else {
        outln!("policy        {}", a.policy);
        outln!(
            "decisions     {n} in {:.2}s (one thread)",
            total.as_secs_f64()
        );
        outln!("decisions/s   {per_sec:.0}");
        outln!("latency p50   {:.1} µs", pct(0.5));
        outln!("latency p90   {:.1} µs", pct(0.9));
        outln!("latency p99   {:.1} µs", pct(0.99));
        outln!("latency mean  {mean:.1} µs");
    }
    OK
}
