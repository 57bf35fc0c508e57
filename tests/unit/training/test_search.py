"""Model search in a training run (training/search.py) against moto S3: the leaderboard in the manifest and the
run record, the best candidate refitted on the training part, the same holdout gate, and clear errors."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_score

from mlops_core.config import CONFIG_FILE, ConfigError, PromotionSettings, parse_config
from mlops_core.config.task import Task, fit_targets
from mlops_core.modeling.pipeline import build_pipeline, model_input
from mlops_core.modeling.search import check_model, plan
from mlops_core.registry.store import Registry
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS
from tests.unit.examples_loader import load_example
from training.data import read_labeled_data
from training.search import SearchError, _scoring
from training.train import split_holdout, train_and_register

ROOT = Path(__file__).resolve().parents[3]
LOGISTIC = "sklearn.linear_model.LogisticRegression"
TREE = "sklearn.tree.DecisionTreeClassifier"


def searching(*candidates: dict, path: Path = ROOT / CONFIG_FILE, metric: str | None = None, **model: object):
    """The config at `path` with [model] searching `candidates` (3 folds unless told), and optionally another
    promotion metric."""
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    raw["model"] = {"seed": 42, "holdout_share": 0.2, "cv_folds": 3, "candidates": list(candidates), **model}
    if metric:
        raw["promotion"] = {**raw["promotion"], "metric": metric, "floor": 0.9 if metric == "log_loss" else 0.6}
    return parse_config(raw)


LINEAR = {"estimator": LOGISTIC, "params": {"max_iter": 500}, "search": {"C": [0.001, 1.0]}}
SHALLOW = {"estimator": TREE, "params": {"random_state": 0}, "search": {"max_depth": [1, 4]}}


def train(s3, config, **kwargs):
    return train_and_register(s3, data_bucket=DATA, models_bucket=MODELS, config=config, **kwargs)


def _standings(result: dict) -> list[tuple]:
    return [(e["name"], e["mean"], e["std"], e["best"]) for e in result["search"]["leaderboard"]]


def churn(s3, rows: int = 2000, seed: int = 11) -> None:
    s3.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(rows, seed=seed))


def test_given_two_candidates_when_trained_then_the_manifest_ranks_them_and_the_best_is_refitted(aws):
    churn(aws)
    config = searching(LINEAR, SHALLOW)
    result = train(aws, config)
    manifest = Registry(aws, MODELS).manifest(result["version"])
    search = manifest["search"]
    assert search == result["search"] and search["method"] == "grid" and search["metric"] == "roc_auc"
    board = search["leaderboard"]
    assert {e["name"] for e in board} == {"LogisticRegression", "DecisionTreeClassifier"}
    assert [e["rank"] for e in board] == [1, 2] and board[0]["mean"] >= board[1]["mean"]
    assert all(0 < e["std"] < 0.1 and e["points"] == 2 and e["fits"] == 6 and len(e["grid"]) == 2 for e in board)
    assert search["cv_fits"] == 12 and search["cv_folds"] == 3 and search["chosen"] == board[0]["name"]
    assert search["rows"] == 2000 - result["metrics"]["rows"]  # the training part: every row but the holdout
    chosen = next(c for c in config.model.candidates if c.name == board[0]["name"])
    assert manifest["estimator"] == chosen.estimator and manifest["params"] == {**chosen.params, **board[0]["best"]}
    model, _ = Registry(aws, MODELS).load_model(result["version"])
    final = model.named_steps["model"]
    assert type(final).__name__ == chosen.name
    assert all(final.get_params()[k] == v for k, v in board[0]["best"].items())


def test_given_a_search_when_trained_then_its_means_are_the_cross_validation_of_the_training_part_alone(aws):
    churn(aws)
    searched = searching(LINEAR)
    board = train(aws, searched)["search"]["leaderboard"]
    data = read_labeled_data(aws, DATA, searched)
    train_rows = split_holdout(data, searched).train
    x, y = (
        model_input(data.columns, searched.features).iloc[train_rows],
        fit_targets(data.labels[train_rows], data.task),
    )
    for point in board[0]["grid"]:
        model = build_pipeline(searched, estimator=LogisticRegression(max_iter=500, C=point["params"]["C"]))
        folds = StratifiedKFold(3, shuffle=True, random_state=42)
        scores = cross_val_score(model, x, y, cv=folds, scoring="roc_auc")
        assert point["mean"] == round(scores.mean(), 6) and point["std"] == round(scores.std(), 6)
    assert board[0]["grid"][0]["mean"] > board[0]["grid"][1]["mean"]  # best first


def test_given_a_searched_candidate_then_the_same_holdout_gate_decides(aws):
    churn(aws)
    first = train(aws, searching(LINEAR, SHALLOW))
    assert first["promoted"] and first["decision"]["candidate_metrics"] == first["metrics"]
    strict = dataclasses.replace(
        searching(LINEAR, SHALLOW), promotion=PromotionSettings(metric="roc_auc", tolerance=0.0, floor=0.99)
    )
    second = train(aws, strict)
    assert not second["promoted"] and _standings(second) == _standings(first)  # same data, seed and folds
    assert Registry(aws, MODELS).champion().version == first["version"]
    assert "< floor 0.9900" in " ".join(second["decision"]["reasons"])


def test_given_a_lower_is_better_metric_when_searched_then_means_keep_its_sign_and_the_lowest_wins(aws):
    churn(aws)
    search = train(aws, searching(LINEAR, SHALLOW, metric="log_loss"))["search"]
    means = [e["mean"] for e in search["leaderboard"]]
    assert search["higher_is_better"] is False and all(m > 0 for m in means) and means == sorted(means)
    grid = search["leaderboard"][0]["grid"]
    assert [p["mean"] for p in grid] == sorted(p["mean"] for p in grid)


def test_given_random_search_when_trained_then_n_iter_points_per_candidate_drawn_the_same_way_each_time(aws):
    churn(aws)
    wide = {
        "estimator": TREE,
        "params": {"random_state": 0},
        "search": {"max_depth": [1, 2, 3], "min_samples_leaf": [1, 50]},
    }
    config = searching(wide, search="random", n_iter=2)
    first, second = train(aws, config)["search"], train(aws, config)["search"]
    (entry,) = first["leaderboard"]
    assert first["method"] == "random" and entry["points"] == 2 and entry["fits"] == 6 and first["cv_fits"] == 6
    assert [p["params"] for p in entry["grid"]] == [p["params"] for p in second["leaderboard"][0]["grid"]]


def test_given_a_regression_search_when_trained_then_kfold_and_the_error_metric_lowest_first(aws, tmp_path):
    training_csv, _, _ = load_example("diabetes").write(tmp_path)
    aws.put_object(Bucket=DATA, Key="training/diabetes.csv", Body=training_csv.read_bytes())
    ridge = {"estimator": "sklearn.linear_model.Ridge", "search": {"alpha": [0.1, 100.0]}}
    config = searching(ridge, path=ROOT / "examples" / "diabetes" / "mlops.toml")
    search = train(aws, config)["search"]
    grid = search["leaderboard"][0]["grid"]
    assert search["metric"] == "rmse" and 30 < grid[0]["mean"] < grid[1]["mean"]


def test_given_no_candidates_when_trained_then_no_search_and_no_record(aws, config):
    churn(aws)
    result = train(aws, config)
    manifest = Registry(aws, MODELS).manifest(result["version"])
    assert result["search"] is None and manifest["search"] is None
    assert manifest["estimator"] == config.model.estimator and manifest["params"] == config.model.params


# ---------------------------------------------------------------------------- bad input
def test_given_an_unknown_grid_parameter_then_the_synth_check_and_the_run_name_it_and_nothing_is_registered(aws):
    churn(aws)
    config = searching(LINEAR, {"estimator": TREE, "search": {"depth": [2, 4]}})
    with pytest.raises(ConfigError) as raised:
        check_model(config)
    message = str(raised.value)
    assert 'model.candidates["DecisionTreeClassifier"].search' in message and "'depth'" in message
    assert "max_depth" in message and "step__param" in message
    with pytest.raises(ConfigError, match="'depth' is not a parameter"):
        train(aws, config)
    assert Registry(aws, MODELS).versions() == []


def test_given_a_grid_value_the_estimator_refuses_then_the_run_fails_naming_the_candidate_and_registers_nothing(aws):
    churn(aws)
    with pytest.raises(SearchError, match=r'model.candidates\["LogisticRegression"\] failed in cross-validation.*C'):
        train(aws, searching({"estimator": LOGISTIC, "search": {"C": [1.0, -1.0]}}))
    assert Registry(aws, MODELS).versions() == []


def test_given_a_class_with_fewer_rows_than_folds_then_the_search_says_so_before_fitting(aws):
    churn(aws, rows=600)
    with pytest.raises(SearchError, match=r"fewer than model\.cv_folds = 1000: the search needs one in every fold"):
        train(aws, searching(LINEAR, cv_folds=1000, max_fits=5000))


def test_given_f1_on_text_classes_then_the_scorer_takes_the_positive_class_as_the_targets_hold_it():
    task = Task("binary", ("neg", "pos"), positive_class="neg")
    x = np.arange(40, dtype=float).reshape(-1, 1)
    y = fit_targets(np.asarray(["neg"] * 20 + ["pos"] * 20, dtype=object), task)
    model = clone(LogisticRegression()).fit(x[::2], y[::2])
    expected = f1_score(y[1::2], model.predict(x[1::2]), pos_label="neg")
    assert _scoring("f1", task)(model, x[1::2], y[1::2]) == expected


CALIBRATED_SVM = {
    "estimator": "sklearn.calibration.CalibratedClassifierCV",
    "params": {"estimator": {"class": "sklearn.svm.LinearSVC", "params": {"dual": "auto"}}, "cv": 3},
    "search": {"estimator__C": [0.1, 1.0]},
}


def test_given_a_wrapper_candidate_then_the_estimator_it_wraps_is_built_from_its_table_and_searchable():
    config = searching(CALIBRATED_SVM)

    (planned,) = plan(config)
    wrapped = planned.model.named_steps["model"].estimator
    assert type(wrapped).__name__ == "LinearSVC" and wrapped.dual == "auto"
    assert planned.space == {"model__estimator__C": [0.1, 1.0]}


def test_given_a_wrapped_estimator_outside_scikit_learn_then_the_config_is_refused_naming_it():
    os_system = {**CALIBRATED_SVM, "params": {"estimator": {"class": "os.system"}}}
    with pytest.raises(ConfigError, match=r"params\.estimator\.estimator must be a scikit-learn class"):
        check_model(searching(os_system))
