"""Each function's environment record: parsed and validated once, with the variable named on error."""

from __future__ import annotations

import pytest

from mlops_core.environment import (
    EnvironmentVariableError,
    RetrainingEnvironment,
    SageMakerBackendEnvironment,
    ScoringEnvironment,
    TrainingJobEnvironment,
)


def test_given_a_complete_environment_when_parsed_then_values_and_defaults_are_typed():
    scoring = ScoringEnvironment.from_environment({"DATA_BUCKET": "d", "MODELS_BUCKET": "m"})
    assert scoring == ScoringEnvironment("d", "m", None, "MLOps")
    sagemaker = SageMakerBackendEnvironment.from_environment(
        {"TRAINING_IMAGE_URI": "img", "SAGEMAKER_ROLE_ARN": "arn", "SAGEMAKER_MAX_RUNTIME_S": "600"}
    )
    assert sagemaker.max_runtime_s == 600 and sagemaker.instance_type == "ml.m5.large"


def test_given_a_missing_variable_when_parsed_then_the_error_names_it():
    with pytest.raises(EnvironmentVariableError, match="MODELS_BUCKET is not set"):
        ScoringEnvironment.from_environment({"DATA_BUCKET": "d"})


@pytest.mark.parametrize(
    ("record", "environ", "variable"),
    [
        (RetrainingEnvironment, {"MODELS_BUCKET": "m", "TRAINING_BACKEND": "batch"}, "TRAINING_BACKEND"),
        (ScoringEnvironment, {"DATA_BUCKET": " ", "MODELS_BUCKET": "m"}, "DATA_BUCKET"),
        (TrainingJobEnvironment, {"DATA_BUCKET": "d", "MODELS_BUCKET": "m", "TRIGGER": "[1]"}, "TRIGGER"),
        (TrainingJobEnvironment, {"DATA_BUCKET": "d", "MODELS_BUCKET": "m", "TRIGGER": "{"}, "TRIGGER"),
        (
            RetrainingEnvironment,
            {"MODELS_BUCKET": "m", "TRAINING_BACKEND": "lambda", "S3_CONDITIONAL_DELETES": "no"},
            "S3_CONDITIONAL_DELETES",
        ),
        (
            SageMakerBackendEnvironment,
            {"TRAINING_IMAGE_URI": "i", "SAGEMAKER_ROLE_ARN": "a", "SAGEMAKER_MAX_RUNTIME_S": "-1"},
            "SAGEMAKER_MAX_RUNTIME_S",
        ),
    ],
)
def test_given_a_malformed_variable_when_parsed_then_the_error_names_it(record, environ, variable):
    with pytest.raises(EnvironmentVariableError, match=f"{variable}=.* is invalid"):
        record.from_environment(environ)


def test_given_a_record_when_written_as_environment_then_it_reads_back_equal():
    job = TrainingJobEnvironment("d", "m", "NS", "arn:topic", "run-1", {"source": "manual"}, conditional_deletes=False)
    assert job.as_environment()["S3_CONDITIONAL_DELETES"] == "false"
    assert TrainingJobEnvironment.from_environment(job.as_environment()) == job
    assert "RUN_ID" not in TrainingJobEnvironment("d", "m").as_environment()
