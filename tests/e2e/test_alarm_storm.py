"""An alarm storm on local AWS: two alarms reach the retraining function at the same moment, and one training
run starts (the other is refused by the lock, an S3 conditional write) and succeeds.

A project stack of its own (the repo's config as project e2e-storm), seeded with training data and never
trained before: on the demo stack the demo's and the load test's alarm runs would hold the storm in their
cooldown for up to `retraining.cooldown_seconds`; here it runs at once, beside the demo stack's tests.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from mlops_core.config import CONFIG_ENV
from mlopsctl import runs, stack

from .conftest import ROOT, deploy_own_stack, mlops

PROJECT = "e2e-storm"


def storm_config(folder: Path) -> Path:
    text = (ROOT / "mlops.toml").read_text().replace('name = "mlops"', f'name = "{PROJECT}"', 1)
    path = folder / "mlops.toml"
    path.write_text(text)
    return path


def alarm_event(name: str) -> bytes:
    """What CloudWatch sends a Lambda alarm action when `name` goes from OK to ALARM."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return json.dumps(
        {
            "source": "aws.cloudwatch",
            "alarmArn": f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}",
            "accountId": "000000000000",
            "time": now,
            "region": "us-east-1",
            "alarmData": {
                "alarmName": name,
                "state": {"value": "ALARM", "reason": "alarm storm test", "timestamp": now},
                "previousState": {"value": "OK", "reason": "", "timestamp": now},
                "configuration": {"metrics": []},
            },
        }
    ).encode()


def test_given_two_alarms_at_the_same_moment_then_one_training_run_which_succeeds(
    local_aws, tmp_path, monkeypatch, request
):
    config_file = storm_config(tmp_path)
    deploy_own_stack(request, config_file, "e2e-storm")
    seeded = mlops("--config", str(config_file), "seed", "--rows", "2000")
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    monkeypatch.setenv(CONFIG_ENV, str(config_file))
    pipeline = stack.Pipeline.connect(ROOT, "localstack")

    function = pipeline.outputs["RetrainingFunction"]
    lambda_client = pipeline.client("lambda")
    alarms = [pipeline.outputs["DriftedFeatureShareAlarm"], pipeline.outputs["PredictionDriftScoreAlarm"]]

    def alarm(name: str) -> dict:
        return json.loads(lambda_client.invoke(FunctionName=function, Payload=alarm_event(name))["Payload"].read())

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(alarm, alarms))

    started = [r for r in responses if r.get("started")]
    assert len(started) == 1, responses
    assert {r["reason"] for r in responses if not r.get("started")} <= {"locked", "cooldown"}
    run = runs.wait_for_run(pipeline, started[0]["run_id"], timeout_s=300)
    assert run["status"] == "succeeded" and run["trigger"]["source"] == "alarm"
