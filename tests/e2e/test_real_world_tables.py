"""A real-world table on local AWS, as a new user meets one: the passengers example (examples/passengers: blank
ages and fares, names with commas, a port only production has) from `mlops init` to a data-quality alarm.

init writes the config from the training file -> deploy its own stack -> train (every row used: the blanks are
imputed) -> a clean batch (no drift) -> a batch whose `age` an upstream bug blanked (every row scored, the verdict
names the column, the QualityDriftedFeatures alarm fires) -> a batch with a new port (scored, counted, named).
"""

from __future__ import annotations

from mlops_core.config import CONFIG_ENV
from mlopsctl import stack, standing
from tests.unit.examples_loader import load_example

from .conftest import ROOT, deploy_own_stack, mlops

PROJECT = "passengers-e2e"


def test_given_a_table_with_gaps_when_init_trains_and_scores_then_rows_are_kept_a_blanked_column_alarms_and_a_new_port_is_named(  # noqa: E501
    local_aws, tmp_path, monkeypatch, request
):
    training, batch, broken, new_port = load_example("passengers").write(tmp_path / "data")
    config_file = tmp_path / "mlops.toml"
    init = mlops("init", str(training), "--label", "survived", "--name", PROJECT, "--out", str(config_file))
    assert init.returncode == 0, init.stdout + init.stderr
    assert 'missing = "impute"' in init.stdout and "age" in init.stdout

    outputs = deploy_own_stack(request, config_file, "e2e-passengers")
    cli = ("--config", str(config_file))
    assert mlops(*cli, "add-training-data", str(training)).returncode == 0
    trained = mlops(*cli, "train", "--reason", "e2e: a table with gaps")
    assert trained.returncode == 0 and "promoted to champion" in trained.stdout, trained.stdout + trained.stderr
    assert "training.csv: 2,000 used" in trained.stdout, trained.stdout

    clean = mlops(*cli, "score", str(batch))
    assert clean.returncode == 0 and "scored 500 of 500 rows" in clean.stdout, clean.stdout + clean.stderr
    assert "no drift" in clean.stdout, clean.stdout

    blanked = mlops(*cli, "score", str(broken))
    assert blanked.returncode == 0 and "scored 500 of 500 rows" in blanked.stdout, blanked.stdout + blanked.stderr
    assert "age: 100% missing" in blanked.stdout, blanked.stdout
    monkeypatch.setenv(CONFIG_ENV, str(config_file))
    pipeline = stack.Pipeline.connect(ROOT, "localstack")
    quality_alarm = outputs["QualityDriftedFeaturesAlarm"]
    stack.wait_for(
        "the data-quality alarm",
        lambda: standing.alarm_states(pipeline)[quality_alarm] == "ALARM",
        timeout_s=180,
        interval_s=3,
    )

    ported = mlops(*cli, "score", str(new_port))
    assert ported.returncode == 0 and "scored 500 of 500 rows" in ported.stdout, ported.stdout + ported.stderr
    assert "Galway" in ported.stdout, ported.stdout
