"""Train and export the engine's production models as ONNX.

Usage (from the repository root):
    .venv/bin/python models/train/train_models.py models/

For each model <name> it writes, into the output directory:
    <name>.onnx     gradient-boosted trees (XGBoost or LightGBM, 300 trees, depth 5)
    <name>_lr.onnx  a small sklearn baseline (LogisticRegression; a 16-unit MLP for paywall_bounce)
Each file has one float32 input "input" [None, n_features], outputs "label" (int64) and
"probabilities" (float32 [N, 2]; the policies read probabilities[1]), and metadata_props
"feature_names" (comma-joined, input order).

All data is synthetic, shaped like the feature store of the seed's ml-architecture.md, with a
fixed seed per model; everything is deterministic. notif_ranker_v1 reproduces the FastAPI
peer's train.py (/work/shared/peers/seed-fastapi/train.py) exactly: same features, same data
recipe with seed 42, XGBClassifier(n_estimators=300, max_depth=5, random_state=0), same
onnxmltools export (target_opset 15), so both servers run the same trees.

After exporting, every file is checked with onnxruntime against the trainer's predict_proba on
100 held-out rows (max abs diff must be < 1e-5), and one summary line is printed per file.
"""
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_export as ox  # noqa: E402

N_TRAIN = 30000  # rows for every model except notif_ranker_v1 (40000, as in the seed)
N_HOLDOUT = 5000  # fresh rows (different seed) for AUC and the ONNX check
N_CHECK = 100  # rows used for the onnxruntime-vs-trainer check
TOLERANCE = 1e-5
N_JOBS = 2


# ======================================================================================
# Synthetic data. Each generator takes a numpy Generator and a row count and returns
# (X float32 [n, k], y int [n]). Features are in the exact order of the model's input.
# ======================================================================================

NOTIF_FEATURES = ["dau_7", "wau_4", "avg_session_min_7", "time_since_last_open_hr", "notif_count_7",
                  "sent_in_last_24h", "hours_since_last", "local_hour", "is_trialing", "platform_ios",
                  "warmth_delta_14d", "topic_id"]
N_TOPICS = 8


def gen_notif(rng, n):
    """Verbatim recipe of the seed's train.py (the call order on rng matters)."""
    X = np.column_stack([
        rng.integers(0, 8, n), rng.integers(0, 5, n), rng.gamma(2.0, 4.0, n), rng.exponential(30.0, n),
        rng.integers(0, 15, n), rng.integers(0, 4, n), rng.exponential(12.0, n), rng.integers(0, 24, n),
        rng.integers(0, 2, n), rng.integers(0, 2, n), rng.normal(0, 1, n), rng.integers(0, N_TOPICS, n),
    ]).astype(np.float32)
    topic_lift = np.array([0.4, 0.1, -0.2, 0.3, 0.0, -0.4, 0.2, -0.1])
    logit = (-1.2 + 0.35 * X[:, 0] + 0.25 * X[:, 1] + 0.04 * X[:, 2] - 0.02 * X[:, 3] - 0.08 * X[:, 4]
             - 0.3 * X[:, 5] + 0.5 * np.sin(X[:, 7] / 24 * 2 * np.pi) + 0.4 * X[:, 10]
             + topic_lift[X[:, 11].astype(int)])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _draw(rng, logit):
    return (rng.random(len(logit)) < _sigmoid(logit)).astype(int)


def user_features(rng, n):
    """User-level features of the feature store, correlated through a latent engagement level."""
    eng = rng.normal(0.0, 1.0, n)
    f = {}
    f["dau_7"] = np.clip(np.round(3.5 + 2.0 * eng + rng.normal(0, 1.0, n)), 0, 7)
    f["wau_4"] = np.clip(np.round(2.0 + 1.2 * eng + rng.normal(0, 0.7, n)), 0, 4)
    f["avg_session_min_7"] = rng.gamma(2.0, 4.0, n) * np.exp(0.25 * eng)
    f["time_since_last_open_hr"] = rng.exponential(30.0, n) * np.exp(-0.5 * eng)
    f["warmth_delta_14d"] = rng.normal(0.2 * eng, 1.0)
    f["platform_ios"] = rng.integers(0, 2, n).astype(float)
    f["is_trialing"] = (rng.random(n) < 0.3).astype(float)
    # trial: days left in the trial; otherwise days to the next renewal of the plan
    f["days_to_expiry"] = np.where(f["is_trialing"] == 1, rng.integers(0, 15, n), rng.integers(0, 31, n)).astype(float)
    f["weekly_outreach"] = rng.poisson(np.exp(0.8 + 0.4 * eng)).astype(float)
    f["contacts_touched_7"] = rng.poisson(0.7 * f["weekly_outreach"] + 0.5).astype(float)
    f["days_since_install"] = np.minimum(np.floor(rng.exponential(60.0, n)), 730.0)
    f["sessions_7d"] = f["dau_7"] + rng.poisson(0.8 * f["dau_7"])
    f["paywall_views_7d"] = np.minimum(rng.poisson(0.4 + 0.15 * f["sessions_7d"]), 20).astype(float)
    f["local_hour"] = rng.integers(0, 24, n).astype(float)
    return f


