#!/usr/bin/python3
"""Golden files for tests/eval (run with Debian's python3: numpy, scikit-learn).

  /usr/bin/python3 tests/eval/make_golden.py

metrics_golden.json: scores/labels (incl. tied scores, a class with no
positives and a class with no negatives) and the values sklearn gives:
per-class roc_auc_score, accuracy/precision/recall/F1 at fixed thresholds,
thresholds fitted on a validation split (max F1 and Youden, first = highest
threshold on ties) and the test metrics at those thresholds.

logreg_golden.json: a small standardised problem and sklearn's
LogisticRegression fits (binary per class = multi-label BCE, and multinomial
softmax) with the matched L2 penalty, plus their test AUCs.
"""
import json
import os

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, f1_score, precision_score,
                             recall_score, roc_auc_score, roc_curve)

HERE = os.path.dirname(os.path.abspath(__file__))


def nan_to_none(v):
    return None if (v is None or not np.isfinite(v)) else float(v)


def per_class(scores, truth, thr):
    n, c = scores.shape
    out = {k: [] for k in ("auc", "accuracy", "precision", "recall", "f1")}
    for j in range(c):
        y = truth[:, j]
        p = (scores[:, j] >= thr[j]).astype(int)
        if y.min() == y.max():
            out["auc"].append(None)
        else:
            out["auc"].append(float(roc_auc_score(y, scores[:, j])))
        out["accuracy"].append(float(accuracy_score(y, p)))
        if y.sum() == 0:
            out["precision"].append(None)
            out["recall"].append(None)
            out["f1"].append(None)
        else:
            out["precision"].append(float(precision_score(y, p, zero_division=0)))
            out["recall"].append(float(recall_score(y, p, zero_division=0)))
            out["f1"].append(float(f1_score(y, p, zero_division=0)))
    macro = {}
    for k, v in out.items():
        vals = [x for x in v if x is not None]
        macro[k] = float(np.mean(vals)) if vals else None
    return out, macro


def fit_thr(scores, truth, method):
    thr = []
    for j in range(scores.shape[1]):
        y, s = truth[:, j], scores[:, j].astype(np.float64)
        if y.min() == y.max():
            thr.append(0.5)
            continue
        cands = np.unique(s)[::-1]  # highest first: first max wins ties
        if method == "f1":
            vals = [f1_score(y, (s >= t).astype(int), zero_division=0) for t in cands]
        else:
            fpr, tpr, th = roc_curve(y, s, drop_intermediate=False)
            # roc_curve's thresholds (after the first, +inf) are the distinct
            # scores in decreasing order.
            assert np.allclose(th[1:], cands)
            vals = list(tpr[1:] - fpr[1:])
        thr.append(float(cands[int(np.argmax(vals))]))
    return thr


def metrics_golden():
    rng = np.random.default_rng(6)
    n_val, n_test, c = 60, 50, 5
    cases = []
    for name, n in (("val", n_val), ("test", n_test)):
        truth = (rng.random((n, c)) < np.array([0.3, 0.5, 0.1, 0.0, 0.2])).astype(int)
        truth[:, 4] = 1 if name == "test" else truth[:, 4]  # no negatives in test
        if name == "val":
            truth[0, 4], truth[1, 4] = 1, 0
        noise = rng.normal(size=(n, c))
        scores = 1 / (1 + np.exp(-(1.2 * truth + noise)))
        # Ties: class 1 is quantised to a few levels, class 0 partly.
        scores[:, 1] = np.round(scores[:, 1] * 4) / 4
        scores[: n // 2, 0] = np.round(scores[: n // 2, 0] * 10) / 10
        scores = scores.astype(np.float32)
        cases.append((name, scores, truth))
    (_, vs, vt), (_, ts, tt) = cases
    g = {"n_classes": c,
         "val": {"n": n_val, "scores": vs.ravel().tolist(), "truth": vt.ravel().tolist()},
         "test": {"n": n_test, "scores": ts.ravel().tolist(), "truth": tt.ravel().tolist()}}
    half = [0.5] * c
    g["test"]["at_half"], g["test"]["macro_at_half"] = per_class(ts.astype(np.float64), tt, half)
    for method in ("f1", "youden"):
        thr = fit_thr(vs, vt, method)
        pc, macro = per_class(ts.astype(np.float64), tt, thr)
        g["fit_" + method] = {"thresholds": thr, "test": pc, "test_macro": macro}
    # top-1 accuracy over samples with at least one positive
    keep = tt.sum(1) > 0
    g["test"]["top1"] = float(np.mean(tt[keep, np.argmax(ts[keep], 1)] > 0))
    with open(os.path.join(HERE, "metrics_golden.json"), "w") as f:
        json.dump(g, f, indent=0)


def logreg_golden():
    rng = np.random.default_rng(7)
    n_train, n_test, d, c = 300, 200, 8, 3
    w_true = rng.normal(size=(d, c)) * 1.5
    def draw(n):
        x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d)
        z = (x - x.mean(0)) / x.std(0)
        logits = z @ w_true + rng.normal(size=(n, c)) * 0.8
        return x.astype(np.float32), logits
    xtr, ltr = draw(n_train)
    xte, lte = draw(n_test)
    ytr_ml = (ltr > 0.3).astype(int)
    yte_ml = (lte > 0.3).astype(int)
    ytr_sl = np.argmax(ltr, 1)
    yte_sl = np.argmax(lte, 1)
    mean, std = xtr.astype(np.float64).mean(0), xtr.astype(np.float64).std(0)
    ztr, zte = (xtr - mean) / std, (xte - mean) / std
    C = 1.0
    wd = 1.0 / (C * n_train)  # mean-loss + wd/2 |w|^2  ==  C*sum-loss + 1/2 |w|^2
    g = {"n_train": n_train, "n_test": n_test, "dim": d, "n_classes": c,
         "weight_decay": wd,
         "x_train": xtr.ravel().tolist(), "x_test": xte.ravel().tolist(),
         "y_train_multi": ytr_ml.ravel().tolist(), "y_test_multi": yte_ml.ravel().tolist(),
         "y_train_single": ytr_sl.tolist(), "y_test_single": yte_sl.tolist()}
    coef, icpt, aucs = [], [], []
    for j in range(c):
        m = LogisticRegression(C=C, tol=1e-10, max_iter=10000).fit(ztr, ytr_ml[:, j])
        coef.append(m.coef_[0].tolist())
        icpt.append(float(m.intercept_[0]))
        aucs.append(float(roc_auc_score(yte_ml[:, j], m.predict_proba(zte)[:, 1])))
    g["multi"] = {"coef": coef, "intercept": icpt, "test_auc": aucs}
    m = LogisticRegression(C=C, tol=1e-10, max_iter=10000, multi_class="multinomial").fit(ztr, ytr_sl)
    p = m.predict_proba(zte)
    onehot = np.eye(c)[yte_sl]
    g["single"] = {"coef": m.coef_.tolist(), "intercept": m.intercept_.tolist(),
                   "test_auc": [float(roc_auc_score(onehot[:, j], p[:, j])) for j in range(c)],
                   "test_top1": float(np.mean(np.argmax(p, 1) == yte_sl))}
    with open(os.path.join(HERE, "logreg_golden.json"), "w") as f:
        json.dump(g, f, indent=0)


if __name__ == "__main__":
    metrics_golden()
    logreg_golden()
