#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic; the library may not
//! Model inference per model at batch 1 and batch 16: every model under `models/`, and the
//! corpus' XGBoost 300×5 (12 features), the seed's notification ranker, which issue 3 measures
//! against onnxruntime (`models/train/bench_ort.py` runs the same rows through onnxruntime).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use policy_engine::model::LoadedModel;
use std::hint::black_box;
use std::path::{Path, PathBuf};

/// Deterministic, varied rows (a few NaN) so every tree takes several paths.
fn rows(width: usize, n: usize) -> Vec<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..width * n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if i % 37 == 5 {
                f32::NAN
            } else {
                (state % 1000) as f32 / 50.0
            }
        })
        .collect()
}

/// The rows stored beside a corpus model (`null` = NaN), row-major.
fn corpus_rows(onnx: &Path) -> Vec<f32> {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(onnx.with_extension("json")).expect("rows"))
            .expect("json");
    json["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|r| r.as_array().expect("row").clone())
        .map(|v| v.as_f64().map_or(f32::NAN, |x| x as f32))
        .collect()
}

fn models(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<(String, PathBuf)> = vec![(
        "xgb_binary_300x5".into(),
        root.join("tests/fixtures/models/xgb_binary_300x5.onnx"),
    )];
    let mut policy_models: Vec<_> = std::fs::read_dir(root.join("models"))
        .expect("models/")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            (p.extension()? == "onnx").then_some((stem, p))
        })
        .collect();
    policy_models.sort();
    files.extend(policy_models);
    let mut group = c.benchmark_group("model");
    for (name, path) in files {
        let model = LoadedModel::load(&path).expect("model loads");
        // The seed's model runs on the corpus' committed rows, the rows
        // `models/train/bench_ort.py` gives onnxruntime; the others on generated rows.
        let committed = (name == "xgb_binary_300x5").then(|| corpus_rows(&path));
        for batch in [1usize, 16] {
            let input = match &committed {
                Some(all) => all[..batch * model.width()].to_vec(),
                None => rows(model.width(), batch),
            };
            group.bench_with_input(BenchmarkId::new(&name, batch), &input, |b, input| {
                b.iter(|| {
                    model
                        .run_column(black_box(input.clone()), batch, 1, 1)
                        .expect("runs")
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, models);
criterion_main!(benches);
