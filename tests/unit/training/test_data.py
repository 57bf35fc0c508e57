"""Training's reading of labeled files through the shared CSV reader: guards, per-file reports, hashes."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib

import pytest

from mlops_core.registry.store import Registry
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS
from training.data import TrainingDataError, read_labeled_data
from training.train import train_and_register

GOOD = generate(1500, seed=11)
HEADER, ROWS = GOOD.split(b"\n", 1)
LIMIT = 12 << 20  # above the 10 MB line's file, below the gzip bomb's decompressed size


@pytest.fixture
def small_limits(config):
    """The project's configuration with a 12 MiB file limit and 1,000-row chunks."""
    scoring = dataclasses.replace(config.scoring, max_file_bytes=LIMIT, chunk_rows=1000)
    return dataclasses.replace(config, scoring=scoring)


LATIN_1 = "virement-bancaire-\xe9".encode("latin-1")
HOSTILE = {  # key: (body, the kind of rejection)
    "training/long-line.csv": (HEADER + b"\n" + b"x" * (10 << 20) + b"\n" + ROWS, "line_too_long"),
    "training/bomb.csv.gz": (gzip.compress(HEADER + b"\n" + b"\n" * (3 * LIMIT), compresslevel=9), "too_large"),
    "training/latin1.csv": (GOOD.replace(b"bank-transfer", LATIN_1, 1), "not_utf8"),
    "training/image.csv": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64, "not_csv"),
}


def _by_key(files: list[dict]) -> dict[str, dict]:
    return {f["key"]: f for f in files}


def test_given_hostile_files_beside_a_good_one_when_trained_then_each_is_reported_and_the_run_succeeds(
    aws, small_limits
):
    aws.put_object(Bucket=DATA, Key="training/good.csv", Body=GOOD)
    for key, (body, _) in HOSTILE.items():
        aws.put_object(Bucket=DATA, Key=key, Body=body)
    result = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=small_limits)
    files = _by_key(result["files"])
    assert result["version"] and files["training/good.csv"]["rows"] == 1500
    for key, (_, kind) in HOSTILE.items():
        assert files[key]["rejected"]["kind"] == kind, files[key]
        assert files[key]["rejected"]["error"] and files[key]["rejected"]["fix"]
        assert files[key]["rows"] == 0 and "sha256" not in files[key]
    manifest = Registry(aws, MODELS).manifest(result["version"])
    assert _by_key(manifest["data"]) == files


def test_given_labeled_files_when_read_then_the_recorded_sha256_is_that_of_the_object_bytes(aws, small_limits):
    gzipped = gzip.compress(generate(700, seed=12))
    aws.put_object(Bucket=DATA, Key="training/plain.csv", Body=GOOD)
    aws.put_object(Bucket=DATA, Key="feedback/packed.csv.gz", Body=gzipped)
    files = _by_key(read_labeled_data(aws, DATA, small_limits).files)
    assert files["training/plain.csv"]["sha256"] == hashlib.sha256(GOOD).hexdigest()
    assert files["feedback/packed.csv.gz"]["sha256"] == hashlib.sha256(gzipped).hexdigest()
    packed = files["feedback/packed.csv.gz"]
    assert packed["rows"] + packed.get("capped_rows", 0) == 700  # used, or left out by the feedback bound


def test_given_a_file_rejected_after_some_chunks_then_none_of_its_rows_are_used(aws, small_limits):
    big = generate(30000, seed=13)  # over 1 MB: the bad byte is decoded after the first chunks of rows
    aws.put_object(Bucket=DATA, Key="training/good.csv", Body=GOOD)
    aws.put_object(Bucket=DATA, Key="training/late.csv", Body=big + "C9,1,2,3,4,one-year,caf\xe9,0\n".encode("latin-1"))
    data = read_labeled_data(aws, DATA, small_limits)
    late = _by_key(data.files)["training/late.csv"]
    assert late["rejected"]["kind"] == "not_utf8" and late["rows"] == 0 and late["skipped_rows"] > 0
    assert len(data.labels) == 1500 and set(data.recency.tolist()) == {1}


def test_given_only_rejected_files_and_too_few_rows_then_the_error_names_the_rejected_files(aws, small_limits):
    aws.put_object(Bucket=DATA, Key="training/tiny.csv", Body=generate(50, seed=14))
    aws.put_object(Bucket=DATA, Key="training/image.csv", Body=HOSTILE["training/image.csv"][0])
    with pytest.raises(TrainingDataError, match=r"50 labeled rows; training needs at least 500.*training/image\.csv"):
        read_labeled_data(aws, DATA, small_limits)


def test_given_a_file_of_only_bad_rows_then_the_run_fails_naming_the_file_and_the_counts(aws, small_limits):
    aws.put_object(Bucket=DATA, Key="training/good.csv", Body=GOOD)
    aws.put_object(Bucket=DATA, Key="training/ragged.csv", Body=HEADER + b"\n" + b"a,b\n" * 10)
    with pytest.raises(
        TrainingDataError, match=r"training/ragged\.csv: 10 of 10 rows skipped \(100\.0%; 10 bad_feature\)"
    ):
        read_labeled_data(aws, DATA, small_limits)


def test_given_a_few_bad_rows_within_the_limit_then_each_is_counted_under_its_reason(aws, small_limits):
    aws.put_object(Bucket=DATA, Key="training/good.csv", Body=GOOD)
    data = read_labeled_data(aws, DATA, small_limits)
    assert _by_key(data.files)["training/good.csv"]["skipped"] == {"bad_feature": 0, "bad_label": 0, "missing_label": 0}


def test_given_a_file_over_the_size_limit_then_it_is_rejected_without_reading_it(aws, small_limits, monkeypatch):
    aws.put_object(Bucket=DATA, Key="training/good.csv", Body=GOOD)
    aws.put_object(Bucket=DATA, Key="training/huge.csv", Body=HEADER + b"\n" + ROWS * 2)
    downloaded, get_object = [], aws.get_object
    monkeypatch.setattr(aws, "get_object", lambda **kw: downloaded.append(kw["Key"]) or get_object(**kw))
    scoring = dataclasses.replace(small_limits.scoring, max_file_bytes=len(GOOD) + 10)
    data = read_labeled_data(aws, DATA, dataclasses.replace(small_limits, scoring=scoring))
    huge = _by_key(data.files)["training/huge.csv"]
    assert huge["rejected"]["kind"] == "too_large" and "limit" in huge["rejected"]["error"]
    assert downloaded == ["training/good.csv"] and len(data.labels) == 1500
