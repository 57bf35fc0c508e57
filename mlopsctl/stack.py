"""A deployed stack, as the operator's tools reach it: its outputs and boto3 clients aimed at the target
(`Pipeline`), the error an operator can fix (`OpsError`), and waiting until the stack has done something."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from mlops_core.config import load_config
from mlops_core.registry.approval import PendingRecords
from mlops_core.registry.runs import RunLedger
from mlops_core.registry.store import Registry

from .deploy import LOCAL_REGION, chosen_config, load_outputs


class OpsError(RuntimeError):
    """An operation failed in a way the operator can fix; `hint` says how."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass
class Pipeline:
    """A deployed stack: its outputs and clients aimed at the target's endpoint."""

    outputs: dict[str, str]
    session: boto3.Session
    endpoint: str | None

    @classmethod
    def connect(cls, root: Path, target: str = "localstack", endpoint: str | None = None) -> Pipeline:
        """The deployed stack of the chosen project (see mlops_core.config.project.config_path) on `target`."""
        config = load_config()
        outputs = load_outputs(root, target, config.stack_name)
        if not outputs:
            raise OpsError(
                f"project {config.name!r} is not deployed to {target} (no outputs of stack {config.stack_name})",
                f"run `{deploy_command(target)}` first",
            )
        if target == "localstack":
            session = boto3.Session(
                aws_access_key_id="test",
                aws_secret_access_key="test",  # noqa: S106
                region_name=LOCAL_REGION,
            )
            endpoint = endpoint or "http://127.0.0.1:4566"
        else:
            session, endpoint = boto3.Session(), None
        return cls(outputs, session, endpoint)

    def client(self, service: str, **config: Any) -> Any:
        return self.session.client(
            service, endpoint_url=self.endpoint, config=Config(retries={"mode": "standard"}, **config)
        )

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def data_bucket(self) -> str:
        return self.outputs["DataBucket"]

    @property
    def models_bucket(self) -> str:
        return self.outputs["ModelsBucket"]

    def registry(self) -> Registry:
        return Registry(self.s3, self.models_bucket)

    def pending(self) -> PendingRecords:
        """The candidates held for manual approval."""
        return PendingRecords(self.s3, self.models_bucket)

    @property
    def s3_conditional_deletes(self) -> bool:
        """Whether the stack's S3 honours DeleteObject's IfMatch (infra/targets.py: LocalStack's does not)."""
        return self.outputs.get("Target") != "localstack"

    def ledger(self) -> RunLedger:
        return RunLedger(self.s3, self.models_bucket, conditional_deletes=self.s3_conditional_deletes)

    def alarm_names(self) -> list[str]:
        return [v for k, v in self.outputs.items() if k.endswith("Alarm")]


def deploy_command(target: str) -> str:
    """The command that deploys the chosen project to `target`, as the operator would type it."""
    chosen = chosen_config()
    config_option = f"--config {_shown_path(chosen)} " if chosen else ""
    return f"mlops {config_option}deploy --target {target}"


def _shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_json(pipeline: Pipeline, key: str) -> dict[str, Any]:
    return json.loads(pipeline.s3.get_object(Bucket=pipeline.data_bucket, Key=key)["Body"].read())


def wait_for(
    what: str,
    probe: Callable[[], Any],
    *,
    timeout_s: float,
    interval_s: float = 1.0,
    progress: Callable[[float], None] | None = None,
) -> Any:
    """Call `probe` until it returns something truthy; raise OpsError after `timeout_s`."""
    started = time.monotonic()
    while True:
        result = probe()
        if result:
            return result
        elapsed = time.monotonic() - started
        if elapsed > timeout_s:
            raise OpsError(
                f"timed out after {timeout_s:.0f} s waiting for {what}",
                "see `mlops status` and the function logs (`mlops logs`)",
            )
        if progress:
            progress(elapsed)
        time.sleep(interval_s)
