"""The user's own pipeline code (`[model] pipeline`, mlops_core/modeling/usercode.py) against moto S3: the example
trains and scores with its custom transformer, a fresh interpreter unpickles it, and every way it can go wrong says
what to fix and registers nothing."""

from __future__ import annotations

import dataclasses
import importlib
import io
import subprocess
import sys
import textwrap
from pathlib import Path

import joblib
import numpy as np
import pytest
from scoring.challenge import load_contender
from scoring.logic import score_job

import pipelines
from mlops_core.config import ConfigError, load_config
from mlops_core.modeling.pipeline import model_input
from mlops_core.modeling.search import check_model
from mlops_core.modeling.usercode import PipelineError
from mlops_core.registry.runs import RunLedger
from mlops_core.registry.store import ModelCodeMissing, Registry
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS
from tests.unit.lambdas.scoring.test_scoring import env, put, read_csv  # noqa: F401  # env is the scoring fixture
from tests.unit.registry.test_approval import run
from training.train import train_and_register

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "custom-pipeline" / "mlops.toml"


@pytest.fixture(scope="module")
def example():
    """The example's config with its search cut to the logistic regression over two points and 3 folds (fast)."""
    config = load_config(EXAMPLE)
    (logistic,) = [c for c in config.model.candidates if c.name == "LogisticRegression"]
    small = dataclasses.replace(logistic, search={"C": (0.1, 1.0)})
    return dataclasses.replace(config, model=dataclasses.replace(config.model, candidates=(small,), cv_folds=3))


