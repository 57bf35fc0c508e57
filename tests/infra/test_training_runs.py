"""How a training run is bounded and how it ends, as deployed: the run's time limit from mlops.toml on both
backends, within the lock's TTL."""

from __future__ import annotations

import re

from aws_cdk.assertions import Template

from infra.app import ROOT
from mlops_core.config.project import LOCK_MARGIN_S, load_config

from .conftest import logical_id, resources, synth

IRIS = ROOT / "examples" / "iris" / "mlops.toml"


def synth_with_retraining(tmp_path, target: str, **settings: int) -> Template:
    """The `target` template of the repo's mlops.toml with [retraining] `settings` replaced."""
    text = (ROOT / "mlops.toml").read_text()
    for name, value in settings.items():
        text = re.sub(rf"^#? ?{name} = \d+", f"{name} = {value}", text, count=1, flags=re.MULTILINE)
    config = tmp_path / "mlops.toml"
    config.write_text(text)
    template, _ = synth(target, tmp_path / "cdk", config_file=config)
    return template


def properties(template: Template, kind: str, path: str) -> dict:
    return resources(template, kind)[logical_id(template, kind, path)]["Properties"]


def test_given_a_run_time_limit_in_the_config_when_synthesized_for_aws_then_each_sagemaker_job_stops_at_it(tmp_path):
    # The training image carries the config, so it must lie in the repository: the iris example sets the limit.
    template, _ = synth("aws", tmp_path / "cdk", config_file=IRIS)

    environment = properties(template, "AWS::Lambda::Function", "Training/RetrainingFunction")["Environment"]
    assert load_config(IRIS).retraining.max_runtime_seconds == 1200
    # the retraining function creates each SageMaker job with this MaxRuntimeInSeconds
    assert environment["Variables"]["SAGEMAKER_MAX_RUNTIME_S"] == "1200"


def test_given_a_run_time_limit_in_the_config_when_synthesized_for_localstack_then_the_training_function_stops_at_it(
    tmp_path,
):
    template = synth_with_retraining(tmp_path, "localstack", lock_ttl_seconds=1200, max_runtime_seconds=600)

    assert properties(template, "AWS::Lambda::Function", "Training/JobFunction")["Timeout"] == 600
    invoke_config = next(iter(resources(template, "AWS::Lambda::EventInvokeConfig").values()))["Properties"]
    assert invoke_config["MaximumRetryAttempts"] == 0
    # A throttled invocation is dropped before it could start so late that the run outlives its lock.
    assert invoke_config["MaximumEventAgeInSeconds"] < LOCK_MARGIN_S
