"""Uploads cannot steer the model: twenty labeled batches with their labels flipped, uploaded to incoming/ and
scored (so their rows land in feedback/), must not make a model trained on them champion; the reference holdout
that no upload can write judges every candidate, and feedback's share of a run is bounded and recorded."""

from __future__ import annotations

import csv
import dataclasses
import io

import boto3
import pytest
from scoring.logic import Clients, ScoringContext, score_job

from mlops_core.environment import ScoringEnvironment
from mlops_core.registry import Registry
from mlops_core.storage import layout
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS, REGION
from tests.unit.lambdas.scoring.test_scoring import CountingCloudWatch, put
from training.train import train_and_register

UPLOADS = 20
ROWS = 150  # per upload


def flipped(body: bytes) -> bytes:
    """The same rows with the binary label flipped: what a poisoner uploads."""
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({**row, "churned": "0" if row["churned"] == "1" else "1"} for row in rows)
    return out.getvalue().encode()


@pytest.fixture
def scoring(aws, config):
    """Scoring as deployed, but without the multivariate check (its classifier per batch only costs time here)."""
    clients = Clients(aws, CountingCloudWatch(boto3.client("cloudwatch", region_name=REGION)), None)
    quick = dataclasses.replace(config, drift=dataclasses.replace(config.drift, reference_sample_rows=0))
    return clients, ScoringContext(ScoringEnvironment(DATA, MODELS, None, "MLOps"), quick)


def upload_poison(aws, scoring) -> None:
    clients, context = scoring
    for i in range(UPLOADS):
        job = put(aws, layout.incoming_key(f"batch-{i:02d}.csv"), flipped(generate(ROWS, seed=100 + i)))
        assert score_job(job, clients=clients, context=context).status == "scored"


def test_given_twenty_poisoned_uploads_when_training_runs_then_the_champion_stays(aws, config, scoring):
    aws.put_object(Bucket=DATA, Key=layout.training_key("base.csv"), Body=generate(2000, seed=7))
    first = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=config)
    assert first["promoted"]
    upload_poison(aws, scoring)

    run = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=config)

    assert Registry(aws, MODELS).champion().version == first["version"]
    assert not run["promoted"], run["decision"]["reasons"]
    reference = run["decision"]["reference"]
    assert reference["source"] == layout.TRAINING
    assert reference["candidate_metrics"]["roc_auc"] < reference["champion_metrics"]["roc_auc"] - 0.01
    feedback = [f for f in run["files"] if f["source"] == "feedback"]
    assert run["rows"]["by_source"]["feedback"] <= run["rows"]["by_source"]["training"]  # max_feedback_share 0.5
    assert sum(f["rows"] + f.get("capped_rows", 0) for f in feedback) == UPLOADS * ROWS  # every row accounted for


def test_given_a_reference_holdout_under_holdout_when_uploads_are_poisoned_then_it_is_the_one_that_judges(
    aws, config, scoring
):
    aws.put_object(Bucket=DATA, Key=layout.training_key("base.csv"), Body=generate(2000, seed=7))
    aws.put_object(Bucket=DATA, Key=layout.holdout_key("reference.csv"), Body=generate(800, seed=8))
    first = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=config)
    upload_poison(aws, scoring)
    unbounded = dataclasses.replace(config.training, max_feedback_share=1.0, max_file_share=1.0)

    run = train_and_register(
        aws, data_bucket=DATA, models_bucket=MODELS, config=dataclasses.replace(config, training=unbounded)
    )

    assert not run["promoted"] and Registry(aws, MODELS).champion().version == first["version"]
    assert run["decision"]["reference"]["source"] == layout.HOLDOUT and run["decision"]["reference"]["rows"] == 800
    assert any(f["key"] == "holdout/reference.csv" and f["source"] == "holdout" for f in run["files"])


def test_given_clean_feedback_when_training_runs_then_the_reference_holdout_lets_a_good_model_through(
    aws, config, scoring
):
    aws.put_object(Bucket=DATA, Key=layout.training_key("base.csv"), Body=generate(2000, seed=7))
    train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=config)
    clients, context = scoring
    for i in range(3):
        job = put(aws, layout.incoming_key(f"clean-{i}.csv"), generate(ROWS, seed=200 + i))
        score_job(job, clients=clients, context=context)

    run = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=config)

    reference = run["decision"]["reference"]
    assert reference["candidate_metrics"]["roc_auc"] >= reference["champion_metrics"]["roc_auc"] - 0.01
    assert run["rows"]["by_source"] == {"training": 2000, "feedback": 3 * ROWS}
