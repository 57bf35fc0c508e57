"""Label-free performance estimation (CBPE) against the labels: a benchmark, not a test.

Trains the configured pipeline on generated churn data (a seeded 20% of the rows held out, as training
does), calibrates on the holdout, then estimates the accuracy and ROC AUC of labeled batches under
covariate shift and concept shift from the project's data generator, and compares them with what the
labels say. The estimate should track covariate shift and, by design, cannot see concept shift. The
same for the breast-cancer example (examples/breast-cancer: its training file, then its batch, whose
labels come from scikit-learn's copy of the data set).

    .venv/bin/python bench/bench_estimate.py [--rows 8000] [--batch-rows 20000]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import itertools
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]
RESULTS = ROOT / "bench" / "results"
EXAMPLE = ROOT / "examples" / "breast-cancer"
SHIFTS = (0.0, 0.5, 1.0)


def read_csv(text: str, config: Any) -> Any:
    """The typed columns (and labels, when the file has them) of a CSV, as training and scoring convert it
    (bench_scoring builds its models with it too)."""
    from mlops_core.data.convert import convert_rows

    rows = list(csv.reader(io.StringIO(text)))
    return convert_rows(
        rows[0],
        rows[1:],
        first_row=1,
        features=config.features,
        label=config.label,
        max_field_chars=1000,
        task=config.task,
    )


def train_and_calibrate(chunk: Any, config: Any) -> tuple[Any, dict[str, Any]]:
    """The configured pipeline fitted on 80% of the rows, and the calibration learned on the other 20%."""
    import numpy as np

    from mlops_core.config.task import fit_targets
    from mlops_core.modeling.pipeline import build_pipeline, model_input
    from mlops_core.monitoring.performance_estimate import fit_calibration

    x = model_input(chunk.columns, config.features)
    order = np.random.default_rng(config.model.seed).permutation(len(chunk.label))
    n_holdout = int(len(order) * config.model.holdout_share)
    holdout, train = order[:n_holdout], order[n_holdout:]
    model = build_pipeline(config).fit(x.iloc[train], fit_targets(chunk.label[train], config.task))
    scores = positive_scores(model, x.iloc[holdout], config)
    return model, fit_calibration(scores, chunk.label[holdout] == config.task.positive)


def positive_scores(model: Any, x: Any, config: Any) -> Any:
    from mlops_core.config.task import model_classes

    return model.predict_proba(x)[:, model_classes(model).index(config.task.positive)]


def measure(model: Any, calibration: dict[str, Any], columns: Any, is_positive: Any, config: Any) -> dict[str, Any]:
    """The batch's estimate (streamed in scoring's chunk size) next to its realized accuracy and ROC AUC."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from mlops_core.modeling.pipeline import model_input
    from mlops_core.monitoring.performance_estimate import PerformanceEstimator, realized_vs_estimated

    scores = positive_scores(model, model_input(columns, config.features), config)
    estimator = PerformanceEstimator(calibration)
    for start in range(0, len(scores), config.scoring.chunk_rows):
        estimator.update(scores[start : start + config.scoring.chunk_rows])
    realized = {
        "accuracy": round(float(np.mean((scores >= 0.5) == is_positive)), 6),
        "roc_auc": round(float(roc_auc_score(is_positive, scores)), 6),
    }
    # The naive guess to beat: accuracy stays what it was on the holdout.
    baseline_error = round(calibration["holdout_realized_accuracy"] - realized["accuracy"], 6)
    comparison = realized_vs_estimated(estimator.result(), realized) or {}
    return {"rows": len(scores), **comparison, "holdout_accuracy_error": baseline_error}


def churn(rows: int, batch_rows: int) -> dict[str, Any]:
    """The default config's model on generated churn data, batches over a grid of covariate and concept shift."""
    from mlops_core.config import load_config
    from mlopsctl.datagen import generate

    config = load_config(ROOT / "mlops.toml")
    model, calibration = train_and_calibrate(read_csv(generate(rows, seed=1).decode(), config), config)
    batches = []
    for seed, (covariate, concept) in enumerate(itertools.product(SHIFTS, SHIFTS), start=100):
        data = generate(batch_rows, seed=seed, covariate_shift=covariate, concept_shift=concept, with_label=True)
        chunk = read_csv(data.decode(), config)
        result = measure(model, calibration, chunk.columns, chunk.label == config.task.positive, config)
        batches.append({"covariate_shift": covariate, "concept_shift": concept, **result})
    return {"training_rows": rows, "calibration": summary(calibration), "batches": batches}


