"""The whole loop for each task beside the default project: the iris (multiclass, named classes),
diabetes (regression) and reviews (text) examples, each deployed as its own stack on the session's local AWS and driven
through the `mlops --config` CLI as an operator would: train, score a clean batch, score a drifted
labeled batch, the alarm starts retraining, and the gate promotes a model that fits the new data.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mlops_core.config import CONFIG_ENV, load_config
from mlopsctl import stack, standing

from .conftest import ROOT, deploy_own_stack, mlops

EXAMPLES = ROOT / "examples"


def _write_example_data(name: str, out: Path) -> tuple[Path, Path, Path]:
    spec = importlib.util.spec_from_file_location(f"{name}_example", EXAMPLES / name / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write(out)


def _alarm_run(pipeline: stack.Pipeline, after_run: str) -> dict | None:
    """The newest training run an alarm started after `after_run`, once it has finished."""
    for run in pipeline.ledger().recent(limit=5):
        started_by_alarm = run.get("trigger", {}).get("source") == "alarm"
        if run["run_id"] > after_run and started_by_alarm and run.get("status") in ("succeeded", "failed"):
            return run
    return None


def _wait_for_alarm_run(pipeline: stack.Pipeline, after_run: str) -> dict:
    """The alarm-started run once it has finished; on a timeout, what the alarms and the ledger showed."""
    try:
        return stack.wait_for("an alarm-triggered training run", lambda: _alarm_run(pipeline, after_run), timeout_s=300)
    except stack.OpsError as exc:
        runs = [{k: r.get(k) for k in ("run_id", "status", "trigger", "error")} for r in pipeline.ledger().recent(3)]
        raise AssertionError(f"{exc}\nalarms: {standing.alarm_states(pipeline)}\nruns: {runs}") from exc


@pytest.mark.parametrize(
    "example",
    [("iris", "accuracy", 120), ("diabetes", "MAE", 350), ("reviews", "accuracy", 4000)],
    ids=["iris", "diabetes", "reviews"],
)
@pytest.mark.usefixtures("local_aws")
def test_given_an_example_project_when_its_data_drifts_then_the_alarm_retrains_and_the_gate_promotes(
    example, tmp_path, monkeypatch, request
):
    name, quality, used = example
    config_file = EXAMPLES / name / "mlops.toml"
    config = load_config(config_file)
    training, batch, drifted = _write_example_data(name, tmp_path)
    outputs = deploy_own_stack(request, config_file, f"e2e-{name}")
    assert outputs["DataBucket"].startswith(f"{config.name}-data-")
    cli = ("--config", str(config_file))

    assert mlops(*cli, "add-training-data", str(training)).returncode == 0
    first = mlops(*cli, "train", "--reason", "e2e: first model")
    assert first.returncode == 0 and "promoted to champion" in first.stdout, first.stdout + first.stderr
    assert f"{training.name}: {used:,} used" in first.stdout, first.stdout
    monkeypatch.setenv(CONFIG_ENV, str(config_file))
    pipeline = stack.Pipeline.connect(ROOT, "localstack")
    first_run = pipeline.ledger().recent(limit=1)[0]["run_id"]  # before the drift: its alarm may act at once

    clean = mlops(*cli, "score", str(batch))
    assert clean.returncode == 0 and "no drift" in clean.stdout, clean.stdout + clean.stderr
    shifted = mlops(*cli, "score", str(drifted))
    assert shifted.returncode == 0 and "drift: " in shifted.stdout and quality in shifted.stdout, shifted.stdout

    run = _wait_for_alarm_run(pipeline, first_run)
    assert run["status"] == "succeeded" and run["promoted"], run
    reasons = " ".join(run["decision"]["reasons"])
    assert config.promotion.metric in reasons and "champion" in reasons
    assert pipeline.registry().champion().version == run["version"]
    if name == "reviews":  # text: the drift named the new words, and the new model learned them
        assert "review" in shifted.stdout
        vocabulary = pipeline.registry().manifest(run["version"])["profile"]["features"]["review"]["vocabulary"]
        assert {"mid", "ick", "slaps"} <= set(vocabulary)
