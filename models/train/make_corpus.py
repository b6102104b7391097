"""Conformance corpus for the engine's own ONNX runtime (tree ensembles, linear models, MLP).

Usage (from the repository root):
    .venv/bin/python models/train/make_corpus.py tests/fixtures/models/

For every case it writes <case>.onnx and <case>.json, plus INDEX.md (a table of the cases
with their ONNX operators). The JSON holds the 16 input rows (null = NaN) and exactly what
onnxruntime returned for them at export time, for every output of the model:

    {"case": ..., "source": ..., "input": "input", "n_features": k,
     "rows": [[...], ...],
     "outputs": {"<name>": {"shape": [...], "dtype": "float32"|"int64", "data": [row-major]}}}

Row layout (16 rows):
  * held-out rows from the case's data distribution;
  * tree models: 2 rows where one feature equals a split threshold exactly (taken from the
    exported tree 0: its root split and the root's "true" child), to pin down < vs <=;
  * trainers that handle missing values (XGBoost, LightGBM, HistGradientBoosting): 4 rows
    with NaN (one feature; two features; the root-split feature; every feature). Their
    training data had ~8% NaN per feature (except xgb_binary_300x5, the seed recipe) so the
    learned default directions are exercised;
  * linear / MLP models: an all-zeros row and a row scaled x50 (saturated logistic/softmax).

Every case is also checked against the trainer's own predict_proba / predict; the max abs
difference is printed and written to INDEX.md.
"""
import json
import os
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_export as ox  # noqa: E402

N_TRAIN = 2000
N_ROWS = 16
NAN_FRACTION = 0.08


def versions():
    import lightgbm, onnxmltools, skl2onnx, sklearn, xgboost  # noqa: E401

    return {"xgboost": xgboost.__version__, "lightgbm": lightgbm.__version__, "sklearn": sklearn.__version__,
            "onnxmltools": onnxmltools.__version__, "skl2onnx": skl2onnx.__version__}


def case_rng(name, salt=0):
    return np.random.default_rng(zlib.crc32(name.encode()) + salt)


def make_data(rng, n, k, task):
    """Mixed features: normal, small counts, skewed, binary (cycling), with a nonlinear target."""
    cols = []
    for j in range(k):
        kind = j % 4
        if kind == 0:
            cols.append(rng.normal(0.0, 1.0, n))
        elif kind == 1:
            cols.append(rng.integers(0, 10, n).astype(float))
        elif kind == 2:
            cols.append(rng.exponential(5.0, n))
        else:
            cols.append(rng.integers(0, 2, n).astype(float))
    X = np.column_stack(cols).astype(np.float32)
    x = X.astype(np.float64)
    z = (1.0 * x[:, 0] + 0.25 * (x[:, 1] - 4.5) - 0.15 * (x[:, 2] - 5) + 0.8 * x[:, 3]
         + 0.7 * np.sin(2.0 * x[:, 4]) + (0.3 * x[:, 5] if k > 5 else 0.0))
    if task == "binary":
        y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    elif task == "multiclass":
        scores = np.column_stack([z, 0.9 * x[:, 2] / 5.0 - x[:, 0], 0.4 * (x[:, 1] - 4.5) + 0.5 * x[:, 4]])
        y = np.argmax(scores + rng.gumbel(0.0, 0.7, scores.shape), axis=1)
    else:
        y = 3.0 * z + rng.normal(0.0, 1.0, n) + 10.0
    return X, y


def add_nans(rng, X, fraction):
    X = X.copy()
    X[rng.random(X.shape) < fraction] = np.nan
    return X


# ---------------------------------------------------------------------------- trainers

def _xgb(kind, **p):
    import xgboost as xgb

    cls = xgb.XGBRegressor if kind == "regressor" else xgb.XGBClassifier
    return cls(random_state=0, n_jobs=2, **p), f"{cls.__name__}({_fmt(p)}, random_state=0)"


def _lgbm(kind, **p):
    import lightgbm as lgb

    cls = lgb.LGBMRegressor if kind == "regressor" else lgb.LGBMClassifier
    return (cls(random_state=0, n_jobs=2, deterministic=True, force_row_wise=True, verbose=-1, **p),
            f"{cls.__name__}({_fmt(p)}, random_state=0, deterministic=True)")


def _fmt(p):
    return ", ".join(f"{k}={v!r}" for k, v in p.items())


def _sk(cls, **p):
    return cls(**p), f"{cls.__name__}({_fmt(p)})"


