"""JSON records (the online endpoint's requests) turned into the rows of text a CSV would hold.

Only what JSON adds is checked here: a record must be an object with exactly the expected fields, and
each value must have the JSON type its feature takes (a number for a numeric feature, text for a
categorical or text one, null for a blank). The values themselves then go through `convert.convert_rows`,
the precise path batch scoring takes, so a record is accepted exactly when the same row in a file is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..config import Feature
from .cells import RowError

FIX_HINTS = {
    "not_an_object": 'send each record as a JSON object of field: value, e.g. {"tenure_months": 3}',
    "unknown_field": "remove the field, or add it to [[features]] and retrain",
    "missing_field": "send every feature; null marks a blank value",
    "number_as_text": "send the number as a JSON number, without quotes",
    "not_a_number": "send a JSON number",
    "not_text": "send the value as JSON text, in quotes",
    "bad_id": "send the id as text or a whole number",
}


def record_error_dict(error: RowError) -> dict[str, Any]:
    """A record's error as the endpoint answers it: the record's index in the request (0-based), the field,
    the kind, the message and the fix (this module's hints first, then the CSV cells')."""
    out = error.to_dict()
    record = out.pop("row")
    return {
        "record": int(record) - 1 if isinstance(record, int) else record,
        "field": out.pop("column"),
        **out,
        "fix": FIX_HINTS.get(error.kind) or out["fix"],
    }


def json_cell(value: Any) -> str:
    """A JSON number or text as a CSV cell: null is a blank, a number is written as Python writes it."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def records_to_rows(
    records: Sequence[Any], *, features: Sequence[Feature], id_column: str, extra: Sequence[str] = ()
) -> tuple[list[str], list[list[str]], list[RowError]]:
    """(header, rows, errors): the header is the id column, the features and `extra`; a record with an
    error has no row (rows and records then no longer line up: callers refuse the request).

    The id is optional in a record (a blank cell without it); every feature and every `extra` field must be
    present. RowError rows count records from 1, as data rows are counted in a file.
    """
    header = [id_column, *(f.name for f in features), *extra]
    expected = set(header)
    rows: list[list[str]] = []
    errors: list[RowError] = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            kind = type(record).__name__ if record is not None else "null"
            errors.append(RowError(number, None, "not_an_object", f"record {number - 1} is {kind}, not an object"))
            continue
        problems = _field_errors(number, record, expected, header[1:])
        problems += _type_errors(number, record, features)
        problems += _id_errors(number, record.get(id_column), id_column)
        errors += problems
        if not problems:
            rows.append([json_cell(record.get(name)) for name in header])
    return header, rows, errors


def _field_errors(number: int, record: dict[str, Any], expected: set[str], required: list[str]) -> list[RowError]:
    errors = [
        RowError(number, str(name)[:80], "unknown_field", f"{str(name)[:80]!r} is not an input of this model")
        for name in record
        if name not in expected
    ]
    errors += [RowError(number, name, "missing_field", f"{name} is missing") for name in required if name not in record]
    return errors


def _type_errors(number: int, record: dict[str, Any], features: Sequence[Feature]) -> list[RowError]:
    errors = []
    for feature in features:
        value = record.get(feature.name)
        if value is None:
            continue
        name = feature.name
        if feature.is_numeric and isinstance(value, str):
            errors.append(RowError(number, name, "number_as_text", f"{name} is the text {value[:40]!r}, not a number"))
        elif feature.is_numeric and (isinstance(value, bool) or not isinstance(value, int | float)):
            errors.append(RowError(number, name, "not_a_number", f"{name} is {_kind(value)}, not a number"))
        elif feature.is_numeric and not math.isfinite(value):  # a float JSON cannot hold, from another caller
            errors.append(RowError(number, name, "not_finite", f"{name} is {value!r}"))
        elif not feature.is_numeric and not isinstance(value, str):
            errors.append(RowError(number, name, "not_text", f"{name} is {_kind(value)}, not text"))
    return errors


def _id_errors(number: int, value: Any, id_column: str) -> list[RowError]:
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return []
    return [RowError(number, id_column, "bad_id", f"{id_column} is {_kind(value)}, not text or a whole number")]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
