"""The online endpoint end to end on local AWS, on a project stack of its own (the churn project with
`[online]` on, one-minute windows): answers over HTTP equal batch scoring of the same rows byte for byte, a
bad record gets a 400 naming its field, and one window of drifted traffic (with its labels posted to
/feedback) is scored as a batch, raises the drift alarm, retraining promotes, and the endpoint then answers
with the new version.
"""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlops_core.config import CONFIG_ENV
from mlops_core.storage import layout
from mlopsctl import online, stack, standing
from mlopsctl.datagen import generate
from mlopsctl.demo import Timeline

from .conftest import ROOT, deploy_own_stack, mlops

NUMERIC = ("tenure_months", "monthly_charges", "support_calls", "data_usage_gb")
BATCH = 500  # records per request (the project's max_records)


def _project(tmp_path: Path) -> Path:
    """The demo's churn project under another name, with the endpoint on and windows of one minute."""
    text = (ROOT / "mlops.toml").read_text().replace('name = "mlops"', 'name = "online"', 1)
    online_section = (
        '\n[online]\nenabled = true\nid_column = "customer_id"\nmax_records = 500\nmax_body_bytes = 1048576\n'
        "monitor_every_minutes = 1\nrefresh_seconds = 2\n"
    )
    path = tmp_path / "mlops.toml"
    path.write_text(text + online_section)
    return path


def _records(body: bytes, *, label: bool = False) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    return [{k: (float(v) if k in NUMERIC else v) for k, v in r.items() if label or k != "churned"} for r in rows]


def _post(pipeline: stack.Pipeline, route: str, records: list[dict]) -> tuple[int, dict]:
    """As `online.post`, the numbers kept as the text they were sent as (to compare digits)."""
    status, answer = online.post(pipeline, route, records)
    return status, json.loads(answer, parse_float=str)


def _close_window(pipeline: stack.Pipeline, window: str) -> dict:
    """Invoke the monitor until the window's report exists (it is due 15 s after the window ends)."""
    s3, function = pipeline.s3, pipeline.outputs["OnlineMonitorFunction"]

    def report() -> dict | None:
        pipeline.client("lambda").invoke(FunctionName=function, Payload=b"{}")
        found = s3.list_objects_v2(Bucket=pipeline.data_bucket, Prefix=layout.online_report_key(window))
        if not found.get("Contents"):
            return None
        return json.loads(
            s3.get_object(Bucket=pipeline.data_bucket, Key=layout.online_report_key(window))["Body"].read()
        )

    return stack.wait_for(f"window {window} closed", report, timeout_s=150, interval_s=5)


def _alarm_run(pipeline: stack.Pipeline, after_run: str) -> dict | None:
    for run in pipeline.ledger().recent(limit=5):
        if (
            run["run_id"] > after_run
            and run.get("trigger", {}).get("source") == "alarm"
            and run.get("status")
            in (
                "succeeded",
                "failed",
            )
        ):
            return run
    return None


@pytest.mark.usefixtures("local_aws")
def test_given_online_traffic_when_it_drifts_then_the_window_alarms_retraining_promotes_and_the_endpoint_serves_it(
    tmp_path, monkeypatch, request
):
    timeline = Timeline(print)  # in the test's log (pytest -s shows it as it goes)
    config_file = _project(tmp_path)
    outputs = deploy_own_stack(request, config_file, "e2e-online")
    timeline.step("stack deployed with the endpoint")
    assert outputs["OnlineEndpoint"].endswith("/prod/_user_request_/"), outputs["OnlineEndpoint"]
    cli = ("--config", str(config_file))
    assert mlops(*cli, "seed", "--rows", "8000").returncode == 0
    first = mlops(*cli, "train", "--reason", "e2e: first model")
    assert first.returncode == 0 and "promoted to champion" in first.stdout, first.stdout + first.stderr
    monkeypatch.setenv(CONFIG_ENV, str(config_file))
    pipeline = stack.Pipeline.connect(ROOT, "localstack")
    champion = pipeline.registry().champion().version
    timeline.step(f"first model {champion} trained and promoted")
    first_run = pipeline.ledger().recent(limit=1)[0]["run_id"]

    # The same rows over HTTP and as a file: the same bytes in every output column.
    body = generate(200, seed=21, with_label=False)
    status, answer = _post(pipeline, "predict", _records(body))
    assert status == 200 and answer["model_version"] == champion, answer
    (tmp_path / "same.csv").write_bytes(body)
    scored = mlops(*cli, "score", str(tmp_path / "same.csv"))
    assert scored.returncode == 0, scored.stdout + scored.stderr
    key = next(
        o["Key"]
        for o in pipeline.s3.list_objects_v2(Bucket=pipeline.data_bucket, Prefix="predictions/same/")["Contents"]
    )
    batch = list(
        csv.DictReader(
            io.StringIO(pipeline.s3.get_object(Bucket=pipeline.data_bucket, Key=key)["Body"].read().decode())
        )
    )
    assert [{k: str(v) for k, v in p.items()} for p in answer["predictions"]] == batch
    timeline.step("200 records over HTTP answered as their batch rows, byte for byte")

    bad = {**_records(body)[0], "tenure_months": "3"}
    status, answer = _post(pipeline, "predict", [bad])
    assert status == 400 and answer["errors"][0]["field"] == "tenure_months", answer
    assert answer["errors"][0]["kind"] == "number_as_text"
    timeline.step("a number sent as text: 400 naming tenure_months")

    # Drifted traffic, and its labels: one or two one-minute windows, each closed into batches.
    drifted = generate(4000, seed=22, covariate_shift=1.0, concept_shift=1.0)
    records, labeled = _records(drifted), _records(drifted, label=True)
    first_window = _window_now()
    for i in range(0, len(records), BATCH):
        assert _post(pipeline, "predict", records[i : i + BATCH])[0] == 200
        labels = [{"customer_id": r["customer_id"], "churned": r["churned"]} for r in labeled[i : i + BATCH]]
        assert _post(pipeline, "feedback", labels) == (202, {"accepted": len(labels)})
    timeline.step("4,000 drifted records predicted and their labels posted (8 + 8 requests)")
    windows = _windows(first_window, _window_now())
    reports = [_close_window(pipeline, layout.window_name(w)) for w in windows]
    assert 4000 <= sum(r["rows"] for r in reports) <= 4201, reports  # the earlier requests may share a window
    assert sum(r["labeled_rows"] for r in reports) == 4000 and not any(r["unmatched_labels"] for r in reports)
    timeline.step(f"{len(reports)} window(s) closed into batches: {[k for r in reports for k in r['batches']]}")

    run = stack.wait_for("an alarm-triggered training run", lambda: _alarm_run(pipeline, first_run), timeout_s=300)
    assert run["status"] == "succeeded" and run["promoted"], (run, standing.alarm_states(pipeline))
    new = run["version"]
    timeline.step(f"the drift alarm's run {run['run_id']} promoted {new}")
    assert pipeline.registry().champion().version == new != champion
    time.sleep(3)  # refresh_seconds = 2
    status, answer = _post(pipeline, "predict", _records(body)[:1])
    assert status == 200 and answer["model_version"] == new
    timeline.step("the endpoint answers with the new champion")
    traffic = standing.status(pipeline)["online"]["last_hour"]
    assert traffic["requests"] >= 10 and traffic["labels"] == 4000  # 8 drifted + 2 earlier to /predict


def _window_now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)  # monitor_every_minutes = 1


def _windows(first: datetime, last: datetime) -> list[datetime]:
    return [first + timedelta(minutes=k) for k in range(int((last - first).total_seconds()) // 60 + 1)]
