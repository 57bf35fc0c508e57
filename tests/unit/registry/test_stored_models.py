"""Models registered before mlops_core moved into packages (saved at commit cdb8e3d by training in moto) load and
score the same today: a pickle names scikit-learn, numpy and the user's `pipelines` code, never a project module,
so moving the project's modules cannot break a registered artifact."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import joblib
import pytest
from joblib.numpy_pickle import NumpyUnpickler
from scoring.logic import Clients, ScoringContext, score_job

from mlops_core.config import load_config
from mlops_core.environment import ScoringEnvironment
from mlops_core.registry import Registry
from tests.unit.conftest import DATA, MODELS, REGION
from tests.unit.lambdas.scoring.test_scoring import CountingCloudWatch, put, read_csv

ROOT = Path(__file__).resolve().parents[3]
SAVED = ROOT / "tests" / "fixtures" / "models-before-packages"
PROJECTS = {"churn": ROOT / "mlops.toml", "custom-pipeline": ROOT / "examples" / "custom-pipeline" / "mlops.toml"}
# What a model may name: the libraries in the layer, the pickle machinery, and the user's own pipelines/ package.
ALLOWED_MODULES = {"sklearn", "numpy", "scipy", "joblib", "pipelines", "builtins", "copyreg", "_codecs", "collections"}


@pytest.mark.parametrize("project", PROJECTS)
def test_given_a_model_saved_before_the_move_when_unpickled_then_it_names_no_module_of_the_project(
    project, monkeypatch
):
    named: set[str] = set()
    find_class = NumpyUnpickler.find_class

    def recording(self, module: str, name: str):
        named.add(module.split(".", maxsplit=1)[0])
        return find_class(self, module, name)

    monkeypatch.setattr(NumpyUnpickler, "find_class", recording)
    joblib.load(SAVED / project / "model.joblib")
    assert "sklearn" in named
    assert named <= ALLOWED_MODULES, named - ALLOWED_MODULES


@pytest.mark.parametrize("project", PROJECTS)
def test_given_a_model_saved_before_the_move_when_it_is_champion_then_scoring_writes_its_old_probabilities(
    project, aws
):
    saved = SAVED / project
    manifest = json.loads((saved / "manifest.json").read_text())
    expected = json.loads((saved / "expected.json").read_text())
    registry = Registry(aws, MODELS)
    version = registry.publish((saved / "model.joblib").read_bytes(), manifest, version=manifest["version"])
    assert registry.verified_artifact(version)[1]["artifact_sha256"] == manifest["artifact_sha256"]
    registry.promote(version, expected=None, decision={"kind": "promote", "reasons": ["saved before the move"]})
    sqs = boto3.client("sqs", region_name=REGION)
    clients = Clients(aws, CountingCloudWatch(boto3.client("cloudwatch", region_name=REGION)), sqs)
    context = ScoringContext(ScoringEnvironment(DATA, MODELS, None, "MLOps"), load_config(PROJECTS[project]))

    outcome = score_job(
        put(aws, "incoming/batch.csv", (saved / "batch.csv").read_bytes()), clients=clients, context=context
    )

    assert outcome.status == "scored", outcome.detail
    rows = read_csv(aws, outcome.detail["outputs"]["predictions"])
    assert [row["model_version"] for row in rows] == [expected["version"]] * len(expected["proba"])
    assert [float(row["score"]) for row in rows] == pytest.approx(expected["proba"], abs=5e-7)  # "%.6f" in the CSV
