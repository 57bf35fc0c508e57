"""A request's answer: its records checked and scored exactly as the same rows in a file would be.

`predict` turns the records into CSV rows (mlops_core/data/records.py), converts them on batch's precise path
(`convert_rows`), and scores them with batch's `ChunkWriter` into an in-memory CSV; the answer is that CSV's
cells as JSON, numbers written with the same digits. So a record's answer is byte for byte its row's in
predictions/, the challenger split picks the same model by the same id hash, and no check exists twice.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

from scoring.challenge import ChallengerRun
from scoring.score import ChunkWriter, Tally

from mlops_core.config import OnlineSettings, Task
from mlops_core.data.cells import RowError
from mlops_core.data.convert import convert_rows, read_labels
from mlops_core.data.records import record_error_dict, records_to_rows
from mlops_core.modeling.pipeline import features_from_schema

from .request import Refusal, Request
from .serving import Serving

MAX_LISTED_ERRORS = 100


@dataclass(frozen=True)
class Answer:
    """What the endpoint answers (status, JSON body) and what it keeps of the request for monitoring."""

    status: int
    body: str
    capture: dict[str, Any] = field(default_factory=dict)


def predict(request: Request, *, serving: Serving, settings: OnlineSettings, max_field_chars: int) -> Answer:
    """Score the request's records with the champion (and a challenger, as batch would); all or none."""
    schema = serving.manifest["schema"]
    features = features_from_schema(schema)
    header, rows, errors = records_to_rows(request.records, features=features, id_column=settings.id_column)
    if not errors:
        chunk = convert_rows(header, rows, first_row=1, features=features, label=None, max_field_chars=max_field_chars)
        errors = chunk.errors
    if errors:
        raise bad_records(errors, len(request.records))
    challenger = None
    if serving.contender is not None:
        challenger = ChallengerRun.start(serving.contender, header, task=Task.from_schema(schema))
    out, shadow = io.StringIO(), io.StringIO() if challenger is not None and challenger.shadow else None
    writer = ChunkWriter(
        header,
        model=serving.model,
        version=serving.version,
        schema=schema,
        out=out,
        feedback=io.StringIO(),  # a request carries no label: nothing is written there
        challenger=challenger,
        shadow=shadow,
    )
    writer.write(chunk, Tally())
    columns, *outputs = csv.reader(io.StringIO(out.getvalue()))
    numeric = set(writer.predictor.output_columns) - (
        {"prediction"} if writer.predictor.task.is_classification else set()
    )
    body = json_answer(serving.version, columns, outputs, numeric)
    capture: dict[str, Any] = {"model_version": serving.version, "records": len(rows), "header": header, "rows": rows}
    capture["outputs"] = {"columns": columns, "rows": outputs}
    if shadow is not None:
        _, *theirs = csv.reader(io.StringIO(shadow.getvalue()))
        capture["shadow"] = {"columns": columns, "rows": theirs}
    return Answer(200, body, capture)


def json_answer(version: str, columns: list[str], rows: list[list[str]], numeric: set[str]) -> str:
    """`{"model_version": ..., "predictions": [{column: cell, ...}, ...]}`, a numeric column's cells written
    as the JSON numbers they already are (the CSV's digits, unchanged), every other cell as JSON text."""
    encoded = [json.dumps(c) for c in columns]
    raw = [c in numeric for c in columns]
    records = (
        "{"
        + ", ".join(
            f"{name}: {cell if is_raw else json.dumps(cell)}"
            for name, cell, is_raw in zip(encoded, row, raw, strict=True)
        )
        + "}"
        for row in rows
    )
    return f'{{"model_version": {json.dumps(version)}, "predictions": [{", ".join(records)}]}}'


def bad_records(errors: list[RowError], count: int) -> Refusal:
    """A 400 naming every bad record's field (up to a bound) and the fix; nothing of the request is scored."""
    bad = len({e.row for e in errors})
    return Refusal(
        400,
        "bad_records",
        f"{bad} of {count} record(s) cannot be scored, so none was (each error names its record and field)",
        fix="correct the records named in errors and send the request again",
        errors=tuple(record_error_dict(e) for e in errors[:MAX_LISTED_ERRORS]),
    )


def feedback(request: Request, *, id_column: str, label: str, task: Task) -> Answer:
    """Accept labels for records answered before: each `{id_column: ..., label: ...}`, neither blank; a label
    is checked as a file's label cell is (one of the classes, or a finite number for regression)."""
    header, rows, errors = records_to_rows(request.records, features=(), id_column=id_column, extra=(label,))
    if not errors:
        for number, row in enumerate(rows, start=1):
            errors += [
                RowError(number, name, "missing_field", f"{name} is blank")
                for name, cell in zip(header, row, strict=True)
                if not cell
            ]
        bad: list[RowError] = []
        read_labels([row[1] for row in rows], label, task, bad)
        errors += [dataclasses.replace(e, row=e.row + 1) for e in bad]  # read_labels counts from 0
    if errors:
        raise bad_records(errors, len(request.records))
    return Answer(202, json.dumps({"accepted": len(rows)}), {"header": header, "rows": rows})


def sampled(request_id: str, share: float) -> bool:
    """Whether a request's records are captured: the first 8 hex digits of its id's SHA-256 below `share`."""
    return share >= 1 or int(hashlib.sha256(request_id.encode()).hexdigest()[:8], 16) < share * 16**8
