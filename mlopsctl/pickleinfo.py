"""What a model file says about the libraries that wrote it, read from its bytes without unpickling.

scikit-learn estimators pickle `_sklearn_version` with their state (sklearn.base.BaseEstimator's
__getstate__); numpy arrays name the module that rebuilds them (`numpy._core` since numpy 2,
`numpy.core` before); a pickle's first opcode gives its protocol. A joblib file may be compressed
(zlib, gzip, bz2, xz, lzma, as `joblib.dump(compress=...)` writes them): it is decompressed as a
stream, piece by piece, so a large model or a decompression bomb costs time, not memory. Nothing in
the file runs: this is how `mlops register` refuses a model pickled with another scikit-learn before
its code is ever executed (mlopsctl/modelcheck.py).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

from joblib.compressor import BinaryZlibFile

PIECE_BYTES = 1 << 20
OVERLAP_BYTES = 64  # a key and its value split between two pieces are still found
MAX_SCANNED_BYTES = 4 << 30  # past this much decompressed data the scan gives up (the load still checks)

# The value that follows the `_sklearn_version` key in a binary pickle (protocol 2 to 5): after an
# optional memo opcode (MEMOIZE, BINPUT or LONG_BINPUT), a SHORT_BINUNICODE (length byte) or a
# BINUNICODE (4-byte length). A later estimator often refers to the memoised string instead: one
# literal is enough, and every literal is kept.
_VERSION = re.compile(rb"_sklearn_version(?:\x94|q.|r.{4})?(?:\x8c(.)|X(.{4}))", re.DOTALL)
_VERSION_TEXT = re.compile(r"^\d+\.\d+[0-9A-Za-z.+-]*$")

_OPENERS: dict[bytes, tuple[str, Callable[..., Any]]] = {  # (name, open(file, mode))
    b"\x78": ("zlib", BinaryZlibFile),
    b"\x1f\x8b": ("gzip", gzip.open),
    b"BZh": ("bz2", bz2.open),
    b"\xfd7zXZ\x00": ("xz", partial(lzma.open, format=lzma.FORMAT_XZ)),
    b"\x5d\x00": ("lzma", partial(lzma.open, format=lzma.FORMAT_ALONE)),
}
CORRUPT = (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError)  # what a corrupt or truncated file raises


@dataclass
class Pickled:
    """The library versions a model file names, as far as its bytes tell."""

    compression: str | None = None  # None: a plain pickle stream
    protocol: int | None = None
    sklearn: list[str] = field(default_factory=list)  # every `_sklearn_version` literal, in order of appearance
    numpy: str | None = None  # ">=2" or "<2", from the module path its arrays name
    readable: bool = True  # False: not a pickle (or a compression) this scan knows; the load decides

    def to_dict(self) -> dict[str, Any]:
        return {
            "compression": self.compression,
            "pickle_protocol": self.protocol,
            "sklearn": self.sklearn,
            "numpy": self.numpy,
            "scanned": self.readable,
        }


def scan(path: Path) -> Pickled:
    """The versions found in the file at `path` (see the module's docstring); never unpickles it."""
    with path.open("rb") as raw:
        return scan_file(raw)


def scan_file(raw: IO[bytes]) -> Pickled:
    """The versions found in a seekable binary file, read from its start."""
    found = Pickled()
    head = raw.read(8)
    raw.seek(0)
    opener = next((o for magic, o in _OPENERS.items() if head.startswith(magic)), None)
    if opener is None and not head.startswith(b"\x80"):
        found.readable = False
        return found
    try:
        if opener is None:
            _scan_stream(raw, found)
        else:
            found.compression = opener[0]
            with opener[1](raw, "rb") as stream:
                _scan_stream(stream, found)
    except CORRUPT:  # the load will say what is wrong
        found.readable = False
    return found


def _scan_stream(stream: IO[bytes], found: Pickled) -> None:
    tail = b""
    for index, piece in enumerate(_pieces(stream)):
        if index == 0 and piece[:1] == b"\x80":
            found.protocol = piece[1] if len(piece) > 1 else None
        window = tail + piece
        for version in _versions(window):
            if version not in found.sklearn:
                found.sklearn.append(version)
        if found.numpy is None and b"numpy._core" in window:
            found.numpy = ">=2"
        elif found.numpy is None and b"numpy.core" in window:
            found.numpy = "<2"
        tail = window[-OVERLAP_BYTES:]


def _pieces(stream: IO[bytes]) -> Iterator[bytes]:
    scanned = 0
    while scanned < MAX_SCANNED_BYTES:
        piece = stream.read(PIECE_BYTES)
        if not piece:
            return
        scanned += len(piece)
        yield piece


def _versions(window: bytes) -> Iterator[str]:
    for match in _VERSION.finditer(window):
        length = match[1][0] if match[1] is not None else int.from_bytes(match[2], "little")
        value = window[match.end() : match.end() + length]
        if len(value) != length:
            continue  # cut by the end of the window: the next window holds it whole
        text = value.decode("utf-8", errors="replace")
        if _VERSION_TEXT.match(text):
            yield text


def minor(version: str) -> str:
    """A version's major.minor ("1.9.1" -> "1.9"); the text itself when it has no such part."""
    match = re.match(r"^(\d+)\.(\d+)", version)
    return f"{match[1]}.{match[2]}" if match else version
