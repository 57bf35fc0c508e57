"""`[online]`: the HTTPS endpoint beside batch scoring (lambdas/online), and how its traffic is watched.

The endpoint answers with the same champion, checks and challenger as batch; what it receives is captured
under online/ and, every `monitor_every_minutes`, one window's captured rows become one batch through the
same drift verdict, metrics and alarms (lambdas/online_monitor).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError

# Lambda takes at most 6 MB per synchronous invocation (API Gateway allows 10 MB, and a body between the two
# would end as a 5xx before the function could explain it); the proxy event's own fields need some of the 6.
MAX_BODY_BYTES = 5 << 20
# EventBridge schedules in whole minutes; a window must divide a day so every window starts on the same clock.
MINUTES_PER_DAY = 24 * 60
CAPTURE_DAYS = 30  # captured requests and labels are kept as long as incoming/ keeps a batch (infra/storage.py)


@dataclass(frozen=True)
class OnlineSettings:
    enabled: bool = False
    max_records: int = 100  # records in one request; more is a 413 naming the limit
    max_body_bytes: int = 256 << 10  # a larger body is refused before it is parsed
    # The field records may carry to be passed through (and, with a split challenger, hashed to pick the model).
    id_column: str = "id"
    capture_share: float = 1.0  # the share of requests whose records are kept for monitoring
    monitor_every_minutes: int = 15  # one window of captured traffic becomes one batch
    # Labels posted to /feedback are joined by id with the records captured this many hours before them.
    feedback_lookback_hours: int = 24
    refresh_seconds: int = 10  # a promotion or rollback reaches the endpoint within this (plus a request)
    rate_limit: float = 50  # API Gateway stage throttling: steady requests per second
    burst_limit: int = 100  # and the burst above it
    max_5xx_rate: float = 0.01  # the alarm: more than this share of requests answered 5xx in a period

    def __post_init__(self) -> None:
        self._check_counts()
        if not 0 < self.capture_share <= 1:
            raise ConfigError("[online] capture_share must be above 0 and at most 1 (1 keeps every request)")
        if not 0 < self.max_5xx_rate < 1:
            raise ConfigError("[online] max_5xx_rate must be above 0 and below 1 (for example 0.01)")
        if not self.id_column.strip():
            raise ConfigError("[online] id_column must name a field (for example id)")

    def _check_counts(self) -> None:
        for name in (
            "max_records",
            "max_body_bytes",
            "monitor_every_minutes",
            "feedback_lookback_hours",
            "refresh_seconds",
            "burst_limit",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"[online] {name} must be a whole number above 0, not {value!r}")
        if isinstance(self.rate_limit, bool) or not isinstance(self.rate_limit, int | float) or self.rate_limit <= 0:
            raise ConfigError(f"[online] rate_limit must be a number above 0, not {self.rate_limit!r}")
        if self.max_body_bytes > MAX_BODY_BYTES:
            raise ConfigError(f"[online] max_body_bytes must be at most {MAX_BODY_BYTES} (Lambda's 6 MB request limit)")
        if MINUTES_PER_DAY % self.monitor_every_minutes:
            raise ConfigError(
                "[online] monitor_every_minutes must divide a day (1, 5, 10, 15, 30, 60, ...), "
                f"not {self.monitor_every_minutes}"
            )

    @property
    def window_seconds(self) -> int:
        return self.monitor_every_minutes * 60

    @property
    def retention_days(self) -> int:
        """How long online/ keeps what the endpoint captured: CAPTURE_DAYS, and never less than a label may
        look back for its record plus a day. The monitor closes any window still open within it."""
        return max(CAPTURE_DAYS, -(-self.feedback_lookback_hours // 24) + 1)
