"""One feature column's cells, typed as the model takes them, with a RowError for each value the feature refuses.

Both reading paths use these: the precise path (convert.convert_rows) for the errors, the fast path
(fastpath) for the same columns and to find the cells the precise path reports. A feature's `missing`
and `unknown` settings decide which blanks and which categories outside the configured ones are errors.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..config import MISSING_CATEGORY, Feature
from ..lookup import positions

FIX_HINTS = {
    "ragged": "every row needs exactly as many fields as the header; check for unquoted commas",
    "missing": 'fill in the value; or, to let the model fill blanks in, set missing = "impute" on the feature '
    "in [[features]] and retrain",
    "not_a_number": "use a plain decimal number such as 12.5 (no units, no thousands separators)",
    "not_finite": "NaN and infinity are not valid feature values",
    "unknown_category": "use one of the allowed categories listed in the message; or, to score such rows, set "
    'unknown = "score" on the feature in [[features]] and retrain',
    "field_too_long": "shorten the field; very long fields usually mean a quoting problem",
    "text_too_long": "shorten the text, or raise the feature's max_chars (at most scoring.max_field_chars)",
    "bad_label": "use one of the classes listed in [label] classes (a number for regression), or leave it empty "
    "when unknown",
}


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based line of data, the header being row 0
    column: str | None
    kind: str
    message: str
    value: str | None = None  # bad labels and unlisted categories: the cell, so that training can list them

    def to_dict(self) -> dict[str, object]:
        return {
            "row": self.row,
            "column": self.column,
            "kind": self.kind,
            "message": self.message,
            "fix": FIX_HINTS.get(self.kind, ""),
        }


def numeric_column(values: Sequence[str], feature: Feature, errors: list[RowError]) -> np.ndarray:
    name = feature.name
    try:
        out, blank = numbers(values, feature)
    except ValueError:
        return _numeric_one_by_one(values, feature, errors)
    for i in np.flatnonzero(~blank & ~np.isfinite(out)).tolist():
        errors.append(RowError(i, name, "not_finite", f"{name} is {values[i]!r}"))
    return out


def numbers(values: Sequence[str] | np.ndarray, feature: Feature) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column as float64 and the mask of its blank cells, which are NaN when the feature imputes
    (none is blank otherwise); ValueError when some other cell is not a number. The precise path reads with
    it (the fast path reads the same numbers with Python's float(): fastpath._numbers)."""
    if not feature.imputes:
        text = np.asarray(values, dtype=np.str_)
        return text.astype(np.float64), np.zeros(len(text), dtype=bool)
    try:
        return _numbers_or_empty(values)
    except ValueError:  # a cell of white space, or not a number: the general reading says which
        text = np.asarray(values, dtype=np.str_)
        blank = blank_cells(text)
        return np.where(blank, "nan", text).astype(np.float64), blank


