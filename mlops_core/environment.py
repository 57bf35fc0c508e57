"""Each function's environment as one typed record, validated once at cold start.

The CDK app builds a function's environment from the same record (`as_environment`), so the
variable names live here only. A missing or malformed variable fails the function's init with a
message naming the variable, instead of a KeyError in the middle of the first invocation.

(Powertools' own validation uses pydantic models; pydantic is not in the layer, where every MB
counts against Lambda's 250 MB limit, and these records need only strings and a few integers.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, Self

from .observability import NAMESPACE


class EnvironmentVariableError(RuntimeError):
    """A function's environment is missing a variable or holds an invalid one."""


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("it is empty")
    return value


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("it must be a positive integer")
    return number


def _json_object(value: str) -> dict[str, Any]:
    parsed = json.loads(value)
    if not isinstance(parsed, dict):
        raise ValueError("it must be a JSON object")
    return parsed


def _flag(value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise ValueError("it must be true or false")
    return value.lower() == "true"


BACKENDS = ("lambda", "sagemaker", "container")
Backend = Literal["lambda", "sagemaker", "container"]


def _backend(value: str) -> str:
    if value not in BACKENDS:
        raise ValueError(f"it must be one of {', '.join(BACKENDS)}")
    return value


def _backends(value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(","))
    for name in names:
        _backend(name)
    return names


def env(name: str, parse: Callable[[str], Any] = _text, *, default: Any = MISSING) -> Any:
    """A dataclass field read from the environment variable `name` (optional when it has a default)."""
    return field(default=default, metadata={"env": name, "parse": parse})


class EnvironmentRecord:
    """Base of the environment records: reading from, and writing to, an environment."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Parse and validate the record from `environ` (default: os.environ)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]  # subclasses are dataclasses
            name, parse = f.metadata["env"], f.metadata["parse"]
            raw = environ.get(name)
            if raw is None:
                if f.default is MISSING:
                    raise EnvironmentVariableError(f"{cls.__name__}: environment variable {name} is not set")
                continue
            try:
                values[f.name] = parse(raw)
            except ValueError as exc:
                problem = f"environment variable {name}={raw[:80]!r} is invalid: {exc}"
                raise EnvironmentVariableError(f"{cls.__name__}: {problem}") from exc
        return cls(**values)

    def as_environment(self) -> dict[str, str]:
        """The environment variables that give this record (None fields are left out)."""
        out = {}
        for f in fields(self):  # type: ignore[arg-type]  # subclasses are dataclasses
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                out[f.metadata["env"]] = ",".join(value)
            elif value is not None:
                out[f.metadata["env"]] = json.dumps(value) if isinstance(value, dict | bool) else str(value)
        return out


@dataclass(frozen=True)
class ScoringEnvironment(EnvironmentRecord):
    data_bucket: str = env("DATA_BUCKET")
    models_bucket: str = env("MODELS_BUCKET")
    queue_url: str | None = env("SCORING_QUEUE_URL", default=None)  # None: large files are not fanned out
    namespace: str = env("METRICS_NAMESPACE", default=NAMESPACE)
    alert_topic_arn: str | None = env("ALERT_TOPIC_ARN", default=None)  # None: no drift alerts by SNS


@dataclass(frozen=True)
class TrainingJobEnvironment(EnvironmentRecord):
    """The training job's environment: the training Lambda, or the SageMaker container."""

    data_bucket: str = env("DATA_BUCKET")
    models_bucket: str = env("MODELS_BUCKET")
    namespace: str = env("METRICS_NAMESPACE", default=NAMESPACE)
    alert_topic_arn: str | None = env("ALERT_TOPIC_ARN", default=None)
    # Set per run by the SageMaker backend (the Lambda backend passes them in the event instead).
    run_id: str | None = env("RUN_ID", default=None)
    trigger: dict[str, Any] | None = env("TRIGGER", _json_object, default=None)
    # Whether S3 honours DeleteObject's IfMatch, so a run's lock is released only while it is that run's
    # (infra/targets.py: not on the local target).
    conditional_deletes: bool = env("S3_CONDITIONAL_DELETES", _flag, default=True)


@dataclass(frozen=True)
class RetrainingEnvironment(EnvironmentRecord):
    """The retraining function's own variables; its backend's are read by the backend's record."""

    models_bucket: str = env("MODELS_BUCKET")
    backend: Backend = env("TRAINING_BACKEND", _backend)  # where alarms' and schedules' runs train
    namespace: str = env("METRICS_NAMESPACE", default=NAMESPACE)
    alert_topic_arn: str | None = env("ALERT_TOPIC_ARN", default=None)  # None: a failure to start is not messaged
    conditional_deletes: bool = env("S3_CONDITIONAL_DELETES", _flag, default=True)  # see TrainingJobEnvironment
    # Every backend a manual run may name (`mlops train --backend`); default: `backend` alone.
    backends: tuple[Backend, ...] | None = env("TRAINING_BACKENDS", _backends, default=None)

    @property
    def available(self) -> tuple[Backend, ...]:
        """The backends this function can start, the default first."""
        return (self.backend, *(name for name in self.backends or () if name != self.backend))


@dataclass(frozen=True)
class TrainingEndedEnvironment(EnvironmentRecord):
    """The training-ended function's environment (lambdas/training_ended): it ends runs that could not report."""

    models_bucket: str = env("MODELS_BUCKET")
    namespace: str = env("METRICS_NAMESPACE", default=NAMESPACE)
    alert_topic_arn: str | None = env("ALERT_TOPIC_ARN", default=None)
    conditional_deletes: bool = env("S3_CONDITIONAL_DELETES", _flag, default=True)  # see TrainingJobEnvironment


@dataclass(frozen=True)
class LambdaBackendEnvironment(EnvironmentRecord):
    training_function_name: str = env("TRAINING_FUNCTION_NAME")


@dataclass(frozen=True)
class SageMakerBackendEnvironment(EnvironmentRecord):
    """What a SageMaker training job is created with (its job environment is a TrainingJobEnvironment)."""

    image_uri: str = env("TRAINING_IMAGE_URI")
    role_arn: str = env("SAGEMAKER_ROLE_ARN")
    instance_type: str = env("SAGEMAKER_INSTANCE_TYPE", default="ml.m5.large")
    max_runtime_s: int = env("SAGEMAKER_MAX_RUNTIME_S", _positive_int, default=3600)


@dataclass(frozen=True)
class ContainerBackendEnvironment(EnvironmentRecord):
    """The local container backend (training/local_jobs.py); its jobs are created from a SageMakerBackendEnvironment."""

    jobs_dir: str = env("LOCAL_TRAINING_JOBS_DIR")  # each job's /opt/ml folder, on the host
    memory_mb: int | None = env("LOCAL_TRAINING_MEMORY_MB", _positive_int, default=None)  # None: no limit


@dataclass(frozen=True)
class StalenessEnvironment(EnvironmentRecord):
    """The champion-age publisher's environment (lambdas/staleness): it reads the registry, publishes one metric."""

    models_bucket: str = env("MODELS_BUCKET")
    namespace: str = env("METRICS_NAMESPACE", default=NAMESPACE)


@dataclass(frozen=True)
class OnlineEnvironment(EnvironmentRecord):
    """The endpoint's function (lambdas/online): it reads the registry and writes what it captures."""

    data_bucket: str = env("DATA_BUCKET")
    models_bucket: str = env("MODELS_BUCKET")
    namespace: str = env("METRICS_NAMESPACE", default=NAMESPACE)
    alert_topic_arn: str | None = env("ALERT_TOPIC_ARN", default=None)  # None: a suspended challenger is not messaged


@dataclass(frozen=True)
class OnlineMonitorEnvironment(EnvironmentRecord):
    """The function that turns each window of captured traffic into a batch (lambdas/online_monitor)."""

    data_bucket: str = env("DATA_BUCKET")
    namespace: str = env("METRICS_NAMESPACE", default=NAMESPACE)
