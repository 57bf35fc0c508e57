"""Champion/challenger on local AWS, through the `mlops` CLI as an operator runs it, on a project stack of its
own (the repo's config with `promotion.challenger = "shadow"`):

1. shadow: a candidate trained on concept-drifted data passes the gate and starts as a shadow challenger; it
   scores every labeled batch beside the champion (its rows under shadow/, never in predictions/) and the rule
   promotes it once the labeled rows show it is better;
2. split: the old model, started by hand as a split challenger (`mlops challenge --mode split`), serves its
   share of rows, and the rule retires it when the labeled rows show it is worse.
The decision records are printed (pytest -s shows them).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_core.config import CONFIG_ENV
from mlopsctl import stack
from mlopsctl.datagen import write_file

from .conftest import ROOT, deploy_own_stack, mlops

PROJECT = "e2e-challenger"
SHIFT = 1.0


def _config(tmp: Path) -> Path:
    text = (ROOT / "mlops.toml").read_text()
    text = text.replace('name = "mlops"', f'name = "{PROJECT}"', 1)
    text = text.replace(
        "[promotion]\n",
        '[promotion]\nchallenger = "shadow"\nchallenger_share = 0.5\nchallenger_id_column = "customer_id"\n'
        "challenger_min_rows = 300\n",
        1,
    )
    # Keep the accuracy alarms quiet: a retraining run here would start a challenger of its own.
    text = text.replace("accuracy_floor = 0.7", "accuracy_floor = 0.05").replace(
        "estimated_accuracy_floor = 0.7", "estimated_accuracy_floor = 0.05"
    )
    # And alarm-driven retraining: every alarm run falls in the cooldown (the test trains by hand).
    text = text.replace("cooldown_seconds = 300", "cooldown_seconds = 86400")
    path = tmp / "mlops.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def project(local_aws, tmp_path_factory, request) -> Iterator[tuple[tuple[str, ...], stack.Pipeline]]:
    tmp = tmp_path_factory.mktemp("challenger")
    config_file = _config(tmp)
    deploy_own_stack(request, config_file, "e2e-challenger")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CONFIG_ENV, str(config_file))
        yield ("--config", str(config_file)), stack.Pipeline.connect(ROOT, "localstack")


def _decision(pipeline: stack.Pipeline, kind: str, version: str) -> dict | None:
    return next(
        (d for d in pipeline.registry().history(limit=50) if (d["kind"], d["version"]) == (kind, version)), None
    )


def _score_labeled(cli: tuple[str, ...], tmp: Path, name: str, rows: int, seed: int) -> None:
    path = write_file(tmp / f"{name}.csv", rows, seed=seed, concept_shift=SHIFT)
    result = mlops(*cli, "score", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_given_a_shadow_challenger_that_is_better_then_the_rule_promotes_it_and_a_worse_split_one_is_retired(
    project, tmp_path
):
    cli, pipeline = project
    base = write_file(tmp_path / "base.csv", 3000, seed=101)
    assert mlops(*cli, "add-training-data", str(base)).returncode == 0
    first = mlops(*cli, "train", "--reason", "e2e: first model")
    assert first.returncode == 0 and "promoted to champion" in first.stdout, first.stdout + first.stderr
    old = pipeline.registry().champion().version

    shifted = write_file(tmp_path / "shifted.csv", 3000, seed=102, concept_shift=SHIFT)
    assert mlops(*cli, "add-training-data", str(shifted)).returncode == 0
    second = mlops(*cli, "train", "--reason", "e2e: a candidate for the drifted world")
    assert second.returncode == 0 and "started as a shadow challenger" in second.stdout, second.stdout
    new = pipeline.registry().challenger().version
    assert pipeline.registry().champion().version == old

    for i in range(3):
        _score_labeled(cli, tmp_path, f"shadow-{i}", 600, seed=110 + i)
        if _decision(pipeline, "challenger-promote", new):
            break
    promoted = stack.wait_for(
        "the rule to promote the shadow challenger",
        lambda: _decision(pipeline, "challenger-promote", new),
        timeout_s=60,
    )
    print("shadow decision:", json.dumps(promoted, indent=2))
    assert pipeline.registry().champion().version == new
    assert promoted["test"]["name"] == "McNemar exact" and promoted["test"]["p_better"] < 0.05
    s3, bucket = pipeline.s3, pipeline.data_bucket
    shadow = s3.list_objects_v2(Bucket=bucket, Prefix="shadow/shadow-0/").get("Contents", [])
    assert [o["Key"].endswith(f"-{new}.csv") for o in shadow] == [True]
    served = s3.list_objects_v2(Bucket=bucket, Prefix="predictions/shadow-0/").get("Contents", [])
    assert [o["Key"].endswith(f"-{old}.csv") for o in served] == [True]

    started = mlops(*cli, "challenge", old, "--mode", "split")
    assert started.returncode == 0 and "split" in started.stdout, started.stdout + started.stderr
    for i in range(4):
        _score_labeled(cli, tmp_path, f"split-{i}", 1500, seed=120 + i)
        if _decision(pipeline, "challenger-retire", old):
            break
    split = s3.list_objects_v2(Bucket=bucket, Prefix="predictions/split-0/")["Contents"][0]["Key"]
    rows = list(csv.DictReader(io.StringIO(s3.get_object(Bucket=bucket, Key=split)["Body"].read().decode())))
    assert {r["model_version"] for r in rows} == {new, old}
    retired = stack.wait_for(
        "the rule to retire the split challenger", lambda: _decision(pipeline, "challenger-retire", old), timeout_s=60
    )
    print("split decision:", json.dumps(retired, indent=2))
    assert pipeline.registry().champion().version == new
    assert retired["test"]["name"] == "two-proportion z" and retired["test"]["p_worse"] < 0.05
    status = mlops(*cli, "status")
    assert f"challenger: {old}  retired (split" in status.stdout, status.stdout
