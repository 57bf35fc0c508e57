"""Property-based: whatever bytes arrive, the validator ends with a verdict, never a crash."""

from __future__ import annotations

import gzip
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_core.config import load_config
from mlops_core.data.convert import convert_rows
from mlops_core.data.reader import CsvRows, FileRejected

CONFIG = load_config()
HEADER = ",".join(["customer_id", *CONFIG.feature_names, CONFIG.label])
CELLS = st.sampled_from(
    [
        "",
        "1",
        "-2.5",
        "nan",
        "inf",
        "1e309",
        "one-year",
        "card",
        "x" * 2000,
        '"',
        '""',
        "\r",
        "\n",
        ",",
        "\ufeff",
        "\x00",
        "é",
        "=cmd|' /C calc'!A0",
        "0x1F",
        " 3 ",
    ]
)


def verdict(body: bytes, *, gzipped: bool = False) -> tuple[str, int]:
    """('rejected', 0) or ('parsed', good rows): the validator's answer for a body."""
    try:
        rows = CsvRows(
            io.BytesIO(body),
            key="incoming/x.csv",
            gzipped=gzipped,
            max_bytes=1_000_000,
            max_field_chars=CONFIG.scoring.max_field_chars,
        )
        header = rows.next_row() or []
        data = [row for chunk in rows.chunks(7) for row in chunk]
    except FileRejected as rejected:
        assert rejected.kind and str(rejected) and rejected.fix
        return "rejected", 0
    if not all(name in header for name in CONFIG.feature_names) or len(set(header)) != len(header):
        return "rejected", 0
    chunk = convert_rows(
        header,
        data,
        first_row=1,
        features=CONFIG.features,
        label=CONFIG.label,
        max_field_chars=CONFIG.scoring.max_field_chars,
        task=CONFIG.task,
    )
    assert len(chunk) + len({e.row for e in chunk.errors}) == len(data)
    for column in chunk.columns.values():
        assert len(column) == len(chunk)
    return "parsed", len(chunk)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_given_arbitrary_bytes_then_the_validator_returns_a_verdict(body):
    assert verdict(body)[0] in ("rejected", "parsed")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048))
def test_given_arbitrary_bytes_as_gzip_then_the_validator_returns_a_verdict(body):
    assert verdict(body, gzipped=True)[0] in ("rejected", "parsed")
    assert verdict(gzip.compress(body), gzipped=True)[0] in ("rejected", "parsed")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(CELLS, min_size=0, max_size=10), max_size=30))
def test_given_hostile_cells_under_a_valid_header_then_every_row_is_scored_or_explained(rows):
    body = (HEADER + "\n" + "\n".join(",".join(r) for r in rows)).encode()
    assert verdict(body)[0] in ("rejected", "parsed")