def own(config, pipeline: str):
    """`config` with the user's pipeline function `pipeline` and nothing searched."""
    return dataclasses.replace(config, model=dataclasses.replace(config.model, pipeline=pipeline, candidates=()))


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Writes a module into the pipelines package (a temporary directory on its path); returns its name."""
    monkeypatch.setattr(pipelines, "__path__", [*pipelines.__path__, str(tmp_path)])
    written: list[str] = []

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()  # the path's finder must see the new file
        written.append(f"pipelines.{name}")
        return f"pipelines.{name}"

    yield write
    for name in written:
        sys.modules.pop(name, None)


def train(s3, config):
    return train_and_register(s3, data_bucket=DATA, models_bucket=MODELS, config=config)


# ---------------------------------------------------------------------------- the example
def test_given_the_example_pipeline_when_trained_then_the_custom_transformer_is_in_the_registered_model(aws, example):
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(2000, seed=3))
    result = train(aws, example)
    model, manifest = Registry(aws, MODELS).load_model(result["version"])
    assert result["promoted"] and result["metrics"]["roc_auc"] > 0.75
    assert [name for name, _ in model.steps] == ["log", "preprocess", "model"]
    assert type(model.named_steps["log"]).__module__ == "pipelines.churn"
    assert type(model.named_steps["model"]).__name__ == "LogisticRegression"  # the candidate replaced the last step
    assert manifest["pipeline"] == "pipelines.churn:build" and manifest["search"]["chosen"] == "LogisticRegression"


def test_given_a_model_with_a_custom_transformer_then_scoring_and_a_fresh_interpreter_load_it(env, example, tmp_path):  # noqa: F811
    clients, settings = env
    clients.s3.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(2000, seed=3))
    version = train(clients.s3, example)["version"]
    outcome = score_job(
        put(clients.s3, "incoming/b.csv", generate(300, seed=4, with_label=False)), clients=clients, context=settings
    )
    rows = read_csv(clients.s3, outcome.detail["outputs"]["predictions"])
    assert outcome.status == "scored" and len(rows) == 300 and {r["model_version"] for r in rows} == {version}

    artifact, _ = Registry(clients.s3, MODELS).verified_artifact(version)
    (tmp_path / "model.joblib").write_bytes(artifact)
    columns = {
        f.name: np.linspace(0, 50, 5) if f.is_numeric else np.asarray([f.categories[0]] * 5, dtype=object)
        for f in example.features
    }
    x = model_input(columns, example.features)
    x.to_pickle(tmp_path / "x.pkl")
    fresh = (
        "import joblib, pandas, sys; m = joblib.load(sys.argv[1]); "
        "x = pandas.read_pickle(sys.argv[2]); "
        "print(type(m.named_steps['log']).__module__, m.predict_proba(x)[:, 1].round(9).tolist())"
    )
    run = subprocess.run(
        [sys.executable, "-c", fresh, str(tmp_path / "model.joblib"), str(tmp_path / "x.pkl")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    module, probabilities = run.stdout.split(" ", 1)
    expected = joblib.load(io.BytesIO(artifact)).predict_proba(x)[:, 1].round(9).tolist()
    assert module == "pipelines.churn" and probabilities.strip() == str(expected)


def test_given_a_pipeline_and_no_candidates_then_the_users_model_is_fitted_as_it_is(aws, example):
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(2000, seed=3))
    result = train(aws, own(example, "pipelines.churn:build"))
    manifest = Registry(aws, MODELS).manifest(result["version"])
    assert result["search"] is None and manifest["params"] == {}
    assert manifest["estimator"] == "sklearn.linear_model._logistic.LogisticRegression"


# ---------------------------------------------------------------------------- bad input
def test_given_a_pipeline_function_that_raises_then_the_run_fails_naming_it_and_nothing_is_registered(
    aws, example, user_module
):
    module = user_module(
        "raising",
        """
        def build(config):
            raise KeyError("tenure_in_years")
        """,
    )
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(1000, seed=3))
    with pytest.raises(
        PipelineError, match=f"your pipeline function {module}:build raised KeyError: 'tenure_in_years'"
    ):
        run(aws, own(example, f"{module}:build"), sns=None, topic=None, run_id="run-raising")
    record = RunLedger(aws, MODELS).get("run-raising")
    assert record["status"] == "failed" and "KeyError: 'tenure_in_years'" in record["error"]
    assert Registry(aws, MODELS).versions() == []


def test_given_a_pipeline_module_that_is_missing_then_the_error_names_it_and_where_it_must_live(aws, example):
    config = own(example, "pipelines.nowhere:build")
    with pytest.raises(
        ConfigError, match=r"no module pipelines\.nowhere; it must be pipelines/<module>\.py, in the pipelines/ package"
    ):
        check_model(config)
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(1000, seed=3))
    with pytest.raises(ConfigError, match=r"no module pipelines\.nowhere"):
        train(aws, config)
    assert Registry(aws, MODELS).versions() == []


def test_given_a_module_without_the_function_or_importing_what_is_not_installed_then_each_says_so(example, user_module):
    with pytest.raises(ConfigError, match=r"pipelines\.churn has no function make"):
        check_model(own(example, "pipelines.churn:make"))
    module = user_module("needs", "import xgboost_is_not_here\n\ndef build(config):\n    pass\n")
    with pytest.raises(PipelineError, match=f"{module} imports xgboost_is_not_here, which is not installed"):
        check_model(own(example, f"{module}:build"))
    broken = user_module("broken", "def build(config)\n    pass\n")
    with pytest.raises(PipelineError, match=f"importing your pipeline module {broken} failed: SyntaxError"):
        check_model(own(example, f"{broken}:build"))


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ("None", "returned NoneType, not an unfitted scikit-learn estimator"),
        ("LinearRegression()", "returned a model without predict_proba: a binary task needs class probabilities"),
    ],
)
def test_given_a_pipeline_function_that_returns_no_fitting_model_then_refused(example, user_module, returned, message):
    module = user_module(
        "wrong", f"from sklearn.linear_model import LinearRegression\n\ndef build(config):\n    return {returned}\n"
    )
    with pytest.raises(PipelineError, match=message):
        check_model(own(example, f"{module}:build"))


def test_given_candidates_after_a_pipeline_that_is_not_a_pipeline_then_refused(example, user_module):
    module = user_module(
        "bare",
        "from sklearn.linear_model import LogisticRegression\n\ndef build(config):\n    return LogisticRegression()\n",
    )
    config = dataclasses.replace(example, model=dataclasses.replace(example.model, pipeline=f"{module}:build"))
    with pytest.raises(
        PipelineError, match=r"replace the last step of your pipeline.*not a sklearn\.pipeline\.Pipeline"
    ):
        check_model(config)


def test_given_a_model_whose_code_is_not_deployed_when_loaded_then_named_and_as_challenger_suspended(
    aws, example, user_module
):
    module = user_module(
        "gone",
        """
        from sklearn.base import BaseEstimator, TransformerMixin
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from pipelines.churn import build as churn

        class Same(BaseEstimator, TransformerMixin):
            def fit(self, x, y=None):
                return self

            def transform(self, x):
                return x

        def build(config):
            return Pipeline([("same", Same()), *churn(config).steps])
        """,
    )
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(1000, seed=3))
    champion = train(aws, own(example, "pipelines.churn:build"))["version"]
    version = train(aws, own(example, f"{module}:build"))["version"]
    pipelines.__path__ = pipelines.__path__[:-1]  # the module is no longer deployed (monkeypatch restores the path)
    sys.modules.pop(module)
    registry = Registry(aws, MODELS)
    with pytest.raises(ModelCodeMissing, match=f"model {version} needs code this deployment does not have.*{module}"):
        registry.load_model(version)
    # As a challenger it is suspended, with the reason, and the champion scores alone.
    registry.start_challenger({"version": version, "mode": "shadow", "champion": champion}, expected=None)
    alerts: list[str] = []
    assert load_contender(registry, champion, alert=lambda subject, message: alerts.append(message)) is None
    assert registry.challenger().record["status"] == "suspended" and module in alerts[0]
