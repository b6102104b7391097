#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic; the library may not
//! The hot path: one decision, end to end (validation, models, scores, guards, ledger).

use criterion::{Criterion, criterion_group, criterion_main};
use policy_engine::compile;
use policy_engine::eval::{self, Options};
use policy_engine::ledger::MemoryLedger;
use std::hint::black_box;
use std::path::Path;

fn load(policy: &str) -> (compile::DecisionGraph, serde_json::Value) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let build = compile::build_paths(&[root.join("policies")], &root.join("models"))
        .expect("read policies");
    let graph = build.graph.expect("policies compile");
    let ctx = std::fs::read_to_string(root.join(format!("examples/contexts/{policy}.json")))
        .expect("context");
    (graph, serde_json::from_str(&ctx).expect("json"))
}

fn decide(c: &mut Criterion) {
    // Noon in New York: nothing blocks, every guard is evaluated. `dry_run` keeps the ledger
    // from filling up across iterations (reads still happen; the commit is skipped).
    let opts = Options {
        dry_run: true,
        decision_id: Some("bench".into()),
        ..Options::at("2026-11-23T17:00:00Z".parse().expect("now"))
    };
    let ledger = MemoryLedger::new();
    for policy in [
        "notifications",
        "paywall",
        "retention_router",
        "suggested_contacts",
    ] {
        let (graph, ctx) = load(policy);
        c.bench_function(&format!("decide/{policy}"), |b| {
            b.iter(|| {
                eval::decide(black_box(&graph), policy, black_box(&ctx), &opts, &ledger)
                    .expect("decision")
            })
        });
    }
    // With reservation: a fresh subject per iteration, so caps never block.
    let (graph, mut ctx) = load("notifications");
    let ledger = MemoryLedger::new();
    let mut n = 0u64;
    let opts = Options {
        dry_run: false,
        ..opts
    };
    c.bench_function("decide/notifications_reserving", |b| {
        b.iter(|| {
            n += 1;
            ctx["user_id"] = serde_json::Value::String(format!("u{n}"));
            eval::decide(&graph, "notifications", black_box(&ctx), &opts, &ledger)
                .expect("decision")
        })
    });
}

fn check(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = compile::load_sources(&[root.join("policies")]).expect("read");
    let store = policy_engine::model::ModelStore::new(root.join("models"));
    // Models are cached by the store: this measures parse + check + link of the four files.
    c.bench_function("build/policies", |b| {
        b.iter(|| compile::build(black_box(sources.clone()), &store))
    });
}

criterion_group!(benches, decide, check);
criterion_main!(benches);
