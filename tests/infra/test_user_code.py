"""The user's own pipelines/ package goes wherever models are trained or loaded: the functions' code asset and the
training image's build context; the synth refuses a model search or a pipeline that training would refuse."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import joblib
import numpy as np
import pytest

from infra.app import ROOT, build_app
from infra.bundling import CodeBundling
from mlops_core.config import ConfigError, load_config
from mlops_core.modeling.pipeline import model_input
from mlops_core.modeling.search import plan

from .conftest import synth

EXAMPLE = ROOT / "examples" / "custom-pipeline" / "mlops.toml"
# Loads the model with nothing but the code asset (and the libraries) on the path, and says where its
# transformer's module came from.
LOAD = """
import sys, joblib, pandas, pipelines.churn
model = joblib.load(sys.argv[1])
print(pipelines.churn.__file__)
print(model.predict_proba(pandas.read_pickle(sys.argv[2]))[:, 1].round(9).tolist())
"""


def test_given_the_code_asset_then_it_holds_the_pipelines_package_and_a_fresh_interpreter_unpickles_from_it(tmp_path):
    code = tmp_path / "code"
    CodeBundling(config_file=EXAMPLE).try_bundle(str(code))
    assert (code / "pipelines" / "__init__.py").is_file() and (code / "pipelines" / "churn.py").is_file()
    config = load_config(EXAMPLE)
    rng = np.random.default_rng(0)
    columns = {
        f.name: rng.gamma(2.0, 10.0, 200) if f.is_numeric else rng.choice(f.categories, 200).astype(object)
        for f in config.features
    }
    x = model_input(columns, config.features)
    model = plan(config)[0].model.fit(x, np.arange(200) % 2)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    (tmp_path / "model.joblib").write_bytes(buffer.getvalue())
    x.to_pickle(tmp_path / "x.pkl")
    run = subprocess.run(
        [sys.executable, "-P", "-c", LOAD, str(tmp_path / "model.joblib"), str(tmp_path / "x.pkl")],
        cwd=tmp_path,
        env={"PYTHONPATH": str(code), "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    where, probabilities = run.stdout.splitlines()
    assert Path(where).is_relative_to(code)
    assert probabilities == str(model.predict_proba(x)[:, 1].round(9).tolist())


def test_given_the_example_when_synthesized_for_aws_then_the_training_image_context_holds_the_package(tmp_path):
    _, assembly = synth("aws", tmp_path, config_file=EXAMPLE)
    (image,) = json.loads((assembly / "MlopsStack-churn-custom.assets.json").read_text())["dockerImages"].values()
    staged = assembly / image["source"]["directory"]
    assert (staged / "pipelines" / "churn.py").read_bytes() == (ROOT / "pipelines" / "churn.py").read_bytes()
    assert "COPY pipelines ./pipelines" in (staged / "training" / "Dockerfile").read_text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("search = { C = [0.1, 1.0, 10.0] }", "search = { C = [0.1], c = [1] }"), "'c' is not a parameter"),
        (
            ('pipeline = "pipelines.churn:build"', 'pipeline = "pipelines.churn_v2:build"'),
            "no module pipelines.churn_v2",
        ),
    ],
)
def test_given_a_search_or_pipeline_training_would_refuse_when_synthesized_then_the_synth_fails(
    tmp_path, change, message
):
    wrong = tmp_path / "mlops.toml"
    wrong.write_text(EXAMPLE.read_text().replace(*change))
    with pytest.raises(ConfigError, match=message):
        build_app(cdk.App(), target="localstack", config_file=wrong)
