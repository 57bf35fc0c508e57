"""Run by test_bundle.py in a clean interpreter (`python -S`) whose path is the trimmed layer, the code
asset and a stand-in for what Lambda's runtime adds (boto3 and its own dependencies), in Lambda's order
(code, layer, runtime): the work the
functions do with the layer's libraries, so that a module trimmed by mistake fails here, not in AWS.

    python -S -P layer_probe.py LAYER CODE RUNTIME CONFIG...   (prints a JSON report; exits 1 on a failure)
"""

from __future__ import annotations

import importlib
import io
import json
import sys
import sysconfig
from pathlib import Path

HANDLERS = ("scoring.handler", "retraining.handler", "training_job.handler", "online.handler", "online_monitor.handler")
CSV = b'id,amount,plan,note\n1,12.5,basic,"a, quoted"\n2,,pro,\n3,7,basic,x\n'


def read_csv() -> dict:
    import pandas as pd

    frame = pd.read_csv(io.BytesIO(CSV), engine="c", dtype={"id": "int64", "plan": "string"})
    assert frame["amount"].isna().tolist() == [False, True, False]
    assert frame["amount"].sum() == 19.5
    assert frame["note"].iloc[0] == "a, quoted"
    assert frame["plan"].tolist() == ["basic", "pro", "basic"]
    out = io.StringIO()
    frame.to_csv(out, index=False)
    return {"pandas": pd.__version__, "rows": len(frame), "written_bytes": len(out.getvalue())}


def blas() -> dict:
    """numpy's OpenBLAS (ILP64) and scipy's (LP64): a product, a solve and a decomposition through each."""
    import numpy as np
    import scipy.linalg
    from threadpoolctl import threadpool_info

    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 300)) + 300 * np.eye(300)
    b = rng.normal(size=300)
    assert np.allclose(a @ np.linalg.solve(a, b), b)  # numpy: dgemv + LAPACK gesv
    assert np.allclose((a @ a.T)[:5, :5], np.einsum("ik,jk->ij", a[:5], a[:5]))  # dgemm vs a loop-free sum
    assert np.allclose(a @ scipy.linalg.solve(a, b), b)  # scipy's LAPACK
    q, r = scipy.linalg.qr(a)
    assert np.allclose(q @ r, a)
    assert np.allclose(scipy.linalg.blas.dgemm(1.0, a, a), a @ a)
    return {"blas": sorted(i["filepath"] for i in threadpool_info() if i["internal_api"] == "openblas")}


def _data(config, rows: int = 240):
    import numpy as np

    rng = np.random.default_rng(1)
    words = np.asarray(["good", "bad", "kettle", "broke", "love", "cable", "slow", "fast"], dtype=object)

    def column(f):
        if f.is_numeric:
            return rng.normal(size=rows).round(3)
        if f.is_text:  # documents of a few words, so that TF-IDF (min_df, bigrams) has a vocabulary
            return np.asarray([" ".join(rng.choice(words, size=6)) for _ in range(rows)], dtype=object)
        return rng.choice(f.categories, size=rows).astype(object)

    columns = {f.name: column(f) for f in config.features}
    task = config.task
    if task.is_classification:
        classes = task.classes or (("0", "1") if task.kind == "binary" else ("a", "b", "c"))
        labels = np.asarray([classes[i % len(classes)] for i in range(rows)], dtype=object)
    else:
        labels = rng.normal(size=rows)
    return columns, labels


def pipelines(configs: list[str]) -> dict:
    """Each project's configured pipeline (or its own, or its first search candidate): fit, predict, a joblib round
    trip as the registry stores it."""
    import joblib
    import numpy as np

    from mlops_core.config import load_config
    from mlops_core.modeling.pipeline import model_input
    from mlops_core.modeling.search import base_model, plan

    fitted = {}
    for path in configs:
        config = load_config(Path(path))
        columns, labels = _data(config)
        x = model_input(columns, config.features)
        planned = plan(config)  # a search's first candidate; the user's own pipeline (from the code asset)
        model = (planned[0].model if planned else base_model(config)).fit(x, labels)
        predict = model.predict_proba if config.task.is_classification else model.predict
        buffer = io.BytesIO()
        joblib.dump(model, buffer, compress=3)
        buffer.seek(0)
        assert np.array_equal(getattr(joblib.load(buffer), predict.__name__)(x), predict(x))
        fitted[config.name] = config.task.kind
    return fitted


def sklearn_paths() -> dict:
    """What training and the drift checks call beyond the pipelines: calibration, isotonic regression,
    cross-validation, permutation importance, metrics, a random forest and a logistic regression."""
    import numpy as np
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, mean_absolute_error, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 4))
    y = (x[:, 0] + 0.3 * rng.normal(size=400) > 0).astype(int)
    scores = {}
    for model in (
        HistGradientBoostingClassifier(max_iter=20),
        RandomForestClassifier(n_estimators=10, random_state=0),
        LogisticRegression(),
        CalibratedClassifierCV(LogisticRegression(), cv=3),
    ):
        p = cross_val_predict(model, x, y, cv=StratifiedKFold(3), method="predict_proba")[:, 1]
        scores[type(model).__name__] = round(float(roc_auc_score(y, p)), 3)
        assert scores[type(model).__name__] > 0.8
    fitted = HistGradientBoostingClassifier(max_iter=20).fit(x, y)
    importance = permutation_importance(fitted, x, y, n_repeats=2, random_state=0)
    assert importance.importances_mean.argmax() == 0
    iso = IsotonicRegression(out_of_bounds="clip").fit(x[:, 0], y)
    assert mean_absolute_error(y, iso.predict(x[:, 0])) < 0.5
    assert f1_score(y, fitted.predict(x)) > 0.8
    return scores


def every_estimator() -> int:
    """Any scikit-learn estimator may be configured (model.estimator): every public module must import."""
    from sklearn.utils.discovery import all_estimators

    return len(all_estimators())


def foreign_modules(allowed: list[Path]) -> list[str]:
    """Loaded modules that came from neither the layer, the code, the runtime stand-in nor the stdlib."""
    roots = [*allowed, Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["platstdlib"])]
    foreign = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and name not in ("__main__", "__mp_main__") and not any(Path(file).is_relative_to(r) for r in roots):
            foreign.append(f"{name}: {file}")
    return foreign


def main(argv: list[str]) -> int:
    layer, code, runtime, *configs = argv
    report: dict = {"handlers": []}
    for handler in HANDLERS:
        importlib.import_module(handler)
        report["handlers"].append(handler)
    report["csv"] = read_csv()
    report.update(blas())
    report["pipelines"] = pipelines(configs)
    report["roc_auc"] = sklearn_paths()
    report["estimators"] = every_estimator()
    report["foreign"] = foreign_modules([Path(layer), Path(code), Path(runtime)])
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