def _numbers_or_empty(values: Sequence[str] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`numbers` for an imputing column whose cells are all empty or numbers; ValueError on any other cell.

    Blanks are usually empty cells, so they are found by comparison rather than by stripping every cell
    (10x faster); Python's float() reads the rest as numpy's text-to-float cast does, without the copy to
    fixed-width text (8x faster). A cell of white space alone is no number: ValueError, so `numbers` reads it.
    """
    cells = np.asarray(values, dtype=object)
    blank = cells == ""
    out = np.full(len(cells), np.nan)
    out[~blank] = cells[~blank].astype(np.float64)
    return out, blank


def _numeric_one_by_one(values: Sequence[str], feature: Feature, errors: list[RowError]) -> np.ndarray:
    """The slow path of `numeric_column`, for a column with a value numpy cannot parse: an error per bad value."""
    name, out = feature.name, np.empty(len(values))
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except ValueError:
            out[i] = np.nan
            if v.strip():
                errors.append(RowError(i, name, "not_a_number", f"{name} is {v[:40]!r}, not a number"))
            elif not feature.imputes:
                errors.append(RowError(i, name, "missing", f"{name} is empty"))
        else:
            if not np.isfinite(out[i]):
                errors.append(RowError(i, name, "not_finite", f"{name} is {v!r}"))
    return out


def categorical_column(values: Sequence[str], feature: Feature, errors: list[RowError]) -> np.ndarray:
    out, blank, unknown = categories(values, feature)
    for i in np.flatnonzero(blank | unknown).tolist():
        v = values[i]
        if blank[i]:
            errors.append(RowError(i, feature.name, "missing", f"{feature.name} is empty"))
        else:
            msg = f"{feature.name} is {v[:40]!r}; allowed: {', '.join(feature.categories)}"
            errors.append(RowError(i, feature.name, "unknown_category", msg, value=v[:40]))
    return out


def categories(values: Sequence[str] | np.ndarray, feature: Feature) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A categorical column as the model sees it (a blank cell of a feature that imputes is MISSING_CATEGORY),
    and the masks of the cells its policies refuse: blank ones (missing = "reject") and categories outside
    the configured ones (unknown = "reject"). Both reading paths use it."""
    out = np.asarray(values, dtype=object)
    if len(out) <= SMALL_COLUMN:  # an online request's records: pandas' set-up would cost more than the lookups
        allowed = _category_set(feature.categories)
        outside = np.fromiter((value not in allowed for value in out.tolist()), dtype=bool, count=len(out))
    else:
        outside = positions(_category_index(feature.categories), out) < 0
    if not outside.any():  # the common case: no per-cell string work
        return out, outside, outside
    blank = np.zeros(len(out), dtype=bool)
    blank[outside] = blank_cells(out[outside])
    if feature.imputes:
        out = np.where(blank, MISSING_CATEGORY, out)
    unknown = outside & ~blank & bool(feature.categories)  # none configured: training finds them (below)
    return out, blank & (not feature.imputes), unknown & (not feature.scores_unknown)


SMALL_COLUMN = 64  # up to this many cells, categories are looked up in a set rather than a pandas index


@functools.lru_cache(maxsize=256)
def _category_index(configured: tuple[str, ...]) -> pd.Index:
    """The configured categories as an index, built once per feature (its hash table is kept with it)."""
    return pd.Index(configured, dtype=object).unique()


@functools.lru_cache(maxsize=256)
def _category_set(configured: tuple[str, ...]) -> frozenset[str]:
    return frozenset(configured)


MAX_FOUND_CATEGORIES = 1_000


def with_found_categories(features: Sequence[Feature], columns: dict[str, np.ndarray]) -> tuple[Feature, ...]:
    """The features with each categorical one that has no configured categories given those of the training
    columns (non-blank values, sorted); ValueError naming a feature with none, or with so many that it is
    more likely an id than a category."""
    return tuple(_found(f, columns[f.name]) if f.is_categorical and not f.categories else f for f in features)


def _found(feature: Feature, values: np.ndarray) -> Feature:
    found = sorted(str(v) for v in pd.unique(pd.Series(values, dtype=object)) if str(v).strip())
    if not found or len(found) > MAX_FOUND_CATEGORIES:
        raise ValueError(
            f"feature {feature.name!r} has no categories configured and {len(found):,} distinct values in "
            f"the training data (from 1 to {MAX_FOUND_CATEGORIES:,} are taken as its categories): list "
            "its categories in [[features]], or leave an id column out of the features"
        )
    return replace(feature, categories=tuple(found))


def text_column(values: Sequence[str], feature: Feature, errors: list[RowError]) -> np.ndarray:
    out = np.asarray(values, dtype=object)
    lengths, filled = text_checks(out)
    if not feature.imputes:  # an imputed blank is an empty text: no words
        for i in np.flatnonzero(~filled).tolist():
            errors.append(RowError(i, feature.name, "missing", f"{feature.name} is empty"))
    if feature.max_chars is not None:
        for i in np.flatnonzero(filled & (lengths > feature.max_chars)).tolist():
            message = f"{feature.name} has {lengths[i]:,} characters (max_chars {feature.max_chars:,})"
            errors.append(RowError(i, feature.name, "text_too_long", message))
    return out


def blank_cells(values: np.ndarray) -> np.ndarray:
    """A mask of the cells that hold nothing but white space."""
    blank = np.asarray(values == "", dtype=bool)  # most blanks are empty: no string work for them
    rest = np.flatnonzero(~blank)
    blank[rest] = ~text_checks(values[rest])[1]
    return blank


def text_checks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each text cell's length, and whether it holds more than white space (vectorised)."""
    cells = pd.Series(values, dtype=object)
    return cells.str.len().to_numpy(), (cells.str.strip().str.len() > 0).to_numpy()
