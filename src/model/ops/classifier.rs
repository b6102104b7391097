//! `ai.onnx.ml.TreeEnsembleClassifier`, with onnxruntime's output semantics
//! (`tree_ensemble_aggregator.h`, `TreeAggregatorClassifier`, and
//! `write_scores` in `ml_common.h`).

use std::sync::Arc;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attrs::{RawTrees, string};
use super::tree::{Aggregate, FlatEnsemble, PostTransform, logistic, probit};

#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    Int(Vec<i64>),
    Str(Vec<String>),
}

impl Labels {
    fn len(&self) -> usize {
        match self {
            Labels::Int(v) => v.len(),
            Labels::Str(v) => v.len(),
        }
    }

    fn datum_type(&self) -> DatumType {
        match self {
            Labels::Int(_) => i64::datum_type(),
            Labels::Str(_) => String::datum_type(),
        }
    }
}

/// What onnxruntime writes in the label output for a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LabelChoice {
    /// `classlabels[i]`
    Index(usize),
    /// The literal 0 / 1 onnxruntime writes for a two-class model whose
    /// weights mention both classes (`positive_label_` / `negative_label_`);
    /// string labels map it to `classlabels_strings[0 or 1]`.
    Raw(i64),
}

/// The loaded, validated classifier.
#[derive(Debug, PartialEq)]
pub struct Classifier {
    pub ensemble: FlatEnsemble,
    labels: Labels,
    base_values: Vec<f32>,
    post_transform: PostTransform,
    /// Two classes and every weight on the same class id.
    binary_case: bool,
    weights_all_non_negative: bool,
}

impl Classifier {
    pub fn from_node(ctx: &ParsingContext, node: &NodeProto) -> TractResult<Classifier> {
        let ints = node.get_attr_opt_slice::<i64>("classlabels_int64s")?;
        let strs = node.get_attr_opt_tvec::<String>("classlabels_strings")?;
        let labels = match (ints, strs) {
            (Some(i), None) => Labels::Int(i.to_vec()),
            (None, Some(s)) => Labels::Str(s.into_vec()),
            (None, None) => {
                bail!("one of 'classlabels_int64s' or 'classlabels_strings' is required")
            }
            (Some(_), Some(_)) => {
                bail!("only one of 'classlabels_int64s' and 'classlabels_strings' may be set")
            }
        };
        let n_classes = labels.len();
        ensure!(
            n_classes >= 2,
            "a classifier needs at least two class labels, this one has {n_classes}"
        );
        let post = string(node, "post_transform", "NONE")?;
        let post_transform = PostTransform::parse(&post)
            .with_context(|| format!("attribute 'post_transform': unknown value {post:?}"))?;
        let base_values = super::attrs::floats(ctx, node, "base_values")?;
        // onnxruntime's rule (tree_ensemble_attribute.h)
        ensure!(
            if n_classes == 2 {
                base_values.len() <= 2
            } else {
                base_values.is_empty() || base_values.len() == n_classes
            },
            "attribute 'base_values' has {} values, expected {} for {n_classes} classes",
            base_values.len(),
            if n_classes == 2 {
                "0, 1 or 2".to_string()
            } else {
                format!("0 or {n_classes}")
            }
        );
        // onnxruntime ignores aggregate_function for classifiers (always SUM),
        // but a value it would not parse is still a malformed model.
        let agg = string(node, "aggregate_function", "SUM")?;
        ensure!(
            Aggregate::parse(&agg).is_some(),
            "attribute 'aggregate_function': unknown value {agg:?}"
        );
        let raw = RawTrees::parse(ctx, node, "class")?;
        let ensemble = FlatEnsemble::build(&raw.attributes(n_classes, Aggregate::Sum, false))?;
        Ok(Classifier {
            binary_case: n_classes == 2 && ensemble.distinct_weight_columns() == 1,
            weights_all_non_negative: ensemble.all_weights_non_negative(),
            ensemble,
            labels,
            base_values,
            post_transform,
        })
    }

    pub fn n_classes(&self) -> usize {
        self.labels.len()
    }

    pub fn label_datum_type(&self) -> DatumType {
        self.labels.datum_type()
    }

