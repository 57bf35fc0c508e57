"""The fast path (pandas' C parser, mlops_core.data.fastpath) against the precise path (the csv module + convert_rows).

Scoring the same bytes both ways must give the same predictions, feedback, tally (counts, errors, bad
rows, labeled scores), drift and rejection, byte for byte: on every file of the hostile corpus, on good
files, and on random cells. The fast path must also really be taken on good files.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import pickle
import tempfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring import score as score_module
from scoring.score import score_rows

from mlops_core.data import fastpath
from mlops_core.data.blocks import BYTE_ORDER_MARK, CsvBlocks, physical_lines, row_ends
from mlops_core.data.convert import Chunk, convert_rows
from mlops_core.data.fastpath import fast_chunk
from mlops_core.data.plain import plain_rows
from mlops_core.data.reader import CsvRows, FileRejected
from mlops_core.monitoring.drift import DriftAccumulator
from mlopsctl.datagen import generate
from tests.corpus import hostile_corpus

CORPUS = {f.name: f for f in hostile_corpus()}
MAX_BYTES = 8 << 20  # above every corpus file but the bombs, which stop at it quickly (32M empty lines cost a minute)


def score_both_ways(
    body: bytes, *, name: str, trained, config, chunk_rows: int, tmp_path: Path, **limits: Any
) -> list[Any]:
    """The outcome of scoring `body` on the fast and on the precise path, each as comparable data."""
    return [
        score_once(
            body,
            name=name,
            trained=trained,
            config=config,
            chunk_rows=chunk_rows,
            tmp=tmp_path / str(fast),
            fast=fast,
            **limits,
        )
        for fast in (True, False)
    ]


def score_once(
    body: bytes,
    *,
    name: str,
    trained,
    config,
    chunk_rows: int,
    tmp: Path,
    fast: bool,
    share: float | None = None,
    deadline: float | None = None,
) -> Any:
    """The outcome of scoring `body` as comparable data; `share` replaces scoring.max_bad_row_share, `deadline`
    is the invocation's (time.monotonic())."""
    artifact, manifest = trained
    model = joblib.load(io.BytesIO(artifact))
    scoring = dataclasses.replace(config.scoring, chunk_rows=chunk_rows, max_file_bytes=MAX_BYTES)
    if share is not None:
        scoring = dataclasses.replace(scoring, max_bad_row_share=share)
    tmp.mkdir(parents=True)
    out, feedback = tmp / "out.csv", tmp / "feedback.csv"
    drift = DriftAccumulator(manifest["profile"], sample_rows=config.drift.reference_sample_rows, seed=1)
    try:
        blocks = CsvBlocks(
            io.BytesIO(body),
            key=name,
            gzipped=name.endswith(".gz"),
            max_bytes=MAX_BYTES,
            max_field_chars=scoring.max_field_chars,
        )
        header = blocks.next_row() or []
        if not all(f in header for f in config.feature_names) or len(set(header)) != len(header):
            return ("not scored: header", header)
        tally = score_rows(
            blocks,
            header,
            model=model,
            version="v1",
            schema=manifest["schema"],
            drift=drift,
            out_path=str(out),
            feedback_path=str(feedback),
            scoring=scoring,
            deadline=deadline,
            fast=fast,
        )
    except FileRejected as rejected:
        return ("rejected", rejected.kind, str(rejected), rejected.where)
    labeled = [dataclasses.astuple(p) for p in tally.labeled]
    summary = drift.summary(config.drift) if tally.scored else None
    return (
        "scored",
        (tally.rows, tally.scored, tally.errors, dict(tally.error_kinds), tally.bad_rows),
        pickle.dumps((labeled, tally.labels)),
        out.read_bytes(),
        feedback.read_bytes(),
        summary.to_dict() if summary else None,
    )


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_given_a_hostile_file_when_scored_fast_and_precisely_then_everything_is_the_same(
    name, trained, config, tmp_path
):
    body = CORPUS[name].body
    # Blocks of 50 rows put block boundaries inside these small files; the bombs (millions of lines) are
    # read in the default chunk size, or they would cost minutes in blocks of 50.
    chunk_rows = 50 if len(body) < 1 << 20 else config.scoring.chunk_rows
    fast, precise = score_both_ways(
        body, name=name, trained=trained, config=config, chunk_rows=chunk_rows, tmp_path=tmp_path
    )

    assert fast == precise


