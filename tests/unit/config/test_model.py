"""The [model] table's search and pipeline settings: candidates, folds, the search method, the cost bound and the
user's pipeline function, each refused with a message that names the setting and the fix."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mlops_core.config import CONFIG_FILE, ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[3]
LOGISTIC = "sklearn.linear_model.LogisticRegression"
FOREST = "sklearn.ensemble.RandomForestClassifier"


def with_model(**model: object) -> dict:
    """The repository's config with [model] replaced by `model` (seed and holdout share kept)."""
    with open(ROOT / CONFIG_FILE, "rb") as fh:
        raw = tomllib.load(fh)
    raw["model"] = {"seed": 42, "holdout_share": 0.2, **model}
    return raw


def two_candidates(**model: object) -> dict:
    return with_model(
        candidates=[
            {"estimator": LOGISTIC, "params": {"max_iter": 500}, "search": {"C": [0.1, 1.0, 10.0]}},
            {"estimator": FOREST, "search": {"max_depth": [4, 8], "n_estimators": [50, 100]}},
        ],
        **model,
    )


def test_given_no_search_settings_when_parsed_then_todays_single_estimator_with_no_cross_validation():
    model = parse_config(with_model(estimator=LOGISTIC, params={"C": 1.0})).model
    assert (model.estimator, model.params, model.candidates, model.pipeline) == (LOGISTIC, {"C": 1.0}, (), None)
    assert model.cv_fits == 0


def test_given_two_candidates_when_parsed_then_names_grids_and_the_count_of_fits():
    model = parse_config(two_candidates(cv_folds=3)).model
    assert [c.name for c in model.candidates] == ["LogisticRegression", "RandomForestClassifier"]
    assert [c.points for c in model.candidates] == [3, 4]
    assert model.candidates[0].params == {"max_iter": 500} and model.candidates[1].params == {}
    assert model.cv_fits == (3 + 4) * 3


def test_given_random_search_when_parsed_then_each_candidate_counts_at_most_n_iter_points():
    model = parse_config(two_candidates(search="random", n_iter=2, cv_folds=5)).model
    assert model.cv_fits == (2 + 2) * 5


def test_given_the_same_estimator_twice_then_the_second_is_named_apart_and_a_nested_list_becomes_a_tuple():
    raw = with_model(
        candidates=[
            {"estimator": LOGISTIC, "search": {"C": [1.0]}},
            {"estimator": LOGISTIC, "params": {"penalty": "l1", "solver": "liblinear"}},
            {"estimator": LOGISTIC, "name": "wide", "search": {"intercept_scaling": [[1, 2]]}},
        ]
    )
    candidates = parse_config(raw).model.candidates
    assert [c.name for c in candidates] == ["LogisticRegression", "LogisticRegression-2", "wide"]
    assert candidates[2].search == {"intercept_scaling": ((1, 2),)}


def test_given_a_grid_over_max_fits_when_parsed_then_the_error_names_the_count_and_the_bound():
    with pytest.raises(ConfigError) as raised:
        parse_config(two_candidates(cv_folds=5, max_fits=30))
    message = str(raised.value)
    assert "35 cross-validation fits" in message and "max_fits = 30" in message
    assert "LogisticRegression 3, RandomForestClassifier 4" in message and 'search = "random"' in message


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"cv_folds": 1}, "cv_folds must be a whole number of at least 2"),
        ({"search": "bayes"}, 'search must be "grid" or "random"'),
        ({"n_iter": 0}, "n_iter must be a whole number of at least 1"),
        ({"max_fits": "many"}, "max_fits must be a whole number"),
        ({"estimator": LOGISTIC}, "both estimator/params and \\[\\[model.candidates\\]\\]"),
        ({"cv_fold": 3}, "unknown setting\\(s\\) cv_fold"),
    ],
)
def test_given_an_invalid_search_setting_when_parsed_then_one_clear_error_names_it(model, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(two_candidates(**model))


@pytest.mark.parametrize(
    ("candidates", "message"),
    [
        ([{"params": {"C": 1}}], "number 1 has no estimator"),
        ([{"estimator": LOGISTIC, "grid": {"C": [1]}}], "unknown key\\(s\\) grid"),
        (
            [{"estimator": LOGISTIC, "search": {"C": 1.0}}],
            'candidates\\["LogisticRegression"\\].search.C must be a non-empty',
        ),
        ([{"estimator": LOGISTIC, "search": {"C": []}}], "non-empty list"),
        ([{"estimator": LOGISTIC, "name": "a"}, {"estimator": FOREST, "name": "a"}], "name 'a' is used twice"),
        ("LogisticRegression", "must be tables"),
    ],
)
def test_given_a_malformed_candidate_when_parsed_then_the_error_names_it(candidates, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(with_model(candidates=candidates))


def test_given_params_but_no_estimator_candidates_or_pipeline_when_parsed_then_the_error_lists_the_three_ways():
    with pytest.raises(ConfigError, match=r"needs an estimator .*candidates.* or a pipeline"):
        parse_config(with_model(params={"C": 1.0}))


def test_given_no_estimator_candidates_or_pipeline_when_parsed_then_the_default_estimator_is_seeded():
    model = parse_config(with_model(seed=7)).model
    assert (model.estimator, model.params) == ("sklearn.ensemble.HistGradientBoostingClassifier", {"random_state": 7})


def test_given_a_pipeline_function_when_parsed_then_it_is_kept_and_needs_no_estimator():
    model = parse_config(with_model(pipeline="pipelines.churn:build")).model
    assert model.pipeline == "pipelines.churn:build" and model.estimator == "" and model.cv_fits == 0


@pytest.mark.parametrize("pipeline", ["os:system", "pipelines:build", "pipelines.churn", "mypkg.pipelines.churn:build"])
def test_given_a_pipeline_outside_the_pipelines_package_when_parsed_then_refused_naming_the_form(pipeline):
    with pytest.raises(ConfigError, match=r'as "pipelines\.<module>:<function>"'):
        parse_config(with_model(pipeline=pipeline))


def test_given_a_pipeline_and_an_estimator_when_parsed_then_refused_pointing_at_candidates():
    with pytest.raises(ConfigError, match=r"pipeline builds the whole model.*model\.candidates"):
        parse_config(with_model(pipeline="pipelines.churn:build", estimator=LOGISTIC))
