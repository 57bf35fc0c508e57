"""mlops_core.words: a block of documents analysed at once finds, document by document, the words
scikit-learn's default analyzer finds in each (the ASCII path and the regular expression's alike)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import CountVectorizer

from mlops_core.words import analyze

# What could trip the joined text: line breaks and the ASCII path's marker inside a text, NULs, final sigmas
# and other letters whose lower case depends on their neighbours, apostrophes, digits, underscores, blanks.
UNICODE = st.text(alphabet=st.sampled_from(list("ab Σσ'_1é\x00\x01İ.,\n\r\t")), max_size=30)
ASCII = st.text(alphabet=st.sampled_from(list("aB z'_19.,-\x00\x01\n\r\t\x0b\x1f~")), max_size=30)
STOP = st.sets(st.sampled_from(["ab", "\u03c3\u03c3", "11", "é_", "bb", "a_"]), max_size=2)


def _per_document(documents: list[str], stop: set[str], lowercase: bool) -> list[list[str]]:
    analyzer = CountVectorizer(stop_words=sorted(stop) or None, lowercase=lowercase).build_analyzer()
    return [analyzer(d) for d in documents]


def _split(words: np.ndarray, lengths: np.ndarray) -> list[list[str]]:
    ends = np.cumsum(lengths)
    return [words[end - n : end].tolist() for n, end in zip(lengths, ends, strict=True)]


@settings(max_examples=300, deadline=None)
@given(documents=st.lists(UNICODE | ASCII, max_size=12), stop=STOP, lowercase=st.booleans())
def test_given_any_texts_then_analyze_finds_per_document_what_the_analyzer_would(documents, stop, lowercase):
    analysis = analyze(documents, lowercase=lowercase, stop_words=frozenset(stop))

    assert _split(analysis.words, analysis.lengths) == _per_document(documents, stop, lowercase)
    assert analysis.lengths.dtype == np.int64 and len(analysis.lengths) == len(documents)
    assert analysis.document.tolist() == [i for i, n in enumerate(analysis.lengths) for _ in range(n)]


@settings(max_examples=200, deadline=None)
@given(documents=st.lists(ASCII, min_size=1, max_size=12), stop=STOP)
def test_given_ascii_texts_then_the_split_path_finds_what_the_analyzer_would(documents, stop):
    assert "".join(documents).isascii()  # the path without the regular expression

    analysis = analyze(documents, lowercase=True, stop_words=frozenset(stop))

    assert _split(analysis.words, analysis.lengths) == _per_document(documents, stop, True)


def test_given_no_documents_then_there_are_no_words():
    analysis = analyze([], lowercase=True, stop_words=frozenset())
    assert analysis.words.tolist() == [] and analysis.lengths.tolist() == []
