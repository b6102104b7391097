//! `ai.onnx.ml.Scaler`: `y = (x - offset) * scale`, per feature (last axis)
//! or with a single offset / scale for every feature. Expands to tract core
//! ops (cast, sub, mul) so tract's optimizer sees through it.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::ops::math;

#[derive(Clone, Debug, PartialEq)]
pub struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

pub fn build(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let mut offset = super::attrs::floats(ctx, node, "offset")?;
    let mut scale = super::attrs::floats(ctx, node, "scale")?;
    ensure!(
        !offset.is_empty() || !scale.is_empty(),
        "Scaler needs at least one of the 'offset' and 'scale' attributes"
    );
    if offset.is_empty() {
        offset = vec![0.0];
    }
    if scale.is_empty() {
        scale = vec![1.0];
    }
    ensure!(
        offset.len() == scale.len() || offset.len() == 1 || scale.len() == 1,
        "attributes 'offset' ({} values) and 'scale' ({} values) do not match",
        offset.len(),
        scale.len()
    );
    Ok((expand(Scaler { offset, scale }), vec![]))
}

impl Expansion for Scaler {
    fn name(&self) -> StaticName {
        "Scaler".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let x = super::wire_f32_input(prefix, model, inputs)?;
        let fact = model.outlet_fact(x)?.clone();
        let rank = fact.rank();
        ensure!(rank >= 1, "Scaler expects an input of rank 1 or more");
        let width = self.offset.len().max(self.scale.len());
        if width > 1
            && let Ok(w) = fact.shape[rank - 1].to_i64()
        {
            ensure!(
                w as usize == width,
                "Scaler has {width} offsets/scales but the input has {w} features"
            );
        }
        let konst = |v: &[f32]| -> TractResult<Arc<Tensor>> {
            let mut shape = vec![1usize; rank];
            shape[rank - 1] = v.len();
            Ok(tensor1(v).into_shape(&shape)?.into_arc_tensor())
        };
        let offset = model.add_const(format!("{prefix}.offset"), konst(&self.offset)?)?;
        let scale = model.add_const(format!("{prefix}.scale"), konst(&self.scale)?)?;
        let centered = model.wire_node(format!("{prefix}.sub"), math::sub(), &[x, offset])?;
        model.wire_node(prefix, math::mul(), &[centered[0], scale])
    }
}
