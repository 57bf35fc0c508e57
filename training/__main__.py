"""`python -m training [train]`: one training run, as SageMaker's container entrypoint or by hand.

Reads DATA_BUCKET, MODELS_BUCKET (and RUN_ID, TRIGGER set by the retraining function) from the
environment, prints the result as JSON, exits non-zero on failure; under SageMaker the failure
reason also goes to /opt/ml/output/failure.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import boto3

from mlops_core.config import load_config

from .job import run_job

SAGEMAKER_FAILURE_FILE = Path("/opt/ml/output/failure")


def main(argv: list[str]) -> int:
    if argv and argv[0] not in ("train",):
        print(f"usage: python -m training [train]; got {' '.join(argv)}", file=sys.stderr)
        return 2
    env = os.environ
    try:
        result = run_job(
            s3=boto3.client("s3"),
            cloudwatch=boto3.client("cloudwatch"),
            sns=boto3.client("sns") if env.get("ALERT_TOPIC_ARN") else None,
            data_bucket=env["DATA_BUCKET"],
            models_bucket=env["MODELS_BUCKET"],
            config=load_config(),
            namespace=env.get("METRICS_NAMESPACE", "MLOps"),
            alert_topic_arn=env.get("ALERT_TOPIC_ARN"),
            run_id=env.get("RUN_ID"),
            trigger=json.loads(env["TRIGGER"]) if env.get("TRIGGER") else None,
        )
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        print(message, file=sys.stderr)
        if SAGEMAKER_FAILURE_FILE.parent.is_dir():
            SAGEMAKER_FAILURE_FILE.write_text(message)
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
