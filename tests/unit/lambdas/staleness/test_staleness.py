"""Staleness: the [monitoring] settings and retraining.on_stale (each bad value refused with the setting named),
and the function that publishes the champion's age (moto S3 registry, moto CloudWatch)."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from staleness import handler
from staleness.logic import ManifestDateError, publish_champion_age

from mlops_core.config import CONFIG_FILE, ConfigError, parse_config
from mlops_core.environment import EnvironmentVariableError
from mlops_core.observability import CHAMPION_AGE_DAYS, NAMESPACE, PIPELINE
from mlops_core.registry.store import Registry
from mlops_core.storage import layout
from tests.unit.conftest import MODELS, REGION
from tests.unit.lambdas.scoring.test_scoring import LambdaContext

ROOT = Path(__file__).resolve().parents[4]
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def raw_config(monitoring: dict | None, **retraining: object) -> dict:
    """The repo's mlops.toml with [monitoring] replaced (None: no section) and `retraining` settings added."""
    with open(ROOT / CONFIG_FILE, "rb") as fh:
        raw = tomllib.load(fh)
    raw.pop("monitoring", None)
    if monitoring is not None:
        raw["monitoring"] = monitoring
    raw["retraining"] = {**raw["retraining"], **retraining}
    return raw


# ---------------------------------------------------------------------------- configuration
def test_given_no_monitoring_section_when_parsed_then_both_alarms_are_off_and_nothing_retrains_on_age():
    config = parse_config(raw_config(None))
    assert (config.monitoring.max_model_age_days, config.monitoring.max_silence_hours) == (None, None)
    assert config.retraining.on_stale is False


@pytest.mark.parametrize(
    ("hours", "seconds"),
    [(24, 86_400), (0.0166667, 60), (0.25, 900), (1.5, 5_400), (36, 129_600), (168, 604_800)],
)
def test_given_a_silence_cloudwatch_accepts_when_parsed_then_it_is_kept_in_whole_seconds(hours, seconds):
    monitoring = parse_config(raw_config({"max_silence_hours": hours, "max_model_age_days": 7.5})).monitoring
    assert (monitoring.silence_seconds, monitoring.max_model_age_days) == (seconds, 7.5)


