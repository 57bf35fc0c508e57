"""`[tracking]`: the MLflow server the CLI keeps current; absent by default, refused with the setting named."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mlops_core.config import CONFIG_FILE, ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[3]


def parse_with(tracking: dict | None):
    with open(ROOT / CONFIG_FILE, "rb") as fh:
        raw = tomllib.load(fh)
    raw.pop("tracking", None)
    if tracking is not None:
        raw["tracking"] = tracking
    return parse_config(raw).tracking


def test_given_no_tracking_section_then_nothing_is_synced_by_itself():
    assert parse_with(None).mlflow_uri is None and parse_with(None).experiment is None


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:5000",
        "https://mlflow.example.org/",
        "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/team",
        "sqlite:////tmp/mlflow.db",
    ],
)
def test_given_a_tracking_uri_then_it_is_kept_with_the_experiment(uri):
    tracking = parse_with({"mlflow_uri": uri, "experiment": "churn-team"})
    assert (tracking.mlflow_uri, tracking.experiment) == (uri, "churn-team")


@pytest.mark.parametrize(
    ("tracking", "message"),
    [
        ({"mlflow_uri": "127.0.0.1:5000"}, "must be an http"),
        ({"mlflow_uri": "file:///tmp/mlruns"}, "must be an http"),
        ({"mlflow_uri": 5000}, "must be an http"),
        ({"mlflow_uri": "https://ana:s3cret@mlflow.example.org"}, "must not carry credentials"),
        ({"mlflow_uri": "http://127.0.0.1:5000", "experiment": " "}, "experiment must be a name"),
        ({"mlflow_url": "http://127.0.0.1:5000"}, "did you mean mlflow_uri"),
    ],
)
def test_given_a_bad_tracking_setting_then_it_is_refused_by_name(tracking, message):
    with pytest.raises(ConfigError, match=message):
        parse_with(tracking)
