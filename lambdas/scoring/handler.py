"""Lambda entry point: an SQS batch of S3 notifications (or byte-range messages) -> scoring logic.

Powertools' BatchProcessor reports each failed record as a batch item failure, so one file's
transient problem retries that file only.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from mlops_core.config import load_config
from mlops_core.environment import ScoringEnvironment
from mlops_core.observability import function_logger

from .logic import Clients, ScoringContext, score_job
from .messages import RefusedMessage, jobs_from_message

logger = function_logger("scoring")
processor = BatchProcessor(event_type=EventType.SQS)
REPORT_MARGIN_S = 30


@cache
def environment() -> tuple[ScoringContext, Clients]:
    """ScoringContext and clients, created once per execution environment and reused while warm."""
    clients = Clients(boto3.client("s3"), boto3.client("cloudwatch"), boto3.client("sqs"), boto3.client("sns"))
    return ScoringContext(ScoringEnvironment.from_environment(), load_config()), clients


def record_handler(record: SQSRecord, lambda_context: Any = None) -> None:
    context, clients = environment()
    deadline = None
    if lambda_context is not None:  # leave time to write the rejection report before the timeout
        deadline = time.monotonic() + lambda_context.get_remaining_time_in_millis() / 1000 - REPORT_MARGIN_S
    try:
        for job in jobs_from_message(record.json_body, context.data_bucket):
            logger.append_keys(file_key=job.key, part=job.part)
            outcome = score_job(job, clients=clients, context=context, deadline=deadline)
            logger.info("file processed", extra={"status": outcome.status, **outcome.detail})
    except RefusedMessage as refused:  # its batch item fails: retried, then kept in the dead-letter queue
        logger.error("message refused", extra={"reason": str(refused), "message_id": record.message_id})
        raise


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
