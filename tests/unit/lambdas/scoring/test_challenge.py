"""Champion/challenger in scoring and training, against moto: shadow and split outputs, evidence once per
job under duplicate deliveries, the rule promoting or retiring by conditional writes, a challenger whose
artifact fails its checksum, and the gate starting a challenger instead of promoting."""

from __future__ import annotations

import dataclasses
import json

import boto3
import pytest
from moto import mock_aws
from scoring.logic import Clients, ScoringContext, score_job

from mlops_core.environment import ScoringEnvironment
from mlops_core.registry.approval import install_candidate
from mlops_core.registry.challenger import start_challenge
from mlops_core.registry.store import ChampionConflict, Registry
from mlops_core.storage import layout
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS, REGION
from tests.unit.lambdas.scoring.test_scoring import CountingCloudWatch, keys, put, read_csv
from training.train import train_and_register

SHIFT = 1.0  # concept drift: a model trained on it beats one that was not, on batches that have it


@pytest.fixture(scope="session")
def trained_on_shift(config) -> tuple[bytes, dict]:
    """A model trained on concept-drifted data: (artifact, manifest)."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=DATA)
        s3.create_bucket(Bucket=MODELS)
        s3.put_object(Bucket=DATA, Key="training/shifted.csv", Body=generate(3000, seed=8, concept_shift=SHIFT))
        version = train_and_register(s3, data_bucket=DATA, models_bucket=MODELS, config=config)["version"]
        manifest = Registry(s3, MODELS).manifest(version)
        artifact = s3.get_object(Bucket=MODELS, Key=manifest["artifact_key"])["Body"].read()
    return artifact, manifest


def _settings(config, mode: str, **promotion) -> ScoringContext:
    promotion = {"challenger_id_column": "customer_id", "challenger_min_rows": 300, **promotion}
    changed = dataclasses.replace(config.promotion, challenger=mode, **promotion)
    environment = ScoringEnvironment(DATA, MODELS, None, "MLOps", "arn:aws:sns:us-east-1:123456789012:alerts")
    return ScoringContext(environment, dataclasses.replace(config, promotion=changed))


class RecordingSns:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    def publish(self, **kwargs) -> None:
        self.messages.append(kwargs)


@pytest.fixture
def clients(aws) -> Clients:
    return Clients(aws, CountingCloudWatch(boto3.client("cloudwatch", region_name=REGION)), None, RecordingSns())


def _challenge(aws, artifact_and_manifest, settings: ScoringContext, mode: str) -> str:
    artifact, manifest = artifact_and_manifest
    registry = Registry(aws, MODELS)
    version = registry.publish(artifact, manifest, version=manifest["version"])
    start_challenge(
        registry, version, champion=registry.champion(), promotion=settings.config.promotion, decision={}, mode=mode
    )
    return version


def _history(aws) -> list[dict]:
    return Registry(aws, MODELS).history()


def test_given_a_shadow_challenger_when_scored_then_only_the_champion_is_served_and_the_challengers_rows_kept_apart(
    aws, clients, config, champion, trained_on_shift
):
    settings = _settings(config, "shadow")
    challenger = _challenge(aws, trained_on_shift, settings, "shadow")
    job = put(aws, "incoming/b1.csv", generate(400, seed=11, concept_shift=SHIFT))

    outcome = score_job(job, clients=clients, context=settings)

    served = read_csv(aws, outcome.detail["outputs"]["predictions"])
    assert {r["model_version"] for r in served} == {champion}
    (shadow_key,) = keys(aws, "shadow/b1/")
    assert shadow_key == f"shadow/b1/{job.etag}-{challenger}.csv"
    shadow = read_csv(aws, shadow_key)
    assert [r["customer_id"] for r in shadow] == [r["customer_id"] for r in served]
    assert {r["model_version"] for r in shadow} == {challenger}
    evidence = json.loads(
        aws.get_object(Bucket=DATA, Key=layout.InputOutputs(job.key, job.etag).evidence(challenger))["Body"].read()
    )
    assert evidence["evidence"]["champion_rows"] == evidence["evidence"]["challenger_rows"] == 400
    assert evidence["labeled"]["rows"] == 400 and evidence["drift"]["rows"] == 400


def test_given_duplicate_deliveries_when_scored_then_the_challengers_evidence_counts_the_job_once(
    aws, clients, config, champion, trained_on_shift
):
    settings = _settings(config, "shadow", challenger_min_rows=10_000, challenger_max_rows=20_000)
    challenger = _challenge(aws, trained_on_shift, settings, "shadow")
    job = put(aws, "incoming/dup.csv", generate(250, seed=12, concept_shift=SHIFT))

    statuses = [score_job(job, clients=clients, context=settings).status for _ in range(3)]

    assert statuses == ["scored", "skipped", "skipped"]
    assert len(keys(aws, layout.evidence_prefix(challenger))) == 1
    assert len(keys(aws, "shadow/dup/")) == 1


def test_given_a_better_shadow_challenger_when_enough_labeled_rows_arrive_then_the_rule_promotes_it_once(
    aws, clients, config, champion, trained_on_shift
):
    settings = _settings(config, "shadow")
    challenger = _challenge(aws, trained_on_shift, settings, "shadow")
    for i in range(3):
        score_job(
            put(aws, f"incoming/s{i}.csv", generate(400, seed=20 + i, concept_shift=SHIFT)),
            clients=clients,
            context=settings,
        )

    registry = Registry(aws, MODELS)
    assert registry.champion().version == challenger
    assert registry.challenger().record["status"] == "promoted"
    (decision,) = [d for d in _history(aws) if d["kind"] == "challenger-promote"]
    assert decision["champion"] == champion and decision["test"]["name"] == "McNemar exact"
    assert decision["test"]["p_better"] < 0.05
    assert decision["evidence"]["challenger_rows"] >= 300
    assert any("promoted to champion" in m["Subject"] for m in clients.sns.messages)


def test_given_a_split_challenger_then_its_share_of_rows_is_served_by_it_and_the_same_ids_go_to_it_on_a_retry(
    aws, clients, config, champion, trained_on_shift
):
    settings = _settings(config, "split", challenger_share=0.3, challenger_min_rows=10_000, challenger_max_rows=20_000)
    challenger = _challenge(aws, trained_on_shift, settings, "split")
    body = generate(1000, seed=13, with_label=False)

    first = score_job(put(aws, "incoming/a.csv", body), clients=clients, context=settings)
    again = score_job(put(aws, "incoming/a-again.csv", body), clients=clients, context=settings)

    rows = read_csv(aws, first.detail["outputs"]["predictions"])
    by_challenger = {r["customer_id"] for r in rows if r["model_version"] == challenger}
    assert 0.25 < len(by_challenger) / len(rows) < 0.35
    assert {r["model_version"] for r in rows} == {champion, challenger}
    rows_again = read_csv(aws, again.detail["outputs"]["predictions"])
    assert {r["customer_id"] for r in rows_again if r["model_version"] == challenger} == by_challenger
    assert keys(aws, "shadow/") == []


def test_given_a_worse_split_challenger_when_enough_labeled_rows_arrive_then_the_rule_retires_it(
    aws, clients, config, trained, trained_on_shift
):
    registry = Registry(aws, MODELS)
    artifact, manifest = trained_on_shift  # the champion knows the drifted world; the challenger does not
    registry.publish(artifact, manifest, version=manifest["version"])
    registry.promote(manifest["version"], expected=None, decision={"kind": "promote"})
    settings = _settings(config, "split", challenger_share=0.5)
    challenger = _challenge(aws, trained, settings, "split")
    for i in range(4):
        score_job(
            put(aws, f"incoming/w{i}.csv", generate(500, seed=30 + i, concept_shift=SHIFT)),
            clients=clients,
            context=settings,
        )

    assert registry.champion().version == manifest["version"]
    pointer = registry.challenger()
    assert pointer.version == challenger and pointer.record["status"] == "retired"
    (decision,) = [d for d in _history(aws) if d["kind"] == "challenger-retire"]
    assert decision["test"]["name"] == "two-proportion z" and decision["test"]["p_worse"] < 0.05


def test_given_a_challenger_whose_artifact_fails_its_checksum_then_the_champion_scores_alone_and_it_is_suspended(
    aws, clients, config, champion, trained_on_shift
):
    settings = _settings(config, "shadow")
    challenger = _challenge(aws, trained_on_shift, settings, "shadow")
    manifest = Registry(aws, MODELS).manifest(challenger)
    aws.put_object(Bucket=MODELS, Key=manifest["artifact_key"], Body=b"not the model")

    outcome = score_job(put(aws, "incoming/c.csv", generate(300, seed=14)), clients=clients, context=settings)

    assert outcome.status == "scored" and outcome.detail["scored"] == 300
    assert {r["model_version"] for r in read_csv(aws, outcome.detail["outputs"]["predictions"])} == {champion}
    assert Registry(aws, MODELS).challenger().record["status"] == "suspended"
    assert [d["kind"] for d in _history(aws)] == ["challenger-suspended"]
    (alert,) = clients.sns.messages
    assert "suspended" in alert["Subject"] and "SHA-256" in alert["Message"]


class FailingSns:
    def publish(self, **kwargs) -> None:
        raise RuntimeError("SNS is down")


def test_given_a_suspended_challenger_whose_alert_fails_then_the_file_is_still_scored_and_the_decision_kept(
    aws, config, champion, trained_on_shift
):
    settings = _settings(config, "shadow")
    challenger = _challenge(aws, trained_on_shift, settings, "shadow")
    manifest = Registry(aws, MODELS).manifest(challenger)
    aws.put_object(Bucket=MODELS, Key=manifest["artifact_key"], Body=b"not the model")
    failing = Clients(aws, CountingCloudWatch(boto3.client("cloudwatch", region_name=REGION)), None, FailingSns())

    outcome = score_job(put(aws, "incoming/c.csv", generate(300, seed=14)), clients=failing, context=settings)

    assert outcome.status == "scored" and outcome.detail["scored"] == 300
    assert Registry(aws, MODELS).challenger().record["status"] == "suspended"
    assert [d["kind"] for d in _history(aws)] == ["challenger-suspended"]


def test_given_challenger_mode_when_a_candidate_passes_the_gate_then_it_challenges_and_the_champion_stays(
    aws, config, champion
):
    shadow = dataclasses.replace(
        config, promotion=dataclasses.replace(config.promotion, challenger="shadow", tolerance=1.0)
    )
    aws.put_object(Bucket=DATA, Key="training/more.csv", Body=generate(3000, seed=15, concept_shift=SHIFT))

    result = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=shadow)

    registry = Registry(aws, MODELS)
    assert not result["promoted"] and result["decision"]["kind"] == "challenge"
    assert registry.champion().version == champion
    pointer = registry.challenger()
    assert pointer.version == result["version"] and pointer.record["mode"] == "shadow"
    assert pointer.record["champion"] == champion and pointer.record["status"] == "active"


def test_given_challenger_mode_when_a_candidate_is_installed_then_it_challenges_unless_the_champion_moved(
    aws, config, champion, trained_on_shift
):
    shadow = dataclasses.replace(config, promotion=dataclasses.replace(config.promotion, challenger="shadow"))
    registry = Registry(aws, MODELS)
    artifact, manifest = trained_on_shift
    version = registry.publish(artifact, manifest, version=manifest["version"])
    seen = registry.champion()
    registry.rollback(champion, reason="the pointer moves (same version, new ETag)")

    with pytest.raises(ChampionConflict):
        install_candidate(registry, version, expected=seen, decision={"kind": "approve"}, config=shadow)
    assert registry.challenger() is None

    placed = install_candidate(
        registry, version, expected=registry.champion(), decision={"kind": "approve"}, config=shadow
    )
    assert placed == "challenger" and registry.champion().version == champion
    assert registry.challenger().record["decision"]["mode"] == "shadow"


@pytest.mark.usefixtures("champion")
def test_given_a_byte_range_pinned_to_an_earlier_champion_then_the_challenger_sits_it_out_and_stays_active(
    aws, clients, config, trained, trained_on_shift
):
    settings = _settings(config, "shadow")
    artifact, manifest = trained
    registry = Registry(aws, MODELS)
    champion = registry.champion().version
    earlier = registry.publish(artifact, manifest, version="v20200101T000000Z-000001")
    registry.promote(earlier, expected=registry.champion(), decision={"kind": "promote", "reasons": ["test"]})
    registry.rollback(champion, reason="back to the champion the challenger challenges")
    challenger = _challenge(aws, trained_on_shift, settings, "shadow")
    whole = put(aws, "incoming/pinned.csv", generate(300, seed=16))

    outcome = score_job(dataclasses.replace(whole, version=earlier), clients=clients, context=settings)

    assert outcome.status == "scored" and outcome.detail["model_version"] == earlier
    assert keys(aws, "shadow/") == []
    pointer = Registry(aws, MODELS).challenger()
    assert pointer.version == challenger and pointer.record["status"] == "active"


@pytest.mark.usefixtures("champion")
def test_given_a_rollback_after_the_challenge_started_then_the_next_batch_retires_the_challenger(
    aws, clients, config, trained, trained_on_shift
):
    settings = _settings(config, "shadow")
    challenger = _challenge(aws, trained_on_shift, settings, "shadow")
    artifact, manifest = trained
    registry = Registry(aws, MODELS)
    other = registry.publish(artifact, manifest, version="v20200101T000000Z-000002")
    registry.rollback(other, reason="an operator's rollback")

    outcome = score_job(put(aws, "incoming/after.csv", generate(300, seed=17)), clients=clients, context=settings)

    assert outcome.detail["model_version"] == other and keys(aws, "shadow/") == []
    pointer = registry.challenger()
    assert pointer.version == challenger and pointer.record["status"] == "retired"
    assert f"the champion is now {other}" in pointer.record["reasons"][0]