@pytest.fixture
def taken(monkeypatch) -> list[Any]:
    """What each fast_block call of scoring returned, in order: the block's (rows, chunk), or None when the
    whole block went to the precise path."""
    results: list[Any] = []
    original = score_module.fast_block

    def recording(*args: Any, **kwargs: Any) -> Any:
        results.append(original(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(score_module, "fast_block", recording)
    return results


GOOD_FILES = {  # name: (rows, with a label column, chunk_rows)
    "incoming/good.csv": (2_000, False, 50_000),
    "incoming/labeled.csv": (2_000, True, 300),
    "incoming/labeled.csv.gz": (1_500, True, 256),
    "incoming/row-by-row.csv": (300, False, 1),
}


@pytest.mark.parametrize("name", sorted(GOOD_FILES))
def test_given_a_good_file_when_scored_fast_and_precisely_then_the_same_and_the_fast_path_was_taken(
    name, trained, config, tmp_path, taken
):
    rows, with_label, chunk_rows = GOOD_FILES[name]
    body = generate(rows, seed=5, covariate_shift=0.2, with_label=with_label)
    gzipped = name.endswith(".gz")

    fast, precise = score_both_ways(
        gzip.compress(body) if gzipped else body,
        name=name,
        trained=trained,
        config=config,
        chunk_rows=chunk_rows,
        tmp_path=tmp_path,
    )

    assert fast == precise and fast[0] == "scored" and fast[1][1] == rows
    assert taken and all(chunk is not None for chunk in taken)


def with_quoted_ids(body: bytes, every: int) -> bytes:
    """The file with every `every`-th row's id quoted with a comma in it (and on every other one a doubled quote)."""
    lines = body.splitlines(keepends=True)
    for n, i in enumerate(range(1, len(lines), every)):
        customer, rest = lines[i].split(b",", 1)
        name = b"Smith, J" if n % 2 else b'Smith, ""Jr""'
        lines[i] = b'"' + customer + b" " + name + b'",' + rest
    return b"".join(lines)


@pytest.mark.parametrize("with_label", [True, False])
def test_given_a_file_with_quoted_ids_when_scored_fast_and_precisely_then_the_same_and_the_fast_path_was_taken(
    trained, config, tmp_path, taken, with_label
):
    body = with_quoted_ids(generate(3_000, seed=9, covariate_shift=0.2, with_label=with_label), every=100)

    fast, precise = score_both_ways(
        body, name="incoming/quoted.csv", trained=trained, config=config, chunk_rows=400, tmp_path=tmp_path
    )

    assert fast == precise and fast[0] == "scored" and fast[1][1] == 3_000
    assert len(taken) == 8 and all(chunk is not None for chunk in taken)
    assert fast[3].count(b", Smith") == 0 and fast[3].count(b" Smith, ") == 30  # ids quoted in predictions
    assert fast[4].count(b" Smith, ") == (30 if with_label else 0)  # and in feedback


def with_cell(line: bytes, column: int, value: bytes) -> bytes:
    """A generated CSV line (unquoted cells, a line feed at its end) with the cell at `column` replaced."""
    cells = line.rstrip(b"\n").split(b",")
    cells[column] = value
    return b",".join(cells) + b"\n"


def test_given_a_file_with_one_bad_cell_then_its_block_keeps_the_fast_path_but_for_that_row(
    trained, config, tmp_path, taken
):
    lines = generate(1_000, seed=6, with_label=False).splitlines(keepends=True)
    lines[450] = with_cell(lines[450], -1, b"cheque")  # payment_method, the last column: row 450

    fast, precise = score_both_ways(
        b"".join(lines), name="incoming/one-bad.csv", trained=trained, config=config, chunk_rows=100, tmp_path=tmp_path
    )

    assert fast == precise and fast[1][:2] == (1_000, 999)
    assert all(read is not None for read in taken) and len(taken) == 10
    assert [(len(rows), len(chunk)) for rows, chunk in taken] == [(100, 100)] * 4 + [(100, 99)] + [(100, 100)] * 5
    assert [(e.row, e.kind) for e in taken[4][1].errors] == [(450, "unknown_category")]


def test_given_blocks_with_a_cell_that_is_not_a_number_then_the_next_block_is_read_as_text_at_once(
    trained, config, tmp_path, monkeypatch
):
    """A block after one with a non-number skips the numeric parse that would fail again; a clean block read
    as text brings the numeric parse back. The outcome is the precise path's either way."""
    lines = generate(600, seed=7, with_label=False).splitlines(keepends=True)
    for row in (20, 150, 260):  # blocks 0, 1 and 2 of six (100 rows each): tenure_months not a number
        lines[row] = with_cell(lines[row], 1, b"abc")
    parses = []
    read_csv = fastpath._read_csv
    monkeypatch.setattr(
        fastpath,
        "_read_csv",
        lambda data, header, numeric, rows: parses.append(bool(numeric)) or read_csv(data, header, numeric, rows),
    )

    fast, precise = score_both_ways(
        b"".join(lines),
        name="incoming/bad-numbers.csv",
        trained=trained,
        config=config,
        chunk_rows=100,
        tmp_path=tmp_path,
    )

    assert fast == precise and fast[1][:2] == (600, 597)
    # block 0 as numbers (fails), then as text; 1, 2 and 3 as text at once (3 is clean); 4 and 5 as numbers
    assert parses == [True, False, False, False, False, True, True]


def test_given_a_byte_order_mark_at_a_block_start_then_both_paths_keep_it_in_the_id(trained, config, tmp_path):
    lines = generate(200, seed=8, with_label=True).splitlines(keepends=True)
    lines[1] = b"\xef\xbb\xbf" + lines[1]  # the first data row starts a block: the header is cut alone

    fast, precise = score_both_ways(
        b"".join(lines), name="incoming/bom.csv", trained=trained, config=config, chunk_rows=50, tmp_path=tmp_path
    )

    assert fast == precise and fast[0] == "scored" and "\ufeffC" in fast[3].decode()


# ---------------------------------------------------------------------------- random cells
ODD_CELLS = """\
 |1|-2.5| 3 |1_000|1e5|1E-3|.5|5.|+1|--1|1.5e|e5|0x1F|nan|NaN|inf|-Infinity|1e309|NA|null|٣|1,5|card|one-year|é|\t2|"""
CELLS = st.one_of(
    st.sampled_from(ODD_CELLS.split("|")),  # the empty cell included
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.text(alphabet="0123456789.eE+- _", max_size=12),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(CELLS, min_size=7, max_size=7), min_size=1, max_size=6), st.sampled_from(["\n", "\r\n"]))
def test_given_random_cells_then_the_fast_path_reads_a_plain_block_as_convert_rows_does(config, rows, newline):
    header = ["customer_id", *config.feature_names]
    body = newline.join(",".join(row) for row in rows) + newline
    data = body.encode()

    chunk = fast_chunk(data, header, features=config.features, label=None, task=None, max_field_chars=1000)

    if chunk is None:  # only a block that is not plain (a cell with a comma) is left to the precise path
        assert plain_rows(data, len(header), 1000) is None
        return
    parsed = [line.split(",") for line in body.split(newline) if line]
    precise = convert_rows(header, parsed, first_row=1, features=config.features, label=None, max_field_chars=1000)
    assert_reads_alike(chunk, precise)


def assert_reads_alike(chunk: Any, precise: Any) -> None:
    """The fast path's chunk is convert_rows': the same errors, good rows, columns and pass-through cells."""
    assert chunk.errors == precise.errors
    assert len(chunk) == len(precise) and list(chunk.rows) == list(precise.rows)
    for name, values in precise.columns.items():
        np.testing.assert_array_equal(values, chunk.columns[name], err_msg=name)
    for i, values in chunk.text_columns.items():
        assert list(values) == list(precise.text_columns[i]), i


BLANKS = st.sampled_from(["", " ", "  ", "\t", " \t "])
CATEGORIES = st.sampled_from(["card", "one-year", "two-year", "mailed-check", "gold", " card"])


def forgiving(features: Any) -> tuple[Any, ...]:
    """The features with missing = "impute", and unknown = "score" for the categorical ones."""
    return tuple(
        dataclasses.replace(f, missing="impute", unknown="score" if f.is_categorical else "reject") for f in features
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(st.one_of(CELLS, BLANKS, CATEGORIES), min_size=7, max_size=7), min_size=1, max_size=6),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_given_blanks_in_imputed_features_then_the_fast_path_reads_a_plain_block_as_convert_rows_does(
    config, rows, newline, every
):
    features = forgiving(config.features) if every else (*config.features[:2], *forgiving(config.features[2:]))
    header = ["customer_id", *config.feature_names]
    body = newline.join(",".join(row) for row in rows) + newline

    chunk = fast_chunk(body.encode(), header, features=features, label=None, task=None, max_field_chars=1000)

    if chunk is None:
        assert plain_rows(body.encode(), len(header), 1000) is None
        return
    parsed = [line.split(",") for line in body.split(newline) if line]
    precise = convert_rows(header, parsed, first_row=1, features=features, label=None, max_field_chars=1000)
    assert_reads_alike(chunk, precise)


def test_given_a_block_with_blanks_in_imputed_features_then_the_fast_path_reads_it_as_convert_rows_does(config):
    features = forgiving(config.features)
    header = ["customer_id", *config.feature_names]
    rows = [["c1", "", "2.5", " ", "4", "", "card"], ["c2", "1", "", "3", "\t", "gold", " "]]
    data = "".join(",".join(row) + "\n" for row in rows).encode()

    chunk = fast_chunk(data, header, features=features, label=None, task=None, max_field_chars=1000)
    precise = convert_rows(header, rows, first_row=1, features=features, label=None, max_field_chars=1000)

    assert chunk is not None and not precise.errors and len(chunk) == len(precise) == 2
    for name, values in precise.columns.items():
        np.testing.assert_array_equal(values, chunk.columns[name], err_msg=name)
    assert np.isnan(chunk.columns["tenure_months"]).tolist() == [True, False]
    assert chunk.columns["contract"].tolist() == ["", "gold"]  # a blank is the empty category; gold is scored
    assert chunk.columns["payment_method"].tolist() == ["card", ""]


# ---------------------------------------------------------------------------- quoted fields
TEXT = st.lists(
    st.sampled_from(["a", "Smith", ",", '"', '""', "\r\n", "\n", " ", "\t", "", "é", "\ufeff", "x,y"]), max_size=6
).map("".join)
NUMBERS = st.one_of(
    st.integers(-1_000, 1_000).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1.5", " 2 ", "1e5", ".5", "-0"]),
)


def good_cells(feature: Any) -> st.SearchStrategy[str]:
    """Cells the feature takes: numbers or its categories (any text when it scores unknown ones), and blanks
    when it imputes."""
    if feature.is_numeric:
        cells = NUMBERS
    else:
        cells = st.sampled_from(feature.categories) | (TEXT if feature.scores_unknown else st.nothing())
    return cells | BLANKS if feature.imputes else cells


def well_quoted(rows: list[list[str]], blank_before: list[bool], *, quote_all: bool, newline: str) -> bytes:
    """The rows as csv.writer writes them (RFC 4180 quoting), with a blank line before some."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator=newline, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    for row, blank in zip(rows, blank_before, strict=True):
        text.write(newline if blank else "")
        writer.writerow(row)
    return text.getvalue().encode()


def random_block(data: Any, features: Any) -> tuple[list[list[str]], bytes]:
    """Rows of an id (any text) and good cells, and the block csv.writer makes of them (LF or CR LF)."""
    newline = data.draw(st.sampled_from(["\n", "\r\n"]))
    row = st.tuples(TEXT, *(good_cells(f) for f in features)).map(list)
    rows = data.draw(st.lists(row, min_size=1, max_size=6))
    blank_before = data.draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
    return rows, well_quoted(rows, blank_before, quote_all=data.draw(st.booleans()), newline=newline)


def precise_chunk(data: bytes, header: list[str], features: Any, max_field_chars: int) -> Chunk | str:
    """The block as scoring's precise path reads it (CsvRows + convert_rows), or the kind of its rejection."""
    rows = CsvRows(
        io.BytesIO(data),
        key="block",
        gzipped=False,
        max_bytes=len(data) + 1,
        max_field_chars=max_field_chars,
        continuation=True,
    )
    try:
        parsed = [row for chunk in rows.chunks(1_000) for row in chunk]
    except FileRejected as rejected:
        return rejected.kind
    return convert_rows(header, parsed, first_row=1, features=features, label=None, max_field_chars=None)


def assert_agrees(chunk: Chunk, precise: Chunk | str, header: list[str]) -> None:
    """The fast path's chunk is the precise path's: the same errors, good rows, columns and pass-through cells."""
    assert isinstance(precise, Chunk) and chunk.errors == precise.errors and len(chunk) == len(precise)
    for name, values in precise.columns.items():
        np.testing.assert_array_equal(chunk.columns[name], values, err_msg=name)
    assert list(chunk.rows) == list(precise.rows)
    for i, values in chunk.text_columns.items():
        assert list(values) == list(precise.text_columns[i]), header[i]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.booleans())
