"""`mlops register` (mlopsctl/register.py) against moto S3 and STS, with the model checked in a real child
process (mlopsctl/modelcheck.py): a notebook pipeline, labeled and unlabeled references, the gate, and
every way a model file can be wrong (shape, columns, crashing on load, another scikit-learn)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import json
import pickle
import sys
from pathlib import Path

import boto3
import joblib
import pandas as pd
import pytest
import sklearn
import sklearn.base
from scoring.logic import Clients, ScoringContext, score_job
from scoring.messages import Job
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from typer.testing import CliRunner

from mlops_core.config import ProjectConfig, config_path, config_record
from mlops_core.environment import ScoringEnvironment
from mlops_core.registry.approval import PendingRecords
from mlops_core.registry.store import Registry
from mlopsctl import cli
from mlopsctl import register as registering
from mlopsctl.checkrun import ModelChecker, ModelCheckError
from mlopsctl.commands import common
from mlopsctl.datagen import generate
from mlopsctl.pickleinfo import scan
from mlopsctl.register import RegisterError
from tests.unit.conftest import DATA, MODELS, REGION
from tests.unit.examples_loader import EXAMPLES, example_config, load_example

ROOT = Path(__file__).resolve().parents[3]
MOTO_ARN = "arn:aws:sts::123456789012:user/moto"
LAYER_SKLEARN = registering.layer_version(ROOT / "lambdas" / "requirements.txt")

# A notebook's own classes: each a way for a model file to be wrong. The module lives in a folder of the
# test's own; the model check sees it only when that folder is one of its import paths.
NOTEBOOK_MODULE = '''
import os
import signal
import time

import numpy as np


class Notebook:
    def __init__(self):
        self.fitted = True  # a non-empty state, so that unpickling calls __setstate__


class WrongShape(Notebook):
    """Three probability columns for two classes."""

    classes_ = np.array([0, 1])

    def predict_proba(self, x):
        return np.full((len(x), 3), 1 / 3)


class RaisesOnLoad(Notebook):
    def __setstate__(self, state):
        raise RuntimeError("cannot reconnect to the notebook's feature store")


class KillsItself(Notebook):
    def __setstate__(self, state):
        print("restoring the notebook session...", flush=True)
        os.kill(os.getpid(), signal.SIGSEGV)


class LeavesAMark(Notebook):
    """Unpickling it writes a file: a test can tell whether its code ever ran."""

    def __init__(self, path):
        self.path = path

    def __setstate__(self, state):
        with open(state["path"], "w") as mark:
            mark.write("unpickled")


class Snoops(Notebook):
    """Unpickling it writes down what a hostile file could take: the environment and the home folder."""

    def __init__(self, path):
        self.path = path

    def __setstate__(self, state):
        import json

        home = os.path.expanduser("~")
        found = {"environ": dict(os.environ), "home": home, "aws_folder": os.path.exists(os.path.join(home, ".aws"))}
        with open(state["path"], "w") as out:
            json.dump(found, out)


class ExitsQuietly(Notebook):
    def __setstate__(self, state):
        print("done here", flush=True)
        os._exit(0)


class Hangs(Notebook):
    def __setstate__(self, state):
        time.sleep(600)


class Hungry(Notebook):
    def __setstate__(self, state):
        self.blob = bytearray(64 << 30)
'''


@dataclasses.dataclass(frozen=True)
class Notebook:
    folder: Path  # holds notebook_models.py
    module: object
    training: pd.DataFrame  # the rows the notebook trained on (the conftest champion's too)
    model: Pipeline  # a ColumnTransformer selecting the configured features by name + logistic regression


@pytest.fixture(scope="session")
def notebook(tmp_path_factory, config) -> Notebook:
    folder = tmp_path_factory.mktemp("notebook")
    (folder / "notebook_models.py").write_text(NOTEBOOK_MODULE)
    spec = importlib.util.spec_from_file_location("notebook_models", folder / "notebook_models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["notebook_models"] = module  # pickle finds a class through its module's name
    spec.loader.exec_module(module)
    training = pd.read_csv(io.BytesIO(generate(3000, seed=7)))
    return Notebook(folder, module, training, fit_notebook_pipeline(training, config))


def fit_notebook_pipeline(training: pd.DataFrame, config: ProjectConfig, *, only: list[str] | None = None) -> Pipeline:
    """What a notebook does: select the columns by name in a ColumnTransformer, fit on a DataFrame."""
    numeric = [f.name for f in config.features if f.is_numeric and (only is None or f.name in only)]
    categorical = [f.name for f in config.features if not f.is_numeric and (only is None or f.name in only)]
    prepare = ColumnTransformer(
        [("numbers", StandardScaler(), numeric), ("categories", OneHotEncoder(handle_unknown="ignore"), categorical)]
    )
    model = Pipeline([("prepare", prepare), ("model", LogisticRegression(max_iter=1000))])
    return model.fit(training[config.feature_names], training[config.label])


def checker(notebook: Notebook, **changes) -> ModelChecker:
    return ModelChecker(
        **{"layer_sklearn": LAYER_SKLEARN, "timeout_s": 60, "import_paths": (notebook.folder,), **changes}
    )


def saved(model, path: Path, **dump) -> Path:
    joblib.dump(model, path, **dump)
    return path


def reference(tmp_path: Path, *, labeled: bool = True, rows: int = 1000, seed: int = 8) -> Path:
    """Rows the notebook model was not trained on (a holdout), as a CSV."""
    path = tmp_path / ("holdout.csv" if labeled else "holdout-unlabeled.csv")
    path.write_bytes(generate(rows, seed=seed, with_label=labeled))
    return path


def register(
    s3, config, notebook, model: Path, ref: Path, *, promote=False, check=None, announce=None, config_file=None
):
    return registering.register(
        registry=Registry(s3, MODELS),
        sts=boto3.client("sts", region_name=REGION),
        checker=check or checker(notebook),
        config=config,
        config_file=config_file or config_path(),
        model=model,
        reference=ref,
        promote=promote,
        announce=announce,
    )


def nothing_written(s3) -> bool:
    registry = Registry(s3, MODELS)
    return registry.versions() == [] and registry.history() == [] and registry.champion() is None


# ---------------------------------------------------------------------------- a good model
def test_given_a_notebook_pipeline_and_a_labeled_holdout_when_promoted_then_champion_scoring_as_in_the_notebook(
    aws, config, notebook, tmp_path
):
    model, holdout = saved(notebook.model, tmp_path / "churn.joblib", compress=3), reference(tmp_path)
    result = register(aws, config, notebook, model, holdout, promote=True)
    registry = Registry(aws, MODELS)
    manifest, origin = result.manifest, result.manifest["origin"]
    assert result.gate.promoted and registry.champion().version == result.version
    assert manifest["config"] == config_record()  # the config it was checked and profiled with
    sha256 = hashlib.sha256(model.read_bytes()).hexdigest()
    assert origin["sha256"] == manifest["artifact_sha256"] == sha256  # the file as it is is the artifact
    assert origin["sklearn"] == sklearn.__version__ and origin["compression"] == "zlib"
    assert origin["registered_by"]["arn"] == MOTO_ARN
    assert origin["reference"] == {
        "file": "holdout.csv",
        "sha256": hashlib.sha256(holdout.read_bytes()).hexdigest(),
        "rows": 1000,
        "labeled": True,
    }
    rows = pd.read_csv(holdout)
    expected_auc = roc_auc_score(rows["churned"], notebook.model.predict_proba(rows)[:, 1])
    assert manifest["metrics"]["roc_auc"] == pytest.approx(expected_auc, abs=1e-6)
    assert set(manifest["profile"]["features"]) == set(config.feature_names) and manifest["profile"]["rows"] == 1000
    assert manifest["profile"]["calibration"]["holdout_rows"] == 1000 and "reference_sample" in manifest["profile"]
    assert [d["kind"] for d in registry.history()] == ["promote", "register"]
    assert "holdout: the 1,000 labeled rows of holdout.csv" in " ".join(result.gate.record["reasons"])

    batch = generate(300, seed=9, with_label=False)
    scored, _ = score_with_champion(aws, config, batch)
    expected = notebook.model.predict_proba(pd.read_csv(io.BytesIO(batch)))[:, 1]
    assert [float(s) for s in scored["score"]] == pytest.approx(expected.round(6).tolist(), abs=1e-6)


def score_with_champion(s3, config, body: bytes) -> tuple[pd.DataFrame, dict]:
    """The file scored by the scoring function's logic with the registry's champion: its predictions and
    its drift report."""
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="scoring")["QueueUrl"]
    clients = Clients(s3, boto3.client("cloudwatch", region_name=REGION), sqs)
    settings = ScoringContext(ScoringEnvironment(DATA, MODELS, queue, "MLOps"), config)
    s3.put_object(Bucket=DATA, Key="incoming/batch.csv", Body=body)
    head = s3.head_object(Bucket=DATA, Key="incoming/batch.csv")
    job = Job("incoming/batch.csv", head["ETag"].strip('"'), head["ContentLength"])
    outcome = score_job(job, clients=clients, context=settings)
    assert outcome.status == "scored"
    keys = outcome.detail["outputs"]
    outputs = {name: s3.get_object(Bucket=DATA, Key=key)["Body"].read() for name, key in keys.items()}
    return pd.read_csv(io.BytesIO(outputs["predictions"]), dtype=str), json.loads(outputs["drift_report"])


def test_given_a_champion_when_a_better_model_is_promoted_then_the_gate_compares_both_on_the_holdout(
    aws, config, notebook, champion, tmp_path
):
    model = saved(notebook.model, tmp_path / "churn.joblib")
    result = register(aws, config, notebook, model, reference(tmp_path), promote=True)
    ours, theirs = result.gate.record["candidate_metrics"], result.gate.record["champion_metrics"]
    assert theirs is not None and ours["roc_auc"] >= theirs["roc_auc"] - config.promotion.tolerance
    assert result.gate.promoted and Registry(aws, MODELS).champion().version == result.version
    assert result.gate.record["champion"] == champion


def test_given_a_champion_when_a_weaker_model_is_promoted_then_the_gate_rejects_it_and_the_champion_stays(
    aws, config, notebook, champion, tmp_path
):
    weak = fit_notebook_pipeline(notebook.training, config, only=["payment_method"])  # one weak column
    model = saved(weak, tmp_path / "weak.joblib")
    result = register(aws, config, notebook, model, reference(tmp_path), promote=True)
    registry = Registry(aws, MODELS)
    assert not result.gate.promoted and result.gate.record["kind"] == "reject"
    assert registry.champion().version == champion
    assert "< champion" in " ".join(result.gate.record["reasons"])
    assert registry.manifest(result.version)["origin"]["file"] == "weak.joblib"  # registered, not promoted
    assert [d["kind"] for d in registry.history()] == ["reject", "register"]


def test_given_manual_approval_when_registered_with_promote_then_it_is_held_and_announced(
    aws, config, notebook, tmp_path
):
    manual = dataclasses.replace(config, promotion=dataclasses.replace(config.promotion, approval="manual"))
    announced: list[dict] = []
    model = saved(notebook.model, tmp_path / "churn.joblib")
    result = register(aws, manual, notebook, model, reference(tmp_path), promote=True, announce=announced.append)
    held = PendingRecords(aws, MODELS).get(result.version)
    assert held is not None and held.state == "pending"
    assert announced == [held.record] and Registry(aws, MODELS).champion() is None
    assert "awaits approval" in "\n".join(registering.summary(result))


def test_given_an_unlabeled_reference_when_registered_then_it_is_registered_never_promoted_and_says_why(
    aws, config, notebook, tmp_path
):
    model = saved(notebook.model, tmp_path / "churn.joblib")
    result = register(aws, config, notebook, model, reference(tmp_path, labeled=False))
    registry = Registry(aws, MODELS)
    profile = result.manifest["profile"]
    assert result.gate is None and registry.champion() is None
    assert result.manifest["metrics"] == {} and result.manifest["origin"]["reference"]["labeled"] is False
    assert "calibration" not in profile and "unlabeled reference" in profile["calibration_note"]
    assert profile["prediction"]["rows"] == 1000  # the drift profile holds the model's own predictions
    assert any("never promoted automatically" in note for note in result.notes)
    assert [d["kind"] for d in registry.history()] == ["register"]

    registry.rollback(result.version, reason="served by hand")  # an operator may still serve it
    _, report = score_with_champion(aws, config, generate(500, seed=9, with_label=False))
    assert report["drift"]["performance"] is None
    assert profile["calibration_note"] in report["drift"]["notes"]


def test_given_an_unlabeled_reference_when_promote_is_asked_then_refused_and_nothing_is_written(
    aws, config, notebook, tmp_path
):
    model = saved(notebook.model, tmp_path / "churn.joblib")
    with pytest.raises(RegisterError, match=r"--promote needs labels: holdout-unlabeled.csv has no churned column"):
        register(aws, config, notebook, model, reference(tmp_path, labeled=False), promote=True)
    assert nothing_written(aws)


def test_given_a_holdout_of_one_class_when_promoted_then_refused_before_anything_is_written(
    aws, config, notebook, tmp_path
):
    rows = pd.read_csv(io.BytesIO(generate(3000, seed=8)))
    one_class = tmp_path / "one-class.csv"
    rows[rows["churned"] == 0].to_csv(one_class, index=False)
    model = saved(notebook.model, tmp_path / "churn.joblib")
    with pytest.raises(RegisterError, match=r"the gate's metric roc_auc cannot be computed on one-class.csv"):
        register(aws, config, notebook, model, one_class, promote=True)
    assert nothing_written(aws)


def test_given_a_regression_project_when_a_regressor_is_registered_then_its_values_are_profiled(aws, tmp_path):
    config = example_config("diabetes")
    training, batch, _ = load_example("diabetes").write(tmp_path)
    rows = pd.read_csv(training)
    prepare = ColumnTransformer([("numbers", StandardScaler(), [f.name for f in config.features if f.is_numeric])])
    fitted = Pipeline([("prepare", prepare), ("model", Ridge())]).fit(rows[config.feature_names], rows[config.label])
    model = saved(fitted, tmp_path / "ridge.joblib")
    check = ModelChecker(layer_sklearn=LAYER_SKLEARN, timeout_s=60)
    result = register(aws, config, None, model, batch, check=check, config_file=EXAMPLES / "diabetes" / "mlops.toml")
    prediction = result.manifest["profile"]["prediction"]
    assert result.manifest["schema"]["task"] == "regression" and prediction["rows"] == 300
    assert result.manifest["origin"]["steps"][-1][1].endswith("Ridge")


class DeployedOnMoto:
    """What the CLI reads from a deployed stack (stack.Pipeline): here moto's clients and an alerts topic."""

    def __init__(self, s3) -> None:
        self.s3 = s3
        self.outputs = {"AlertsTopic": self.client("sns").create_topic(Name="alerts")["TopicArn"]}

    def registry(self) -> Registry:
        return Registry(self.s3, MODELS)

    def client(self, service: str):
        return boto3.client(service, region_name=REGION)


