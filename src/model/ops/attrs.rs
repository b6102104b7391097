//! Attribute reading shared by the tree ensemble operators. Every error names
//! the attribute; tract adds the node name and op type around it.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::tract_hir::internal::*;

use super::tree::{Aggregate, NodeMode, TreeAttributes};

pub fn ints<'a>(node: &'a NodeProto, name: &str) -> TractResult<&'a [i64]> {
    Ok(node.get_attr_opt_slice::<i64>(name)?.unwrap_or(&[]))
}

/// Reads `name` (a list of floats) or `name_as_tensor` (a tensor, typically
/// of doubles), cast to f32. Absent: empty.
pub fn floats(ctx: &ParsingContext, node: &NodeProto, name: &str) -> TractResult<Vec<f32>> {
    let plain = node.get_attr_opt_slice::<f32>(name)?;
    let tensor_name = format!("{name}_as_tensor");
    let as_tensor = node
        .attribute
        .iter()
        .find(|a| a.name == tensor_name && a.r#type == AttributeType::Tensor as i32);
    match (plain, as_tensor) {
        (Some(_), Some(_)) => {
            bail!("attributes '{name}' and '{tensor_name}' are both set, only one is allowed")
        }
        (Some(v), None) => Ok(v.to_vec()),
        (None, Some(attr)) => {
            let Some(proto) = attr.t.as_ref() else {
                bail!("attribute '{tensor_name}' has no tensor");
            };
            let t = ctx
                .load_tensor(proto)
                .with_context(|| format!("loading attribute '{tensor_name}'"))?;
            let t = t
                .cast_to::<f32>()
                .with_context(|| format!("casting '{tensor_name}' to f32"))?;
            let v = t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
            Ok(v)
        }
        (None, None) => Ok(vec![]),
    }
}

pub fn string(node: &NodeProto, name: &str, default: &str) -> TractResult<String> {
    Ok(node
        .get_attr_opt::<String>(name)?
        .unwrap_or_else(|| default.to_string()))
}

/// The node and weight attributes common to the classifier (`prefix` =
/// "class") and the regressor (`prefix` = "target").
pub struct RawTrees<'a> {
    pub tree_ids: &'a [i64],
    pub node_ids: &'a [i64],
    pub feature_ids: &'a [i64],
    pub modes: Vec<NodeMode>,
    pub values: Vec<f32>,
    pub true_ids: &'a [i64],
    pub false_ids: &'a [i64],
    pub missing_tracks_true: Vec<bool>,
    pub weight_tree_ids: &'a [i64],
    pub weight_node_ids: &'a [i64],
    pub weight_column_ids: &'a [i64],
    pub weights: Vec<f32>,
    pub prefix: &'static str,
}

impl<'a> RawTrees<'a> {
    pub fn parse(
        ctx: &ParsingContext,
        node: &'a NodeProto,
        prefix: &'static str,
    ) -> TractResult<RawTrees<'a>> {
        let node_ids = ints(node, "nodes_nodeids")?;
        ensure!(
            !node_ids.is_empty(),
            "attribute 'nodes_nodeids' is missing or empty"
        );
        let modes = node
            .get_attr_opt_tvec::<&str>("nodes_modes")?
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(ix, s)| {
                NodeMode::parse(s).with_context(|| {
                    format!("attribute 'nodes_modes'[{ix}]: unknown node mode {s:?}")
                })
            })
            .collect::<TractResult<Vec<_>>>()?;
        let missing = ints(node, "nodes_missing_value_tracks_true")?;
        for (ix, &m) in missing.iter().enumerate() {
            ensure!(
                m == 0 || m == 1,
                "attribute 'nodes_missing_value_tracks_true'[{ix}] is {m}, expected 0 or 1"
            );
        }
        let raw = RawTrees {
            tree_ids: ints(node, "nodes_treeids")?,
            node_ids,
            feature_ids: ints(node, "nodes_featureids")?,
            modes,
            values: floats(ctx, node, "nodes_values")?,
            true_ids: ints(node, "nodes_truenodeids")?,
            false_ids: ints(node, "nodes_falsenodeids")?,
            missing_tracks_true: missing.iter().map(|&m| m == 1).collect(),
            weight_tree_ids: ints(node, &format!("{prefix}_treeids"))?,
            weight_node_ids: ints(node, &format!("{prefix}_nodeids"))?,
            weight_column_ids: ints(node, &format!("{prefix}_ids"))?,
            weights: floats(ctx, node, &format!("{prefix}_weights"))?,
            prefix,
        };
        let n = raw.node_ids.len();
        for (name, len) in [
            ("nodes_treeids", raw.tree_ids.len()),
            ("nodes_featureids", raw.feature_ids.len()),
            ("nodes_modes", raw.modes.len()),
            ("nodes_values", raw.values.len()),
            ("nodes_truenodeids", raw.true_ids.len()),
            ("nodes_falsenodeids", raw.false_ids.len()),
        ] {
            ensure!(
                len == n,
                "attribute '{name}' has {len} entries, 'nodes_nodeids' has {n}"
            );
        }
        ensure!(
            raw.missing_tracks_true.is_empty() || raw.missing_tracks_true.len() == n,
            "attribute 'nodes_missing_value_tracks_true' has {} entries, expected 0 or {n}",
            raw.missing_tracks_true.len()
        );
        let nw = raw.weight_node_ids.len();
        ensure!(nw > 0, "attribute '{prefix}_nodeids' is missing or empty");
        for (name, len) in [
            ("treeids", raw.weight_tree_ids.len()),
            ("ids", raw.weight_column_ids.len()),
            ("weights", raw.weights.len()),
        ] {
            ensure!(
                len == nw,
                "attribute '{prefix}_{name}' has {len} entries, '{prefix}_nodeids' has {nw}"
            );
        }
        Ok(raw)
    }

    pub fn attributes(
        &self,
        n_columns: usize,
        aggregate: Aggregate,
        first_weight_only: bool,
    ) -> TreeAttributes<'_> {
        TreeAttributes {
            tree_ids: self.tree_ids,
            node_ids: self.node_ids,
            feature_ids: self.feature_ids,
            modes: &self.modes,
            values: &self.values,
            true_ids: self.true_ids,
            false_ids: self.false_ids,
            missing_tracks_true: &self.missing_tracks_true,
            weight_tree_ids: self.weight_tree_ids,
            weight_node_ids: self.weight_node_ids,
            weight_column_ids: self.weight_column_ids,
            weights: &self.weights,
            weight_prefix: self.prefix,
            n_columns,
            aggregate,
            first_weight_only,
        }
    }
}
