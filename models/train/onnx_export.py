"""Shared ONNX export / verification helpers for train_models.py and make_corpus.py.

Conventions for every exported model:
  * one input named "input", float32, shape [None, n_features];
  * classifiers: zipmap disabled, outputs are plain tensors "label" (int64 [N]) and
    "probabilities" (float32 [N, n_classes]); regressors: "variable" (float32 [N, 1]);
  * metadata_props "feature_names" = comma-joined feature names, in input order;
  * graph name = model/case name (the converters otherwise put a random uuid there, which
    is the only thing that made two runs of the same export differ byte-wise);
  * opset_import entries are merged (skl2onnx emits ('', 15) twice) and sorted by domain
    (skl2onnx's order follows Python's per-process string hashing);
  * an output declared with a fixed batch dim of 1 (onnxmltools' LightGBM "label") gets an
    unknown batch dim instead.
"""
import warnings

import numpy as np
import onnx
import onnxruntime as ort

TARGET_OPSET = 15  # onnxmltools' XGBoost converter accepts <= 15; use the same everywhere.


# --------------------------------------------------------------------------------------
# skl2onnx workaround: HistGradientBoosting* conversion fails with
#   TypeError: Field onnx.AttributeProto.ints: Expected an int, got a boolean.
# skl2onnx.common.tree_ensemble.add_tree_to_attribute_pairs_hist_gradient_boosting passes
# `missing = node["missing_go_to_left"]` (a numpy uint8 for split nodes) and the Python
# literal `False` for leaves as `nodes_missing_value_tracks_true`; onnx >= 1.17's
# make_attribute rejects bools in an INTS attribute. We wrap the module-level add_node()
# that it calls so the flag is always a plain int (0/1). Semantics are unchanged:
# missing_go_to_left == 1 -> NaN follows the "true" (left, x <= threshold) branch, which is
# exactly ONNX's nodes_missing_value_tracks_true.
# --------------------------------------------------------------------------------------
_HGB_PATCHED = False


def patch_skl2onnx_hist_gradient_boosting():
    global _HGB_PATCHED
    if _HGB_PATCHED:
        return
    from skl2onnx.common import tree_ensemble as te

    original_add_node = te.add_node

    def add_node_int_missing(*args, **kwargs):
        if "nodes_missing_value_tracks_true" in kwargs:
            kwargs["nodes_missing_value_tracks_true"] = int(bool(kwargs["nodes_missing_value_tracks_true"]))
        return original_add_node(*args, **kwargs)

    te.add_node = add_node_int_missing
    _HGB_PATCHED = True


def _float_input(n_features):
    from onnxmltools.convert.common.data_types import FloatTensorType

    return [("input", FloatTensorType([None, n_features]))]


def convert_xgboost(model, n_features):
    import onnxmltools

    # onnxmltools' XGBoost converter emits label/probabilities tensors (no ZipMap).
    return onnxmltools.convert_xgboost(model, initial_types=_float_input(n_features), target_opset=TARGET_OPSET)


def convert_lightgbm(model, n_features):
    import onnxmltools

    return onnxmltools.convert_lightgbm(
        model, initial_types=_float_input(n_features), target_opset=TARGET_OPSET, zipmap=False
    )


def convert_sklearn(model, n_features):
    import skl2onnx
    from skl2onnx.common.data_types import FloatTensorType

    patch_skl2onnx_hist_gradient_boosting()
    options = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    if options is not None and hasattr(model, "steps"):  # Pipeline: option goes on the final classifier
        options = {id(model.steps[-1][1]): {"zipmap": False}}
    return skl2onnx.to_onnx(
        model,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options=options,
        target_opset=TARGET_OPSET,
    )


def finalize(onx, name, feature_names):
    """Deterministic graph name, merged opset imports, feature_names metadata, checker."""
    onx.graph.name = name
    # skl2onnx lists ('', 15) twice and orders the imports by set iteration, which depends on
    # PYTHONHASHSEED: merge duplicates and sort by domain so the bytes are reproducible.
    merged = {}
    for imp in onx.opset_import:
        merged[imp.domain] = max(merged.get(imp.domain, 0), imp.version)
    del onx.opset_import[:]
    for domain in sorted(merged):
        onx.opset_import.add(domain=domain, version=merged[domain])
    # onnxmltools' LightGBM classifier declares the "label" output with a fixed shape [1]
    # although it returns one label per row (onnxruntime warns "Expected shape from model of
    # {1} does not match actual shape of {N}"). Declare the batch dimension as unknown, like
    # the input's, on every output whose leading dim is a fixed 1.
    for out in onx.graph.output:
        dims = out.type.tensor_type.shape.dim
        if len(dims) >= 1 and dims[0].HasField("dim_value") and dims[0].dim_value == 1:
            dims[0].Clear()
    for p in list(onx.metadata_props):
        if p.key == "feature_names":
            onx.metadata_props.remove(p)
    meta = onx.metadata_props.add()
    meta.key = "feature_names"
    meta.value = ",".join(feature_names)
    assert [i.name for i in onx.graph.input] == ["input"], onx.graph.input
    onnx.checker.check_model(onx, full_check=True)
    return onx


def save(onx, path):
    data = onx.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def ort_session(path_or_bytes):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"])


def run_ort(path_or_bytes, X):
    sess = ort_session(path_or_bytes)
    names = [o.name for o in sess.get_outputs()]
    values = sess.run(None, {"input": np.ascontiguousarray(X, dtype=np.float32)})
    return dict(zip(names, values))


def reference_outputs(model, X):
    """What the trainer itself predicts: probabilities for classifiers, values for regressors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if hasattr(model, "predict_proba"):
            return np.asarray(model.predict_proba(X), dtype=np.float64)
        return np.asarray(model.predict(X), dtype=np.float64).reshape(len(X), -1)


def compare(model, outputs, X):
    """Max abs diff between ONNX Runtime and the trainer on rows X, and label agreement."""
    ref = reference_outputs(model, X)
    if "probabilities" in outputs:
        got = outputs["probabilities"].astype(np.float64)
        labels = outputs["label"]
        classes = np.asarray(getattr(model, "classes_", np.arange(ref.shape[1])))
        # a label may legitimately differ only where the top two probabilities tie
        top2 = np.sort(ref, axis=1)[:, -2:]
        tie = np.abs(top2[:, 1] - top2[:, 0]) < 1e-6
        label_ok = bool(np.all((classes[np.argmax(ref, axis=1)] == labels) | tie))
    else:
        got = outputs["variable"].astype(np.float64).reshape(len(X), -1)
        label_ok = True
    return float(np.max(np.abs(got - ref))), label_ok


def op_types(onx):
    return sorted({(n.domain or "ai.onnx") + ":" + n.op_type for n in onx.graph.node})


def tree_post_transform(onx):
    for n in onx.graph.node:
        if n.op_type.startswith("TreeEnsemble"):
            for a in n.attribute:
                if a.name == "post_transform":
                    return a.s.decode()
            return "NONE"
    return None


def linear_post_transform(onx):
    for n in onx.graph.node:
        if n.op_type == "LinearClassifier":
            for a in n.attribute:
                if a.name == "post_transform":
                    return a.s.decode()
            return "NONE"
    return None


def n_trees(onx):
    for n in onx.graph.node:
        if n.op_type.startswith("TreeEnsemble"):
            for a in n.attribute:
                if a.name == "nodes_treeids":
                    return len(set(a.ints))
    return None
