"""How a failed training run is told: `TrainingRuns` and `TrainingFailures` (whose alarm tells people), and a
message to the alerts topic.

The training job (a run that raised), the retraining function (a backend that could not start) and the
training-ended function (a run that ended without reporting: a timeout, out of memory, a stopped job) all tell
a failure this one way, after recording it in the run's record and releasing its lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..observability import NAMESPACE, TRAINING_FAILURES, TRAINING_RUNS, datum, put_metrics

SNS_SUBJECT_CHARS = 100  # SNS refuses a longer subject


class TellsFailures(Protocol):
    def tell(self, run_id: str, error: str) -> None:
        """Count `run_id` as a failed run and tell people why (`error`)."""
        ...


@dataclass(frozen=True)
class FailureAlerts:
    """Publishes a failed run's metrics to CloudWatch and its message to the alerts topic (if there is one)."""

    cloudwatch: Any
    sns: Any | None
    topic_arn: str | None
    pipeline: str
    namespace: str = NAMESPACE

    def tell(self, run_id: str, error: str) -> None:
        put_metrics(self.cloudwatch, failure_metrics(self.pipeline), namespace=self.namespace)
        if self.sns is not None and self.topic_arn:
            self.sns.publish(
                TopicArn=self.topic_arn,
                Subject=f"{self.pipeline}: training run {run_id} failed"[:SNS_SUBJECT_CHARS],
                Message=f"Training run {run_id} failed; the champion is unchanged.\n\n{error}",
            )


def failure_metrics(pipeline: str) -> list[dict[str, Any]]:
    """One finished run, failed."""
    return [datum(TRAINING_RUNS, 1, pipeline=pipeline), datum(TRAINING_FAILURES, 1, pipeline=pipeline)]
