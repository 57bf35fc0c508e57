"""The models the endpoint serves: the champion and its challenger, as scoring loads them, re-read from the
registry at most every `online.refresh_seconds`.

Scoring reads the champion pointer once per file; a request is far smaller than a file, so the endpoint
reads it once per `refresh_seconds` instead, and a promotion or rollback reaches it within that time.
The models themselves come from scoring's cache (SHA-256 checked before unpickling, kept while warm).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scoring.challenge import Alert, Contender, load_contender
from scoring.models import NoChampionYet, load_version

from mlops_core.registry.store import Registry


@dataclass(frozen=True)
class Serving:
    """The champion of the moment, with its manifest, and the challenger beside it (None: none)."""

    version: str
    model: Any
    manifest: dict[str, Any]
    contender: Contender | None


class ServingModels:
    """The champion and challenger, looked up again once `refresh_seconds` have passed since the last look."""

    def __init__(
        self,
        registry: Registry,
        *,
        refresh_seconds: float,
        alert: Alert,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.refresh_seconds = refresh_seconds
        self.alert = alert
        self.clock = clock
        self._serving: Serving | None = None
        self._looked_at = 0.0

    def current(self) -> Serving:
        """What serves this request; raises NoChampionYet while no model is promoted."""
        now = self.clock()
        if self._serving is None or now - self._looked_at >= self.refresh_seconds:
            self._serving = self._look_up()
            self._looked_at = now
        return self._serving

    def _look_up(self) -> Serving:
        champion = self.registry.champion()
        if champion is None:
            raise NoChampionYet("no champion model yet: train one (`mlops train`)")
        model, manifest = load_version(self.registry, champion.version)
        contender = load_contender(self.registry, champion.version, alert=self.alert)
        return Serving(champion.version, model, manifest, contender)
