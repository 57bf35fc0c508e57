"""The champion's age in days, published as `ChampionAgeDays`: registry -> manifest -> age -> metric.

The age counts from the model's training (its manifest's `created_at`), not from its promotion: a model
promoted today, or brought back by `mlops rollback`, knows nothing newer than the data it was trained on,
and that is what goes stale.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlops_core.observability import CHAMPION_AGE_DAYS, datum, put_metrics
from mlops_core.registry.store import Registry

SECONDS_PER_DAY = 86_400


class ManifestDateError(ValueError):
    """The champion's manifest has no usable `created_at`, so its age cannot be told."""


def champion_age_days(*, registry: Registry, now: datetime) -> tuple[str, float] | None:
    """(version, days since it was trained) of the champion, or None when there is no champion yet."""
    champion = registry.champion()
    if champion is None:
        return None
    created_at = registry.manifest(champion.version).get("created_at")
    try:
        trained = datetime.fromisoformat(str(created_at))
    except ValueError:
        trained = None
    if trained is None or trained.tzinfo is None:
        raise ManifestDateError(
            f"the manifest of champion {champion.version} has created_at {created_at!r}, not an ISO 8601 time "
            "with its UTC offset, so its age cannot be told: train a new version or roll back to one this "
            "pipeline trained (`mlops rollback VERSION`)"
        )
    return champion.version, (now - trained).total_seconds() / SECONDS_PER_DAY


def publish_champion_age(
    *, registry: Registry, cloudwatch: Any, pipeline: str, namespace: str, now: datetime
) -> dict[str, Any]:
    """Publish the champion's age; with no champion, publish nothing.

    Nothing is the honest datum: the champion-age alarm reads a period without one as missing data
    (INSUFFICIENT_DATA), not as a fresh or a stale model.
    """
    found = champion_age_days(registry=registry, now=now)
    if found is None:
        return {"published": False, "reason": "no-champion"}
    version, age_days = found
    put_metrics(cloudwatch, [datum(CHAMPION_AGE_DAYS, age_days, pipeline=pipeline)], namespace=namespace)
    return {"published": True, "version": version, "age_days": round(age_days, 6)}