def _matrix(f, names):
    return np.column_stack([f[k] for k in names]).astype(np.float32)


PAYWALL_FEATURES = ["dau_7", "wau_4", "avg_session_min_7", "days_since_install", "sessions_7d",
                    "paywall_views_7d", "local_hour", "platform_ios"]


def gen_paywall_trial(rng, n):
    f = user_features(rng, n)
    pv = f["paywall_views_7d"]
    evening = ((f["local_hour"] >= 18) & (f["local_hour"] <= 22)).astype(float)
    logit = (-4.8 + 0.22 * f["dau_7"] + 0.25 * f["wau_4"] + 0.04 * f["avg_session_min_7"]
             + 0.6 * np.minimum(pv, 2) - 0.3 * np.maximum(pv - 2, 0)  # 1-2 views help, more = blindness
             + 0.9 * np.exp(-f["days_since_install"] / 14.0)  # new users convert more
             + 0.35 * f["platform_ios"] + 0.4 * evening + 0.03 * f["sessions_7d"])
    return _matrix(f, PAYWALL_FEATURES), _draw(rng, logit)


def gen_paywall_bounce(rng, n):
    f = user_features(rng, n)
    late = ((f["local_hour"] < 6) | (f["local_hour"] >= 23)).astype(float)
    logit = (0.9 - 0.25 * f["dau_7"] - 0.2 * f["wau_4"] - 0.04 * f["avg_session_min_7"]
             + 0.35 * f["paywall_views_7d"] - 0.3 * f["platform_ios"] + 0.5 * late
             + 0.8 * np.exp(-f["days_since_install"] / 3.0) - 0.02 * f["sessions_7d"])
    return _matrix(f, PAYWALL_FEATURES), _draw(rng, logit)


CHURN_FEATURES = ["dau_7", "wau_4", "avg_session_min_7", "time_since_last_open_hr", "warmth_delta_14d",
                  "is_trialing", "days_to_expiry", "platform_ios", "weekly_outreach", "contacts_touched_7"]


def _churn_logit(f):
    trial_ending = f["is_trialing"] * 1.4 * np.exp(-f["days_to_expiry"] / 3.0)
    return (0.6 - 0.35 * f["dau_7"] - 0.25 * f["wau_4"] - 0.04 * f["avg_session_min_7"]
            + 0.6 * np.log1p(f["time_since_last_open_hr"] / 24.0) - 0.45 * f["warmth_delta_14d"]
            + trial_ending - 0.12 * f["weekly_outreach"] - 0.08 * f["contacts_touched_7"]
            + 0.15 * (1 - f["platform_ios"]))


def gen_churn(rng, n):
    f = user_features(rng, n)
    return _matrix(f, CHURN_FEATURES), _draw(rng, _churn_logit(f))


PLAYBOOK_FEATURES = CHURN_FEATURES + ["playbook_id"]
PLAYBOOKS = ["email", "push", "in_app"]


def playbook_effect(f, playbook_id):
    """Additive effect of the playbook on the retention logit. Email works best for barely
    active users, in-app for active ones (they see it), push in between, mostly on iOS."""
    dau, ios = f["dau_7"], f["platform_ios"]
    email = 0.9 - 0.2 * dau
    push = 0.0 + 0.7 * ios + 0.02 * dau
    in_app = -0.6 + 0.25 * dau
    return np.choose(playbook_id.astype(int), [email, push, in_app])


