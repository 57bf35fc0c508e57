"""Every section but [label] and [[features]] is optional: what a setting left out means (fixed, or chosen by
the task), one table of them in docs/configuration.md, and unknown sections and keys refused by name."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from mlops_core.config import ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[3]
FEATURES = [{"name": "age", "type": "numeric"}, {"name": "sex", "type": "categorical"}]


def minimal(**sections: object) -> dict:
    """A config of [label] (binary `survived`) and two [[features]], plus `sections`."""
    return {"label": {"column": "survived"}, "features": FEATURES, **sections}


def test_given_only_label_and_features_when_parsed_then_every_other_section_takes_its_defaults():
    config = parse_config(minimal())
    assert (config.name, config.stack_name, config.task.kind) == ("mlops", "MlopsStack", "binary")
    assert config.model.estimator == "sklearn.ensemble.HistGradientBoostingClassifier"
    assert (config.promotion.metric, config.promotion.floor, config.promotion.tolerance) == ("roc_auc", 0.6, 0.01)
    assert (config.drift.accuracy_floor, config.drift.max_error) == (0.7, None)
    assert (config.training.window_files, config.training.min_rows, config.scoring.max_field_chars) == (20, 200, 1000)
    assert (config.retraining.lock_ttl_seconds, config.max_receive_count) == (4200, 3)
    assert config.monitoring.max_model_age_days is None


def test_given_a_multiclass_label_when_parsed_then_macro_f1_is_the_promotion_metric():
    config = parse_config(minimal(label={"column": "species", "task": "multiclass"}))
    assert (config.promotion.metric, config.promotion.floor, config.drift.accuracy_floor) == ("f1_macro", 0.5, 0.7)


def test_given_a_regression_label_without_max_error_when_parsed_then_the_error_says_it_has_no_default():
    with pytest.raises(ConfigError, match=r"max_error is required for a regression task.*label's units"):
        parse_config(minimal(label={"column": "price", "task": "regression"}))


def test_given_a_regression_label_with_max_error_when_parsed_then_r2_and_a_boosted_regressor_are_the_defaults():
    config = parse_config(minimal(label={"column": "price", "task": "regression"}, drift={"max_error": 12.5}))
    assert (config.promotion.metric, config.promotion.floor, config.drift.max_error) == ("r2", 0.0, 12.5)
    assert config.model.estimator == "sklearn.ensemble.HistGradientBoostingRegressor"
    assert config.drift.accuracy_floor is None


def test_given_a_metric_in_the_labels_units_without_a_floor_when_parsed_then_the_floor_is_required():
    raw = minimal(label={"column": "price", "task": "regression"}, drift={"max_error": 3.0})
    with pytest.raises(ConfigError, match=r"\[promotion\] floor is required with metric 'rmse'"):
        parse_config({**raw, "promotion": {"metric": "rmse"}})
    config = parse_config({**raw, "promotion": {"metric": "rmse", "floor": 9.0, "tolerance": 0.5}})
    assert (config.promotion.floor, config.promotion.tolerance) == (9.0, 0.5)


def test_given_max_error_on_a_classification_task_when_parsed_then_the_error_names_accuracy_floor():
    with pytest.raises(ConfigError, match=r"max_error applies to a regression task; use accuracy_floor"):
        parse_config(minimal(drift={"max_error": 3.0}))


def test_given_a_text_feature_when_parsed_then_the_default_estimator_takes_sparse_input():
    text = minimal(features=[{"name": "review", "type": "text"}])
    assert parse_config(text).model.estimator == "sklearn.linear_model.LogisticRegression"


def test_given_a_longer_run_time_limit_without_a_lock_when_parsed_then_the_lock_outlives_it():
    retraining = parse_config(minimal(retraining={"max_runtime_seconds": 7200})).retraining
    assert retraining.lock_ttl_seconds == 7200 + 600


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("retrainig", r"\[retrainig\] is not a section of mlops.toml; did you mean \[retraining\]\?"),
        ("monitor", r"did you mean \[monitoring\]\?"),
        ("zzz", r"\[zzz\] is not a section.*the sections are project, label"),
    ],
)
def test_given_an_unknown_section_when_parsed_then_it_is_refused_with_the_closest_known_name(section, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(minimal(**{section: {"schedule": "rate(7 days)"}}))


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"project": {"nmae": "x"}}, r"\[project\] has unknown setting\(s\) nmae \(did you mean name\?\)"),
        ({"label": {"column": "survived", "classses": [0, 1]}}, r"\[label\] has unknown setting\(s\) classses"),
        ({"queue": {"max_receive": 3}}, r"\[queue\] has unknown setting\(s\) max_receive"),
        ({"training": {"min_row": 3}}, r"\[training\] has unknown setting\(s\) min_row \(did you mean min_rows\?\)"),
        ({"queue": {"max_receive_count": 0}}, r"max_receive_count must be a whole number from 1"),
        ({"drift": 3}, r"drift must be a table"),
    ],
)
def test_given_an_unknown_or_bad_setting_in_an_optional_section_when_parsed_then_it_is_refused(sections, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(minimal(**sections))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"features": FEATURES}, r"\[label\] section is missing"),
        ({"label": {"task": "binary"}, "features": FEATURES}, r"\[label\] is missing column"),
        ({"label": {"column": "survived"}}, r"defines no \[\[features\]\]"),
    ],
)
def test_given_no_label_or_no_features_when_parsed_then_the_required_part_is_named(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def documented_defaults() -> list[tuple[str, str, object]]:
    """The rows of docs/configuration.md's defaults table whose default is one TOML value."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    table = text.split("## Defaults", 1)[1].split("\n## ", 1)[0]
    rows = []
    for section, setting, default in re.findall(r"^\| `\[(\w+)\]` \| `(\w+)` \| `([^`]+)` \|", table, re.M):
        rows.append((section, setting, tomllib.loads(f"v = {default}")["v"]))
    return rows


def test_given_the_documented_defaults_table_when_a_minimal_config_is_parsed_then_each_default_holds():
    config = parse_config(minimal())
    rows = documented_defaults()
    assert len(rows) >= 30
    for section, setting, default in rows:
        if section == "project":
            actual = getattr(config, setting)
        elif section == "queue":
            actual = config.max_receive_count
        elif section == "label":
            actual = getattr(config.task, "kind" if setting == "task" else setting)
        else:
            actual = getattr(getattr(config, section), setting)
        assert actual == default, (section, setting)
