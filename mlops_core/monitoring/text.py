"""Drift of a text feature: its words and its lengths against the reference, in bounded memory.

The reference (stored in the manifest, so kept small) holds a vocabulary: the `VOCABULARY` most frequent
words of the reference documents, most frequent first. A batch's words are counted into `TOP_TERMS + 2`
bins: each of the top terms, the rest of the vocabulary, and words not in it. The PSI of those bins is the
shift in what is written (new words land in the last bin; the share of tokens there is reported as the
out-of-vocabulary share). The PSI of document length (words per document, in quantile bins) is the other
signal. The feature's drift value is whichever of the two is further over its threshold, so a text feature
is one feature in the verdict and one `FeaturePSI` like any other; the report names the new words.

Words are what scikit-learn's default analyzer finds (lower case, two or more word characters), without
the feature's stop words, so the terms that mean something are not drowned by "the" and "and".
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..config import Feature
from ..lookup import positions
from .bins import bin_counts, column_spec

VOCABULARY = 2000  # words kept in the manifest per text feature
TOP_TERMS = 20  # words with a bin of their own
NEW_TERMS_KEPT = 200  # the batch's most frequent unknown words kept while counting (the report shows 10)
WORD = re.compile(r"(?u)\b\w\w+\b")


def _stop_words(feature: Feature) -> frozenset[str]:
    chosen = feature.vectorizer.get("stop_words")
    if chosen == "english":  # the vectorizer's own list; a text project has loaded scikit-learn with its model
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # noqa: PLC0415

        return frozenset(ENGLISH_STOP_WORDS)
    return frozenset(chosen or ())


def words(documents: Iterable[str], stop_words: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every document's words in order, flattened (an object array), and the number of words per document.

    The lists findall makes are flattened by itertools, not `Series.explode`: pandas 3 would copy every word
    into its Arrow string dtype, which the lookups copy back (0.86 against 0.65 s for 100,000 reviews)."""
    lists = pd.Series(list(documents), dtype=object).str.lower().str.findall(WORD).to_numpy()
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    flat = np.fromiter(itertools.chain.from_iterable(lists), dtype=object, count=int(lengths.sum()))
    if stop_words:  # one hash lookup over the flat words (a filter per document costs a Python call each)
        kept = positions(pd.Index(sorted(stop_words), dtype=object), flat) < 0
        document = np.repeat(np.arange(len(lists)), lengths)
        flat, lengths = flat[kept], np.bincount(document[kept], minlength=len(lists))
    return flat, lengths


def text_spec(documents: np.ndarray, feature: Feature, *, bins: int) -> dict[str, Any]:
    """The reference of a text feature: the vocabulary, the word shares per bin, and the length bins."""

    flat, lengths = words(documents, _stop_words(feature))
    frequent = pd.Series(flat, dtype=object).value_counts()
    vocabulary = [str(w) for w in frequent.index[:VOCABULARY]]
    counts = _word_counts(_codes(flat, pd.Index(vocabulary, dtype=object)), len(vocabulary))
    return {
        "type": "text",
        "vocabulary": vocabulary,
        "stop_words": sorted(_stop_words(feature)) if feature.vectorizer.get("stop_words") else [],
        "proportions": _shares(counts),
        "length": column_spec(lengths.astype(np.float64), categories=None, bins=bins),
        "rows": len(documents),
    }


def _codes(flat: np.ndarray, vocabulary: pd.Index) -> np.ndarray:
    """Each word's rank in the vocabulary, -1 for a word outside it (a hash lookup)."""
    return positions(vocabulary, flat)


def _word_counts(codes: np.ndarray, vocabulary_size: int) -> np.ndarray:
    """Counts in the bins: each top term, the rest of the vocabulary, words outside it."""
    top = min(TOP_TERMS, vocabulary_size)
    bucket = np.where(codes < 0, top + 1, np.minimum(codes, top))
    return np.bincount(bucket, minlength=top + 2)


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [float(c) for c in (counts / total if total else counts.astype(float))]


def bin_names(spec: Mapping[str, Any]) -> list[str]:
    """The word bins' names, for charts and reports."""
    return [*spec["vocabulary"][:TOP_TERMS], "(rest of the vocabulary)", "(words not in the vocabulary)"]


class TextCounts:
    """One text feature's batch, counted chunk by chunk into its reference's bins."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec
        self.stop_words = frozenset(spec.get("stop_words", ()))
        self.words = np.zeros(len(spec["proportions"]), dtype=np.int64)
        self.lengths = np.zeros(len(spec["length"]["proportions"]), dtype=np.int64)
        self.new_words: Counter[str] = Counter()
        self._known = pd.Index(spec["vocabulary"], dtype=object)

    def update(self, documents: np.ndarray) -> None:

        flat, lengths = words(documents, self.stop_words)
        codes = _codes(flat, self._known)  # once per chunk: the bins and the unknown words both need it
        self.words += _word_counts(codes, len(self._known))
        self.lengths += bin_counts(self.spec["length"], lengths.astype(np.float64))
        unknown = pd.Series(flat[codes < 0], dtype=object)
        self.new_words.update(unknown.value_counts().head(NEW_TERMS_KEPT).to_dict())
        if len(self.new_words) > 4 * NEW_TERMS_KEPT:  # keep the counter bounded
            self.new_words = Counter(dict(self.new_words.most_common(NEW_TERMS_KEPT)))

    def detail(self, words_psi: float, length_psi: float) -> dict[str, Any]:
        """What the report shows of the feature: both PSIs, the out-of-vocabulary shares, the new words."""
        batch = _shares(self.words)
        return {
            "words_psi": round(words_psi, 6),
            "length_psi": round(length_psi, 6),
            "oov_share": round(batch[-1], 6) if self.words.sum() else None,
            "reference_oov_share": round(self.spec["proportions"][-1], 6),
            "new_words": [w for w, _ in self.new_words.most_common(10)],
            "words": int(self.words.sum()),
        }