def gen_playbook(rng, n):
    f = user_features(rng, n)
    f["playbook_id"] = rng.integers(0, 3, n).astype(float)  # randomized assignment
    logit = -0.6 - 0.6 * _churn_logit(f) + playbook_effect(f, f["playbook_id"])
    return _matrix(f, PLAYBOOK_FEATURES), _draw(rng, logit)


CONTACT_FEATURES = ["days_since_last_touch", "touches_90", "reply_rate_user_est", "mutual_tags_count",
                    "importance_score", "weekly_outreach"]


def gen_contact(rng, n):
    f = {}
    f["days_since_last_touch"] = rng.exponential(30.0, n)
    f["touches_90"] = np.minimum(rng.poisson(np.exp(1.0 + 0.8 * rng.normal(0, 1, n))), 90).astype(float)
    f["reply_rate_user_est"] = rng.beta(2.0, 5.0, n)
    f["mutual_tags_count"] = rng.poisson(1.5, n).astype(float)
    f["importance_score"] = rng.beta(2.0, 2.0, n)
    f["weekly_outreach"] = rng.poisson(3.0, n).astype(float)
    d = f["days_since_last_touch"]
    sweet_spot = np.exp(-((np.log1p(d) - np.log(21.0)) ** 2))  # ~3 weeks since last touch is prime time
    logit = (-4.6 + 2.0 * f["importance_score"] + 2.0 * f["reply_rate_user_est"] + 0.2 * f["mutual_tags_count"]
             + 0.3 * np.log1p(f["touches_90"]) + 1.2 * sweet_spot - 0.6 * (d < 2) + 0.12 * f["weekly_outreach"])
    return _matrix(f, CONTACT_FEATURES), _draw(rng, logit)


# ======================================================================================
# Trainers
# ======================================================================================

def xgb_300x5(X, y, recipe_exact=False):
    import xgboost as xgb

    if recipe_exact:  # byte-for-byte the seed's constructor
        return xgb.XGBClassifier(n_estimators=300, max_depth=5, random_state=0).fit(X, y)
    return xgb.XGBClassifier(n_estimators=300, max_depth=5, random_state=0, n_jobs=N_JOBS).fit(X, y)


def lgbm_300x5(X, y):
    import lightgbm as lgb

    return lgb.LGBMClassifier(n_estimators=300, max_depth=5, num_leaves=31, random_state=0, n_jobs=N_JOBS,
                              deterministic=True, force_row_wise=True, verbose=-1).fit(X, y)


def _standardize(X):
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(X)
    return sc.mean_, sc.scale_, sc.transform(X)


def logreg_folded(X, y):
    """LogisticRegression fitted on standardized features, then the standardization is folded
    into coef_/intercept_ so the exported model takes raw features (a single LinearClassifier
    node, no Scaler): w.(x - m)/s + b == (w/s).x + (b - (w/s).m)."""
    from sklearn.linear_model import LogisticRegression

    mean, scale, Xs = _standardize(X)
    lr = LogisticRegression(max_iter=2000).fit(Xs, y)
    lr.coef_ = lr.coef_ / scale
    lr.intercept_ = lr.intercept_ - lr.coef_ @ mean
    return lr


