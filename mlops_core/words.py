"""The words of documents as scikit-learn's default word analyzer finds them, a block of documents at a time.

scikit-learn's vectorizers analyse one document per Python call: lower case, `token_pattern`'s findall, the
stop words filtered out by a comprehension. For a block of documents the same words come from one pass over
the documents joined by line breaks, a break standing between two documents:

- the default pattern `\\b\\w\\w+\\b` finds what `\\w\\w+` finds (a greedy run of word characters ends where
  its `\\b` would), and a line break is a separator for both the pattern and the word boundary, as the
  start and end of a document are;
- lower-casing the joined text is lower-casing each document: Python's only context-dependent case rule
  (a final sigma) reads a line break as it reads the end of a text;
- a line break inside a document is first made a space, which is neither a word character nor cased.

ASCII text (most of it) is split without the regular expression: every other ASCII character is made a
space, the breaks a token of their own, and `str.split` does the rest (2x faster than findall). The
property tests compare both paths with scikit-learn's analyzer, document by document.

Text drift (monitoring) and the vectorizer's fast transform (modeling) share this, so a scored chunk's text
is analysed once.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .lookup import positions

DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # noqa: S105  # scikit-learn's, not a password
_WORD_OR_BREAK = re.compile(r"(?u)\w\w+|\n")
_BREAK = "\x01"  # the ASCII path's token between documents: a single character, so never a word
_ASCII_SEPARATORS = str.maketrans(
    {c: " " for c in map(chr, range(128)) if c not in string.ascii_letters + string.digits + "_\n"}
)


@dataclass(frozen=True)
class TextAnalysis:
    """A block of documents' words in order, each as its index into the block's distinct words (`terms`), so
    that a lookup (the vectorizer's vocabulary, text drift's) costs one hash per distinct word."""

    terms: np.ndarray  # object array: the distinct words of the block (and the separators it dropped)
    codes: np.ndarray  # every document's words, one document after the other, as indices into `terms`
    lengths: np.ndarray  # int64: the number of words of each document
    lowercase: bool
    stop_words: frozenset[str]

    @property
    def words(self) -> np.ndarray:
        """The words themselves, in order (an object array)."""
        return self.terms[self.codes]

    @property
    def document(self) -> np.ndarray:
        """The document (0, 1, ...) each word belongs to."""
        return np.repeat(np.arange(len(self.lengths)), self.lengths)

    def positions_in(self, known: pd.Index) -> np.ndarray:
        """Each word's position in `known`, -1 for a word not in it."""
        return positions(known, self.terms)[self.codes]


def analyze(documents: Sequence[str] | np.ndarray, *, lowercase: bool, stop_words: frozenset[str]) -> TextAnalysis:
    """The words scikit-learn's default analyzer (`token_pattern` as default, no accent stripping, no n-grams)
    finds in each document, without `stop_words`; `lowercase` as the vectorizer's. Documents must be str."""
    text = "\n".join(documents)
    if text.count("\n") != len(documents) - 1:  # a break inside a document: a space, as the analyzer reads it
        text = "\n".join(d.replace("\n", " ") for d in documents)
    if lowercase:
        text = text.lower()
    if text.isascii():
        found, separator = text.translate(_ASCII_SEPARATORS).replace("\n", f" {_BREAK} ").split(), _BREAK
    else:
        found, separator = _WORD_OR_BREAK.findall(text), "\n"
    codes, terms = pd.factorize(np.array(found, dtype=object))
    terms = np.asarray(terms, dtype=object)
    wanted = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms)) >= 2  # the ASCII path's 1-letter parts
    if stop_words and len(terms):
        wanted &= positions(pd.Index(sorted(stop_words), dtype=object), terms) < 0
    breaks = terms == separator
    document = np.cumsum(breaks[codes])  # the breaks before a word: its document
    kept = wanted[codes]
    codes, document = codes[kept], document[kept]
    return TextAnalysis(terms, codes, np.bincount(document, minlength=len(documents)), lowercase, stop_words)