    /// Finalizes one row: `s` / `h` are the per-class sums and "has a score"
    /// flags, `z` receives the probabilities. Mirrors
    /// `TreeAggregatorClassifier::FinalizeScores` + `write_scores`.
    fn finalize_row(&self, s: &mut [f32], h: &mut [bool], z: &mut [f32]) -> LabelChoice {
        let bv = &self.base_values;
        let c = s.len();
        if c > 2 {
            for (k, &b) in bv.iter().enumerate() {
                if h[k] {
                    s[k] += b;
                } else {
                    h[k] = true;
                    s[k] = b;
                }
            }
            let mut best: Option<usize> = None;
            let mut best_score = 0.0f32;
            for k in 0..c {
                if h[k] && (best.is_none() || s[k] > best_score) {
                    best = Some(k);
                    best_score = s[k];
                }
            }
            for k in 0..c {
                z[k] = if h[k] { s[k] } else { 0.0 };
            }
            self.post_transform.apply(z);
            return LabelChoice::Index(best.unwrap_or(0));
        }

        // two classes
        let mut add_second_class: i32 = -1;
        let mut len = 2;
        match bv.len() {
            2 => {
                if h[1] {
                    // sic: onnxruntime adds class 0's score to base_values[1]
                    s[1] = bv[1] + s[0];
                    s[0] = -s[1];
                    h[1] = true;
                } else {
                    s[1] += bv[1];
                    s[0] += bv[0];
                }
            }
            1 => {
                s[0] += bv[0];
                if !h[1] {
                    len = 1;
                }
            }
            0 => {
                add_second_class = 3;
                if !h[1] {
                    len = 1;
                }
            }
            _ => (),
        }
        let positive = if len == 2 && h[1] {
            s[1]
        } else if h[0] {
            s[0]
        } else {
            0.0
        };
        let label = if self.binary_case {
            if self.weights_all_non_negative {
                if positive > 0.5 {
                    add_second_class = 0;
                    LabelChoice::Index(1)
                } else {
                    add_second_class = 1;
                    LabelChoice::Index(0)
                }
            } else if positive > 0.0 {
                add_second_class = 2;
                LabelChoice::Index(1)
            } else {
                add_second_class = 3;
                LabelChoice::Index(0)
            }
        } else {
            LabelChoice::Raw(if positive > 0.0 { 1 } else { 0 })
        };
        if len == 2 {
            z[0] = if h[0] { s[0] } else { 0.0 };
            z[1] = if h[1] { s[1] } else { 0.0 };
            self.post_transform.apply(&mut z[..2]);
        } else {
            let v = if h[0] { s[0] } else { 0.0 };
            if self.post_transform == PostTransform::Probit {
                // onnxruntime writes a single value here and leaves the second
                // one uninitialized (whatever its allocator hands back)
                z[0] = probit(v);
                z[1] = 0.0;
            } else {
                let logistic_post = self.post_transform == PostTransform::Logistic;
                match add_second_class {
                    0..=3 if logistic_post => {
                        z[0] = logistic(-v);
                        z[1] = logistic(v);
                    }
                    0 | 1 => {
                        z[0] = 1.0 - v;
                        z[1] = v;
                    }
                    2 | 3 => {
                        z[0] = -v;
                        z[1] = v;
                    }
                    _ => {
                        // onnxruntime writes z[0] only, z[1] is uninitialized
                        z[0] = v;
                        z[1] = 0.0;
                    }
                }
            }
        }
        label
    }

    /// The probabilities of `n_rows` rows of `width` features, row-major (`n_rows × classes`),
    /// without the labels: the serving path, which reads probabilities only.
    pub fn probabilities(&self, x: &[f32], n_rows: usize, width: usize) -> TractResult<Vec<f32>> {
        self.scores(x, n_rows, width, |_| ())
    }

    /// Walks the trees and finalizes every row into probabilities, handing each row's label
    /// choice to `label`.
    fn scores(
        &self,
        x: &[f32],
        n_rows: usize,
        width: usize,
        mut label: impl FnMut(LabelChoice),
    ) -> TractResult<Vec<f32>> {
        let nc = self.n_classes();
        let mut scores = vec![0.0f32; n_rows * nc];
        let mut has = vec![false; n_rows * nc];
        self.ensemble
            .accumulate_multi(x, n_rows, width, Aggregate::Sum, &mut scores, &mut has)?;
        let mut z = vec![0.0f32; n_rows * nc];
        for r in 0..n_rows {
            let range = r * nc..(r + 1) * nc;
            label(self.finalize_row(
                &mut scores[range.clone()],
                &mut has[range.clone()],
                &mut z[range],
            ));
        }
        Ok(z)
    }

