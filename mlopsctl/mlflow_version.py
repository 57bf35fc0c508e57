"""One model version as MLflow shows it (for `mlops mlflow sync`, mlopsctl/mlflow_sync.py): its input files as
datasets, its model search as child runs, and the model itself as an MLflow sklearn model with a signature, an input
example and the library pins it was trained with."""

from __future__ import annotations

import json
from typing import Any

import mlflow
import pandas as pd
import skops
import skops.io
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param
from mlflow.models import infer_signature

from mlops_core.modeling.pipeline import features_from_schema

from .stack import Pipeline


def log_inputs(client: Any, run_id: str, manifest: dict[str, Any], bucket: str) -> None:
    """Each input file as an MLflow dataset: the S3 object at its version as source, its SHA-256 as digest."""
    inputs = []
    for entry in manifest.get("data", []):
        version = f"?versionId={entry['version_id']}" if entry.get("version_id") else ""
        source = json.dumps({"uri": f"s3://{bucket}/{entry['key']}{version}"})
        dataset = Dataset(
            name=entry["key"],
            digest=str(entry.get("sha256") or entry.get("etag") or "")[:36],
            source_type="s3",
            source=source,
            profile=json.dumps({"rows": entry.get("rows"), "skipped_rows": entry.get("skipped_rows")}),
        )
        context = "evaluation" if entry.get("source") == "holdout" else "training"
        inputs.append(DatasetInput(dataset, tags=[InputTag("mlflow.data.context", context)]))
    if inputs:
        client.log_inputs(run_id, datasets=inputs)


def log_leaderboard(client: Any, experiment_id: str, parent: str, search: dict[str, Any] | None) -> None:
    """A model search's candidates, one child run each: its best point, cross-validated mean and spread."""
    for entry in (search or {}).get("leaderboard", []):
        tags = {"mlflow.parentRunId": parent, "mlops.rank": str(entry["rank"])}
        child = client.create_run(experiment_id, tags=tags, run_name=f"{entry['rank']}. {entry['name']}")
        metric = str(search["metric"])  # type: ignore[index]  # a leaderboard comes with its search
        client.log_batch(
            child.info.run_id,
            metrics=[
                Metric(f"cv_{metric}_mean", float(entry["mean"]), 0, 0),
                Metric(f"cv_{metric}_std", float(entry["std"]), 0, 0),
            ],
            params=[Param(str(k), str(v)[:500]) for k, v in (entry.get("best") or {}).items()],
        )
        client.set_terminated(child.info.run_id, status="FINISHED")


def log_model(run_id: str, manifest: dict[str, Any], pipeline: Pipeline) -> str:
    """The version's artifact (its SHA-256 checked) logged in the run as an MLflow sklearn model; its URI."""
    model, _ = pipeline.registry().load_model(manifest["version"])
    example = input_example(manifest)
    # skops, MLflow's default, loads without running pickled code; the types the model is made of are trusted
    # here because the registry's artifact passed its SHA-256 check (and scoring unpickles the same classes).
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    with mlflow.start_run(run_id=run_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            skops_trusted_types=trusted,
            pip_requirements=model_requirements(manifest),
        )
    return str(info.model_uri)


DISTRIBUTIONS = {"sklearn": "scikit-learn", "numpy": "numpy", "scipy": "scipy", "pandas": "pandas", "joblib": "joblib"}


def model_requirements(manifest: dict[str, Any]) -> list[str]:
    """The libraries the version was trained with, pinned as its manifest recorded them (and skops, which loads
    it). Given, not inferred: MLflow's inference imports the model in a subprocess, seconds per version."""
    versions = manifest.get("versions") or {}
    pins = [f"{name}=={versions[key]}" for key, name in DISTRIBUTIONS.items() if versions.get(key)]
    return [*pins, f"skops=={skops.__version__}"]


def input_example(manifest: dict[str, Any], rows: int = 5) -> pd.DataFrame:
    """A few rows in the model's input form: from the manifest's reference sample, else one made-up row per
    the schema (numbers 0, the first category, empty text)."""
    features = features_from_schema(manifest["schema"])
    sample = (manifest.get("profile") or {}).get("reference_sample") or {}
    columns = sample.get("columns", {})
    count = min(rows, int(sample.get("rows", 0))) or 1
    data = {}
    for feature in features:
        if feature.name in columns:
            data[feature.name] = columns[feature.name][:count]
        elif feature.is_text or feature.type == "categorical":
            data[feature.name] = [feature.categories[0] if feature.categories else ""] * count
        else:
            data[feature.name] = [0.0] * count
    frame = pd.DataFrame(data)
    numeric = [f.name for f in features if f.type == "numeric"]
    frame[numeric] = frame[numeric].astype(float)
    return frame