def test_given_the_cli_when_a_model_is_registered_with_promote_then_it_prints_version_origin_metrics_and_gate(
    aws, notebook, tmp_path, monkeypatch
):
    monkeypatch.setattr(common, "connect", lambda target: DeployedOnMoto(aws))
    model, holdout = saved(notebook.model, tmp_path / "churn.joblib"), reference(tmp_path)

    result = CliRunner().invoke(cli.app, ["register", str(model), "--reference", str(holdout), "--promote"])

    assert result.exit_code == 0, result.output
    version = Registry(aws, MODELS).champion().version
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"registered churn.joblib as version {version} (scikit-learn {sklearn.__version__}")
    assert lines[1] == "  reference holdout.csv: 1,000 rows, labeled: the drift profile is built from them"
    assert lines[2].startswith("  holdout metrics on the reference rows: accuracy=") and "roc_auc=" in lines[2]
    assert lines[3].startswith("  promoted to champion: roc_auc ")


# ---------------------------------------------------------------------------- a wrong model
def test_given_a_model_with_more_probability_columns_than_classes_then_refused_naming_both_shapes(
    aws, config, notebook, tmp_path
):
    model = saved(notebook.module.WrongShape(), tmp_path / "wrong-shape.joblib")
    with pytest.raises(ModelCheckError, match=r"predict_proba returned shape \(1000, 3\).*must be \(1000, 2\)") as e:
        register(aws, config, notebook, model, reference(tmp_path))
    assert "one probability column per entry of classes_" in e.value.hint
    assert nothing_written(aws)


