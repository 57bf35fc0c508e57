"""Training on a file with blank cells: features with missing = "impute" use every row, "reject" skips them."""

from __future__ import annotations

import dataclasses
import io

import joblib
import numpy as np
import pandas as pd
import pytest

from mlops_core.data.convert import convert_rows
from mlops_core.modeling.pipeline import features_from_schema
from mlops_core.registry.store import Registry
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS
from training.data import TrainingDataError, read_labeled_data
from training.train import train_and_register

IMPUTED = ("tenure_months", "contract")


def with_blanks(rows: int, share: float, columns: tuple[str, ...] = IMPUTED) -> bytes:
    """A generated labeled file with `share` of the cells of `columns` blank (a space or nothing)."""
    frame = pd.read_csv(io.BytesIO(generate(rows, seed=21)), dtype=str, keep_default_na=False)
    rng = np.random.default_rng(3)
    for column in columns:
        frame.loc[rng.random(rows) < share, column] = rng.choice(["", " "])
    return frame.to_csv(index=False).encode()


def imputing(config, names: tuple[str, ...] = IMPUTED):
    features = tuple(dataclasses.replace(f, missing="impute") if f.name in names else f for f in config.features)
    return dataclasses.replace(config, features=features)


def test_given_a_fifth_of_blanks_in_imputed_features_when_trained_then_every_row_is_used(aws, config):
    aws.put_object(Bucket=DATA, Key="training/gaps.csv", Body=with_blanks(1500, 0.2))

    result = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=imputing(config))

    (entry,) = result["files"]
    assert entry["rows"] == 1500 and entry["skipped"]["bad_feature"] == 0
    manifest = Registry(aws, MODELS).manifest(result["version"])
    policies = {f["name"]: f["missing"] for f in manifest["schema"]["features"]}
    assert policies == {f.name: "impute" if f.name in IMPUTED else "reject" for f in config.features}


def test_given_a_model_trained_with_imputation_when_loaded_then_it_predicts_rows_with_blanks(aws, config):
    aws.put_object(Bucket=DATA, Key="training/gaps.csv", Body=with_blanks(1500, 0.2))
    result = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=imputing(config))
    manifest = Registry(aws, MODELS).manifest(result["version"])
    model = joblib.load(io.BytesIO(aws.get_object(Bucket=MODELS, Key=manifest["artifact_key"])["Body"].read()))
    rows = pd.DataFrame(
        {
            "tenure_months": [np.nan, 12.0],
            "monthly_charges": [50.0, 70.0],
            "support_calls": [1.0, 3.0],
            "data_usage_gb": [5.0, 9.0],
            "contract": ["", "one-year"],
            "payment_method": ["card", "card"],
        }
    )

    probabilities = model.predict_proba(rows)

    assert probabilities.shape == (2, 2) and np.isfinite(probabilities).all()
    modules = {type(step).__module__.split(".")[0] for _, step, _ in model.named_steps["preprocess"].transformers_}
    assert modules == {"sklearn"}  # no project class in the pickle


def test_given_blanks_in_a_reject_feature_when_read_then_their_rows_are_skipped_as_bad_features(aws, config):
    aws.put_object(Bucket=DATA, Key="training/gaps.csv", Body=with_blanks(1500, 0.05, ("support_calls",)))

    data = read_labeled_data(aws, DATA, imputing(config))

    (entry,) = data.files
    assert entry["skipped"]["bad_feature"] > 0 and entry["rows"] + entry["skipped"]["bad_feature"] == 1500


def test_given_an_imputed_feature_blank_in_every_row_when_read_then_the_run_is_refused_naming_it(aws, config):
    aws.put_object(Bucket=DATA, Key="training/empty.csv", Body=with_blanks(600, 1.0, ("tenure_months",)))

    with pytest.raises(TrainingDataError, match="feature 'tenure_months' is blank in every training row"):
        read_labeled_data(aws, DATA, imputing(config))


