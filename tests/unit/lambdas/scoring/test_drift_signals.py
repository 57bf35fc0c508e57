"""Scoring's drift signals end to end in moto: estimate, multivariate check, one alert per drifted batch."""

from __future__ import annotations

import dataclasses
import json

import boto3
import pytest
from scoring.alerts import drift_alert
from scoring.logic import Clients, ScoringContext, score_job
from scoring.metrics import metric_data

from mlops_core.environment import ScoringEnvironment
from mlops_core.registry.store import Registry
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS, REGION
from tests.unit.lambdas.scoring.test_scoring import CountingCloudWatch, put


class RecordingSns:
    """Keeps every Publish call."""

    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, **kwargs):
        self.published.append(kwargs)
        return {"MessageId": str(len(self.published))}


@pytest.fixture
def alerting(aws, config):
    sns = RecordingSns()
    clients = Clients(aws, CountingCloudWatch(boto3.client("cloudwatch", region_name=REGION)), None, sns)
    environment = ScoringEnvironment(DATA, MODELS, None, "MLOps", alert_topic_arn="arn:aws:sns:us-east-1:0:alerts")
    return clients, ScoringContext(environment, config), sns


def drift_report(clients: Clients, outcome) -> dict:
    key = outcome.detail["outputs"]["drift_report"]
    return json.loads(clients.s3.get_object(Bucket=DATA, Key=key)["Body"].read())


def test_given_a_clean_batch_when_scored_then_it_is_estimated_checked_jointly_and_sends_no_alert(alerting, champion):
    clients, settings, sns = alerting
    outcome = score_job(
        put(clients.s3, "incoming/clean.csv", generate(2_000, seed=11, with_label=False)),
        clients=clients,
        context=settings,
    )
    drift = drift_report(clients, outcome)["drift"]
    assert drift["verdict"] is False and drift["notes"] == [], drift["reasons"]
    assert 0.5 < drift["performance"]["estimated_accuracy"] < 1
    assert drift["multivariate"]["drifted"] is False and drift["multivariate"]["score"] < 1
    (estimate,) = clients.cloudwatch.metric_values("EstimatedAccuracy")
    assert estimate == pytest.approx(drift["performance"]["estimated_accuracy"])
    assert len(clients.cloudwatch.metric_values("FeatureDriftScore")) == len(settings.config.features)
    assert sns.published == []


def test_given_a_drifted_labeled_batch_when_scored_twice_then_one_alert_names_features_file_model_and_report(
    alerting, champion
):
    clients, settings, sns = alerting
    job = put(clients.s3, "incoming/drifted.csv", generate(2_000, seed=12, covariate_shift=1.5, concept_shift=1.0))
    outcome = score_job(job, clients=clients, context=settings)
    score_job(job, clients=clients, context=settings)  # a duplicate delivery: no second alert
    drift = drift_report(clients, outcome)["drift"]
    assert drift["verdict"] is True
    (alert,) = sns.published
    message = alert["Message"]
    assert "incoming/drifted.csv" in alert["Subject"] + message and champion in message
    assert outcome.detail["outputs"]["drift_report"] in message
    first = drift["drifted"][0]
    assert f"{first['feature']}: {first['psi']:.4f} > {first['threshold']:.4f}" in message
    pair = drift["realized_vs_estimated"]
    assert pair["realized_accuracy"] < pair["estimated_accuracy"]  # concept drift: only labels reveal it


def test_given_a_model_from_before_the_new_signals_when_scoring_then_it_scores_with_a_note(aws, alerting, trained):
    clients, settings, _ = alerting
    artifact, manifest = trained
    profile = {k: v for k, v in manifest["profile"].items() if k not in ("calibration", "reference_sample")}
    registry = Registry(aws, MODELS)
    version = registry.publish(artifact, {**manifest, "profile": profile}, version="v20250101T000000Z-old000")
    registry.promote(version, expected=None, decision={"kind": "promote", "reasons": ["older manifest"]})
    outcome = score_job(
        put(clients.s3, "incoming/old.csv", generate(500, seed=13, with_label=False)),
        clients=clients,
        context=settings,
    )
    drift = drift_report(clients, outcome)["drift"]
    assert outcome.status == "scored" and drift["verdict"] is False
    assert drift["performance"] is None and drift["multivariate"] is None
    assert any("retrain" in note for note in drift["notes"])
    assert clients.cloudwatch.metric_values("EstimatedAccuracy") == []


def test_given_the_multivariate_check_turned_off_when_scoring_then_no_sample_is_kept(alerting, champion, config):
    clients, settings, _ = alerting
    off = dataclasses.replace(
        settings, config=dataclasses.replace(config, drift=dataclasses.replace(config.drift, reference_sample_rows=0))
    )
    outcome = score_job(
        put(clients.s3, "incoming/off.csv", generate(500, seed=14, with_label=False)), clients=clients, context=off
    )
    assert drift_report(clients, outcome)["drift"]["multivariate"] is None


def test_given_a_batch_with_a_quality_break_when_published_then_the_metric_counts_it_and_the_alert_names_it():
    reason = "data quality: age: 100% missing (reference 20%)"
    drifted = {"feature": "age", "psi": 0.001, "threshold": 0.05, "score": 0.02, "psi_drifted": False}
    drift = {
        "rows": 1_000, "verdict": True, "reasons": [reason], "worst_psi": 0.001, "drifted_share": 0.1,
        "prediction_psi": 0.001, "feature_psi": {"age": 0.001}, "drifted_features": ["age"],
        "drifted": [{**drifted, "quality": ["100% missing, reference 20%"]}], "quality_drifted_features": ["age"],
    }  # fmt: skip
    receipt = {"outcome": "scored", "key": "incoming/b.csv", "model_version": "v1", "drift": drift, "outputs": {}}

    data = metric_data(receipt, pipeline="p", min_labeled_rows=100)
    _, message = drift_alert(receipt, pipeline="p")

    assert {"MetricName": "QualityDriftedFeatures", "Value": 1} in [
        {"MetricName": d["MetricName"], "Value": d["Value"]} for d in data
    ]
    assert f"- {reason}" in message and "  age: 100% missing, reference 20%" in message
    assert "0.0010 >" not in message  # its PSI is not why it drifted