def build(case):
    """Returns (estimator, description, library, converter, task, n_features, nan_capable, is_tree)."""
    from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor,
                                  HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                                  RandomForestClassifier, RandomForestRegressor)
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    table = {
        "xgb_binary": lambda: _xgb("binary", n_estimators=20, max_depth=3) + ("xgboost", "binary", 6, True, True),
        "xgb_multiclass": lambda: _xgb("multiclass", n_estimators=10, max_depth=3) + ("xgboost", "multiclass", 6, True, True),
        "xgb_regressor": lambda: _xgb("regressor", n_estimators=20, max_depth=4) + ("xgboost", "regressor", 7, True, True),
        "xgb_binary_300x5": None,  # built separately (seed recipe)
        "lgbm_binary": lambda: _lgbm("binary", n_estimators=20, max_depth=3, num_leaves=8) + ("lightgbm", "binary", 6, True, True),
        "lgbm_multiclass": lambda: _lgbm("multiclass", n_estimators=10, max_depth=3, num_leaves=8) + ("lightgbm", "multiclass", 6, True, True),
        "lgbm_regressor": lambda: _lgbm("regressor", n_estimators=20, max_depth=4, num_leaves=15) + ("lightgbm", "regressor", 7, True, True),
        "sklearn_gb_binary": lambda: _sk(GradientBoostingClassifier, n_estimators=20, max_depth=3, random_state=0) + ("sklearn", "binary", 6, False, True),
        "sklearn_gb_multiclass": lambda: _sk(GradientBoostingClassifier, n_estimators=10, max_depth=3, random_state=0) + ("sklearn", "multiclass", 6, False, True),
        "sklearn_gb_regressor": lambda: _sk(GradientBoostingRegressor, n_estimators=20, max_depth=3, random_state=0) + ("sklearn", "regressor", 7, False, True),
        "sklearn_hgb_binary": lambda: _sk(HistGradientBoostingClassifier, max_iter=20, max_depth=3, random_state=0) + ("sklearn", "binary", 6, True, True),
        "sklearn_hgb_regressor": lambda: _sk(HistGradientBoostingRegressor, max_iter=20, max_depth=3, random_state=0) + ("sklearn", "regressor", 7, True, True),
        "sklearn_rf_binary": lambda: _sk(RandomForestClassifier, n_estimators=15, max_depth=4, random_state=0, n_jobs=2) + ("sklearn", "binary", 6, False, True),
        "sklearn_rf_regressor": lambda: _sk(RandomForestRegressor, n_estimators=15, max_depth=4, random_state=0, n_jobs=2) + ("sklearn", "regressor", 7, False, True),
        "sklearn_logreg_binary": lambda: _sk(LogisticRegression, max_iter=1000) + ("sklearn", "binary", 6, False, False),
        "sklearn_logreg_multiclass": lambda: _sk(LogisticRegression, max_iter=1000) + ("sklearn", "multiclass", 6, False, False),
        "sklearn_mlp_binary": lambda: _sk(MLPClassifier, hidden_layer_sizes=(8,), max_iter=300, random_state=0) + ("sklearn", "binary", 6, False, False),
        "sklearn_scaler_logreg": lambda: (Pipeline([("scaler", StandardScaler()), ("logreg", LogisticRegression(max_iter=1000))]),
                                          "Pipeline([StandardScaler(), LogisticRegression(max_iter=1000)])",
                                          "sklearn", "binary", 8, False, False),
    }
    return table[case]()


CASES = ["xgb_binary", "xgb_multiclass", "xgb_regressor", "xgb_binary_300x5", "lgbm_binary", "lgbm_multiclass",
         "lgbm_regressor", "sklearn_gb_binary", "sklearn_gb_multiclass", "sklearn_gb_regressor",
         "sklearn_hgb_binary", "sklearn_hgb_regressor", "sklearn_rf_binary", "sklearn_rf_regressor",
         "sklearn_logreg_binary", "sklearn_logreg_multiclass", "sklearn_mlp_binary", "sklearn_scaler_logreg"]

CONVERTERS = {"xgboost": "onnxmltools {onnxmltools} convert_xgboost(target_opset=15)",
              "lightgbm": "onnxmltools {onnxmltools} convert_lightgbm(target_opset=15, zipmap=False)",
              "sklearn": "skl2onnx {skl2onnx} to_onnx(target_opset=15, options zipmap=False)"}


# ---------------------------------------------------------------------------- rows