def test_given_well_quoted_random_rows_then_the_fast_path_reads_them_as_the_csv_module_does(config, data, forgive):
    features = forgiving(config.features) if forgive else config.features
    header = ["customer_id", *config.feature_names]
    rows, block = random_block(data, features)

    chunk = fast_chunk(block, header, features=features, label=None, task=None, max_field_chars=1000)
    precise = precise_chunk(block, header, features, max_field_chars=1000)

    assert isinstance(precise, Chunk) and not precise.errors and list(precise.rows) == rows
    if block.startswith(BYTE_ORDER_MARK):  # pandas would drop it: the one reason left to decline
        assert chunk is None
        return
    assert chunk is not None, block  # taken: good values, well-formed quoting
    assert_agrees(chunk, precise, header)
    assert chunk.plain == (b'"' not in block)  # quoted cells may hold commas: the writer must quote them


DAMAGE = st.sampled_from(['"', '""', '"a"', " ", ",", "\n", "\r\n", "\r", "a", ""])  # "": delete a byte


def damaged(block: bytes, edits: list[tuple[int, str]]) -> bytes:
    """The block with each edit made: its text inserted at its offset, or the byte there deleted."""
    for offset, text in edits:
        at = min(offset, len(block))
        block = block[:at] + text.encode() + block[at + (text == "") :]
    return block


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    st.booleans(),
    st.lists(st.tuples(st.integers(0, 400), DAMAGE), min_size=1, max_size=4),
    st.one_of(st.integers(2, 30), st.just(1000)),
)
def test_given_damaged_quoting_then_the_fast_path_declines_or_agrees_with_the_csv_module(
    config, data, forgive, edits, max_field_chars
):
    features = forgiving(config.features) if forgive else config.features
    header = ["customer_id", *config.feature_names]
    block = damaged(random_block(data, features)[1], edits)

    chunk = fast_chunk(block, header, features=features, label=None, task=None, max_field_chars=max_field_chars)

    if chunk is not None:
        assert_agrees(chunk, precise_chunk(block, header, features, max_field_chars), header)


