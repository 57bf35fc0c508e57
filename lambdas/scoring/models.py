"""The champion model, loaded once per version and kept while the execution environment is warm."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from mlops_core.registry.store import Registry

from .messages import RefusedMessage

# The champion, the challenger, and the champion before them while byte ranges pinned to it finish.
MODEL_CACHE_SIZE = 3

_models: OrderedDict[str, tuple[Any, dict[str, Any]]] = OrderedDict()


class NoChampionYet(RuntimeError):
    """No model is promoted yet: the message is retried (and kept in the DLQ) until one is."""


class NeverChampion(RefusedMessage):
    """A byte range pinned to a version that is not and never was the champion: scoring did not send it."""


def load_champion(registry: Registry, version: str | None) -> tuple[str, Any, dict[str, Any]]:
    """(version, model, manifest) of `version` or the current champion; cached by version across invocations.

    A pinned `version` (a byte range's) must be or have been the champion: ranges are pinned to the champion
    of the moment they are sent, and anything else would serve a model that never passed the gate.
    """
    if version is None:
        champion = registry.champion()  # one small GET per invocation: promotions take effect at once
        if champion is None:
            raise NoChampionYet("no champion model yet: train one (`mlops train`); the file will be retried")
        version = champion.version
    elif not registry.was_champion(version):
        raise NeverChampion(f"pinned to model version {version!r}, which is not and never was the champion")
    model, manifest = load_version(registry, version)
    return version, model, manifest


def load_version(registry: Registry, version: str) -> tuple[Any, dict[str, Any]]:
    """(model, manifest) of `version`, from the cache or the registry (which verifies its SHA-256 first)."""
    if version not in _models:
        _models[version] = registry.load_model(version)  # verifies the SHA-256 before unpickling
        while len(_models) > MODEL_CACHE_SIZE:
            _models.popitem(last=False)
    _models.move_to_end(version)
    return _models[version]


def forget_models() -> None:
    """Empty the cache (tests start each case cold)."""
    _models.clear()