def tree_thresholds(onx):
    """(feature, threshold) of tree 0's root split and of the root's true child (if a split)."""
    node = next(n for n in onx.graph.node if n.op_type.startswith("TreeEnsemble"))
    a = {x.name: x for x in node.attribute}
    tree, nid = list(a["nodes_treeids"].ints), list(a["nodes_nodeids"].ints)
    modes = [m.decode() for m in a["nodes_modes"].strings]
    feats, vals, trues = list(a["nodes_featureids"].ints), list(a["nodes_values"].floats), list(a["nodes_truenodeids"].ints)
    idx = {(t, i): j for j, (t, i) in enumerate(zip(tree, nid))}
    t0 = min(tree)
    out = []
    root = idx[(t0, 0)]
    if modes[root] != "LEAF":
        out.append((feats[root], vals[root]))
        child = idx.get((t0, trues[root]))
        if child is not None and modes[child] != "LEAF":
            out.append((feats[child], vals[child]))
    return out


def make_rows(X_hold, onx, nan_capable, is_tree):
    """Returns (rows float32 [16, k], indices of the rows that sit exactly on a threshold)."""
    k = X_hold.shape[1]
    special = []
    if is_tree:
        for f, v in tree_thresholds(onx)[:2]:
            r = X_hold[len(special) + 100].copy()
            r[f] = np.float32(v)
            special.append(r)
        root_feature = tree_thresholds(onx)[0][0] if tree_thresholds(onx) else 0
    if nan_capable:
        base = X_hold[110:114].copy()
        base[0, 0] = np.nan
        base[1, [1, min(3, k - 1)]] = np.nan
        base[2, root_feature] = np.nan
        base[3, :] = np.nan
        special.extend(list(base))
    if not is_tree:
        special.append(np.zeros(k, dtype=np.float32))
        special.append((X_hold[120] * 50.0).astype(np.float32))
    n_plain = N_ROWS - len(special)
    rows = np.vstack([X_hold[:n_plain]] + [np.asarray(special, dtype=np.float32).reshape(-1, k)])
    assert rows.shape == (N_ROWS, k)
    threshold_rows = list(range(n_plain, n_plain + len(tree_thresholds(onx)[:2]))) if is_tree else []
    return rows.astype(np.float32), threshold_rows


def tensor_json(value):
    arr = np.asarray(value)
    if arr.dtype == np.float32:
        dtype, data = "float32", [None if np.isnan(v) else float(v) for v in arr.ravel()]
    elif arr.dtype == np.int64:
        dtype, data = "int64", [int(v) for v in arr.ravel()]
    else:
        raise TypeError(f"unexpected output dtype {arr.dtype}")
    return {"shape": list(arr.shape), "dtype": dtype, "data": data}


def shape_str(v):
    dims = [d.dim_param or (str(d.dim_value) if d.HasField("dim_value") else "N") for d in v.type.tensor_type.shape.dim]
    return "[" + ",".join(dims) + "]"


# ---------------------------------------------------------------------------- main