@pytest.mark.parametrize(
    ("block", "precise"),
    [
        (b'"C1"x,3,65.00,1,2.00,one-year,card\n', "bad_quoting"),  # text after a closing quote
        (b'C"1,3,65.00,1,2.00,one-year,card\n', "read"),  # a quote inside an unquoted field is literal
        (b' "C1",3,65.00,1,2.00,one-year,card\n', "read"),  # so is one after a space
        (b'"C1,3,65.00,1,2.00,one-year,card\n', "bad_quoting"),  # a quote that never closes
        (b'"C1",3,65.00,1,2.00,one-year,card\n"C2\n', "bad_quoting"),
    ],
)
def test_given_malformed_quoting_then_the_fast_path_declines(config, block, precise):
    header = ["customer_id", *config.feature_names]

    chunk = fast_chunk(block, header, features=config.features, label=None, task=None, max_field_chars=1000)
    read = precise_chunk(block, header, config.features, max_field_chars=1000)

    assert chunk is None
    assert read == precise if precise != "read" else isinstance(read, Chunk) and len(read) == 1


def test_given_quoted_cells_of_every_kind_then_the_fast_path_reads_them_as_the_csv_module_does(config):
    features = forgiving(config.features)
    header = ["customer_id", *config.feature_names]
    block = (
        b'"customer_id","1.5"," 2 ",3,"","contract","card"\r\n'  # header-like text, quoted numbers and blanks
        b"\r\n"
        b'"Smith, J","",4,5,6," ",""\n'
        b'"line\r\nbreak ""quoted""",1,2,3,4,one-year,"card"\n'
    )

    chunk = fast_chunk(block, header, features=features, label=None, task=None, max_field_chars=1000)

    assert chunk is not None and not chunk.plain and len(chunk) == 3
    assert_agrees(chunk, precise_chunk(block, header, features, max_field_chars=1000), header)
    assert list(chunk.rows)[2][0] == 'line\r\nbreak "quoted"' and chunk.columns["tenure_months"][0] == 1.5


