"""The streaming loop: CSV rows in, validated chunk by chunk, predictions and labeled rows out.

Memory stays bounded by one chunk: rows are parsed, converted, scored, written to local files and
counted into the drift bins, then dropped. A plain block is read column-wise (the fast path), only its
bad rows row by row; any other block row by row (the precise path); both give the same chunk. Bad rows
are counted and kept (up to a bound) for the report; a file that can no longer pass is stopped early.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops_core.config import Feature, ScoringSettings
from mlops_core.config.task import Task
from mlops_core.data.blocks import CsvBlocks
from mlops_core.data.convert import Chunk, convert_rows
from mlops_core.data.fastpath import Reading, fast_block
from mlops_core.data.reader import FileRejected
from mlops_core.modeling.pipeline import features_from_schema, model_input
from mlops_core.modeling.predictions import Predictions, Predictor, metrics
from mlops_core.monitoring.drift import DriftAccumulator

from .challenge import ChallengerRun, versions_column

# RFC 4180 line ends. With "\n" the csv module would leave a bare CR inside a value unquoted, and a
# reader would split that row in two: a pass-through id could forge rows in predictions and feedback.
CSV_LINE_END = "\r\n"
MAX_LISTED_ERRORS = 100
MAX_KEPT_BAD_ROWS = 100_000


@dataclass
class Tally:
    """What the loop saw: rows, scored rows, errors (listed up to a bound), and labeled scores."""

    rows: int = 0
    scored: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_kinds: Counter[str] = field(default_factory=Counter)
    bad_rows: list[list[str]] = field(default_factory=list)
    labeled: list[Predictions] = field(default_factory=list)  # the predictions of rows that had a label
    labels: list[np.ndarray] = field(default_factory=list)  # and their labels

    @property
    def bad(self) -> int:
        return self.rows - self.scored

    def note(self, batch: Sequence[list[str]], chunk: Chunk) -> None:
        """Count a converted batch, keeping its bad rows and listing its errors (both bounded)."""
        first = self.rows + 1
        rows_with_errors = sorted({e.row for e in chunk.errors})
        self.bad_rows += [batch[r - first] for r in rows_with_errors if len(self.bad_rows) < MAX_KEPT_BAD_ROWS]
        for e in chunk.errors:
            self.error_kinds[e.kind] += 1
            if len(self.errors) < MAX_LISTED_ERRORS:
                self.errors.append(e.to_dict())
        self.rows += len(batch)
        self.scored += len(chunk)


def required_columns(header: list[str], features: tuple[Feature, ...], label: str) -> None:
    """Reject a file whose header cannot be scored: empty, duplicate names, or a feature missing."""
    if not header or header == [""]:
        raise FileRejected("empty", "the file is empty", fix="upload a CSV with a header row and data rows")
    duplicates = sorted(n for n, c in Counter(header).items() if c > 1)
    if duplicates:
        raise FileRejected(
            "duplicate_columns",
            f"column(s) {', '.join(duplicates)} appear more than once",
            fix="give every column a unique name",
            where={"line": 1},
        )
    missing = [f.name for f in features if f.name not in header]
    if missing:
        raise FileRejected(
            "missing_columns",
            f"missing required column(s): {', '.join(missing)}; found: {', '.join(h[:40] for h in header[:30])}",
            fix=f"the header must name every feature: {', '.join(f.name for f in features)} ({label} optional)",
            where={"line": 1, "columns": missing},
        )


class ChunkWriter:
    """Scores good rows with the model and writes them: predictions, and labeled rows to feedback.

    With a challenger (lambdas/scoring/challenge.py): in shadow mode it also predicts every row, written to
    `shadow`; in split mode it predicts and serves its share of rows, and `model_version` says which.
    """

    def __init__(
        self,
        header: list[str],
        *,
        model: Any,
        version: str,
        schema: dict[str, Any],
        out: Any,
        feedback: Any,
        challenger: ChallengerRun | None = None,
        shadow: Any = None,
    ) -> None:
        self.version = version
        self.features = features_from_schema(schema)
        self.predictor = Predictor(model, Task.from_schema(schema))
        names = {f.name for f in self.features}
        self.passthrough = [i for i, h in enumerate(header) if h not in names]
        self.challenger = challenger
        columns = [header[i] for i in self.passthrough] + self.predictor.output_columns + ["model_version"]
        self.out = _Output(out, columns)
        self.shadow = _Output(shadow, columns) if shadow is not None else None
        # Class names and versions can hold anything; joined without quoting only if none needs it.
        versions = [version] + ([challenger.contender.version] if challenger else [])
        self.plain_outputs = not any(needs_quoting(c) for c in [*self.predictor.task.classes, *versions])
        self.feedback = csv.writer(feedback, lineterminator=CSV_LINE_END)
        self.feedback.writerow(header)

    def write(self, chunk: Chunk, tally: Tally) -> np.ndarray:
        """Score and write one chunk; what prediction drift bins (`Predictions.drift_values`): the champion's."""
        x = model_input(chunk.columns, self.features)
        predictions = self.predictor.predict(x)
        served: Predictions = predictions
        versions: Iterable[str] = itertools.repeat(self.version, len(chunk))
        if self.challenger is not None and self.shadow is not None:
            theirs = self.challenger.predict_all(chunk, x, predictions)
            self._write(self.shadow, chunk, theirs, itertools.repeat(self.challenger.contender.version, len(chunk)))
        elif self.challenger is not None:
            served, mine = self.challenger.serve_share(chunk, x, predictions)
            versions = versions_column(self.version, self.challenger.contender.version, mine)
        self._write(self.out, chunk, served, versions)
        if chunk.label is not None and (known := chunk.labeled).any():
            tally.labeled.append(served.subset(known))
            tally.labels.append(chunk.label[known])
            self.feedback.writerows(r for r, k in zip(chunk.rows, known.tolist(), strict=True) if k)
        return predictions.drift_values

    def _write(self, output: _Output, chunk: Chunk, predictions: Predictions, versions: Iterable[str]) -> None:
        outputs = self.predictor.output_text(predictions)
        if self.plain_outputs and len(chunk):  # what csv.writer would write, 3x faster
            passthrough = (
                chunk.text_columns[i] if chunk.plain else csv_fields(chunk.text_columns[i]) for i in self.passthrough
            )
            rows = zip(*passthrough, *outputs, versions, strict=True)
            output.file.write(CSV_LINE_END.join(map(",".join, rows)) + CSV_LINE_END)
        else:
            passthrough = (chunk.text_columns[i] for i in self.passthrough)
            output.writer.writerows(zip(*passthrough, *outputs, versions, strict=True))


