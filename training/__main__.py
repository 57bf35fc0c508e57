"""`python -m training [train]`: one training run, as SageMaker's container entrypoint or by hand.

Reads its environment as a `TrainingJobEnvironment` (DATA_BUCKET, MODELS_BUCKET, and RUN_ID, TRIGGER
set by the retraining function), prints the result as JSON, exits non-zero on failure; under
SageMaker the failure reason also goes to /opt/ml/output/failure.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import boto3

from mlops_core.config import load_config
from mlops_core.environment import TrainingJobEnvironment

from .job import run_job

SAGEMAKER_FAILURE_FILE = Path("/opt/ml/output/failure")


def main(argv: list[str]) -> int:
    """Run one training job; 0 on success, 1 on failure (a bad environment included), 2 on bad usage."""
    if argv and argv[0] not in ("train",):
        print(f"usage: python -m training [train]; got {' '.join(argv)}", file=sys.stderr)
        return 2
    try:
        result = _run(TrainingJobEnvironment.from_environment())
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        print(message, file=sys.stderr)
        # SageMaker's way to say why; elsewhere (by hand, in the Lambda) there may be no /opt/ml/output to write.
        with contextlib.suppress(OSError):
            SAGEMAKER_FAILURE_FILE.write_text(message)
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


def _run(env: TrainingJobEnvironment) -> dict[str, Any]:
    return run_job(
        s3=boto3.client("s3"),
        cloudwatch=boto3.client("cloudwatch"),
        sns=boto3.client("sns") if env.alert_topic_arn else None,
        data_bucket=env.data_bucket,
        models_bucket=env.models_bucket,
        config=load_config(),
        namespace=env.namespace,
        alert_topic_arn=env.alert_topic_arn,
        run_id=env.run_id,
        trigger=env.trigger,
        conditional_deletes=env.conditional_deletes,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
