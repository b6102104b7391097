//! The ONNX conformance corpus (`tests/fixtures/models/`): every model loads unmodified
//! through the project's loader and matches the outputs onnxruntime computed at export time
//! within 1e-5, labels exactly. Guards the tree-ensemble operators of `src/model/ops`.

use crate::fixture;
use policy_engine::model::LoadedModel;
use serde_json::Value;

const TOLERANCE: f64 = 1e-5;

/// A case's reference JSON and its rows, row-major (`null` = NaN).
fn reference(case: &str) -> (Value, Vec<f32>) {
    let path = fixture("models").join(format!("{case}.json"));
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let flat = reference["rows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter())
        .map(|v| v.as_f64().map_or(f32::NAN, |x| x as f32))
        .collect();
    (reference, flat)
}

/// Loads one corpus case and returns a list of mismatches (empty when it conforms).
fn conformance(case: &str) -> Vec<String> {
    let dir = fixture("models");
    let (reference, flat) = reference(case);
    let model = match LoadedModel::load(&dir.join(format!("{case}.onnx"))) {
        Ok(m) => m,
        Err(e) => return vec![format!("{case}: does not load: {e}")],
    };
    let rows = reference["rows"].as_array().unwrap();
    let width = reference["n_features"].as_u64().unwrap() as usize;
    assert_eq!(model.width(), width, "{case}: input width");
    let outputs = match model.run(flat, rows.len()) {
        Ok(o) => o,
        Err(e) => return vec![format!("{case}: does not run: {e}")],
    };
    let mut problems = Vec::new();
    for (name, expected) in reference["outputs"].as_object().unwrap() {
        let Some(index) = model.output_index(name) else {
            problems.push(format!("{case}: no output `{name}`"));
            continue;
        };
        let got = &outputs[index];
        let want: Vec<f64> = expected["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
            .collect();
        if got.data.len() != want.len() {
            problems.push(format!(
                "{case}.{name}: {} values, onnxruntime has {}",
                got.data.len(),
                want.len()
            ));
            continue;
        }
        let integer = expected["dtype"].as_str().unwrap().starts_with("int");
        for (i, (g, w)) in got.data.iter().zip(&want).enumerate() {
            let ok = if integer {
                g == w
            } else {
                (g.is_nan() && w.is_nan()) || (g - w).abs() <= TOLERANCE
            };
            if !ok {
                problems.push(format!("{case}.{name}[{i}]: got {g}, onnxruntime {w}"));
            }
        }
    }
    problems
}

fn cases() -> Vec<String> {
    let mut cases: Vec<String> = std::fs::read_dir(fixture("models"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "onnx").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    cases.sort();
    cases
}

#[test]
fn every_corpus_model_matches_onnxruntime() {
    let cases = cases();
    assert!(cases.len() >= 18, "corpus is missing: {cases:?}");
    let problems: Vec<String> = cases.iter().flat_map(|c| conformance(c)).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn binary_tree_labels_are_not_inverted() {
    // tract's own TreeEnsembleClassifier took the argmax before the binary expansion.
    for case in [
        "xgb_binary",
        "lgbm_binary",
        "sklearn_gb_binary",
        "sklearn_hgb_binary",
    ] {
        assert!(conformance(case).is_empty(), "{case}");
    }
}

#[test]
fn every_policy_model_is_a_tree_ensemble_that_loads() {
    for entry in std::fs::read_dir(crate::root().join("models")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "onnx") {
            let model =
                LoadedModel::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.file_stem().unwrap().to_string_lossy();
            if !name.ends_with("_lr") {
                assert!(model.trees > 0, "{name} has no trees");
                // Guards the decision benches: no policy model's probabilities run through
                // tract's plan (the LightGBM exports add Identity, Mul by one and Cast).
                assert!(model.serves_directly(), "{name} runs through tract's plan");
            }
        }
    }
}

/// Runs every probability column of `model` both ways, through `run_column` (the direct path
/// where it applies) and through the whole plan, and asserts they agree bit for bit.
fn direct_matches_plan(name: &str, model: &LoadedModel, flat: &[f32]) {
    let probs = model.output_index("probabilities").unwrap();
    let n = flat.len() / model.width();
    let all = model.run(flat.to_vec(), n).unwrap();
    let columns = all[probs].columns;
    for c in 0..columns {
        let col = model.run_column(flat.to_vec(), n, probs, c).unwrap();
        for (r, v) in col.iter().enumerate() {
            let want = all[probs].data[r * columns + c] as f32 as f64;
            assert_eq!(*v, want, "{name} row {r} column {c}");
        }
    }
}

#[test]
fn the_direct_classifier_path_matches_the_tract_plan() {
    // Guards `LoadedModel::run_column`'s bypass of tract's plan for tree classifiers.
    let mut direct = 0;
    for case in cases() {
        let dir = fixture("models");
        let model = LoadedModel::load(&dir.join(format!("{case}.onnx"))).unwrap();
        if model.output_index("probabilities").is_none() {
            continue;
        }
        direct += usize::from(model.serves_directly());
        let (_, flat) = reference(&case);
        direct_matches_plan(&case, &model, &flat);
    }
    assert!(
        direct >= 4,
        "only {direct} corpus models take the direct path"
    );
    // The policies' models, LightGBM exports with Identity, Mul and Cast among them, on 64
    // made-up rows with missing values.
    for entry in std::fs::read_dir(crate::root().join("models")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.extension().is_none_or(|e| e != "onnx") || name.ends_with("_lr") {
            continue;
        }
        let model = LoadedModel::load(&path).unwrap();
        let flat: Vec<f32> = (0..64 * model.width())
            .map(|i| match i % 7 {
                0 => f32::NAN,
                k => (i as f32 * 0.37 + k as f32).sin() * 40.0,
            })
            .collect();
        direct_matches_plan(&name, &model, &flat);
    }
}