class _Output:
    """A predictions file: its handle and a csv writer on it, the header written."""

    def __init__(self, file: Any, columns: list[str]) -> None:
        self.file = file
        self.writer = csv.writer(file, lineterminator=CSV_LINE_END)
        self.writer.writerow(columns)


def needs_quoting(text: str) -> bool:
    """Whether csv.writer (QUOTE_MINIMAL) would quote `text` in a row of several fields."""
    return _QUOTED.search(text) is not None


_QUOTED = re.compile(r'[,"\r\n]')


def csv_fields(cells: Sequence[str]) -> list[str]:
    """Each cell as csv.writer (QUOTE_MINIMAL) writes it in a row of several fields: in quotes, its quotes
    doubled, where it holds a comma, a quote or a line break; else as it is."""
    # The cells that need it are found in their join, one pass of the pattern, not one search per cell.
    ends = np.cumsum(np.fromiter(map(len, cells), dtype=np.intp, count=len(cells)))
    found = [match.start() for match in _QUOTED.finditer("".join(cells))]
    fields = list(cells)
    for i in np.unique(np.searchsorted(ends, found, side="right")).tolist():
        fields[i] = '"' + fields[i].replace('"', '""') + '"'
    return fields


def score_rows(
    blocks: CsvBlocks,
    header: list[str],
    *,
    model: Any,
    version: str,
    schema: dict[str, Any],
    drift: DriftAccumulator,
    out_path: str,
    feedback_path: str,
    scoring: ScoringSettings,
    deadline: float | None = None,
    fast: bool = True,
    challenger: ChallengerRun | None = None,
    shadow_path: str | None = None,
) -> Tally:
    """Validate, predict and write chunk by chunk; labeled good rows also go to the feedback file.

    A shadow `challenger`'s predictions go to `shadow_path`. `fast` False reads every block on the precise
    path (the fast path's tests compare the two).
    """
    with contextlib.ExitStack() as files:
        out, feedback = (files.enter_context(open(p, "w", newline="")) for p in (out_path, feedback_path))
        shadow = files.enter_context(open(shadow_path, "w", newline="")) if shadow_path else None
        writer = ChunkWriter(
            header,
            model=model,
            version=version,
            schema=schema,
            out=out,
            feedback=feedback,
            challenger=challenger,
            shadow=shadow,
        )
        reader = ChunkReader(header, schema=schema, task=writer.predictor.task, scoring=scoring, fast=fast)
        tally = Tally()
        for batch, chunk in reader.chunks(blocks, tally):
            tally.note(batch, chunk)
            if chunk.errors:
                stop_early(tally, blocks, len(header), scoring.max_bad_row_share, deadline)
            if len(chunk):
                drift.update(chunk.columns, writer.write(chunk, tally), writer.predictor.analysed())
    return tally