def test_given_a_model_of_other_classes_then_refused_naming_both_sets(aws, config, notebook, tmp_path):
    rows = notebook.training
    three = rows["churned"] + (rows["tenure_months"] > 40)  # 0, 1, 2: not the configured binary 0/1
    model = saved(fit_notebook_pipeline(rows.assign(churned=three), config), tmp_path / "three.joblib")
    with pytest.raises(ModelCheckError, match=r"the model knows the classes 0, 1, 2; \[label\] classes are 0, 1"):
        register(aws, config, notebook, model, reference(tmp_path))
    assert nothing_written(aws)


def test_given_a_model_fitted_on_other_column_names_then_refused_naming_the_columns(aws, config, notebook, tmp_path):
    renamed = notebook.training.rename(columns={"tenure_months": "tenure"})  # the notebook's own name for it
    names = ["tenure", *config.feature_names[1:]]
    prepare = ColumnTransformer([("numbers", StandardScaler(), ["tenure", "monthly_charges"])])
    fitted = Pipeline([("prepare", prepare), ("model", LogisticRegression())]).fit(renamed[names], renamed["churned"])
    model = saved(fitted, tmp_path / "renamed.joblib")
    with pytest.raises(ModelCheckError, match="fitted on column\\(s\\) tenure that are not configured features"):
        register(aws, config, notebook, model, reference(tmp_path))
    assert nothing_written(aws)


