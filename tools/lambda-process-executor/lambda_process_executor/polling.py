"""LocalStack's SQS event-source poller, made to wait what its setting says after a queue empties.

`esm_worker.poller_loop` backs off after an empty poll with `ExponentialBackoff(initial_interval=1,
max_interval=LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC)`. The initial interval is fixed and
jittered by half, so whatever the maximum, the first wait after a queue empties is 0.5 to 1.5 s. A file put
just after the previous one was scored waited that long: measured on the demo stack, a 10k-row file took
1.08 s from PUT to predictions (p50), of which the function 0.26 s. AWS's pollers long-poll without pause.
Capping the initial interval at the maximum makes the setting (`mlopsctl/localaws.py`) the longest wait.
"""

from __future__ import annotations

from typing import Any

from localstack.services.lambda_.event_source_mapping import esm_worker
from localstack.utils.backoff import ExponentialBackoff


def capped_backoff(**settings: Any) -> ExponentialBackoff:
    """An ExponentialBackoff whose first interval is no longer than its maximum."""
    if "initial_interval" in settings and "max_interval" in settings:
        settings["initial_interval"] = min(settings["initial_interval"], settings["max_interval"])
    return ExponentialBackoff(**settings)


def install() -> None:
    """Make the event-source workers LocalStack starts from now on use `capped_backoff`."""
    esm_worker.ExponentialBackoff = capped_backoff  # type: ignore[misc,assignment]