@pytest.mark.parametrize("share, bound", [(0.7, 0.5), (0.3, 0.2)])
def test_given_an_imputed_feature_blank_above_the_bound_when_read_then_the_run_is_refused_naming_its_share(
    aws, config, share, bound
):
    aws.put_object(Bucket=DATA, Key="training/gappy.csv", Body=with_blanks(1000, share, ("tenure_months",)))
    bounded = dataclasses.replace(config, training=dataclasses.replace(config.training, max_missing_share=bound))

    with pytest.raises(
        TrainingDataError, match=r"feature 'tenure_months' is blank in \d+% of the training rows, above"
    ):
        read_labeled_data(aws, DATA, imputing(bounded))


def test_given_an_imputed_feature_blank_below_the_bound_when_read_then_every_row_is_used(aws, config):
    aws.put_object(Bucket=DATA, Key="training/gappy.csv", Body=with_blanks(1000, 0.4, ("tenure_months",)))

    data = read_labeled_data(aws, DATA, imputing(config))  # the default bound: half the rows

    assert data.files[0]["rows"] == 1000


def finding(config, name: str = "contract"):
    """The config with `name`'s categories left out: training finds them in its data."""
    features = tuple(dataclasses.replace(f, categories=()) if f.name == name else f for f in config.features)
    return dataclasses.replace(config, features=features)


def test_given_a_categorical_feature_without_categories_when_trained_then_the_manifest_records_those_found(aws, config):
    aws.put_object(Bucket=DATA, Key="training/gaps.csv", Body=with_blanks(1500, 0.1))

    result = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=finding(imputing(config)))

    manifest = Registry(aws, MODELS).manifest(result["version"])
    (contract,) = [f for f in manifest["schema"]["features"] if f["name"] == "contract"]
    assert contract["categories"] == ["month-to-month", "one-year", "two-year"]  # sorted, the blank left out
    assert manifest["profile"]["features"]["contract"]["categories"] == [*contract["categories"], ""]
    assert result["files"][0]["rows"] == 1500
    header = ["customer_id", *config.feature_names]
    rows = [["c1", "3", "50", "1", "5", "one-year", "card"], ["c2", "3", "50", "1", "5", "weekly", "card"]]
    scored = convert_rows(
        header, rows, first_row=1, features=features_from_schema(manifest["schema"]), label=None, max_field_chars=99
    )
    assert len(scored) == 1 and [(e.row, e.kind) for e in scored.errors] == [(2, "unknown_category")]


def test_given_an_id_column_declared_categorical_without_categories_when_read_then_refused_naming_it(aws, config):
    frame = pd.read_csv(io.BytesIO(generate(1500, seed=4)), dtype=str, keep_default_na=False)
    frame["contract"] = frame["customer_id"]
    aws.put_object(Bucket=DATA, Key="training/ids.csv", Body=frame.to_csv(index=False).encode())

    with pytest.raises(TrainingDataError, match="feature 'contract' has no categories configured and 1,500 distinct"):
        read_labeled_data(aws, DATA, finding(config))


def listing(config, name: str, categories: tuple[str, ...]):
    """The config with `name`'s categories replaced (unknown = "reject", the default)."""
    features = tuple(dataclasses.replace(f, categories=categories) if f.name == name else f for f in config.features)
    return dataclasses.replace(config, features=features)


def test_given_a_category_list_that_misses_a_common_value_when_read_then_the_run_is_refused_naming_it(aws, config):
    aws.put_object(Bucket=DATA, Key="training/plans.csv", Body=generate(1000, seed=21))
    partial = listing(config, "contract", ("month-to-month", "one-year"))

    with pytest.raises(TrainingDataError, match=r"values not in their feature's categories: contract 'two-year' \("):
        read_labeled_data(aws, DATA, partial)


def test_given_a_rare_value_outside_the_category_list_when_read_then_the_run_record_names_it(aws, config):
    body = generate(1000, seed=21).replace(b",bank-transfer,", b",crypto,", 3)
    aws.put_object(Bucket=DATA, Key="training/rare.csv", Body=body)

    data = read_labeled_data(aws, DATA, config)

    (entry,) = data.files
    assert entry["unlisted_categories"] == [{"feature": "payment_method", "value": "crypto", "rows": 3}]
    assert entry["skipped"]["bad_feature"] == 3