def test_given_a_model_that_fails_on_the_configured_columns_then_refused_with_the_models_error(
    aws, config, notebook, tmp_path
):
    fitted = Pipeline([("model", LogisticRegression())])  # no column selection: it cannot take text categories
    fitted.fit(notebook.training[config.feature_names[:4]].to_numpy(), notebook.training["churned"])
    model = saved(fitted, tmp_path / "by-position.joblib")
    with pytest.raises(ModelCheckError, match=r"predict_proba failed on the reference rows.*ValueError") as e:
        register(aws, config, notebook, model, reference(tmp_path))
    assert "select them by name in a ColumnTransformer" in e.value.hint
    assert nothing_written(aws)


CRASHES = {
    # case: (class in the notebook module, whether the check can import it, changes to the checker, message)
    "raises on load": ("RaisesOnLoad", True, {}, "cannot be loaded: RuntimeError: cannot reconnect"),
    "refers to a missing module": ("RaisesOnLoad", False, {}, "No module named 'notebook_models'.*code the scoring"),
    "kills its process": ("KillsItself", True, {}, "crashed with signal SIGSEGV.*restoring the notebook session"),
    "exits quietly": ("ExitsQuietly", True, {}, "ended without a usable result.*printed: ...done here"),
    "hangs": ("Hangs", True, {"timeout_s": 6}, "did not finish within 6 s"),
    "exhausts memory": ("Hungry", True, {"max_memory_mb": 2048}, "ran out of memory while loading"),
}


