"""A fitted TF-IDF vectorizer's transform, the same matrix without a Python call per document.

scikit-learn's `TfidfVectorizer.transform` analyses and counts each document in Python (its n-grams joined
into strings, a dict per document): 21 of the 25 s a naive peer takes to score 1M reviews. `FastVectorizer`
gives the same counts for a block at once: the words come from `mlops_core.words.analyze`, each word and
each n-gram of words is looked up by number (n-grams as base-V numbers of their words' ranks, within a
document only), and the counts become the CSR matrix the vectorizer builds; the fitted vectorizer's own
TF-IDF step finishes it. The unit tests compare the two matrices, entry for entry, on generated text.

`with_fast_text` puts it in a model's column transformer where the vectorizer is one it can reproduce
(word analyzer, default pattern, no custom preprocessor, tokenizer or accent stripping); any other model
is returned as it is. The analysis of the last transform is kept, so text drift need not analyse again.
"""

from __future__ import annotations

import contextlib
import copy
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..words import DEFAULT_TOKEN_PATTERN, TextAnalysis, analyze

SMALL_BLOCK = 256  # fewer documents are left to scikit-learn: the lookups' fixed cost is larger than its loop
_MAX_KEY = 2**62  # n-gram numbers must fit int64


class FastVectorizer:
    """A fitted `TfidfVectorizer`'s transform (see the module's docstring); anything else is the vectorizer's."""

    def __init__(self, fitted: Any) -> None:
        self.fitted = fitted
        self.lowercase = bool(fitted.lowercase)
        self.stop_words = frozenset(fitted.get_stop_words() or ())
        self.min_n, self.max_n = fitted.ngram_range
        terms = [(term.split(" "), column) for term, column in fitted.vocabulary_.items()]
        self.words = pd.Index(sorted({w for parts, _ in terms for w in parts}), dtype=object)
        self.base = len(self.words) + 1  # a word's number is its rank + 1; 0 is never a word
        rank = {w: i for i, w in enumerate(self.words)}
        self.unigram_column = np.full(len(self.words), -1, dtype=np.int64)
        ngrams = [(self._key([rank[w] for w in parts]), column) for parts, column in terms if len(parts) > 1]
        for parts, column in terms:
            if len(parts) == 1:
                self.unigram_column[rank[parts[0]]] = column
        self.ngram_keys = pd.Index(np.array([k for k, _ in ngrams], dtype=np.int64))
        self.ngram_columns = np.array([c for _, c in ngrams], dtype=np.int64)
        self.last: TextAnalysis | None = None

    def _key(self, ranks: list[int]) -> int:
        key = 0
        for r in ranks:
            key = key * self.base + r + 1
        return key

    def __getattr__(self, name: str) -> Any:  # get_feature_names_out and the like: the fitted vectorizer's
        return getattr(self.fitted, name)

    def transform(self, documents: Any) -> Any:
        """The fitted vectorizer's `transform(documents)`, the same matrix."""
        values = np.asarray(documents, dtype=object)
        self.last = None
        if len(values) < SMALL_BLOCK or not all(isinstance(d, str) for d in values.tolist()):
            return self.fitted.transform(documents)  # and its own error for a document that is not text
        self.last = analyze(values, lowercase=self.lowercase, stop_words=self.stop_words)
        counts = self._counts(self.last, len(values))
        if self.fitted.binary:
            counts.data.fill(1)
        return self.fitted._tfidf.transform(counts, copy=False)  # the vectorizer's own last step

    def _counts(self, analysis: TextAnalysis, documents: int) -> Any:
        """The document-term counts, as `CountVectorizer._count_vocab` lays them out (int32 indices, sorted)."""
        import scipy.sparse as sp  # noqa: PLC0415  # loaded with the text model; not in every cold start

        ranks = analysis.positions_in(self.words)
        document = analysis.document
        rows, columns = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
        if self.min_n == 1:
            column = np.where(ranks >= 0, self.unigram_column[ranks], -1)
            rows.append(document[column >= 0])
            columns.append(column[column >= 0])
        for n in range(max(self.min_n, 2), self.max_n + 1):
            starts = len(ranks) - n + 1
            if starts <= 0:
                break
            known = document[:starts] == document[n - 1 :]  # the n words are in one document
            key = np.zeros(starts, dtype=np.int64)
            for j in range(n):
                known &= ranks[j : j + starts] >= 0
                key = key * self.base + ranks[j : j + starts] + 1
            found = np.full(starts, -1, dtype=np.int64)
            found[known] = self.ngram_keys.get_indexer(key[known])
            column = np.where(found >= 0, self.ngram_columns[found], -1)
            rows.append(document[:starts][column >= 0])
            columns.append(column[column >= 0])
        row, col = np.concatenate(rows), np.concatenate(columns)
        shape = (documents, len(self.fitted.vocabulary_))
        counts = sp.csr_array((np.ones(len(row), dtype=self.fitted.dtype), (row, col)), shape=shape)
        counts.sum_duplicates()  # sorted indices, one entry per term, as the vectorizer's
        index_type = np.int64 if counts.nnz > np.iinfo(np.int32).max else np.int32
        counts.indices, counts.indptr = counts.indices.astype(index_type), counts.indptr.astype(index_type)
        return counts


