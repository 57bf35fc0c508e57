"""A feature of the configuration (`[[features]]`): numeric, categorical, or text with its TF-IDF settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ConfigError


@dataclass(frozen=True)
class Feature:
    name: str
    type: Literal["numeric", "categorical", "text"]
    categories: tuple[str, ...] = ()
    # Text only: the longest cell accepted (None: scoring.max_field_chars), and the TF-IDF vectorizer's
    # parameters (scikit-learn's TfidfVectorizer: max_features, ngram_range, min_df, stop_words, ...).
    max_chars: int | None = None
    vectorizer: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    @property
    def is_numeric(self) -> bool:
        return self.type == "numeric"

    @property
    def is_text(self) -> bool:
        return self.type == "text"

    @property
    def is_categorical(self) -> bool:
        return self.type == "categorical"


TEXT_DEFAULTS: dict[str, Any] = {"max_features": 20_000, "ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True}
TEXT_PARAMETERS = ("max_features", "ngram_range", "min_df", "max_df", "stop_words", "sublinear_tf", "lowercase")


def parse_feature(item: dict[str, Any], max_field_chars: int) -> Feature:
    """One [[features]] table as a Feature; a text feature's vectorizer parameters are checked here."""
    name, kind = str(item.get("name")), item.get("type")
    if kind not in ("numeric", "categorical", "text"):
        raise ConfigError(f"feature {name!r}: type must be numeric, categorical or text")
    allowed = {"name", "type"} | ({"categories"} if kind == "categorical" else set())
    allowed |= {"max_chars", *TEXT_PARAMETERS} if kind == "text" else set()
    if unknown := sorted(set(item) - allowed):
        raise ConfigError(f"feature {name!r} ({kind}) has unknown setting(s) {', '.join(unknown)}")
    categories = tuple(str(c) for c in item.get("categories", ()))
    if kind == "categorical" and not categories:
        raise ConfigError(f"feature {name!r}: a categorical feature needs categories")
    if kind != "text":
        return Feature(name=name, type=kind, categories=categories)
    max_chars = item.get("max_chars")
    if max_chars is not None and not (isinstance(max_chars, int) and 0 < max_chars <= max_field_chars):
        raise ConfigError(
            f"feature {name!r}: max_chars must be a whole number from 1 to scoring.max_field_chars "
            f"({max_field_chars}); raise scoring.max_field_chars for longer texts"
        )
    vectorizer = {**TEXT_DEFAULTS, **{k: item[k] for k in TEXT_PARAMETERS if k in item}}
    if isinstance(vectorizer["ngram_range"], list):
        vectorizer["ngram_range"] = tuple(vectorizer["ngram_range"])
    check_vectorizer(name, vectorizer)
    return Feature(name=name, type="text", max_chars=max_chars, vectorizer=vectorizer)


def check_vectorizer(name: str, parameters: dict[str, Any]) -> None:
    """Raise ConfigError unless scikit-learn's TfidfVectorizer accepts `parameters`."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415 - only text projects need it

    low, high = [*parameters.get("ngram_range", (1, 1)), 0, 0][:2]
    if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
        raise ConfigError(f"feature {name!r}: ngram_range must be [min, max] with 1 <= min <= max, like [1, 2]")
    try:  # the check fit() makes, without data (scikit-learn's own parameter constraints)
        TfidfVectorizer(**parameters)._validate_params()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"feature {name!r}: the text settings do not fit TfidfVectorizer: {exc}") from exc