# ---------------------------------------------------------------------------- bad rows in plain blocks
BAD_CELLS = (  # (column, a value convert_rows reports there): every way a plain block's value can be bad
    ("tenure_months", "twelve"),  # not a number
    ("monthly_charges", "inf"),  # not finite
    ("support_calls", ""),  # blank, and the feature does not impute
    ("data_usage_gb", "1e309"),  # not finite either: too large
    ("contract", "weekly"),  # an unknown category
    ("payment_method", " "),  # blank
    ("churned", "maybe"),  # a bad label
)


def dirtied(body: bytes, bad_rows: int, *, seed: int, newline: str = "\n") -> tuple[bytes, set[int]]:
    """`body` (a generated labeled file) with `bad_rows` random rows made bad in one or two ways of BAD_CELLS
    (each way in turn), a blank line here and there (blank lines are not rows), and the bad rows' numbers."""
    header, *lines = body.decode().splitlines()
    names = header.split(",")
    rng = np.random.default_rng(seed)
    bad = sorted(rng.choice(len(lines), size=bad_rows, replace=False).tolist())
    for k, i in enumerate(bad):
        cells = lines[i].split(",")
        for column, value in [BAD_CELLS[k % 7], *([BAD_CELLS[(k + 3) % 7]] if k % 3 == 0 else [])]:
            cells[names.index(column)] = value
        lines[i] = ",".join(cells)
    for i in sorted(rng.choice(len(lines), size=5, replace=False).tolist(), reverse=True):
        lines.insert(i, "")
    return newline.join([header, *lines, ""]).encode(), {i + 1 for i in bad}