def breast_cancer() -> dict[str, Any]:
    """The example's config and files: trained and calibrated on training.csv, measured on batch.csv."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    from mlops_core.config import load_config

    config = load_config(EXAMPLE / "mlops.toml")
    spec = importlib.util.spec_from_file_location("breast_cancer_example", EXAMPLE / "make_data.py")
    assert spec and spec.loader
    make_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    with tempfile.TemporaryDirectory() as tmp:
        training, batch_file = (path.read_text() for path in make_data.write(Path(tmp)))
    train = read_csv(training, config)
    model, calibration = train_and_calibrate(train, config)
    batch = read_csv(batch_file, config)
    ids = [int(row[0].removeprefix("S")) for row in batch.rows]  # make_data names rows S<index in the data set>
    malignant = load_breast_cancer().target[ids] == 0
    result = measure(model, calibration, batch.columns, np.asarray(malignant), config)
    batches = [{"covariate_shift": None, "concept_shift": None, **result}]
    return {"training_rows": len(train), "calibration": summary(calibration), "batches": batches}


def summary(calibration: dict[str, Any]) -> dict[str, Any]:
    """The calibration record without its points."""
    return {k: v for k, v in calibration.items() if k not in ("scores", "probabilities")} | {
        "points": len(calibration["scores"])
    }


def mean_absolute_error(batches: list[dict[str, Any]], key: str = "error") -> float | None:
    errors = [abs(b[key]) for b in batches if b.get(key) is not None]
    return round(sum(errors) / len(errors), 4) if errors else None


def with_errors(data_set: dict[str, Any]) -> dict[str, Any]:
    """MAE of the accuracy estimate over all batches, and apart where the assumption holds (no concept shift);
    and the MAE of the naive guess (the holdout's accuracy) where the assumption holds."""
    batches = data_set["batches"]
    held = [b for b in batches if not b["concept_shift"]]
    broken = [b for b in batches if b["concept_shift"]]
    return data_set | {
        "mae_accuracy": mean_absolute_error(batches),
        "mae_accuracy_no_concept_shift": mean_absolute_error(held),
        "mae_accuracy_concept_shift": mean_absolute_error(broken),
        "mae_roc_auc_no_concept_shift": mean_absolute_error(held, "roc_auc_error"),
        "mae_holdout_accuracy_no_concept_shift": mean_absolute_error(held, "holdout_accuracy_error"),
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| data | covariate shift | concept shift | rows | realized acc | estimated acc | error "
        "| holdout acc's error | realized AUC | estimated AUC |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, data_set in results["data_sets"].items():
        for b in data_set["batches"]:
            shifts = "- | -" if b["covariate_shift"] is None else f"{b['covariate_shift']} | {b['concept_shift']}"
            lines.append(
                f"| {name} | {shifts} | {b['rows']:,} | {b['realized_accuracy']:.3f} | {b['estimated_accuracy']:.3f} "
                f"| {b['error']:+.3f} | {b['holdout_accuracy_error']:+.3f} | {b['realized_roc_auc']:.3f} "
                f"| {b['estimated_roc_auc']:.3f} |"
            )
    lines.append("")
    for name, d in results["data_sets"].items():
        c = d["calibration"]
        lines += [
            f"- {name}: calibrated on {c['holdout_rows']:,} holdout rows ({c['method']}, {c['points']} points); "
            f"holdout accuracy {c['holdout_realized_accuracy']}, "
            f"out-of-fold estimate {c['holdout_estimated_accuracy']}",
            f"  - MAE of the accuracy estimate without concept shift: {d['mae_accuracy_no_concept_shift']} "
            f"(the holdout's accuracy as the guess: {d['mae_holdout_accuracy_no_concept_shift']}); "
            f"ROC AUC: {d['mae_roc_auc_no_concept_shift']}",
            f"  - with concept shift: {d['mae_accuracy_concept_shift']}; over all batches: {d['mae_accuracy']}",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=8_000, help="generated churn rows to train and calibrate on")
    parser.add_argument("--batch-rows", type=int, default=20_000, help="rows per generated batch")
    args = parser.parse_args()
    data_sets = {"churn": churn(args.rows, args.batch_rows), "breast-cancer": breast_cancer()}
    results = {"data_sets": {name: with_errors(d) for name, d in data_sets.items()}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "estimate.json").write_text(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
