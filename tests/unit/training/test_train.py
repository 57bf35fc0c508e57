"""Training, the registry and the promotion gate, against moto S3."""

from __future__ import annotations

import dataclasses
import io
import threading
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from mlops_core.config import PromotionSettings, load_config
from mlops_core.monitoring import DriftAccumulator, build_profile, psi
from mlops_core.registry.promotion import decide
from mlops_core.registry.store import ArtifactIntegrityError, ChampionConflict, Registry, RegistryError, UnknownVersion
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS
from tests.unit.examples_loader import load_example
from training.data import TrainingDataError
from training.train import train_and_register

ROOT = Path(__file__).resolve().parents[3]


def train(s3, config, **kwargs):
    return train_and_register(s3, data_bucket=DATA, models_bucket=MODELS, config=config, **kwargs)


# ---------------------------------------------------------------------------- training
def test_given_labeled_data_when_trained_then_a_complete_version_is_registered_and_promoted(aws, config):
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(3000, seed=1))
    result = train(aws, config, run_id="run-1")
    registry = Registry(aws, MODELS)
    manifest = registry.manifest(result["version"])
    assert result["promoted"] and registry.champion().version == result["version"]
    assert manifest["metrics"]["roc_auc"] > 0.75
    assert manifest["data"][0]["key"] == "training/base.csv" and manifest["data"][0]["rows"] == 3000
    assert len(manifest["data"][0]["sha256"]) == 64
    assert set(manifest["versions"]) >= {"python", "sklearn", "numpy"}
    assert manifest["schema"]["label"] == "churned" and manifest["run_id"] == "run-1"
    assert set(manifest["profile"]["features"]) == set(config.feature_names)
    model, _ = registry.load_model(result["version"])  # the checksum matches
    assert hasattr(model, "predict_proba")


def test_given_the_same_data_and_seed_when_trained_twice_then_the_same_metrics(aws, config):
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(2000, seed=2))
    first, second = train(aws, config), train(aws, config)
    assert first["metrics"] == second["metrics"]
    assert first["version"] != second["version"]  # a new version each time, never an overwrite


def test_given_a_floor_the_candidate_cannot_reach_then_it_is_not_promoted_and_history_says_why(aws, config):
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(2000, seed=3))
    champion = train(aws, config)["version"]
    strict = dataclasses.replace(config, promotion=PromotionSettings(metric="roc_auc", tolerance=0.0, floor=0.99))
    result = train(aws, strict)
    registry = Registry(aws, MODELS)
    assert not result["promoted"] and registry.champion().version == champion
    latest = registry.history(limit=1)[0]
    assert latest["kind"] == "reject" and "< floor 0.9900" in " ".join(latest["reasons"])


def test_given_too_little_or_no_data_when_trained_then_a_clear_error(aws, config):
    with pytest.raises(TrainingDataError, match="no labeled CSV"):
        train(aws, config)
    aws.put_object(Bucket=DATA, Key="training/tiny.csv", Body=generate(50, seed=4))
    with pytest.raises(TrainingDataError, match="at least 500"):
        train(aws, config)


def test_given_feedback_after_drift_when_retrained_then_it_wins_on_fresh_data(aws, config):
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(6000, seed=5))
    first = train(aws, config)
    aws.put_object(
        Bucket=DATA, Key="feedback/drifted.csv", Body=generate(3000, seed=6, covariate_shift=1.0, concept_shift=1.0)
    )
    second = train(aws, config)
    assert second["promoted"], second["decision"]
    assert second["metrics"]["roc_auc"] > second["champion_metrics"]["roc_auc"]
    assert first["version"] != second["version"]


def test_given_the_second_example_data_set_then_the_same_pipeline_trains_it(aws, tmp_path):
    config = load_config(ROOT / "examples" / "breast-cancer" / "mlops.toml")
    training_csv, _ = load_example().write(tmp_path)
    aws.put_object(Bucket=DATA, Key="training/cancer.csv", Body=training_csv.read_bytes())
    result = train(aws, config)
    assert result["promoted"] and result["metrics"]["roc_auc"] > 0.95


# ---------------------------------------------------------------------------- registry
def test_given_a_version_when_published_again_then_refused(aws, trained):
    artifact, manifest = trained
    registry = Registry(aws, MODELS)
    registry.publish(artifact, manifest, version="v1")
    with pytest.raises(RegistryError, match="never overwritten"):
        registry.publish(b"other", manifest, version="v1")
    assert registry.verified_artifact("v1")[0] == artifact


