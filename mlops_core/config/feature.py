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
    # Categorical: the allowed categories; none configured: training finds them in its data and records them
    # in the model's manifest, which scoring reads (mlops_core.data.cells.with_found_categories).
    categories: tuple[str, ...] = ()
    # Text only: the longest cell accepted (None: scoring.max_field_chars), and the TF-IDF vectorizer's
    # parameters (scikit-learn's TfidfVectorizer: max_features, ngram_range, min_df, stop_words, ...).
    max_chars: int | None = None
    vectorizer: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)
    # A blank cell: "reject" makes its row bad; "impute" lets the model's pipeline fill it in
    # (mlops_core/modeling/pipeline.py). A category outside `categories`: "reject" makes its row bad;
    # "score" scores the row (the encoder ignores the value) and the drift report counts the value.
    missing: Literal["reject", "impute"] = "reject"
    unknown: Literal["reject", "score"] = "reject"

    @property
    def is_numeric(self) -> bool:
        return self.type == "numeric"

    @property
    def is_text(self) -> bool:
        return self.type == "text"

    @property
    def is_categorical(self) -> bool:
        return self.type == "categorical"

    @property
    def imputes(self) -> bool:
        return self.missing == "impute"

    @property
    def scores_unknown(self) -> bool:
        return self.unknown == "score"


TEXT_DEFAULTS: dict[str, Any] = {"max_features": 20_000, "ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True}
TEXT_PARAMETERS = ("max_features", "ngram_range", "min_df", "max_df", "stop_words", "sublinear_tf", "lowercase")
# A blank cell of a categorical feature with missing = "impute", as the readers hand it over
# (mlops_core/data/cells.py) and the one-hot encoder sees it: a category of its own (configured
# categories cannot be blank).
MISSING_CATEGORY = ""
POLICIES = {"missing": ("reject", "impute"), "unknown": ("reject", "score")}


def parse_feature(item: dict[str, Any], max_field_chars: int) -> Feature:
    """One [[features]] table as a Feature; a text feature's vectorizer parameters are checked here."""
    name, kind = str(item.get("name")), item.get("type")
    if kind not in ("numeric", "categorical", "text"):
        raise ConfigError(f"feature {name!r}: type must be numeric, categorical or text")
    allowed = {"name", "type", "missing"} | ({"categories", "unknown"} if kind == "categorical" else set())
    allowed |= {"max_chars", *TEXT_PARAMETERS} if kind == "text" else set()
    if unknown := sorted(set(item) - allowed):
        raise ConfigError(f"feature {name!r} ({kind}) has unknown setting(s) {', '.join(unknown)}")
    policies = parse_policies(name, item)
    categories = tuple(str(c) for c in item.get("categories", ()))
    if kind == "categorical" and any(not c.strip() for c in categories):
        raise ConfigError(f'feature {name!r}: a category cannot be blank; use missing = "impute" for blank cells')
    if kind != "text":
        return Feature(name=name, type=kind, categories=categories, **policies)
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
    return Feature(name=name, type="text", max_chars=max_chars, vectorizer=vectorizer, **policies)


def parse_policies(name: str, item: dict[str, Any]) -> dict[str, Any]:
    """The feature's `missing` and `unknown` settings ("reject" when absent), checked against the allowed values."""
    out = {}
    for setting, allowed in POLICIES.items():
        value = item.get(setting, "reject")
        if value not in allowed:
            choices = " or ".join(f'"{a}"' for a in allowed)
            raise ConfigError(f"feature {name!r}: {setting} must be {choices}, not {value!r}")
        out[setting] = value
    return out


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