def bad_rows_per_block(taken: list[Any]) -> list[tuple[int, int]]:
    """Each block's first row number and how many of its rows left the chunk the fast path made of it."""
    firsts = np.cumsum([0] + [len(rows) for rows, _ in taken[:-1]]) + 1
    return [(int(first), len(rows) - len(chunk)) for first, (rows, chunk) in zip(firsts, taken, strict=True)]


@pytest.mark.parametrize("case", [(10_000, 10, 3_500, "\n"), (3_000, 30, 1_000, "\r\n")], ids=["0.1%", "1%"])
def test_given_a_file_with_bad_rows_in_every_block_then_the_same_both_ways_and_only_bad_rows_leave_the_fast_path(
    case, trained, config, tmp_path, taken
):
    rows, bad, chunk_rows, newline = case  # rows, bad rows, rows per block, line end
    body, bad_numbers = dirtied(generate(rows, seed=8), bad, seed=9, newline=newline)

    fast, precise = score_both_ways(
        body, name="incoming/dirty.csv", trained=trained, config=config, chunk_rows=chunk_rows, tmp_path=tmp_path
    )

    assert fast == precise and fast[0] == "scored"
    counted, scored, errors, kinds, kept = fast[1]
    assert (counted, scored, len(kept)) == (rows, rows - bad, bad) and {e["row"] for e in errors} == bad_numbers
    assert set(kinds) == {"not_a_number", "not_finite", "missing", "unknown_category", "bad_label"}
    assert len(taken) >= 3 and all(read is not None for read in taken)
    per_block = bad_rows_per_block(taken)
    assert [n for _, n in per_block] == [
        sum(first <= r < first + len(block_rows) for r in bad_numbers)
        for (first, _), (block_rows, _) in zip(per_block, taken, strict=True)
    ]
    assert sum(n > 0 for _, n in per_block) >= 3