def reproducible(vectorizer: Any) -> bool:
    """Whether `FastVectorizer` gives this fitted vectorizer's matrix (see the module's docstring)."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415  # a text model has loaded it

    if type(vectorizer) is not TfidfVectorizer or not hasattr(vectorizer, "vocabulary_"):
        return False
    plain = (
        vectorizer.analyzer == "word"
        and vectorizer.input == "content"
        and vectorizer.preprocessor is None
        and vectorizer.tokenizer is None
        and vectorizer.strip_accents is None
        and vectorizer.token_pattern == DEFAULT_TOKEN_PATTERN
    )
    words = len({w for term in vectorizer.vocabulary_ for w in term.split(" ")}) + 1
    return plain and words ** vectorizer.ngram_range[1] < _MAX_KEY


_FAST: weakref.WeakKeyDictionary[Any, tuple[Any, dict[str, FastVectorizer]]] = weakref.WeakKeyDictionary()


def with_fast_text(model: Any) -> tuple[Any, dict[str, FastVectorizer]]:
    """`model`, or a shallow copy of it whose reproducible text vectorizers (in a column transformer, first in
    a pipeline or alone) are `FastVectorizer`s, with those by input column. Kept per model (a request of the
    online endpoint must not build them again)."""
    try:
        return _FAST[model]
    except (KeyError, TypeError):
        pass
    fast: dict[str, FastVectorizer] = {}
    result = model
    steps: Sequence[tuple[str, Any]] = getattr(model, "steps", ())
    if steps and hasattr(steps[0][1], "transformers_"):
        front, fast = _column_transformer(steps[0][1])
        if fast:
            result = copy.copy(model)
            result.steps = [(steps[0][0], front), *steps[1:]]
    elif hasattr(model, "transformers_"):
        result, fast = _column_transformer(model)
    with contextlib.suppress(TypeError):  # a model that cannot be weakly referred to is built again next time
        _FAST[model] = (result, fast)
    return result, fast


def _column_transformer(transformer: Any) -> tuple[Any, dict[str, FastVectorizer]]:
    fast = {
        columns: FastVectorizer(step)
        for _, step, columns in transformer.transformers_
        if isinstance(columns, str) and reproducible(step)
    }
    if not fast:
        return transformer, {}
    result = copy.copy(transformer)
    result.transformers_ = [
        (name, fast[columns] if isinstance(columns, str) and columns in fast else step, columns)
        for name, step, columns in transformer.transformers_
    ]
    return result, fast
