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

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..config import Feature
from ..lookup import positions
from ..words import TextAnalysis, analyze
from .bins import bin_counts, column_spec

VOCABULARY = 2000  # words kept in the manifest per text feature
TOP_TERMS = 20  # words with a bin of their own
NEW_TERMS_KEPT = 200  # the batch's most frequent unknown words kept while counting (the report shows 10)


def _stop_words(feature: Feature) -> frozenset[str]:
    chosen = feature.vectorizer.get("stop_words")
    if chosen == "english":  # the vectorizer's own list; a text project has loaded scikit-learn with its model
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # noqa: PLC0415

        return frozenset(ENGLISH_STOP_WORDS)
    return frozenset(chosen or ())


def text_spec(documents: np.ndarray, feature: Feature, *, bins: int) -> dict[str, Any]:
    """The reference of a text feature: the vocabulary, the word shares per bin, and the length bins."""

    analysis = analyze(documents, lowercase=True, stop_words=_stop_words(feature))
    frequent = pd.Series(analysis.words, dtype=object).value_counts()
    vocabulary = [str(w) for w in frequent.index[:VOCABULARY]]
    counts = _word_counts(analysis.positions_in(pd.Index(vocabulary, dtype=object)), len(vocabulary))
    return {
        "type": "text",
        "vocabulary": vocabulary,
        "stop_words": sorted(_stop_words(feature)) if feature.vectorizer.get("stop_words") else [],
        "proportions": _shares(counts),
        "length": column_spec(analysis.lengths.astype(np.float64), categories=None, bins=bins),
        "rows": len(documents),
    }


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


def _counts_as_drift(analysis: TextAnalysis, stop_words: frozenset[str], documents: int) -> bool:
    return analysis.lowercase and analysis.stop_words == stop_words and len(analysis.lengths) == documents


class TextCounts:
    """One text feature's batch, counted chunk by chunk into its reference's bins."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec
        self.stop_words = frozenset(spec.get("stop_words", ()))
        self.words = np.zeros(len(spec["proportions"]), dtype=np.int64)
        self.lengths = np.zeros(len(spec["length"]["proportions"]), dtype=np.int64)
        self.new_words: Counter[str] = Counter()
        self._known = pd.Index(spec["vocabulary"], dtype=object)

    def update(self, documents: np.ndarray, analysis: TextAnalysis | None = None) -> None:
        """Count a chunk's documents; `analysis`, their words as the model's vectorizer found them, is used
        where it found them as text drift does (lower case, the same stop words), else they are analysed here."""
        if analysis is None or not _counts_as_drift(analysis, self.stop_words, len(documents)):
            analysis = analyze(documents, lowercase=True, stop_words=self.stop_words)
        known = positions(self._known, analysis.terms)  # one lookup per distinct word of the chunk
        codes = known[analysis.codes]
        self.words += _word_counts(codes, len(self._known))
        self.lengths += bin_counts(self.spec["length"], analysis.lengths.astype(np.float64))
        per_term = np.bincount(analysis.codes, minlength=len(analysis.terms))
        unknown = np.flatnonzero((known < 0) & (per_term > 0))
        frequent = unknown[np.argsort(-per_term[unknown], kind="stable")[:NEW_TERMS_KEPT]]
        self.new_words.update(dict(zip(analysis.terms[frequent].tolist(), per_term[frequent].tolist(), strict=True)))
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
