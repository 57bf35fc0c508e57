"""From CSV bytes to typed feature columns, every row accounted for (scoring and training alike).

In the order a file travels:

- ``reader``    the guards on a file (size, binary content, line length) and a stream of rows
- ``blocks``    the body cut into blocks of whole rows, for the fast path
- ``plain``     whether a block is plain: both parsers read it alike, no row bad for its shape
- ``fastpath``  a plain block parsed by pandas' C parser and checked column-wise, its bad rows by ``convert``
- ``convert``   rows into typed columns, with a ``RowError`` naming the fix for every bad value
- ``cells``     one feature column's cells typed, and the values its ``missing``/``unknown`` refuse
- ``labeled``   a labeled file (training, feedback, a reference) streamed and counted row by row
- ``records``   the online endpoint's JSON records as the rows of text a CSV would hold, then ``convert``

Reads the config; imports nothing else of the project's.
"""

from .blocks import Block, CsvBlocks, has_lone_cr
from .cells import RowError, text_checks
from .convert import Chunk, convert_rows, read_labels
from .fastpath import Reading, fast_block, fast_chunk
from .labeled import FileRows, HashingReader, MissingColumns, skip_reasons, stream_rows, too_many_skipped
from .plain import plain_rows
from .reader import ByteStream, CsvRows, FileRejected, check_not_binary, open_guarded, too_large
from .records import record_error_dict, records_to_rows

__all__ = [
    "Block",
    "ByteStream",
    "Chunk",
    "CsvBlocks",
    "CsvRows",
    "FileRejected",
    "FileRows",
    "HashingReader",
    "MissingColumns",
    "Reading",
    "RowError",
    "check_not_binary",
    "convert_rows",
    "fast_block",
    "fast_chunk",
    "has_lone_cr",
    "open_guarded",
    "plain_rows",
    "read_labels",
    "record_error_dict",
    "records_to_rows",
    "skip_reasons",
    "stream_rows",
    "text_checks",
    "too_large",
    "too_many_skipped",
]