def mlp_folded(X, y):
    """MLPClassifier(16,) fitted on standardized features; the standardization is folded into
    the first layer (W' = W / s[:, None], b' = b - m.W') so the export takes raw features."""
    from sklearn.neural_network import MLPClassifier

    mean, scale, Xs = _standardize(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter is fine for a baseline
        mlp = MLPClassifier(hidden_layer_sizes=(16,), alpha=1e-3, max_iter=60, random_state=0).fit(Xs, y)
    w0 = mlp.coefs_[0] / scale[:, None]
    mlp.intercepts_[0] = mlp.intercepts_[0] - mean @ w0
    mlp.coefs_[0] = w0
    return mlp


# name, features, generator, seed, gradient-boosted trainer ("xgb"/"lgbm"), baseline ("lr"/"mlp"), target
MODELS = [
    ("notif_ranker_v1", NOTIF_FEATURES, gen_notif, 42, "xgb_seed", "lr", "P(returned_24h | send topic now)"),
    ("paywall_trial", PAYWALL_FEATURES, gen_paywall_trial, 101, "lgbm", "lr", "P(start_trial | paywall view)"),
    ("paywall_bounce", PAYWALL_FEATURES, gen_paywall_bounce, 102, "xgb", "mlp", "P(bounce | paywall view)"),
    ("churn_risk", CHURN_FEATURES, gen_churn, 103, "xgb", "lr", "P(churn_14d)"),
    ("playbook_uplift", PLAYBOOK_FEATURES, gen_playbook, 104, "lgbm", "lr", "P(retained_14d | playbook)"),
    ("contact_ranker", CONTACT_FEATURES, gen_contact, 105, "xgb", "lr", "P(outreach_sent | shown)"),
]


def auc(y, p):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(y, p)


def export(name, model, kind, features, out_dir, X_check):
    if kind in ("xgb", "xgb_seed"):
        onx = ox.convert_xgboost(model, len(features))
    elif kind == "lgbm":
        onx = ox.convert_lightgbm(model, len(features))
    else:
        onx = ox.convert_sklearn(model, len(features))
    ox.finalize(onx, name, features)
    path = os.path.join(out_dir, name + ".onnx")
    size = ox.save(onx, path)
    outputs = ox.run_ort(path, X_check)
    assert list(outputs) == ["label", "probabilities"], list(outputs)
    diff, label_ok = ox.compare(model, outputs, X_check)
    return onx, size, diff, label_ok


TRAINER_NAMES = {"xgb_seed": "XGBClassifier(300x5)", "xgb": "XGBClassifier(300x5)",
                 "lgbm": "LGBMClassifier(300x5,31 leaves)", "lr": "LogisticRegression",
                 "mlp": "MLPClassifier(16,)"}


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "models"
    os.makedirs(out_dir, exist_ok=True)
    failures = []
    t_all = time.time()
    for name, features, gen, seed, gb_kind, base_kind, target in MODELS:
        n = 40000 if name == "notif_ranker_v1" else N_TRAIN
        X, y = gen(np.random.default_rng(seed), n)
        Xh, yh = gen(np.random.default_rng(seed + 1000), N_HOLDOUT)
        X_check = Xh[:N_CHECK]
        for suffix, kind in (("", gb_kind), ("_lr", base_kind)):
            t0 = time.time()
            if kind == "xgb_seed":
                model = xgb_300x5(X, y, recipe_exact=True)
            elif kind == "xgb":
                model = xgb_300x5(X, y)
            elif kind == "lgbm":
                model = lgbm_300x5(X, y)
            elif kind == "lr":
                model = logreg_folded(X, y)
            else:
                model = mlp_folded(X, y)
            t_fit = time.time() - t0
            onx, size, diff, label_ok = export(name + suffix, model, kind, features, out_dir, X_check)
            p = ox.reference_outputs(model, Xh)[:, 1]
            ok = diff < TOLERANCE and label_ok
            if not ok:
                failures.append(name + suffix)
            print(f"{'OK ' if ok else 'FAIL'} {name + suffix + '.onnx':<24} {TRAINER_NAMES[kind]:<31} "
                  f"n={n} k={len(features):<2} base_rate={y.mean():.3f} holdout_auc={auc(yh, p):.3f} "
                  f"p[min/med/max]={p.min():.3f}/{np.median(p):.3f}/{p.max():.3f} "
                  f"ort_max_abs_diff={diff:.2e} labels_ok={label_ok} size={size / 1024:.0f}KiB "
                  f"fit={t_fit:.1f}s ops={','.join(o.split(':')[1] for o in ox.op_types(onx))}", flush=True)
        if name == "playbook_uplift":
            # show that the best playbook depends on the user (read from the exported trees)
            Xp = np.repeat(Xh[:2000], 3, axis=0)
            Xp[:, -1] = np.tile([0, 1, 2], 2000)
            probs = ox.run_ort(os.path.join(out_dir, name + ".onnx"), Xp)["probabilities"][:, 1].reshape(-1, 3)
            best = np.bincount(probs.argmax(axis=1), minlength=3) / 2000
            print("     playbook_uplift best-playbook share on holdout users: "
                  + ", ".join(f"{pb}={s:.2f}" for pb, s in zip(PLAYBOOKS, best)))
    print(f"total {time.time() - t_all:.0f}s; {len(MODELS) * 2 - len(failures)}/{len(MODELS) * 2} verified")
    if failures:
        print("FAILED:", ", ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