@pytest.mark.parametrize(
    ("monitoring", "message"),
    [
        ({"max_model_age_days": 0}, r"max_model_age_days must be a number above 0 \(e\.g\. 30"),
        ({"max_model_age_days": -3}, "max_model_age_days must be a number above 0"),
        ({"max_model_age_days": "30"}, "max_model_age_days must be a number above 0"),
        ({"max_model_age_days": True}, "max_model_age_days must be a number above 0"),
        ({"max_model_age_days": float("inf")}, "max_model_age_days must be a number above 0"),
        ({"max_model_age_days": float("nan")}, "max_model_age_days must be a number above 0"),
        ({"max_silence_hours": 0}, "max_silence_hours must be a number above 0"),
        ({"max_silence_hours": "24h"}, "max_silence_hours must be a number above 0"),
        ({"max_silence_hours": 0.01}, r"max_silence_hours = 0\.01 is 36 s, .* whole minutes"),
        ({"max_silence_hours": 0.02}, "is 72 s, but CloudWatch alarm periods are whole minutes"),
        ({"max_silence_hours": 169}, "over 7 days, .* use at most 168"),
        ({"max_silence_hours": 24.5}, "over 24 hours .* whole hours"),
        ({"max_silence_days": 1}, r"\[monitoring\] has unknown setting\(s\) max_silence_days"),
    ],
)
def test_given_a_bad_monitoring_setting_when_parsed_then_one_error_names_it_and_the_fix(monitoring, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(raw_config(monitoring))


def test_given_on_stale_without_a_maximum_age_when_parsed_then_the_error_names_the_missing_setting():
    with pytest.raises(ConfigError, match=r"on_stale = true needs \[monitoring\] max_model_age_days"):
        parse_config(raw_config({"max_silence_hours": 24}, on_stale=True))


def test_given_on_stale_that_is_not_a_boolean_when_parsed_then_the_error_says_true_or_false():
    with pytest.raises(ConfigError, match="on_stale must be true or false, not 'yes'"):
        parse_config(raw_config({"max_model_age_days": 30}, on_stale="yes"))


def test_given_on_stale_with_a_maximum_age_when_parsed_then_kept():
    assert parse_config(raw_config({"max_model_age_days": 30}, on_stale=True)).retraining.on_stale is True


# ---------------------------------------------------------------------------- the publisher
def champion_trained_at(s3, trained: datetime, *, promoted: bool = True) -> str:
    """A version in the moto registry whose manifest says it was trained at `trained`; the champion if `promoted`."""
    registry = Registry(s3, MODELS)
    manifest = {"created_at": trained.isoformat()}
    version = registry.publish(b"model bytes", manifest, version=f"v-{len(registry.versions())}")
    if promoted:
        registry.promote(version, expected=registry.champion(), decision={"kind": "promote", "reasons": ["test"]})
    return version


def published(cloudwatch) -> list[tuple[dict, float]]:
    """(the metric's identity, its Maximum) of every ChampionAgeDays datum in the namespace (stamped when sent)."""
    now, found = datetime.now(UTC), []
    for metric in cloudwatch.list_metrics(Namespace=NAMESPACE, MetricName=CHAMPION_AGE_DAYS.name)["Metrics"]:
        stats = cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName=metric["MetricName"],
            Dimensions=metric["Dimensions"],
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(hours=1),
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        found += [(metric, point["Maximum"]) for point in stats]
    return found


def test_given_a_champion_trained_ten_days_ago_when_published_then_one_datum_of_ten_days_for_the_pipeline(aws):
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    version = champion_trained_at(aws, NOW - timedelta(days=10, hours=6))

    result = publish_champion_age(
        registry=Registry(aws, MODELS), cloudwatch=cloudwatch, pipeline="churn", namespace=NAMESPACE, now=NOW
    )

    assert result == {"published": True, "version": version, "age_days": 10.25}
    ((metric, value),) = published(cloudwatch)
    assert metric["Dimensions"] == [{"Name": PIPELINE, "Value": "churn"}]
    assert value == pytest.approx(10.25)


def test_given_an_old_model_promoted_again_today_when_published_then_its_age_counts_from_training(aws):
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    old = champion_trained_at(aws, NOW - timedelta(days=40), promoted=False)
    champion_trained_at(aws, NOW - timedelta(days=1))
    registry = Registry(aws, MODELS)
    registry.promote(old, expected=registry.champion(), decision={"kind": "rollback", "reasons": ["test"]})

    result = publish_champion_age(registry=registry, cloudwatch=cloudwatch, pipeline="p", namespace=NAMESPACE, now=NOW)

    assert (result["version"], result["age_days"]) == (old, 40)


def test_given_no_champion_when_published_then_nothing_is_sent_so_the_alarm_reads_missing_data(aws):
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    champion_trained_at(aws, NOW - timedelta(days=3), promoted=False)  # a version, but never promoted

    result = publish_champion_age(
        registry=Registry(aws, MODELS), cloudwatch=cloudwatch, pipeline="p", namespace=NAMESPACE, now=NOW
    )

    assert result == {"published": False, "reason": "no-champion"}
    assert cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"] == []


@pytest.mark.parametrize("created_at", [None, "last tuesday", "2026-11-01T12:00:00"])
def test_given_a_champion_manifest_without_a_usable_training_time_when_published_then_an_error_names_it(
    aws, created_at
):
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    registry = Registry(aws, MODELS)
    version = champion_trained_at(aws, NOW - timedelta(days=1))
    # Rewritten by hand: the registry itself always writes created_at with its UTC offset.
    manifest = {**registry.manifest(version), "created_at": created_at}
    aws.put_object(Bucket=MODELS, Key=layout.manifest_key(version), Body=json.dumps(manifest).encode())

    with pytest.raises(ManifestDateError, match=f"champion {version} has created_at .*mlops rollback"):
        publish_champion_age(registry=registry, cloudwatch=cloudwatch, pipeline="p", namespace=NAMESPACE, now=NOW)
    assert cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"] == []


def test_given_the_deployed_environment_when_the_schedule_ticks_then_the_handler_publishes_the_age(aws, monkeypatch):
    monkeypatch.setenv("MODELS_BUCKET", MODELS)
    version = champion_trained_at(aws, datetime.now(UTC) - timedelta(days=2))
    handler.environment.cache_clear()
    try:
        result = handler.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event"}, LambdaContext())
    finally:
        handler.environment.cache_clear()
    assert result["published"] and result["version"] == version
    assert result["age_days"] == pytest.approx(2, abs=0.01)
    ((metric, _),) = published(boto3.client("cloudwatch", region_name=REGION))
    assert metric["Dimensions"] == [{"Name": PIPELINE, "Value": parse_config(raw_config(None)).name}]


def test_given_no_models_bucket_variable_when_the_function_starts_then_its_cold_start_fails_naming_it(monkeypatch):
    monkeypatch.delenv("MODELS_BUCKET", raising=False)
    handler.environment.cache_clear()
    with pytest.raises(EnvironmentVariableError, match="MODELS_BUCKET"):
        handler.lambda_handler({}, LambdaContext())
    handler.environment.cache_clear()
