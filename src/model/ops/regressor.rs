//! `ai.onnx.ml.TreeEnsembleRegressor`, with onnxruntime's output semantics
//! (`TreeAggregatorSum` / `Average` / `Min` / `Max`).

use std::sync::Arc;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attrs::{RawTrees, string};
use super::tree::{Aggregate, FlatEnsemble, PostTransform, probit};

#[derive(Debug, PartialEq)]
pub struct Regressor {
    pub ensemble: FlatEnsemble,
    n_targets: usize,
    base_values: Vec<f32>,
    aggregate: Aggregate,
    post_transform: PostTransform,
}

impl Regressor {
    pub fn from_node(ctx: &ParsingContext, node: &NodeProto) -> TractResult<Regressor> {
        let n_targets = node.get_attr_opt::<i64>("n_targets")?.unwrap_or(1);
        ensure!(
            (1..(1 << 20)).contains(&n_targets),
            "attribute 'n_targets' is {n_targets}, expected a positive count"
        );
        let n_targets = n_targets as usize;
        let post = string(node, "post_transform", "NONE")?;
        let post_transform = PostTransform::parse(&post)
            .with_context(|| format!("attribute 'post_transform': unknown value {post:?}"))?;
        let agg = string(node, "aggregate_function", "SUM")?;
        let aggregate = Aggregate::parse(&agg)
            .with_context(|| format!("attribute 'aggregate_function': unknown value {agg:?}"))?;
        let base_values = super::attrs::floats(ctx, node, "base_values")?;
        // onnxruntime's rule (tree_ensemble_attribute.h)
        ensure!(
            base_values.is_empty() || base_values.len() == n_targets,
            "attribute 'base_values' has {} values, expected 0 or n_targets ({n_targets})",
            base_values.len()
        );
        let raw = RawTrees::parse(ctx, node, "target")?;
        let ensemble = FlatEnsemble::build(&raw.attributes(n_targets, aggregate, n_targets == 1))?;
        Ok(Regressor {
            ensemble,
            n_targets,
            base_values,
            aggregate,
            post_transform,
        })
    }

    pub fn n_targets(&self) -> usize {
        self.n_targets
    }

    pub fn eval(&self, x: &[f32], n_rows: usize, width: usize) -> TractResult<Tensor> {
        let nt = self.n_targets;
        let n_trees = self.ensemble.n_trees() as f32;
        let mut out = Tensor::zero::<f32>(&[n_rows, nt])?;
        self.fill(
            x,
            n_rows,
            width,
            n_trees,
            out.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
        )?;
        Ok(out)
    }

    fn fill(
        &self,
        x: &[f32],
        n_rows: usize,
        width: usize,
        n_trees: f32,
        z: &mut [f32],
    ) -> TractResult<()> {
        let nt = self.n_targets;
        if nt == 1 {
            // FinalizeScores1: only PROBIT applies to a single target
            self.ensemble
                .accumulate_single(x, n_rows, width, self.aggregate, z)?;
            let origin = if self.base_values.len() == 1 {
                self.base_values[0]
            } else {
                0.0
            };
            for v in z.iter_mut() {
                let score = match self.aggregate {
                    Aggregate::Average => *v / n_trees + origin,
                    _ => *v + origin,
                };
                *v = if self.post_transform == PostTransform::Probit {
                    probit(score)
                } else {
                    score
                };
            }
        } else {
            let mut has = vec![false; n_rows * nt];
            self.ensemble
                .accumulate_multi(x, n_rows, width, self.aggregate, z, &mut has)?;
            let use_base = self.base_values.len() == nt;
            for (row, row_has) in z.chunks_mut(nt).zip(has.chunks(nt)) {
                for t in 0..nt {
                    let base = if use_base { self.base_values[t] } else { 0.0 };
                    row[t] = if !row_has[t] {
                        0.0
                    } else if self.aggregate == Aggregate::Average {
                        row[t] / n_trees + base
                    } else {
                        row[t] + base
                    };
                }
                self.post_transform.apply(row);
            }
        }
        Ok(())
    }
}

pub fn build(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let model = Regressor::from_node(ctx, node)?;
    Ok((expand(TreeEnsembleRegressorSpec(Arc::new(model))), vec![]))
}

/// Inference-time form: one input, one output `[N, n_targets]`.
#[derive(Clone, Debug)]
pub struct TreeEnsembleRegressorSpec(pub Arc<Regressor>);

impl Expansion for TreeEnsembleRegressorSpec {
    fn name(&self) -> StaticName {
        "TreeEnsembleRegressor".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        info(&self.0)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], self.0.n_targets().to_dim())?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let x = super::wire_f32_input(prefix, model, inputs)?;
        model.wire_node(prefix, TreeEnsembleRegressorOp(self.0.clone()), &[x])
    }
}

fn info(r: &Regressor) -> TractResult<Vec<String>> {
    Ok(vec![format!(
        "{} trees, {} nodes, max depth {}, {} targets, {:?}, post_transform {:?}, base_values {:?}",
        r.ensemble.n_trees(),
        r.ensemble.n_nodes(),
        r.ensemble.max_depth(),
        r.n_targets,
        r.aggregate,
        r.post_transform,
        r.base_values
    )])
}

/// The typed op: f32 `[N, F]` in, f32 `[N, n_targets]` out.
#[derive(Clone, Debug)]
pub struct TreeEnsembleRegressorOp(pub Arc<Regressor>);

impl PartialEq for TreeEnsembleRegressorOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TreeEnsembleRegressorOp {}

impl Op for TreeEnsembleRegressorOp {
    fn name(&self) -> StaticName {
        "TreeEnsembleRegressor".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        info(&self.0)
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsembleRegressorOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(inputs.len() == 1, "TreeEnsembleRegressor expects one input");
        let x = &inputs[0];
        ensure!(
            x.rank() == 2,
            "TreeEnsembleRegressor expects a rank 2 input, got {:?}",
            x.shape()
        );
        let (n, width) = (x.shape()[0], x.shape()[1]);
        let view = x.try_as_plain_ram()?;
        let y = self.0.eval(view.as_slice::<f32>()?, n, width)?;
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for TreeEnsembleRegressorOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs.len() == 1, "TreeEnsembleRegressor expects one input");
        let x = inputs[0];
        ensure!(
            x.datum_type == f32::datum_type(),
            "TreeEnsembleRegressor expects f32 input"
        );
        ensure!(
            x.rank() == 2,
            "TreeEnsembleRegressor expects a rank 2 input"
        );
        ensure!(
            x.shape[1]
                .to_i64()
                .map(|w| w as usize >= self.0.ensemble.min_width())
                .unwrap_or(true),
            "the trees read feature {} but the input has {} features",
            self.0.ensemble.min_width() - 1,
            x.shape[1]
        );
        Ok(tvec!(TypedFact::dt_shape(
            f32::datum_type(),
            [x.shape[0].clone(), self.0.n_targets.to_dim()]
        )))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let n = inputs[0].shape[0].clone();
        Ok(tvec!((
            Cost::Custom(true, "TreeNodeVisit".into()),
            n * (self.0.ensemble.n_trees() * self.0.ensemble.max_depth() as usize)
        )))
    }

    as_op!();
}
