"""How the CLI and the HTML report show each task's results (mlopsctl.present and its callers), without AWS."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_core.registry.store import UnknownVersion
from mlopsctl import batches, cli, present, report, runs, standing
from mlopsctl.commands import common
from mlopsctl.demo import _drift_text

IRIS = {
    "key": "training/iris.csv",
    "etag": "e1",
    "sha256": "ab",
    "rows": 118,
    "skipped_rows": 2,
    "skipped": {"bad_feature": 0, "bad_label": 2, "missing_label": 0},
    "bad_labels": {"virginca": 2},
}
CLEAN = {"key": "feedback/b.csv", "rows": 1200, "skipped_rows": 0, "skipped": {}}
REJECTED = {
    "key": "training/photo.csv",
    "rejected": {"kind": "not_csv", "error": "training/photo.csv is a PNG image, not a CSV file", "fix": "export CSV"},
    "rows": 0,
    "skipped_rows": 0,
}
BINARY = {"rows": 4000, "accuracy": 0.8123, "f1": 0.8, "roc_auc": 0.8702, "log_loss": 0.41}
MULTICLASS = {
    "rows": 150,
    "accuracy": 0.9333,
    "f1_macro": 0.9301,
    "log_loss": 0.2,
    "recall": {"setosa": 1.0, "versicolor": 0.9, "virginica": 0.9},
    "unseen_classes": {"iris-x": 3},
}
REGRESSION = {"rows": 300, "rmse": 1.8712, "mae": 1.2345, "r2": 0.8123}


# ---------------------------------------------------------------------------- training data
def test_given_a_file_with_bad_labels_then_its_line_counts_used_skipped_and_the_bad_values():
    assert present.file_line(IRIS) == "training/iris.csv: 118 used; skipped 2 (bad_label 2: 'virginca' x2)"


def test_given_several_skip_reasons_then_each_is_listed_in_order():
    entry = {**IRIS, "skipped_rows": 5, "skipped": {"bad_feature": 2, "bad_label": 2, "missing_label": 1}}

    assert present.file_line(entry) == (
        "training/iris.csv: 118 used; skipped 5 (bad_feature 2, bad_label 2: 'virginca' x2, missing_label 1)"
    )


def test_given_feedback_capped_by_its_bound_then_the_line_says_how_many_rows_were_left_out_and_why():
    entry = {"key": "feedback/a/e.csv", "source": "feedback", "rows": 40, "capped_rows": 260, "skipped_rows": 0}

    assert present.file_line(entry) == (
        "feedback/a/e.csv: 40 used; left out 260 (feedback bound: training.max_feedback_share / max_file_share)"
    )


def test_given_a_reference_holdout_file_then_its_line_says_it_judges_rather_than_trains():
    entry = {"key": "holdout/reference.csv", "source": "holdout", "rows": 800, "skipped_rows": 0}

    assert present.file_line(entry) == "holdout/reference.csv: 800 in the reference holdout"


def test_given_a_rejected_file_then_its_line_names_the_kind_error_and_fix():
    line = present.file_line(REJECTED)

    assert line == (
        "training/photo.csv: rejected (not_csv): training/photo.csv is a PNG image, not a CSV file; fix: export CSV"
    )


def test_given_files_then_a_line_each_and_a_total():
    lines = present.accounting_lines([IRIS, CLEAN, REJECTED])

    assert lines[1] == "feedback/b.csv: 1,200 used"
    assert lines[-1] == "total: 1,318 rows used, 2 skipped, from 3 file(s); 1 rejected"
    assert present.accounting_lines([]) == []


# ---------------------------------------------------------------------------- labeled batches
def test_given_a_binary_labeled_batch_then_accuracy_and_roc_auc():
    assert present.labeled_lines(BINARY) == ["labeled rows: 4,000; accuracy 0.812, ROC AUC 0.870"]


def test_given_a_multiclass_labeled_batch_then_macro_f1_recall_per_class_and_an_unseen_warning():
    lines = present.labeled_lines(MULTICLASS)

    assert lines[0] == "labeled rows: 150; accuracy 0.933, macro F1 0.930"
    assert lines[1] == "recall per class: setosa 1.000 versicolor 0.900 virginica 0.900"
    assert lines[2].startswith("warning: 3 labeled row(s) hold classes the model does not know ('iris-x' x3)")
    assert "count as wrong predictions" in lines[2]


def test_given_a_regression_labeled_batch_then_mae_rmse_and_r2():
    assert present.labeled_lines(REGRESSION) == ["labeled rows: 300; MAE 1.234, RMSE 1.871, R² 0.812"]


def test_given_a_single_row_regression_batch_then_r2_is_shown_as_not_available():
    assert present.labeled_lines({**REGRESSION, "rows": 1, "r2": float("nan")})[0].endswith("R² n/a")


def test_given_no_labels_then_no_lines():
    assert present.labeled_lines(None) == []
    assert present.labeled_brief(None) == ""


def test_given_a_receipt_from_before_tasks_then_its_accuracy_is_read_as_labeled():
    old = {"accuracy": {"rows": 10, "accuracy": 0.5}}

    assert present.labeled_of(old) == {"rows": 10, "accuracy": 0.5}
    assert present.labeled_of({"labeled": None, "accuracy": None}) is None


def test_given_a_binary_receipt_then_the_demo_prints_what_it_printed_before():
    drift = {"verdict": None, "rows": 10, "min_rows": 500}
    receipt = {"drift": drift, "labeled": BINARY}

    assert _drift_text(receipt) == "no verdict: 10 rows, a verdict needs 500; accuracy 0.812"
    assert _drift_text({"drift": drift, "labeled": None}) == "no verdict: 10 rows, a verdict needs 500"
    assert _drift_text({"drift": drift, "labeled": REGRESSION}).endswith("; MAE 1.234")


# ---------------------------------------------------------------------------- models
def test_given_metrics_with_a_recall_dict_then_it_shows_compactly():
    text = present.metrics_text({"accuracy": 0.93331, "f1_macro": 0.9, "rows": 30, "recall": {"a": 1.0, "b": 0.875}})

    assert text == "accuracy=0.9333  f1_macro=0.9000  recall[a=1.00 b=0.88]"


def test_given_many_classes_then_the_compact_form_names_the_first_and_counts_the_rest():
    recall = {f"c{i}": 0.5 for i in range(12)}

    assert present.compact(recall).endswith(", ... and 4 more")


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({}, "binary, 2 classes: 0, 1 (positive 1)"),
        (
            {"task": "multiclass", "classes": ["setosa", "versicolor", "virginica"], "classes_found_in_data": True},
            "multiclass, 3 classes: setosa, versicolor, virginica; found in the training data",
        ),
        (
            {"task": "binary", "classes": ["no", "yes"], "positive_class": "no"},
            "binary, 2 classes: no, yes (positive no)",
        ),
        ({"task": "regression", "classes": []}, "regression"),
    ],
)
def test_given_a_schema_then_the_task_text_names_kind_and_classes(schema, expected):
    assert present.task_text(schema) == expected


# ---------------------------------------------------------------------------- HTML report
MULTICLASS_PROFILE = {
    "task": "multiclass",
    "features": {},
    "prediction": {"type": "categorical", "categories": ["setosa", "versicolor"], "proportions": [0.6, 0.4]},
}


def drift_report(at: str, *, labeled: dict | None = None, estimate: float | None = None) -> dict[str, Any]:
    performance = {"estimated_accuracy": estimate} if estimate is not None else None
    return {
        "at": f"2024-05-01T{at}",
        "key": f"incoming/{at}.csv",
        "rows": 600,
        "model_version": "v1",
        "drift": {"verdict": False, "performance": performance, "actual": {"prediction": [0.5, 0.5, 0.0]}},
        "labeled": labeled,
    }


def test_given_a_multiclass_profile_then_the_prediction_chart_shows_class_shares_without_other():
    title, spec, other = present.prediction_chart(MULTICLASS_PROFILE)

    labels, expected, batch = present.chart_bars(spec, [0.5, 0.5, 0.0], other=other)

    assert title == "predicted class"
    assert (labels, expected, batch) == (["setosa", "versicolor"], [0.6, 0.4], [0.5, 0.5])


def test_given_a_binary_or_regression_profile_then_the_prediction_chart_is_numeric_bins():
    binary = {"prediction": {"edges": [0.5], "proportions": [0.4, 0.6]}}  # a profile from before tasks

    title, spec, _ = present.prediction_chart(binary)

    assert title == "prediction score"
    assert present.chart_bars(spec, None)[0] == ["<=0.5", ">0.5"]
    assert present.prediction_chart({**binary, "task": "regression"})[0] == "predicted value"


def test_given_a_categorical_feature_then_its_chart_keeps_the_other_bin():
    spec = {"type": "categorical", "categories": ["a"], "proportions": [1.0]}

    assert present.chart_bars(spec, [0.7, 0.3]) == (["a", "other"], [1.0, 0.0], [0.7, 0.3])


def test_given_binary_batches_then_performance_points_are_estimates_with_realized_accuracy():
    reports = [
        drift_report("10:00:00", estimate=0.9),
        drift_report("10:05:00", estimate=0.8, labeled=BINARY),
        {**drift_report("10:10:00", estimate=0.7), "labeled": None, "accuracy": {"rows": 5, "accuracy": 0.6}},
        drift_report("10:15:00", labeled=BINARY),  # no estimate: not a point, as before
    ]

    assert present.performance_points(reports, "binary") == [
        ("10:00:00", 0.9, None),
        ("10:05:00", 0.8, 0.8123),
        ("10:10:00", 0.7, 0.6),
    ]


def test_given_regression_batches_then_performance_points_are_the_labeled_batches_mae():
    reports = [drift_report("10:00:00"), drift_report("10:05:00", labeled=REGRESSION)]

    assert present.performance_points(reports, "regression") == [("10:05:00", None, 1.2345)]
    assert present.performance_points(reports, "multiclass") == []


def test_given_labeled_multiclass_batches_then_the_recall_table_has_a_column_per_class_newest_first():
    reports = [
        drift_report("10:00:00", labeled={**MULTICLASS, "recall": {"setosa": 0.5, "versicolor": 1.0}}),
        drift_report("10:05:00", labeled={**MULTICLASS, "unseen_classes": {"<b>": 1}}),
        drift_report("10:10:00"),
    ]

    table = present.recall_table(reports, ["setosa", "versicolor"])

    assert "<th>recall setosa</th><th>recall versicolor</th><th>recall virginica</th>" in table
    assert table.index("10:05:00") < table.index("10:00:00")
    assert "&#x27;&lt;b&gt;&#x27; x1" in table  # label values are escaped
    assert present.recall_table([drift_report("10:00:00")], ["a"]) == ""


def test_given_a_regression_champion_then_the_report_draws_mae_per_labeled_batch(tmp_path):
    reports = [drift_report("10:00:00", labeled=REGRESSION), drift_report("10:05:00", labeled=REGRESSION)]

    section = report._performance_section(reports, {"task": "regression"}, tmp_path)

    assert section.startswith("<h2>Error of labeled batches</h2><img")
    assert (tmp_path / "performance.png").stat().st_size > 0


def test_given_a_multiclass_champion_then_the_report_has_class_share_and_recall_sections(tmp_path):
    reports = [drift_report("10:00:00", labeled=MULTICLASS)]

    sections = report._feature_sections(reports, MULTICLASS_PROFILE, reports[0], tmp_path)
    performance = report._performance_section(reports, MULTICLASS_PROFILE, tmp_path)

    assert sections == ['<h3>predicted class</h3><img src="prediction.png" alt="predicted class">']
    assert "<th>recall setosa</th>" in performance
    assert (tmp_path / "prediction.png").stat().st_size > 0


def test_given_hostile_feature_names_then_charts_stay_in_the_folder_and_the_page_escapes_them(tmp_path):
    names = ["../../outside", 'a "quoted" <b>name</b>', "a b", "a_b", "plain"]
    spec = {"type": "numeric", "edges": [0.5], "proportions": [0.5, 0.5]}
    profile = {"task": "binary", "features": dict.fromkeys(names, spec), "prediction": spec}
    out = tmp_path / "report"
    out.mkdir()

    sections = report._feature_sections([drift_report("10:00:00")], profile, None, out)

    written = sorted(p.name for p in tmp_path.rglob("*.png"))
    assert all(p.parent == out for p in tmp_path.rglob("*.png")) and len(written) == len(names) + 1
    assert "plain.png" in written and "prediction.png" in written
    page = "".join(sections)
    sources = re.findall(r'src="([^"]*)"', page)
    assert sorted(sources) == written and not any("/" in src or src.startswith(".") for src in sources)
    assert "<b>" not in page and "&lt;b&gt;" in page


def test_given_a_report_row_then_every_cell_is_escaped():
    row = {**drift_report("10:00:00"), "key": "incoming/<i>.csv", "rows": "<script>", "model_version": "v<1>"}
    row["drift"] = {"verdict": None, "reason": "fewer than <min_rows> rows"}

    cells = report._batch_rows([row])

    assert "<script>" not in cells and "&lt;script&gt;" in cells and "<i>" not in cells and "<1>" not in cells


def test_given_a_binary_champion_without_estimates_then_the_report_says_so_as_before(tmp_path):
    section = report._performance_section([drift_report("10:00:00")], {"task": "binary"}, tmp_path)

    assert section == "<h2>Accuracy: estimated and realized</h2><p>No batch has a label-free estimate yet.</p>"


# ---------------------------------------------------------------------------- the CLI
@pytest.fixture
def offline(monkeypatch):
    """The CLI with no stack: `connect` returns a stand-in, and the ops the tests set answer."""
    monkeypatch.setattr(common, "connect", lambda target: object())
    return monkeypatch


def test_given_a_finished_run_when_train_then_the_row_accounting_follows_the_decision(offline):
    run = {"run_id": "r1", "status": "succeeded", "version": "v2", "promoted": True, "seconds": 3}
    run |= {"decision": {"reasons": ["accuracy 0.95 >= 0.90 (higher is better)"]}, "files": [IRIS, REJECTED]}
    offline.setattr(runs, "start_training", lambda pipeline, reason, backend=None: {"started": True, "run_id": "r1"})
    offline.setattr(runs, "wait_for_run", lambda pipeline, run_id, progress: run)

    result = CliRunner().invoke(cli.app, ["train"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].startswith("version v2 promoted to champion in 3 s")
    assert lines[2] == "  training/iris.csv: 118 used; skipped 2 (bad_label 2: 'virginca' x2)"
    assert lines[3].startswith("  training/photo.csv: rejected (not_csv)")
    assert lines[4] == "  total: 118 rows used, 2 skipped, from 2 file(s); 1 rejected"


def test_given_a_labeled_multiclass_batch_when_score_then_its_metrics_follow_the_verdict(offline, tmp_path):
    batch = tmp_path / "iris.csv"
    batch.write_text("a,label\n1,setosa\n")
    receipt = {"outcome": "scored", "scored": 150, "rows": 150, "model_version": "v1", "outputs": {}}
    receipt |= {"drift": {"verdict": None, "rows": 150, "min_rows": 500}, "labeled": MULTICLASS}
    offline.setattr(batches, "upload_for_scoring", lambda pipeline, body, name: {"key": "k", "etag": "e"})
    offline.setattr(batches, "wait_for_outcome", lambda pipeline, key, etag, timeout_s, progress: receipt)

    result = CliRunner().invoke(cli.app, ["score", str(batch)])

    assert result.exit_code == 0, result.output
    assert "  no verdict: 150 rows, a verdict needs 500\n  labeled rows: 150; accuracy 0.933" in result.stdout
    assert "  recall per class: setosa 1.000" in result.stdout
    assert "  warning: 3 labeled row(s)" in result.stdout


QUIET = {"alarms": {}, "queues": {"queue": 0, "queue_in_flight": 0, "dlq": 0}, "runs": [], "decisions": []}


def test_given_a_multiclass_champion_when_status_then_its_task_and_recall_show(offline):
    state = {
        "champion": {
            "version": "v1",
            "task": {"task": "multiclass", "classes": ["a", "b", "c"]},
            "metrics": {"accuracy": 0.9, "recall": {"a": 1.0, "b": 0.8, "c": 0.9}},
        },
        "versions": [{"version": "v1", "metrics": {"accuracy": 0.9}}],
        **QUIET,
    }
    offline.setattr(standing, "status", lambda pipeline: state)

    result = CliRunner().invoke(cli.app, ["status"])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("champion: v1  accuracy=0.9000  recall[a=1.00 b=0.80 c=0.90]\n")
    assert "  task: multiclass, 3 classes: a, b, c\n" in result.stdout
    assert "dead-letter queue: 0" in result.stdout


class StubRegistry:
    def __init__(self, manifests: dict[str, dict]) -> None:
        self.manifests = manifests

    def manifest(self, version: str) -> dict:
        if version not in self.manifests:
            raise UnknownVersion(version)
        return self.manifests[version]


class StubPipeline:
    def __init__(self, manifests: dict[str, dict]) -> None:
        self._registry = StubRegistry(manifests)

    def registry(self) -> StubRegistry:
        return self._registry


def test_given_a_run_record_without_files_then_the_accounting_comes_from_its_manifest():
    pipeline: Any = StubPipeline({"v2": {"data": [IRIS]}})

    assert runs.run_files(pipeline, {"version": "v1", "files": [CLEAN]}) == [CLEAN]
    assert runs.run_files(pipeline, {"version": "v2"}) == [IRIS]
    assert runs.run_files(pipeline, {"version": "v9"}) == []


# ---------------------------------------------------------------------------- candidates awaiting approval
HELD = {
    "version": "v2",
    "state": "pending",
    "champion": "v1",
    "expires_at": "2026-11-30T12:00:00+00:00",
    "decision": {"candidate_metrics": {"roc_auc": 0.8123, "rows": 400}, "champion_metrics": {"roc_auc": 0.8001}},
}


@pytest.mark.parametrize(
    ("now", "expiry"),
    [
        ("2026-11-23T11:00:00+00:00", "expires in 7 d 1 h"),
        ("2026-11-30T09:55:00+00:00", "expires in 2 h 5 min"),
        ("2026-11-30T13:30:00+00:00", "expired 1 h 30 min ago (approving or rejecting it records that)"),
    ],
)
def test_given_a_pending_candidate_then_its_line_shows_metrics_against_the_champion_and_its_expiry(now, expiry):
    line = present.pending_line(HELD, datetime.fromisoformat(now))
    assert line == f"v2  against champion v1: roc_auc 0.8123 (champion 0.8001)  {expiry}"


def test_given_a_first_model_being_approved_then_its_line_says_so():
    record = {**HELD, "state": "approving", "champion": None, "decision": {"candidate_metrics": {"roc_auc": 0.8}}}
    line = present.pending_line(record, datetime.fromisoformat("2026-11-24T00:00:00+00:00"))
    assert line == "v2  no champion yet: roc_auc 0.8000  being approved now"


def test_given_a_pending_candidate_when_status_then_it_is_listed_with_the_commands(offline):
    state = {**QUIET, "champion": None, "versions": [], "pending": [HELD]}
    offline.setattr(standing, "status", lambda pipeline: state)

    result = CliRunner().invoke(cli.app, ["status"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "awaiting approval (1): `mlops approve VERSION` or `mlops reject VERSION`"
    assert lines[2].startswith("  v2  against champion v1: roc_auc 0.8123 (champion 0.8001)  expire")


def test_given_a_held_candidate_when_train_then_it_says_it_awaits_approval(offline):
    run = {"run_id": "r1", "status": "succeeded", "version": "v2", "promoted": False, "pending": True, "seconds": 3}
    run |= {"decision": {"reasons": ["roc_auc 0.81 >= floor 0.60", "awaiting approval"]}, "files": [CLEAN]}
    offline.setattr(runs, "start_training", lambda pipeline, reason, backend=None: {"started": True, "run_id": "r1"})
    offline.setattr(runs, "wait_for_run", lambda pipeline, run_id, progress: run)

    result = CliRunner().invoke(cli.app, ["train"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].startswith("version v2 passed the gate and awaits approval in 3 s: roc_auc")