@pytest.mark.parametrize("case", list(CRASHES))
def test_given_a_pickle_that_crashes_on_load_then_the_cli_reports_it_and_nothing_is_written(
    aws, config, notebook, tmp_path, case
):
    name, importable, changes, message = CRASHES[case]
    model = saved(getattr(notebook.module, name)(), tmp_path / "notebook.joblib")
    check = checker(notebook, **changes) if importable else ModelChecker(layer_sklearn=LAYER_SKLEARN, **changes)
    with pytest.raises(ModelCheckError, match=message):
        register(aws, config, notebook, model, reference(tmp_path), check=check)
    assert nothing_written(aws)


OPERATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAOPERATOR0000000",
    "AWS_SECRET_ACCESS_KEY": "operator-secret",
    "AWS_SESSION_TOKEN": "operator-session",
    "AWS_PROFILE": "production",
    "AWS_DEFAULT_PROFILE": "production",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.23/v1/credentials",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/operator",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "operator-container-token",
    "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/operator",
    "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/token",
    "GOOGLE_APPLICATION_CREDENTIALS": "/home/operator/gcp.json",
    "GITHUB_TOKEN": "ghp_operator",
}


def test_given_an_operators_credentials_when_a_model_is_checked_then_its_code_sees_no_credential_and_no_home(
    notebook, config, tmp_path, monkeypatch
):
    home = tmp_path / "operator"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[production]\naws_access_key_id = AKIAOPERATOR0000000\n")
    files = {"AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"), "AWS_CONFIG_FILE": str(home / "c")}
    for name, value in {**OPERATOR_CREDENTIALS, **files, "HOME": str(home)}.items():
        monkeypatch.setenv(name, value)
    seen_file = tmp_path / "seen.json"
    model = saved(notebook.module.Snoops(str(seen_file)), tmp_path / "snoops.joblib")

    with pytest.raises(ModelCheckError):  # it is no model; its code ran while it was loaded
        checker(notebook).check(model, reference(tmp_path), config_file=config_path(), rows=1000)

    seen = json.loads(seen_file.read_text())
    assert [name for name in seen["environ"] if name.startswith("AWS_")] == []
    assert set(seen["environ"]).isdisjoint(OPERATOR_CREDENTIALS)
    assert "AKIAOPERATOR" not in json.dumps(seen) and str(home) not in json.dumps(seen)
    assert seen["aws_folder"] is False


