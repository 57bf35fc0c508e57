"""How a model search's leaderboard is shown (mlopsctl/leaderboard.py): `mlops status`, `mlops train`, the report."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mlopsctl import cli, runs, standing
from mlopsctl.leaderboard import last_search, search_lines, search_table
from tests.unit.mlopsctl.test_present import QUIET, offline  # noqa: F401  # offline: the CLI with no stack

SEARCH = {
    "method": "grid",
    "metric": "log_loss",
    "higher_is_better": False,
    "cv_folds": 5,
    "rows": 6400,
    "cv_fits": 30,
    "seconds": 12.34,
    "chosen": "LogisticRegression",
    "leaderboard": [
        {"rank": 1, "name": "LogisticRegression", "mean": 0.4512, "std": 0.0123, "best": {"C": 1.0}}
        | {"points": 3, "fits": 15, "seconds": 2.1},
        {"rank": 2, "name": "RandomForestClassifier", "mean": 0.4701, "std": 0.02, "best": {"max_depth": 6}}
        | {"points": 2, "fits": 10, "seconds": 8.0},
        {"rank": 3, "name": "<tree>", "mean": 0.52, "std": 0.031, "best": {}, "points": 1, "fits": 5, "seconds": 2.2},
    ],
}


def test_given_a_search_then_its_lines_say_what_was_searched_and_rank_the_candidates_best_first():
    lines = search_lines(SEARCH)
    assert lines[0] == (
        "model search: grid, 5-fold cross-validation on 6,400 training rows, 30 fits in 12.3 s; "
        "log_loss, lower is better:"
    )
    assert (
        lines[1] == "  1. LogisticRegression  log_loss 0.4512 ± 0.0123  C=1.0  (3 point(s), 15 fits, 2.1 s)  <- chosen"
    )
    assert lines[3] == "  3. <tree>  log_loss 0.5200 ± 0.0310  (fixed params)  (1 point(s), 5 fits, 2.2 s)"


def test_given_more_candidates_than_shown_then_the_rest_are_counted():
    lines = search_lines(SEARCH, top=1)
    assert len(lines) == 3 and lines[2] == "  ... and 2 more (`mlops status --json` has them all)"


def test_given_recent_runs_then_the_newest_successful_one_decides_whether_there_is_a_leaderboard():
    searched = {"run_id": "r1", "status": "succeeded", "version": "v1", "search": SEARCH}
    failed = {"run_id": "r2", "status": "failed"}
    assert last_search([failed, searched])["run_id"] == "r1"
    assert last_search([{"run_id": "r3", "status": "succeeded", "version": "v3"}, searched]) is None
    assert last_search([failed]) is None and search_lines(None) == [] and search_table(None) == ""


def test_given_a_search_then_the_report_table_escapes_names_and_marks_the_chosen_one():
    table = search_table({**SEARCH, "run_id": "r1", "version": "v1"})
    assert table.startswith("<p>model search of run r1 (v1): grid, 5-fold")
    assert "<td>LogisticRegression (chosen)</td><td>0.4512</td><td>0.0123</td><td>C=1.0</td>" in table
    assert "<td>&lt;tree&gt;</td>" in table and table.count("<tr>") == 4


@pytest.mark.usefixtures("offline")
def test_given_a_run_that_searched_when_status_then_its_leaderboard_follows_the_runs(monkeypatch):
    runs = [{"run_id": "r1", "status": "succeeded", "version": "v1", "trigger": {"source": "manual"}, "search": SEARCH}]
    state = {**QUIET, "champion": None, "versions": [], "runs": runs}
    monkeypatch.setattr(standing, "status", lambda pipeline: state)

    result = CliRunner().invoke(cli.app, ["status"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    at = lines.index("  r1  succeeded v1  manual")
    assert lines[at + 1].startswith("model search of run r1 (v1): grid, 5-fold cross-validation")
    assert lines[at + 2].startswith("  1. LogisticRegression  log_loss 0.4512") and lines[at + 5] == "recent decisions:"


@pytest.mark.usefixtures("offline")
def test_given_a_run_that_searched_when_train_then_the_leaderboard_follows_the_decision(monkeypatch):
    run = {"run_id": "r1", "status": "succeeded", "version": "v2", "promoted": True, "seconds": 3, "search": SEARCH}
    run |= {"decision": {"reasons": ["log_loss 0.45 <= floor 0.60"]}, "files": []}
    monkeypatch.setattr(
        runs, "start_training", lambda pipeline, reason, backend=None: {"started": True, "run_id": "r1"}
    )
    monkeypatch.setattr(runs, "wait_for_run", lambda pipeline, run_id, progress: run)
    monkeypatch.setattr(runs, "run_files", lambda pipeline, run: [])

    result = CliRunner().invoke(cli.app, ["train"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[2].startswith("model search: grid, 5-fold")