def test_given_a_flagged_row_that_convert_rows_takes_then_the_whole_block_goes_to_the_precise_path(
    trained, config, tmp_path, taken, monkeypatch
):
    checked = fastpath._checked

    def over_flagging(values: Any, feature: Any) -> Any:
        out, flagged = checked(values, feature)
        return out, flagged | (np.arange(len(flagged)) == 3)  # row 4 of each block: a good row

    monkeypatch.setattr(fastpath, "_checked", over_flagging)
    body, _ = dirtied(generate(300, seed=8), 6, seed=2)

    fast, precise = score_both_ways(
        body, name="incoming/odd.csv", trained=trained, config=config, chunk_rows=100, tmp_path=tmp_path
    )

    assert fast == precise and fast[1][:2] == (300, 294)
    assert taken and all(read is None for read in taken)


@pytest.mark.parametrize(
    "case",
    [(0.0, None, "stopped after row 1,000: the file cannot pass"), (0.05, 0.0, "stopped after row 1,000: out of time")],
    ids=["cannot-pass", "out-of-time"],
)
def test_given_a_file_that_fails_when_scored_fast_and_precisely_then_the_same_rejection_at_the_same_row(
    case, trained, config, tmp_path, taken
):
    share, deadline, stopped = case  # max_bad_row_share, the invocation's deadline, how the report says it stopped
    lines = generate(3_000, seed=11).splitlines(keepends=True)
    for i in range(520, 1_000, 4):  # every fourth row from 520 on: 120 of block 2's rows, an unknown contract
        lines[i] = with_cell(lines[i], 5, b"weekly")

    fast, precise = score_both_ways(
        b"".join(lines),
        name="incoming/fails.csv",
        trained=trained,
        config=config,
        chunk_rows=500,
        tmp_path=tmp_path,
        share=share,
        deadline=deadline,
    )

    assert fast == precise and fast[:2] == ("rejected", "too_many_bad_rows") and stopped in fast[2]
    assert len(taken) == 2 and all(read is not None for read in taken) and len(taken[1][1].errors) == 120


ANY_CELL = st.one_of(
    st.sampled_from([c for c in ODD_CELLS.split("|") if "," not in c]),
    st.sampled_from(["weekly", "maybe", "2", "0", "1", "card", "two-year", " one-year", "x" * 40]),
    st.text(alphabet="0123456789.eE+-_ \tinfa", max_size=10),
)
SMALL_FILE = generate(150, seed=12).splitlines(keepends=True)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(cells=st.lists(st.tuples(st.integers(1, 150), st.integers(1, 7), ANY_CELL), min_size=1, max_size=15))
def test_given_random_cells_at_random_rows_of_good_blocks_then_scored_the_same_both_ways_on_the_fast_path(
    cells, trained, config, taken
):
    lines = list(SMALL_FILE)
    for row, column, value in cells:
        lines[row] = with_cell(lines[row], column, value.encode())
    taken.clear()

    with tempfile.TemporaryDirectory() as tmp:
        fast, precise = score_both_ways(
            b"".join(lines),
            name="incoming/random.csv",
            trained=trained,
            config=config,
            chunk_rows=50,
            tmp_path=Path(tmp),
        )

    assert fast == precise
    assert len(taken) == 3 and all(read is not None for read in taken)


# ---------------------------------------------------------------------------- blocks and plain blocks
def test_given_quoted_line_breaks_then_rows_end_only_outside_quotes():
    data = b'a,"x\ny",1\nb,"z",2\n"q\n\n",c,3\n'

    assert row_ends(data).tolist() == [9, 17, 27]
    assert physical_lines(data) == 6 and physical_lines(b"a\rb\r\nc\n") == 3