@dataclasses.dataclass(frozen=True)
class SwapsTheFile(ModelChecker):
    """A checker that sees another model file than the one read for the artifact (someone saved over it)."""

    replacement: bytes = b""

    def check(self, model, reference, **kwargs):
        model.write_bytes(self.replacement)
        return super().check(model, reference, **kwargs)


def test_given_the_model_file_changes_while_it_is_checked_then_nothing_unchecked_is_registered(
    aws, config, notebook, tmp_path
):
    other = saved(fit_notebook_pipeline(notebook.training, config, only=["contract"]), tmp_path / "other.joblib")
    model = saved(notebook.model, tmp_path / "churn.joblib")
    swapping = SwapsTheFile(layer_sklearn=LAYER_SKLEARN, replacement=other.read_bytes())
    with pytest.raises(RegisterError, match=r"churn.joblib or holdout.csv changed while the model was checked"):
        register(aws, config, notebook, model, reference(tmp_path), check=swapping)
    assert nothing_written(aws)


# ---------------------------------------------------------------------------- scikit-learn versions
def test_given_a_model_pickled_with_another_sklearn_minor_then_refused_before_it_loads_naming_both(
    aws, config, notebook, tmp_path, monkeypatch
):
    monkeypatch.setattr(sklearn.base, "__version__", "1.8.2")  # what BaseEstimator pickles as _sklearn_version
    # Unpickling the file would leave a mark: the refusal comes before any of its code runs.
    mark = tmp_path / "unpickled"
    model = saved([notebook.model, notebook.module.LeavesAMark(str(mark))], tmp_path / "old.joblib", compress=3)
    monkeypatch.undo()
    both = f"pickled with scikit-learn 1.8.2, the scoring layer has scikit-learn {LAYER_SKLEARN}"
    with pytest.raises(ModelCheckError, match=both) as e:
        register(aws, config, notebook, model, reference(tmp_path))
    minor = ".".join(LAYER_SKLEARN.split(".")[:2])
    assert f"re-train or re-pickle the model with scikit-learn {minor}" in e.value.hint
    assert not mark.exists() and nothing_written(aws)


