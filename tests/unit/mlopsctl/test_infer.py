"""What `mlops init` infers from a CSV (mlopsctl/infer.py): types, ids and left-out columns, the label's task,
read through the project's reader and sampled, never loaded whole."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest

from mlops_core.data import FileRejected
from mlopsctl import infer as inference_module
from mlopsctl.infer import InferError, infer


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def titanic(path: Path, rows: int = 400) -> Path:
    """Titanic-like passengers: `survived` yes/no, `age` blank in 20% of rows, `sex` as text, names with commas,
    a constant `ship`, a `deck` blank everywhere."""
    rng = np.random.default_rng(7)
    blank_age = rng.random(rows) < 0.2
    body = [
        [
            i + 1,
            f"Surname{i}, Mr. Given{i}",
            rng.choice(["first", "second", "third"]),
            rng.choice(["male", "female"]),
            "" if blank_age[i] else f"{rng.uniform(1, 80):.1f}",
            f"{rng.lognormal(3, 1):.2f}",
            "Titanic",
            "",
            rng.choice(["yes", "no"]),
        ]
        for i in range(rows)
    ]
    header = ["passenger_id", "name", "passenger_class", "sex", "age", "fare", "ship", "deck", "survived"]
    return write_csv(path, header, body)


def kinds(result) -> dict[str, str]:
    return {c.name: c.kind for c in result.columns}


def test_given_titanic_like_data_when_inferred_then_types_ids_and_left_out_columns_are_found(tmp_path):
    result = infer(titanic(tmp_path / "titanic.csv"), "survived")

    assert kinds(result) == {
        "passenger_id": "id",
        "name": "id",
        "passenger_class": "categorical",
        "sex": "categorical",
        "age": "numeric",
        "fare": "numeric",
        "ship": "constant",
        "deck": "empty",
    }
    columns = {c.name: c for c in result.columns}
    assert 0.15 < columns["age"].blank_share < 0.25 and columns["fare"].blank_share == 0
    assert columns["sex"].categories == ("female", "male")
    assert (result.label.task, result.label.classes, result.label.positive) == ("binary", ("no", "yes"), "yes")
    assert "reads as the positive answer" in result.label.reason
    assert (result.rows, result.sampled) == (400, False)


def test_given_two_label_values_none_a_yes_when_inferred_then_the_second_in_order_is_positive_and_said_so(tmp_path):
    path = write_csv(tmp_path / "pets.csv", ["weight", "kind"], [[i, "cat" if i % 2 else "dog"] for i in range(50)])
    label = infer(path, "kind").label
    assert (label.task, label.positive) == ("binary", "dog")
    assert "second in sorted order" in label.reason


@pytest.mark.parametrize(
    ("labels", "task"),
    [
        ([str(i % 5) for i in range(100)], "multiclass"),
        (["red", "green", "blue"] * 30, "multiclass"),
        ([f"{i * 1.37:.2f}" for i in range(100)], "regression"),
        ([str(i) for i in range(100)], "regression"),  # more whole numbers than MAX_CLASSES: a count, not classes
    ],
)
def test_given_a_label_when_inferred_then_its_task_follows_its_values(tmp_path, labels, task):
    path = write_csv(tmp_path / "d.csv", ["x", "y"], [[i % 7, v] for i, v in enumerate(labels)])
    assert infer(path, "y").label.task == task


def test_given_a_regression_label_when_inferred_then_max_error_is_the_error_of_the_median(tmp_path):
    values = [1.5, 2.5, 3.5, 4.5, 100.5] * 10
    path = write_csv(tmp_path / "d.csv", ["x", "y"], [[i, v] for i, v in enumerate(values)])
    label = infer(path, "y").label
    assert label.max_error == pytest.approx(np.mean(np.abs(np.array(values) - 3.5)), rel=1e-3)


@pytest.mark.parametrize(
    ("task", "message"),
    [("binary", "needs 2 label values"), ("regression", "needs a numeric label")],
)
def test_given_a_task_that_does_not_fit_the_label_when_inferred_then_it_is_refused(tmp_path, task, message):
    path = write_csv(tmp_path / "d.csv", ["x", "y"], [[i, ["a", "b", "c"][i % 3]] for i in range(30)])
    with pytest.raises(InferError, match=message):
        infer(path, "y", task=task)


def test_given_id_columns_named_when_inferred_then_they_are_left_out_and_said_so(tmp_path):
    result = infer(titanic(tmp_path / "t.csv"), "survived", ids=["fare"])
    column = next(c for c in result.columns if c.name == "fare")
    assert (column.kind, column.reason) == ("id", "named with --id")


@pytest.mark.parametrize(
    ("label", "ids", "message"),
    [
        ("survivd", (), r"--label 'survivd' is not a column of the file; its columns: passenger_id, name"),
        ("survived", ("cabin",), r"--id 'cabin' is not a column"),
        ("survived", ("survived",), r"is the label: it cannot also be an --id"),
    ],
)
def test_given_a_column_not_in_the_file_when_inferred_then_the_columns_are_listed(tmp_path, label, ids, message):
    with pytest.raises(InferError, match=message):
        infer(titanic(tmp_path / "t.csv"), label, ids=ids)


def test_given_free_form_text_when_inferred_then_it_is_text_with_its_longest_cell(tmp_path):
    rng = np.random.default_rng(1)
    words = ["good", "bad", "cable", "arrived", "broken", "happy", "waste", "perfect", "order", "size"]
    texts = [" ".join(rng.choice(words, size=rng.integers(6, 30))) for _ in range(200)]
    path = write_csv(tmp_path / "r.csv", ["review", "y"], [[t, i % 2] for i, t in enumerate(texts)])
    (column,) = infer(path, "y").columns
    assert (column.kind, column.longest) == ("text", max(len(t) for t in texts))


def test_given_500_columns_when_inferred_then_each_is_typed_with_ids_and_constants_left_out(tmp_path):
    rng = np.random.default_rng(3)
    header = ["row_id", "source", *(f"x{i}" for i in range(498)), "y"]
    rows = [[f"r{i}", "batch-1", *np.round(rng.normal(size=498), 3), i % 2] for i in range(300)]
    result = infer(write_csv(tmp_path / "wide.csv", header, rows), "y")
    assert len(result.features) == 498 and {c.kind for c in result.features} == {"numeric"}
    assert kinds(result)["row_id"] == "id" and kinds(result)["source"] == "constant"


def test_given_a_file_larger_than_the_sample_when_inferred_then_only_its_head_is_read_in_whole_rows(
    tmp_path, monkeypatch
):
    path = titanic(tmp_path / "t.csv", rows=2000)
    monkeypatch.setattr(inference_module, "SAMPLE_BYTES", 8192)
    result = infer(path, "survived")
    assert result.sampled and 50 < result.rows < 400
    assert result.ragged_rows == 0 and kinds(result)["age"] == "numeric"  # no row cut in the middle


def test_given_more_rows_than_the_cell_budget_when_inferred_then_a_wide_file_samples_fewer_rows(tmp_path, monkeypatch):
    path = titanic(tmp_path / "t.csv", rows=1000)
    monkeypatch.setattr(inference_module, "SAMPLE_CELLS", 9 * 300)
    result = infer(path, "survived")
    assert (result.rows, result.sampled) == (300, True)


def test_given_a_gzipped_csv_when_inferred_then_it_is_read_like_the_plain_one(tmp_path):
    plain = titanic(tmp_path / "t.csv")
    zipped = tmp_path / "t.csv.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    assert kinds(infer(zipped, "survived")) == kinds(infer(plain, "survived"))


def test_given_a_file_that_is_not_csv_when_inferred_then_the_readers_guard_refuses_it(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(FileRejected, match="ZIP archive"):
        infer(path, "y")