def test_given_two_promoters_racing_then_exactly_one_moves_the_champion(aws, trained):
    artifact, manifest = trained
    registry = Registry(aws, MODELS)
    for v in ("v1", "v2", "v3"):
        registry.publish(artifact, manifest, version=v)
    registry.promote("v1", expected=None, decision={})
    seen = registry.champion()
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def promote(version: str) -> None:
        barrier.wait()
        try:
            registry.promote(version, expected=seen, decision={})
            outcomes.append(version)
        except ChampionConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=promote, args=(v,)) for v in ("v2", "v3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes)[0] == "conflict" and registry.champion().version in outcomes


def test_given_an_earlier_version_when_rolled_back_then_champion_and_history(aws, champion, trained):
    artifact, manifest = trained
    registry = Registry(aws, MODELS)
    newer = registry.publish(artifact, manifest)
    registry.promote(newer, expected=registry.champion(), decision={})
    registry.rollback(champion, reason="bad release")
    assert registry.champion().version == champion
    entry = registry.history(limit=1)[0]
    assert entry["kind"] == "rollback" and entry["previous"] == newer and entry["reasons"] == ["bad release"]
    with pytest.raises(UnknownVersion):
        registry.rollback("v-missing", reason="x")


def test_given_a_tampered_artifact_then_rollback_and_load_refuse_it(aws, champion, trained):
    artifact, manifest = trained
    registry = Registry(aws, MODELS)
    other = registry.publish(artifact, manifest)
    aws.put_object(Bucket=MODELS, Key=registry.manifest(other)["artifact_key"], Body=artifact + b"x")
    with pytest.raises(ArtifactIntegrityError):
        registry.rollback(other, reason="x")
    with pytest.raises(ArtifactIntegrityError, match="refusing to load"):
        registry.load_model(other)
    assert registry.champion().version == champion


# ---------------------------------------------------------------------------- gate
SETTINGS = PromotionSettings(metric="roc_auc", tolerance=0.01, floor=0.6)


@pytest.mark.parametrize(
    ("candidate", "champion", "promote"),
    [
        (0.80, None, True),  # first model: the floor alone
        (0.55, None, False),  # first model below the floor
        (0.82, 0.80, True),  # better
        (0.795, 0.80, True),  # within tolerance
        (0.78, 0.80, False),  # worse
        (0.59, 0.55, False),  # better than a poor champion, but below the floor
    ],
)
def test_given_candidate_and_champion_metrics_then_the_gate_decides(candidate, champion, promote):
    decision = decide({"roc_auc": candidate}, None if champion is None else {"roc_auc": champion}, SETTINGS)
    assert decision.promote is promote
    assert all(any(ch.isdigit() for ch in r) or "no champion" in r for r in decision.reasons)


# ---------------------------------------------------------------------------- drift statistics
def _columns(config, rows: int, seed: int, shift: float = 0.0):
    from mlops_core.data.convert import convert_rows

    text = generate(rows, seed=seed, covariate_shift=shift).decode().splitlines()
    parsed = [line.split(",") for line in text]
    chunk = convert_rows(parsed[0], parsed[1:], first_row=1, features=config.features, label=None, max_field_chars=None)
    return chunk.columns


def test_given_the_same_distribution_then_psi_is_near_zero_and_a_shift_is_detected(config):
    reference = _columns(config, 5000, seed=1)
    profile = build_profile(reference, config.features, np.linspace(0, 1, 5000), bins=10)
    same, shifted = DriftAccumulator(profile), DriftAccumulator(profile)
    same.update(_columns(config, 5000, seed=2), np.linspace(0, 1, 5000))
    shifted.update(_columns(config, 5000, seed=2, shift=1.0), np.linspace(0, 1, 5000))
    calm, drift = same.summary(config.drift), shifted.summary(config.drift)
    assert calm.worst_psi < 0.02 and calm.verdict is False
    assert drift.worst_psi > 0.2 and drift.verdict is True
    assert "contract" in drift.drifted_features  # categorical mix shift


def test_given_chunks_then_the_accumulator_equals_one_pass(config):
    columns = _columns(config, 3000, seed=3, shift=0.5)
    profile = build_profile(_columns(config, 3000, seed=1), config.features, np.linspace(0, 1, 3000), bins=10)
    scores = np.linspace(0, 1, 3000)
    whole, chunked = DriftAccumulator(profile), DriftAccumulator(profile)
    whole.update(columns, scores)
    for start in range(0, 3000, 700):
        chunked.update({k: v[start : start + 700] for k, v in columns.items()}, scores[start : start + 700])
    assert whole.summary(config.drift).feature_psi == chunked.summary(config.drift).feature_psi


def test_given_unknown_categories_or_too_few_rows_then_psi_rises_or_no_verdict(config):
    profile = build_profile(_columns(config, 2000, seed=1), config.features, np.linspace(0, 1, 2000), bins=10)
    columns = _columns(config, 100, seed=2)
    columns["payment_method"] = np.asarray(["crypto"] * 100, dtype=object)
    acc = DriftAccumulator(profile)
    acc.update(columns, np.linspace(0, 1, 100))
    summary = acc.summary(config.drift)
    assert summary.feature_psi["payment_method"] > 1.0
    assert summary.verdict is None  # 100 rows < drift.min_rows
    assert psi([0.5, 0.5], [0, 10]) > psi([0.5, 0.5], [4, 6]) > psi([0.5, 0.5], [5, 5]) == pytest.approx(0)


def test_given_a_trained_version_then_its_pipeline_selects_the_features_by_their_configured_names(trained, config):
    model = joblib.load(io.BytesIO(trained[0]))
    assert list(model.feature_names_in_) == config.feature_names
    # A notebook's DataFrame may hold its columns in another order: selected by name, the same predictions.
    frame = pd.read_csv(io.BytesIO(generate(50, seed=3, with_label=False)))[list(reversed(config.feature_names))]
    assert model.predict_proba(frame[config.feature_names]).shape == (50, 2)
    assert (model.predict_proba(frame) == model.predict_proba(frame[config.feature_names])).all()
