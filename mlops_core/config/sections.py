"""The settings of each batch and each run: `[training]`, `[scoring]`, `[drift]`, `[promotion]`; and `[tracking]`,
the MLflow server the CLI keeps current.

Each section is one frozen record, checked when it is built: a bad value is refused with the setting named.
Every setting has a default (docs/configuration.md, "Defaults") but three that depend on the task, which
mlops_core/config/defaults.py fills in: the promotion metric with its floor and tolerance, and the drift alarm's
accuracy_floor or max_error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import ConfigError


@dataclass(frozen=True)
class TrainingSettings:
    window_files: int = 20  # the most recent N labeled files under training/, and as many under feedback/
    min_rows: int = 200  # a run with fewer usable rows fails
    max_bad_row_share: float = 0.05  # a run fails when a file skips more than this share of its rows
    # Uploads must not steer the model (training/sources.py): feedback rows are at most this share of a run's
    # rows, and one uploaded file's rows at most max_file_share; the rows left out are counted in the record.
    max_feedback_share: float = 0.5
    max_file_share: float = 0.5
    # A feature with missing = "impute" blank in more of a run's rows than this fails the run, named.
    max_missing_share: float = 0.5
    # Where runs train on local AWS: the training Lambda, or the training image (training/Dockerfile) in a local
    # container started as SageMaker starts it (`make image` builds it; podman or docker). On AWS, SageMaker.
    local_backend: Literal["lambda", "container"] = "lambda"

    def __post_init__(self) -> None:
        if self.local_backend not in ("lambda", "container"):
            raise ConfigError(f'[training] local_backend must be "lambda" or "container", not {self.local_backend!r}')
        for name in ("max_bad_row_share", "max_feedback_share", "max_file_share", "max_missing_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ConfigError(f"[training] {name} must be a number between 0 and 1, not {value!r}")


@dataclass(frozen=True)
class ScoringSettings:
    chunk_rows: int = 50_000
    max_file_bytes: int = 500 << 20  # 500 MB; a larger file is rejected with a report
    max_field_chars: int = 1000
    max_bad_row_share: float = 0.05  # above this share of bad rows the whole file is rejected
    byte_range_bytes: int = 64 << 20  # a larger file is split into byte ranges fanned out via SQS


@dataclass(frozen=True)
class DriftSettings:
    bins: int = 10
    min_rows: int = 200  # below this no drift verdict is published
    psi_threshold: float = 0.2  # method "psi": a feature (or the predictions) above this PSI has drifted
    drifted_share_threshold: float = 0.3  # the verdict is drift when this share of features drifted
    prediction_psi_threshold: float = 0.2
    accuracy_floor: float | None = None  # classification: alarm when a labeled batch's accuracy is below
    max_error: float | None = None  # regression: alarm when a labeled batch's mean absolute error is above
    # "adaptive": each feature's PSI is judged against what PSI looks like for a clean sample of the
    # batch's size (see mlops_core.monitoring.verdict.psi_threshold_for); "psi": the fixed thresholds above.
    method: Literal["adaptive", "psi"] = "adaptive"
    false_alarm_rate: float = 0.01  # adaptive: the share of clean batches that may be called drifted
    min_effect_psi: float = 0.05  # adaptive: a shift below this PSI is never drift, however large the batch
    # Data quality (mlops_core.monitoring.quality): a feature's missing or unknown share that moved less than
    # this (0.02: two percentage points) is never drift, however large the batch; either method.
    min_effect_share: float = 0.02
    estimated_accuracy_floor: float = 0.7  # alarm when the label-free accuracy estimate falls below this
    reference_sample_rows: int = 2000  # rows kept for the multivariate check; 0 turns it off
    alarm_after: str = "1 of 1"  # "M of N": M drifted batches among the last N periods raise an alarm

    @property
    def alarm_datapoints(self) -> tuple[int, int]:
        """(M, N) of `alarm_after`."""
        m, _, n = self.alarm_after.partition(" of ")
        return int(m), int(n)

    def __post_init__(self) -> None:
        if self.method not in ("adaptive", "psi"):
            raise ConfigError(f"[drift] method must be adaptive or psi, not {self.method!r}")
        if not 0 < self.false_alarm_rate < 0.5:
            raise ConfigError("[drift] false_alarm_rate must be above 0 and below 0.5 (for example 0.01)")
        if not 0 <= self.min_effect_share < 1:
            raise ConfigError("[drift] min_effect_share must be at least 0 and below 1 (for example 0.02)")
        if not 0 < self.drifted_share_threshold <= 1:
            raise ConfigError("[drift] drifted_share_threshold must be above 0 and at most 1")
        try:
            m, n = self.alarm_datapoints
        except ValueError:
            m, n = 0, 0
        if not 1 <= m <= n:
            raise ConfigError(f"[drift] alarm_after must read 'M of N' with 1 <= M <= N, not {self.alarm_after!r}")


@dataclass(frozen=True)
class PromotionSettings:
    metric: str
    tolerance: float
    floor: float
    # The reference holdout (holdout/, or curated training/ rows; training/train.py) is a second gate that
    # uploads cannot move: the candidate must reach reference_floor there (None: `floor`) and come within
    # reference_tolerance of the champion on the same rows (None: 5 x `tolerance`). Looser than the fresh
    # gate on purpose: a model adapted to drift loses a little on older rows, a steered one loses much more
    # (churn demo: drift adaptation -0.028 ROC AUC, twenty poisoned uploads -0.079; docs/registry.md).
    reference_floor: float | None = None
    reference_tolerance: float | None = None
    # What a candidate that passed the gate becomes while a champion exists: the champion ("off"), or a
    # challenger that scores beside it ("shadow") or serves a share of rows ("split") until the rule in
    # mlops_core/registry/challenger.py promotes or retires it.
    challenger: Literal["off", "shadow", "split"] = "off"
    challenger_share: float = 0.1  # split: the share of rows the challenger scores
    challenger_id_column: str | None = None  # split: the column whose hash assigns a row to a model
    challenger_confidence: float = 0.95  # the rule's one-sided confidence
    challenger_min_rows: int = 500  # labeled rows per model before the rule decides
    challenger_max_rows: int = 20_000  # labeled rows per model after which no difference retires it
    # "auto": a candidate that passes the gate is put in place at once; "manual": it waits, pending, for
    # `mlops approve` (or `mlops reject`), and expires after `pending_ttl_days`.
    approval: Literal["auto", "manual"] = "auto"
    pending_ttl_days: float = 7

    def __post_init__(self) -> None:
        self._check_challenger()
        tolerance = self.reference_tolerance
        if tolerance is not None and (isinstance(tolerance, bool) or not isinstance(tolerance, int | float)):
            raise ConfigError(f"[promotion] reference_tolerance must be a number (at least 0), not {tolerance!r}")
        if tolerance is not None and tolerance < 0:
            raise ConfigError(f"[promotion] reference_tolerance must be at least 0, not {tolerance!r}")
        if self.approval not in ("auto", "manual"):
            raise ConfigError(f'[promotion] approval must be "auto" or "manual", not {self.approval!r}')
        ttl = self.pending_ttl_days
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
            raise ConfigError(
                f"[promotion] pending_ttl_days must be a number of days above 0 (for example 7), not {ttl!r}"
            )

    def _check_challenger(self) -> None:
        if self.challenger not in ("off", "shadow", "split"):
            raise ConfigError(f"[promotion] challenger must be off, shadow or split, not {self.challenger!r}")
        if not 0 < self.challenger_share < 1:
            raise ConfigError("[promotion] challenger_share must be above 0 and below 1 (for example 0.1)")
        if self.challenger == "split" and not self.challenger_id_column:
            raise ConfigError(
                '[promotion] challenger = "split" needs challenger_id_column: the column (an id) whose hash '
                "sends each row to the same model every time"
            )
        if not 0.5 < self.challenger_confidence < 1:
            raise ConfigError("[promotion] challenger_confidence must be above 0.5 and below 1 (for example 0.95)")
        if not 1 <= self.challenger_min_rows <= self.challenger_max_rows:
            raise ConfigError("[promotion] needs 1 <= challenger_min_rows <= challenger_max_rows")


# A tracking server, SageMaker's managed MLflow, or MLflow's own store in a local SQLite file.
TRACKING_URI_SCHEMES = ("http://", "https://", "arn:aws:sagemaker:", "sqlite:///")


@dataclass(frozen=True)
class TrackingSettings:
    """`[tracking]`: an MLflow tracking server the CLI keeps current (docs/registry.md#your-runs-in-mlflow)."""

    # Set: every `mlops` command that trains, registers, decides or shows the registry syncs it to this server
    # when it is done (`mlops mlflow sync`).
    mlflow_uri: str | None = None
    experiment: str | None = None  # the MLflow experiment (None: the project's name)

    def __post_init__(self) -> None:
        uri = self.mlflow_uri
        if uri is None:
            return
        if not isinstance(uri, str) or not uri.startswith(TRACKING_URI_SCHEMES):
            raise ConfigError(
                "[tracking] mlflow_uri must be an http(s):// URL, a SageMaker MLflow ARN (arn:aws:sagemaker:...) or "
                f"an MLflow SQLite store (sqlite:///...), not {uri!r}"
            )
        if "@" in uri.partition("://")[2].partition("/")[0]:
            # The config file is bundled into the functions and recorded in every model's manifest.
            raise ConfigError(
                "[tracking] mlflow_uri must not carry credentials (user:password@): the file is recorded in every "
                "model's manifest; set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD in the environment"
            )
        if self.experiment is not None and not (isinstance(self.experiment, str) and self.experiment.strip()):
            raise ConfigError(f"[tracking] experiment must be a name, not {self.experiment!r}")
