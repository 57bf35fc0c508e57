"""`mlops init` end to end on files (mlopsctl/commands/init.py, mlopsctl/initwrite.py): the written mlops.toml
loads, finds what each example's own config declares, shows every default as a comment that round-trips,
and is never written over without --force."""

from __future__ import annotations

import re
import tomllib

import pytest
from typer.testing import CliRunner

from mlops_core.config import load_config, parse_config
from mlopsctl import cli
from mlopsctl.commands.common import CliError
from mlopsctl.infer import infer
from mlopsctl.initwrite import render

from ..examples_loader import example_config, load_example
from .test_infer import titanic, write_csv

LABELS = {
    "breast-cancer": "malignant",
    "diabetes": "progression",
    "iris": "species",
    "passengers": "survived",
    "reviews": "sentiment",
}


def run_init(*args: str):
    return CliRunner().invoke(cli.app, ["init", *args])


@pytest.mark.parametrize("example", sorted(LABELS))
def test_given_an_examples_training_data_when_init_runs_then_the_config_loads_with_the_examples_types_and_task(
    example, tmp_path
):
    training = load_example(example).write(tmp_path / "data")[0]
    out = tmp_path / "mlops.toml"

    result = run_init(str(training), "--label", LABELS[example], "--out", str(out))

    assert result.exit_code == 0, result.output
    written, expected = load_config(out), example_config(example)
    assert {f.name: f.type for f in written.features} == {f.name: f.type for f in expected.features}
    assert (written.task.kind, written.task.classes) == (expected.task.kind, expected.task.classes)
    if expected.task.kind == "binary":
        assert written.task.positive == expected.task.positive
    categories = {f.name: f.categories for f in expected.features if f.is_categorical}
    assert {f.name: f.categories for f in written.features if f.is_categorical} == categories
    assert f"label {LABELS[example]}: {expected.task.kind}" in result.output


def test_given_a_name_when_init_runs_then_the_project_has_it_and_a_bad_one_writes_nothing(tmp_path):
    data, out = titanic(tmp_path / "titanic.csv"), tmp_path / "mlops.toml"

    named = run_init(str(data), "--label", "survived", "--out", str(out), "--name", "passengers")
    bad = run_init(str(data), "--label", "survived", "--out", str(tmp_path / "bad.toml"), "--name", "Bad Name")

    assert named.exit_code == 0, named.output
    assert load_config(out).name == "passengers"
    assert isinstance(bad.exception, CliError) and "[project] name 'Bad Name'" in str(bad.exception)
    assert not (tmp_path / "bad.toml").exists()


def test_given_titanic_like_data_when_init_runs_then_blanks_impute_and_every_column_is_explained(tmp_path):
    out = tmp_path / "mlops.toml"
    result = run_init(str(titanic(tmp_path / "titanic.csv")), "--label", "survived", "--out", str(out))

    assert result.exit_code == 0, result.output
    config = load_config(out)
    features = {f.name: f for f in config.features}
    assert set(features) == {"passenger_class", "sex", "age", "fare"}
    assert (features["age"].type, features["age"].missing) == ("numeric", "impute")
    assert (features["sex"].type, features["sex"].missing, features["sex"].unknown) == (
        "categorical",
        "reject",
        "score",
    )
    assert (config.task.kind, config.task.positive) == ("binary", "yes")
    lines = result.output.splitlines()
    for column in ("passenger_id", "name", "passenger_class", "sex", "age", "fare", "ship", "deck"):
        assert len([line for line in lines if line.split()[:1] == [column]]) == 1, column
    assert re.search(r"^  age +numeric: .*% blank: missing = \"impute\"$", result.output, re.M)
    assert re.search(r"^  name +left out: id-like", result.output, re.M)
    assert re.search(r"^  deck +left out: every sampled cell is blank$", result.output, re.M)
    assert re.search(r"^  ship +left out: always 'Titanic'", result.output, re.M)
    assert "#   name: id-like" in out.read_text()


def test_given_a_column_mostly_blank_when_init_runs_then_it_is_named_as_over_the_bound(tmp_path):
    rows = [[i, "" if i % 10 else i * 2, i % 2] for i in range(100)]
    result = run_init(
        str(write_csv(tmp_path / "d.csv", ["x", "sparse", "y"], rows)),
        "--label",
        "y",
        "--out",
        str(tmp_path / "m.toml"),
    )
    assert re.search(r"^  sparse +numeric: .*90\.0% blank, over 50%", result.output, re.M), result.output


def test_given_an_existing_file_when_init_runs_without_force_then_it_is_left_as_it_was(tmp_path):
    out = tmp_path / "mlops.toml"
    out.write_text("# mine\n")
    data = str(titanic(tmp_path / "titanic.csv"))

    refused = run_init(data, "--label", "survived", "--out", str(out))
    assert isinstance(refused.exception, CliError) and "--force" in refused.exception.hint
    assert out.read_text() == "# mine\n"

    forced = run_init(data, "--label", "survived", "--out", str(out), "--force")
    assert forced.exit_code == 0 and load_config(out).label == "survived"


def test_given_the_written_file_when_every_default_comment_is_uncommented_then_the_config_is_the_same(tmp_path):
    text = render(infer(titanic(tmp_path / "titanic.csv"), "survived"))
    pattern = re.compile(r"^# (\w+ = .+?)  # .*$", re.M)
    examples = {"pipeline", "challenger_id_column", "schedule", "max_model_age_days", "max_silence_hours"}
    examples |= {"reference_floor", "reference_tolerance"}  # None: the value shown, taken from floor and tolerance
    uncommented = pattern.sub(lambda m: m.group(0) if m.group(1).split()[0] in examples else m.group(1), text)

    assert len(pattern.findall(text)) >= 50 and uncommented != text
    assert parse_config(tomllib.loads(uncommented)) == parse_config(tomllib.loads(text))


def test_given_a_regression_label_when_init_writes_then_max_error_is_set_from_the_data(tmp_path):
    rows = [[i % 9, f"{(i * 7919) % 1000 / 10:.1f}"] for i in range(300)]
    text = render(infer(write_csv(tmp_path / "d.csv", ["x", "price"], rows), "price"))
    config = parse_config(tomllib.loads(text))
    assert config.task.kind == "regression" and config.drift.max_error and config.promotion.metric == "r2"


def test_given_a_text_longer_than_scorings_default_when_init_writes_then_max_field_chars_is_raised(tmp_path):
    texts = [" ".join(["word"] * (50 + 60 * (i % 40))) + f" {i}" for i in range(120)]
    text = render(infer(write_csv(tmp_path / "t.csv", ["note", "y"], [[t, i % 2] for i, t in enumerate(texts)]), "y"))
    longest = max(len(t) for t in texts)
    assert parse_config(tomllib.loads(text)).scoring.max_field_chars >= 2 * longest > 1000