def test_given_a_pickle_the_scan_cannot_read_then_the_version_warning_on_load_refuses_it(
    aws, config, notebook, tmp_path, monkeypatch
):
    monkeypatch.setattr(sklearn.base, "__version__", "1.8.2")
    model = tmp_path / "protocol0.pkl"
    model.write_bytes(pickle.dumps(notebook.model, protocol=0))  # text opcodes: no binary string to find
    monkeypatch.undo()
    assert scan(model).sklearn == []
    with pytest.raises(ModelCheckError, match=r"pickled with scikit-learn 1.8.2"):
        register(aws, config, notebook, model, reference(tmp_path))
    assert nothing_written(aws)


def test_given_the_same_minor_with_another_patch_then_it_is_registered_with_the_pickled_version(
    aws, config, notebook, tmp_path, monkeypatch
):
    patch = f"{'.'.join(LAYER_SKLEARN.split('.')[:2])}.99"
    monkeypatch.setattr(sklearn.base, "__version__", patch)
    model = saved(notebook.model, tmp_path / "patched.joblib")
    monkeypatch.undo()
    result = register(aws, config, notebook, model, reference(tmp_path))
    assert result.manifest["origin"]["sklearn"] == patch and result.manifest["versions"]["sklearn"] == patch


@pytest.mark.parametrize(
    ("compress", "name"),
    [(0, None), (3, "zlib"), (("gzip", 3), "gzip"), (("bz2", 3), "bz2"), (("xz", 3), "xz"), (("lzma", 3), "lzma")],
)
def test_given_each_joblib_compression_then_the_scan_reads_the_pickled_versions(notebook, tmp_path, compress, name):
    found = scan(saved(notebook.model, tmp_path / "model.joblib", compress=compress))
    assert found.readable and found.sklearn == [sklearn.__version__] and found.numpy == ">=2"
    assert found.protocol == pickle.DEFAULT_PROTOCOL and found.compression == name


def test_given_the_layer_requirements_then_the_cli_runs_the_layers_sklearn():
    assert sklearn.__version__ == LAYER_SKLEARN


# ---------------------------------------------------------------------------- a bad reference
BAD_REFERENCES = {
    # case: (what is done to the holdout's rows, the message)
    "missing column": (lambda r: r.drop(columns=["contract"]), r"holdout.csv lacks column\(s\) contract"),
    "bad rows": (
        lambda r: r.assign(contract="weekly"),
        r"1,000 of 1,000 rows skipped \(100.0%; 1,000 bad_feature; values not in their feature's categories: "
        r"contract 'weekly' \(1,000\)\)",
    ),
    "too few rows": (lambda r: r.head(100), r"has 100 usable rows; a drift profile needs at least training.min_rows"),
}


@pytest.mark.parametrize("case", list(BAD_REFERENCES))
def test_given_a_bad_reference_then_it_is_reported_as_training_data_would_be_and_nothing_is_written(
    aws, config, notebook, tmp_path, case
):
    change, message = BAD_REFERENCES[case]
    holdout = reference(tmp_path)
    change(pd.read_csv(holdout)).to_csv(holdout, index=False)
    model = saved(notebook.model, tmp_path / "churn.joblib")
    with pytest.raises(RegisterError, match=message):
        register(aws, config, notebook, model, holdout)
    assert nothing_written(aws)


def test_given_a_categorical_feature_without_categories_when_registering_then_refused_naming_it(
    aws, config, notebook, tmp_path
):
    features = tuple(dataclasses.replace(f, categories=()) if f.name == "contract" else f for f in config.features)
    model = saved(notebook.model, tmp_path / "churn.joblib")
    with pytest.raises(RegisterError, match=r"feature\(s\) contract have no categories configured"):
        register(aws, dataclasses.replace(config, features=features), notebook, model, reference(tmp_path))
    assert nothing_written(aws)
