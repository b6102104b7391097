#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic; the library may not
//! Parsing and checking time over growing hostile inputs (issue 15, "exponential parse"): a
//! line of unclosed `size(` calls (time doubled per level before the grammar was fixed) and an
//! unterminated string of escaped quotes (quadratic). Both must grow linearly; 24 levels and
//! 64 KB each take well under a millisecond. The inputs are the tests' own generators.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use policy_engine::compile;
use policy_engine::model::ModelStore;
use policy_engine::source::{SourceId, SourceMap};
use policy_engine::syntax;
use std::hint::black_box;

#[path = "../tests/it/hostile.rs"]
mod hostile;

fn inputs() -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    for levels in [6, 12, 24, 48, 1_000] {
        out.push((
            "unclosed",
            levels.to_string(),
            hostile::unclosed_calls(levels),
        ));
    }
    for kb in [1, 4, 16, 64] {
        out.push((
            "escaped",
            format!("{kb}KB"),
            hostile::escaped_string(kb * 1024),
        ));
    }
    out
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for (kind, size, text) in inputs() {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new(kind, &size), &text, |b, text| {
            // Every one of these is a syntax error (or too deep): the error path is what is
            // measured, as the server's reload thread meets it.
            b.iter(|| syntax::parse(SourceId(0), black_box(text)).is_err())
        });
    }
    group.finish();
}

fn check(c: &mut Criterion) {
    let models = ModelStore::new(std::env::temp_dir());
    let mut group = c.benchmark_group("check");
    for (kind, size, text) in inputs() {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new(kind, &size), &text, |b, text| {
            b.iter(|| {
                let mut sources = SourceMap::new();
                sources.add("bench.policy", black_box(text.as_str()));
                compile::build(sources, &models).graph.is_none()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse, check);
criterion_main!(benches);