    /// Evaluates `n_rows` rows of `width` features: (labels, probabilities).
    pub fn eval(&self, x: &[f32], n_rows: usize, width: usize) -> TractResult<(Tensor, Tensor)> {
        let mut choices = Vec::with_capacity(n_rows);
        let z = self.scores(x, n_rows, width, |c| choices.push(c))?;
        let probs = Tensor::from_shape(&[n_rows, self.n_classes()], &z)?;
        let labels = match &self.labels {
            Labels::Int(l) => {
                let mut t = Tensor::zero::<i64>(&[n_rows])?;
                {
                    let mut view = t.try_as_plain_ram_mut()?;
                    let out = view.as_slice_mut::<i64>()?;
                    for (o, c) in out.iter_mut().zip(&choices) {
                        *o = match *c {
                            LabelChoice::Index(i) => l[i],
                            LabelChoice::Raw(v) => v,
                        };
                    }
                }
                t
            }
            Labels::Str(l) => {
                let v: Vec<String> = choices
                    .iter()
                    .map(|c| match *c {
                        LabelChoice::Index(i) => l[i].clone(),
                        LabelChoice::Raw(v) => l[v as usize].clone(),
                    })
                    .collect();
                tensor1(&v)
            }
        };
        Ok((labels, probs))
    }
}

pub fn build(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let model = Classifier::from_node(ctx, node)?;
    Ok((expand(TreeEnsembleClassifierSpec(Arc::new(model))), vec![]))
}

/// Inference-time (InferenceModel) form: one input, two outputs (label,
/// probabilities). Wires a single [`TreeEnsembleClassifierOp`] node, behind a
/// cast to f32 if the input is not f32.
#[derive(Clone, Debug)]
pub struct TreeEnsembleClassifierSpec(pub Arc<Classifier>);

impl Expansion for TreeEnsembleClassifierSpec {
    fn name(&self) -> StaticName {
        "TreeEnsembleClassifier".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        info(&self.0)
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(2)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 2)?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&outputs[0].datum_type, self.0.label_datum_type())?;
        s.equals(&outputs[1].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 1)?;
        s.equals(&outputs[1].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[1].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[1].shape[1], self.0.n_classes().to_dim())?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let x = super::wire_f32_input(prefix, model, inputs)?;
        model.wire_node(prefix, TreeEnsembleClassifierOp(self.0.clone()), &[x])
    }
}

fn info(c: &Classifier) -> TractResult<Vec<String>> {
    Ok(vec![format!(
        "{} trees, {} nodes, max depth {}, {} classes, post_transform {:?}, base_values {:?}",
        c.ensemble.n_trees(),
        c.ensemble.n_nodes(),
        c.ensemble.max_depth(),
        c.n_classes(),
        c.post_transform,
        c.base_values
    )])
}

/// The typed op: f32 `[N, F]` in, labels `[N]` and probabilities
/// `[N, n_classes]` out.
#[derive(Clone, Debug)]
pub struct TreeEnsembleClassifierOp(pub Arc<Classifier>);

impl PartialEq for TreeEnsembleClassifierOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TreeEnsembleClassifierOp {}

impl Op for TreeEnsembleClassifierOp {
    fn name(&self) -> StaticName {
        "TreeEnsembleClassifier".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        info(&self.0)
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsembleClassifierOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(
            inputs.len() == 1,
            "TreeEnsembleClassifier expects one input"
        );
        let x = &inputs[0];
        ensure!(
            x.rank() == 2,
            "TreeEnsembleClassifier expects a rank 2 input, got {:?}",
            x.shape()
        );
        let (n, width) = (x.shape()[0], x.shape()[1]);
        let view = x.try_as_plain_ram()?;
        let (labels, probs) = self.0.eval(view.as_slice::<f32>()?, n, width)?;
        Ok(tvec!(labels.into_tvalue(), probs.into_tvalue()))
    }
}

impl TypedOp for TreeEnsembleClassifierOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs.len() == 1,
            "TreeEnsembleClassifier expects one input"
        );
        let x = inputs[0];
        ensure!(
            x.datum_type == f32::datum_type(),
            "TreeEnsembleClassifier expects f32 input"
        );
        ensure!(
            x.rank() == 2,
            "TreeEnsembleClassifier expects a rank 2 input"
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
        let n = x.shape[0].clone();
        Ok(tvec!(
            TypedFact::dt_shape(self.0.label_datum_type(), [n.clone()]),
            TypedFact::dt_shape(f32::datum_type(), [n, self.0.n_classes().to_dim()]),
        ))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn classifier(
        n_classes: usize,
        base_values: Vec<f32>,
        post: PostTransform,
        binary_case: bool,
        non_neg: bool,
    ) -> Classifier {
        // a dummy one-leaf ensemble: only finalize_row is exercised
        let modes = [super::super::tree::NodeMode::Leaf];
        let attrs = super::super::tree::TreeAttributes {
            tree_ids: &[0],
            node_ids: &[0],
            feature_ids: &[0],
            modes: &modes,
            values: &[0.0],
            true_ids: &[0],
            false_ids: &[0],
            missing_tracks_true: &[],
            weight_tree_ids: &[0],
            weight_node_ids: &[0],
            weight_column_ids: &[0],
            weights: &[1.0],
            weight_prefix: "class",
            n_columns: n_classes,
            aggregate: Aggregate::Sum,
            first_weight_only: false,
        };
        Classifier {
            ensemble: FlatEnsemble::build(&attrs).unwrap(),
            labels: Labels::Int((0..n_classes as i64).map(|i| i + 10).collect()),
            base_values,
            post_transform: post,
            binary_case,
            weights_all_non_negative: non_neg,
        }
    }

    #[test]
    fn binary_single_column_logistic_one_base_value() {
        // XGBoost / sklearn GBM shape: class 0 column only, one base value
        let c = classifier(2, vec![0.25], PostTransform::Logistic, true, false);
        let mut s = [0.5, 0.0];
        let mut h = [true, false];
        let mut z = [0.0; 2];
        let l = c.finalize_row(&mut s, &mut h, &mut z);
        assert_eq!(l, LabelChoice::Index(1));
        let p = logistic(0.75);
        assert!(
            (z[1] - p).abs() < 1e-7 && (z[0] - (1.0 - p)).abs() < 1e-6,
            "{z:?}"
        );

        let mut s = [-0.5, 0.0];
        let mut h = [true, false];
        let l = c.finalize_row(&mut s, &mut h, &mut z);
        assert_eq!(l, LabelChoice::Index(0));
        assert!(z[1] < 0.5);
    }

    #[test]
    fn binary_single_column_raw_margin() {
        let c = classifier(2, vec![], PostTransform::None, true, false);
        let mut s = [0.3, 0.0];
        let mut h = [true, false];
        let mut z = [0.0; 2];
        assert_eq!(
            c.finalize_row(&mut s, &mut h, &mut z),
            LabelChoice::Index(1)
        );
        assert_eq!(z, [-0.3, 0.3]);
        // all non-negative weights: threshold 0.5, [1-p, p]
        let c = classifier(2, vec![], PostTransform::None, true, true);
        let mut s = [0.3, 0.0];
        let mut h = [true, false];
        assert_eq!(
            c.finalize_row(&mut s, &mut h, &mut z),
            LabelChoice::Index(0)
        );
        assert_eq!(z, [0.7, 0.3]);
    }

    #[test]
    fn multiclass_softmax_argmax() {
        let c = classifier(3, vec![0.0, 0.0, 1.0], PostTransform::Softmax, false, false);
        let mut s = [1.0, 0.5, 0.2];
        let mut h = [true, true, true];
        let mut z = [0.0; 3];
        assert_eq!(
            c.finalize_row(&mut s, &mut h, &mut z),
            LabelChoice::Index(2)
        );
        let sum: f32 = z.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        assert!(z[2] > z[0] && z[0] > z[1]);
    }
}