@pytest.mark.parametrize(
    ("data", "rows"),
    [
        (b"a,1\nb,2\n", 2),
        (b"a,1\r\n\r\nb,2", 2),  # a blank line, no line break at the end
        (b"\n\r\n", 0),
        (b"a,1\nb\n", None),  # ragged
        (b"a,1\n   \n", None),  # a line of spaces is a row of one field
        (b'a,"1"\n', 1),  # a quoted number
        (b'"a,b","x\r\ny"\r\n', 1),  # a comma and a CR LF inside quotes
        (b'"a""b",""\n', 1),  # a doubled quote, an empty quoted field
        (b'"",""\n\n"x\n\ny",1', 2),  # a blank line between rows, blank lines inside quotes
        (b'"a,b"\n', None),  # one field: the comma is inside quotes
        (b'ab"c,1\n', None),  # a quote inside an unquoted field: literal to the csv module
        (b' "a",1\n', None),  # a space before the opening quote: literal too
        (b'"a"b,1\n', None),  # text after the closing quote: the csv module's error
        (b'"a" ,1\n', None),
        (b'a,"1\n', None),  # a quote that never closes in the block
        (b'a,"' + b"9" * 8 + b'"\n', 1),  # 8 characters between quotes: within the limit
        (b'a,"' + b"9" * 9 + b'"\n', None),  # 9 characters: within it, but 11 bytes; declining is allowed
        (b"a,1\rb,2\n", None),  # a lone CR ends a row for the csv module
        (b"a,\x00\n", None),
        (b"\xef\xbb\xbfa,1\n", None),  # a byte-order mark: pandas drops it, the csv module keeps it
        (b"a," + b"9" * 11 + b"\n", None),  # longer than the field limit (10 here)
        (b"a" * 8 + b"," + b"9" * 8 + b"\n", 1),  # a long line of short fields
    ],
)
def test_given_a_block_then_plain_rows_counts_rows_only_when_both_parsers_must_agree(data, rows):
    assert plain_rows(data, 2, max_field_chars=10) == rows


@pytest.mark.parametrize(
    "data",
    [
        b"a,1\nb,2\n",
        b"\r\na,1\r\n\r\nb,\r\n,3",
        b"\na,\xc3\xa9\n\n\nb,2",
        b"a,1\n\n",
        b'"a,\n""x""",1\r\n\r\n"",2\nb,"3\r\n"',  # quoted: commas, line breaks and doubled quotes inside
    ],
)
def test_given_a_plain_block_then_a_row_asked_for_alone_is_the_row_the_whole_block_splits_into(data):
    count = plain_rows(data, 2, max_field_chars=10)
    assert count  # plain, with rows

    alone = [fastpath._LineRows(data, count)[i] for i in [*range(count), *range(-count, 0)]]

    every = list(fastpath._LineRows(data, count))
    read = [row for row in csv.reader(io.StringIO(data.decode(), newline="")) if row]
    assert alone == every + every and every == read


def test_given_a_quote_that_never_closes_then_the_rest_is_read_by_the_csv_module(monkeypatch):
    from mlops_core.data import blocks as csvblocks

    monkeypatch.setattr(csvblocks, "BLOCK_BYTES", 64)
    body = b"id,x\n" + b"a,1\n" * 20 + b'b,"2\n' + b"c,3\n" * 40
    blocks = CsvBlocks(io.BytesIO(body), key="k", gzipped=False, max_bytes=1 << 20, max_field_chars=50)

    assert blocks.next_row() == ["id", "x"]
    handed_out = list(blocks.blocks(1_000))
    with pytest.raises(FileRejected) as rejected:
        for block in handed_out:
            for _ in block.rows(key="k", max_field_chars=50).chunks(10):
                pass

    assert [block.data is None for block in handed_out] == [False, True]  # 20 rows, then the rest, once
    whole = CsvRows(io.BytesIO(body), key="k", gzipped=False, max_bytes=1 << 20, max_field_chars=50)
    with pytest.raises(FileRejected) as as_one_file:
        list(whole.chunks(10))
    assert rejected.value.kind == "field_too_long" and rejected.value.where == as_one_file.value.where


@settings(max_examples=300, deadline=None)
@given(
    rows=st.integers(2, 4).flatmap(
        lambda width: st.lists(st.lists(st.text(",\"\r\n \x00a\t'é"), min_size=width, max_size=width), max_size=6)
    )
)
def test_given_any_cells_then_csv_fields_joined_are_what_csv_writer_writes(rows):
    written = io.StringIO()
    csv.writer(written, lineterminator=score_module.CSV_LINE_END).writerows(rows)

    fields = [score_module.csv_fields(column) for column in zip(*rows, strict=True)] if rows else []
    joined = "".join(",".join(row) + score_module.CSV_LINE_END for row in zip(*fields, strict=True))

    assert joined == written.getvalue()