class ChunkReader:
    """Turns blocks of rows into chunks: the fast path (mlops_core.data.fastpath) where a block is plain, its
    bad rows (if any) read by the precise path alone; else the whole block on the precise path, row by row
    (csvreader.CsvRows + csvdata.convert_rows). Both give the same chunk."""

    def __init__(self, header: list[str], *, schema: dict[str, Any], task: Task, scoring: ScoringSettings, fast: bool):
        self.header, self.scoring, self.fast = header, scoring, fast
        self.features = features_from_schema(schema)
        self.label = schema["label"] if schema["label"] in header else None
        # With classes found in the data, a label the model does not know is read as a new class: the row
        # is scored, counts against the accuracy and goes to feedback, so that retraining learns the class.
        self.task = task.label_reading
        self.reading = Reading(header, self.features, self.label, self.task)

    def chunks(self, blocks: CsvBlocks, tally: Tally) -> Iterator[tuple[Sequence[list[str]], Chunk]]:
        """(rows, chunk) pairs: every row of a batch, and its chunk; `tally` numbers the rows."""
        limit = self.scoring.max_field_chars
        for block in blocks.blocks(self.scoring.chunk_rows):
            read = self._fast(block.data, tally.rows + 1) if self.fast and block.data is not None else None
            if read is not None:
                yield read
                continue
            for batch in block.rows(key=blocks.key, max_field_chars=limit).chunks(self.scoring.chunk_rows):
                yield batch, self._precise(batch, first_row=tally.rows + 1)

    def _fast(self, data: bytes, first_row: int) -> tuple[Sequence[list[str]], Chunk] | None:
        return fast_block(data, self.reading, max_field_chars=self.scoring.max_field_chars, first_row=first_row)

    def _precise(self, batch: list[list[str]], *, first_row: int) -> Chunk:
        # Field lengths were enforced by the CSV parser (field_size_limit): no second check.
        return convert_rows(
            self.header,
            batch,
            first_row=first_row,
            features=self.features,
            label=self.label,
            task=self.task,
            max_field_chars=None,
        )


def check_enough_good_rows(tally: Tally, share: float) -> None:
    """Reject a file with no data rows, or with more bad rows than `share` of them."""
    if tally.rows == 0:
        raise FileRejected(
            "header_only", "the file has a header but no data rows", fix="add data rows below the header"
        )
    if tally.bad / tally.rows > share:
        raise too_many_bad_rows(tally, share)


def too_many_bad_rows(tally: Tally, share: float, stopped: str = "") -> FileRejected:
    return FileRejected(
        "too_many_bad_rows",
        f"{tally.bad:,} of {tally.rows:,} rows ({tally.bad / tally.rows:.1%}) have errors; the limit is {share:.0%}"
        f"{stopped}",
        fix="fix the rows listed under 'errors' (the most common problems are counted in 'error_counts')",
        where={"errors": tally.errors, "error_counts": dict(tally.error_kinds)},
    )


def stop_early(tally: Tally, blocks: CsvBlocks, width: int, share: float, deadline: float | None) -> None:
    """Reject a file of bad rows before reading all of it: a .csv.gz of bad rows up to the size limit
    would otherwise outlast the function's timeout and end in the DLQ with no report.

    Stops when the file can no longer pass even if every row still to come were good (a row takes at
    least `width` bytes), or when the invocation's deadline has come and the share read so far fails.
    """
    most_rows = tally.rows + blocks.most_bytes_left // max(width, 1)
    if tally.bad > share * most_rows:
        raise too_many_bad_rows(tally, share, f" (stopped after row {tally.rows:,}: the file cannot pass)")
    if deadline is not None and time.monotonic() > deadline and tally.bad > share * tally.rows:
        raise too_many_bad_rows(tally, share, f" (stopped after row {tally.rows:,}: out of time)")


def labeled_metrics(tally: Tally, task: Task) -> dict[str, Any] | None:
    """The task's metrics on the batch's labeled rows (mlops_core.modeling.metrics), or None without labels."""
    if not tally.labels:
        return None
    return metrics(task, np.concatenate(tally.labels), Predictions.concatenate(tally.labeled))