def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/models"
    os.makedirs(out_dir, exist_ok=True)
    v = versions()
    index = []
    failures = []
    for case in CASES:
        if case == "xgb_binary_300x5":
            from train_models import NOTIF_FEATURES, gen_notif, xgb_300x5

            X, y = gen_notif(np.random.default_rng(42), 40000)
            X_hold, _ = gen_notif(case_rng(case), 200)
            model = xgb_300x5(X, y, recipe_exact=True)
            desc = ("XGBClassifier(n_estimators=300, max_depth=5, random_state=0) on the seed's notification "
                    "recipe (40000 rows, seed 42; same model as models/notif_ranker_v1.onnx)")
            lib, task, k, nan_capable, is_tree = "xgboost", "binary", 12, True, True
            feature_names = NOTIF_FEATURES
        else:
            model, desc, lib, task, k, nan_capable, is_tree = build(case)
            X, y = make_data(case_rng(case), N_TRAIN, k, task)
            X_hold, _ = make_data(case_rng(case, 1), 200, k, task)
            if nan_capable:
                X = add_nans(case_rng(case, 2), X, NAN_FRACTION)
            model.fit(X, y)
            feature_names = [f"f{j}" for j in range(k)]

        if lib == "xgboost":
            onx = ox.convert_xgboost(model, k)
        elif lib == "lightgbm":
            onx = ox.convert_lightgbm(model, k)
        else:
            onx = ox.convert_sklearn(model, k)
        ox.finalize(onx, case, feature_names)
        path = os.path.join(out_dir, case + ".onnx")
        size = ox.save(onx, path)

        rows, threshold_rows = make_rows(X_hold, onx, nan_capable, is_tree)
        outputs = ox.run_ort(path, rows)
        diff, label_ok = ox.compare(model, outputs, rows)
        # LightGBM keeps split thresholds as float64; the ONNX node holds them rounded to
        # float32. A row whose feature equals the float32 threshold can therefore go the other
        # way in LightGBM itself (expected; the JSON records the ONNX semantics). For
        # lightgbm cases the trainer check is done on the other 14 rows.
        plain = [i for i in range(N_ROWS) if i not in threshold_rows]
        diff_plain, label_ok_plain = ox.compare(model, {n: o[plain] for n, o in outputs.items()}, rows[plain])
        if lib == "lightgbm":
            ok = diff_plain < 1e-5 and label_ok_plain
        else:
            ok = diff < 1e-5 and label_ok
        if diff >= 1e-5 and diff > diff_plain:
            diff_note = f"{diff:.1e} on the threshold rows, {diff_plain:.1e} on the others"
        else:
            diff_note = f"{diff:.1e}"
        source = f"{lib if lib != 'sklearn' else 'scikit-learn'} {v[lib]} {desc}; exported with {CONVERTERS[lib].format(**v)}"
        doc = {
            "case": case,
            "source": source,
            "input": "input",
            "n_features": k,
            "rows": [[None if np.isnan(x) else float(x) for x in r] for r in rows],
            "outputs": {name: tensor_json(val) for name, val in outputs.items()},
        }
        with open(os.path.join(out_dir, case + ".json"), "w") as f:
            json.dump(doc, f, indent=None, separators=(",", ":"))
            f.write("\n")

        ops = ox.op_types(onx)
        post = ox.tree_post_transform(onx)
        if post is None and ox.linear_post_transform(onx) is not None:
            post = "(LinearClassifier) " + ox.linear_post_transform(onx)
        outs = ", ".join(f"{o.name} {shape_str(o)} {tensor_json(outputs[o.name])['dtype']}" for o in onx.graph.output)
        n_nan_rows = int(np.isnan(rows).any(axis=1).sum())
        if not ok:
            failures.append(case)
        index.append((case, ops, post, k, outs, ox.n_trees(onx), size, n_nan_rows, diff_note, source))
        print(f"{'OK ' if ok else 'FAIL'} {case:<26} k={k:<2} trees={str(ox.n_trees(onx)):<4} post={str(post):<8} "
              f"nan_rows={n_nan_rows} size={size / 1024:.0f}KiB max|ort-trainer|={diff:.2e}"
              f"{f' (off the threshold rows {diff_plain:.2e})' if lib == 'lightgbm' else ''} labels_ok={label_ok} "
              f"ops={','.join(o.split(':')[1] for o in ops)}", flush=True)

    write_index(out_dir, index, v)
    if failures:
        print("FAILED (onnxruntime disagrees with the trainer):", ", ".join(failures))
        sys.exit(1)


def write_index(out_dir, index, v):
    lines = [
        "# ONNX conformance corpus",
        "",
        "Generated by `models/train/make_corpus.py` (run `.venv/bin/python models/train/make_corpus.py "
        "tests/fixtures/models/` from the repository root; see models/train/README.md). Do not edit by hand.",
        "",
        f"Toolchain: xgboost {v['xgboost']}, lightgbm {v['lightgbm']}, scikit-learn {v['sklearn']}, "
        f"onnxmltools {v['onnxmltools']}, skl2onnx {v['skl2onnx']}, onnxruntime {ox.ort.__version__}. "
        "Every model: input `input` float32 [N, n_features]; classifiers exported without ZipMap. "
        "`<case>.json` holds 16 rows (null = NaN) and the onnxruntime outputs for them.",
        "",
        "Operators are `domain:op_type` (`ai.onnx` = default domain). post_transform is the tree node's "
        "(for linear models, the LinearClassifier's, marked as such). "
        "NaN rows = rows with at least one NaN. The last column is the max abs difference between "
        "onnxruntime and the trainer's own predict_proba/predict on the 16 rows.",
        "",
        "| case | operators | post_transform | n_features | outputs | trees | bytes | NaN rows | max abs diff vs trainer |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case, ops, post, k, outs, trees, size, n_nan, diff, _ in index:
        lines.append(f"| {case} | {', '.join(ops)} | {post or '-'} | {k} | {outs} | {trees or '-'} | {size} | "
                     f"{n_nan} | {diff} |")
    lines += ["", "## Sources", ""]
    for case, *_, source in index:
        lines.append(f"- `{case}`: {source}")
    lines.append("")
    with open(os.path.join(out_dir, "INDEX.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
