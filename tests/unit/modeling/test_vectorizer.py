"""mlops_core.modeling.vectorizer: the fast transform gives the fitted TF-IDF vectorizer's matrix, entry for
entry, for every setting training can make; a model is changed only where that holds, and never in place."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from mlops_core.config import Task
from mlops_core.modeling import vectorizer as module
from mlops_core.modeling.predictions import Predictor
from mlops_core.modeling.vectorizer import FastVectorizer, reproducible, with_fast_text
from mlops_core.monitoring.text import TextCounts

WORDS = ["good", "bad", "the", "Movie", "PLOT", "not", "very", "σοφός", "ΟΔΟΣ", "x", "it's", "a_b", "42", "été"]
GLUE = [" ", "  ", ", ", ". ", "\n", "!", "-", "'"]


def _documents(rng: np.random.Generator, n: int) -> list[str]:
    return ["".join(rng.choice(WORDS) + rng.choice(GLUE) for _ in range(rng.integers(0, 15))) for _ in range(n)]


def _same_matrix(fast, expected) -> None:
    assert type(fast) is type(expected) and fast.shape == expected.shape
    for part in ("data", "indices", "indptr"):
        assert getattr(fast, part).dtype == getattr(expected, part).dtype, part
        assert np.array_equal(getattr(fast, part), getattr(expected, part)), part


SETTINGS = [
    {},
    {"ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True, "stop_words": "english", "max_features": 40},
    {"ngram_range": (2, 3)},
    {"ngram_range": (1, 3), "lowercase": False, "binary": True},
    {"stop_words": ["good", "bad"], "norm": None, "use_idf": False},
    {"ngram_range": (1, 2), "norm": "l1", "smooth_idf": False, "dtype": np.float32},
]


@pytest.mark.parametrize("chosen", SETTINGS)
def test_given_a_fitted_vectorizer_then_the_fast_transform_gives_its_matrix(chosen):
    rng = np.random.default_rng(7)
    fitted = TfidfVectorizer(**chosen).fit(_documents(rng, 400))
    batch = np.array(_documents(rng, module.SMALL_BLOCK + 300), dtype=object)
    assert reproducible(fitted)

    fast = FastVectorizer(fitted)

    _same_matrix(fast.transform(batch), fitted.transform(batch))
    assert fast.last is not None and len(fast.last.lengths) == len(batch)


SIGMAS = "\u03a3\u03c3"  # a capital and a small sigma: a final sigma's lower case depends on its neighbours


@settings(max_examples=150, deadline=None)
@given(
    documents=st.lists(st.text(alphabet=st.sampled_from(list(f"ab c{SIGMAS}'_1\n.")), max_size=20), min_size=1),
    ngrams=st.sampled_from([(1, 1), (1, 2), (2, 2), (1, 3)]),
)
def test_given_any_texts_then_the_fast_transform_gives_the_vectorizers_matrix(documents, ngrams):
    sigmas = SIGMAS[1] * 2
    reference = ["ab cc ab", f"{sigmas} ab_1 cc", "cc cc ab ab", f"ab {sigmas} cc"]
    fitted = TfidfVectorizer(ngram_range=ngrams).fit(reference)
    with mock.patch.object(module, "SMALL_BLOCK", 0):  # every block the fast way, however small
        _same_matrix(FastVectorizer(fitted).transform(documents), fitted.transform(documents))


def _model(**text) -> Pipeline:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"review": _documents(rng, 600), "product": rng.choice(["books", "toys"], 600)})
    columns = ColumnTransformer(
        [("text_review", TfidfVectorizer(**text), "review"), ("categorical", OneHotEncoder(), ["product"])]
    )
    label = frame["review"].str.contains("good").map({True: "pos", False: "neg"})
    return Pipeline([("preprocess", columns), ("model", LogisticRegression())]).fit(frame, label)


def _batch(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    documents = pd.Series(_documents(rng, rows), dtype=object)
    return pd.DataFrame({"review": documents, "product": pd.Series(rng.choice(["books", "toys"], rows), dtype=object)})


def test_given_a_text_pipeline_then_the_fast_model_predicts_the_same_and_the_original_is_untouched():
    model = _model(ngram_range=(1, 2), stop_words="english")
    batch = _batch(1000)

    fast, vectorizers = with_fast_text(model)

    assert fast is not model and set(vectorizers) == {"review"}
    assert np.array_equal(fast.predict_proba(batch), model.predict_proba(batch))
    assert type(model.named_steps["preprocess"].named_transformers_["text_review"]) is TfidfVectorizer
    assert with_fast_text(model)[0] is fast  # built once per model


UNREPRODUCIBLE = [
    {"analyzer": "char_wb"},
    {"token_pattern": r"\b\w+\b"},
    {"tokenizer": str.split, "token_pattern": None},
]


@pytest.mark.parametrize("text", UNREPRODUCIBLE)
def test_given_a_vectorizer_it_cannot_reproduce_then_the_model_is_left_as_it_is(text):
    model = _model(**text)
    assert with_fast_text(model) == (model, {})


def test_given_a_document_that_is_not_text_then_the_error_is_the_vectorizers_own():
    model = _model()
    batch = _batch(module.SMALL_BLOCK + 10)
    batch.loc[3, "review"] = None
    fast, _ = with_fast_text(model)
    with pytest.raises(AttributeError):
        model.predict_proba(batch)
    with pytest.raises(AttributeError):
        fast.predict_proba(batch)


def test_given_a_prediction_then_text_drift_counts_the_words_it_analysed_as_it_would_itself():
    model = _model(ngram_range=(1, 2), stop_words="english")
    batch = _batch(800)
    predictor = Predictor(model, Task("binary", ("neg", "pos"), positive_class="pos"))
    predictor.predict(batch)
    spec = {
        "vocabulary": ["good", "movie", "plot", "bad"],
        "stop_words": sorted(predictor.analysed()["review"].stop_words),
        "proportions": [0.2] * 4 + [0.1, 0.1],
        "length": {"type": "numeric", "edges": [2.0, 5.0], "proportions": [0.3, 0.4, 0.3], "missing": 0.0},
    }
    shared, alone = TextCounts(spec), TextCounts(spec)

    shared.update(batch["review"].to_numpy(), predictor.analysed()["review"])
    alone.update(batch["review"].to_numpy())

    assert shared.words.sum() > 0 and np.array_equal(shared.words, alone.words)
    assert np.array_equal(shared.lengths, alone.lengths) and shared.new_words == alone.new_words
