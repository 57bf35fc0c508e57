"""The `missing` and `unknown` settings of [[features]]: defaults, accepted values, clear refusals."""

from __future__ import annotations

import pytest

from mlops_core.config import ConfigError, parse_feature
from mlops_core.modeling.pipeline import features_from_schema


def parse(**item: object):
    return parse_feature({"name": "age", "type": "numeric", **item}, max_field_chars=1000)


def test_given_a_feature_without_the_settings_when_parsed_then_blanks_and_new_categories_are_rejected():
    feature = parse_feature({"name": "port", "type": "categorical", "categories": ["S", "C"]}, max_field_chars=1000)

    assert (feature.missing, feature.unknown) == ("reject", "reject")


@pytest.mark.parametrize("kind", ["numeric", "categorical", "text"])
def test_given_missing_impute_when_parsed_then_every_type_accepts_it(kind):
    feature = parse(type=kind, missing="impute", **({"categories": ["a"]} if kind == "categorical" else {}))

    assert feature.imputes


def test_given_a_typo_in_missing_when_parsed_then_the_error_names_the_feature_and_the_allowed_values():
    with pytest.raises(ConfigError, match=r"feature 'age': missing must be \"reject\" or \"impute\", not 'imput'"):
        parse(missing="imput")


def test_given_a_typo_in_unknown_when_parsed_then_the_error_names_the_feature_and_the_allowed_values():
    with pytest.raises(ConfigError, match=r"feature 'age': unknown must be \"reject\" or \"score\", not 'scored'"):
        parse(type="categorical", categories=["a"], unknown="scored")


def test_given_unknown_on_a_numeric_feature_when_parsed_then_it_is_an_unknown_setting():
    with pytest.raises(ConfigError, match=r"feature 'age' \(numeric\) has unknown setting\(s\) unknown"):
        parse(unknown="score")


def test_given_a_blank_category_when_parsed_then_refused_pointing_at_missing_impute():
    with pytest.raises(ConfigError, match="a category cannot be blank; use missing"):
        parse(type="categorical", categories=["a", " "])


def test_given_a_manifest_from_before_the_settings_when_read_then_its_features_reject_as_they_did():
    (feature,) = features_from_schema({"features": [{"name": "age", "type": "numeric", "categories": []}]})

    assert (feature.missing, feature.unknown) == ("reject", "reject")


def test_given_a_categorical_feature_without_categories_when_parsed_then_training_is_left_to_find_them():
    feature = parse_feature({"name": "port", "type": "categorical"}, max_field_chars=1000)

    assert feature.is_categorical and feature.categories == ()
