//! ONNX-ML operators that tract does not serve (or serves wrongly), registered
//! into tract's ONNX loader.
//!
//! * `TreeEnsembleClassifier` (replaces tract's own) and `TreeEnsembleRegressor`:
//!   flat, batched tree evaluation with onnxruntime's exact output semantics
//!   (binary expansion, base values, post transforms, labels);
//! * `Scaler`: `y = (x - offset) * scale`, expanded to tract core ops.
//!
//! Use [`onnx_loader`] instead of `tract_onnx::onnx()`.
//!
//! This module only depends on `std` and `tract_onnx`.

mod attrs;
mod classifier;
mod regressor;
mod scaler;
mod tree;

pub use classifier::{Classifier, TreeEnsembleClassifierOp, TreeEnsembleClassifierSpec};
pub use regressor::{TreeEnsembleRegressorOp, TreeEnsembleRegressorSpec};
pub use tree::{Aggregate, FlatEnsemble, NodeMode, PostTransform};

/// `tract_onnx::onnx()` with this module's operators registered (replacing
/// tract's `TreeEnsembleClassifier`).
pub fn onnx_loader() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    register(&mut onnx.op_register);
    onnx
}

/// Registers this module's operators into an existing ONNX op register.
pub fn register(reg: &mut tract_onnx::model::OnnxOpRegister) {
    reg.insert("TreeEnsembleClassifier", classifier::build);
    reg.insert("TreeEnsembleRegressor", regressor::build);
    reg.insert("Scaler", scaler::build);
}

use tract_onnx::tract_hir::internal::*;

/// Casts the single input to f32 when needed (onnxruntime accepts float,
/// double, int64 and int32 inputs; the thresholds are compared in f32).
fn wire_f32_input(
    prefix: &str,
    model: &mut TypedModel,
    inputs: &[OutletId],
) -> TractResult<OutletId> {
    ensure!(
        inputs.len() == 1,
        "expected exactly one input, got {}",
        inputs.len()
    );
    let x = inputs[0];
    if model.outlet_fact(x)?.datum_type == f32::datum_type() {
        Ok(x)
    } else {
        Ok(model.wire_node(
            format!("{prefix}.to_f32"),
            tract_onnx::tract_hir::tract_core::ops::cast::cast(f32::datum_type()),
            &[x],
        )?[0])
    }
}
